-- Removes what 0003 created, with every step and tally recorded since.
DELETE FROM achievements_private.applied_migrations WHERE id = '0003_steps';
DROP FUNCTION achievements.user_achieved(text, achievements.user_ref);
DROP FUNCTION achievements.steps_required(text, achievements.user_ref);
DROP FUNCTION achievements._assert_level(text);
DROP FUNCTION achievements.undo_step(achievements.user_ref, text, int);
DROP FUNCTION achievements.record_step(achievements.user_ref, text, int);
DROP FUNCTION achievements._readable_user(achievements.user_ref);
DROP TABLE achievements.user_achievements;
DROP TABLE achievements_private.recorded_steps;
DROP TABLE achievements.user_steps;
DROP FUNCTION achievements_private.refuse_step_update();
DROP FUNCTION achievements_private.tally_new_steps();
DROP FUNCTION achievements_private.add_to_tallies(achievements.user_ref[], text[], int[], boolean);
DROP FUNCTION achievements_private.tallies_changed(achievements.user_ref[], text[], int[], int[]);
