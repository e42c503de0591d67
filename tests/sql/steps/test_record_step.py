"""record_step, undo_step and direct inserts into the step log keep tallies exact."""

import uuid

import psycopg
import pytest

from support.steps import tally


def log_sum(db, user, step):
    return db.execute(
        "SELECT coalesce(sum(count), 0) FROM achievements.user_steps WHERE user_id = %s AND name = %s",
        (user, step),
    ).fetchone()[0]


def test_record_step_returns_the_new_tally_and_logs_the_step(db):
    user = uuid.uuid4()
    assert db.execute("SELECT achievements.record_step(%s, 'post')", (user,)).fetchone()[0] == 1
    assert db.execute("SELECT achievements.record_step(%s, 'post', 4)", (user,)).fetchone()[0] == 5
    assert tally(db, user, "post") == 5
    rows = db.execute(
        "SELECT count FROM achievements.user_steps WHERE user_id = %s ORDER BY id", (user,)
    ).fetchall()
    assert rows == [(1,), (4,)]


@pytest.mark.committed
def test_record_step_sets_first_at_once_and_updated_at_each_time(db):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post')", (user,))
    first = db.execute(
        "SELECT first_at, updated_at FROM achievements.user_achievements WHERE user_id = %s",
        (user,),
    ).fetchone()
    db.execute("SELECT achievements.record_step(%s, 'post')", (user,))
    again = db.execute(
        "SELECT first_at, updated_at FROM achievements.user_achievements WHERE user_id = %s",
        (user,),
    ).fetchone()
    assert again[0] == first[0]
    assert again[1] > first[1]


@pytest.mark.parametrize("count", [0, -1, None])
def test_record_step_refuses_a_count_below_one(db, count):
    user = uuid.uuid4()
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.record_step(%s, 'post', %s)", (user, count))
    assert err.value.sqlstate == "AD002"
    assert "count must be a positive number" in str(err.value)
    assert tally(db, user, "post") is None


@pytest.mark.parametrize("step", ["", None])
def test_record_step_refuses_an_empty_step(db, step):
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.record_step(%s, %s)", (uuid.uuid4(), step))
    assert err.value.sqlstate == "AD002"


def test_record_step_refuses_a_null_user(db):
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.record_step(NULL, 'post')")
    assert err.value.sqlstate == "AD005"
    assert err.value.diag.message_hint


def test_undo_step_takes_back_and_stops_at_zero(db):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 3)", (user,))
    assert db.execute("SELECT achievements.undo_step(%s, 'post')", (user,)).fetchone()[0] == 2
    assert db.execute("SELECT achievements.undo_step(%s, 'post', 10)", (user,)).fetchone()[0] == 0
    assert db.execute("SELECT achievements.undo_step(%s, 'post')", (user,)).fetchone()[0] == 0
    assert tally(db, user, "post") == 0
    # The log holds exactly what was taken back: +3, -1, -2 (nothing for the no-op undo).
    counts = db.execute(
        "SELECT count FROM achievements.user_steps WHERE user_id = %s ORDER BY id", (user,)
    ).fetchall()
    assert counts == [(3,), (-1,), (-2,)]
    assert log_sum(db, user, "post") == 0


def test_undo_step_of_a_step_never_taken_is_zero_and_logs_nothing(db):
    user = uuid.uuid4()
    assert db.execute("SELECT achievements.undo_step(%s, 'post')", (user,)).fetchone()[0] == 0
    assert log_sum(db, user, "post") == 0


@pytest.mark.parametrize("count", [0, -2, None])
def test_undo_step_refuses_a_count_below_one(db, count):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 3)", (user,))
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.undo_step(%s, 'post', %s)", (user, count))
    assert err.value.sqlstate == "AD002"
    assert tally(db, user, "post") == 3


def test_multi_row_insert_into_user_steps_updates_every_tally(db):
    users = [uuid.uuid4() for _ in range(3)]
    db.execute(
        """INSERT INTO achievements.user_steps (user_id, name, count)
           SELECT u, s, c FROM unnest(%s::uuid[], %s::text[], %s::int[]) AS t(u, s, c)""",
        (
            [users[0], users[0], users[1], users[0], users[2]],
            ["post", "post", "post", "like", "post"],
            [1, 2, 5, 1, 7],
        ),
    )
    assert tally(db, users[0], "post") == 3
    assert tally(db, users[0], "like") == 1
    assert tally(db, users[1], "post") == 5
    assert tally(db, users[2], "post") == 7


def test_insert_defaults_count_to_one(db):
    user = uuid.uuid4()
    db.execute("INSERT INTO achievements.user_steps (user_id, name) VALUES (%s, 'post')", (user,))
    assert tally(db, user, "post") == 1


def test_negative_log_rows_undo_and_may_not_cross_zero(db):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 2)", (user,))
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'post', -1)",
        (user,),
    )
    assert tally(db, user, "post") == 1
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'post', -2)",
            (user,),
        )
    assert err.value.sqlstate == "AD003"
    assert "would fall below zero" in str(err.value)
    # The failed statement changed nothing: neither the log nor the tally.
    assert tally(db, user, "post") == 1
    assert log_sum(db, user, "post") == 1


def test_a_zero_count_row_is_refused(db):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'post', 0)",
            (uuid.uuid4(),),
        )


def test_the_log_is_append_only(db):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post')", (user,))
    with pytest.raises(psycopg.Error) as err:
        db.execute("UPDATE achievements.user_steps SET count = 5")
    assert err.value.sqlstate == "AD004"
    assert "append-only" in str(err.value)
    assert tally(db, user, "post") == 1


def test_deleting_log_rows_prunes_history_and_keeps_tallies(db):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 3)", (user,))
    db.execute("DELETE FROM achievements.user_steps WHERE user_id = %s", (user,))
    assert tally(db, user, "post") == 3


def test_tally_equals_log_sum_after_mixed_operations(db):
    user = uuid.uuid4()
    for op, n in [("record", 3), ("undo", 1), ("record", 5), ("undo", 10), ("record", 2)]:
        fn = "record_step" if op == "record" else "undo_step"
        db.execute(f"SELECT achievements.{fn}(%s, 'post', %s)", (user, n))
    assert tally(db, user, "post") == 2
    assert log_sum(db, user, "post") == 2


def test_a_failed_transaction_leaves_no_step(db):
    user = uuid.uuid4()
    with pytest.raises(psycopg.errors.DivisionByZero), db.transaction():
        db.execute("SELECT achievements.record_step(%s, 'post')", (user,))
        db.execute("SELECT 1/0")
    assert tally(db, user, "post") is None
