-- 0005_streaks: streaks in each user's own calendar. Adds the users' time zones
-- (achievements.user_time_zones, set_time_zone), streak steps (achievements.streak_steps,
-- define_streak, track(mode => 'streak', at, period, week_start, time_zone)), the activity
-- recorded by call, freezes and each user's streak (achievements_private.streak_calls,
-- streak_freezes, streak_states), and the reads streaks() and streak_leaderboard(). The tables
-- already tracked keep their generated functions: nothing about them changes.
-- squawk-ignore-file ban-drop-function, constraint-missing-not-valid, require-concurrent-index-creation, prefer-robust-stmts, ban-drop-constraint
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';

-- tracked() returns the streak columns too; track() takes the streak arguments.
DROP FUNCTION achievements.tracked();

ALTER TABLE achievements.tracked_steps ADD COLUMN at text, ADD COLUMN time_zone text;
ALTER TABLE achievements.tracked_steps DROP CONSTRAINT tracked_steps_mode_check;
ALTER TABLE achievements.tracked_steps ADD CONSTRAINT tracked_steps_mode_check
    CHECK (mode IN ('count', 'toggle', 'boolean', 'toggle_boolean', 'distinct', 'sum', 'max', 'streak'));

CREATE TABLE achievements.user_time_zones (
    user_id    achievements.user_ref NOT NULL,
    valid_from timestamptz NOT NULL DEFAULT now(),
    time_zone  text NOT NULL,
    PRIMARY KEY (user_id, valid_from)
);
COMMENT ON TABLE achievements.user_time_zones IS
    'The IANA time zone of each user from valid_from on (the first also before it; UTC when none). Written by achievements.set_time_zone().';
ALTER TABLE achievements.user_time_zones ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_time_zones FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_time_zones');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_time_zones');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_time_zones');

CREATE TABLE achievements.streak_steps (
    step       text PRIMARY KEY CHECK (step <> ''),
    period     text NOT NULL CHECK (period IN ('day', 'week')),
    week_start int NOT NULL DEFAULT 1 CHECK (week_start BETWEEN 1 AND 7),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE achievements.streak_steps IS
    'Steps whose tally is the longest run of consecutive active days or weeks. Written by track(mode => ''streak'') and define_streak().';
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.streak_steps');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.streak_steps');

CREATE TABLE achievements_private.streak_calls (
    step    text NOT NULL,
    user_id achievements.user_ref NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX streak_calls_user ON achievements_private.streak_calls (user_id, step);
COMMENT ON TABLE achievements_private.streak_calls IS
    'Activity of streak steps recorded by achievements.record_step(): one row per call.';

CREATE TABLE achievements_private.streak_freezes (
    step       text NOT NULL,
    user_id    achievements.user_ref NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    freezes    int NOT NULL CHECK (freezes > 0)
);
CREATE INDEX streak_freezes_user ON achievements_private.streak_freezes (user_id, step);
COMMENT ON TABLE achievements_private.streak_freezes IS
    'Streak freezes granted by achievements.grant_streak_freezes(), one row per grant.';

CREATE TABLE achievements_private.streak_states (
    step         text NOT NULL,
    user_id      achievements.user_ref NOT NULL,
    longest      int NOT NULL CHECK (longest > 0),
    run_length   int NOT NULL CHECK (run_length > 0),
    run_start    date NOT NULL,
    last_period  date NOT NULL,
    freezes_used int NOT NULL DEFAULT 0 CHECK (freezes_used >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, step)
) WITH (fillfactor = 80);
CREATE INDEX streak_states_longest ON achievements_private.streak_states (step, longest DESC, user_id);
CREATE INDEX streak_states_run ON achievements_private.streak_states (step, run_length DESC, user_id);
COMMENT ON TABLE achievements_private.streak_states IS
    'Each user''s streak of a streak step as of the latest active period; the current length is worked out when read (achievements.streaks()).';

CREATE OR REPLACE FUNCTION achievements_private.user_time_zone(who achievements.user_ref, at timestamp with time zone)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT coalesce(
        (SELECT z.time_zone FROM achievements.user_time_zones AS z
          WHERE z.user_id OPERATOR(pg_catalog.=) who AND z.valid_from OPERATOR(pg_catalog.<=) at
          ORDER BY z.valid_from DESC LIMIT 1),
        (SELECT z.time_zone FROM achievements.user_time_zones AS z
          WHERE z.user_id OPERATOR(pg_catalog.=) who ORDER BY z.valid_from LIMIT 1),
        'UTC')
$function$;


CREATE OR REPLACE FUNCTION achievements_private.user_zones(user_ids achievements.user_ref[])
 RETURNS TABLE(user_id achievements.user_ref, zones bigint, latest text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT z.user_id, count(*), (array_agg(z.time_zone ORDER BY z.valid_from DESC))[1]
      FROM achievements.user_time_zones AS z
     WHERE z.user_id = ANY (user_ids)
     GROUP BY z.user_id
$function$;


CREATE OR REPLACE FUNCTION achievements_private.activity_zone(row_zone text, who achievements.user_ref, at timestamp with time zone, zones bigint, latest text)
 RETURNS text
 LANGUAGE sql
 STABLE
RETURN COALESCE(row_zone, CASE WHEN (zones IS NULL) THEN 'UTC'::text WHEN (zones = 1) THEN latest ELSE achievements_private.user_time_zone(who, at) END);


CREATE OR REPLACE FUNCTION achievements_private.period_of(at timestamp with time zone, zone text, period text, week_start integer)
 RETURNS date
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (period = 'day'::text) THEN ((at AT TIME ZONE zone))::date ELSE (((at AT TIME ZONE zone))::date - ((((EXTRACT(isodow FROM (at AT TIME ZONE zone)))::integer - week_start) + 7) % 7)) END;


CREATE OR REPLACE FUNCTION achievements_private.day_exists(d date, zone text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN ((((d + 1))::timestamp without time zone AT TIME ZONE zone) > ((d)::timestamp without time zone AT TIME ZONE zone));


CREATE OR REPLACE FUNCTION achievements_private.missed_periods(a date, b date, period text, zone text, cap integer)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN CASE WHEN (period = 'week'::text) THEN LEAST((((b - a) / 7) - 1), (cap + 1)) WHEN ((b - a) <= 1) THEN 0 ELSE (SELECT (count(*))::integer AS count FROM (SELECT 1 AS "?column?" FROM generate_series(1, ((missed_periods.b - missed_periods.a) - 1)) g(i) WHERE achievements_private.day_exists((missed_periods.a + g.i), missed_periods.zone) LIMIT (GREATEST(missed_periods.cap, 0) + 1)) m) END;


CREATE OR REPLACE FUNCTION achievements_private.step_kind(mode text, depends_on regclass)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN CASE WHEN (mode = ANY (ARRAY['count'::text, 'boolean'::text])) THEN 'counter'::text WHEN (mode = 'streak'::text) THEN 'streak'::text WHEN ((mode = ANY (ARRAY['distinct'::text, 'max'::text])) OR (depends_on IS NOT NULL)) THEN 'recount'::text ELSE 'gauge'::text END;


CREATE OR REPLACE FUNCTION achievements_private.activity_function_name(tbl oid)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN format('track_%s_activity'::text, tbl);


CREATE OR REPLACE FUNCTION achievements_private.tracked_moment_sql(s achievements.tracked_steps)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN format('ROW((%s)::timestamptz, (%s)::text)'::text, (s).at, COALESCE((s).time_zone, 'NULL'::text));


CREATE OR REPLACE FUNCTION achievements_private.lock_tallies(user_ids achievements.user_ref[], steps text[])
 RETURNS TABLE(user_id achievements.user_ref, step text, count integer)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
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

CREATE OR REPLACE FUNCTION achievements_private.follows_period(prev date, p date, period text, zone text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN ((p - prev) = CASE period WHEN 'day'::text THEN 1 ELSE 7 END) THEN true ELSE (achievements_private.missed_periods(prev, p, period, zone, 0) = 0) END;


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
    IF EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = record_step.step) THEN
        RETURN achievements_private.record_streak(record_step.user_id, step);
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
    IF EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = undo_step.step) THEN
        RAISE EXCEPTION 'undo_step: step % is a streak step, whose tally is the longest streak of the user''s activity', quote_literal(step)
            USING ERRCODE = 'AD303',
                  HINT = 'Delete the rows of the activity instead (the streak is worked out again); recorded calls are not undone.';
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


CREATE OR REPLACE FUNCTION achievements_private.tracking_lock(caller name, tbl regclass, user_ids achievements.user_ref[], steps text[])
 RETURNS TABLE(user_id achievements.user_ref, step text, count integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM achievements_private.check_tracking_caller(caller, tbl, steps);
    RETURN QUERY SELECT l.user_id, l.step, l.count FROM achievements_private.lock_tallies(user_ids, steps) AS l;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.tracking_streaks(caller name, tbl regclass, user_ids achievements.user_ref[], steps text[], a_users achievements.user_ref[], a_steps text[], a_ats timestamp with time zone[], a_zones text[], a_signs integer[], recount boolean)
 RETURNS TABLE(user_id achievements.user_ref, step text, count integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    p_users achievements.user_ref[];
    p_steps text[];
BEGIN
    SELECT array_agg(x.u), array_agg(x.s) INTO p_users, p_steps
      FROM unnest(user_ids, steps) AS x(u, s)
     WHERE EXISTS (SELECT 1 FROM achievements.tracked_steps AS t
                    WHERE t.tbl = tracking_streaks.tbl AND t.step = x.s AND t.mode = 'streak');
    PERFORM achievements_private.check_tracking_caller(
        caller, tbl, coalesce(p_steps, '{}') || ARRAY(SELECT DISTINCT x FROM unnest(a_steps) AS x));
    IF p_users IS NOT NULL THEN
        RETURN QUERY SELECT r.user_id, r.step, r.count
                       FROM achievements_private.change_streaks(p_users, p_steps, a_users, a_steps, a_ats, a_zones,
                                                                a_signs, recount) AS r;
    END IF;
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
    IF kind IN ('recount', 'streak') OR op = 'TRUNCATE' THEN
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
    worth text := CASE WHEN s.mode = 'streak' THEN achievements_private.tracked_moment_sql(s)
                       ELSE coalesce(achievements_private.tracked_value_sql(s, rel), 'NULL::int') END;
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


CREATE OR REPLACE FUNCTION achievements_private.tracked_users_filter_sql(s achievements.tracked_steps, user_cast text, rel text, users text)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN CASE WHEN (users IS NULL) THEN ''::text WHEN (user_cast = 'native'::text) THEN format(' AND %s.%I = ANY (%s::%s[])'::text, rel, (s).user_column, users, format_type((SELECT t.typbasetype FROM pg_type t WHERE (t.oid = ('achievements.user_ref'::regtype)::oid)), NULL::integer)) ELSE format(' AND %s = ANY (%s)'::text, achievements_private.tracked_user_sql(user_cast, rel, (s).user_column, 'NULL::achievements.user_ref'::text), users) END;

CREATE OR REPLACE FUNCTION achievements_private.tracked_recount_sql(s achievements.tracked_steps, user_cast text, rel text, users text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    who text := achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref');
BEGIN
    IF s.previous IS NOT NULL OR s.mode = 'streak' THEN
        RETURN NULL;
    END IF;
    RETURN format(
        'SELECT f.u, %s::int AS c FROM (SELECT %s AS u, %s AS v FROM %s AS %s WHERE %s%s) AS f
          WHERE f.u IS NOT NULL GROUP BY f.u',
        CASE s.mode WHEN 'distinct' THEN 'count(DISTINCT f.v)' WHEN 'max' THEN 'coalesce(max(f.v), 0)'
                    WHEN 'sum' THEN 'coalesce(sum(f.v), 0)' ELSE 'count(*)' END,
        who, coalesce(achievements_private.tracked_value_sql(s, rel), 'NULL'),
        s.tbl, rel, achievements_private.tracked_qualifies_sql(s, rel),
        achievements_private.tracked_users_filter_sql(s, user_cast, rel, users));
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.tracked_activity_sql(s achievements.tracked_steps, user_cast text, rel text, users text)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN format('SELECT f.u, f.at, f.z FROM (SELECT %s AS u, (%s)::timestamptz AS at, (%s)::text AS z FROM %s AS %s WHERE %s%s) AS f
      WHERE f.u IS NOT NULL AND f.at IS NOT NULL'::text, achievements_private.tracked_user_sql(user_cast, rel, (s).user_column, 'NULL::achievements.user_ref'::text), (s).at, COALESCE((s).time_zone, 'NULL'::text), (s).tbl, rel, achievements_private.tracked_qualifies_sql(s, rel), achievements_private.tracked_users_filter_sql(s, user_cast, rel, users));


CREATE OR REPLACE FUNCTION achievements_private.tracked_activity_change_sql(s achievements.tracked_steps, user_cast text, op text, rel text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    one text := format('SELECT %s AS u, %L::text AS step, (%s)::timestamptz AS at, (%s)::text AS z, %%s AS sign FROM %%s AS %s WHERE %s',
                       achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref'),
                       s.step, s.at, coalesce(s.time_zone, 'NULL'), rel, achievements_private.tracked_qualifies_sql(s, rel));
BEGIN
    RETURN CASE op
        WHEN 'INSERT' THEN format(one, 1, 'new_rows')
        WHEN 'DELETE' THEN format(one, -1, 'old_rows')
        WHEN 'UPDATE' THEN format(one, -1, 'old_rows') || ' UNION ALL ' || format(one, 1, 'new_rows')
        END;
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
                    achievements_tracking.streaks(regclass, achievements.user_ref[], text[], achievements.user_ref[], text[], timestamptz[], text[], int[], boolean),
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


CREATE OR REPLACE FUNCTION achievements_private.create_activity_function(tbl regclass)
 RETURNS regprocedure
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;


CREATE OR REPLACE FUNCTION achievements_private.drop_counting_function(tbl oid, rows_only boolean DEFAULT false, activity_only boolean DEFAULT false)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    users   achievements.user_ref[];
BEGIN
    -- The function's name is quoted (%I); it writes only through EXECUTE, which the check does
    -- not count as a write:
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
    IF s.mode = 'streak' THEN
        -- Every user with activity in the table, calls or a tally: worked out again.
        SELECT array_agg(u.user_id ORDER BY u.user_id) INTO users
          FROM (SELECT h.user_id FROM achievements_private.host_streak_activity(NULL, ARRAY[s.step]) AS h
                UNION SELECT c.user_id FROM achievements_private.streak_calls AS c WHERE c.step = s.step
                UNION SELECT t.user_id FROM achievements.user_achievements AS t WHERE t.name = s.step) AS u;
        IF users IS NOT NULL THEN
            SELECT count(*) INTO changed
              FROM achievements_private.refresh_streaks(users, array_fill(s.step, ARRAY[cardinality(users)])) AS r;
        END IF;
    ELSIF achievements_private.step_kind(s.mode, s.depends_on) <> 'counter' THEN
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
    IF s.mode = 'streak' THEN
        EXECUTE format('SELECT count(*) FROM achievements_tracking.%I(ARRAY[$1], NULL, true)',
                       achievements_private.activity_function_name(s.tbl))
        USING s.step;
    END IF;
EXCEPTION WHEN OTHERS THEN
    given := concat_ws(', ', 'condition ' || quote_literal(s.condition), 'previous ' || quote_literal(s.previous),
                       'value ' || quote_literal(s.value), 'column ' || quote_ident(s.column_name),
                       'user ' || quote_literal(s.user_column), 'at ' || quote_literal(s.at),
                       'time_zone ' || quote_literal(s.time_zone),
                       'depends_on_user_column ' || quote_literal(s.depends_on_user_column));
    RAISE EXCEPTION 'achievements.track() on table %: the expressions of step % are not valid for it: % (%)',
                    s.tbl, quote_literal(s.step), SQLERRM, coalesce(given, 'no expression')
        USING ERRCODE = 'AD112',
              HINT = 'Each expression is SQL over one row of the table: name its columns bare or as table.column; write other tables and functions with their schema (search_path is pg_catalog); condition and previous are boolean; a sum or max value is an integer (smallint, integer, bigint); a streak''s at is a timestamptz and its time_zone a zone name.';
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


CREATE OR REPLACE FUNCTION achievements.tracked()
 RETURNS TABLE(tbl regclass, step text, column_name text, mode text, user_column text, condition text, previous text, value text, depends_on regclass, depends_on_user_column text, created_at timestamp with time zone, at text, time_zone text, period text, week_start integer)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    -- PL/pgSQL: streak_steps is defined after this file (sql/10_streaks/).
    RETURN QUERY
        SELECT t.tbl, t.step, t.column_name, t.mode, t.user_column, t.condition, t.previous, t.value,
               t.depends_on, t.depends_on_user_column, t.created_at, t.at, t.time_zone, ss.period, ss.week_start
          FROM achievements.tracked_steps AS t
          LEFT JOIN achievements.streak_steps AS ss ON t.mode = 'streak' AND ss.step = t.step
         WHERE EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
         ORDER BY t.tbl::text, t.step;
END
$function$;
COMMENT ON FUNCTION achievements.tracked() IS
    'Lists what achievements.track() wired: table, step, column, mode, user column, condition, previous, value, depends_on, when, and a streak''s at, time_zone, period, week_start.';


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
                        SELECT b.value ->> 'step' FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) AS b) AS x
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


CREATE OR REPLACE FUNCTION achievements_private.check_time_zone(zone text, fn text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    known text;
BEGIN
    SELECT n.name INTO known FROM pg_timezone_names AS n WHERE lower(n.name) = lower(zone)
     ORDER BY n.name = zone DESC LIMIT 1;
    IF known IS NULL OR zone ~ '^[+-]?[0-9]' OR known ~ '^(posix|right)/' THEN
        RAISE EXCEPTION '%: % is not an IANA time zone name', fn, coalesce(quote_literal(left(zone, 60)), 'NULL')
            USING ERRCODE = 'AD301',
                  HINT = 'Use a name of pg_timezone_names such as ''Europe/Budapest'', ''America/New_York'' or ''UTC''.';
    END IF;
    RETURN known;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.streak_periods(user_ids achievements.user_ref[], steps text[], a_users achievements.user_ref[], a_steps text[], a_ats timestamp with time zone[], a_zones text[], with_freezes boolean)
 RETURNS TABLE(user_id achievements.user_ref, step text, p date, period text, zone text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    WITH pairs AS (
        SELECT DISTINCT x.u, x.s, ss.period, ss.week_start
          FROM unnest(user_ids, steps) AS x(u, s)
          JOIN achievements.streak_steps AS ss ON ss.step = x.s
         WHERE EXISTS (SELECT 1 FROM achievements_private.streak_freezes AS f
                        WHERE f.user_id = x.u AND f.step = x.s) = with_freezes),
    zoned_users AS (
        SELECT z.user_id AS u, z.zones, z.latest
          FROM achievements_private.user_zones(ARRAY(SELECT DISTINCT pairs.u FROM pairs)) AS z),
    activity AS (
        SELECT a.u, a.s, a.at, a.z
          FROM unnest(a_users, a_steps, a_ats, a_zones) AS a(u, s, at, z)
         WHERE a.at IS NOT NULL AND a.u IS NOT NULL
        UNION ALL
        SELECT c.user_id, c.step, c.at, NULL
          FROM pairs
          JOIN achievements_private.streak_calls AS c ON c.user_id = pairs.u AND c.step = pairs.s)
    SELECT DISTINCT d.u, d.s, achievements_private.period_of(d.at, d.zone, d.period, d.week_start), d.period, d.today_zone
      FROM (SELECT a.u, a.s, a.at, pairs.period, pairs.week_start,
                   achievements_private.activity_zone(a.z, a.u, a.at, zu.zones, zu.latest) AS zone,
                   coalesce(zu.latest, 'UTC') AS today_zone
              FROM activity AS a
              JOIN pairs ON pairs.u = a.u AND pairs.s = a.s
              LEFT JOIN zoned_users AS zu ON zu.u = a.u
            OFFSET 0) AS d
$function$;


CREATE OR REPLACE FUNCTION achievements_private.store_streaks(user_ids achievements.user_ref[], steps text[], a_users achievements.user_ref[], a_steps text[], a_ats timestamp with time zone[], a_zones text[])
 RETURNS TABLE(user_id achievements.user_ref, step text, count integer)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    r          record;
    s_users    achievements.user_ref[];
    s_steps    text[];
    s_longest  int[];
    s_run      int[];
    s_start    date[];
    s_last     date[];
    s_used     int[];
    cur_u      achievements.user_ref;
    cur_s      text;
    prev       date;
    run        int;
    run_start  date;
    longest    int;
    used       int;
    missed     int;
    available  int;
    granted    int;
BEGIN
    -- Set-based: the pairs without freezes.
    SELECT coalesce(array_agg(x.user_id), '{}')::achievements.user_ref[], coalesce(array_agg(x.step), '{}')::text[],
           coalesce(array_agg(x.longest), '{}')::int[], coalesce(array_agg(x.run_length), '{}')::int[],
           coalesce(array_agg(x.run_start), '{}')::date[], coalesce(array_agg(x.last_period), '{}')::date[],
           coalesce(array_agg(0), '{}')::int[]
      INTO s_users, s_steps, s_longest, s_run, s_start, s_last, s_used
      FROM (SELECT g.user_id, g.step, max(g.len)::int AS longest,
                   (array_agg(g.len ORDER BY g.last DESC))[1]::int AS run_length,
                   (array_agg(g.first ORDER BY g.last DESC))[1] AS run_start, max(g.last) AS last_period
              FROM (SELECT b.user_id, b.step, b.island, count(*) AS len, min(b.p) AS first, max(b.p) AS last
                      FROM (SELECT f.user_id, f.step, f.p,
                                   sum(f.brk) OVER (PARTITION BY f.user_id, f.step ORDER BY f.p) AS island
                              FROM (SELECT o.user_id, o.step, o.p,
                                           CASE WHEN o.prev IS NULL THEN 1
                                                WHEN achievements_private.follows_period(o.prev, o.p, o.period, o.zone) THEN 0
                                                ELSE 1 END AS brk
                                      FROM (SELECT sp.user_id, sp.step, sp.p, sp.period, sp.zone,
                                                   lag(sp.p) OVER (PARTITION BY sp.user_id, sp.step ORDER BY sp.p) AS prev
                                              FROM achievements_private.streak_periods(user_ids, steps, a_users, a_steps,
                                                                                       a_ats, a_zones, false) AS sp) AS o) AS f) AS b
                     GROUP BY b.user_id, b.step, b.island) AS g
             GROUP BY g.user_id, g.step) AS x;

    -- Period by period: the pairs with freezes.
    FOR r IN SELECT sp.user_id, sp.step, sp.p, sp.period, sp.zone
               FROM achievements_private.streak_periods(user_ids, steps, a_users, a_steps, a_ats, a_zones, true) AS sp
              ORDER BY sp.user_id, sp.step, sp.p LOOP
        IF cur_u IS DISTINCT FROM r.user_id OR cur_s IS DISTINCT FROM r.step THEN
            IF cur_u IS NOT NULL THEN
                s_users := s_users || cur_u; s_steps := s_steps || cur_s; s_longest := s_longest || longest;
                s_run := s_run || run; s_start := s_start || run_start; s_last := s_last || prev; s_used := s_used || used;
            END IF;
            cur_u := r.user_id; cur_s := r.step; run := 1; run_start := r.p; longest := 1; used := 0;
        ELSE
            SELECT coalesce(sum(f.freezes), 0)::int INTO granted
              FROM achievements_private.streak_freezes AS f
             WHERE f.user_id = r.user_id AND f.step = r.step
               AND f.granted_at < ((r.p + CASE r.period WHEN 'day' THEN 1 ELSE 7 END)::timestamp AT TIME ZONE r.zone);
            available := granted - used;
            missed := achievements_private.missed_periods(prev, r.p, r.period, r.zone, greatest(available, 0));
            IF missed = 0 THEN
                run := run + 1;
            ELSIF missed <= available THEN
                run := run + 1;
                used := used + missed;
            ELSE
                run := 1;
                run_start := r.p;
            END IF;
            longest := greatest(longest, run);
        END IF;
        prev := r.p;
    END LOOP;
    IF cur_u IS NOT NULL THEN
        s_users := s_users || cur_u; s_steps := s_steps || cur_s; s_longest := s_longest || longest;
        s_run := s_run || run; s_start := s_start || run_start; s_last := s_last || prev; s_used := s_used || used;
    END IF;

    -- Store: the pairs with activity get their state, the others lose theirs.
    INSERT INTO achievements_private.streak_states AS t
           (user_id, step, longest, run_length, run_start, last_period, freezes_used)
    SELECT * FROM unnest(s_users, s_steps, s_longest, s_run, s_start, s_last, s_used)
     ORDER BY 1, 2
    ON CONFLICT (user_id, step) DO UPDATE
       SET longest = excluded.longest, run_length = excluded.run_length, run_start = excluded.run_start,
           last_period = excluded.last_period, freezes_used = excluded.freezes_used, updated_at = now()
     WHERE (t.longest, t.run_length, t.run_start, t.last_period, t.freezes_used)
           IS DISTINCT FROM (excluded.longest, excluded.run_length, excluded.run_start, excluded.last_period, excluded.freezes_used);
    DELETE FROM achievements_private.streak_states AS t
     WHERE (t.user_id, t.step) IN (SELECT x.u, x.s FROM unnest(user_ids, steps) AS x(u, s)
                                   EXCEPT
                                   SELECT k.u, k.s FROM unnest(s_users, s_steps) AS k(u, s));
    RETURN QUERY
        SELECT x.u, x.s, coalesce(k.longest, 0)
          FROM (SELECT DISTINCT y.u, y.s FROM unnest(user_ids, steps) AS y(u, s)
                 WHERE EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = y.s)) AS x
          LEFT JOIN unnest(s_users, s_steps, s_longest) AS k(u, s, longest) ON k.u = x.u AND k.s = x.s;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.change_streaks(user_ids achievements.user_ref[], steps text[], a_users achievements.user_ref[], a_steps text[], a_ats timestamp with time zone[], a_zones text[], a_signs integer[], recount boolean)
 RETURNS TABLE(user_id achievements.user_ref, step text, count integer)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    slow_users achievements.user_ref[];
    slow_steps text[];
    h          record;
    one        achievements.streak_steps;
    st         achievements_private.streak_states;
    p          date;
    run        int;
BEGIN
    -- One activity added for one pair (a login, a record_step call): the same rules as below,
    -- without planning the statement for many rows.
    IF NOT recount AND cardinality(user_ids) = 1 AND cardinality(a_users) = 1 AND a_signs[1] = 1
       AND a_ats[1] IS NOT NULL AND a_users[1] = user_ids[1] AND a_steps[1] = steps[1]
       AND NOT EXISTS (SELECT 1 FROM achievements_private.streak_freezes AS f
                        WHERE f.user_id = user_ids[1] AND f.step = steps[1]) THEN
        SELECT * INTO one FROM achievements.streak_steps AS ss WHERE ss.step = steps[1];
        IF FOUND THEN
            p := achievements_private.period_of(a_ats[1], coalesce(a_zones[1], achievements_private.user_time_zone(user_ids[1], a_ats[1])),
                                                one.period, one.week_start);
            SELECT * INTO st FROM achievements_private.streak_states AS x WHERE x.user_id = user_ids[1] AND x.step = steps[1];
            IF NOT FOUND THEN
                INSERT INTO achievements_private.streak_states (user_id, step, longest, run_length, run_start, last_period)
                VALUES (user_ids[1], steps[1], 1, 1, p, p);
                RETURN QUERY SELECT user_ids[1], steps[1], 1;
                RETURN;
            ELSIF p = st.last_period THEN
                RETURN QUERY SELECT user_ids[1], steps[1], st.longest;
                RETURN;
            ELSIF p > st.last_period THEN
                run := CASE WHEN achievements_private.follows_period(st.last_period, p, one.period,
                                                                     achievements_private.user_time_zone(user_ids[1], now()))
                            THEN st.run_length + 1 ELSE 1 END;
                UPDATE achievements_private.streak_states AS x
                   SET longest = greatest(x.longest, run), run_length = run,
                       run_start = CASE WHEN run = 1 THEN p ELSE x.run_start END, last_period = p, updated_at = now()
                 WHERE x.user_id = user_ids[1] AND x.step = steps[1];
                RETURN QUERY SELECT user_ids[1], steps[1], greatest(st.longest, run);
                RETURN;
            END IF;
        END IF;
    END IF;

    WITH pairs AS (
        SELECT DISTINCT x.u, x.s, ss.period, ss.week_start
          FROM unnest(user_ids, steps) AS x(u, s)
          JOIN achievements.streak_steps AS ss ON ss.step = x.s),
    activity AS (
        SELECT a.u, a.s, a.at, a.z, a.sign
          FROM unnest(a_users, a_steps, a_ats, a_zones, a_signs) AS a(u, s, at, z, sign)
         WHERE a.at IS NOT NULL AND a.u IS NOT NULL),
    zoned_users AS (
        SELECT z.user_id AS u, z.zones, z.latest
          FROM achievements_private.user_zones(ARRAY(SELECT DISTINCT pairs.u FROM pairs)) AS z),
    -- The change per active period: a period whose activity only moved within it nets to 0.
    dated AS (
        SELECT d.u, d.s, achievements_private.period_of(d.at, d.zone, d.period, d.week_start) AS p,
               sum(d.sign) AS n, d.period, d.today_zone
          FROM (SELECT a.u, a.s, a.sign, a.at, pairs.period, pairs.week_start,
                       achievements_private.activity_zone(a.z, a.u, a.at, zu.zones, zu.latest) AS zone,
                       coalesce(zu.latest, 'UTC') AS today_zone
                  FROM activity AS a
                  JOIN pairs ON pairs.u = a.u AND pairs.s = a.s
                  LEFT JOIN zoned_users AS zu ON zu.u = a.u
                OFFSET 0) AS d
         GROUP BY 1, 2, 3, 5, 6
        HAVING sum(d.sign) <> 0),
    verdicts AS (
        SELECT d.u, d.s, recount OR bool_or(d.n < 0) OR coalesce(min(d.p) < min(st.last_period), false)
                         OR EXISTS (SELECT 1 FROM achievements_private.streak_freezes AS f
                                     WHERE f.user_id = d.u AND f.step = d.s) AS slow
          FROM dated AS d
          LEFT JOIN achievements_private.streak_states AS st ON st.user_id = d.u AND st.step = d.s
         GROUP BY d.u, d.s),
    -- The fast pairs: the stored run (its last period, weighing its length) and the new periods,
    -- in gaps and islands.
    runs AS (
        SELECT st.user_id AS u, st.step AS s, st.last_period AS p, st.run_length AS w, st.run_start AS first,
               pairs.period, coalesce(zu.latest, 'UTC') AS zone
          FROM verdicts AS v
          JOIN achievements_private.streak_states AS st ON st.user_id = v.u AND st.step = v.s
          JOIN pairs ON pairs.u = v.u AND pairs.s = v.s
          LEFT JOIN zoned_users AS zu ON zu.u = v.u
         WHERE NOT v.slow
        UNION ALL
        SELECT d.u, d.s, d.p, 1, d.p, d.period, d.today_zone
          FROM dated AS d
          JOIN verdicts AS v ON v.u = d.u AND v.s = d.s
          LEFT JOIN achievements_private.streak_states AS st ON st.user_id = d.u AND st.step = d.s
         WHERE NOT v.slow AND d.p > coalesce(st.last_period, '-infinity'::date)),
    islands AS (
        SELECT b.u, b.s, sum(b.w)::int AS len, min(b.first) AS first, max(b.p) AS last
          FROM (SELECT f.u, f.s, f.p, f.w, f.first,
                       sum(f.brk) OVER (PARTITION BY f.u, f.s ORDER BY f.p) AS island
                  FROM (SELECT o.u, o.s, o.p, o.w, o.first,
                               CASE WHEN o.prev IS NULL THEN 1
                                    WHEN achievements_private.follows_period(o.prev, o.p, o.period, o.zone) THEN 0
                                    ELSE 1 END AS brk
                          FROM (SELECT r.*, lag(r.p) OVER (PARTITION BY r.u, r.s ORDER BY r.p) AS prev
                                  FROM runs AS r) AS o) AS f) AS b
         GROUP BY b.u, b.s, b.island),
    stored AS (
        INSERT INTO achievements_private.streak_states AS t
               (user_id, step, longest, run_length, run_start, last_period, freezes_used)
        SELECT x.u, x.s, greatest(x.longest, coalesce(st.longest, 0)), x.run_length, x.run_start, x.last_period,
               coalesce(st.freezes_used, 0)
          FROM (SELECT i.u, i.s, max(i.len) AS longest,
                       (array_agg(i.len ORDER BY i.last DESC))[1] AS run_length,
                       (array_agg(i.first ORDER BY i.last DESC))[1] AS run_start, max(i.last) AS last_period
                  FROM islands AS i GROUP BY i.u, i.s) AS x
          LEFT JOIN achievements_private.streak_states AS st ON st.user_id = x.u AND st.step = x.s
         ORDER BY x.u, x.s
        ON CONFLICT (user_id, step) DO UPDATE
           SET longest = excluded.longest, run_length = excluded.run_length, run_start = excluded.run_start,
               last_period = excluded.last_period, updated_at = now()
         WHERE (t.longest, t.run_length, t.run_start, t.last_period)
               IS DISTINCT FROM (excluded.longest, excluded.run_length, excluded.run_start, excluded.last_period)
        RETURNING 1)
    SELECT array_agg(v.u), array_agg(v.s) INTO slow_users, slow_steps
      FROM (SELECT v.u, v.s FROM verdicts AS v WHERE v.slow
            UNION
            SELECT pairs.u, pairs.s FROM pairs WHERE recount) AS v;

    IF slow_users IS NOT NULL THEN
        SELECT array_agg(a.user_id) AS u, array_agg(a.step) AS s, array_agg(a.at) AS at, array_agg(a.time_zone) AS z INTO h
          FROM achievements_private.host_streak_activity(slow_users, slow_steps) AS a;
        PERFORM achievements_private.store_streaks(slow_users, slow_steps, h.u, h.s, h.at, h.z);
    END IF;
    RETURN QUERY
        SELECT x.u, x.s, coalesce(st.longest, 0)
          FROM unnest(user_ids, steps) AS x(u, s)
          LEFT JOIN achievements_private.streak_states AS st ON st.user_id = x.u AND st.step = x.s
         WHERE x.s IN (SELECT ss.step FROM achievements.streak_steps AS ss);
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.host_streak_activity(user_ids achievements.user_ref[], steps text[])
 RETURNS TABLE(user_id achievements.user_ref, step text, at timestamp with time zone, time_zone text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    t record;
BEGIN
    -- The function's name is quoted (%I); RETURN QUERY EXECUTE sets the OUT columns:
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false, extra_warnings = false
    FOR t IN SELECT x.tbl, array_agg(x.step ORDER BY x.step) AS steps
               FROM achievements.tracked_steps AS x
              WHERE x.mode = 'streak' AND x.step = ANY (host_streak_activity.steps)
                AND EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = x.tbl)
              GROUP BY x.tbl ORDER BY x.tbl LOOP
        RETURN QUERY EXECUTE format('SELECT a.user_id, a.step, a.at, a.time_zone FROM achievements_tracking.%I($1, $2, false) AS a',
                                    achievements_private.activity_function_name(t.tbl))
            USING t.steps, user_ids;
    END LOOP;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.refresh_streaks(user_ids achievements.user_ref[], steps text[])
 RETURNS TABLE(user_id achievements.user_ref, step text, count integer)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    p_users  achievements.user_ref[];
    p_steps  text[];
    l_counts int[];
    a        record;
    d        record;
BEGIN
    SELECT array_agg(x.u ORDER BY x.u, x.s), array_agg(x.s ORDER BY x.u, x.s) INTO p_users, p_steps
      FROM (SELECT DISTINCT y.u, y.s FROM unnest(user_ids, steps) AS y(u, s)
             WHERE y.u IS NOT NULL AND EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = y.s)) AS x;
    IF p_users IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(l.count ORDER BY l.user_id, l.step) INTO l_counts
      FROM achievements_private.lock_tallies(p_users, p_steps) AS l;
    SELECT array_agg(h.user_id) AS u, array_agg(h.step) AS s, array_agg(h.at) AS at, array_agg(h.time_zone) AS z INTO a
      FROM achievements_private.host_streak_activity(p_users, p_steps) AS h;
    SELECT array_agg(n.user_id) AS u, array_agg(n.step) AS s, array_agg(n.c) AS c INTO d
      FROM (SELECT k.u AS user_id, k.s AS step, st.count - k.c AS c
              FROM unnest(p_users, p_steps, l_counts) AS k(u, s, c)
              JOIN achievements_private.store_streaks(p_users, p_steps, a.u, a.s, a.at, a.z) AS st
                ON st.user_id = k.u AND st.step = k.s
             WHERE st.count <> k.c) AS n;
    IF d.u IS NOT NULL THEN
        PERFORM achievements_private.add_to_tallies(d.u, d.s, d.c, true);
    END IF;
    RETURN QUERY
        SELECT t.user_id, t.name, t.count
          FROM achievements.user_achievements AS t
          JOIN unnest(p_users, p_steps) AS x(u, s) ON t.user_id = x.u AND t.name = x.s;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.record_streak(who achievements.user_ref, step text)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    tally   int;
    longest int;
BEGIN
    SELECT l.count INTO tally FROM achievements_private.lock_tallies(ARRAY[who], ARRAY[step]) AS l;
    INSERT INTO achievements_private.streak_calls (step, user_id) VALUES (step, who);
    SELECT c.count INTO longest
      FROM achievements_private.change_streaks(ARRAY[who], ARRAY[step], ARRAY[who], ARRAY[step], ARRAY[now()],
                                               ARRAY[NULL::text], ARRAY[1], false) AS c;
    IF longest <> tally THEN
        PERFORM achievements_private.add_to_tallies(ARRAY[who], ARRAY[step], ARRAY[longest - tally], true);
    END IF;
    RETURN longest;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.require_streak_step(step text, fn text)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = require_streak_step.step) THEN
        RAISE EXCEPTION '%: step % is not a streak step', fn, coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD302',
                  HINT = 'Make it one with achievements.track(tbl, step, mode => ''streak'', at => ...) or achievements.define_streak(step).';
    END IF;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.week_start_day(week_start text, fn text)
 RETURNS integer
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    n int := array_position(ARRAY['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'],
                            lower(week_start));
BEGIN
    IF n IS NULL THEN
        RAISE EXCEPTION '%: week_start must be a day name, not %', fn, coalesce(quote_literal(week_start), 'NULL')
            USING ERRCODE = 'AD302',
                  HINT = 'Weeks start on ''monday'' (ISO, the default), ''sunday'' or any other day name.';
    END IF;
    RETURN n;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.define_streak(step text, period text, week_start text)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_variable
DECLARE
    day      int := achievements_private.week_start_day(week_start, 'achievements.define_streak()');
    existing achievements.streak_steps;
BEGIN
    IF coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 OR period IS NULL OR period NOT IN ('day', 'week') THEN
        RAISE EXCEPTION 'achievements.define_streak(): a step name of 1 to 200 characters and a period of ''day'' or ''week'' are required (got %, %)',
                        coalesce(quote_literal(left(step, 60)), 'NULL'), coalesce(quote_literal(period), 'NULL')
            USING ERRCODE = 'AD302',
                  HINT = 'E.g. achievements.define_streak(''daily_login'', ''day'').';
    END IF;
    SELECT * INTO existing FROM achievements.streak_steps AS ss WHERE ss.step = define_streak.step FOR UPDATE;
    IF FOUND THEN
        IF (existing.period, existing.week_start) IS DISTINCT FROM (period, CASE WHEN period = 'week' THEN day ELSE 1 END) THEN
            RAISE EXCEPTION 'achievements.define_streak(): step % is a streak of % already (weeks from ISO day %)',
                            quote_literal(step), existing.period, existing.week_start
                USING ERRCODE = 'AD302',
                      HINT = 'A streak step keeps its period: name a new step for the other one.';
        END IF;
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.user_achievements AS t WHERE t.name = step AND t.count > 0)
       OR EXISTS (SELECT 1 FROM achievements.tracked_steps AS t WHERE t.step = define_streak.step AND t.mode <> 'streak') THEN
        RAISE EXCEPTION 'achievements.define_streak(): step % already counts something else (it has tallies, or track() counts it)', quote_literal(step)
            USING ERRCODE = 'AD302',
                  HINT = 'A streak step''s tally is its longest streak: give the streak a step name of its own.';
    END IF;
    INSERT INTO achievements.streak_steps (step, period, week_start)
    VALUES (step, period, CASE WHEN period = 'week' THEN day ELSE 1 END);
    RETURN true;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.set_time_zone(who achievements.user_ref, zone text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    known text := achievements_private.check_time_zone(zone, 'achievements.set_time_zone()');
    steps text[];
BEGIN
    IF achievements_private.no_user(who) THEN
        RAISE EXCEPTION 'achievements.set_time_zone(): no user' USING ERRCODE = 'AD005',
            HINT = 'Pass the user''s id, or call set_time_zone(zone) with the request''s user claim set.';
    END IF;
    IF known IS NOT DISTINCT FROM achievements_private.user_time_zone(who, now())
       AND EXISTS (SELECT 1 FROM achievements.user_time_zones AS z WHERE z.user_id = who) THEN
        RETURN known;
    END IF;
    -- The user's streak tallies are locked first (docs/locks.md), then the zone changes and the
    -- streaks are worked out again.
    SELECT array_agg(t.name ORDER BY t.name) INTO steps
      FROM achievements.user_achievements AS t
     WHERE t.user_id = who AND t.name IN (SELECT ss.step FROM achievements.streak_steps AS ss);
    IF steps IS NOT NULL THEN
        PERFORM achievements_private.lock_tallies(array_fill(who, ARRAY[cardinality(steps)]), steps);
    END IF;
    INSERT INTO achievements.user_time_zones (user_id, time_zone) VALUES (who, known)
    ON CONFLICT (user_id, valid_from) DO UPDATE SET time_zone = excluded.time_zone;
    IF steps IS NOT NULL THEN
        PERFORM achievements_private.refresh_streaks(array_fill(who, ARRAY[cardinality(steps)]), steps);
    END IF;
    RETURN known;
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.grant_streak_freezes(who achievements.user_ref, step text, n integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF achievements_private.no_user(who) THEN
        RAISE EXCEPTION 'achievements.grant_streak_freezes(): no user' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who gets the freezes.';
    END IF;
    PERFORM achievements_private.require_streak_step(step, 'achievements.grant_streak_freezes()');
    IF n IS NULL OR n < 1 THEN
        RAISE EXCEPTION 'achievements.grant_streak_freezes(): n must be 1 or more (got %)', coalesce(n::text, 'NULL')
            USING ERRCODE = 'AD302', HINT = 'Freezes are granted, never taken back: grant 1 or more.';
    END IF;
    PERFORM achievements_private.lock_tallies(ARRAY[who], ARRAY[step]);
    INSERT INTO achievements_private.streak_freezes (step, user_id, freezes) VALUES (step, who, n);
    PERFORM achievements_private.refresh_streaks(ARRAY[who], ARRAY[step]);
    RETURN (SELECT r.freezes_left FROM achievements_private.streaks(who) AS r WHERE r.step = grant_streak_freezes.step);
END
$function$;


CREATE OR REPLACE FUNCTION achievements_private.streak_now(who achievements.user_ref, period text, week_start integer, run_length integer, last_period date, freezes_left integer, OUT current integer, OUT at_risk boolean, OUT today date)
 RETURNS record
 LANGUAGE sql
 STABLE
AS $function$
    SELECT CASE WHEN x.alive THEN run_length ELSE 0 END, x.alive AND last_period < x.today, x.today
      FROM (SELECT t.today,
                   last_period IS NOT NULL
                   AND (last_period >= t.today
                        OR achievements_private.missed_periods(last_period, t.today, period, t.zone, freezes_left)
                           OPERATOR(pg_catalog.<=) freezes_left) AS alive
              FROM (SELECT z.zone, achievements_private.period_of(now(), z.zone, period, week_start) AS today
                      FROM (SELECT achievements_private.user_time_zone(who, now()) AS zone) AS z) AS t) AS x
$function$;


CREATE OR REPLACE FUNCTION achievements_private.streaks(who achievements.user_ref)
 RETURNS TABLE(step text, period text, current integer, longest integer, run_start date, last_period date, at_risk boolean, freezes_left integer, today date)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT ss.step, ss.period, n.current, coalesce(st.longest, 0),
           CASE WHEN n.current > 0 THEN st.run_start END, st.last_period, n.at_risk,
           f.granted - coalesce(st.freezes_used, 0), n.today
      FROM achievements.streak_steps AS ss
      LEFT JOIN achievements_private.streak_states AS st ON st.user_id = who AND st.step = ss.step
     CROSS JOIN LATERAL (SELECT coalesce(sum(g.freezes), 0)::int AS granted
                           FROM achievements_private.streak_freezes AS g
                          WHERE g.user_id = who AND g.step = ss.step) AS f
     CROSS JOIN LATERAL achievements_private.streak_now(who, ss.period, ss.week_start, st.run_length, st.last_period,
                                                        f.granted - coalesce(st.freezes_used, 0)) AS n
     ORDER BY ss.step
$function$;


CREATE OR REPLACE FUNCTION achievements.streak_leaderboard(step text, by text DEFAULT 'current'::text, lim integer DEFAULT 10)
 RETURNS TABLE(rank bigint, user_id achievements.user_ref, length integer)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    n  int := achievements_private.check_page_limit(lim);
    ss achievements.streak_steps;
BEGIN
    PERFORM achievements_private.require_streak_step(step, 'achievements.streak_leaderboard()');
    SELECT * INTO ss FROM achievements.streak_steps AS x WHERE x.step = streak_leaderboard.step;
    IF by = 'longest' THEN
        RETURN QUERY
            SELECT rank() OVER (ORDER BY top.longest DESC), top.user_id, top.longest
              FROM (SELECT st.user_id, st.longest FROM achievements_private.streak_states AS st
                     WHERE st.step = ss.step ORDER BY st.longest DESC, st.user_id LIMIT n) AS top
             ORDER BY top.longest DESC, top.user_id;
    ELSIF by = 'current' THEN
        RETURN QUERY
            SELECT rank() OVER (ORDER BY top.current DESC), top.user_id, top.current
              FROM (SELECT st.user_id, now_.current
                      FROM achievements_private.streak_states AS st
                     CROSS JOIN LATERAL achievements_private.streak_now(
                               st.user_id, ss.period, ss.week_start, st.run_length, st.last_period,
                               coalesce((SELECT sum(g.freezes)::int FROM achievements_private.streak_freezes AS g
                                          WHERE g.user_id = st.user_id AND g.step = st.step), 0) - st.freezes_used) AS now_
                     WHERE st.step = ss.step AND now_.current > 0
                     ORDER BY st.run_length DESC, st.user_id LIMIT n) AS top
             ORDER BY top.current DESC, top.user_id;
    ELSE
        RAISE EXCEPTION 'achievements.streak_leaderboard(): by must be ''current'' or ''longest'', not %', coalesce(quote_literal(by), 'NULL')
            USING ERRCODE = 'AD302', HINT = 'by => ''current'' ranks the streaks alive now; by => ''longest'' the longest ever.';
    END IF;
END
$function$;
COMMENT ON FUNCTION achievements.streak_leaderboard(text,text,integer) IS
    'Top lim users of a streak step by current streak (alive now) or longest streak; ties share a rank.';


CREATE OR REPLACE FUNCTION achievements_tracking.streaks(tbl regclass, user_ids achievements.user_ref[], steps text[], a_users achievements.user_ref[], a_steps text[], a_ats timestamp with time zone[], a_zones text[], a_signs integer[], recount boolean)
 RETURNS TABLE(user_id achievements.user_ref, step text, count integer)
 LANGUAGE sql
BEGIN ATOMIC
 SELECT s.user_id,
     s.step,
     s.count
    FROM achievements_private.tracking_streaks(CURRENT_USER, streaks.tbl, streaks.user_ids, streaks.steps, streaks.a_users, streaks.a_steps, streaks.a_ats, streaks.a_zones, streaks.a_signs, streaks.recount) s(user_id, step, count);
END;


CREATE OR REPLACE FUNCTION achievements.track(tbl regclass, step text, column_name text DEFAULT NULL::text, mode text DEFAULT 'count'::text, user_column text DEFAULT NULL::text, condition text DEFAULT NULL::text, previous text DEFAULT NULL::text, value text DEFAULT NULL::text, depends_on regclass DEFAULT NULL::regclass, depends_on_user_column text DEFAULT NULL::text, backfill boolean DEFAULT true, at text DEFAULT NULL::text, period text DEFAULT NULL::text, week_start text DEFAULT NULL::text, time_zone text DEFAULT NULL::text)
 RETURNS boolean
 LANGUAGE sql
RETURN achievements_private.track(tbl, step, column_name, mode, user_column, condition, previous, value, depends_on, depends_on_user_column, backfill, at, period, week_start, time_zone, CURRENT_USER);
COMMENT ON FUNCTION achievements.track(regclass,text,text,text,text,text,text,text,regclass,text,boolean,text,text,text,text) IS
    'Counts step from a table''s rows: modes count, boolean (events), toggle, toggle_boolean, sum, distinct, max (the state of the rows), streak (consecutive active days or weeks, at), with a condition, a previous condition, a value expression, depends_on. Idempotent; adopts existing rows silently. Only the table''s owner may call it.';


CREATE OR REPLACE FUNCTION achievements.define_streak(step text, period text DEFAULT 'day'::text, week_start text DEFAULT 'monday'::text)
 RETURNS boolean
 LANGUAGE sql
RETURN achievements_private.define_streak(step, period, week_start);
COMMENT ON FUNCTION achievements.define_streak(text,text,text) IS
    'Makes step a streak step of days or weeks (week_start: a day name, default monday): record_step() counts activity now, the tally is the longest streak.';


CREATE OR REPLACE FUNCTION achievements.set_time_zone(time_zone text, user_id achievements.user_ref DEFAULT achievements.current_user_id())
 RETURNS text
 LANGUAGE sql
RETURN achievements_private.set_time_zone(achievements_private.readable_user(user_id), time_zone);
COMMENT ON FUNCTION achievements.set_time_zone(text,achievements.user_ref) IS
    'Sets the IANA time zone of a user (default: the request''s user; others: service roles) from now on; streaks count days in it. Returns the zone''s name.';


CREATE OR REPLACE FUNCTION achievements.grant_streak_freezes(user_id achievements.user_ref, step text, n integer DEFAULT 1)
 RETURNS integer
 LANGUAGE sql
RETURN achievements_private.grant_streak_freezes(user_id, step, n);
COMMENT ON FUNCTION achievements.grant_streak_freezes(achievements.user_ref,text,integer) IS
    'Grants n (default 1) freezes of a streak step to a user; each covers one missed period when the user is next active. Returns the freezes left.';


CREATE OR REPLACE FUNCTION achievements.streaks(user_id achievements.user_ref DEFAULT achievements.current_user_id())
 RETURNS TABLE(step text, period text, current integer, longest integer, run_start date, last_period date, at_risk boolean, freezes_left integer, today date)
 LANGUAGE sql
 STABLE
BEGIN ATOMIC
 SELECT streaks.step,
     streaks.period,
     streaks.current,
     streaks.longest,
     streaks.run_start,
     streaks.last_period,
     streaks.at_risk,
     streaks.freezes_left,
     streaks.today
    FROM achievements_private.streaks(achievements_private.readable_user(streaks.user_id)) streaks(step, period, current, longest, run_start, last_period, at_risk, freezes_left, today);
END;
COMMENT ON FUNCTION achievements.streaks(achievements.user_ref) IS
    'The user''s streaks, one row per streak step: current (computed now, in the user''s zone), longest, run_start, last_period, at_risk, freezes_left, today.';

-- Who may call what (sql/99_finish/01_private_functions.sql, and next to each public function).
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
    achievements_private.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, text, text, text, text, name),
    achievements_private.untrack(regclass, text, name),
    achievements_private.tracking_add(name, regclass, achievements.user_ref[], text[], int[]),
    achievements_private.tracking_lock(name, regclass, achievements.user_ref[], text[]),
    achievements_private.tracking_lock_steps(name, regclass, text[]),
    achievements_private.tracking_streaks(name, regclass, achievements.user_ref[], text[], achievements.user_ref[], text[], timestamptz[], text[], int[], boolean),
    achievements_private.define_streak(text, text, text),
    achievements_private.set_time_zone(achievements.user_ref, text),
    achievements_private.grant_streak_freezes(achievements.user_ref, text, int),
    achievements_private.streaks(achievements.user_ref),
    achievements_private.qualify_catalog_tables(jsonb),
    achievements_private.apply_catalog(jsonb, boolean, name)
TO PUBLIC;
REVOKE EXECUTE ON FUNCTION achievements_tracking.streaks(regclass, achievements.user_ref[], text[], achievements.user_ref[], text[], timestamptz[], text[], int[], boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION achievements.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, text, text, text, text),
                           achievements.tracked(),
                           achievements.define_streak(text, text, text),
                           achievements.grant_streak_freezes(achievements.user_ref, text, int) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, text, text, text, text), achievements.tracked()');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.define_streak(text, text, text), achievements.grant_streak_freezes(achievements.user_ref, text, int)');

DROP FUNCTION achievements.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean);
DROP FUNCTION achievements_private.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, name);
DROP FUNCTION achievements_private.drop_counting_function(oid, boolean);

-- The tables already tracked get their counting functions generated again (the new counts of
-- recounted steps are set against their tallies by an aggregate): wire_table replaces them.
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

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0005_streaks');
