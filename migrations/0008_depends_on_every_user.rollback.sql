-- Rollback of 0008_depends_on_every_user: restores 0007's track() and generated-function
-- builders. Refuses while a step depends on a table for every user ('*'): untrack it first
-- (achievements.untrack), since 0007 cannot keep it.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';

DO $$
DECLARE
    steps text;
BEGIN
    SELECT string_agg(format('%s on %s', t.step, t.tbl), ', ' ORDER BY t.step) INTO steps
      FROM achievements.tracked_steps AS t WHERE t.depends_on_user_column = '*';
    IF steps IS NOT NULL THEN
        RAISE EXCEPTION 'cannot roll back 0008_depends_on_every_user: steps depend on a table for every user (%)', steps
            USING ERRCODE = 'AD107',
                  HINT = 'Untrack them first: SELECT achievements.untrack(tbl, step) FROM achievements.tracked() WHERE depends_on_user_column = ''*'';';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION achievements_private.create_counting_function(tbl regclass)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
        FOR d IN SELECT t.step, t.depends_on_user_column FROM achievements.tracked_steps AS t
                  WHERE t.depends_on = create_counting_function.tbl ORDER BY t.step LOOP
            touched := touched || format('SELECT t.u, %L::text AS step FROM (%s) AS t', d.step,
                achievements_private.tracked_touched_sql(
                    achievements_private.step_user_cast(tbl, d.depends_on_user_column), op, rel, d.depends_on_user_column));
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.create_rows_function(tbl regclass)
 RETURNS regprocedure
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    FOR s IN SELECT * FROM achievements.tracked_steps AS t WHERE t.depends_on = create_rows_function.tbl ORDER BY t.step LOOP
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.track(tbl regclass, step text, column_name text, mode text, user_column text, condition text, previous text, value text, depends_on regclass, depends_on_user_column text, backfill boolean, at text, period text, week_start text, time_zone text, caller name)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_variable
DECLARE
    context  text := format('achievements.track() on table %s', tbl);
    kind     text;
    wanted   achievements.tracked_steps;
    existing achievements.tracked_steps;
    other    achievements.tracked_steps;
    missing  boolean;
    rel_kind "char";
    dep_kind "char";
BEGIN
    -- Every name in the SQL it runs is quoted (%I, regclass):
    -- @plpgsql_check_options: security_warnings = false
    IF tbl IS NULL OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'achievements.track(): a table and a step of 1 to 200 characters are required (got %, %)',
                        coalesce(tbl::text, 'NULL'),
                        coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL')
            USING ERRCODE = 'AD107',
                  HINT = 'Call achievements.track(''posts'', ''post'', ''id'') to count a step per inserted row.';
    END IF;
    IF mode IS NULL OR mode NOT IN ('count', 'toggle', 'boolean', 'toggle_boolean', 'distinct', 'sum', 'max', 'streak') THEN
        RAISE EXCEPTION '%: unknown mode %', context, coalesce(quote_literal(mode), 'NULL')
            USING ERRCODE = 'AD107',
                  HINT = 'mode is one of count (default), boolean (counters), toggle, toggle_boolean, sum (gauges), distinct, max, streak.';
    END IF;
    IF mode = 'streak' THEN
        at := coalesce(at, quote_ident(column_name));
        IF at IS NULL THEN
            RAISE EXCEPTION '%: mode streak needs the time of each row: at', context
                USING ERRCODE = 'AD107',
                      HINT = 'E.g. achievements.track(''logins'', ''daily_login'', mode => ''streak'', at => ''logged_in_at'', user_column => ''user_id'').';
        END IF;
        IF depends_on IS NOT NULL THEN
            RAISE EXCEPTION '%: depends_on does not go with mode streak', context
                USING ERRCODE = 'AD107', HINT = 'A streak counts the times of its own table''s rows.';
        END IF;
        period := coalesce(period, 'day');
        week_start := coalesce(week_start, 'monday');
    ELSIF num_nonnulls(at, period, week_start, time_zone) > 0 THEN
        RAISE EXCEPTION '%: at, period, week_start and time_zone are for mode streak, not %', context, mode
            USING ERRCODE = 'AD107',
                  HINT = 'Pass mode => ''streak'' to count consecutive active days or weeks.';
    END IF;
    kind := achievements_private.step_kind(mode, depends_on);
    IF mode IN ('boolean', 'toggle_boolean') AND column_name IS NULL THEN
        RAISE EXCEPTION '%: mode % watches a boolean column; column_name is missing', context, mode
            USING ERRCODE = 'AD107',
                  HINT = 'Pass the boolean column, or use mode count or toggle with a condition.';
    END IF;
    IF mode IN ('distinct', 'sum', 'max') AND column_name IS NULL AND value IS NULL THEN
        RAISE EXCEPTION '%: mode % needs a value: a column (column_name) or an expression (value)', context, mode
            USING ERRCODE = 'AD107',
                  HINT = 'E.g. achievements.track(''songs'', ''artists'', mode => ''distinct'', value => ''lower(artist)'', user_column => ''owner_id'').';
    END IF;
    IF value IS NOT NULL AND mode NOT IN ('distinct', 'sum', 'max') THEN
        RAISE EXCEPTION '%: value is for the modes distinct, sum and max, not %', context, mode
            USING ERRCODE = 'AD107',
                  HINT = 'Use a condition to choose the rows that count in the other modes.';
    END IF;
    IF previous IS NOT NULL AND (mode <> 'count' OR condition IS NULL) THEN
        RAISE EXCEPTION '%: previous (the condition an updated row met before) goes with mode count and a condition', context
            USING ERRCODE = 'AD107',
                  HINT = 'E.g. mode => ''count'', condition => ''status = ''''released'''''', previous => ''status = ''''wip''''''.';
    END IF;
    IF depends_on IS NOT NULL AND kind = 'counter' THEN
        RAISE EXCEPTION '%: depends_on is for gauges and recounted steps, not for the counter mode %', context, mode
            USING ERRCODE = 'AD107',
                  HINT = 'A counter counts events of its own table: they do not change when another table does.';
    END IF;
    IF kind <> 'counter' AND user_column IS NULL THEN
        RAISE EXCEPTION '%: mode % needs a user column', context, mode
            USING ERRCODE = 'AD107',
                  HINT = 'A gauge counts each user''s rows, so it must know whose each row is: pass user_column, e.g. achievements.track(tbl, step, column, mode, ''user_id'').';
    END IF;
    IF backfill IS NULL OR (NOT backfill AND kind <> 'counter') THEN
        RAISE EXCEPTION '%: backfill must be true or false, and true for mode %', context, mode
            USING ERRCODE = 'AD107',
                  HINT = 'A gauge is the state of the table''s rows now: it always starts from them. backfill => false makes a counter count from now on.';
    END IF;
    SELECT c.relkind INTO rel_kind FROM pg_class AS c WHERE c.oid = tbl;
    IF rel_kind = 'p' THEN
        RAISE EXCEPTION 'achievements.track(): % is partitioned: writes addressed to one of its partitions, and TRUNCATE of one, do not fire the statement-level triggers of track() on it, so its counts could drift', tbl
            USING ERRCODE = 'AD107',
                  HINT = 'Count it with row-level triggers on it, which PostgreSQL copies to every partition, present and future: docs/tracking.md, "Partitioned tables", shows how and what they see.';
    END IF;
    IF rel_kind IS DISTINCT FROM 'r' THEN
        RAISE EXCEPTION 'achievements.track(): % is not a table', tbl
            USING ERRCODE = 'AD107',
                  HINT = 'Track the table the view or foreign table reads from.';
    END IF;
    IF depends_on IS NOT NULL THEN
        SELECT c.relkind INTO dep_kind FROM pg_class AS c WHERE c.oid = depends_on;
        IF dep_kind IS DISTINCT FROM 'r' OR depends_on = tbl THEN
            RAISE EXCEPTION '%: depends_on must be another table that is not partitioned, not %', context, depends_on
                USING ERRCODE = 'AD107',
                      HINT = 'depends_on names the table the condition reads, e.g. depends_on => ''songs'' for a condition over a pack''s songs.';
        END IF;
        depends_on_user_column := coalesce(depends_on_user_column, user_column);
    ELSIF depends_on_user_column IS NOT NULL THEN
        RAISE EXCEPTION '%: depends_on_user_column goes with depends_on', context
            USING ERRCODE = 'AD107', HINT = 'Name the table the condition reads in depends_on.';
    END IF;
    IF previous IS NOT NULL AND achievements_private.primary_key_columns(tbl) IS NULL THEN
        RAISE EXCEPTION '%: previous pairs the old and new rows of an UPDATE by primary key, and % has none', context, tbl
            USING ERRCODE = 'AD107',
                  HINT = format('Add a primary key to %s, or count with a condition alone.', tbl);
    END IF;
    PERFORM achievements_private.check_table_owner(tbl, caller, 'track');
    IF depends_on IS NOT NULL THEN
        PERFORM achievements_private.check_table_owner(depends_on, caller, 'track');
    END IF;
    IF column_name IS NOT NULL AND mode IN ('count', 'toggle', 'boolean', 'toggle_boolean') THEN
        PERFORM achievements_private.check_tracking_arguments(mode, tbl, ARRAY[column_name, step], context);
    ELSIF column_name IS NOT NULL AND NOT EXISTS (
              SELECT 1 FROM pg_attribute AS a
               WHERE a.attrelid = tbl AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION '%: column % does not exist in table %', context, quote_ident(column_name), tbl
            USING ERRCODE = 'AD102',
                  HINT = format('Name a column of %s, or give an expression as value.', tbl);
    END IF;
    IF user_column IS NOT NULL THEN
        PERFORM achievements_private.user_column_cast(tbl, user_column, context);
    END IF;
    IF depends_on IS NOT NULL THEN
        PERFORM achievements_private.user_column_cast(depends_on, depends_on_user_column,
                                                      format('achievements.track() on table %s (depends_on)', depends_on));
    END IF;
    wanted := ROW(tbl, step, column_name, mode, user_column, now(), condition, previous, value, depends_on,
                  depends_on_user_column, at, time_zone)::achievements.tracked_steps;

    PERFORM pg_advisory_xact_lock(1633838661, hashtext(tbl::oid::text));
    PERFORM achievements_private.forget_dropped_tables();

    SELECT * INTO existing FROM achievements.tracked_steps AS t WHERE t.tbl = track.tbl AND t.step = track.step;
    IF FOUND AND (existing.column_name, existing.mode, existing.user_column, existing.condition, existing.previous,
                  existing.value, existing.depends_on, existing.depends_on_user_column, existing.at, existing.time_zone)
                 IS DISTINCT FROM (wanted.column_name, wanted.mode, wanted.user_column, wanted.condition, wanted.previous,
                                   wanted.value, wanted.depends_on, wanted.depends_on_user_column, wanted.at,
                                   wanted.time_zone) THEN
        RAISE EXCEPTION 'achievements.track(): table % already tracks step % (column %, mode %, user column %)',
                        tbl, quote_literal(step), coalesce(quote_ident(existing.column_name), 'none'), existing.mode,
                        coalesce(quote_ident(existing.user_column), 'none')
                        || concat(', condition ' || quote_literal(existing.condition), ', previous ' || quote_literal(existing.previous),
                                  ', value ' || quote_literal(existing.value), ', depends on ' || existing.depends_on::text,
                                  ', at ' || quote_literal(existing.at), ', time_zone ' || quote_literal(existing.time_zone))
            USING ERRCODE = 'AD108',
                  HINT = format('To change it, call achievements.untrack(%L, %L) first, then track() again.', tbl::text, step);
    END IF;
    SELECT * INTO other FROM achievements.tracked_steps AS t
     WHERE t.step = track.step AND t.tbl <> track.tbl
       AND (kind <> 'counter' OR achievements_private.step_kind(t.mode, t.depends_on) <> 'counter')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'achievements.track(): step % is tracked on table % too; a gauge step (any mode but count and boolean) must come from one table only',
                        quote_literal(step), other.tbl
            USING ERRCODE = 'AD109',
                  HINT = 'Give this table its own step name (a level can require both steps).';
    END IF;

    SELECT bool_or(NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = t.trigger_name))
      INTO missing
      FROM achievements_private.tracking_triggers(kind <> 'counter' OR EXISTS (
               SELECT 1 FROM achievements.tracked_steps AS x
                WHERE (x.tbl = track.tbl AND achievements_private.step_kind(x.mode, x.depends_on) <> 'counter')
                   OR x.depends_on = track.tbl)) AS t;
    IF existing.tbl IS NOT NULL AND NOT missing THEN
        RETURN false;
    END IF;

    IF mode = 'streak' THEN
        PERFORM achievements_private.define_streak(step, period, week_start);
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    IF depends_on IS NOT NULL THEN
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', depends_on);
    END IF;
    IF existing.tbl IS NULL THEN
        INSERT INTO achievements.tracked_steps
               (tbl, step, column_name, mode, user_column, condition, previous, value, depends_on, depends_on_user_column,
                at, time_zone)
        VALUES (tbl, step, column_name, mode, user_column, condition, previous, value, depends_on, depends_on_user_column,
                at, time_zone);
    END IF;
    PERFORM achievements_private.wire_table(tbl);
    IF depends_on IS NOT NULL THEN
        PERFORM achievements_private.wire_table(depends_on);
    END IF;
    PERFORM achievements_private.check_step_expressions(wanted);
    -- The locks keep writers out until commit, and the recount sees every row committed before
    -- it (after a repair too: the rows written while a trigger was missing).
    PERFORM achievements_private.adopt_rows(wanted, backfill AND existing.tbl IS NULL);
    RETURN true;
END
$function$;


DELETE FROM achievements_private.applied_migrations WHERE id = '0008_depends_on_every_user';
