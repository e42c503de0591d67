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

-- Sets every user's tally of the gauge `step` to the number of the user's rows of `tbl` that
-- count (one user_steps row per user whose tally differs); returns how many tallies changed.
-- Sees the rows committed before its statement: run it while holding a lock that keeps the
-- table's writers out (track() holds the trigger lock; recount() takes a SHARE lock).
CREATE FUNCTION achievements_private.recount_gauge(
    tbl regclass, step text, mode text, column_name text, user_column text, user_cast text)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed int;
BEGIN
    -- Every name in the SQL it runs is quoted (%I, regclass, row_user_sql); it writes only
    -- through EXECUTE, which the check does not count as a write:
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
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
        achievements_private.row_user_sql(user_cast, 'r', user_column),
        tbl,
        format(CASE WHEN mode = 'toggle_boolean' THEN '%s IS TRUE' ELSE '%s IS NOT NULL' END,
               format('r.%I', column_name)))
    USING step;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END
$$;

-- Counts `step` from table `tbl` in `mode` (count, toggle, boolean, toggle_boolean): records it
-- in tracked_steps and regenerates the table's counting function and its statement-level AFTER
-- triggers (wire_table: one function and one trigger per event for all of the table's steps),
-- which count exactly as the public tg_achievement* functions do. Returns true when it changed
-- something, false when `tbl` already tracks `step` with these arguments and its triggers are
-- all there (after a DROP TRIGGER by hand it recreates what is missing). For a gauge it first
-- sets every user's tally of `step` to the recount of the table, so the gauge equals a recount
-- from the start. Holds a SHARE ROW EXCLUSIVE lock on the table, so its writers wait.
-- `caller` must have the privileges of the table's owner (42501). Serialized per table by an
-- advisory lock (docs/locks.md). Raises AD107 for a bad mode, step or table (a partitioned
-- table included), AD108 when the table tracks `step` with other arguments, AD109 when a gauge
-- step is tracked on another table too, and AD102-AD104 for columns (check_tracking_arguments).
-- Changes nothing on error.
CREATE FUNCTION achievements_private.track(
    tbl regclass, step text, column_name text, mode text, user_column text, caller name)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    gauge    boolean;
    w        record;
    existing achievements.tracked_steps;
    other    achievements.tracked_steps;
    missing  boolean;
    kind     "char";
BEGIN
    -- Every name in the SQL it runs is quoted (%I, regclass, row_user_sql):
    -- @plpgsql_check_options: security_warnings = false
    IF tbl IS NULL OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 OR column_name IS NULL THEN
        RAISE EXCEPTION 'achievements.track(): a table, a step of 1 to 200 characters and a column are required (got %, %, %)',
                        coalesce(tbl::text, 'NULL'),
                        coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL'),
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
    IF kind = 'p' THEN
        RAISE EXCEPTION 'achievements.track(): % is partitioned: writes addressed to one of its partitions, and TRUNCATE of one, do not fire the statement-level triggers of track() on it, so its counts could drift', tbl
            USING ERRCODE = 'AD107',
                  HINT = 'Count it with row-level triggers on it, which PostgreSQL copies to every partition, present and future: docs/tracking.md, "Partitioned tables", shows how and what they see.';
    END IF;
    IF kind IS DISTINCT FROM 'r' THEN
        RAISE EXCEPTION 'achievements.track(): % is not a table', tbl
            USING ERRCODE = 'AD107',
                  HINT = 'Track the table the view or foreign table reads from.';
    END IF;
    IF gauge AND user_column IS NULL THEN
        RAISE EXCEPTION 'achievements.track(): mode % on table % needs a user column', mode, tbl
            USING ERRCODE = 'AD107',
                  HINT = 'A gauge counts each user''s rows, so it must know whose each row is: pass user_column, e.g. achievements.track(tbl, step, column, mode, ''user_id'').';
    END IF;
    PERFORM achievements_private.check_table_owner(tbl, caller, 'track');
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

    SELECT bool_or(NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = t.trigger_name))
      INTO missing
      FROM achievements_private.tracking_triggers(gauge OR EXISTS (
               SELECT 1 FROM achievements.tracked_steps AS x
                WHERE x.tbl = track.tbl AND x.mode IN ('toggle', 'toggle_boolean'))) AS t;
    IF existing.tbl IS NOT NULL AND NOT missing THEN
        RETURN false;
    END IF;

    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    IF existing.tbl IS NULL THEN
        INSERT INTO achievements.tracked_steps (tbl, step, column_name, mode, user_column)
        VALUES (tbl, step, column_name, mode, user_column);
    END IF;
    PERFORM achievements_private.wire_table(tbl);
    IF gauge THEN
        -- The lock keeps writers out until commit, and the recount sees every row committed
        -- before it (after a repair too: the rows written while a trigger was missing).
        PERFORM achievements_private.recount_gauge(tbl, step, mode, column_name, user_column, w.user_cast);
    END IF;
    RETURN true;
END
$$;

-- Counts `step` from table `tbl` with statement-level triggers (achievements_private.track, as
-- the calling role). Modes: count (default), toggle, boolean, toggle_boolean.
CREATE FUNCTION achievements.track(
    tbl regclass, step text, column_name text, mode text DEFAULT 'count', user_column text DEFAULT NULL)
RETURNS boolean
LANGUAGE sql
RETURN achievements_private.track(tbl, step, column_name, mode, user_column, current_user);
COMMENT ON FUNCTION achievements.track(regclass, text, text, text, text) IS
    'Counts step from a table with statement-level triggers: mode count (default), toggle, boolean or toggle_boolean. Idempotent; gauges start from a recount. Only the table''s owner may call it.';

-- Stops counting `step` from `tbl`: removes its row in tracked_steps and regenerates the table's
-- counting function and triggers (wire_table: all of them go with the table's last step); the
-- tallies stay as they are. Returns false (and changes nothing) when `tbl` does not track
-- `step`. `caller` must have the privileges of the table's owner (42501). Also forgets the rows
-- of tables dropped since. Serialized with track() by the same per-table advisory lock.
CREATE FUNCTION achievements_private.untrack(tbl regclass, step text, caller name)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
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
    DELETE FROM achievements.tracked_steps AS t WHERE t.tbl = untrack.tbl AND t.step = untrack.step;
    PERFORM achievements_private.wire_table(tbl);
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
RETURNS TABLE (tbl regclass, step text, column_name text, mode text, user_column text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tbl, t.step, t.column_name, t.mode, t.user_column, t.created_at
      FROM achievements.tracked_steps AS t
     WHERE EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
     ORDER BY t.tbl::text, t.step;
$$;
COMMENT ON FUNCTION achievements.tracked() IS
    'Lists what achievements.track() wired: table, step, column, mode, user column, when.';

-- Sets the gauge `step` that track() keeps (mode toggle or toggle_boolean) back to the recount of
-- its table, silently (no notification; badges and levels follow as for any change), and
-- returns how many tallies it changed. For a gauge that drifted, e.g. by an undo_step from
-- before it was tracked. Takes a SHARE lock on the table, so writers wait for it. Raises AD111
-- when `step` is not a gauge of track().
CREATE FUNCTION achievements.recount(step text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    t       achievements.tracked_steps;
    w       record;
    before  text;
    changed int;
BEGIN
    -- The table's name comes from regclass, which quotes it:
    -- @plpgsql_check_options: security_warnings = false
    SELECT * INTO t FROM achievements.tracked_steps AS x
     WHERE x.step = recount.step AND x.mode IN ('toggle', 'toggle_boolean')
       AND EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = x.tbl);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'achievements.recount(): step % is not a gauge kept by achievements.track()', coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD111',
                  HINT = 'Gauges are the steps of SELECT step FROM achievements.tracked() WHERE mode IN (''toggle'', ''toggle_boolean'').';
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE MODE', t.tbl);
    w := achievements_private.check_tracking_arguments(
        t.mode, t.tbl, ARRAY[t.column_name, t.step, t.user_column], format('achievements.recount() of table %s', t.tbl));
    before := achievements_private.set_quiet('on');
    changed := achievements_private.recount_gauge(t.tbl, t.step, t.mode, t.column_name, t.user_column, w.user_cast);
    PERFORM achievements_private.set_quiet(before);
    RETURN changed;
END
$$;
COMMENT ON FUNCTION achievements.recount(text) IS
    'Sets a gauge of track() back to the recount of its table, silently; returns how many tallies changed.';

REVOKE EXECUTE ON FUNCTION achievements.track(regclass, text, text, text, text),
                           achievements.untrack(regclass, text),
                           achievements.tracked(),
                           achievements.recount(text) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.track(regclass, text, text, text, text), achievements.untrack(regclass, text), achievements.tracked(), achievements.recount(text)');
