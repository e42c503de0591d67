-- Reads of badges: progress toward each badge, a user's badges page by page, points, the
-- leaderboard and ranks, per-badge statistics. Each read touches only the rows it returns (plus
-- the catalog): the leaderboard reads the top of an index, a rank sums the points histogram,
-- statistics sum the holder counters. None counts all users.
--
-- Row level security: a user reads their own progress, badges, points and rank (others raise
-- 42501, as in steps_required); others' public data only through leaderboard, badge_stats and
-- public_badges, which return nothing private.

-- Raises AD206 unless 1 <= lim <= 1000.
CREATE FUNCTION achievements_private.check_page_limit(lim int)
RETURNS int
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF lim IS NULL OR lim < 1 OR lim > 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000 (got %)', coalesce(lim::text, 'NULL')
            USING ERRCODE = 'AD206', HINT = 'Ask for at most 1000 rows at a time and page on.';
    END IF;
    RETURN lim;
END
$$;

-- One row per badge for `who`, for a progress screen: current/target ("5/10 songs"), earned_at
-- when held. Threshold badges: the tally (capped at the threshold) out of the threshold. Level
-- badges: the requirements met out of the requirements of the level (min_points counting as
-- one). Badges about badges: the badges that count held out of min_badges, or out of all of
-- them (all_badges), or their points out of min_points. Badges without criteria: 0 or 1 out
-- of 1. A badge held counts as complete. Hidden badges appear only once earned. Ordered by
-- category, step, threshold, level, code.
CREATE FUNCTION achievements_private.badge_progress(who achievements.user_ref)
RETURNS TABLE (code text, name text, current int, target int, earned_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH held AS (
        SELECT ub.badge, ub.earned_at FROM achievements.user_badges AS ub WHERE ub.user_id = who
    ), tallies AS (
        SELECT t.name, t.count FROM achievements.user_achievements AS t WHERE t.user_id = who
    ), mine AS (
        SELECT coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0) AS points
    ), levels AS (
        SELECT l.name AS level,
               (SELECT count(*) FROM achievements.level_requirements AS r WHERE r.level = l.name)::int
               + CASE WHEN l.min_points IS NOT NULL THEN 1 ELSE 0 END AS requirements,
               (SELECT count(*) FROM achievements.level_requirements AS r LEFT JOIN tallies AS t ON t.name = r.name
                 WHERE r.level = l.name AND coalesce(t.count, 0) >= r.required_count)::int
               + CASE WHEN l.min_points <= m.points THEN 1 ELSE 0 END AS met,
               EXISTS (SELECT 1 FROM achievements.user_levels AS ul
                        WHERE ul.user_id = who AND ul.level = l.name) AS reached
          FROM achievements.levels AS l CROSS JOIN mine AS m
         WHERE l.name IN (SELECT b.level FROM achievements.badges AS b WHERE b.level IS NOT NULL)
    ), counted AS (
        -- The badges held that badges about badges count.
        SELECT o.category, o.points
          FROM held AS h JOIN achievements.badges AS o ON o.code = h.badge
         WHERE o.min_badges IS NULL AND NOT o.all_badges AND o.min_points IS NULL
    ), progress AS (
        SELECT b.*, h.earned_at AS held_at,
               CASE WHEN b.step IS NOT NULL THEN b.threshold
                    WHEN b.level IS NOT NULL THEN greatest(coalesce(l.requirements, 0), 1)
                    WHEN b.min_badges IS NOT NULL THEN b.min_badges
                    WHEN b.min_points IS NOT NULL THEN b.min_points
                    WHEN b.all_badges THEN
                         greatest((SELECT count(*) FROM achievements.badges AS o
                                    WHERE o.min_badges IS NULL AND NOT o.all_badges AND o.min_points IS NULL
                                      AND (b.badge_category IS NULL OR o.category = b.badge_category))::int, 1)
                    ELSE 1 END AS goal,
               CASE WHEN b.step IS NOT NULL THEN least(coalesce(t.count, 0), b.threshold)
                    WHEN b.level IS NOT NULL THEN
                         CASE WHEN l.reached THEN greatest(coalesce(l.requirements, 0), 1) ELSE coalesce(l.met, 0) END
                    WHEN b.min_points IS NOT NULL THEN
                         least((SELECT coalesce(sum(c.points), 0) FROM counted AS c), b.min_points)::int
                    WHEN b.min_badges IS NOT NULL OR b.all_badges THEN
                         (SELECT count(*) FROM counted AS c
                           WHERE b.badge_category IS NULL OR c.category = b.badge_category)::int
                    ELSE 0 END AS done
          FROM achievements.badges AS b
          LEFT JOIN held AS h ON h.badge = b.code
          LEFT JOIN tallies AS t ON t.name = b.step
          LEFT JOIN levels AS l ON l.level = b.level
         WHERE NOT b.hidden OR h.earned_at IS NOT NULL
    )
    SELECT p.code, p.name, CASE WHEN p.held_at IS NOT NULL THEN p.goal ELSE least(p.done, p.goal) END, p.goal, p.held_at
      FROM progress AS p
     ORDER BY p.category NULLS LAST, p.step NULLS LAST, p.threshold NULLS LAST, p.level NULLS LAST, p.code;
END
$$;

-- The user's progress toward every badge they can see (achievements_private.badge_progress).
-- Raises AD005 without a user, 42501 when an application role asks about another user.
CREATE FUNCTION achievements.badge_progress(
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS TABLE (code text, name text, current int, target int, earned_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.badge_progress(achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.badge_progress(achievements.user_ref) IS
    'One row per badge: code, name, current, target ("5/10"), earned_at when held. Hidden badges only once earned.';

-- `who`'s badges, newest first, `lim` at a time (keyset pagination): `after` is the code of the
-- last badge of the previous page. Raises AD206 for a limit outside 1..1000 or an `after` the
-- user does not hold.
CREATE FUNCTION achievements_private.user_badges_page(who achievements.user_ref, after text, lim int)
RETURNS TABLE (badge text, name text, description text, icon text, category text, points int,
               rarity text, earned_at timestamptz, is_public boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n        int := achievements_private.check_page_limit(lim);
    after_at timestamptz;
BEGIN
    IF after IS NOT NULL THEN
        SELECT ub.earned_at INTO after_at
          FROM achievements.user_badges AS ub WHERE ub.user_id = who AND ub.badge = after;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'after: the user holds no badge %', quote_literal(after)
                USING ERRCODE = 'AD206',
                      HINT = 'Pass the code of the last badge of the previous page, or NULL for the first page.';
        END IF;
    END IF;
    RETURN QUERY
        SELECT ub.badge, b.name, b.description, b.icon, b.category, b.points, b.rarity, ub.earned_at, ub.is_public
          FROM achievements.user_badges AS ub
          JOIN achievements.badges AS b ON b.code = ub.badge
         WHERE ub.user_id = who
           AND (after IS NULL OR ub.earned_at < after_at OR (ub.earned_at = after_at AND ub.badge > after))
         ORDER BY ub.earned_at DESC, ub.badge
         LIMIT n;
END
$$;

-- The user's badges, newest first, `lim` at a time (keyset pagination): pass the code of the
-- last badge of a page as `after` to get the next page. Raises AD005 without a user, 42501 for
-- another user, AD206 for a limit outside 1..1000 or an `after` the user does not hold.
CREATE FUNCTION achievements.user_badges_page(
    user_id achievements.user_ref DEFAULT achievements.current_user_id(),
    after text DEFAULT NULL,
    lim int DEFAULT 20)
RETURNS TABLE (badge text, name text, description text, icon text, category text, points int,
               rarity text, earned_at timestamptz, is_public boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.user_badges_page(achievements_private.readable_user(user_id), after, lim);
END;
COMMENT ON FUNCTION achievements.user_badges_page(achievements.user_ref, text, int) IS
    'The user''s badges newest first, lim (default 20) at a time; after = code of the last badge of the previous page.';

-- The sum of the points of the badges `who` holds (0 without badges). One index lookup.
CREATE FUNCTION achievements_private.user_points(who achievements.user_ref)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0);

-- The sum of the points of the badges the user holds (0 without badges). Raises AD005 without a
-- user, 42501 when an application role asks about another user.
CREATE FUNCTION achievements.user_points(
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS bigint
LANGUAGE sql STABLE
RETURN achievements_private.user_points(achievements_private.readable_user(user_id));
COMMENT ON FUNCTION achievements.user_points(achievements.user_ref) IS
    'Points of the badges the user holds (0 without badges).';

-- Public: the top `lim` users by points (users holding at least one badge), ties sharing a
-- rank (1, 2, 2, 4), ties listed by user_id. Without `since`: reads the top of the
-- user_scores index. With `since`: only badges earned at or after `since` (and still held)
-- count; this aggregates the badges earned in the window, so its cost grows with the window.
-- Raises AD206 for a limit outside 1..1000.
CREATE FUNCTION achievements.leaderboard(lim int DEFAULT 10, since timestamptz DEFAULT NULL)
RETURNS TABLE (rank bigint, user_id achievements.user_ref, points bigint, badges int)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n int := achievements_private.check_page_limit(lim);
BEGIN
    IF since IS NULL THEN
        RETURN QUERY
            SELECT rank() OVER (ORDER BY top.points DESC), top.user_id, top.points, top.badges
              FROM (SELECT s.user_id, s.points, s.badges
                      FROM achievements.user_scores AS s
                     WHERE s.badges > 0
                     ORDER BY s.points DESC, s.user_id
                     LIMIT n) AS top
             ORDER BY top.points DESC, top.user_id;
    ELSE
        RETURN QUERY
            SELECT rank() OVER (ORDER BY w.points DESC), w.user_id, w.points, w.badges
              FROM (SELECT ub.user_id, sum(b.points)::bigint AS points, count(*)::int AS badges
                      FROM achievements.user_badges AS ub
                      JOIN achievements.badges AS b ON b.code = ub.badge
                     WHERE ub.earned_at >= since
                     GROUP BY ub.user_id) AS w
             ORDER BY w.points DESC, w.user_id
             LIMIT n;
    END IF;
END
$$;
COMMENT ON FUNCTION achievements.leaderboard(int, timestamptz) IS
    'Top lim users by points (ties share a rank); with since, only badges earned since then count.';

-- `who`'s rank as in leaderboard(): 1 + the number of users with more points (so users without
-- points share the last rank). All time: a sum over the points histogram, never the users
-- above. Since a time: over the badges earned since then.
CREATE FUNCTION achievements_private.user_rank(who achievements.user_ref, since timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mine bigint;
BEGIN
    IF since IS NULL THEN
        mine := achievements_private.user_points(who);
        RETURN 1 + (SELECT coalesce(sum(h.users), 0)::bigint
                      FROM achievements_private.points_histogram AS h WHERE h.points > mine);
    END IF;
    SELECT coalesce(sum(b.points), 0) INTO mine
      FROM achievements.user_badges AS ub
      JOIN achievements.badges AS b ON b.code = ub.badge
     WHERE ub.user_id = who AND ub.earned_at >= since;
    RETURN 1 + (SELECT count(*)
                  FROM (SELECT 1
                          FROM achievements.user_badges AS ub
                          JOIN achievements.badges AS b ON b.code = ub.badge
                         WHERE ub.earned_at >= since
                         GROUP BY ub.user_id
                        HAVING sum(b.points) > mine) AS above);
END
$$;

-- The user's rank as in leaderboard(): 1 + the number of users with more points (since a time:
-- points of badges earned since then). Raises AD005 without a user, 42501 when an application
-- role asks about another user.
CREATE FUNCTION achievements.user_rank(
    user_id achievements.user_ref DEFAULT achievements.current_user_id(),
    since timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql STABLE
RETURN achievements_private.user_rank(achievements_private.readable_user(user_id), since);
COMMENT ON FUNCTION achievements.user_rank(achievements.user_ref, timestamptz) IS
    'The user''s leaderboard rank: 1 + users with more points (since a time: points of badges earned since then).';

-- Holders per badge (sums of the counter rows), in one scan: badge_stats reads it.
CREATE FUNCTION achievements_private.badge_holder_counts()
RETURNS TABLE (badge text, holders bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.badge, sum(h.holders)::bigint FROM achievements_private.badge_holders AS h GROUP BY h.badge;
$$;

-- Users with any tally or a badge awarded by call (sum of the counter rows): badge_stats reads it.
CREATE FUNCTION achievements_private.known_user_total()
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(sum(c.users), 0)::bigint FROM achievements_private.known_user_count AS c);

-- Per badge the caller can see: its holders and their share of all users with any tally.
-- Reads counters kept by triggers, never counts users. security_invoker: the badges row level
-- security applies, so hidden badges appear only to those who hold them (and service roles).
CREATE VIEW achievements.badge_stats WITH (security_invoker = true) AS
SELECT b.code,
       coalesce(h.holders, 0) AS holders,
       CASE WHEN u.users > 0 THEN coalesce(h.holders, 0)::double precision / u.users ELSE 0 END AS share
  FROM achievements.badges AS b
  LEFT JOIN achievements_private.badge_holder_counts() AS h ON h.badge = b.code
 CROSS JOIN (SELECT achievements_private.known_user_total() AS users) AS u;
COMMENT ON VIEW achievements.badge_stats IS
    'Per badge: holders, and share (0 to 1) of all users with any tally. Kept incrementally; hidden badges only for their holders.';

-- Public: the badges a user shows to others (is_public), newest first. A hidden badge is
-- listed only to viewers who hold it too, so that it stays a secret to the others.
CREATE FUNCTION achievements.public_badges(user_id achievements.user_ref)
RETURNS TABLE (badge text, name text, icon text, category text, points int, rarity text, earned_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ub.badge, b.name, b.icon, b.category, b.points, b.rarity, ub.earned_at
      FROM achievements.user_badges AS ub
      JOIN achievements.badges AS b ON b.code = ub.badge
     WHERE ub.user_id = public_badges.user_id
       AND ub.is_public
       AND (NOT b.hidden
            OR EXISTS (SELECT 1 FROM achievements.user_badges AS mine
                        WHERE mine.user_id = achievements.current_user_id() AND mine.badge = b.code))
     ORDER BY ub.earned_at DESC, ub.badge;
$$;
COMMENT ON FUNCTION achievements.public_badges(achievements.user_ref) IS
    'The badges a user shows to others (is_public), newest first; hidden badges only to viewers who hold them.';

SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.badge_stats');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.badge_stats');
