-- Removes what 0006 created, with the badge catalog, every awarded badge and every notification.
DELETE FROM achievements_private.applied_migrations WHERE id = '0006_badges';
ALTER FUNCTION achievements.backfill_levels(text) RESET achievements.quiet;
DROP POLICY visible ON achievements.badges;
DROP FUNCTION achievements.set_badge_public(text, boolean);
DROP FUNCTION achievements.backfill_badge(text);
DROP FUNCTION achievements.has_badge(achievements.user_ref, text);
DROP FUNCTION achievements.revoke_badge(achievements.user_ref, text);
DROP FUNCTION achievements.claim_badge(text);
DROP FUNCTION achievements.award_badge(achievements.user_ref, text);
DROP FUNCTION achievements_private.get_badge(text, boolean);
DROP TRIGGER _300_level_reached ON achievements.user_levels;
DROP FUNCTION achievements_private.level_reached();
CREATE OR REPLACE FUNCTION achievements_private.tallies_changed(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF cardinality(user_ids) = 1 THEN
        IF NOT EXISTS (SELECT 1 FROM achievements.level_requirements AS r
                        WHERE r.name = ANY (names)
                          AND r.required_count > ANY (old_counts)
                          AND r.required_count <= ANY (new_counts)) THEN
            RETURN;
        END IF;
    ELSIF NOT EXISTS (SELECT 1
                        FROM (SELECT c.name, min(c.old_count) AS lo, max(c.new_count) AS hi
                                FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
                               GROUP BY c.name) AS s
                        JOIN achievements.level_requirements AS r
                          ON r.name = s.name AND r.required_count > s.lo AND r.required_count <= s.hi) THEN
        RETURN;
    END IF;
    PERFORM achievements_private.award_levels(user_ids, names, old_counts, new_counts);
END
$$;
DROP FUNCTION achievements_private.award_badges(achievements.user_ref[], text[], int[], int[]);
DROP FUNCTION achievements._badge_active(timestamptz, timestamptz);
DROP FUNCTION achievements_private.register_users(achievements.user_ref[]);
DROP FUNCTION achievements_private.announce_levels(achievements.user_ref[], text[]);
DROP FUNCTION achievements_private.announce_badges(achievements.user_ref[], text[]);
DROP TRIGGER _100_publish ON achievements.notifications;
DROP FUNCTION achievements_private.publish();
DROP FUNCTION achievements_private.quiet();
DROP TABLE achievements.notifications;
DROP TABLE achievements.user_badges;
DROP TABLE achievements.user_scores;
DROP TABLE achievements_private.badge_holders;
DROP TABLE achievements_private.points_histogram;
DROP TABLE achievements_private.known_user_count;
DROP TABLE achievements_private.known_users;
DROP FUNCTION achievements.compact_counters();
DROP FUNCTION achievements_private.maybe_compact(bigint, bigint);
DROP FUNCTION achievements_private.compact_counters(boolean);
DROP SEQUENCE achievements_private.counter_delta_id;
DROP TABLE achievements.badges;
DROP FUNCTION achievements_private.rescore_badge();
DROP FUNCTION achievements_private.rename_badge();
DROP FUNCTION achievements_private.unaward_deleted_badge();
DROP FUNCTION achievements_private.count_badges();
DROP FUNCTION achievements_private.validate_badge();
