-- The public streak calls: declaring a streak step, the user's time zone, freezes, and the reads.

-- The ISO day number (1 Monday ... 7 Sunday) of a day name of `week_start`, or AD302.
CREATE FUNCTION achievements_private.week_start_day(week_start text, fn text)
RETURNS int
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Makes `step` a streak step of days or weeks (weeks starting on `week_start`), so that
-- record_step() counts its activity and its tally is the longest streak; track(mode =>
-- 'streak') calls it. Returns true when it created the step, false when it exists with these
-- arguments. Raises AD302 for a bad period or week start, or a step that is a streak of
-- another period already, or that has tallies that are not streaks (a step recorded before).
CREATE FUNCTION achievements_private.define_streak(step text, period text, week_start text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Makes `step` a streak step (achievements_private.define_streak). Owner and service roles.
CREATE FUNCTION achievements.define_streak(step text, period text DEFAULT 'day', week_start text DEFAULT 'monday')
RETURNS boolean
LANGUAGE sql
RETURN achievements_private.define_streak(step, period, week_start);
COMMENT ON FUNCTION achievements.define_streak(text, text, text) IS
    'Makes step a streak step of days or weeks (week_start: a day name, default monday): record_step() counts activity now, the tally is the longest streak.';

-- Sets the time zone of `who` from now on (see user_time_zones) and works the user's streaks
-- out again (the first zone a user sets also dates their earlier activity). Returns the zone's
-- name as PostgreSQL spells it. Nothing changes when it is the user's zone already. Raises AD301
-- for a name that is not an IANA zone.
CREATE FUNCTION achievements_private.set_time_zone(who achievements.user_ref, zone text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Sets the time zone of a user, by default the request's user (achievements_private.set_time_zone).
-- Raises AD005 without a user, 42501 when an application role sets another user's zone, AD301
-- for a zone that is not an IANA name.
CREATE FUNCTION achievements.set_time_zone(
    time_zone text, user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS text
LANGUAGE sql
RETURN achievements_private.set_time_zone(achievements_private.readable_user(user_id), time_zone);
COMMENT ON FUNCTION achievements.set_time_zone(text, achievements.user_ref) IS
    'Sets the IANA time zone of a user (default: the request''s user; others: service roles) from now on; streaks count days in it. Returns the zone''s name.';

-- Grants `n` freezes of streak step `step` to `who` and returns the freezes the user has left.
-- A freeze covers one missed period of a streak when the user is next active, in a period that
-- ends after the grant. Locks the user's tally first (refresh_streaks). Raises AD302 for n below
-- 1 or a step that is not a streak step, AD005 without a user.
CREATE FUNCTION achievements_private.grant_streak_freezes(who achievements.user_ref, step text, n int)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Grants streak freezes (achievements_private.grant_streak_freezes). Owner and service roles.
CREATE FUNCTION achievements.grant_streak_freezes(user_id achievements.user_ref, step text, n int DEFAULT 1)
RETURNS int
LANGUAGE sql
RETURN achievements_private.grant_streak_freezes(user_id, step, n);
COMMENT ON FUNCTION achievements.grant_streak_freezes(achievements.user_ref, text, int) IS
    'Grants n (default 1) freezes of a streak step to a user; each covers one missed period when the user is next active. Returns the freezes left.';

-- The streak of one state row as of now: the current length (the latest run while it is alive:
-- its last period is today's or the one before, or the periods missed since can be covered by
-- the freezes left), whether it is at risk (alive, but nothing yet in today's period) and
-- today's period, in the user's zone now. No SET search_path, so that it inlines into the reads.
CREATE FUNCTION achievements_private.streak_now(
    who achievements.user_ref, period text, week_start int, run_length int, last_period date, freezes_left int,
    OUT current int, OUT at_risk boolean, OUT today date)
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN x.alive THEN run_length ELSE 0 END, x.alive AND last_period < x.today, x.today
      FROM (SELECT t.today,
                   last_period IS NOT NULL
                   AND (last_period >= t.today
                        OR achievements_private.missed_periods(last_period, t.today, period, t.zone, freezes_left)
                           OPERATOR(pg_catalog.<=) freezes_left) AS alive
              FROM (SELECT z.zone, achievements_private.period_of(now(), z.zone, period, week_start) AS today
                      FROM (SELECT achievements_private.user_time_zone(who, now()) AS zone) AS z) AS t) AS x
$$;

-- The streaks of `who`, one row per streak step (zeros where the user has no activity).
CREATE FUNCTION achievements_private.streaks(who achievements.user_ref)
RETURNS TABLE (step text, period text, current int, longest int, run_start date, last_period date,
               at_risk boolean, freezes_left int, today date)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- Per streak step of the user: the current streak (0 once broken: computed when read, in the
-- user's zone), the longest, when the current run started, the last active period, whether the
-- streak is at risk (alive, nothing yet today), the freezes left and today's period. Raises
-- AD005 without a user, 42501 when an application role asks about another user.
CREATE FUNCTION achievements.streaks(user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS TABLE (step text, period text, current int, longest int, run_start date, last_period date,
               at_risk boolean, freezes_left int, today date)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.streaks(achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.streaks(achievements.user_ref) IS
    'The user''s streaks, one row per streak step: current (computed now, in the user''s zone), longest, run_start, last_period, at_risk, freezes_left, today.';

-- The top `lim` users of streak step `step` by their current streak (`by` 'current', alive now)
-- or their longest ('longest'), ties sharing a rank, listed by user_id. Reads the index of that
-- length from the top; for 'current' it skips the runs that are broken by now. Raises AD302 for
-- an unknown step or `by`, AD206 for a limit outside 1..1000.
CREATE FUNCTION achievements.streak_leaderboard(step text, by text DEFAULT 'current', lim int DEFAULT 10)
RETURNS TABLE (rank bigint, user_id achievements.user_ref, length int)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION achievements.streak_leaderboard(text, text, int) IS
    'Top lim users of a streak step by current streak (alive now) or longest streak; ties share a rank.';

REVOKE EXECUTE ON FUNCTION achievements.define_streak(text, text, text),
                           achievements.grant_streak_freezes(achievements.user_ref, text, int) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.define_streak(text, text, text), achievements.grant_streak_freezes(achievements.user_ref, text, int)');
