-- Removes what 0007 created (reads only; no data).
DELETE FROM achievements_private.applied_migrations WHERE id = '0007_badge_reads';
DROP FUNCTION achievements.public_badges(achievements.user_ref);
DROP VIEW achievements.badge_stats;
DROP FUNCTION achievements._known_users();
DROP FUNCTION achievements._badge_holders();
DROP FUNCTION achievements.user_rank(achievements.user_ref, timestamptz);
DROP FUNCTION achievements._users_above(bigint, timestamptz);
DROP FUNCTION achievements.leaderboard(int, timestamptz);
DROP FUNCTION achievements.user_points(achievements.user_ref);
DROP FUNCTION achievements.user_badges_page(achievements.user_ref, text, int);
DROP FUNCTION achievements.badge_progress(achievements.user_ref);
DROP FUNCTION achievements._check_limit(int);
