-- Catching up levels that users already meet (a level or requirement added later).

-- Awards `level_name` (every level when NULL) to every user who already meets it (every step
-- requirement, and min_points if the level has one), in one set-based statement; returns how
-- many levels were awarded. Idempotent. Silent, as backfill_badge is: no notifications
-- (achievements.quiet is on for the statement and put back afterwards). Takes every user's lock
-- first (docs/locks.md); under REPEATABLE READ and SERIALIZABLE, 40001 when a tally or score it
-- reads changed since the transaction's snapshot. Levels with neither requirements nor
-- min_points are never awarded (nothing reaches them). Raises AD001 for an unknown level.
-- Owner and service roles.
CREATE FUNCTION achievements.backfill_levels(level_name text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    awarded int;
    before  text;
BEGIN
    IF level_name IS NOT NULL THEN
        PERFORM achievements_private.assert_level(level_name);
    END IF;
    PERFORM achievements_private.lock_all_users();
    IF achievements_private.snapshot_per_transaction() THEN
        -- As in backfill_badge: a tally or score read that changed since the snapshot raises 40001.
        PERFORM FROM achievements.level_requirements AS r
          JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
         WHERE level_name IS NULL OR r.level = level_name
           FOR SHARE OF t;
        PERFORM FROM achievements.levels AS l
          JOIN achievements.user_scores AS s ON s.points >= l.min_points
         WHERE (level_name IS NULL OR l.name = level_name) AND l.min_points IS NOT NULL
           FOR SHARE OF s;
    END IF;
    before := achievements_private.set_quiet('on');
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT q.user_id, q.level
      FROM (SELECT t.user_id, r.level
              FROM achievements.level_requirements AS r
              JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
             WHERE level_name IS NULL OR r.level = level_name
             GROUP BY t.user_id, r.level
            HAVING count(*) = (SELECT count(*) FROM achievements.level_requirements AS r2 WHERE r2.level = r.level)
            UNION ALL
            -- Levels reached by points alone.
            SELECT s.user_id, l.name
              FROM achievements.levels AS l
              JOIN achievements.user_scores AS s ON s.points >= l.min_points
             WHERE (level_name IS NULL OR l.name = level_name) AND l.min_points IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM achievements.level_requirements AS r3 WHERE r3.level = l.name)) AS q
      JOIN achievements.levels AS l ON l.name = q.level
     WHERE l.min_points IS NULL
        OR l.min_points <= coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = q.user_id), 0)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS awarded = ROW_COUNT;
    PERFORM achievements_private.set_quiet(before);
    RETURN awarded;
END
$$;
COMMENT ON FUNCTION achievements.backfill_levels(text) IS
    'Awards a level (all when NULL) to every user who already meets it, silently; returns how many were awarded. Idempotent.';

REVOKE EXECUTE ON FUNCTION achievements.backfill_levels(text) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION achievements.backfill_levels(text)');
