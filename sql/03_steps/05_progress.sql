-- What a user still lacks for a level, from the tallies (the reads of @pgpm/achievements).
--
-- The public reads of per-user data are SQL functions that run with the caller's rights: they
-- first ask readable_user (as the caller) whether the caller may read that user, then call
-- their half in achievements_private, which reads as the owner. Their bodies are SQL-standard
-- (bound when created), so callers need no access to achievements_private.

-- The requirements of `level_name` that `who` has not met yet, by priority: required_count is
-- what is still missing. A level's min_points not reached yet is one more row, first: id NULL,
-- name 'points', required_count the points missing, priority 0. Raises AD001 for an unknown
-- level.
CREATE FUNCTION achievements_private.steps_required(level_name text, who achievements.user_ref)
RETURNS TABLE (id int, name text, level text, required_count int, priority int)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM achievements_private.assert_level(level_name);
    RETURN QUERY
        SELECT NULL::int, 'points', l.name,
               (l.min_points - coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0))::int,
               0
          FROM achievements.levels AS l
         WHERE l.name = level_name AND l.min_points IS NOT NULL
           AND coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0) < l.min_points;
    RETURN QUERY
        SELECT r.id, r.name, r.level, r.required_count - coalesce(t.count, 0), r.priority
          FROM achievements.level_requirements AS r
          LEFT JOIN achievements.user_achievements AS t
                 ON t.user_id = who AND t.name = r.name
         WHERE r.level = level_name
           AND coalesce(t.count, 0) < r.required_count
         ORDER BY r.priority, r.name;
END
$$;

-- The requirements of `level_name` that the user has not met yet, by priority: required_count is
-- what is still missing. Raises AD005 without a user, 42501 when an application role asks about
-- another user, AD001 for an unknown level.
CREATE FUNCTION achievements.steps_required(
    level_name text,
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS TABLE (id int, name text, level text, required_count int, priority int)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.steps_required(level_name, achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.steps_required(text, achievements.user_ref) IS
    'Requirements of a level the user has not met, by priority; required_count is what is still missing (points not reached yet: a row named points with id NULL).';

-- Whether the user meets every requirement of `level_name`, min_points included (true for a
-- level without requirements). Same errors as steps_required.
CREATE FUNCTION achievements.user_achieved(
    level_name text,
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS boolean
LANGUAGE sql STABLE
RETURN NOT EXISTS (SELECT 1 FROM achievements.steps_required(level_name, user_id));
COMMENT ON FUNCTION achievements.user_achieved(text, achievements.user_ref) IS
    'Whether the user meets every requirement of the level.';

-- Per level (only `level_name` when given) and requirement, what `who` has and needs, for a
-- progress screen ("1,200 / 2,000 points", "12 / 50 make_post"): kind 'points' (the level's
-- min_points: current is the user's points, user_points) or 'step' (current is the tally),
-- current capped at target, every requirement of a level the user reached counted as met.
-- Ordered by level (by min_points, then name), then the points first, then by priority.
-- Raises AD001 for an unknown level.
CREATE FUNCTION achievements_private.level_progress(who achievements.user_ref, level_name text)
RETURNS TABLE (level text, requirement text, kind text, current bigint, target bigint, achieved_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF level_name IS NOT NULL THEN
        PERFORM achievements_private.assert_level(level_name);
    END IF;
    RETURN QUERY
        WITH mine AS (
            SELECT coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0) AS points
        ), parts AS (
            SELECT l.name AS level, l.min_points AS order_points, 'points' AS requirement, 'points' AS kind,
                   m.points AS have, l.min_points::bigint AS need, 0 AS priority
              FROM achievements.levels AS l CROSS JOIN mine AS m
             WHERE l.min_points IS NOT NULL AND (level_name IS NULL OR l.name = level_name)
            UNION ALL
            SELECT r.level, l.min_points, r.name, 'step', coalesce(t.count, 0)::bigint, r.required_count::bigint, r.priority
              FROM achievements.level_requirements AS r
              JOIN achievements.levels AS l ON l.name = r.level
              LEFT JOIN achievements.user_achievements AS t ON t.user_id = who AND t.name = r.name
             WHERE level_name IS NULL OR r.level = level_name
        )
        SELECT p.level, p.requirement, p.kind,
               CASE WHEN ul.achieved_at IS NOT NULL THEN p.need ELSE least(p.have, p.need) END,
               p.need, ul.achieved_at
          FROM parts AS p
          LEFT JOIN achievements.user_levels AS ul ON ul.user_id = who AND ul.level = p.level
         ORDER BY p.order_points NULLS LAST, p.level, p.kind, p.priority, p.requirement;
END
$$;

-- The user's progress toward each level (only `level_name` when given): one row per
-- requirement, kind 'points' or 'step', current (capped) out of target, achieved_at once the
-- level is reached. Raises AD005 without a user, 42501 when an application role asks about
-- another user, AD001 for an unknown level.
CREATE FUNCTION achievements.level_progress(
    user_id achievements.user_ref DEFAULT achievements.current_user_id(),
    level_name text DEFAULT NULL)
RETURNS TABLE (level text, requirement text, kind text, current bigint, target bigint, achieved_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.level_progress(achievements_private.readable_user(user_id), level_name);
END;
COMMENT ON FUNCTION achievements.level_progress(achievements.user_ref, text) IS
    'Per level and requirement: kind (points or step), current out of target ("1,200 / 2,000 points"), achieved_at once reached.';
