-- Reactions to a level reached: its notification and its badges.

-- New levels (AFTER INSERT on user_levels): announces them, then awards the active badges of
-- those levels (announced by count_badges). Runs under the users' locks that every path
-- awarding levels holds (award_levels, badges_changed, backfill_levels). Idempotent.
CREATE FUNCTION achievements_private.level_reached()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    users  achievements.user_ref[];
    levels text[];
BEGIN
    SELECT array_agg(l.user_id ORDER BY l.user_id, l.level), array_agg(l.level ORDER BY l.user_id, l.level)
      INTO users, levels
      FROM new_levels AS l;
    PERFORM achievements_private.announce_levels(users, levels);

    -- Announced by the trigger that counts the rows (count_badges).
    INSERT INTO achievements.user_badges (user_id, badge, notified)
    SELECT l.user_id, b.code, true
      FROM new_levels AS l
      JOIN achievements.badges AS b ON b.level = l.level
     WHERE achievements_private.badge_in_season(b.active_from, b.active_until)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER _300_level_reached
    AFTER INSERT ON achievements.user_levels
    REFERENCING NEW TABLE AS new_levels
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.level_reached();
