-- Removes what 0005 created. Untrack every table first (SELECT achievements.untrack(tbl, step)
-- FROM achievements.tracked()): the triggers of track() depend on the trigger functions, and a
-- trigger wired by hand must be dropped by hand. Tallies and the step log stay.
DELETE FROM achievements_private.applied_migrations WHERE id = '0005_tracking';
DROP FUNCTION achievements.tracked();
DROP FUNCTION achievements.untrack(regclass, text);
DROP FUNCTION achievements.track(regclass, text, text, text, text);
DROP FUNCTION achievements._tracking_trigger_name(text, text);
DROP FUNCTION achievements._forget_dropped_tables();
-- Generated functions of tables dropped without untrack(); one still in use by a trigger fails
-- the rollback, which then changes nothing.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc AS p
              WHERE p.pronamespace = 'achievements'::regnamespace AND p.proname LIKE '\_count\_%'
    LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END
$$;
DROP FUNCTION achievements._drop_counting_function(oid, text);
DROP FUNCTION achievements._create_counting_function(regclass, text, text, text, text);
DROP FUNCTION achievements._counting_function_name(oid, text);
DROP TABLE achievements.tracked_steps;
DROP FUNCTION achievements.tg_achievement_toggle_boolean();
DROP FUNCTION achievements.tg_achievement_boolean();
DROP FUNCTION achievements.tg_achievement_toggle();
DROP FUNCTION achievements.tg_achievement();
DROP FUNCTION achievements_private.count_rows(text, oid, text, text, text, text[], jsonb, jsonb);
DROP FUNCTION achievements_private.count_row(text, oid, text, text, text, text[], jsonb, jsonb);
DROP FUNCTION achievements_private.check_row_trigger(text, oid, text, text, text[]);
DROP FUNCTION achievements_private.statement_sql(text, oid, text, text, text, text[]);
DROP FUNCTION achievements_private.counting_sql(text, text, text, text, text, text, text, text, text);
DROP FUNCTION achievements._tracking_user_expr(text, text, text, text);
DROP FUNCTION achievements._tracking_check(text, oid, text[], text);
DROP FUNCTION achievements._parse_user_ref(text);
