-- Removes what 0005 created. Untrack every table first (SELECT achievements.untrack(tbl, step)
-- FROM achievements.tracked()): the triggers of track() depend on the trigger functions, and a
-- trigger wired by hand must be dropped by hand. Tallies and the step log stay.
DELETE FROM achievements_private.applied_migrations WHERE id = '0005_tracking';
DROP FUNCTION achievements.tracked();
DROP FUNCTION achievements.untrack(regclass, text);
DROP FUNCTION achievements.track(regclass, text, text, text, text);
DROP FUNCTION achievements._tracking_trigger_name(text, text);
DROP TABLE achievements.tracked_steps;
DROP FUNCTION achievements.tg_achievement_toggle_boolean();
DROP FUNCTION achievements.tg_achievement_boolean();
DROP FUNCTION achievements.tg_achievement_toggle();
DROP FUNCTION achievements.tg_achievement();
DROP FUNCTION achievements_private.count_rows(text, oid, text, text, text, text[], jsonb, jsonb);
DROP FUNCTION achievements_private.count_row(text, oid, text, text, text, text[], jsonb, jsonb);
DROP FUNCTION achievements_private.check_row_trigger(text, oid, text, text, text[]);
DROP FUNCTION achievements_private.statement_sql(text, oid, text, text, text, text[]);
DROP FUNCTION achievements._tracking_user_expr(text, text, text);
DROP FUNCTION achievements._tracking_check(text, oid, text[], text);
DROP FUNCTION achievements._parse_user_ref(text);
