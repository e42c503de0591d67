-- Writing the outbox rows of new badges and levels (published by the trigger of 01_outbox.sql).

-- Writes one 'badge' outbox row per newly awarded (user, badge) pair (published by the trigger
-- above), unless achievements.quiet is on. Never raises: any failure (e.g. a notification too
-- long for pg_notify) becomes a WARNING, marks those awards notified = false, and the awards
-- stand.
CREATE FUNCTION achievements_private.announce_badges(user_ids achievements.user_ref[], codes text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, data)
        SELECT a.user_id, 'badge', 'Badge earned: ' || b.name, b.description,
               jsonb_build_object('badge', b.code, 'name', b.name, 'points', b.points,
                                  'rarity', b.rarity, 'icon', b.icon, 'category', b.category)
          FROM unnest(user_ids, codes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements.badges AS b ON b.code = a.badge
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % badge award(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
        UPDATE achievements.user_badges AS ub SET notified = false
          FROM unnest(user_ids, codes) AS a(user_id, badge)
         WHERE ub.user_id = a.user_id AND ub.badge = a.badge;
    END;
END
$$;

-- Writes one 'level' outbox row per newly reached (user, level) (published by the trigger
-- above), unless achievements.quiet is on. Never raises (a failure becomes a WARNING; the
-- levels stand).
CREATE FUNCTION achievements_private.announce_levels(user_ids achievements.user_ref[], levels text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, data)
        SELECT a.user_id, 'level', 'Level reached: ' || l.name, l.description,
               jsonb_build_object('level', l.name)
          FROM unnest(user_ids, levels) WITH ORDINALITY AS a(user_id, level, ord)
          JOIN achievements.levels AS l ON l.name = a.level
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % level(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
    END;
END
$$;
