"""lock_users hashes users into 256 advisory lock keys, 1..256: a bulk statement takes at most
256 locks (tests/sql/test_levels.py brings 20,000 users to a level at once), and never key 0,
the migrator's session lock (achievements_db.migrator.MIGRATION_LOCK)."""

import uuid

import pytest

from achievements_db.migrator import MIGRATION_LOCK


def test_lock_users_takes_at_most_256_keys_never_the_migrators(db):
    with db.transaction():
        db.execute(
            "SELECT achievements_private.lock_users(array_agg(md5(g::text)::uuid"
            "::achievements.user_ref)) FROM generate_series(1, 5000) AS g"
        )
        keys = [
            r[0]
            for r in db.execute(
                "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
                " AND pid = pg_backend_pid() ORDER BY objid",
                (MIGRATION_LOCK[0],),
            )
        ]
    assert len(keys) == 256
    assert min(keys) == 1 and max(keys) == 256
    assert MIGRATION_LOCK[1] not in keys


def _level_locks(db):
    return db.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
        " AND pid = pg_backend_pid()",
        (MIGRATION_LOCK[0],),
    ).fetchone()[0]


@pytest.mark.committed
def test_a_step_of_a_level_already_held_takes_no_level_lock(db):
    db.execute("INSERT INTO achievements.levels (name) VALUES ('fan')")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count)"
        " VALUES ('fan', 'like', 2)"
    )
    user = uuid.uuid4()
    with db.transaction():
        db.execute("SELECT achievements.record_step(%s, 'like', 2)", (user,))
        assert _level_locks(db) == 1  # reaching the level: its user's bucket is locked
    with db.transaction():
        db.execute("SELECT achievements.record_step(%s, 'like')", (user,))
        assert _level_locks(db) == 0  # already held: nothing to serialize
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.user_levels WHERE user_id = %s", (user,)
        ).fetchone()[0]
        == 1
    )
