-- 0007_all_time_leaderboards: step leaderboards over all time (seed 001's "score leaderboard":
-- users by their quiz answers correct, ever).
--   * achievements.step_leaderboards takes period 'all' (the CHECK constraint, the catalog's
--     [leaderboards] periods and apply_catalog's order of periods); step_leaderboard(step, 'all')
--     reads the top of all time (at is ignored) and raises AD210, with a hint, for a period it
--     does not know.
--   * achievements_private.period_start(period, at, zone): the one rule for the start of a
--     period, used by count_in_periods, fill_step_periods and step_leaderboard; all time starts
--     at '-infinity', so an 'all' leaderboard is one counter per user, the top of the index the
--     other periods use.
-- No data changes: the existing leaderboards (day, week, month) keep their counters, whose
-- starts are what period_start gives them. The constraint replaced is checked at once on the
-- small table of declared leaderboards.
-- squawk-ignore-file ban-drop-constraint, constraint-missing-not-valid
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';
-- Functions are written in creation order, not in the order they call each other.
SET LOCAL check_function_bodies = off;

ALTER TABLE achievements.step_leaderboards
    DROP CONSTRAINT step_leaderboards_period_known,
    ADD CONSTRAINT step_leaderboards_period_known CHECK (period IN ('day', 'week', 'month', 'all'));
COMMENT ON TABLE achievements.step_leaderboards IS
    'Steps counted per calendar period (day, week, month, starting in time_zone) or over all time (all) for achievements.step_leaderboard(). Declare them with apply_catalog ([leaderboards]).';
COMMENT ON TABLE achievements_private.step_period_counts IS
    'Steps per user and period (calendar period, or all time) of each declared leaderboard (step_leaderboards): the sum of the log rows created in the period.';

CREATE FUNCTION achievements_private.period_start(period text, at timestamptz, zone text)
RETURNS timestamp
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN period OPERATOR(pg_catalog.=) 'all' THEN '-infinity'::pg_catalog.timestamp
            ELSE pg_catalog.date_trunc(period, pg_catalog.timezone(zone, at)) END;
REVOKE EXECUTE ON FUNCTION achievements_private.period_start(text, timestamptz, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION achievements_private.count_in_periods(user_ids achievements.user_ref[], names text[], counts integer[], created timestamp with time zone[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    INSERT INTO achievements_private.step_period_counts AS c (step, period, starts, user_id, count)
    SELECT l.step, l.period, achievements_private.period_start(l.period, x.at, l.time_zone), x.user_id, sum(x.count)
      FROM unnest(user_ids, names, counts, created) AS x(user_id, name, count, at)
      JOIN achievements.step_leaderboards AS l ON l.step = x.name
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (step, period, starts, user_id) DO UPDATE SET count = c.count + excluded.count;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.fill_step_periods()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.step, NEW.period, NEW.time_zone) IS NOT DISTINCT FROM (OLD.step, OLD.period, OLD.time_zone) THEN
        RETURN NULL;
    END IF;
    BEGIN
        PERFORM now() AT TIME ZONE NEW.time_zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'leaderboard of step % by %: unknown time zone %', quote_literal(NEW.step), NEW.period,
                        quote_literal(NEW.time_zone)
            USING ERRCODE = 'AD210', HINT = 'Use a name of pg_timezone_names, e.g. ''UTC'' or ''Europe/Berlin''.';
    END;
    IF achievements_private.snapshot_per_transaction() THEN
        RAISE EXCEPTION 'leaderboard of step % by %: declare leaderboards in a READ COMMITTED transaction',
                        quote_literal(NEW.step), NEW.period
            USING ERRCODE = 'AD210',
                  HINT = 'Its counters are filled from the log after a lock on it; an older snapshot would miss steps.';
    END IF;
    LOCK TABLE achievements.user_steps IN SHARE MODE;
    DELETE FROM achievements_private.step_period_counts AS c WHERE c.step = NEW.step AND c.period = NEW.period;
    INSERT INTO achievements_private.step_period_counts (step, period, starts, user_id, count)
    SELECT NEW.step, NEW.period, achievements_private.period_start(NEW.period, s.created_at, NEW.time_zone),
           s.user_id, sum(s.count)
      FROM achievements.user_steps AS s
     WHERE s.name = NEW.step
     GROUP BY 3, 4
     ORDER BY 3, 4;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.step_leaderboard(step text, period text DEFAULT 'week'::text, lim integer DEFAULT 10, at timestamp with time zone DEFAULT now())
 RETURNS TABLE(rank bigint, user_id achievements.user_ref, count bigint)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    n     int := achievements_private.check_page_limit(lim);
    board achievements.step_leaderboards;
BEGIN
    IF step_leaderboard.period IS NULL OR step_leaderboard.period <> ALL (ARRAY['day', 'week', 'month', 'all']) THEN
        RAISE EXCEPTION 'unknown leaderboard period %', coalesce(quote_literal(step_leaderboard.period), 'NULL')
            USING ERRCODE = 'AD210', HINT = 'A period is ''day'', ''week'', ''month'' or ''all'' (all time).';
    END IF;
    SELECT * INTO board FROM achievements.step_leaderboards AS l
     WHERE l.step = step_leaderboard.step AND l.period = step_leaderboard.period;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'step % has no leaderboard by %', coalesce(quote_literal(step), 'NULL'), coalesce(period, 'NULL')
            USING ERRCODE = 'AD210',
                  HINT = 'Declare it in the catalog, e.g. [leaderboards.song] periods = ["week", "all"]; SELECT * FROM achievements.step_leaderboards lists them.';
    END IF;
    RETURN QUERY
        SELECT rank() OVER (ORDER BY top.count DESC), top.user_id, top.count
          FROM (SELECT c.user_id, c.count
                  FROM achievements_private.step_period_counts AS c
                 WHERE c.step = board.step AND c.period = board.period
                   AND c.starts = achievements_private.period_start(board.period, coalesce(at, now()), board.time_zone)
                   AND c.count > 0
                 ORDER BY c.count DESC, c.user_id
                 LIMIT n) AS top
         ORDER BY top.count DESC, top.user_id;
END
$function$;
COMMENT ON FUNCTION achievements.step_leaderboard(text,text,integer,timestamp with time zone) IS
    'Top lim users of a step in the day, week or month containing at (default now), or of all time (period all, at ignored), by steps logged in it; ties share a rank. Needs a declared leaderboard (step_leaderboards).';

CREATE OR REPLACE FUNCTION achievements_private.catalog_problems(catalog jsonb)
 RETURNS SETOF text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    badge_keys constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until',
        'min_badges', 'all_badges', 'badge_category', 'min_points', 'link', 'notification_title',
        'notification_body'];
    level_keys constant text[] := ARRAY['description', 'requirements', 'min_points', 'link', 'notification_title',
        'notification_body'];
    sections constant text[] := ARRAY['levels', 'badges', 'steps', 'rarity_points', 'notifications', 'leaderboards'];
    step_keys constant text[] := ARRAY['table', 'user_column', 'mode', 'column', 'condition', 'previous',
        'value', 'depends_on', 'depends_on_user_column', 'backfill', 'at', 'period', 'week_start', 'time_zone'];
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
    FOR k IN SELECT x FROM (SELECT jsonb_object_keys(catalog) EXCEPT SELECT unnest(sections)) AS u(x) ORDER BY 1 LOOP
        RETURN NEXT format('%s: unknown section (expected levels, badges, steps, rarity_points, notifications or leaderboards)', k);
    END LOOP;
    FOREACH k IN ARRAY sections LOOP
        IF catalog ? k AND jsonb_typeof(catalog -> k) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of %s by name', k, k);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'rarity_points') = 'object'
                                              THEN catalog -> 'rarity_points' ELSE '{}' END) ORDER BY key LOOP
        IF achievements_private.rarity_rank(item.key) IS NULL THEN
            RETURN NEXT format('rarity_points.%s: unknown rarity (expected common, uncommon, rare, epic or legendary)', item.key);
        ELSIF jsonb_typeof(item.value) <> 'number' OR item.value::text !~ '^[0-9]+$' OR item.value::numeric > 2147483647 THEN
            RETURN NEXT format('rarity_points.%s: expected a whole number of 0 or more, got %s', item.key, item.value);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'notifications') = 'object'
                                              THEN catalog -> 'notifications' ELSE '{}' END) ORDER BY key LOOP
        path := 'notifications.' || item.key;
        IF item.key NOT IN ('badge', 'level', 'badge_revoked') THEN
            RETURN NEXT format('%s: unknown kind (expected badge, level or badge_revoked)', path);
        ELSIF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (title, body, link)', path);
        ELSE
            FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(ARRAY['title', 'body', 'link'])) AS u(x) ORDER BY 1 LOOP
                RETURN NEXT format('%s.%s: unknown key (expected title, body, link)', path, k);
            END LOOP;
            FOR field IN SELECT * FROM jsonb_each(item.value) WHERE key IN ('title', 'body', 'link') ORDER BY key LOOP
                IF jsonb_typeof(field.value) <> 'string' OR (field.key = 'title' AND field.value #>> '{}' = '') THEN
                    RETURN NEXT format('%s.%s: expected a%s string, got %s', path, field.key,
                                       CASE WHEN field.key = 'title' THEN ' non-empty' ELSE '' END, field.value);
                ELSE
                    want := achievements_private.template_problem(field.key, field.value #>> '{}', item.key);
                    IF want IS NOT NULL THEN
                        RETURN NEXT format('%s.%s (templates of %s may use %s)', path, want, item.key,
                                           achievements_private.template_placeholders(item.key));
                    END IF;
                END IF;
            END LOOP;
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'leaderboards') = 'object'
                                              THEN catalog -> 'leaderboards' ELSE '{}' END) ORDER BY key LOOP
        path := 'leaderboards.' || item.key;
        IF char_length(item.key) NOT BETWEEN 1 AND 200 THEN
            RETURN NEXT 'leaderboards: a step name must be 1 to 200 characters';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (periods, time_zone)', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(ARRAY['periods', 'time_zone'])) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected periods, time_zone)', path, k);
        END LOOP;
        v := item.value -> 'periods';
        IF jsonb_typeof(v) IS DISTINCT FROM 'array' OR jsonb_array_length(v) = 0
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) AS e WHERE e NOT IN ('"day"', '"week"', '"month"', '"all"'))
           OR (SELECT count(DISTINCT e) <> count(*) FROM jsonb_array_elements(v) AS e) THEN
            RETURN NEXT format('%s.periods: expected a list of distinct periods among "day", "week", "month", "all", got %s',
                               path, coalesce(v::text, 'nothing'));
        END IF;
        IF item.value ? 'time_zone' THEN
            IF jsonb_typeof(item.value -> 'time_zone') <> 'string' THEN
                RETURN NEXT format('%s.time_zone: expected a string, got %s', path, item.value -> 'time_zone');
            ELSE
                BEGIN
                    PERFORM now() AT TIME ZONE (item.value ->> 'time_zone');
                EXCEPTION WHEN invalid_parameter_value THEN
                    RETURN NEXT format('%s.time_zone: unknown time zone %s', path, item.value -> 'time_zone');
                END;
            END IF;
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'levels') = 'object'
                                              THEN catalog -> 'levels' ELSE '{}' END) ORDER BY key LOOP
        path := 'levels.' || item.key;
        IF item.key = '' THEN
            RETURN NEXT 'levels: a level name must not be empty';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (%s)', path, array_to_string(level_keys, ', '));
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(level_keys)) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected %s)', path, k, array_to_string(level_keys, ', '));
        END LOOP;
        FOREACH k IN ARRAY ARRAY['description', 'link', 'notification_title', 'notification_body'] LOOP
            IF jsonb_typeof(item.value -> k) NOT IN ('string', 'null') THEN
                RETURN NEXT format('%s.%s: expected a string', path, k);
            END IF;
        END LOOP;
        IF item.value ? 'min_points' AND (jsonb_typeof(item.value -> 'min_points') <> 'number'
           OR (item.value -> 'min_points')::text !~ '^-?[0-9]+$' OR abs((item.value ->> 'min_points')::numeric) > 2147483647) THEN
            RETURN NEXT format('%s.min_points: expected a whole number, got %s', path, item.value -> 'min_points');
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
            want := CASE WHEN field.key IN ('points', 'threshold', 'min_badges', 'min_points') THEN 'integer'
                         WHEN field.key IN ('hidden', 'client_grantable', 'revocable', 'all_badges') THEN 'boolean'
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
        IF NOT item.value ? 'table' AND item.value ->> 'mode' IS DISTINCT FROM 'streak' THEN
            RETURN NEXT format('%s.table: missing (the table the step is counted from)', path);
        END IF;
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.apply_catalog(catalog jsonb, dry_run boolean, caller name)
 RETURNS TABLE(object text, name text, action text, detail text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    badge_fields constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until',
        'min_badges', 'all_badges', 'badge_category', 'min_points', 'points_by_rarity', 'link', 'notification_title',
        'notification_body'];
    level_fields constant text[] := ARRAY['description', 'min_points', 'link', 'notification_title', 'notification_body'];
    defaults constant jsonb := '{"description": null, "icon": null, "category": null, "points": null,
        "rarity": "common", "hidden": false, "step": null, "threshold": null, "level": null,
        "client_grantable": false, "revocable": false, "active_from": null, "active_until": null,
        "min_badges": null, "all_badges": false, "badge_category": null, "min_points": null, "link": null,
        "notification_title": null, "notification_body": null}'::jsonb;
    problems text[];
    wanted   jsonb;
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
        -- Leaderboards first: declaring one locks the step log (rank 1 of docs/locks.md), before
        -- the users' locks that a change of rarities, levels or badges takes.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'leaderboards', '{}')) ORDER BY key LOOP
            BEGIN
                FOR req IN
                    SELECT coalesce(w.period, l.period) AS period, w.period IS NOT NULL AS want, l.period IS NOT NULL AS have,
                           l.time_zone AS have_zone, coalesce(item.value ->> 'time_zone', 'UTC') AS want_zone
                      FROM (SELECT e #>> '{}' AS period FROM jsonb_array_elements(item.value -> 'periods') AS e) AS w
                      FULL JOIN (SELECT * FROM achievements.step_leaderboards AS x WHERE x.step = item.key) AS l
                             ON l.period = w.period
                     ORDER BY array_position(ARRAY['day', 'week', 'month', 'all'], coalesce(w.period, l.period))
                LOOP
                    object := 'leaderboard'; name := item.key || '/' || req.period;
                    IF req.want AND NOT req.have THEN
                        INSERT INTO achievements.step_leaderboards (step, period, time_zone)
                        VALUES (item.key, req.period, req.want_zone);
                        action := 'create'; detail := 'time zone ' || req.want_zone;
                        RETURN NEXT;
                    ELSIF req.have AND NOT req.want THEN
                        DELETE FROM achievements.step_leaderboards AS x WHERE x.step = item.key AND x.period = req.period;
                        action := 'delete'; detail := 'time zone ' || req.have_zone;
                        RETURN NEXT;
                    ELSIF req.have_zone IS DISTINCT FROM req.want_zone THEN
                        UPDATE achievements.step_leaderboards AS x SET time_zone = req.want_zone
                         WHERE x.step = item.key AND x.period = req.period;
                        action := 'update'; detail := format('time_zone: %s -> %s', req.have_zone, req.want_zone);
                        RETURN NEXT;
                    END IF;
                END LOOP;
            EXCEPTION WHEN SQLSTATE 'AD210' THEN
                problems := problems || format('leaderboards.%s: %s', item.key, SQLERRM);
            END;
        END LOOP;

        -- Points by rarity (a change moves the badges that follow it, and their holders' scores).
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'rarity_points', '{}'))
                     ORDER BY achievements_private.rarity_rank(key) LOOP
            old_row := coalesce((SELECT to_jsonb(r.points) FROM achievements.rarity_points AS r WHERE r.rarity = item.key),
                                '0');
            IF old_row IS DISTINCT FROM item.value THEN
                INSERT INTO achievements.rarity_points AS r (rarity, points) VALUES (item.key, (item.value #>> '{}')::int)
                ON CONFLICT (rarity) DO UPDATE SET points = excluded.points;
                object := 'rarity'; name := item.key; action := 'update';
                detail := format('points: %s -> %s', old_row, item.value);
                RETURN NEXT;
            END IF;
        END LOOP;

        -- Notification templates.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'notifications', '{}')) ORDER BY key LOOP
            SELECT to_jsonb(t) INTO old_row FROM achievements_private.template_of(item.key) AS t;
            new_row := achievements_private.template_defaults(item.key) || item.value;
            IF old_row IS DISTINCT FROM new_row THEN
                INSERT INTO achievements.notification_templates AS t (kind, title, body, link)
                VALUES (item.key, new_row ->> 'title', new_row ->> 'body', new_row ->> 'link')
                ON CONFLICT (kind) DO UPDATE SET title = excluded.title, body = excluded.body, link = excluded.link;
                object := 'notification'; name := item.key; action := 'update';
                detail := array_to_string(ARRAY(SELECT format('%s: %s -> %s', f, old_row -> f, new_row -> f)
                                                  FROM unnest(ARRAY['title', 'body', 'link']) AS f
                                                 WHERE old_row -> f IS DISTINCT FROM new_row -> f), '; ');
                RETURN NEXT;
            END IF;
        END LOOP;

        -- Levels and their requirements, each in its own subtransaction so that every definition
        -- error is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) ORDER BY key LOOP
          BEGIN
            SELECT to_jsonb(l) INTO old_row FROM achievements.levels AS l WHERE l.name = item.key;
            wanted := (SELECT jsonb_object_agg(f, coalesce(item.value -> f, 'null')) FROM unnest(level_fields) AS f);
            IF old_row IS NULL THEN
                INSERT INTO achievements.levels (name, description, min_points, link, notification_title, notification_body)
                VALUES (item.key, wanted ->> 'description', (wanted ->> 'min_points')::int, wanted ->> 'link',
                        wanted ->> 'notification_title', wanted ->> 'notification_body');
                object := 'level'; name := item.key; action := 'create';
                detail := coalesce('min_points ' || (wanted ->> 'min_points'), '');
                RETURN NEXT;
            ELSIF EXISTS (SELECT 1 FROM unnest(level_fields) AS f WHERE old_row -> f IS DISTINCT FROM wanted -> f) THEN
                UPDATE achievements.levels AS l
                   SET description = wanted ->> 'description', min_points = (wanted ->> 'min_points')::int,
                       link = wanted ->> 'link', notification_title = wanted ->> 'notification_title',
                       notification_body = wanted ->> 'notification_body'
                 WHERE l.name = item.key;
                object := 'level'; name := item.key; action := 'update';
                detail := array_to_string(ARRAY(SELECT format('%s: %s -> %s', f, old_row -> f, wanted -> f)
                                                  FROM unnest(level_fields) AS f
                                                 WHERE old_row -> f IS DISTINCT FROM wanted -> f), '; ');
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
          EXCEPTION WHEN SQLSTATE 'AD209' OR check_violation THEN
            problems := problems || format('levels.%s: %s', item.key, SQLERRM);
          END;
        END LOOP;

        -- Badges, each in its own subtransaction so that every definition error is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) ORDER BY key LOOP
            BEGIN
                SELECT to_jsonb(b) - 'created_at' INTO old_row FROM achievements.badges AS b WHERE b.code = item.key;
                desired := jsonb_populate_record(NULL::achievements.badges,
                                                 defaults || item.value || jsonb_build_object('code', item.key));
                -- Without points, the rarity's (and the badge follows them).
                desired.points_by_rarity := NOT item.value ? 'points';
                IF desired.points_by_rarity THEN
                    desired.points := coalesce((SELECT r.points FROM achievements.rarity_points AS r WHERE r.rarity = desired.rarity), 0);
                END IF;
                new_row := to_jsonb(desired) - 'created_at';
                IF old_row IS NULL THEN
                    INSERT INTO achievements.badges (code, name, description, icon, category, points, rarity, hidden,
                                                     step, threshold, level, client_grantable, revocable,
                                                     active_from, active_until, min_badges, all_badges, badge_category,
                                                     min_points, points_by_rarity, link, notification_title,
                                                     notification_body)
                    VALUES (desired.code, desired.name, desired.description, desired.icon, desired.category,
                            desired.points, desired.rarity, desired.hidden, desired.step, desired.threshold,
                            desired.level, desired.client_grantable, desired.revocable,
                            desired.active_from, desired.active_until, desired.min_badges, desired.all_badges,
                            desired.badge_category, desired.min_points, desired.points_by_rarity, desired.link,
                            desired.notification_title, desired.notification_body);
                    object := 'badge'; name := item.key; action := 'create';
                    detail := concat_ws(', ', CASE WHEN desired.step IS NOT NULL THEN format('step %s >= %s', desired.step, desired.threshold) END,
                                              CASE WHEN desired.level IS NOT NULL THEN format('level %s', desired.level) END,
                                              CASE WHEN desired.min_badges IS NOT NULL THEN format('%s badges%s', desired.min_badges, ' of ' || desired.badge_category) END,
                                              CASE WHEN desired.all_badges THEN 'all badges' || coalesce(' of ' || desired.badge_category, '') END,
                                              CASE WHEN desired.min_points IS NOT NULL THEN format('%s points earned', desired.min_points) END,
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
                           active_until = desired.active_until, min_badges = desired.min_badges,
                           all_badges = desired.all_badges, badge_category = desired.badge_category,
                           min_points = desired.min_points, points_by_rarity = desired.points_by_rarity,
                           link = desired.link, notification_title = desired.notification_title,
                           notification_body = desired.notification_body
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
                                     CASE WHEN item.value ? 'depends_on' THEN item.value ->> 'user_column' END),
                            item.value ->> 'at', item.value ->> 'time_zone'
                            )::achievements.tracked_steps;
                backfill := coalesce((item.value -> 'backfill')::boolean, true);
                IF want.tbl IS NULL THEN
                    -- A streak step without a table: its activity comes from record_step().
                    IF achievements_private.define_streak(want.step, coalesce(item.value ->> 'period', 'day'),
                                                          coalesce(item.value ->> 'week_start', 'monday')) THEN
                        object := 'step'; name := item.key; action := 'create';
                        detail := format('streak of %s, recorded by record_step()', coalesce(item.value ->> 'period', 'day'));
                        RETURN NEXT;
                    END IF;
                    CONTINUE;
                END IF;
                IF want.mode = 'streak' THEN
                    want.at := coalesce(want.at, quote_ident(want.column_name));
                END IF;
                SELECT * INTO have FROM achievements.tracked_steps AS t WHERE t.tbl = want.tbl AND t.step = want.step;
                changes := ARRAY(SELECT format('%s: %s -> %s', f.k, f.o, f.n)
                                   FROM (VALUES ('column', have.column_name, want.column_name),
                                                ('mode', have.mode, want.mode),
                                                ('user_column', have.user_column, want.user_column),
                                                ('condition', have.condition, want.condition),
                                                ('previous', have.previous, want.previous),
                                                ('value', have.value, want.value),
                                                ('depends_on', have.depends_on::text, want.depends_on::text),
                                                ('depends_on_user_column', have.depends_on_user_column, want.depends_on_user_column),
                                                ('at', have.at, want.at), ('time_zone', have.time_zone, want.time_zone))
                                        AS f(k, o, n)
                                  WHERE have.tbl IS NOT NULL AND f.o IS DISTINCT FROM f.n);
                object := 'step'; name := item.key;
                IF have.tbl IS NULL THEN
                    PERFORM achievements_private.track(want.tbl, want.step, want.column_name, want.mode, want.user_column,
                                                       want.condition, want.previous, want.value, want.depends_on,
                                                       want.depends_on_user_column, backfill, want.at,
                                                       item.value ->> 'period', item.value ->> 'week_start', want.time_zone,
                                                       caller);
                    action := 'create';
                    detail := concat_ws(', ', format('table %s', want.tbl), format('mode %s', want.mode),
                                        'column ' || want.column_name, 'condition ' || want.condition,
                                        'previous ' || want.previous, 'value ' || want.value,
                                        'depends on ' || want.depends_on::text, 'at ' || want.at,
                                        'period ' || (item.value ->> 'period'));
                    RETURN NEXT;
                ELSIF cardinality(changes) > 0 THEN
                    -- Tracked again: a counter keeps its tally and counts from now on (its rows
                    -- were counted already); a gauge is recounted.
                    PERFORM achievements_private.untrack(want.tbl, want.step, caller);
                    PERFORM achievements_private.track(want.tbl, want.step, want.column_name, want.mode, want.user_column,
                                                       want.condition, want.previous, want.value, want.depends_on,
                                                       want.depends_on_user_column,
                                                       achievements_private.step_kind(want.mode, want.depends_on) <> 'counter',
                                                       want.at, item.value ->> 'period', item.value ->> 'week_start',
                                                       want.time_zone, caller);
                    action := 'update'; detail := array_to_string(changes, '; ');
                    RETURN NEXT;
                END IF;
            EXCEPTION WHEN SQLSTATE 'AD102' OR SQLSTATE 'AD103' OR SQLSTATE 'AD104' OR SQLSTATE 'AD107'
                           OR SQLSTATE 'AD108' OR SQLSTATE 'AD109' OR SQLSTATE 'AD112' OR SQLSTATE 'AD302'
                           OR insufficient_privilege THEN
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
                        SELECT b.value ->> 'step' FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) AS b
                        UNION ALL
                        SELECT b.key FROM jsonb_each(coalesce(catalog -> 'leaderboards', '{}')) AS b) AS x
                 WHERE x.step IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM achievements.tracked_steps AS t WHERE t.step = x.step)
                   AND NOT EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = x.step)
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

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0007_all_time_leaderboards');
