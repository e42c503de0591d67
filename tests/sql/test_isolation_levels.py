"""Under REPEATABLE READ and SERIALIZABLE, a write path that meets a row changed since its
transaction's snapshot raises 40001 (serialization failure), as any PostgreSQL write does; the
caller retries the whole transaction (docs/locks.md, "Isolation levels"). The retry succeeds
and leaves every invariant intact: nothing of the failed attempt remains, nothing is doubled."""

import uuid

import psycopg
import pytest

from support.badges import badges_of, check_counters, define_badge, define_level, notifications_of
from support.steps import tally

USER = uuid.UUID(int=5)

PATHS = {
    "record_step": "SELECT achievements.record_step(%(user)s, 'song')",
    "undo_step": "SELECT achievements.undo_step(%(user)s, 'song')",
    "tracked insert": "INSERT INTO plays (who, song) VALUES (%(user)s, 'x')",
    "award_badge": "SELECT achievements.award_badge(%(user)s, 'gift')",
    "revoke_badge": "SELECT achievements.revoke_badge(%(user)s, 'gift')",
}


def retrying(conn, isolation, statement, attempts=3):
    """What a caller does: run the transaction, and run it again on 40001. Returns the number
    of attempts it took."""
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                conn.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
                conn.execute(statement, {"user": USER})
            return attempt
        except psycopg.errors.SerializationFailure:
            continue
    raise AssertionError("no attempt succeeded")


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
@pytest.mark.parametrize("path", list(PATHS))
def test_a_write_that_meets_a_newer_row_raises_40001_and_its_retry_succeeds(
    db, connect, isolation, path
):
    define_badge(db, "first_song", step="song", threshold=1, points=10)
    define_badge(db, "gift", points=3)
    db.execute(
        "CREATE TABLE plays (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, who uuid, song text)"
    )
    db.execute("SELECT achievements.track('plays', 'song', 'song', 'count', 'who')")
    db.execute("SELECT achievements.record_step(%s, 'song', 2)", (USER,))
    db.execute("SELECT achievements.award_badge(%s, 'gift')", (USER,))
    if path == "award_badge":
        db.execute("SELECT achievements.revoke_badge(%s, 'gift')", (USER,))
    statement = PATHS[path]

    slow, fast = connect(autocommit=False), connect()
    slow.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
    slow.execute("SELECT count(*) FROM achievements.user_achievements")  # the snapshot
    fast.execute(statement, {"user": USER})
    with pytest.raises(psycopg.errors.SerializationFailure) as err:
        slow.execute(statement, {"user": USER})
    assert err.value.sqlstate == "40001"
    slow.rollback()
    slow.autocommit = True
    assert retrying(slow, isolation, statement) == 1

    # Both took effect once: the tally equals its log, the badge is held or not, once.
    expected_tally = {"record_step": 4, "undo_step": 0, "tracked insert": 4}.get(path, 2)
    assert tally(db, USER, "song") == expected_tally
    assert (
        db.execute(
            "SELECT sum(count) FROM achievements.user_steps WHERE user_id = %s AND name = 'song'",
            (USER,),
        ).fetchone()[0]
        == expected_tally
    )
    held = path != "revoke_badge"
    assert badges_of(db, USER) == sorted(["first_song"] + (["gift"] if held else []))
    gifts = [n for n in notifications_of(db, USER) if n == ("badge", "gift")]
    assert len(gifts) == (2 if path == "award_badge" else 1)  # awarded, revoked, awarded again
    check_counters(db)


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
@pytest.mark.parametrize("new_tally", [True, False])
def test_a_level_completed_by_two_transactions_is_never_missed(db, connect, isolation, new_tally):
    """Write skew: each transaction completes one of the level's two requirements, and the
    one whose snapshot predates the other's commit sees the other requirement unmet. Under
    READ COMMITTED the users' lock gives it a fresh snapshot; under REPEATABLE READ and
    SERIALIZABLE it fails with 40001 instead of missing the level, whether the other tally
    was created (new_tally) or changed after its snapshot, and its retry awards the level."""
    define_level(db, "both", a=1, b=2)
    if not new_tally:
        db.execute("SELECT achievements.record_step(%s, 'b')", (USER,))
    slow, fast = connect(autocommit=False), connect()
    slow.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
    slow.execute("SELECT count(*) FROM achievements.user_achievements")  # the snapshot
    fast.execute("SELECT achievements.record_step(%s, 'b', %s)", (USER, 2 if new_tally else 1))
    with pytest.raises(psycopg.errors.SerializationFailure):
        slow.execute("SELECT achievements.record_step(%s, 'a')", (USER,))
        slow.commit()
    slow.rollback()
    slow.autocommit = True
    assert retrying(slow, isolation, "SELECT achievements.record_step(%(user)s, 'a')") == 1
    assert db.execute(
        "SELECT level FROM achievements.user_levels WHERE user_id = %s", (USER,)
    ).fetchall() == [("both",)]


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
def test_a_backfill_never_awards_from_a_tally_undone_after_its_snapshot(db, connect, isolation):
    db.execute("SELECT achievements.record_step(%s, 'song', 3)", (USER,))
    define_badge(db, "three_songs", step="song", threshold=3, revocable=True)
    slow, fast = connect(autocommit=False), connect()
    slow.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
    slow.execute("SELECT count(*) FROM achievements.user_achievements")  # the snapshot
    fast.execute("SELECT achievements.undo_step(%s, 'song', 2)", (USER,))
    with pytest.raises(psycopg.errors.SerializationFailure):
        slow.execute("SELECT achievements.backfill_badge('three_songs')")
        slow.commit()
    slow.rollback()
    slow.autocommit = True
    assert retrying(slow, isolation, "SELECT achievements.backfill_badge('three_songs')") == 1
    assert badges_of(db, USER) == []
    check_counters(db)


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
def test_a_badge_about_badges_completed_by_two_transactions_is_never_missed(db, connect, isolation):
    """Each transaction brings one of the last two badges of a category: the one whose snapshot
    predates the other's commit fails with 40001 (the user's score changed since), and its retry
    awards the badge about them, once."""
    define_badge(db, "a", category="m")
    define_badge(db, "b", category="m")
    define_badge(db, "all_m", all_badges=True, badge_category="m")
    slow, fast = connect(autocommit=False), connect()
    slow.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
    slow.execute("SELECT count(*) FROM achievements.user_badges")  # the snapshot
    fast.execute("SELECT achievements.award_badge(%s, 'a')", (USER,))
    with pytest.raises(psycopg.errors.SerializationFailure):
        slow.execute("SELECT achievements.award_badge(%s, 'b')", (USER,))
        slow.commit()
    slow.rollback()
    slow.autocommit = True
    assert retrying(slow, isolation, "SELECT achievements.award_badge(%(user)s, 'b')") == 1
    assert badges_of(db, USER) == ["a", "all_m", "b"]
    assert notifications_of(db, USER).count(("badge", "all_m")) == 1
    check_counters(db)


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
@pytest.mark.parametrize("points_first", [True, False])
@pytest.mark.parametrize("new_rows", [True, False])
def test_a_level_of_steps_and_points_completed_by_two_transactions_is_never_missed(
    db, connect, isolation, points_first, new_rows
):
    """One transaction brings the points, the other the step (each created, or changed, after
    the other's snapshot): the later one fails with 40001 rather than miss the level."""
    db.execute("INSERT INTO achievements.levels (name, min_points) VALUES ('pro', 10)")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count)"
        " VALUES ('pro', 'song', 2)"
    )
    define_badge(db, "gift", points=10)
    define_badge(db, "token", points=0)
    if not new_rows:  # the tally and the score exist before both snapshots
        db.execute("SELECT achievements.record_step(%s, 'song')", (USER,))
        db.execute("SELECT achievements.award_badge(%s, 'token')", (USER,))
    points = "SELECT achievements.award_badge(%(user)s, 'gift')"
    steps = "SELECT achievements.record_step(%(user)s, 'song', " + ("2)" if new_rows else "1)")
    first, second = (points, steps) if points_first else (steps, points)
    slow, fast = connect(autocommit=False), connect()
    slow.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
    slow.execute("SELECT count(*) FROM achievements.user_badges")  # the snapshot
    fast.execute(first, {"user": USER})
    with pytest.raises(psycopg.errors.SerializationFailure):
        slow.execute(second, {"user": USER})
        slow.commit()
    slow.rollback()
    slow.autocommit = True
    assert retrying(slow, isolation, second) == 1
    assert db.execute(
        "SELECT level FROM achievements.user_levels WHERE user_id = %s", (USER,)
    ).fetchall() == [("pro",)]
