-- Rollback of 0005_streaks: track() and tracked() as 0004 had them, without streaks, time
-- zones or their tables. Refuses, changing nothing, while a table tracks a streak step (untrack
-- it first) or a streak step is defined (delete its row of achievements.streak_steps: its
-- streaks, calls and freezes go; the tallies stay).
-- squawk-ignore-file ban-drop-function, ban-drop-column, ban-drop-constraint, constraint-missing-not-valid, ban-drop-table
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';

DO $guard$
DECLARE
    streaks text := (SELECT string_agg(quote_literal(s.step), ', ' ORDER BY s.step) FROM achievements.streak_steps AS s);
BEGIN
    IF streaks IS NOT NULL THEN
        RAISE EXCEPTION 'rolling back 0005_streaks: these steps are streaks: %', streaks
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Untrack them (SELECT achievements.untrack(tbl, step) FROM achievements.tracked() WHERE mode = ''streak''), then DELETE FROM achievements.streak_steps; their tallies stay.';
    END IF;
END
$guard$;

DROP FUNCTION achievements.tracked();

CREATE OR REPLACE FUNCTION achievements.record_step(user_id achievements.user_ref, step text, count integer DEFAULT 1)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    IF achievements_private.no_user(record_step.user_id) THEN
        RAISE EXCEPTION 'record_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who took the step.';
    END IF;
    IF record_step.count IS NULL OR record_step.count < 1 OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'record_step: count must be a positive number and step a name of 1 to 200 characters (got count %, step %)',
                        coalesce(record_step.count::text, 'NULL'), coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'To take steps back, call achievements.undo_step(user_id, step, count).';
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.tracked_steps AS t
                WHERE t.step = record_step.step AND t.mode NOT IN ('count', 'boolean')) THEN
        PERFORM achievements_private.refuse_tracked_gauge(step, 'record_step');
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
    IF achievements_private.no_user(undo_step.user_id) THEN
        RAISE EXCEPTION 'undo_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user whose step is undone.';
    END IF;
    IF undo_step.count IS NULL OR undo_step.count < 1 OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'undo_step: count must be a positive number and step a name of 1 to 200 characters (got count %, step %)',
                        coalesce(undo_step.count::text, 'NULL'), coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'count is how many steps to take back, e.g. achievements.undo_step(user_id, step, 1).';
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.tracked_steps AS t
                WHERE t.step = undo_step.step AND t.mode NOT IN ('count', 'boolean')) THEN
        PERFORM achievements_private.refuse_tracked_gauge(step, 'undo_step');
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

CREATE OR REPLACE FUNCTION achievements_private.catalog_problems(catalog jsonb)
 RETURNS SETOF text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    badge_keys constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until'];
    step_keys constant text[] := ARRAY['table', 'user_column', 'mode', 'column', 'condition', 'previous',
        'value', 'depends_on', 'depends_on_user_column', 'backfill'];
    k       text;
    v       jsonb;
    item    record;
    field   record;
    req     record;
    want    text;
    path    text;
    steps   text[];
BEGIN
    IF jsonb_typeof(catalog) IS DISTINCT FROM 'object' THEN
        RETURN NEXT 'the catalog must be a table/object with "levels" and "badges"';
        RETURN;
    END IF;
    FOR k IN SELECT x FROM (SELECT jsonb_object_keys(catalog) EXCEPT SELECT unnest(ARRAY['levels', 'badges', 'steps'])) AS u(x) ORDER BY 1 LOOP
        RETURN NEXT format('%s: unknown section (expected levels, badges or steps)', k);
    END LOOP;
    FOREACH k IN ARRAY ARRAY['levels', 'badges', 'steps'] LOOP
        IF catalog ? k AND jsonb_typeof(catalog -> k) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of %s by name', k, k);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'levels') = 'object'
                                              THEN catalog -> 'levels' ELSE '{}' END) ORDER BY key LOOP
        path := 'levels.' || item.key;
        IF item.key = '' THEN
            RETURN NEXT 'levels: a level name must not be empty';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (description, requirements)', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(ARRAY['description', 'requirements'])) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected description, requirements)', path, k);
        END LOOP;
        IF jsonb_typeof(item.value -> 'description') NOT IN ('string', 'null') THEN
            RETURN NEXT format('%s.description: expected a string', path);
        END IF;
        v := item.value -> 'requirements';
        IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
            CONTINUE;
        ELSIF jsonb_typeof(v) = 'object' THEN
            FOR req IN SELECT * FROM jsonb_each(v) ORDER BY key LOOP
                IF char_length(req.key) NOT BETWEEN 1 AND 200 THEN
                    RETURN NEXT format('%s.requirements: a step name must be 1 to 200 characters, got %s', path,
                                       quote_literal(left(req.key, 60)) || CASE WHEN char_length(req.key) > 60 THEN '...' ELSE '' END);
                END IF;
                IF jsonb_typeof(req.value) <> 'number' OR req.value::text !~ '^[0-9]+$' OR req.value::numeric < 1
                   OR req.value::numeric > 2147483647 THEN
                    RETURN NEXT format('%s.requirements.%s: expected a whole number of at least 1, got %s', path, req.key, req.value);
                END IF;
            END LOOP;
        ELSIF jsonb_typeof(v) = 'array' THEN
            steps := '{}';
            FOR req IN SELECT * FROM jsonb_array_elements(v) WITH ORDINALITY AS e(value, n) LOOP
                want := format('%s.requirements[%s]', path, req.n);
                IF jsonb_typeof(req.value) <> 'object' THEN
                    RETURN NEXT format('%s: expected a table with step, count, priority', want);
                    CONTINUE;
                END IF;
                FOR k IN SELECT x FROM (SELECT jsonb_object_keys(req.value) EXCEPT SELECT unnest(ARRAY['step', 'count', 'priority'])) AS u(x) ORDER BY 1 LOOP
                    RETURN NEXT format('%s.%s: unknown key (expected step, count, priority)', want, k);
                END LOOP;
                IF jsonb_typeof(req.value -> 'step') IS DISTINCT FROM 'string'
                   OR char_length(req.value ->> 'step') NOT BETWEEN 1 AND 200 THEN
                    RETURN NEXT format('%s.step: expected a step name of 1 to 200 characters', want);
                ELSIF req.value ->> 'step' = ANY (steps) THEN
                    RETURN NEXT format('%s.step: step %s is listed twice', want, req.value -> 'step');
                ELSE
                    steps := steps || (req.value ->> 'step');
                END IF;
                IF req.value ? 'count' AND (jsonb_typeof(req.value -> 'count') <> 'number'
                   OR (req.value -> 'count')::text !~ '^[0-9]+$' OR (req.value ->> 'count')::numeric < 1
                   OR (req.value ->> 'count')::numeric > 2147483647) THEN
                    RETURN NEXT format('%s.count: expected a whole number of at least 1, got %s', want, req.value -> 'count');
                END IF;
                IF req.value ? 'priority' AND (jsonb_typeof(req.value -> 'priority') <> 'number'
                   OR (req.value -> 'priority')::text !~ '^-?[0-9]+$'
                   OR abs((req.value ->> 'priority')::numeric) > 2147483647) THEN
                    RETURN NEXT format('%s.priority: expected a whole number, got %s', want, req.value -> 'priority');
                END IF;
            END LOOP;
        ELSE
            RETURN NEXT format('%s.requirements: expected a table of step = count, or a list of {step, count, priority}', path);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'badges') = 'object'
                                              THEN catalog -> 'badges' ELSE '{}' END) ORDER BY key LOOP
        path := 'badges.' || item.key;
        IF item.key = '' THEN
            RETURN NEXT 'badges: a badge code must not be empty';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of badge fields', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(badge_keys)) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected one of %s)', path, k, array_to_string(badge_keys, ', '));
        END LOOP;
        IF NOT item.value ? 'name' THEN
            RETURN NEXT format('%s.name: missing (the name users see)', path);
        END IF;
        FOR field IN SELECT * FROM jsonb_each(item.value) WHERE key = ANY (badge_keys) ORDER BY key LOOP
            want := CASE WHEN field.key IN ('points', 'threshold') THEN 'integer'
                         WHEN field.key IN ('hidden', 'client_grantable', 'revocable') THEN 'boolean'
                         WHEN field.key IN ('active_from', 'active_until') THEN 'timestamp'
                         ELSE 'string' END;
            IF want = 'integer' AND (jsonb_typeof(field.value) <> 'number' OR field.value::text !~ '^-?[0-9]+$'
                                     OR abs(field.value::numeric) > 2147483647) THEN
                RETURN NEXT format('%s.%s: expected a whole number, got %s', path, field.key, field.value);
            ELSIF want = 'boolean' AND jsonb_typeof(field.value) <> 'boolean' THEN
                RETURN NEXT format('%s.%s: expected true or false, got %s', path, field.key, field.value);
            ELSIF want = 'string' AND jsonb_typeof(field.value) <> 'string' THEN
                RETURN NEXT format('%s.%s: expected a string, got %s', path, field.key, field.value);
            ELSIF want = 'timestamp' THEN
                IF jsonb_typeof(field.value) <> 'string' THEN
                    RETURN NEXT format('%s.%s: expected a date and time, got %s', path, field.key, field.value);
                ELSE
                    BEGIN
                        PERFORM (field.value #>> '{}')::timestamptz;
                    EXCEPTION WHEN OTHERS THEN
                        RETURN NEXT format('%s.%s: not a date and time: %s', path, field.key, field.value);
                    END;
                END IF;
            END IF;
        END LOOP;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'steps') = 'object'
                                              THEN catalog -> 'steps' ELSE '{}' END) ORDER BY key LOOP
        path := 'steps.' || item.key;
        IF char_length(item.key) NOT BETWEEN 1 AND 200 THEN
            RETURN NEXT 'steps: a step name must be 1 to 200 characters';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of the arguments of track()', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(step_keys)) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected one of %s)', path, k, array_to_string(step_keys, ', '));
        END LOOP;
        FOR field IN SELECT * FROM jsonb_each(item.value) WHERE key = ANY (step_keys) ORDER BY key LOOP
            IF field.key = 'backfill' AND jsonb_typeof(field.value) <> 'boolean' THEN
                RETURN NEXT format('%s.backfill: expected true or false, got %s', path, field.value);
            ELSIF field.key <> 'backfill' AND jsonb_typeof(field.value) <> 'string' THEN
                RETURN NEXT format('%s.%s: expected a string, got %s', path, field.key, field.value);
            ELSIF field.key IN ('table', 'depends_on') AND achievements_private.qualified_table(field.value #>> '{}') IS NULL THEN
                RETURN NEXT format('%s.%s: no table %s', path, field.key, field.value);
            END IF;
        END LOOP;
        IF NOT item.value ? 'table' THEN
            RETURN NEXT format('%s.table: missing (the table the step is counted from)', path);
        END IF;
    END LOOP;
END
$function$;

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
    negatives boolean := false;
    recounts  text := '';
    claims    boolean := false;
    body      text;
    proc      regprocedure;
BEGIN
    -- Names are quoted (%I, %L, regclass) and the body is passed as one literal (%L):
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
    FOREACH op IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE'] LOOP
        adds := '{}'; touched := '{}'; checks := '';
        FOR s IN SELECT * FROM achievements.tracked_steps AS t WHERE t.tbl = create_counting_function.tbl ORDER BY t.step LOOP
            cast_kind := achievements_private.step_user_cast(tbl, s.user_column);
            kind := achievements_private.step_kind(s.mode, s.depends_on);
            claims := claims OR s.user_column IS NULL;
            part := achievements_private.tracked_rows_sql(s, cast_kind, op, rel, keys, claim);
            IF part IS NOT NULL THEN
                adds := adds || format('SELECT q.u, %L::text AS step, q.c FROM (%s) AS q', s.step, part);
            END IF;
            IF kind = 'recount' THEN
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
                       array_to_string(touched, E'\n                UNION ALL\n                ')) ELSE '' END;
        END IF;
    END LOOP;

    -- TRUNCATE: the table's gauges and recounted steps go to 0; the steps that depend on it are
    -- recounted for every user who has a tally of them or a row that may count.
    SELECT coalesce(array_agg(t.step ORDER BY t.step), '{}') INTO zeroing
      FROM achievements.tracked_steps AS t
     WHERE t.tbl = create_counting_function.tbl AND achievements_private.step_kind(t.mode, t.depends_on) <> 'counter';
    touched := '{}';
    FOR d IN SELECT t.tbl, array_agg(t.step ORDER BY t.step) AS steps FROM achievements.tracked_steps AS t
              WHERE t.depends_on = create_counting_function.tbl GROUP BY t.tbl ORDER BY t.tbl LOOP
        touched := touched || format(
            'SELECT x.user_id AS u, x.step FROM achievements_tracking.lock_steps(%1$L::regclass, %2$L::text[]) AS x
             UNION SELECT y.user_id, y.step FROM achievements_tracking.%3$I(%2$L::text[], NULL, false) AS y',
            tbl::oid, d.steps, achievements_private.rows_function_name(d.tbl));
    END LOOP;
    IF cardinality(zeroing) + cardinality(touched) > 0 THEN
        branches := branches || format(E'    %s TG_OP = ''TRUNCATE'' THEN\n', CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END)
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
         || E'BEGIN\n'
         || branches || CASE WHEN branches <> '' THEN E'    END IF;\n' ELSE '' END
         || E'    IF r_users IS NOT NULL THEN\n'
         || E'        -- The recounted tallies are locked first; the recount then reads a new snapshot.\n'
         || format(E'        SELECT array_agg(l.user_id), array_agg(l.step), array_agg(l.count) INTO l_users, l_steps, l_counts\n'
                    '          FROM achievements_tracking.lock(%L::regclass, counting.r_users, counting.r_steps) AS l;\n', tbl::oid)
         || recounts
         || E'        SELECT counting.users || array_agg(d.u), counting.steps || array_agg(d.s), counting.counts || array_agg(d.c)\n'
         || E'          INTO users, steps, counts\n'
         || E'          FROM (SELECT l.u, l.s, coalesce(n.c, 0) - l.c AS c\n'
         || E'                  FROM unnest(counting.l_users, counting.l_steps, counting.l_counts) AS l(u, s, c)\n'
         || E'                  LEFT JOIN unnest(counting.n_users, counting.n_steps, counting.n_counts) AS n(u, s, c)\n'
         || E'                         ON n.u = l.u AND n.s = l.s) AS d\n'
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

CREATE OR REPLACE FUNCTION achievements_private.wire_table(tbl regclass)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.tracking_lock(caller name, tbl regclass, user_ids achievements.user_ref[], steps text[])
 RETURNS TABLE(user_id achievements.user_ref, step text, count integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM achievements_private.check_tracking_caller(caller, tbl, steps);
    INSERT INTO achievements.user_achievements (user_id, name, count)
    SELECT p.u, p.s, 0 FROM unnest(user_ids, steps) AS p(u, s) ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN QUERY
        SELECT t.user_id, t.name, t.count
          FROM achievements.user_achievements AS t
          JOIN unnest(user_ids, steps) AS p(u, s) ON t.user_id = p.u AND t.name = p.s
         ORDER BY t.user_id, t.name
           FOR UPDATE OF t;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.tracked_rows_sql(s achievements.tracked_steps, user_cast text, op text, rel text, keys text[], claim text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    kind     text := achievements_private.step_kind(s.mode, s.depends_on);
    who      text := achievements_private.tracked_user_sql(user_cast, rel, s.user_column, claim);
    qual     text := achievements_private.tracked_qualifies_sql(s, rel);
    weight   text := CASE WHEN s.mode = 'sum'
                          THEN format('coalesce(%s, 0)', achievements_private.tracked_value_sql(s, rel))
                          ELSE '1' END;
    key_list text;
    key_cols text;
BEGIN
    IF kind = 'recount' OR op = 'TRUNCATE' THEN
        RETURN NULL;
    END IF;
    IF kind = 'counter' THEN
        IF op = 'DELETE' OR (op = 'INSERT' AND s.previous IS NOT NULL) THEN
            RETURN NULL;
        ELSIF op = 'INSERT' THEN
            RETURN format(
                'SELECT f.u, count(*)::int AS c FROM (SELECT %s AS u FROM new_rows AS %s WHERE %s) AS f
                  WHERE f.u IS NOT NULL GROUP BY f.u', who, rel, qual);
        ELSIF s.previous IS NULL THEN
            RETURN format(
                'SELECT n.u, count(*)::int AS c
                   FROM (SELECT row_number() OVER () AS ord, %2$s AS c FROM old_rows AS %1$s) AS o
                   JOIN (SELECT row_number() OVER () AS ord, %3$s AS u, %4$s AS q, %2$s AS c
                           FROM new_rows AS %1$s) AS n USING (ord)
                  WHERE n.q AND n.u IS NOT NULL AND n.c IS DISTINCT FROM o.c
                  GROUP BY n.u',
                rel, achievements_private.tracked_change_sql(s, rel), who, qual);
        END IF;
        SELECT string_agg(format('%s.%I AS k%s', rel, k.col, k.n), ', ' ORDER BY k.n),
               string_agg(format('k%s', k.n), ', ' ORDER BY k.n)
          INTO key_cols, key_list
          FROM unnest(keys) WITH ORDINALITY AS k(col, n);
        RETURN format(
            'SELECT n.u, count(*)::int AS c
               FROM (SELECT %2$s, %4$s AS q, (%5$s) IS TRUE AS p FROM old_rows AS %1$s) AS o
               JOIN (SELECT %2$s, %3$s AS u, %4$s AS q FROM new_rows AS %1$s) AS n USING (%6$s)
              WHERE n.q AND NOT o.q AND o.p AND n.u IS NOT NULL
              GROUP BY n.u',
            rel, key_cols, who, qual, s.previous, key_list);
    END IF;
    -- Gauges: per user, what the new rows add minus what the old rows took.
    IF op = 'UPDATE' THEN
        RETURN format(
            'SELECT s.u, sum(s.w)::int AS c
               FROM (SELECT %2$s AS u, -(%4$s) AS w FROM old_rows AS %1$s WHERE %3$s
                     UNION ALL
                     SELECT %2$s, %4$s FROM new_rows AS %1$s WHERE %3$s) AS s
              WHERE s.u IS NOT NULL
              GROUP BY s.u
             HAVING sum(s.w) <> 0',
            rel, who, qual, weight);
    END IF;
    RETURN format(
        'SELECT f.u, %ssum(f.w)::int AS c FROM (SELECT %s AS u, %s AS w FROM %s AS %s WHERE %s) AS f
          WHERE f.u IS NOT NULL GROUP BY f.u HAVING sum(f.w) <> 0',
        CASE WHEN op = 'DELETE' THEN '-' ELSE '' END, who, weight,
        CASE WHEN op = 'DELETE' THEN 'old_rows' ELSE 'new_rows' END, rel, qual);
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.tracked_changed_users_sql(s achievements.tracked_steps, user_cast text, op text, rel text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    who   text := achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref');
    qual  text := achievements_private.tracked_qualifies_sql(s, rel);
    worth text := coalesce(achievements_private.tracked_value_sql(s, rel), 'NULL::int');
BEGIN
    IF op IN ('INSERT', 'DELETE') THEN
        RETURN format('SELECT %s AS u FROM %s AS %s WHERE %s', who,
                      CASE WHEN op = 'INSERT' THEN 'new_rows' ELSE 'old_rows' END, rel, qual);
    ELSIF op = 'UPDATE' THEN
        RETURN format(
            'SELECT x.u
               FROM (SELECT row_number() OVER () AS ord, %2$s AS u, %3$s AS q, %4$s AS v FROM old_rows AS %1$s) AS o
               JOIN (SELECT row_number() OVER () AS ord, %2$s AS u, %3$s AS q, %4$s AS v FROM new_rows AS %1$s) AS n USING (ord)
              CROSS JOIN LATERAL (VALUES (o.u), (n.u)) AS x(u)
              WHERE (o.u, o.q, o.v) IS DISTINCT FROM (n.u, n.q, n.v)',
            rel, who, qual, worth);
    END IF;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.tracked_recount_sql(s achievements.tracked_steps, user_cast text, rel text, users text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    who     text := achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref');
    id_type text := format_type((SELECT t.typbasetype FROM pg_type AS t WHERE t.oid = 'achievements.user_ref'::regtype), NULL);
    narrow  text := '';
BEGIN
    IF s.previous IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF users IS NOT NULL THEN
        narrow := CASE WHEN user_cast = 'native' THEN format(' AND %s.%I = ANY (%s::%s[])', rel, s.user_column, users, id_type)
                     ELSE format(' AND %s = ANY (%s)', who, users) END;
    END IF;
    RETURN format(
        'SELECT f.u, %s::int AS c FROM (SELECT %s AS u, %s AS v FROM %s AS %s WHERE %s%s) AS f
          WHERE f.u IS NOT NULL GROUP BY f.u',
        CASE s.mode WHEN 'distinct' THEN 'count(DISTINCT f.v)' WHEN 'max' THEN 'coalesce(max(f.v), 0)'
                    WHEN 'sum' THEN 'coalesce(sum(f.v), 0)' ELSE 'count(*)' END,
        who, coalesce(achievements_private.tracked_value_sql(s, rel), 'NULL'),
        s.tbl, rel, achievements_private.tracked_qualifies_sql(s, rel), narrow);
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.give_to_table_owner(fn regprocedure, tbl oid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
                    achievements_tracking.integer_value(bigint) TO %I', owner);
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
    FOR s IN SELECT * FROM achievements.tracked_steps AS t WHERE t.tbl = create_rows_function.tbl ORDER BY t.step LOOP
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

CREATE OR REPLACE FUNCTION achievements_private.drop_counting_function(tbl oid, rows_only boolean DEFAULT false)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN SELECT p.oid::regprocedure FROM pg_proc AS p
               WHERE p.pronamespace = 'achievements_tracking'::regnamespace
                 AND (p.proname = achievements_private.rows_function_name(tbl)
                      OR (NOT rows_only AND p.proname = achievements_private.counting_function_name(tbl))) LOOP
        EXECUTE format('DROP FUNCTION %s', fn);
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.adopt_rows(s achievements.tracked_steps, add_rows boolean)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    fn      text := achievements_private.rows_function_name(s.tbl);
    before  text := achievements_private.set_quiet('on');
    changed int := 0;
BEGIN
    -- The function's name is quoted (%I); it writes only through EXECUTE, which the check does
    -- not count as a write:
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
    IF achievements_private.step_kind(s.mode, s.depends_on) <> 'counter' THEN
        EXECUTE format(
            'INSERT INTO achievements.user_steps (user_id, name, count)
             SELECT d.user_id, $1, d.diff
               FROM (SELECT user_id, coalesce(h.count, 0) - coalesce(t.count, 0) AS diff
                       FROM (SELECT r.user_id, r.count FROM achievements_tracking.%I(ARRAY[$1], NULL, false) AS r) AS h
                       FULL JOIN (SELECT a.user_id, a.count FROM achievements.user_achievements AS a
                                   WHERE a.name = $1) AS t USING (user_id)) AS d
              WHERE d.diff <> 0
              ORDER BY d.user_id', fn)
        USING s.step;
        GET DIAGNOSTICS changed = ROW_COUNT;
    ELSIF add_rows THEN
        EXECUTE format(
            'INSERT INTO achievements.user_steps (user_id, name, count)
             SELECT r.user_id, $1, r.count FROM achievements_tracking.%I(ARRAY[$1], NULL, false) AS r
              WHERE r.count > 0
              ORDER BY r.user_id', fn)
        USING s.step;
        GET DIAGNOSTICS changed = ROW_COUNT;
    END IF;
    PERFORM achievements_private.set_quiet(before);
    RETURN changed;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.check_step_expressions(s achievements.tracked_steps)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    given text;
BEGIN
    -- The function's name is quoted (%I):
    -- @plpgsql_check_options: security_warnings = false
    EXECUTE format('SELECT count(*) FROM achievements_tracking.%I(ARRAY[$1], NULL, true)',
                   achievements_private.rows_function_name(s.tbl))
    USING s.step;
    IF s.depends_on IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM achievements_tracking.%I(ARRAY[$1], NULL, true)',
                       achievements_private.rows_function_name(s.depends_on))
        USING 'depends_on ' || s.step;
    END IF;
EXCEPTION WHEN OTHERS THEN
    given := concat_ws(', ', 'condition ' || quote_literal(s.condition), 'previous ' || quote_literal(s.previous),
                       'value ' || quote_literal(s.value), 'column ' || quote_ident(s.column_name),
                       'user ' || quote_literal(s.user_column),
                       'depends_on_user_column ' || quote_literal(s.depends_on_user_column));
    RAISE EXCEPTION 'achievements.track() on table %: the expressions of step % are not valid for it: % (%)',
                    s.tbl, quote_literal(s.step), SQLERRM, coalesce(given, 'no expression')
        USING ERRCODE = 'AD112',
              HINT = 'Each expression is SQL over one row of the table: name its columns bare or as table.column; write other tables and functions with their schema (search_path is pg_catalog); condition and previous are boolean; a sum or max value is an integer (smallint, integer, bigint).';
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.track(tbl regclass, step text, column_name text, mode text, user_column text, condition text, previous text, value text, depends_on regclass, depends_on_user_column text, backfill boolean, caller name)
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
    IF mode IS NULL OR mode NOT IN ('count', 'toggle', 'boolean', 'toggle_boolean', 'distinct', 'sum', 'max') THEN
        RAISE EXCEPTION '%: unknown mode %', context, coalesce(quote_literal(mode), 'NULL')
            USING ERRCODE = 'AD107',
                  HINT = 'mode is one of count (default), boolean (counters), toggle, toggle_boolean, sum (gauges), distinct, max.';
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
                  depends_on_user_column)::achievements.tracked_steps;

    PERFORM pg_advisory_xact_lock(1633838661, hashtext(tbl::oid::text));
    PERFORM achievements_private.forget_dropped_tables();

    SELECT * INTO existing FROM achievements.tracked_steps AS t WHERE t.tbl = track.tbl AND t.step = track.step;
    IF FOUND AND (existing.column_name, existing.mode, existing.user_column, existing.condition, existing.previous,
                  existing.value, existing.depends_on, existing.depends_on_user_column)
                 IS DISTINCT FROM (wanted.column_name, wanted.mode, wanted.user_column, wanted.condition, wanted.previous,
                                   wanted.value, wanted.depends_on, wanted.depends_on_user_column) THEN
        RAISE EXCEPTION 'achievements.track(): table % already tracks step % (column %, mode %, user column %)',
                        tbl, quote_literal(step), coalesce(quote_ident(existing.column_name), 'none'), existing.mode,
                        coalesce(quote_ident(existing.user_column), 'none')
                        || concat(', condition ' || quote_literal(existing.condition), ', previous ' || quote_literal(existing.previous),
                                  ', value ' || quote_literal(existing.value), ', depends on ' || existing.depends_on::text)
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

    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    IF depends_on IS NOT NULL THEN
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', depends_on);
    END IF;
    IF existing.tbl IS NULL THEN
        INSERT INTO achievements.tracked_steps
               (tbl, step, column_name, mode, user_column, condition, previous, value, depends_on, depends_on_user_column)
        VALUES (tbl, step, column_name, mode, user_column, condition, previous, value, depends_on, depends_on_user_column);
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

CREATE OR REPLACE FUNCTION achievements.tracked()
 RETURNS TABLE(tbl regclass, step text, column_name text, mode text, user_column text, condition text, previous text, value text, depends_on regclass, depends_on_user_column text, created_at timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT t.tbl, t.step, t.column_name, t.mode, t.user_column, t.condition, t.previous, t.value,
           t.depends_on, t.depends_on_user_column, t.created_at
      FROM achievements.tracked_steps AS t
     WHERE EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
     ORDER BY t.tbl::text, t.step;
$function$;
COMMENT ON FUNCTION achievements.tracked() IS
    'Lists what achievements.track() wired: table, step, column, mode, user column, condition, previous, value, depends_on, when.';

CREATE OR REPLACE FUNCTION achievements_private.apply_catalog(catalog jsonb, dry_run boolean, caller name)
 RETURNS TABLE(object text, name text, action text, detail text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    badge_fields constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until'];
    defaults constant jsonb := '{"description": null, "icon": null, "category": null, "points": 0,
        "rarity": "common", "hidden": false, "step": null, "threshold": null, "level": null,
        "client_grantable": false, "revocable": false, "active_from": null, "active_until": null}'::jsonb;
    problems text[];
    item     record;
    req      record;
    old_row  jsonb;
    new_row  jsonb;
    desired  achievements.badges;
    changes  text[];
    have     achievements.tracked_steps;
    want     achievements.tracked_steps;
    backfill boolean;
    warning  text;
BEGIN
    IF dry_run IS NULL THEN
        RAISE EXCEPTION 'apply_catalog: dry_run must be true or false, not NULL'
            USING ERRCODE = 'AD207', HINT = 'Pass dry_run => true to see the changes, false to make them.';
    END IF;
    PERFORM pg_advisory_xact_lock(1633838660, 2);
    problems := ARRAY(SELECT achievements_private.catalog_problems(catalog));
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'the catalog has % error(s); nothing was changed', cardinality(problems)
            USING ERRCODE = 'AD207', DETAIL = array_to_string(problems, E'\n'),
                  HINT = 'Fix each line of the detail and apply again.';
    END IF;

    BEGIN
        -- Levels and their requirements.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) ORDER BY key LOOP
            SELECT to_jsonb(l) INTO old_row FROM achievements.levels AS l WHERE l.name = item.key;
            IF old_row IS NULL THEN
                INSERT INTO achievements.levels (name, description) VALUES (item.key, item.value ->> 'description');
                object := 'level'; name := item.key; action := 'create'; detail := '';
                RETURN NEXT;
            ELSIF old_row -> 'description' IS DISTINCT FROM coalesce(item.value -> 'description', 'null') THEN
                UPDATE achievements.levels AS l SET description = item.value ->> 'description' WHERE l.name = item.key;
                object := 'level'; name := item.key; action := 'update';
                detail := format('description: %s -> %s', old_row -> 'description', coalesce(item.value -> 'description', 'null'));
                RETURN NEXT;
            END IF;
            FOR req IN
                WITH wanted AS (
                    SELECT e.key AS step, (e.value #>> '{}')::int AS required_count, 100 AS priority
                      FROM jsonb_each(CASE WHEN jsonb_typeof(item.value -> 'requirements') = 'object'
                                           THEN item.value -> 'requirements' ELSE '{}' END) AS e
                    UNION ALL
                    SELECT e ->> 'step', coalesce((e ->> 'count')::int, 1), coalesce((e ->> 'priority')::int, 100)
                      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(item.value -> 'requirements') = 'array'
                                                     THEN item.value -> 'requirements' ELSE '[]' END) AS e
                )
                SELECT coalesce(w.step, r.name) AS step, w.required_count AS want_count, w.priority AS want_priority,
                       r.id, r.required_count AS have_count, r.priority AS have_priority
                  FROM wanted AS w
                  FULL JOIN (SELECT * FROM achievements.level_requirements AS x WHERE x.level = item.key) AS r
                         ON r.name = w.step
                 WHERE item.value ? 'requirements'  -- absent: the level's requirements stay as they are
                 ORDER BY 1
            LOOP
                object := 'requirement'; name := item.key || '/' || req.step;
                IF req.id IS NULL THEN
                    INSERT INTO achievements.level_requirements (level, name, required_count, priority)
                    VALUES (item.key, req.step, req.want_count, req.want_priority);
                    action := 'create'; detail := format('required_count %s, priority %s', req.want_count, req.want_priority);
                    RETURN NEXT;
                ELSIF req.want_count IS NULL THEN
                    DELETE FROM achievements.level_requirements AS x WHERE x.id = req.id;
                    action := 'delete'; detail := format('required_count %s', req.have_count);
                    RETURN NEXT;
                ELSIF (req.want_count, req.want_priority) IS DISTINCT FROM (req.have_count, req.have_priority) THEN
                    UPDATE achievements.level_requirements AS x
                       SET required_count = req.want_count, priority = req.want_priority
                     WHERE x.id = req.id;
                    action := 'update';
                    detail := concat_ws('; ',
                        CASE WHEN req.want_count <> req.have_count THEN format('required_count: %s -> %s', req.have_count, req.want_count) END,
                        CASE WHEN req.want_priority <> req.have_priority THEN format('priority: %s -> %s', req.have_priority, req.want_priority) END);
                    RETURN NEXT;
                END IF;
            END LOOP;
        END LOOP;

        -- Badges, each in its own subtransaction so that every definition error is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) ORDER BY key LOOP
            BEGIN
                SELECT to_jsonb(b) - 'created_at' INTO old_row FROM achievements.badges AS b WHERE b.code = item.key;
                desired := jsonb_populate_record(NULL::achievements.badges,
                                                 defaults || item.value || jsonb_build_object('code', item.key));
                new_row := to_jsonb(desired) - 'created_at';
                IF old_row IS NULL THEN
                    INSERT INTO achievements.badges (code, name, description, icon, category, points, rarity, hidden,
                                                     step, threshold, level, client_grantable, revocable,
                                                     active_from, active_until)
                    VALUES (desired.code, desired.name, desired.description, desired.icon, desired.category,
                            desired.points, desired.rarity, desired.hidden, desired.step, desired.threshold,
                            desired.level, desired.client_grantable, desired.revocable,
                            desired.active_from, desired.active_until);
                    object := 'badge'; name := item.key; action := 'create';
                    detail := concat_ws(', ', CASE WHEN desired.step IS NOT NULL THEN format('step %s >= %s', desired.step, desired.threshold) END,
                                              CASE WHEN desired.level IS NOT NULL THEN format('level %s', desired.level) END,
                                              format('%s points', desired.points));
                    RETURN NEXT;
                ELSIF old_row IS DISTINCT FROM new_row THEN
                    changes := ARRAY(SELECT format('%s: %s -> %s', f2, old_row -> f2, new_row -> f2)
                                       FROM unnest(badge_fields) AS f2
                                      WHERE old_row -> f2 IS DISTINCT FROM new_row -> f2);
                    UPDATE achievements.badges AS b
                       SET name = desired.name, description = desired.description, icon = desired.icon,
                           category = desired.category, points = desired.points, rarity = desired.rarity,
                           hidden = desired.hidden, step = desired.step, threshold = desired.threshold,
                           level = desired.level, client_grantable = desired.client_grantable,
                           revocable = desired.revocable, active_from = desired.active_from,
                           active_until = desired.active_until
                     WHERE b.code = item.key;
                    object := 'badge'; name := item.key; action := 'update'; detail := array_to_string(changes, '; ');
                    RETURN NEXT;
                END IF;
            EXCEPTION WHEN SQLSTATE 'AD202' OR check_violation OR foreign_key_violation
                           OR invalid_text_representation OR datetime_field_overflow THEN
                problems := problems || format('badges.%s: %s', item.key, SQLERRM);
            END;
        END LOOP;

        -- Steps, last, each in its own subtransaction so that every error of track() is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'steps', '{}')) ORDER BY key LOOP
            BEGIN
                want := ROW((item.value ->> 'table')::regclass, item.key, item.value ->> 'column',
                            coalesce(item.value ->> 'mode', 'count'), item.value ->> 'user_column', now(),
                            item.value ->> 'condition', item.value ->> 'previous', item.value ->> 'value',
                            (item.value ->> 'depends_on')::regclass,
                            coalesce(item.value ->> 'depends_on_user_column',
                                     CASE WHEN item.value ? 'depends_on' THEN item.value ->> 'user_column' END)
                            )::achievements.tracked_steps;
                backfill := coalesce((item.value -> 'backfill')::boolean, true);
                SELECT * INTO have FROM achievements.tracked_steps AS t WHERE t.tbl = want.tbl AND t.step = want.step;
                changes := ARRAY(SELECT format('%s: %s -> %s', f.k, f.o, f.n)
                                   FROM (VALUES ('column', have.column_name, want.column_name),
                                                ('mode', have.mode, want.mode),
                                                ('user_column', have.user_column, want.user_column),
                                                ('condition', have.condition, want.condition),
                                                ('previous', have.previous, want.previous),
                                                ('value', have.value, want.value),
                                                ('depends_on', have.depends_on::text, want.depends_on::text),
                                                ('depends_on_user_column', have.depends_on_user_column, want.depends_on_user_column))
                                        AS f(k, o, n)
                                  WHERE have.tbl IS NOT NULL AND f.o IS DISTINCT FROM f.n);
                object := 'step'; name := item.key;
                IF have.tbl IS NULL THEN
                    PERFORM achievements_private.track(want.tbl, want.step, want.column_name, want.mode, want.user_column,
                                                       want.condition, want.previous, want.value, want.depends_on,
                                                       want.depends_on_user_column, backfill, caller);
                    action := 'create';
                    detail := concat_ws(', ', format('table %s', want.tbl), format('mode %s', want.mode),
                                        'column ' || want.column_name, 'condition ' || want.condition,
                                        'previous ' || want.previous, 'value ' || want.value,
                                        'depends on ' || want.depends_on::text);
                    RETURN NEXT;
                ELSIF cardinality(changes) > 0 THEN
                    -- Tracked again: a counter keeps its tally and counts from now on (its rows
                    -- were counted already); a gauge is recounted.
                    PERFORM achievements_private.untrack(want.tbl, want.step, caller);
                    PERFORM achievements_private.track(want.tbl, want.step, want.column_name, want.mode, want.user_column,
                                                       want.condition, want.previous, want.value, want.depends_on,
                                                       want.depends_on_user_column,
                                                       achievements_private.step_kind(want.mode, want.depends_on) <> 'counter',
                                                       caller);
                    action := 'update'; detail := array_to_string(changes, '; ');
                    RETURN NEXT;
                END IF;
            EXCEPTION WHEN SQLSTATE 'AD102' OR SQLSTATE 'AD103' OR SQLSTATE 'AD104' OR SQLSTATE 'AD107'
                           OR SQLSTATE 'AD108' OR SQLSTATE 'AD109' OR SQLSTATE 'AD112' OR insufficient_privilege THEN
                problems := problems || format('steps.%s: %s', item.key, SQLERRM);
            END;
        END LOOP;

        IF cardinality(problems) > 0 THEN
            RAISE EXCEPTION 'the catalog has % error(s); nothing was changed', cardinality(problems)
                USING ERRCODE = 'AD207', DETAIL = array_to_string(problems, E'\n'),
                      HINT = 'Fix each line of the detail and apply again.';
        END IF;
        IF dry_run THEN
            -- The steps the document names that nothing counts: a misspelt step never awards.
            FOR warning IN
                SELECT DISTINCT x.step
                  FROM (SELECT e.key AS step
                          FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) AS l,
                               jsonb_each(CASE WHEN jsonb_typeof(l.value -> 'requirements') = 'object'
                                               THEN l.value -> 'requirements' ELSE '{}' END) AS e
                        UNION ALL
                        SELECT e ->> 'step'
                          FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) AS l,
                               jsonb_array_elements(CASE WHEN jsonb_typeof(l.value -> 'requirements') = 'array'
                                                         THEN l.value -> 'requirements' ELSE '[]' END) AS e
                        UNION ALL
                        SELECT b.value ->> 'step' FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) AS b) AS x
                 WHERE x.step IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM achievements.tracked_steps AS t WHERE t.step = x.step)
                   AND NOT EXISTS (SELECT 1 FROM achievements.user_achievements AS a WHERE a.name = x.step)
                 ORDER BY 1
            LOOP
                object := 'step'; name := warning; action := 'warning';
                detail := 'nothing tracks or records this step: check its spelling, track it ([steps]), or record it with record_step()';
                RETURN NEXT;
            END LOOP;
            RAISE EXCEPTION 'dry run' USING ERRCODE = 'AD299';
        END IF;
    EXCEPTION WHEN SQLSTATE 'AD299' THEN
        NULL;  -- dry run: every change above is rolled back; the rows returned stay.
    END;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.step_kind(mode text, depends_on regclass)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN CASE WHEN (mode = ANY (ARRAY['count'::text, 'boolean'::text])) THEN 'counter'::text WHEN ((mode = ANY (ARRAY['distinct'::text, 'max'::text])) OR (depends_on IS NOT NULL)) THEN 'recount'::text ELSE 'gauge'::text END;

CREATE OR REPLACE FUNCTION achievements.track(tbl regclass, step text, column_name text DEFAULT NULL::text, mode text DEFAULT 'count'::text, user_column text DEFAULT NULL::text, condition text DEFAULT NULL::text, previous text DEFAULT NULL::text, value text DEFAULT NULL::text, depends_on regclass DEFAULT NULL::regclass, depends_on_user_column text DEFAULT NULL::text, backfill boolean DEFAULT true)
 RETURNS boolean
 LANGUAGE sql
RETURN achievements_private.track(tbl, step, column_name, mode, user_column, condition, previous, value, depends_on, depends_on_user_column, backfill, CURRENT_USER);
COMMENT ON FUNCTION achievements.track(regclass,text,text,text,text,text,text,text,regclass,text,boolean) IS
    'Counts step from a table''s rows: modes count, boolean (events), toggle, toggle_boolean, sum, distinct, max (the state of the rows), with a condition, a previous condition, a value expression, depends_on. Idempotent; adopts existing rows silently. Only the table''s owner may call it.';

DROP FUNCTION achievements.streaks(achievements.user_ref);
DROP FUNCTION achievements.grant_streak_freezes(achievements.user_ref,text,integer);
DROP FUNCTION achievements.set_time_zone(text,achievements.user_ref);
DROP FUNCTION achievements.define_streak(text,text,text);
DROP FUNCTION achievements_private.follows_period(date,date,text,text);
DROP FUNCTION achievements_private.missed_periods(date,date,text,text,integer);
DROP FUNCTION achievements_private.day_exists(date,text);
DROP FUNCTION achievements_private.period_of(timestamp with time zone,text,text,integer);
DROP FUNCTION achievements_private.activity_zone(text,achievements.user_ref,timestamp with time zone,bigint,text);
DROP FUNCTION achievements.track(regclass,text,text,text,text,text,text,text,regclass,text,boolean,text,text,text,text);
DROP FUNCTION achievements_private.activity_function_name(oid);
DROP FUNCTION achievements_private.tracked_moment_sql(achievements.tracked_steps);
DROP FUNCTION achievements_tracking.streaks(regclass,achievements.user_ref[],text[],achievements.user_ref[],text[],timestamp with time zone[],text[],integer[],boolean);
DROP FUNCTION achievements.streak_leaderboard(text,text,integer);
DROP FUNCTION achievements_private.streaks(achievements.user_ref);
DROP FUNCTION achievements_private.streak_now(achievements.user_ref,text,integer,integer,date,integer);
DROP FUNCTION achievements_private.grant_streak_freezes(achievements.user_ref,text,integer);
DROP FUNCTION achievements_private.set_time_zone(achievements.user_ref,text);
DROP FUNCTION achievements_private.define_streak(text,text,text);
DROP FUNCTION achievements_private.week_start_day(text,text);
DROP FUNCTION achievements_private.require_streak_step(text,text);
DROP FUNCTION achievements_private.record_streak(achievements.user_ref,text);
DROP FUNCTION achievements_private.refresh_streaks(achievements.user_ref[],text[]);
DROP FUNCTION achievements_private.host_streak_activity(achievements.user_ref[],text[]);
DROP FUNCTION achievements_private.change_streaks(achievements.user_ref[],text[],achievements.user_ref[],text[],timestamp with time zone[],text[],integer[],boolean);
DROP FUNCTION achievements_private.store_streaks(achievements.user_ref[],text[],achievements.user_ref[],text[],timestamp with time zone[],text[]);
DROP FUNCTION achievements_private.streak_periods(achievements.user_ref[],text[],achievements.user_ref[],text[],timestamp with time zone[],text[],boolean);
DROP FUNCTION achievements_private.user_zones(achievements.user_ref[]);
DROP FUNCTION achievements_private.user_time_zone(achievements.user_ref,timestamp with time zone);
DROP FUNCTION achievements_private.check_time_zone(text,text);
DROP FUNCTION achievements_private.track(regclass,text,text,text,text,text,text,text,regclass,text,boolean,text,text,text,text,name);
DROP FUNCTION achievements_private.drop_counting_function(oid,boolean,boolean);
DROP FUNCTION achievements_private.create_activity_function(regclass);
DROP FUNCTION achievements_private.tracked_activity_change_sql(achievements.tracked_steps,text,text,text);
DROP FUNCTION achievements_private.tracked_activity_sql(achievements.tracked_steps,text,text,text);
DROP FUNCTION achievements_private.tracked_users_filter_sql(achievements.tracked_steps,text,text,text);
DROP FUNCTION achievements_private.tracking_streaks(name,regclass,achievements.user_ref[],text[],achievements.user_ref[],text[],timestamp with time zone[],text[],integer[],boolean);
DROP FUNCTION achievements_private.lock_tallies(achievements.user_ref[],text[]);

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA achievements_private FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    achievements_private.parse_user_ref(text),
    achievements_private.claims_sub(text),
    achievements_private.readable_user(achievements.user_ref),
    achievements_private.steps_required(text, achievements.user_ref),
    achievements_private.badge_progress(achievements.user_ref),
    achievements_private.user_badges_page(achievements.user_ref, text, int),
    achievements_private.user_points(achievements.user_ref),
    achievements_private.user_rank(achievements.user_ref, timestamptz),
    achievements_private.has_badge(achievements.user_ref, text, boolean),
    achievements_private.badge_holder_counts(),
    achievements_private.known_user_total(),
    achievements_private.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, name),
    achievements_private.untrack(regclass, text, name),
    achievements_private.tracking_add(name, regclass, achievements.user_ref[], text[], int[]),
    achievements_private.tracking_lock(name, regclass, achievements.user_ref[], text[]),
    achievements_private.tracking_lock_steps(name, regclass, text[]),
    achievements_private.qualify_catalog_tables(jsonb),
    achievements_private.apply_catalog(jsonb, boolean, name)
TO PUBLIC;
REVOKE EXECUTE ON FUNCTION achievements.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean),
                           achievements.tracked() FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean), achievements.tracked()');

-- The tables already tracked get their counting functions generated again (as 0004 generated
-- them): wire_table replaces them.
DO $rewire$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT DISTINCT x.tbl FROM achievements.tracked_steps AS x
              WHERE EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = x.tbl) ORDER BY 1 LOOP
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', t);
        PERFORM achievements_private.wire_table(t);
    END LOOP;
END
$rewire$;

DROP TABLE achievements_private.streak_states, achievements_private.streak_freezes, achievements_private.streak_calls,
           achievements.streak_steps, achievements.user_time_zones;
ALTER TABLE achievements.tracked_steps DROP CONSTRAINT tracked_steps_mode_check;
ALTER TABLE achievements.tracked_steps ADD CONSTRAINT tracked_steps_mode_check
    CHECK (mode IN ('count', 'toggle', 'boolean', 'toggle_boolean', 'distinct', 'sum', 'max'));
ALTER TABLE achievements.tracked_steps DROP COLUMN at, DROP COLUMN time_zone;

DELETE FROM achievements_private.applied_migrations WHERE id = '0005_streaks';
