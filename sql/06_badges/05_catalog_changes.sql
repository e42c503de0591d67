-- Catalog changes that move what users hold: a deleted badge is taken from its holders, a
-- renamed one follows them, a re-priced one moves their points.

-- Before any badge changes or goes, every user's lock (lock_users_for_catalog_change, with
-- levels): the users, then the badge, then the scores (docs/locks.md).
CREATE TRIGGER _050_lock_users
    BEFORE UPDATE OR DELETE ON achievements.badges
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.lock_users_for_catalog_change();

-- Deleting a badge takes it from its holders first, while its points are still known, so that
-- their scores drop; the foreign keys then remove its counters. While it does, the setting
-- achievements.deleting_badge names the badge: no 'badge_revoked' notification is written for
-- it, and badges about all badges of its category count it out (badges_changed).
CREATE FUNCTION achievements_private.unaward_deleted_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('achievements.deleting_badge', OLD.code, true);
    DELETE FROM achievements.user_badges AS ub WHERE ub.badge = OLD.code;
    PERFORM set_config('achievements.deleting_badge', '', true);
    RETURN OLD;
END
$$;

CREATE TRIGGER _100_unaward_on_delete
    BEFORE DELETE ON achievements.badges
    FOR EACH ROW EXECUTE FUNCTION achievements_private.unaward_deleted_badge();

-- A badge whose code changes keeps its holders: their rows follow the new code.
CREATE FUNCTION achievements_private.rename_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE achievements.user_badges AS ub SET badge = NEW.code WHERE ub.badge = OLD.code;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_rename_on_code_change
    AFTER UPDATE OF code ON achievements.badges
    FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code)
    EXECUTE FUNCTION achievements_private.rename_badge();

-- A badge whose points change moves every holder's score by the difference (set-based; takes
-- the score row locks of all holders, so run catalog changes outside peak hours). Fires on
-- every UPDATE whose points differ, also when a trigger set them (a badge that follows its
-- rarity: validate_badge), not only when the statement named the column.
CREATE FUNCTION achievements_private.rescore_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    delta bigint := NEW.points::bigint - OLD.points;
BEGIN
    WITH scored AS (
        UPDATE achievements.user_scores AS s
           SET points = s.points + delta, last_change = delta, updated_at = now()
          FROM achievements.user_badges AS ub
         WHERE ub.badge IN (OLD.code, NEW.code) AND s.user_id = ub.user_id
        RETURNING s.points
    ), moves AS (
        SELECT s.points - delta AS points, -1 AS users FROM scored AS s WHERE s.points - delta > 0
        UNION ALL
        SELECT s.points, 1 FROM scored AS s WHERE s.points > 0
    )
    INSERT INTO achievements_private.points_histogram (points, users)
    SELECT m.points, sum(m.users) FROM moves AS m GROUP BY m.points HAVING sum(m.users) <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_rescore_on_points_change
    AFTER UPDATE ON achievements.badges
    FOR EACH ROW WHEN (OLD.points IS DISTINCT FROM NEW.points)
    EXECUTE FUNCTION achievements_private.rescore_badge();
