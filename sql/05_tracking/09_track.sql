-- Wiring tracking onto a table: track(), untrack(), tracked(), recount().
--
-- Only a role that owns a table (or has the privileges of its owner role) may change how it is
-- counted. The public functions are SQL functions that pass their caller (current_user) to
-- their half in achievements_private, which checks it and does the work as the package owner:
-- it creates the triggers, the counting function and the row of tracked_steps, so no role
-- but the owner writes any of them.

-- Raises 42501 unless `caller` has the privileges of the owner of `tbl` (names the function
-- `fn`), and unless the package owner has them too, and USAGE on the table's schema: it
-- creates and drops the table's triggers and locks the table while it rewires it.
CREATE FUNCTION achievements_private.check_table_owner(tbl regclass, caller name, fn text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner  name;
    schema oid;
    grants text[] := '{}'::text[];
BEGIN
    SELECT pg_get_userbyid(c.relowner), c.relnamespace INTO owner, schema FROM pg_class AS c WHERE c.oid = tbl;
    IF NOT pg_has_role(caller, owner, 'USAGE') THEN
        RAISE EXCEPTION 'achievements.%(): only the owner of table % (role %) may change how it is counted; % is not', fn, tbl, owner, caller
            USING ERRCODE = '42501',
                  HINT = format('Call it as %I, or as a member of that role.', owner);
    END IF;
    IF NOT pg_has_role(owner, 'USAGE') THEN
        grants := grants || format('GRANT %I TO %I', owner, current_user);
    END IF;
    -- A member of the owner role has its USAGE too.
    IF NOT has_schema_privilege(schema, 'USAGE') AND NOT has_schema_privilege(owner, schema, 'USAGE') THEN
        grants := grants || format('GRANT USAGE ON SCHEMA %s TO %I', schema::regnamespace, current_user);
    END IF;
    IF cardinality(grants) > 0 THEN
        RAISE EXCEPTION 'achievements.%(): the owner of achievements-db, %, needs the privileges of the owner of table %, %, to wire its triggers', fn, current_user, tbl, owner
            USING ERRCODE = '42501',
                  HINT = array_to_string(grants, '; ') || ', or track tables that role owns.';
    END IF;
END
$$;


-- Sets the tallies of step `s` from its table, silently (achievements.quiet; badges and levels
-- follow as for any change): a gauge or recounted step to the recount of every user (one
-- user_steps row per user whose tally differs); a counter, when `add_rows`, gains the table's
-- qualifying rows, each counted once as if inserted (a transition, previous, gains nothing); a
-- streak step is worked out again for every user with activity or a tally (refresh_streaks).
-- The recount is the table's recount (or activity) function, run as its owner. Returns how many
-- tallies changed (for a streak step: how many users it worked out). Sees the rows committed before its statement: run it while holding a lock that
-- keeps the table's writers out (track() and recount() do).
CREATE FUNCTION achievements_private.adopt_rows(s achievements.tracked_steps, add_rows boolean)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Raises AD112 unless the expressions of step `s` (condition, previous, value, the user or its
-- expression, and the users of the table it depends on) are valid SQL over a row of their
-- table, of the right types, by planning its recount as the table's owner would run it.
CREATE FUNCTION achievements_private.check_step_expressions(s achievements.tracked_steps)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Counts `step` from table `tbl` and records it in tracked_steps, then regenerates the table's
-- trigger and recount functions and its statement-level AFTER triggers (wire_table; also the
-- table the step depends on). Modes: count, boolean (counters: events), toggle, toggle_boolean,
-- sum (gauges), distinct, max (recounted), streak (consecutive active periods of the time at,
-- in the user's zone or the row's time_zone, period 'day' or 'week' from week_start:
-- define_streak, sql/10_streaks/); see 07_step_queries.sql for what each counts with a column,
-- a condition, previous and a value. With depends_on, the step is recounted for the
-- users of the rows of that table (its column depends_on_user_column, by default the user
-- column's name) whenever they change, for a condition that reads it; with
-- depends_on_user_column '*', for every user with a tally of the step or a row that may count,
-- whenever a statement changes any row of that table (a small list the condition or value
-- reads, whose rows name no user: the quiz providers of "correct on all providers"). A gauge or recounted step
-- starts from the recount of the table; a counter counts the table's qualifying rows once,
-- unless backfill is false. Both silently (no notification), like backfill_badge. Returns true
-- when it changed something, false when `tbl` already tracks `step` with these arguments and
-- its triggers are all there (after a DROP TRIGGER by hand it recreates what is missing). Holds
-- a SHARE ROW EXCLUSIVE lock on the table (and on depends_on), so its writers wait. `caller`
-- must have the privileges of the owner of the table (and of depends_on) (42501). Serialized
-- per table by an advisory lock (docs/locks.md). Raises AD107 for bad arguments (a partitioned
-- table included), AD108 when the table tracks `step` with other arguments, AD109 when a gauge
-- step is tracked on another table too, AD102-AD104 for columns, AD112 for expressions, AD302
-- for a streak's period or week start.
-- Changes nothing on error.
CREATE FUNCTION achievements_private.track(
    tbl regclass, step text, column_name text, mode text, user_column text, condition text,
    previous text, value text, depends_on regclass, depends_on_user_column text, backfill boolean,
    at text, period text, week_start text, time_zone text, caller name)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
    IF depends_on IS NOT NULL AND depends_on_user_column IS DISTINCT FROM '*' THEN
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
$$;

-- Counts `step` from table `tbl` with statement-level triggers (achievements_private.track, as
-- the calling role). See docs/tracking.md for the modes and the named arguments.
CREATE FUNCTION achievements.track(
    tbl regclass, step text, column_name text DEFAULT NULL, mode text DEFAULT 'count',
    user_column text DEFAULT NULL, condition text DEFAULT NULL, previous text DEFAULT NULL,
    value text DEFAULT NULL, depends_on regclass DEFAULT NULL, depends_on_user_column text DEFAULT NULL,
    backfill boolean DEFAULT true, at text DEFAULT NULL, period text DEFAULT NULL, week_start text DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS boolean
LANGUAGE sql
RETURN achievements_private.track(tbl, step, column_name, mode, user_column, condition, previous, value,
                                  depends_on, depends_on_user_column, backfill, at, period, week_start, time_zone,
                                  current_user);
COMMENT ON FUNCTION achievements.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, text, text, text, text) IS
    'Counts step from a table''s rows: modes count, boolean (events), toggle, toggle_boolean, sum, distinct, max (the state of the rows), streak (consecutive active days or weeks, at), with a condition, a previous condition, a value expression, depends_on. Idempotent; adopts existing rows silently. Only the table''s owner may call it.';

-- Stops counting `step` from `tbl`: removes its row in tracked_steps and regenerates the
-- generated functions and triggers of the table (wire_table: all of them go with the table's
-- last step) and of the table the step depended on; the tallies stay as they are. Returns false
-- (and changes nothing) when `tbl` does not track `step`. `caller` must have the privileges of
-- the table's owner (42501). Also forgets the rows of tables dropped since. Serialized with
-- track() by the same per-table advisory lock.
CREATE FUNCTION achievements_private.untrack(tbl regclass, step text, caller name)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    dependency regclass;
BEGIN
    -- Every name is quoted (regclass):
    -- @plpgsql_check_options: security_warnings = false
    IF tbl IS NULL THEN
        RETURN false;
    END IF;
    PERFORM achievements_private.check_table_owner(tbl, caller, 'untrack');
    PERFORM pg_advisory_xact_lock(1633838661, hashtext(tbl::oid::text));
    PERFORM achievements_private.forget_dropped_tables();
    IF NOT EXISTS (SELECT 1 FROM achievements.tracked_steps AS t WHERE t.tbl = untrack.tbl AND t.step = untrack.step) THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    DELETE FROM achievements.tracked_steps AS t WHERE t.tbl = untrack.tbl AND t.step = untrack.step
    RETURNING t.depends_on INTO dependency;
    PERFORM achievements_private.wire_table(tbl);
    IF dependency IS NOT NULL AND EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = dependency) THEN
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', dependency);
        PERFORM achievements_private.wire_table(dependency);
    END IF;
    RETURN true;
END
$$;

-- Removes what track() created for a table and step (achievements_private.untrack, as the
-- calling role); the tallies stay.
CREATE FUNCTION achievements.untrack(tbl regclass, step text)
RETURNS boolean
LANGUAGE sql
RETURN achievements_private.untrack(tbl, step, current_user);
COMMENT ON FUNCTION achievements.untrack(regclass, text) IS
    'Removes what track() created for a table and step; tallies stay. Returns false when it was not tracked. Only the table''s owner may call it.';

-- What track() has wired, by table and step (tables dropped since are left out).
CREATE FUNCTION achievements.tracked()
RETURNS TABLE (tbl regclass, step text, column_name text, mode text, user_column text, condition text,
               previous text, value text, depends_on regclass, depends_on_user_column text,
               created_at timestamptz, at text, time_zone text, period text, week_start int)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION achievements.tracked() IS
    'Lists what achievements.track() wired: table, step, column, mode, user column, condition, previous, value, depends_on, when, and a streak''s at, time_zone, period, week_start.';

-- Sets a gauge or recounted step that track() keeps (any mode but count and boolean) back to the
-- recount of its table, silently (no notification; badges and levels follow as for any change),
-- and returns how many tallies it changed. For a gauge that drifted, e.g. by an undo_step from
-- before it was tracked, or rows written while its triggers were disabled. Takes a SHARE lock
-- on the table, so writers wait for it. Raises AD111 when `step` is not such a step.
CREATE FUNCTION achievements.recount(step text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    t achievements.tracked_steps;
BEGIN
    -- The table's name comes from regclass, which quotes it:
    -- @plpgsql_check_options: security_warnings = false
    SELECT * INTO t FROM achievements.tracked_steps AS x
     WHERE x.step = recount.step AND x.mode NOT IN ('count', 'boolean')
       AND EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = x.tbl);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'achievements.recount(): step % is not a gauge kept by achievements.track()', coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD111',
                  HINT = 'Gauges are the steps of SELECT step FROM achievements.tracked() WHERE mode NOT IN (''count'', ''boolean'').';
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE MODE', t.tbl);
    IF t.depends_on IS NOT NULL THEN
        EXECUTE format('LOCK TABLE %s IN SHARE MODE', t.depends_on);
    END IF;
    RETURN achievements_private.adopt_rows(t, false);
END
$$;
COMMENT ON FUNCTION achievements.recount(text) IS
    'Sets a gauge of track() back to the recount of its table, silently; returns how many tallies changed.';

REVOKE EXECUTE ON FUNCTION achievements.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, text, text, text, text),
                           achievements.untrack(regclass, text),
                           achievements.tracked(),
                           achievements.recount(text) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, text, text, text, text), achievements.untrack(regclass, text), achievements.tracked(), achievements.recount(text)');
