-- Leaderboards of a step over calendar periods ("most songs this week") and over all time
-- ("most correct answers ever"): per declared step and period (day, week, month in a time zone,
-- or all), a counter per user and period of the steps logged in it, kept in step with the log by
-- add_to_tallies and the user_steps trigger, so that the top of a period is the top of an
-- index, whatever the number of users.

-- The declared leaderboards: a step counted per period. Declaring one fills its counters from
-- the log (fill_step_periods); steps logged from then on are counted as they are logged.
CREATE TABLE achievements.step_leaderboards (
    step       text NOT NULL CONSTRAINT step_leaderboards_step_of_1_to_200_characters
                   CHECK (char_length(step) BETWEEN 1 AND 200),
    period     text NOT NULL CONSTRAINT step_leaderboards_period_known CHECK (period IN ('day', 'week', 'month', 'all')),
    time_zone  text NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (step, period)
);
COMMENT ON TABLE achievements.step_leaderboards IS
    'Steps counted per calendar period (day, week, month, starting in time_zone) or over all time (all) for achievements.step_leaderboard(). Declare them with apply_catalog ([leaderboards]).';
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.step_leaderboards');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.step_leaderboards');

-- Per declared leaderboard, user and period (starts: its first moment, in the leaderboard's
-- time zone, period_start(); '-infinity' for all time): the sum of the user's log rows of the
-- step created in it (undos included).
CREATE TABLE achievements_private.step_period_counts (
    step    text NOT NULL,
    period  text NOT NULL,
    starts  timestamp NOT NULL,
    user_id achievements.user_ref NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (step, period, starts, user_id),
    FOREIGN KEY (step, period) REFERENCES achievements.step_leaderboards (step, period)
        ON DELETE CASCADE ON UPDATE CASCADE
);
COMMENT ON TABLE achievements_private.step_period_counts IS
    'Steps per user and period (calendar period, or all time) of each declared leaderboard (step_leaderboards): the sum of the log rows created in the period.';
-- step_leaderboard() reads the top of a period from this index.
CREATE INDEX step_period_counts_rank_idx
    ON achievements_private.step_period_counts (step, period, starts, count DESC, user_id);

-- The first moment, on the wall clock of time zone `zone`, of the leaderboard period that
-- contains `at`: its day, week (from Monday) or month; '-infinity' for 'all' (all time is one
-- period, so its counters are one row per user). The one rule of count_in_periods,
-- fill_step_periods and step_leaderboard; no SET search_path, so that it inlines.
CREATE FUNCTION achievements_private.period_start(period text, at timestamptz, zone text)
RETURNS timestamp
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN period OPERATOR(pg_catalog.=) 'all' THEN '-infinity'::pg_catalog.timestamp
            ELSE pg_catalog.date_trunc(period, pg_catalog.timezone(zone, at)) END;

-- Adds log rows (user, step, count, created at: one element each) to the counters of the
-- declared leaderboards of their steps, grouped per counter, in key order. Called only while the
-- rows' tallies are locked (add_to_tallies, tally_new_steps): every writer of a counter holds
-- the tally of its user and step first, so no writer ever waits for a counter.
CREATE FUNCTION achievements_private.count_in_periods(
    user_ids achievements.user_ref[], names text[], counts int[], created timestamptz[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    INSERT INTO achievements_private.step_period_counts AS c (step, period, starts, user_id, count)
    SELECT l.step, l.period, achievements_private.period_start(l.period, x.at, l.time_zone), x.user_id, sum(x.count)
      FROM unnest(user_ids, names, counts, created) AS x(user_id, name, count, at)
      JOIN achievements.step_leaderboards AS l ON l.step = x.name
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (step, period, starts, user_id) DO UPDATE SET count = c.count + excluded.count;
END
$$;

-- A declared leaderboard (a new row of step_leaderboards, or one whose step, period or time zone
-- changed) fills
-- its counters from the log. It first takes a SHARE lock on the log (achievements.user_steps
-- and its child), which waits for the writes in flight and holds new ones until commit, so the
-- counters equal the log: declare leaderboards in a transaction of their own (docs/locks.md).
-- Raises AD210 for a time zone PostgreSQL does not know, and under REPEATABLE READ or
-- SERIALIZABLE (whose snapshot may miss what the lock waited for).
CREATE FUNCTION achievements_private.fill_step_periods()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

CREATE TRIGGER _100_fill_step_periods
    AFTER INSERT OR UPDATE ON achievements.step_leaderboards
    FOR EACH ROW EXECUTE FUNCTION achievements_private.fill_step_periods();

-- Public: the top `lim` users of `step` in the `period` (day, week, month) that contains `at`
-- (default now), or of all time (period 'all': `at` is ignored), by steps logged in it (undos
-- included; a recounted gauge's log rows are its changes, so 'all' is the gauge now), ties
-- sharing a rank (1, 2, 2, 4), listed by user_id; users with more than 0 only. Reads the top
-- of an index. Raises AD210 for a period other than day, week, month and all, and when the
-- step has no leaderboard by that period (declare it: [leaderboards] of the catalog), AD206 for
-- a limit outside 1..1000.
CREATE FUNCTION achievements.step_leaderboard(
    step text, period text DEFAULT 'week', lim int DEFAULT 10, at timestamptz DEFAULT now())
RETURNS TABLE (rank bigint, user_id achievements.user_ref, count bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION achievements.step_leaderboard(text, text, int, timestamptz) IS
    'Top lim users of a step in the day, week or month containing at (default now), or of all time (period all, at ignored), by steps logged in it; ties share a rank. Needs a declared leaderboard (step_leaderboards).';
