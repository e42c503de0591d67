-- The counting function that track() generates for a table: the queries of counting_rows for
-- every step the table is tracked for, written in as static SQL, so PL/pgSQL plans them once
-- per session (the public trigger functions must build and plan a query for every large
-- statement), and one call of add_to_tallies for all of a statement's steps, so a statement
-- takes its tallies' locks once, in order, before the level and badge locks (docs/locks.md).

-- The name of the counting function of a table: achievements_private.track_<table oid>.
CREATE FUNCTION achievements_private.counting_function_name(tbl oid)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format('track_%s', tbl);

-- The triggers of track() on a table, with the events they fire on: one per event, the
-- DELETE and TRUNCATE ones only when a gauge is tracked (a counter never changes on them).
CREATE FUNCTION achievements_private.tracking_triggers(gauges boolean)
RETURNS TABLE (trigger_name text, event text, transition text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.trigger_name, t.event, t.transition
      FROM (VALUES ('achievements_track_ins', 'INSERT', 'REFERENCING NEW TABLE AS new_rows', false),
                   ('achievements_track_upd', 'UPDATE', 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows', false),
                   ('achievements_track_del', 'DELETE', 'REFERENCING OLD TABLE AS old_rows', true),
                   ('achievements_track_trunc', 'TRUNCATE', '', true)) AS t(trigger_name, event, transition, gauge_only)
     WHERE gauges OR NOT t.gauge_only
$$;

-- Creates (or replaces) the counting function of `tbl` from its rows in tracked_steps: for each
-- event, the rows of counting_rows of every step, as one set of (user, step, count), handed to
-- add_to_tallies in one call (logged in recorded_steps, no user_steps trigger); for TRUNCATE,
-- truncate_query of the gauge steps. The generated function is owned by the package owner and
-- SECURITY DEFINER, so that roles writing the table need no right on the log; EXECUTE for the
-- owner only, who creates the triggers that run it. Returns its name (in achievements_private).
CREATE FUNCTION achievements_private.create_counting_function(tbl regclass)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn       text := achievements_private.counting_function_name(tbl);
    branches text := '';
    op       text;
    parts    text[];
    gauges   text[];
    body     text;
BEGIN
    -- counting_rows quotes every name (%I) and the body is passed as one literal (%L); it
    -- writes only through EXECUTE, which the check does not count as a write:
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
    SELECT array_agg(t.step ORDER BY t.step) INTO gauges
      FROM achievements.tracked_steps AS t
     WHERE t.tbl = create_counting_function.tbl AND t.mode IN ('toggle', 'toggle_boolean');
    FOREACH op IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE'] LOOP
        SELECT array_agg(format('SELECT q.u, %L::text AS step, q.c FROM (%s) AS q', t.step, t.rows) ORDER BY t.step)
          INTO parts
          FROM (SELECT x.step,
                       achievements_private.counting_rows(
                           x.mode, op, x.column_name, x.user_column,
                           (achievements_private.check_tracking_arguments(
                                x.mode, x.tbl,
                                ARRAY[x.column_name, x.step] || CASE WHEN x.user_column IS NOT NULL THEN ARRAY[x.user_column] ELSE '{}'::text[] END,
                                format('achievements.track() on table %s', x.tbl))).user_cast,
                           'old_rows', 'new_rows', 'achievements.current_user_id()') AS rows
                  FROM achievements.tracked_steps AS x
                 WHERE x.tbl = create_counting_function.tbl) AS t
         WHERE t.rows IS NOT NULL;
        IF parts IS NOT NULL THEN
            branches := branches || format(
                E'    %s TG_OP = %L THEN\n'
                 '        SELECT array_agg(s.u), array_agg(s.step), array_agg(s.c) INTO users, steps, counts\n'
                 '          FROM (%s) AS s;\n',
                CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END, op,
                array_to_string(parts, E'\n                UNION ALL\n                '));
        END IF;
    END LOOP;
    IF gauges IS NOT NULL THEN
        branches := branches || format(
            E'    %s TG_OP = ''TRUNCATE'' THEN\n'
             '        SELECT * INTO users, steps, counts FROM (%s) AS q;\n',
            CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END,
            achievements_private.truncate_query(quote_literal(gauges::text) || '::text[]'));
    END IF;
    body := format(E'DECLARE\n'
                     '    users  achievements.user_ref[];\n'
                     '    steps  text[];\n'
                     '    counts int[];\n'
                     'BEGIN\n'
                     '%s'
                     '    END IF;\n'
                     '    IF users IS NOT NULL THEN\n'
                     '        PERFORM achievements_private.add_to_tallies(users, steps, counts, true);\n'
                     '    END IF;\n'
                     '    RETURN NULL;\n'
                     'END\n', branches);
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION achievements_private.%I()
         RETURNS trigger
         LANGUAGE plpgsql SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp
         AS %L', fn, body);
    EXECUTE format('COMMENT ON FUNCTION achievements_private.%I() IS %L', fn,
                   format('Generated by achievements.track(): counts the steps %s from table %s. Dropped by untrack() of its last step.',
                          (SELECT string_agg(quote_literal(t.step), ', ' ORDER BY t.step)
                             FROM achievements.tracked_steps AS t WHERE t.tbl = create_counting_function.tbl),
                          tbl));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION achievements_private.%I() FROM PUBLIC', fn);
    RETURN fn;
END
$$;

-- Makes the triggers and the counting function of `tbl` match its rows in tracked_steps:
-- regenerates the function and creates the triggers that are missing (after a DROP TRIGGER by
-- hand too), drops those no longer needed; with no row left, drops them all and the function.
-- The caller holds a lock that keeps the table's writers out (track(), untrack()).
CREATE FUNCTION achievements_private.wire_table(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tracked boolean;
    gauges  boolean;
    fn      text;
    t       record;
BEGIN
    -- Every name is quoted (%I, regclass):
    -- @plpgsql_check_options: security_warnings = false
    SELECT count(*) > 0, coalesce(bool_or(x.mode IN ('toggle', 'toggle_boolean')), false)
      INTO tracked, gauges
      FROM achievements.tracked_steps AS x WHERE x.tbl = wire_table.tbl;
    FOR t IN SELECT * FROM achievements_private.tracking_triggers(true) LOOP
        IF NOT (tracked AND (gauges OR t.event IN ('INSERT', 'UPDATE'))) THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', t.trigger_name, tbl);
        END IF;
    END LOOP;
    IF NOT tracked THEN
        PERFORM achievements_private.drop_counting_function(tbl);
        RETURN;
    END IF;
    fn := achievements_private.create_counting_function(tbl);
    FOR t IN SELECT * FROM achievements_private.tracking_triggers(gauges) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = t.trigger_name) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()',
                           t.trigger_name, t.event, tbl, t.transition, fn);
        END IF;
    END LOOP;
END
$$;

-- Drops the counting function of a table (by oid: it may be gone), if it exists. Fails,
-- changing nothing, while a trigger still uses it.
CREATE FUNCTION achievements_private.drop_counting_function(tbl oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('DROP FUNCTION IF EXISTS achievements_private.%I()',
                   achievements_private.counting_function_name(tbl));
END
$$;

-- Forgets the rows of tracked_steps whose table has been dropped, and drops their counting
-- functions (the table's triggers went with it).
CREATE FUNCTION achievements_private.forget_dropped_tables()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone oid;
BEGIN
    FOR gone IN WITH forgotten AS (
                    DELETE FROM achievements.tracked_steps AS t
                     WHERE NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
                    RETURNING t.tbl)
                SELECT DISTINCT f.tbl::oid FROM forgotten AS f
    LOOP
        PERFORM achievements_private.drop_counting_function(gone);
    END LOOP;
END
$$;
