-- The migrations these definitions correspond to: one row per file of migrations/, added here
-- with each new migration (a test keeps the two lists equal). A database installed from these
-- files is then at the newest migration, and `achievements-db migrate` adopts it.
INSERT INTO achievements_private.applied_migrations (id) VALUES
    ('0001_baseline'),
    ('0002_track_as_table_owner'),
    ('0003_one_lock_order'),
    ('0004_track_expressions'),
    ('0005_streaks'),
    ('0006_rewards'),
    ('0007_all_time_leaderboards'),
    ('0008_depends_on_every_user');
