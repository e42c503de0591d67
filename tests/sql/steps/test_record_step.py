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


@pytest.mark.parametrize("step", ["", None, "s" * 201, "é" * 3000])
@pytest.mark.parametrize("function", ["record_step", "undo_step"])
def test_a_step_must_be_a_name_of_1_to_200_characters(db, function, step):
    """Before, a name of a few kilobytes failed with 54000 (index row size) naming nothing."""
    with pytest.raises(psycopg.Error) as err:
        db.execute(f"SELECT achievements.{function}(%s, %s)", (uuid.uuid4(), step))
    assert err.value.sqlstate == "AD002"
    assert "step a name of 1 to 200 characters" in err.value.diag.message_primary
    assert len(err.value.diag.message_primary) < 250  # the long name is cut, not repeated
    assert db.execute("SELECT count(*) FROM achievements.user_steps").fetchone()[0] == 0


def test_a_step_of_200_characters_is_a_step(db):
    user = uuid.uuid4()
    assert (
        db.execute("SELECT achievements.record_step(%s, %s)", (user, "é" * 200)).fetchone()[0] == 1
    )


def test_a_tally_at_its_limit_refuses_more_naming_the_user_and_the_step(db):
    """A tally is an int: at 2^31 - 1, one more step raises AD007 naming the user and the step
    (before: 22003 "integer out of range", naming neither), and changes nothing."""
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'minutes', 2147483646)", (user,))
    assert (
        db.execute("SELECT achievements.record_step(%s, 'minutes')", (user,)).fetchone()[0]
        == 2147483647
    )
    for statement in (
        "SELECT achievements.record_step(%s, 'minutes')",
        "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'minutes', 1)",
    ):
        with pytest.raises(psycopg.Error) as err:
            db.execute(statement, (user,))
        assert err.value.sqlstate == "AD007"
        assert err.value.diag.message_primary == (
            f"the tally of step 'minutes' of user {user} would pass 2147483647 (it is 2147483647, adding 1)"
        )
        assert err.value.diag.message_hint
    assert tally(db, user, "minutes") == 2147483647
    assert log_sum(db, user, "minutes") == 2147483647


def test_a_statement_whose_steps_sum_past_the_limit_is_refused(db):
    """One statement's rows are summed per user and step before they reach the tally."""
    user = uuid.uuid4()
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "INSERT INTO achievements.user_steps (user_id, name, count)"
            " VALUES (%s, 'minutes', 2147483647), (%s, 'minutes', 2)",
            (user, user),
        )
    assert err.value.sqlstate == "AD007"
    assert (
        "'minutes'" in err.value.diag.message_primary
        and str(user) in err.value.diag.message_primary
    )
    assert tally(db, user, "minutes") is None


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


@pytest.mark.parametrize(
    ("name", "count", "constraint"),
    [
        ("post", 0, "user_steps_count_not_zero"),
        ("", 1, "user_steps_name_of_1_to_200_characters"),
        ("s" * 3000, 1, "user_steps_name_of_1_to_200_characters"),
    ],
)
def test_a_log_row_with_no_count_or_a_bad_name_is_refused_by_a_named_constraint(
    db, name, count, constraint
):
    """Direct inserts into the log are checked by constraints whose names say what is wrong
    (23514, README); record_step() and undo_step() answer AD002 before reaching them."""
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        db.execute(
            "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, %s, %s)",
            (uuid.uuid4(), name, count),
        )
    assert err.value.diag.constraint_name == constraint


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
