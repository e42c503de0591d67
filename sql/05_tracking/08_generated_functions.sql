-- The functions that track() generates for a table, in schema achievements_tracking and owned by
-- the table's owner (so the expressions given to track() run with that role's rights only):
--   track_<table oid>()       the trigger function of the table's statement-level triggers: for
--                             each event, the queries of 07_step_queries.sql for every step of
--                             the table and every step that depends on it, written in as static
--                             SQL (planned once per session), and one call of
--                             achievements_tracking.add for all of a statement's counts, so a
--                             statement takes its tallies' locks once, in order (docs/locks.md);
--   track_<table oid>_rows()  the current tally of the table's steps per user, recounted from
--                             its rows: for the recounted steps, for adopting a table that has
--                             rows, for recount(), and to check the expressions;
--   track_<table oid>_activity()  for a table with streak steps, the time of each qualifying
--                             row per user (the package works the streaks out: 10_streaks/).

-- The name of the trigger function of a table.
CREATE FUNCTION achievements_private.counting_function_name(tbl oid)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format('track_%s', tbl);

-- The name of the recount function of a table.
CREATE FUNCTION achievements_private.rows_function_name(tbl oid)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format('track_%s_rows', tbl);

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

-- The alias under which the generated SQL reads a table's rows: its own name, quoted.
CREATE FUNCTION achievements_private.table_alias(tbl oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT quote_ident(c.relname) FROM pg_class AS c WHERE c.oid = tbl);

-- The columns of a table's primary key, in key order; NULL when it has none.
CREATE FUNCTION achievements_private.primary_key_columns(tbl oid)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT array_agg(a.attname::text ORDER BY k.n)
          FROM pg_index AS i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = tbl AND i.indisprimary);

-- The name of the activity function of a table (streak steps).
CREATE FUNCTION achievements_private.activity_function_name(tbl oid)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format('track_%s_activity', tbl);

-- How a step's user column reads (user_column_cast), NULL without one.
CREATE FUNCTION achievements_private.step_user_cast(tbl oid, user_column text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN user_column IS NOT NULL
            THEN achievements_private.user_column_cast(tbl, user_column, format('achievements.track() on table %s', tbl::regclass)) END;

-- Gives a generated function to the owner of `tbl` and grants that role what the function
-- calls: USAGE on achievements and achievements_tracking, EXECUTE on the calls of 06_calls.sql.
-- The role needs CREATE on achievements_tracking to own a function there: it gets it for the
-- ALTER only, inside this transaction, so it never holds it once committed. Nothing to do when
-- the package owner owns the table.
CREATE FUNCTION achievements_private.give_to_table_owner(fn regprocedure, tbl oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner name := (SELECT pg_get_userbyid(c.relowner) FROM pg_class AS c WHERE c.oid = tbl);
BEGIN
    -- Every name is quoted (%I, regprocedure):
    -- @plpgsql_check_options: security_warnings = false
    IF owner = current_user THEN
        RETURN;
    END IF;
    EXECUTE format('GRANT CREATE ON SCHEMA achievements_tracking TO %I', owner);
    EXECUTE format('ALTER FUNCTION %s OWNER TO %I', fn, owner);
    EXECUTE format('REVOKE CREATE ON SCHEMA achievements_tracking FROM %I', owner);
    EXECUTE format('GRANT USAGE ON SCHEMA achievements, achievements_tracking TO %I', owner);
    EXECUTE format('GRANT EXECUTE ON FUNCTION achievements_tracking.add(regclass, achievements.user_ref[], text[], int[]),
                    achievements_tracking.lock(regclass, achievements.user_ref[], text[]),
                    achievements_tracking.lock_steps(regclass, text[]),
                    achievements_tracking.streaks(regclass, achievements.user_ref[], text[], achievements.user_ref[], text[], timestamptz[], text[], int[], boolean),
                    achievements_tracking.integer_value(bigint) TO %I', owner);
END
$$;

-- Creates (or replaces) the recount function of `tbl` from its rows in tracked_steps: for each
-- step, the query of tracked_recount_sql, for every user or the users given; with validate,
-- the same queries planned and returning nothing (how track() checks its expressions), and for
-- each step of another table that depends on this one ('depends_on <step>'), its users read
-- from this table's rows. Owned by the table's owner, STABLE, SECURITY DEFINER. Returns its
-- signature.
CREATE FUNCTION achievements_private.create_rows_function(tbl regclass)
RETURNS regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn       text := achievements_private.rows_function_name(tbl);
    rel      text := achievements_private.table_alias(tbl);
    branches text := '';
    s        achievements.tracked_steps;
    cast_kind text;
    everyone text;
    some_users     text;
    proc     regprocedure;
BEGIN
    -- Names are quoted (%I, %L, regclass) and the body is passed as one literal (%L):
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
    FOR s IN SELECT * FROM achievements.tracked_steps AS t
              WHERE t.tbl = create_rows_function.tbl AND t.mode <> 'streak' ORDER BY t.step LOOP
        cast_kind := achievements_private.step_user_cast(tbl, s.user_column);
        everyone := achievements_private.tracked_recount_sql(s, cast_kind, rel, NULL);
        some_users := achievements_private.tracked_recount_sql(s, cast_kind, rel, format('%I.user_ids', fn));
        branches := branches || format(
            E'    IF %1$L = ANY (%2$I.steps) THEN\n'
             '        IF %2$I.validate THEN\n'
             '            PERFORM 1 FROM %3$s AS x LIMIT 0;\n'
             '        ELSIF %2$I.user_ids IS NULL THEN\n'
             '%4$s'
             '        ELSE\n'
             '%5$s'
             '        END IF;\n'
             '    END IF;\n',
            s.step, fn,
            CASE WHEN everyone IS NOT NULL THEN format('(%s)', everyone)
                 ELSE format('(SELECT 1 FROM %s AS %s WHERE %s AND (%s) IS TRUE)', s.tbl, rel,
                             achievements_private.tracked_qualifies_sql(s, rel), s.previous) END,
            CASE WHEN everyone IS NOT NULL
                 THEN format(E'            RETURN QUERY SELECT x.u, %L::text, x.c FROM (%s) AS x;\n', s.step, everyone)
                 ELSE E'            NULL;\n' END,
            CASE WHEN some_users IS NOT NULL
                 THEN format(E'            RETURN QUERY SELECT x.u, %L::text, x.c FROM (%s) AS x;\n', s.step, some_users)
                 ELSE E'            NULL;\n' END);
    END LOOP;
    -- For the steps of other tables that depend on this one: their users read from this table's
    -- rows, checked (track() plans them as this table's owner would run them).
    FOR s IN SELECT * FROM achievements.tracked_steps AS t
              WHERE t.depends_on = create_rows_function.tbl AND t.depends_on_user_column <> '*' ORDER BY t.step LOOP
        branches := branches || format(
            E'    IF %1$L = ANY (%2$I.steps) AND %2$I.validate THEN\n'
             '        PERFORM 1 FROM (SELECT %3$s AS u FROM %4$s AS %5$s) AS x LIMIT 0;\n'
             '    END IF;\n',
            'depends_on ' || s.step, fn,
            achievements_private.tracked_user_sql(achievements_private.step_user_cast(tbl, s.depends_on_user_column), rel,
                                                  s.depends_on_user_column, 'NULL::achievements.user_ref'),
            tbl, rel);
    END LOOP;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION achievements_tracking.%I(steps text[], user_ids achievements.user_ref[], validate boolean)
         RETURNS TABLE (user_id achievements.user_ref, step text, count int)
         LANGUAGE plpgsql STABLE SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp
         AS %L', fn, E'#variable_conflict use_column\nBEGIN\n' || branches || E'END\n');
    proc := format('achievements_tracking.%I(text[], achievements.user_ref[], boolean)', fn)::regprocedure;
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', proc,
                   format('Generated by achievements.track(): the tallies of the steps of table %s recounted from its rows. Dropped by untrack() of its last step.', tbl));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', proc);
    PERFORM achievements_private.give_to_table_owner(proc, tbl);
    RETURN proc;
END
$$;

-- Creates (or replaces) the activity function of `tbl` from its streak steps in tracked_steps:
-- for each, the query of tracked_activity_sql, for every user or the users given; with
-- validate, planned and returning nothing (how track() checks the expressions). Owned by the
-- table's owner, STABLE, SECURITY DEFINER. Returns its signature.
CREATE FUNCTION achievements_private.create_activity_function(tbl regclass)
RETURNS regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn        text := achievements_private.activity_function_name(tbl);
    rel       text := achievements_private.table_alias(tbl);
    branches  text := '';
    s         achievements.tracked_steps;
    cast_kind text;
    proc      regprocedure;
BEGIN
    -- Names are quoted (%I, %L, regclass) and the body is passed as one literal (%L):
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
    FOR s IN SELECT * FROM achievements.tracked_steps AS t
              WHERE t.tbl = create_activity_function.tbl AND t.mode = 'streak' ORDER BY t.step LOOP
        cast_kind := achievements_private.step_user_cast(tbl, s.user_column);
        branches := branches || format(
            E'    IF %1$L = ANY (%2$I.steps) THEN\n'
             '        IF %2$I.validate THEN\n'
             '            PERFORM 1 FROM (%3$s) AS x LIMIT 0;\n'
             '        ELSIF %2$I.user_ids IS NULL THEN\n'
             '            RETURN QUERY SELECT x.u, %1$L::text, x.at, x.z FROM (%3$s) AS x;\n'
             '        ELSE\n'
             '            RETURN QUERY SELECT x.u, %1$L::text, x.at, x.z FROM (%4$s) AS x;\n'
             '        END IF;\n'
             '    END IF;\n',
            s.step, fn, achievements_private.tracked_activity_sql(s, cast_kind, rel, NULL),
            achievements_private.tracked_activity_sql(s, cast_kind, rel, format('%I.user_ids', fn)));
    END LOOP;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION achievements_tracking.%I(steps text[], user_ids achievements.user_ref[], validate boolean)
         RETURNS TABLE (user_id achievements.user_ref, step text, at timestamptz, time_zone text)
         LANGUAGE plpgsql STABLE SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp
         AS %L', fn, E'#variable_conflict use_column\nBEGIN\n' || branches || E'END\n');
    proc := format('achievements_tracking.%I(text[], achievements.user_ref[], boolean)', fn)::regprocedure;
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', proc,
                   format('Generated by achievements.track(): the activity of the streak steps of table %s. Dropped by untrack() of its last streak step.', tbl));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', proc);
    PERFORM achievements_private.give_to_table_owner(proc, tbl);
    RETURN proc;
END
$$;

-- Creates (or replaces) the trigger function of `tbl` from tracked_steps: for each event, the
-- counts of the table's counters and gauges (tracked_rows_sql), and the users whose recounted
-- steps may change (its own, and those of the steps that depend on it: tracked_touched_sql);
-- those tallies are locked (achievements_tracking.lock) and then recounted from a new snapshot,
-- each new count set against its locked tally by one aggregate (linear in the users, whatever
-- the planner guesses of the arrays' sizes)
-- (the recount functions; for streak steps, the activity function and
-- achievements_tracking.streaks); a sum or max step refuses a negative value (AD113); TRUNCATE
-- takes the table's gauges and recounted steps to 0, works its streak steps out again and
-- recounts the steps that depend on it. All of
-- it goes to achievements_tracking.add in one call. Owned by the table's owner. Returns its
-- qualified name.
CREATE FUNCTION achievements_private.create_counting_function(tbl regclass)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn        text := achievements_private.counting_function_name(tbl);
    rel       text := achievements_private.table_alias(tbl);
    keys      text[] := achievements_private.primary_key_columns(tbl);
    claim     text := 'counting.claim';
    branches  text := '';
    op        text;
    s         achievements.tracked_steps;
    d         record;
    cast_kind text;
    kind      text;
    adds      text[];
    touched   text[];
    checks    text;
    part      text;
    zeroing   text[];
    streaks   text[];
    acts      text[];
    negatives boolean := false;
    recounts  text := '';
    claims    boolean := false;
    body      text;
    proc      regprocedure;
BEGIN
    -- Names are quoted (%I, %L, regclass) and the body is passed as one literal (%L):
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
    FOREACH op IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE'] LOOP
        adds := '{}'; touched := '{}'; checks := ''; acts := '{}';
        FOR s IN SELECT * FROM achievements.tracked_steps AS t WHERE t.tbl = create_counting_function.tbl ORDER BY t.step LOOP
            cast_kind := achievements_private.step_user_cast(tbl, s.user_column);
            kind := achievements_private.step_kind(s.mode, s.depends_on);
            claims := claims OR s.user_column IS NULL;
            part := achievements_private.tracked_rows_sql(s, cast_kind, op, rel, keys, claim);
            IF part IS NOT NULL THEN
                adds := adds || format('SELECT q.u, %L::text AS step, q.c FROM (%s) AS q', s.step, part);
            END IF;
            IF kind = 'streak' THEN
                acts := acts || achievements_private.tracked_activity_change_sql(s, cast_kind, op, rel);
            END IF;
            IF kind IN ('recount', 'streak') THEN
                touched := touched || format('SELECT t.u, %L::text AS step FROM (%s) AS t', s.step,
                                             achievements_private.tracked_changed_users_sql(s, cast_kind, op, rel));
            END IF;
            IF s.mode IN ('sum', 'max') AND op <> 'DELETE' THEN
                negatives := true;
                checks := checks || format(
                    E'        SELECT x.v INTO negative FROM (SELECT %s AS v FROM new_rows AS %s WHERE %s) AS x WHERE x.v < 0 LIMIT 1;\n'
                     '        IF FOUND THEN\n'
                     '            RAISE EXCEPTION ''achievements.track(): step %% of table %% counts a value below 0 (%%)'', %L, %L, negative\n'
                     '                USING ERRCODE = ''AD113'',\n'
                     '                      HINT = ''A sum or max step counts integers of 0 or more: keep the value at 0 or above, or track an expression that is (e.g. greatest(value, 0)).'';\n'
                     '        END IF;\n',
                    achievements_private.tracked_value_sql(s, rel), rel,
                    achievements_private.tracked_qualifies_sql(s, rel), quote_literal(s.step), tbl::text);
            END IF;
        END LOOP;
        FOR d IN SELECT t.tbl, t.step, t.depends_on_user_column FROM achievements.tracked_steps AS t
                  WHERE t.depends_on = create_counting_function.tbl ORDER BY t.step LOOP
            IF d.depends_on_user_column = '*' THEN
                -- Every user of the step, as for TRUNCATE below, when the statement changed a row.
                touched := touched || format(
                    'SELECT x.user_id AS u, x.step FROM achievements_tracking.lock_steps(%1$L::regclass, %2$L::text[]) AS x
                      WHERE EXISTS (SELECT 1 FROM %4$s)
                     UNION SELECT y.user_id, y.step FROM achievements_tracking.%3$I(%2$L::text[], NULL, false) AS y
                      WHERE EXISTS (SELECT 1 FROM %4$s)',
                    tbl::oid, ARRAY[d.step], achievements_private.rows_function_name(d.tbl),
                    CASE WHEN op = 'DELETE' THEN 'old_rows' ELSE 'new_rows' END);
            ELSE
                touched := touched || format('SELECT t.u, %L::text AS step FROM (%s) AS t', d.step,
                    achievements_private.tracked_touched_sql(
                        achievements_private.step_user_cast(tbl, d.depends_on_user_column), op, rel, d.depends_on_user_column));
            END IF;
        END LOOP;
        IF cardinality(adds) + cardinality(touched) + length(checks) > 0 THEN
            branches := branches || format(E'    %s TG_OP = %L THEN\n', CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END, op)
                || checks
                || CASE WHEN cardinality(adds) > 0 THEN format(
                       E'        SELECT array_agg(s.u), array_agg(s.step), array_agg(s.c) INTO users, steps, counts\n'
                        '          FROM (%s) AS s;\n', array_to_string(adds, E'\n                UNION ALL\n                ')) ELSE '' END
                || CASE WHEN cardinality(touched) > 0 THEN format(
                       E'        SELECT array_agg(r.u), array_agg(r.step) INTO r_users, r_steps\n'
                        '          FROM (SELECT DISTINCT t.u, t.step FROM (%s) AS t WHERE t.u IS NOT NULL) AS r;\n',
                       array_to_string(touched, E'\n                UNION ALL\n                ')) ELSE '' END
                || CASE WHEN cardinality(acts) > 0 THEN format(
                       E'        SELECT array_agg(a.u), array_agg(a.step), array_agg(a.at), array_agg(a.z), array_agg(a.sign)\n'
                        '          INTO a_users, a_steps, a_ats, a_zones, a_signs\n'
                        '          FROM (%s) AS a;\n',
                       array_to_string(acts, E'\n                UNION ALL\n                ')) ELSE '' END;
        END IF;
    END LOOP;

    -- TRUNCATE: the table's gauges and recounted steps go to 0; the steps that depend on it are
    -- recounted for every user who has a tally of them or a row that may count.
    SELECT coalesce(array_agg(t.step ORDER BY t.step), '{}') INTO zeroing
      FROM achievements.tracked_steps AS t
     WHERE t.tbl = create_counting_function.tbl AND achievements_private.step_kind(t.mode, t.depends_on) NOT IN ('counter', 'streak');
    SELECT coalesce(array_agg(t.step ORDER BY t.step), '{}') INTO streaks
      FROM achievements.tracked_steps AS t
     WHERE t.tbl = create_counting_function.tbl AND t.mode = 'streak';
    touched := '{}';
    IF cardinality(streaks) > 0 THEN
        -- The streak steps are worked out again for their users, from the calls of record_step.
        touched := touched || format('SELECT x.user_id AS u, x.step FROM achievements_tracking.lock_steps(%L::regclass, %L::text[]) AS x',
                                     tbl::oid, streaks);
    END IF;
    FOR d IN SELECT t.tbl, array_agg(t.step ORDER BY t.step) AS steps FROM achievements.tracked_steps AS t
              WHERE t.depends_on = create_counting_function.tbl GROUP BY t.tbl ORDER BY t.tbl LOOP
        touched := touched || format(
            'SELECT x.user_id AS u, x.step FROM achievements_tracking.lock_steps(%1$L::regclass, %2$L::text[]) AS x
             UNION SELECT y.user_id, y.step FROM achievements_tracking.%3$I(%2$L::text[], NULL, false) AS y',
            tbl::oid, d.steps, achievements_private.rows_function_name(d.tbl));
    END LOOP;
    IF cardinality(zeroing) + cardinality(touched) > 0 THEN
        branches := branches || format(E'    %s TG_OP = ''TRUNCATE'' THEN\n', CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END)
            || CASE WHEN cardinality(streaks) > 0 THEN E'        a_recount := true;\n' ELSE '' END
            || CASE WHEN cardinality(zeroing) > 0 THEN format(
                   E'        SELECT array_agg(x.user_id), array_agg(x.step), array_agg(-x.count) INTO users, steps, counts\n'
                    '          FROM achievements_tracking.lock_steps(%L::regclass, %L::text[]) AS x;\n', tbl::oid, zeroing) ELSE '' END
            || CASE WHEN cardinality(touched) > 0 THEN format(
                   E'        SELECT array_agg(r.u), array_agg(r.step) INTO r_users, r_steps\n'
                    '          FROM (%s) AS r;\n', array_to_string(touched, E'\n                UNION ')) ELSE '' END;
    END IF;

    -- The recounts: the table's own recounted steps, and those of each table that depends on it
    -- (guarded: a dropped table's function is gone until the next track() forgets it).
    IF EXISTS (SELECT 1 FROM achievements.tracked_steps AS t
                WHERE t.tbl = create_counting_function.tbl AND achievements_private.step_kind(t.mode, t.depends_on) = 'recount') THEN
        recounts := recounts || format(
            E'        SELECT n_users || array_agg(x.user_id), n_steps || array_agg(x.step), n_counts || array_agg(x.count)\n'
             '          INTO n_users, n_steps, n_counts\n'
             '          FROM achievements_tracking.%I(counting.r_steps, counting.l_users, false) AS x;\n',
            achievements_private.rows_function_name(tbl));
    END IF;
    IF cardinality(streaks) > 0 THEN
        recounts := recounts || format(
            E'        SELECT n_users || array_agg(x.user_id), n_steps || array_agg(x.step), n_counts || array_agg(x.count)\n'
             '          INTO n_users, n_steps, n_counts\n'
             '          FROM achievements_tracking.streaks(%L::regclass, counting.l_users, counting.l_steps, counting.a_users,\n'
             '                                             counting.a_steps, counting.a_ats, counting.a_zones, counting.a_signs,\n'
             '                                             counting.a_recount) AS x;\n',
            tbl::oid);
    END IF;
    FOR d IN SELECT DISTINCT t.tbl FROM achievements.tracked_steps AS t WHERE t.depends_on = create_counting_function.tbl ORDER BY t.tbl LOOP
        recounts := recounts || format(
            E'        IF to_regprocedure(%1$L) IS NOT NULL THEN\n'
             '            SELECT n_users || array_agg(x.user_id), n_steps || array_agg(x.step), n_counts || array_agg(x.count)\n'
             '              INTO n_users, n_steps, n_counts\n'
             '              FROM achievements_tracking.%2$I(counting.r_steps, counting.l_users, false) AS x;\n'
             '        END IF;\n',
            format('achievements_tracking.%I(text[], achievements.user_ref[], boolean)', achievements_private.rows_function_name(d.tbl)),
            achievements_private.rows_function_name(d.tbl));
    END LOOP;

    body := E'#variable_conflict use_column\n'
         || E'<<counting>>\n'
         || E'DECLARE\n'
         || CASE WHEN claims THEN E'    claim    achievements.user_ref := achievements.current_user_id();\n' ELSE '' END
         || E'    users    achievements.user_ref[];\n'
         || E'    steps    text[];\n'
         || E'    counts   int[];\n'
         || E'    r_users  achievements.user_ref[];\n'
         || E'    r_steps  text[];\n'
         || E'    l_users  achievements.user_ref[];\n'
         || E'    l_steps  text[];\n'
         || E'    l_counts int[];\n'
         || E'    n_users  achievements.user_ref[];\n'
         || E'    n_steps  text[];\n'
         || E'    n_counts int[];\n'
         || CASE WHEN negatives THEN E'    negative bigint;\n' ELSE '' END
         || CASE WHEN cardinality(streaks) > 0
                 THEN E'    a_users  achievements.user_ref[];\n    a_steps  text[];\n    a_ats    timestamptz[];\n    a_zones  text[];\n'
                      '    a_signs  int[];\n    a_recount boolean := false;\n'
                 ELSE '' END
         || E'BEGIN\n'
         || branches || CASE WHEN branches <> '' THEN E'    END IF;\n' ELSE '' END
         || E'    IF r_users IS NOT NULL THEN\n'
         || E'        -- The recounted tallies are locked first; the recount then reads a new snapshot.\n'
         || format(E'        SELECT array_agg(l.user_id), array_agg(l.step), array_agg(l.count) INTO l_users, l_steps, l_counts\n'
                    '          FROM achievements_tracking.lock(%L::regclass, counting.r_users, counting.r_steps) AS l;\n', tbl::oid)
         || recounts
         || E'        SELECT counting.users || array_agg(d.u), counting.steps || array_agg(d.s), counting.counts || array_agg(d.c)\n'
         || E'          INTO users, steps, counts\n'
         || E'          FROM (SELECT x.u, x.s, sum(x.c)::int AS c\n'
         || E'                  FROM (SELECT l.u, l.s, -l.c AS c, true AS locked\n'
         || E'                          FROM unnest(counting.l_users, counting.l_steps, counting.l_counts) AS l(u, s, c)\n'
         || E'                        UNION ALL\n'
         || E'                        SELECT n.u, n.s, n.c, false\n'
         || E'                          FROM unnest(counting.n_users, counting.n_steps, counting.n_counts) AS n(u, s, c)) AS x\n'
         || E'                 GROUP BY x.u, x.s\n'
         || E'                HAVING bool_or(x.locked)) AS d\n'
         || E'         WHERE d.c <> 0;\n'
         || E'    END IF;\n'
         || E'    IF users IS NOT NULL THEN\n'
         || format(E'        PERFORM achievements_tracking.add(%L::regclass, counting.users, counting.steps, counting.counts);\n', tbl::oid)
         || E'    END IF;\n'
         || E'    RETURN NULL;\n'
         || E'END\n';
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION achievements_tracking.%I()
         RETURNS trigger
         LANGUAGE plpgsql SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp
         AS %L', fn, body);
    proc := format('achievements_tracking.%I()', fn)::regprocedure;
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', proc,
                   format('Generated by achievements.track(): counts the steps %s from table %s. Dropped by untrack() of its last step.',
                          (SELECT string_agg(quote_literal(t.step), ', ' ORDER BY t.step)
                             FROM achievements.tracked_steps AS t
                            WHERE t.tbl = create_counting_function.tbl OR t.depends_on = create_counting_function.tbl),
                          tbl));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', proc);
    PERFORM achievements_private.give_to_table_owner(proc, tbl);
    -- The recount functions of the tables that depend on this one, which it calls.
    FOR d IN SELECT DISTINCT t.tbl FROM achievements.tracked_steps AS t WHERE t.depends_on = create_counting_function.tbl LOOP
        IF to_regprocedure(format('achievements_tracking.%I(text[], achievements.user_ref[], boolean)',
                                  achievements_private.rows_function_name(d.tbl))) IS NOT NULL THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION achievements_tracking.%I(text[], achievements.user_ref[], boolean) TO %I',
                           achievements_private.rows_function_name(d.tbl),
                           (SELECT pg_get_userbyid(c.relowner) FROM pg_class AS c WHERE c.oid = tbl));
        END IF;
    END LOOP;
    RETURN proc::text;
END
$$;

-- Makes the triggers and the generated functions of `tbl` match tracked_steps: its own steps and
-- the steps of other tables that depend on it. Regenerates the functions and creates the
-- triggers that are missing (after a DROP TRIGGER by hand too), drops those no longer needed
-- (DELETE and TRUNCATE are needed by gauges, recounted steps and dependents only); with nothing
-- left to count, drops them all and the functions. The caller holds a lock that keeps the
-- table's writers out (track(), untrack()).
CREATE FUNCTION achievements_private.wire_table(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    own        boolean;
    dependents boolean;
    gauges     boolean;
    fn         text;
    t          record;
BEGIN
    -- Every name is quoted (%I, regclass, regprocedure):
    -- @plpgsql_check_options: security_warnings = false
    SELECT count(*) > 0, coalesce(bool_or(achievements_private.step_kind(x.mode, x.depends_on) <> 'counter'), false)
      INTO own, gauges
      FROM achievements.tracked_steps AS x WHERE x.tbl = wire_table.tbl;
    dependents := EXISTS (SELECT 1 FROM achievements.tracked_steps AS x WHERE x.depends_on = wire_table.tbl);
    gauges := gauges OR dependents;
    FOR t IN SELECT * FROM achievements_private.tracking_triggers(true) AS x
              WHERE EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = x.trigger_name) LOOP
        IF NOT ((own OR dependents) AND (gauges OR t.event IN ('INSERT', 'UPDATE'))) THEN
            EXECUTE format('DROP TRIGGER %I ON %s', t.trigger_name, tbl);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM achievements.tracked_steps AS x WHERE x.tbl = wire_table.tbl AND x.mode = 'streak') THEN
        PERFORM achievements_private.create_activity_function(tbl);
    ELSE
        PERFORM achievements_private.drop_counting_function(tbl, rows_only => true, activity_only => true);
    END IF;
    IF own OR dependents THEN
        PERFORM achievements_private.create_rows_function(tbl);
    ELSE
        PERFORM achievements_private.drop_counting_function(tbl, rows_only => true);
    END IF;
    IF NOT (own OR dependents) THEN
        PERFORM achievements_private.drop_counting_function(tbl);
        RETURN;
    END IF;
    fn := achievements_private.create_counting_function(tbl);
    FOR t IN SELECT * FROM achievements_private.tracking_triggers(gauges) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = t.trigger_name) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION %s',
                           t.trigger_name, t.event, tbl, t.transition, fn);
        END IF;
    END LOOP;
END
$$;

-- Drops the generated functions of a table (by oid: it may be gone), those that exist; with
-- rows_only, its recount and activity functions only, and with activity_only too, its activity
-- function only. Fails, changing nothing, while a trigger still uses the trigger function.
CREATE FUNCTION achievements_private.drop_counting_function(
    tbl oid, rows_only boolean DEFAULT false, activity_only boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN SELECT p.oid::regprocedure FROM pg_proc AS p
               WHERE p.pronamespace = 'achievements_tracking'::regnamespace
                 AND (p.proname = achievements_private.activity_function_name(tbl)
                      OR (NOT activity_only AND p.proname = achievements_private.rows_function_name(tbl))
                      OR (NOT rows_only AND p.proname = achievements_private.counting_function_name(tbl))) LOOP
        EXECUTE format('DROP FUNCTION %s', fn);
    END LOOP;
END
$$;

-- Forgets the rows of tracked_steps whose table has been dropped, drops the generated functions
-- of dropped tables (their triggers went with them), and rewires the tables their steps
-- depended on. The caller holds the advisory lock of track().
CREATE FUNCTION achievements_private.forget_dropped_tables()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deps  oid[];
    gone  oid;
    other regclass;
BEGIN
    -- Every name is quoted (regclass):
    -- @plpgsql_check_options: security_warnings = false
    WITH forgotten AS (
        DELETE FROM achievements.tracked_steps AS t
         WHERE NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
        RETURNING t.depends_on::oid AS depends_on)
    SELECT array_agg(DISTINCT f.depends_on) FILTER (WHERE f.depends_on IS NOT NULL) INTO deps
      FROM forgotten AS f;
    FOR gone IN SELECT substring(p.proname FROM '^track_([0-9]+)$')::oid
                  FROM pg_proc AS p
                 WHERE p.pronamespace = 'achievements_tracking'::regnamespace AND p.proname ~ '^track_[0-9]+$'
                   AND NOT EXISTS (SELECT 1 FROM pg_class AS c
                                    WHERE c.oid = substring(p.proname FROM '^track_([0-9]+)$')::oid) LOOP
        PERFORM achievements_private.drop_counting_function(gone);
    END LOOP;
    FOR other IN SELECT x::regclass FROM unnest(deps) AS x
                  WHERE EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = x) LOOP
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', other);
        PERFORM achievements_private.wire_table(other);
    END LOOP;
END
$$;
