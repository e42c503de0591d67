-- Rollback of 0002_track_as_table_owner: track() and untrack() run as their caller again,
-- record_step and undo_step accept gauges, recount() is gone; the service roles get back USAGE
-- on achievements_private, the rights on tracked_steps, the helpers of track() and its
-- counting functions. The functions it drops are those 0002 added:
-- squawk-ignore-file ban-drop-function
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';

CREATE OR REPLACE FUNCTION achievements.record_step(user_id achievements.user_ref, step text, count integer DEFAULT 1)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    IF record_step.user_id IS NULL THEN
        RAISE EXCEPTION 'record_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who took the step.';
    END IF;
    IF record_step.count IS NULL OR record_step.count < 1 OR coalesce(step, '') = '' THEN
        RAISE EXCEPTION 'record_step: count must be a positive number and step a non-empty name (got count %, step %)',
                        coalesce(record_step.count::text, 'NULL'), coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'To take steps back, call achievements.undo_step(user_id, step, count).';
    END IF;
    RETURN achievements_private.add_to_tallies(ARRAY[record_step.user_id], ARRAY[step], ARRAY[record_step.count], true);
END
$function$;
COMMENT ON FUNCTION achievements.record_step(achievements.user_ref,text,integer) IS
    'Records count (default 1) steps for a user; returns the new tally. Exact under concurrency.';

CREATE OR REPLACE FUNCTION achievements.undo_step(user_id achievements.user_ref, step text, count integer DEFAULT 1)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    tally int;
    taken int;
BEGIN
    IF undo_step.user_id IS NULL THEN
        RAISE EXCEPTION 'undo_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user whose step is undone.';
    END IF;
    IF undo_step.count IS NULL OR undo_step.count < 1 OR coalesce(step, '') = '' THEN
        RAISE EXCEPTION 'undo_step: count must be a positive number and step a non-empty name (got count %, step %)',
                        coalesce(undo_step.count::text, 'NULL'), coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'count is how many steps to take back, e.g. achievements.undo_step(user_id, step, 1).';
    END IF;
    SELECT t.count INTO tally
      FROM achievements.user_achievements AS t
     WHERE t.user_id = undo_step.user_id AND t.name = step
       FOR UPDATE;
    taken := least(coalesce(tally, 0), undo_step.count);
    IF taken > 0 THEN
        PERFORM achievements_private.add_to_tallies(ARRAY[undo_step.user_id], ARRAY[step], ARRAY[-taken], true);
    END IF;
    RETURN coalesce(tally, 0) - taken;
END
$function$;
COMMENT ON FUNCTION achievements.undo_step(achievements.user_ref,text,integer) IS
    'Takes back up to count (default 1) steps for a user, never below 0; returns the new tally.';

CREATE OR REPLACE FUNCTION achievements_private.create_counting_function(tbl regclass, step text, mode text, column_name text, user_column text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    w        record;
    fn       text := achievements_private.counting_function_name(tbl, step);
    branches text := '';
    op       text;
    query    text;
BEGIN
    -- counting_query quotes every name (%I) and the body is passed as one literal (%L):
    -- @plpgsql_check_options: security_warnings = false
    w := achievements_private.check_tracking_arguments(
        mode, tbl, ARRAY[column_name, step] || CASE WHEN user_column IS NOT NULL THEN ARRAY[user_column] ELSE '{}'::text[] END,
        format('achievements.track() on table %s', tbl));
    FOREACH op IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] LOOP
        query := achievements_private.counting_query(mode, op, w.column_name, w.user_column, w.user_cast,
                                                     'old_rows', 'new_rows', quote_literal(step),
                                                     'achievements.current_user_id()');
        IF query IS NOT NULL THEN
            branches := branches || format(E'    %s TG_OP = %L THEN\n        SELECT * INTO users, counts FROM (%s) AS q;\n',
                                           CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END, op, query);
        END IF;
    END LOOP;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION achievements_private.%I()
         RETURNS trigger
         LANGUAGE plpgsql SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp
         AS %L',
        fn,
        format(E'DECLARE\n'
                 '    users  achievements.user_ref[];\n'
                 '    counts int[];\n'
                 'BEGIN\n'
                 '%s'
                 '    END IF;\n'
                 '    IF users IS NOT NULL THEN\n'
                 '        PERFORM achievements_private.add_to_tallies(\n'
                 '            users, array_fill(%L::text, ARRAY[cardinality(users)]), counts, true);\n'
                 '    END IF;\n'
                 '    RETURN NULL;\n'
                 'END\n',
               branches, step));
    EXECUTE format('COMMENT ON FUNCTION achievements_private.%I() IS %L', fn,
                   format('Generated by achievements.track(): counts step %L from table %s (mode %s, column %I, user column %s). Dropped by untrack().',
                          step, tbl, mode, column_name, coalesce(quote_ident(user_column), 'none')));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION achievements_private.%I() FROM PUBLIC', fn);
    PERFORM achievements_private.grant_to_service_roles('EXECUTE', format('FUNCTION achievements_private.%I()', fn));
    RETURN fn;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.track(tbl regclass, step text, column_name text, mode text DEFAULT 'count'::text, user_column text DEFAULT NULL::text)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_variable
DECLARE
    fn       text;
    gauge    boolean;
    w        record;
    existing achievements.tracked_steps;
    other    achievements.tracked_steps;
    names    text[];
    missing  boolean;
    kind     "char";
BEGIN
    -- Every name in the SQL it runs is quoted (%I, regclass, row_user_sql):
    -- @plpgsql_check_options: security_warnings = false
    IF tbl IS NULL OR coalesce(step, '') = '' OR column_name IS NULL THEN
        RAISE EXCEPTION 'achievements.track(): table, step and column are required (got %, %, %)',
                        coalesce(tbl::text, 'NULL'), coalesce(quote_literal(step), 'NULL'),
                        coalesce(quote_literal(column_name), 'NULL')
            USING ERRCODE = 'AD107',
                  HINT = 'Call achievements.track(''posts'', ''post'', ''id'') to count a step per inserted row.';
    END IF;
    IF mode IS NULL OR mode NOT IN ('count', 'toggle', 'boolean', 'toggle_boolean') THEN
        RAISE EXCEPTION 'achievements.track(): unknown mode %', coalesce(quote_literal(mode), 'NULL')
            USING ERRCODE = 'AD107',
                  HINT = 'mode is one of count (default), toggle, boolean, toggle_boolean.';
    END IF;
    gauge := mode IN ('toggle', 'toggle_boolean');
    SELECT c.relkind INTO kind FROM pg_class AS c WHERE c.oid = tbl;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'achievements.track(): % is not a table', tbl
            USING ERRCODE = 'AD107',
                  HINT = 'Track the table the view or foreign table reads from.';
    END IF;
    IF gauge AND user_column IS NULL THEN
        RAISE EXCEPTION 'achievements.track(): mode % on table % needs a user column', mode, tbl
            USING ERRCODE = 'AD107',
                  HINT = 'A gauge counts each user''s rows, so it must know whose each row is: pass user_column, e.g. achievements.track(tbl, step, column, mode, ''user_id'').';
    END IF;
    w := achievements_private.check_tracking_arguments(mode, tbl, ARRAY[column_name, step] || CASE WHEN user_column IS NOT NULL THEN ARRAY[user_column] ELSE '{}'::text[] END,
                                      format('achievements.track() on table %s', tbl));

    PERFORM pg_advisory_xact_lock(1633838661, hashtext(tbl::oid::text));
    PERFORM achievements_private.forget_dropped_tables();

    SELECT * INTO existing FROM achievements.tracked_steps AS t WHERE t.tbl = track.tbl AND t.step = track.step;
    IF FOUND AND (existing.column_name, existing.mode, existing.user_column)
                 IS DISTINCT FROM (track.column_name, track.mode, track.user_column) THEN
        RAISE EXCEPTION 'achievements.track(): table % already tracks step % (column %, mode %, user column %)',
                        tbl, quote_literal(step), quote_ident(existing.column_name), existing.mode,
                        coalesce(quote_ident(existing.user_column), 'none')
            USING ERRCODE = 'AD108',
                  HINT = format('To change it, call achievements.untrack(%L, %L) first, then track() again.', tbl::text, step);
    END IF;
    SELECT * INTO other FROM achievements.tracked_steps AS t
     WHERE t.step = track.step AND t.tbl <> track.tbl
       AND (gauge OR t.mode IN ('toggle', 'toggle_boolean'))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'achievements.track(): step % is tracked on table % too; a gauge step (mode toggle or toggle_boolean) must come from one table only',
                        quote_literal(step), other.tbl
            USING ERRCODE = 'AD109',
                  HINT = 'Give this table its own step name (a level can require both steps).';
    END IF;

    names := ARRAY[achievements_private.tracking_trigger_name(step, 'ins'), achievements_private.tracking_trigger_name(step, 'upd')];
    IF gauge THEN
        names := names || achievements_private.tracking_trigger_name(step, 'del') || achievements_private.tracking_trigger_name(step, 'trunc');
    END IF;
    SELECT bool_or(NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = n))
      INTO missing FROM unnest(names) AS n;
    IF existing.tbl IS NOT NULL AND NOT missing THEN
        RETURN false;
    END IF;

    fn := achievements_private.create_counting_function(tbl, step, mode, column_name, user_column);
    -- (Re)create what is missing: after a DROP TRIGGER by hand, track() repairs.
    IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[1]) THEN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()', names[1], tbl, fn);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[2]) THEN
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()', names[2], tbl, fn);
    END IF;
    IF gauge THEN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[3]) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()', names[3], tbl, fn);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[4]) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s
                            FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()', names[4], tbl, fn);
        END IF;
        -- CREATE TRIGGER holds a lock that keeps writers out until commit, and this statement sees
        -- every row committed before it: set each user's gauge to the recount.
        EXECUTE format(
            'INSERT INTO achievements.user_steps (user_id, name, count)
             SELECT user_id, $1, diff
               FROM (SELECT user_id, coalesce(h.n, 0) - coalesce(t.count, 0) AS diff
                       FROM (SELECT u AS user_id, count(*)::int AS n
                               FROM (SELECT %s AS u FROM %s AS r WHERE %s) AS s
                              WHERE u IS NOT NULL
                              GROUP BY u) AS h
                       FULL JOIN (SELECT a.user_id, a.count FROM achievements.user_achievements AS a
                                   WHERE a.name = $1) AS t USING (user_id)) AS d
              WHERE diff <> 0
              ORDER BY user_id',
            achievements_private.row_user_sql(w.user_cast, 'r', user_column),
            tbl,
            format(CASE WHEN mode = 'toggle_boolean' THEN '%s IS TRUE' ELSE '%s IS NOT NULL' END,
                   format('r.%I', column_name)))
        USING step;
    END IF;
    IF existing.tbl IS NULL THEN
        INSERT INTO achievements.tracked_steps (tbl, step, column_name, mode, user_column, trigger_names)
        VALUES (tbl, step, column_name, mode, user_column, names);
    END IF;
    RETURN true;
END
$function$;
COMMENT ON FUNCTION achievements.track(regclass,text,text,text,text) IS
    'Counts step from a table with statement-level triggers: mode count (default), toggle, boolean or toggle_boolean. Idempotent; gauges start from a recount.';

CREATE OR REPLACE FUNCTION achievements.untrack(tbl regclass, step text)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_variable
DECLARE
    names text[];
    n     text;
BEGIN
    IF tbl IS NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(1633838661, hashtext(tbl::oid::text));
    PERFORM achievements_private.forget_dropped_tables();
    DELETE FROM achievements.tracked_steps AS t
     WHERE t.tbl = untrack.tbl AND t.step = untrack.step
    RETURNING t.trigger_names INTO names;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    FOREACH n IN ARRAY names LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', n, tbl);
    END LOOP;
    PERFORM achievements_private.drop_counting_function(tbl, step);
    RETURN true;
END
$function$;
COMMENT ON FUNCTION achievements.untrack(regclass,text) IS
    'Removes what track() created for a table and step; tallies stay. Returns false when it was not tracked.';

CREATE OR REPLACE FUNCTION achievements.tracked()
 RETURNS TABLE(tbl regclass, step text, column_name text, mode text, user_column text, created_at timestamp with time zone)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT t.tbl, t.step, t.column_name, t.mode, t.user_column, t.created_at
      FROM achievements.tracked_steps AS t
     WHERE EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
     ORDER BY t.tbl::text, t.step;
$function$;
COMMENT ON FUNCTION achievements.tracked() IS
    'Lists what achievements.track() wired: table, step, column, mode, user column, when.';

DROP FUNCTION achievements.recount(text);
DROP FUNCTION achievements_private.untrack(regclass,text,name);
DROP FUNCTION achievements_private.track(regclass,text,text,text,text,name);
DROP FUNCTION achievements_private.recount_gauge(regclass,text,text,text,text,text);
DROP FUNCTION achievements_private.check_table_owner(regclass,name,text,boolean);
DROP FUNCTION achievements_private.refuse_tracked_gauge(text,text);

SELECT achievements_private.grant_to_service_roles('SELECT, INSERT, DELETE', 'TABLE achievements.tracked_steps');
SELECT achievements_private.grant_to_service_roles('USAGE', 'SCHEMA achievements_private');
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION
    achievements_private.tracking_function_name(text),
    achievements_private.check_tracking_arguments(text, oid, text[], text),
    achievements_private.row_user_sql(text, text, text, text),
    achievements_private.tracking_trigger_name(text, text),
    achievements_private.forget_dropped_tables(),
    achievements_private.create_counting_function(regclass, text, text, text, text),
    achievements_private.drop_counting_function(oid, text)');
SELECT achievements_private.grant_to_service_roles('EXECUTE', format('FUNCTION %s', p.oid::regprocedure))
  FROM pg_proc AS p
 WHERE p.pronamespace = 'achievements_private'::regnamespace
   AND p.proname LIKE 'track\_%' AND p.pronargs = 0;

DELETE FROM achievements_private.applied_migrations WHERE id = '0002_track_as_table_owner';
