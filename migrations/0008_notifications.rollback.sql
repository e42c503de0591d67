-- Removes what 0008 created (the outbox itself goes with 0006).
DELETE FROM achievements_private.applied_migrations WHERE id = '0008_notifications';
DROP FUNCTION achievements.unread_count();
DROP FUNCTION achievements.mark_all_read();
DROP FUNCTION achievements.mark_read(bigint);
DROP FUNCTION achievements_private.require_user(text);
