-- Rollback of 0001_baseline: removes achievements-db and all its data.
-- Refuses, changing nothing, while objects outside its two schemas depend on it (a view over
-- its tables, a trigger running one of its trigger functions, a column of type
-- achievements.user_ref): the error lists them. Tables wired with achievements.track() are
-- released with untrack(). Dropping the two schemas is what removing the package means:
-- squawk-ignore-file ban-drop-schema
DO $rollback_guard$
DECLARE
    dependents text := (SELECT string_agg(x, '; ') FROM achievements_private.outside_dependents() AS x);
BEGIN
    IF dependents IS NOT NULL THEN
        RAISE EXCEPTION 'achievements-db cannot be removed: objects outside it depend on it: %', dependents
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop those objects first; untrack the tables of track(): SELECT achievements.untrack(tbl, step) FROM achievements.tracked();';
    END IF;
END
$rollback_guard$;

-- Nothing outside depends on them now: CASCADE drops only what the two schemas hold. The drop
-- locks every table of the package; rather than wait long behind a running transaction (while
-- every query of the application queues behind the drop), it gives up and changes nothing.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';
DROP SCHEMA achievements CASCADE;
DROP SCHEMA achievements_private CASCADE;
