"""Races between real sessions: no lost count, no deadlock, no double award."""

import uuid

import pytest

from support.badges import badges_of, define_badge, notifications_of
from support.races import blocked_call, run_together


def tally(db, user, step):
    row = db.execute(
        "SELECT count FROM achievements.user_achievements WHERE user_id = %s AND name = %s",
        (user, step),
    ).fetchone()
    return row[0] if row else 0


def test_concurrent_record_step_on_one_user_loses_no_count(db, connect):
    user = uuid.uuid4()

    def work(i, conn):
        for _ in range(50):
            conn.execute("SELECT achievements.record_step(%s, 'post')", (user,))

    run_together(connect, 8, work)
    assert tally(db, user, "post") == 8 * 50
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.user_steps WHERE user_id = %s", (user,)
        ).fetchone()[0]
        == 400
    )


def test_concurrent_first_steps_create_one_tally_row(db, connect):
    # Ten sessions take a new user's first step at once: one inserts the tally, the others add
    # to it under its row lock, and each sees its own count before, so the badges at 1 and at
    # 10 are each crossed, awarded and announced once.
    define_badge(db, "first_1", step="first", threshold=1)
    define_badge(db, "first_10", step="first", threshold=10)
    user = uuid.uuid4()
    run_together(
        connect,
        10,
        lambda i, conn: conn.execute("SELECT achievements.record_step(%s, 'first')", (user,)),
    )
    assert tally(db, user, "first") == 10
    assert badges_of(db, user) == ["first_1", "first_10"]
    assert notifications_of(db, user) == [("badge", "first_1"), ("badge", "first_10")]


def test_concurrent_undo_never_takes_more_than_there_is(db, connect):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 5)", (user,))
    run_together(
        connect,
        8,
        lambda i, conn: conn.execute("SELECT achievements.undo_step(%s, 'post', 1)", (user,)),
    )
    assert tally(db, user, "post") == 0
    assert (
        db.execute(
            "SELECT sum(count) FROM achievements.user_steps WHERE user_id = %s", (user,)
        ).fetchone()[0]
        == 0
    )


def test_concurrent_bulk_inserts_over_overlapping_users_neither_deadlock_nor_lose(db, connect):
    users = [uuid.uuid4() for _ in range(200)]

    def work(i, conn):
        # Each session walks the users in a different order, in one statement per batch.
        order = users[i * 37 % 200 :] + users[: i * 37 % 200]
        for _ in range(5):
            conn.execute(
                """INSERT INTO achievements.user_steps (user_id, name, count)
                   SELECT u, s, 1 FROM unnest(%s::uuid[]) AS u, unnest(ARRAY['a', 'b']) AS s""",
                (order,),
            )

    run_together(connect, 4, work)
    rows = db.execute(
        "SELECT count(*), min(count), max(count) FROM achievements.user_achievements"
    ).fetchone()
    assert rows == (400, 20, 20)


def test_two_requirements_completed_in_concurrent_transactions_award_the_level(db, connect):
    """Write skew: each transaction completes one requirement and cannot see the other's."""
    db.execute("INSERT INTO achievements.levels (name) VALUES ('both')")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name) VALUES ('both', 'a'), ('both', 'b')"
    )
    for _ in range(10):
        user = uuid.uuid4()
        first, second = connect(autocommit=False), connect(autocommit=False)
        first.execute("SELECT achievements.record_step(%s, 'a')", (user,))
        # The second session waits for the first one's user lock, then sees its tally.
        waiting = blocked_call(
            db,
            second,
            lambda conn, user=user: (
                conn.execute("SELECT achievements.record_step(%s, 'b')", (user,)),
                conn.commit(),
            ),
        )
        first.commit()
        waiting.result()
        assert (
            db.execute(
                "SELECT count(*) FROM achievements.user_levels WHERE user_id = %s AND level = 'both'",
                (user,),
            ).fetchone()[0]
            == 1
        )


@pytest.mark.parametrize("sessions", [20])
def test_level_is_awarded_once_under_many_sessions(db, connect, sessions):
    db.execute("INSERT INTO achievements.levels (name) VALUES ('ten')")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count) VALUES ('ten', 'post', 10)"
    )
    user = uuid.uuid4()
    run_together(
        connect,
        sessions,
        lambda i, conn: conn.execute("SELECT achievements.record_step(%s, 'post')", (user,)),
    )
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.user_levels WHERE user_id = %s", (user,)
        ).fetchone()[0]
        == 1
    )
