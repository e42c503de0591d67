"""The badge migrations roll back cleanly (with data in them) and apply again."""

import uuid

import psycopg
from conftest import conninfo, target

from achievements_db.migrator import migrate, rollback, status

BADGE_MIGRATIONS = ["0006_badges", "0007_badge_reads", "0008_notifications", "0009_catalog"]


def test_badge_migrations_roll_back_and_apply_again(empty_database):
    name = empty_database()
    migrate(target(name))
    ours = [m for m in BADGE_MIGRATIONS if any(s.id == m for s in status(target(name)))]
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO achievements.badges (code, name, step, threshold)"
            " VALUES ('a', 'A', 'song', 1)"
        )
        conn.execute("SELECT achievements.record_step(%s, 'song')", (uuid.uuid4(),))
        assert conn.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 1
    undone = rollback(target(name), len(ours))
    assert sorted(undone) == sorted(ours)
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('achievements.badges')").fetchone()[0] is None
        assert conn.execute(
            "SELECT proconfig FROM pg_proc WHERE proname = 'backfill_levels'"
        ).fetchone()[0] == ["search_path=pg_catalog, pg_temp"]
        conn.execute("SELECT achievements.record_step(%s, 'song')", (uuid.uuid4(),))
    assert migrate(target(name)) == ours
