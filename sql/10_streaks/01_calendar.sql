-- Streaks: consecutive days or weeks on which a user was active, counted in the user's own
-- calendar (docs/streaks.md). This file: each user's time zone, and the calendar arithmetic.
--
-- SQLSTATEs: AD301 a time zone that is not an IANA zone name, AD302 a bad streak argument
-- (period, week start, freezes), AD303 undo_step of a streak step.

-- The time zones of each user, each from valid_from on. An activity at time t falls in the zone
-- with the latest valid_from at or before t; before the first one, in that first zone (so the
-- zone a user sets after signing up also dates what came before, an import included); a user
-- who never set one is on UTC. Written by set_time_zone().
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

-- The zone name `zone` as PostgreSQL knows it (pg_timezone_names: IANA names, case as given
-- there), or AD301. Abbreviations and POSIX offsets ('EST', '+02') are refused: their days do
-- not follow a place's daylight saving time.
CREATE FUNCTION achievements_private.check_time_zone(zone text, fn text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- The time zone of `who` at time `at` (see user_time_zones); 'UTC' when none was set. No SET
-- search_path (every name is qualified), so that the planner inlines it into the queries that
-- date many rows.
CREATE FUNCTION achievements_private.user_time_zone(who achievements.user_ref, at timestamptz)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (SELECT z.time_zone FROM achievements.user_time_zones AS z
          WHERE z.user_id OPERATOR(pg_catalog.=) who AND z.valid_from OPERATOR(pg_catalog.<=) at
          ORDER BY z.valid_from DESC LIMIT 1),
        (SELECT z.time_zone FROM achievements.user_time_zones AS z
          WHERE z.user_id OPERATOR(pg_catalog.=) who ORDER BY z.valid_from LIMIT 1),
        'UTC')
$$;

-- Per user given who has set a zone: how many zones the user has had and the latest. Most users
-- have none (UTC) or one, so the queries that date many activities look a zone up per activity
-- only for the users who moved (activity_zone).
CREATE FUNCTION achievements_private.user_zones(user_ids achievements.user_ref[])
RETURNS TABLE (user_id achievements.user_ref, zones bigint, latest text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT z.user_id, count(*), (array_agg(z.time_zone ORDER BY z.valid_from DESC))[1]
      FROM achievements.user_time_zones AS z
     WHERE z.user_id = ANY (user_ids)
     GROUP BY z.user_id
$$;

-- The zone an activity of `who` at time `at` is dated in: the row's zone, else the user's
-- (`zones` and `latest` from user_zones, NULL for a user who set none: UTC). No SET search_path,
-- so that it inlines.
CREATE FUNCTION achievements_private.activity_zone(row_zone text, who achievements.user_ref, at timestamptz,
                                                   zones bigint, latest text)
RETURNS text
LANGUAGE sql STABLE
RETURN coalesce(row_zone, CASE WHEN zones IS NULL THEN 'UTC' WHEN zones OPERATOR(pg_catalog.=) 1 THEN latest
                               ELSE achievements_private.user_time_zone(who, at) END);

-- The first day of the period ('day' or 'week') in which time `at` falls in zone `zone`; weeks
-- start on ISO day `week_start` (1 Monday ... 7 Sunday). No SET search_path, so that the
-- planner inlines it into the queries over many rows; it names built-ins only.
CREATE FUNCTION achievements_private.period_of(at timestamptz, zone text, period text, week_start int)
RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN period = 'day' THEN (at AT TIME ZONE zone)::date
            ELSE (at AT TIME ZONE zone)::date
                 - ((extract(isodow FROM (at AT TIME ZONE zone))::int - week_start + 7) % 7) END;

-- Whether calendar day `d` exists in zone `zone`: false for the days a zone skipped when it
-- moved across the date line (Pacific/Apia skipped 2011-12-30), whose midnight and the next
-- one are the same instant.
CREATE FUNCTION achievements_private.day_exists(d date, zone text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ((d + 1)::timestamp AT TIME ZONE zone) > (d::timestamp AT TIME ZONE zone);

-- How many periods lie strictly between the periods starting `a` and `b` (a < b): whole weeks,
-- or the days of zone `zone` in between that exist there (a skipped day is not missed). Counts
-- at most `cap` + 1 (a caller asks whether it is at most `cap`), so a long absence costs no more.
CREATE FUNCTION achievements_private.missed_periods(a date, b date, period text, zone text, cap int)
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN period = 'week' THEN least((b - a) / 7 - 1, cap + 1)
            WHEN b - a <= 1 THEN 0
            ELSE (SELECT count(*)::int
                    FROM (SELECT 1 FROM generate_series(1, b - a - 1) AS g(i)
                           WHERE achievements_private.day_exists(a + g.i, zone)
                           LIMIT greatest(cap, 0) + 1) AS m) END;

-- Whether the period starting `p` directly follows the one starting `prev` (prev < p), no period
-- that exists in zone `zone` lying between them: the rule that makes two active periods one run.
-- The next day or week is answered without counting; no SET search_path, so that it inlines.
CREATE FUNCTION achievements_private.follows_period(prev date, p date, period text, zone text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN p OPERATOR(pg_catalog.-) prev OPERATOR(pg_catalog.=) CASE period WHEN 'day' THEN 1 ELSE 7 END THEN true
            ELSE achievements_private.missed_periods(prev, p, period, zone, 0) OPERATOR(pg_catalog.=) 0 END;
