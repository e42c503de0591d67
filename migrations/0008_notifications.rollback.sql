-- Removes what 0008 created (the outbox itself goes with 0006).
DROP FUNCTION achievements.unread_count();
DROP FUNCTION achievements.mark_all_read();
DROP FUNCTION achievements.mark_read(bigint);
DROP FUNCTION achievements_private.require_user(text);
