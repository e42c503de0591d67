-- achievements-db: the whole install, for psql users without Python:
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f sql/achievements.sql
--
-- Install options (sql/01_foundation/02_install_options.sql), e.g.:
--   PGOPTIONS='-c achievements.user_id_type=bigint -c achievements.service_roles=app' psql ...
-- One transaction: it installs completely or not at all, into a database without
-- achievements-db; upgrade an installed one with `achievements-db migrate`.
--
-- Every file under sql/ is listed here once, in name order (a test checks it); each defines
-- the objects of one concept, and each object is defined in exactly one file.

\set ON_ERROR_STOP on
BEGIN;

\ir 01_foundation/01_schemas.sql
\ir 01_foundation/02_install_options.sql
\ir 01_foundation/03_user_ref.sql
\ir 01_foundation/04_grant_helpers.sql
\ir 01_foundation/05_current_user_id.sql
\ir 01_foundation/06_user_access.sql
\ir 01_foundation/07_outside_dependents.sql
\ir 02_levels/levels.sql
\ir 03_steps/01_user_steps.sql
\ir 03_steps/02_user_achievements.sql
\ir 03_steps/03_add_to_tallies.sql
\ir 03_steps/04_record_step.sql
\ir 03_steps/05_progress.sql
\ir 03_steps/06_step_periods.sql
\ir 04_user_levels/01_user_levels.sql
\ir 04_user_levels/02_award_levels.sql
\ir 04_user_levels/03_backfill_levels.sql
\ir 05_tracking/01_tracked_steps.sql
\ir 05_tracking/02_arguments.sql
\ir 05_tracking/03_counting_queries.sql
\ir 05_tracking/04_counting_rows.sql
\ir 05_tracking/05_trigger_functions.sql
\ir 05_tracking/06_calls.sql
\ir 05_tracking/07_step_queries.sql
\ir 05_tracking/08_generated_functions.sql
\ir 05_tracking/09_track.sql
\ir 06_badges/01_catalog.sql
\ir 06_badges/02_user_badges.sql
\ir 06_badges/03_counters.sql
\ir 06_badges/04_scores.sql
\ir 06_badges/05_catalog_changes.sql
\ir 06_badges/06_award_badges.sql
\ir 06_badges/07_award_by_call.sql
\ir 06_badges/08_reads.sql
\ir 06_badges/09_community.sql
\ir 07_notifications/01_outbox.sql
\ir 07_notifications/02_announce.sql
\ir 07_notifications/03_inbox.sql
\ir 08_catalog/apply_catalog.sql
\ir 09_reactions/01_tallies_changed.sql
\ir 09_reactions/02_level_reached.sql
\ir 09_reactions/03_badges_changed.sql
\ir 09_reactions/04_transaction_awards.sql
\ir 10_streaks/01_calendar.sql
\ir 10_streaks/02_streak_tables.sql
\ir 10_streaks/03_computing.sql
\ir 10_streaks/04_refreshing.sql
\ir 10_streaks/05_api.sql
\ir 99_finish/01_private_functions.sql
\ir 99_finish/02_installed_migrations.sql

COMMIT;
