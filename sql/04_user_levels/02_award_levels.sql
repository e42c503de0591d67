-- Awarding levels as tallies change (called by tallies_changed, 09_reactions).

-- Awards the levels that the changed tallies complete (the arrays are tallies_changed's: user,
-- step, count before and after of each changed tally). A tally completes a level when it rises
-- past one of the level's requirements (before < required_count <= after) and the user then
-- meets every other requirement too, and the level's min_points if it has one (their points
-- in user_scores; levels reached by points are awarded by badges_changed as points rise).
-- Levels and requirements added later are caught up with backfill_levels(), as badges are
-- with backfill_badge().
-- Guarantees: once per user and level (primary key, ON CONFLICT DO NOTHING); none lost to
-- concurrent transactions: it runs under the users' locks (lock_users, taken by
-- tallies_changed), which serialize the checks; under READ COMMITTED its query takes a fresh
-- snapshot that shows what a transaction that held the lock before committed, under REPEATABLE
-- READ and SERIALIZABLE a tally changed or created since the transaction's snapshot raises
-- 40001 instead (lock_users, and the insert below).
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
    IF achievements_private.snapshot_per_transaction() THEN
        -- A requirement's tally created since the transaction's snapshot is invisible to the
        -- check below (lock_users catches the ones changed): inserting it then raises 40001.
        -- Rolled back either way.
        BEGIN
            INSERT INTO achievements.user_achievements (user_id, name, count)
            SELECT DISTINCT c.user_id, r2.name, 0
              FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
              JOIN achievements.level_requirements AS r
                ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
              JOIN achievements.level_requirements AS r2 ON r2.level = r.level
             ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
            -- Likewise the score of a user whose points such a level needs.
            INSERT INTO achievements.user_scores (user_id)
            SELECT DISTINCT c.user_id
              FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
              JOIN achievements.level_requirements AS r
                ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
              JOIN achievements.levels AS l ON l.name = r.level AND l.min_points IS NOT NULL
             ORDER BY 1
            ON CONFLICT DO NOTHING;
            RAISE EXCEPTION USING ERRCODE = 'AD000';
        EXCEPTION WHEN SQLSTATE 'AD000' THEN
            NULL;
        END;
    END IF;
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT DISTINCT c.user_id, r.level
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
      JOIN achievements.level_requirements AS r
        ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
      JOIN achievements.levels AS l ON l.name = r.level
     WHERE NOT EXISTS (SELECT 1
                         FROM achievements.level_requirements AS r2
                         LEFT JOIN achievements.user_achievements AS t
                                ON t.user_id = c.user_id AND t.name = r2.name
                        WHERE r2.level = r.level AND coalesce(t.count, 0) < r2.required_count)
       AND (l.min_points IS NULL
            OR l.min_points <= coalesce((SELECT s.points FROM achievements.user_scores AS s
                                          WHERE s.user_id = c.user_id), 0))
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
END
$$;
