-- The two schemas of achievements-db, and the record of what is installed.
--
--   achievements          the public API; everything in it is documented (README, docs/).
--   achievements_private  internals, which may change in any release. Only the owner uses it;
--                         who may call what: 99_finish/01_private_functions.sql.
--   achievements_tracking the counting functions that track() generates, each owned by the owner
--                         of its table (so the expressions given to track() run with that
--                         role's rights), and the few calls they make into the package. Only
--                         the owners of tracked tables use it (05_tracking/).

-- Refuses a database that has achievements-db already (AD006): the single-file install never
-- runs over an install. Installs wait for each other on a transaction-scoped advisory lock
-- (docs/locks.md), so of two concurrent installs the second refuses with this error instead of
-- failing on a duplicate schema name.
DO $install_guard$
BEGIN
    PERFORM pg_advisory_xact_lock(1633838659, -1);
    IF to_regnamespace('achievements') IS NOT NULL THEN
        RAISE EXCEPTION 'achievements-db is already installed in database "%"', current_database()
            USING ERRCODE = 'AD006',
                  HINT = 'Upgrade with "achievements-db migrate"; sql/achievements.sql installs into a database that does not have it yet.';
    END IF;
END
$install_guard$;

CREATE SCHEMA achievements;
COMMENT ON SCHEMA achievements IS
    'achievements-db public API: levels, steps, tallies, tracking, badges, notifications. Everything here is documented (README, docs/).';

CREATE SCHEMA achievements_private;
COMMENT ON SCHEMA achievements_private IS
    'achievements-db internals: may change in any release; not for application use.';
REVOKE ALL ON SCHEMA achievements_private FROM PUBLIC;

CREATE SCHEMA achievements_tracking;
COMMENT ON SCHEMA achievements_tracking IS
    'achievements-db: the counting functions track() generates, owned by the owners of their tables, and the calls they make into the package. Not for application use.';
REVOKE ALL ON SCHEMA achievements_tracking FROM PUBLIC;

-- What is installed, whichever way it was installed: every migration adds its own id here (and
-- the single-file install adds them all: 99_installed_migrations.sql), so that a database
-- installed with psql can later be upgraded by the CLI.
CREATE TABLE achievements_private.applied_migrations (
    id         text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE achievements_private.applied_migrations IS
    'The migrations this database has, however it was installed (CLI or sql/achievements.sql).';
