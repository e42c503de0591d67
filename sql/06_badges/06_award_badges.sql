-- Awarding badges as tallies change (called by tallies_changed, 09_reactions) and as levels are
-- reached (level_reached, 09_reactions).

-- Whether the badge can be earned at this moment (inside its seasonal window, if any).
-- Inlinable (no SET clause, not SECURITY DEFINER); uses only pg_catalog's now().
CREATE FUNCTION achievements_private.badge_in_season(active_from timestamptz, active_until timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
RETURN (active_from IS NULL OR active_from <= now()) AND (active_until IS NULL OR now() < active_until);

-- Changed tallies (the arrays of tallies_changed: user, step, count before and after): takes back
-- the revocable badges whose threshold a tally fell below, and awards the active threshold
-- badges a tally rose to
-- (count before < threshold <= count after); count_badges announces both. Idempotent (primary
-- key + ON CONFLICT DO NOTHING);
-- the tally row lock of the statement that changed the tally orders concurrent changes of one
-- tally, so each crossing is seen exactly once. Runs under the users' locks (tallies_changed). A badge revoked by hand is not given back until
-- the tally crosses its threshold again. tallies_changed calls it only when a tally starts or
-- crosses a requirement or threshold.
-- No SET search_path, and generic plans, for the reasons given at award_levels.
CREATE FUNCTION achievements_private.award_badges(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    fallen boolean;
    risen  boolean;
BEGIN
    -- Whether a tally fell below a revocable badge's threshold, or rose to any badge's.
    SELECT coalesce(bool_or(c.new_count < c.old_count), false), coalesce(bool_or(c.new_count > c.old_count), false)
      INTO fallen, risen
      FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
     WHERE EXISTS (SELECT 1 FROM achievements.badges AS b
                    WHERE b.step = c.name
                      AND b.threshold > least(c.old_count, c.new_count)
                      AND b.threshold <= greatest(c.old_count, c.new_count)
                      AND (b.revocable OR c.new_count > c.old_count));
    IF fallen THEN
        DELETE FROM achievements.user_badges AS ub
         USING unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count),
               achievements.badges AS b
         WHERE b.step = c.name AND b.threshold > c.new_count AND b.threshold <= c.old_count
           AND b.revocable
           AND ub.user_id = c.user_id AND ub.badge = b.code;
    END IF;
    IF NOT risen THEN
        RETURN;
    END IF;

    -- Announced by the trigger that counts the rows (count_badges).
    INSERT INTO achievements.user_badges (user_id, badge, notified)
    SELECT c.user_id, b.code, true
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
      JOIN achievements.badges AS b
        ON b.step = c.name AND b.threshold <= c.new_count AND b.threshold > c.old_count
     WHERE achievements_private.badge_in_season(b.active_from, b.active_until)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
END
$$;
