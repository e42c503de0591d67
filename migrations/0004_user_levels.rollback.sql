-- Removes what 0004 created, with every awarded level.
DELETE FROM achievements_private.applied_migrations WHERE id = '0004_user_levels';
DROP FUNCTION achievements.backfill_levels(text);
DROP TRIGGER _200_award_levels_on_update ON achievements.user_achievements;
DROP TRIGGER _200_award_levels_on_insert ON achievements.user_achievements;
DROP FUNCTION achievements_private.award_levels();
DROP FUNCTION achievements_private.lock_users(achievements.user_ref[]);
DROP TABLE achievements.user_levels;
