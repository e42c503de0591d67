-- Awarding levels as tallies change (called by tallies_changed, 09_reactions).

-- Awards the levels that the changed tallies complete (the arrays are tallies_changed's: user,
-- step, count before and after of each changed tally). A tally completes a level when it rises
-- past one of the level's requirements (before < required_count <= after) and the user then
-- meets every other requirement too. Levels and requirements added later are caught up with
-- backfill_levels(), as badges are with backfill_badge().
-- Guarantees: once per user and level (primary key, ON CONFLICT DO NOTHING); none lost to
-- concurrent transactions under READ COMMITTED: it runs under the users' locks (lock_users,
-- taken by tallies_changed), which serialize the checks, and its query takes a fresh snapshot
-- that shows what a transaction that held the lock before committed.
-- Generic plans: its queries read unnested arrays, for which PostgreSQL would otherwise plan
-- every one-tally call again. No SET search_path (every name in it is qualified): it runs only
-- under add_to_tallies, whose callers pin it, and only the owner can call it.
CREATE FUNCTION achievements_private.award_levels(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT DISTINCT c.user_id, r.level
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
      JOIN achievements.level_requirements AS r
        ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
     WHERE NOT EXISTS (SELECT 1
                         FROM achievements.level_requirements AS r2
                         LEFT JOIN achievements.user_achievements AS t
                                ON t.user_id = c.user_id AND t.name = r2.name
                        WHERE r2.level = r.level AND coalesce(t.count, 0) < r2.required_count)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
END
$$;
