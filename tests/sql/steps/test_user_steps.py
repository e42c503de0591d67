"""The package's own functions log into recorded_steps, a child table of user_steps, and add to
the tallies themselves: every row still reads through user_steps, nothing is counted twice,
and no role but the owner can write that table or call add_to_tallies."""

import uuid

import psycopg
import pytest

from support.databases import APP_ROLE, SERVICE_ROLE
from support.steps import tally


def parts(db, user):
    """(table holding the row, count) of a user's log rows, in log order."""
    return db.execute(
        "SELECT tableoid::regclass::text, count FROM achievements.user_steps"
        " WHERE user_id = %s ORDER BY id",
        (user,),
    ).fetchall()


def test_each_path_logs_once_in_its_part_and_counts_once(db):
    user = uuid.uuid4()
    db.execute("CREATE TABLE posts (id serial, author uuid, body text)")
    db.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
    db.execute("SELECT achievements.record_step(%s, 'post', 3)", (user,))
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'post', 2)", (user,)
    )
    db.execute(
        "INSERT INTO posts (author, body) SELECT %s, 'x' FROM generate_series(1, 4)", (user,)
    )
    db.execute("SELECT achievements.undo_step(%s, 'post', 1)", (user,))
    assert parts(db, user) == [
        ("achievements_private.recorded_steps", 3),
        ("achievements.user_steps", 2),
        ("achievements_private.recorded_steps", 4),
        ("achievements_private.recorded_steps", -1),
    ]
    assert tally(db, user, "post") == 3 + 2 + 4 - 1
    only = db.execute(
        "SELECT count(*) FROM ONLY achievements.user_steps WHERE user_id = %s", (user,)
    ).fetchone()[0]
    assert only == 1


def test_updates_of_recorded_rows_are_refused_and_deletes_prune_them(db):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 2)", (user,))
    with pytest.raises(psycopg.Error) as err:
        db.execute("UPDATE achievements.user_steps SET count = 9 WHERE user_id = %s", (user,))
    assert err.value.sqlstate == "AD004"
    db.execute("DELETE FROM achievements.user_steps WHERE user_id = %s", (user,))
    assert parts(db, user) == []
    assert tally(db, user, "post") == 2


@pytest.mark.parametrize("role", [APP_ROLE, SERVICE_ROLE])
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO achievements_private.recorded_steps (user_id, name) VALUES ('{user}', 'post')",
        "SELECT achievements_private.add_to_tallies(ARRAY['{user}']::achievements.user_ref[], ARRAY['post'], ARRAY[5], true)",
    ],
)
def test_no_role_but_the_owner_writes_recorded_steps_or_tallies(connect, db, role, statement):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post')", (user,))
    conn = connect()
    conn.execute(f"SET ROLE {role}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement.format(user=user))
    assert tally(db, user, "post") == 1
    assert len(parts(db, user)) == 1


def test_a_service_role_reads_recorded_rows_through_user_steps(connect, db):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 2)", (user,))
    conn = connect()
    conn.execute(f"SET ROLE {SERVICE_ROLE}")
    assert conn.execute(
        "SELECT count FROM achievements.user_steps WHERE user_id = %s", (user,)
    ).fetchall() == [(2,)]
