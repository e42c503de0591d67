-- Removes what 0004 created, with every awarded level.
DELETE FROM achievements_private.applied_migrations WHERE id = '0004_user_levels';
DROP FUNCTION achievements.backfill_levels(text);
CREATE OR REPLACE FUNCTION achievements_private.tallies_changed(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
END
$$;
DROP FUNCTION achievements_private.award_levels(achievements.user_ref[], text[], int[], int[]);
DROP FUNCTION achievements_private.lock_users(achievements.user_ref[]);
DROP TABLE achievements.user_levels;
