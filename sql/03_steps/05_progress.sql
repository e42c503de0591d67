-- What a user still lacks for a level, from the tallies (the reads of @pgpm/achievements).
--
-- The public reads of per-user data are SQL functions that run with the caller's rights: they
-- first ask readable_user (as the caller) whether the caller may read that user, then call
-- their half in achievements_private, which reads as the owner. Their bodies are SQL-standard
-- (bound when created), so callers need no access to achievements_private.

-- The requirements of `level_name` that `who` has not met yet, by priority: required_count is
-- what is still missing. Raises AD001 for an unknown level.
CREATE FUNCTION achievements_private.steps_required(level_name text, who achievements.user_ref)
RETURNS TABLE (id int, name text, level text, required_count int, priority int)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM achievements_private.assert_level(level_name);
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
    'Requirements of a level the user has not met, by priority; required_count is what is still missing.';

-- Whether the user meets every requirement of `level_name` (true for a level without
-- requirements). Same errors as steps_required.
CREATE FUNCTION achievements.user_achieved(
    level_name text,
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS boolean
LANGUAGE sql STABLE
RETURN NOT EXISTS (SELECT 1 FROM achievements.steps_required(level_name, user_id));
COMMENT ON FUNCTION achievements.user_achieved(text, achievements.user_ref) IS
    'Whether the user meets every requirement of the level.';
