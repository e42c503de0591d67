-- Working out streaks from activity. A period (a day or a week of the user's calendar) is
-- active when the user has at least one activity in it: a qualifying row of the step's table,
-- or a call of record_step. Two active periods are consecutive when no period that exists lies
-- between them; a run is a sequence of consecutive active periods, its length the number of
-- active periods in it. A missed period may be covered by a freeze (streak_freezes), which keeps
-- the run going without adding to its length.

-- The active periods of the (user, step) pairs given that are streak steps, from the host
-- activity given (user, step, time, and a zone from the row or NULL for the user's) and the
-- calls of record_step; with each, the user's zone today (for the days a zone skipped). Only
-- the pairs that have freezes (`with_freezes`), or only those that have none.
CREATE FUNCTION achievements_private.streak_periods(
    user_ids achievements.user_ref[], steps text[], a_users achievements.user_ref[], a_steps text[],
    a_ats timestamptz[], a_zones text[], with_freezes boolean)
RETURNS TABLE (user_id achievements.user_ref, step text, p date, period text, zone text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Stores the streaks of the (user, step) pairs given, worked out from the host activity given
-- (see streak_periods) and the calls of record_step, and returns for each pair that is a streak
-- step its longest streak, the tally it must have (0 without activity; its state row then goes).
-- Pairs without freezes are worked out set-based (gaps and islands); pairs with freezes period
-- by period, a freeze covering a missed period when it was granted before the end of the period
-- that follows the gap. The caller holds the locks of the pairs' tallies (docs/locks.md).
CREATE FUNCTION achievements_private.store_streaks(
    user_ids achievements.user_ref[], steps text[], a_users achievements.user_ref[], a_steps text[],
    a_ats timestamptz[], a_zones text[])
RETURNS TABLE (user_id achievements.user_ref, step text, count int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Applies a change of activity to the streaks of the (user, step) pairs given, and returns the
-- longest streak of each pair that is a streak step (the tally it must have). The change is the
-- activity a statement or call adds (sign 1) and takes away (sign -1), each with its user, step,
-- time and row zone. A pair that only gains activity in or after its last active period and has
-- no freezes (today's logins: the common case) is extended from its stored state, set-based,
-- reading none of its earlier activity. Every other pair that changed (a deleted or moved row, a late
-- row, freezes), and with `recount` every pair, is worked out again from all of its activity
-- (host_streak_activity, store_streaks). The caller holds the locks of the pairs' tallies.
CREATE FUNCTION achievements_private.change_streaks(
    user_ids achievements.user_ref[], steps text[], a_users achievements.user_ref[], a_steps text[],
    a_ats timestamptz[], a_zones text[], a_signs int[], recount boolean)
RETURNS TABLE (user_id achievements.user_ref, step text, count int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;
