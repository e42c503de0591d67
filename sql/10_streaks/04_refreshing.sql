-- Keeping streaks in step with what happened outside the host tables' triggers: a call of
-- record_step, a time zone set, freezes granted, a table adopted or recounted.

-- The activity of streak steps `steps` in the tables that track them, read by the tables'
-- generated activity functions (as their owners): only for the users given, or for everyone
-- when `user_ids` is NULL.
CREATE FUNCTION achievements_private.host_streak_activity(user_ids achievements.user_ref[], steps text[])
RETURNS TABLE (user_id achievements.user_ref, step text, at timestamptz, time_zone text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Works the streaks of the (user, step) pairs given out again from all their activity and sets
-- their tallies to the longest streaks (add_to_tallies: badges and levels follow). Locks the
-- tallies first, in (user, step) order, creating missing ones at 0 (docs/locks.md), then reads
-- the activity, so concurrent writers are counted one after the other. Steps that are not
-- streak steps are left out. Returns each pair's tally.
CREATE FUNCTION achievements_private.refresh_streaks(user_ids achievements.user_ref[], steps text[])
RETURNS TABLE (user_id achievements.user_ref, step text, count int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Records activity of streak step `step` for `who` now (record_step on a streak step) and
-- returns the user's new tally, the longest streak. Locks the tally first (docs/locks.md); an
-- activity after the user's last active period extends the stored streak (change_streaks).
CREATE FUNCTION achievements_private.record_streak(who achievements.user_ref, step text)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Raises AD302 unless `step` is a streak step; names the function `fn`.
CREATE FUNCTION achievements_private.require_streak_step(step text, fn text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = require_streak_step.step) THEN
        RAISE EXCEPTION '%: step % is not a streak step', fn, coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD302',
                  HINT = 'Make it one with achievements.track(tbl, step, mode => ''streak'', at => ...) or achievements.define_streak(step).';
    END IF;
END
$$;
