"""Levels, requirements, steps_required and user_achieved."""

import uuid

import psycopg
import pytest


@pytest.fixture
def levels(db):
    db.execute("INSERT INTO achievements.levels (name) VALUES ('newbie'), ('pro'), ('empty')")
    db.execute(
        """INSERT INTO achievements.level_requirements (level, name, required_count, priority) VALUES
           ('newbie', 'complete_profile', 1, 1),
           ('newbie', 'upload_photo', 1, 2),
           ('newbie', 'make_post', 3, 3),
           ('pro', 'make_post', 50, 1),
           ('pro', 'receive_like', 100, 2)"""
    )
    return db


def required(db, level, user):
    return db.execute(
        "SELECT name, level, required_count, priority FROM achievements.steps_required(%s, %s)",
        (level, user),
    ).fetchall()


def test_steps_required_lists_what_is_missing_by_priority(levels):
    user = uuid.uuid4()
    assert required(levels, "newbie", user) == [
        ("complete_profile", "newbie", 1, 1),
        ("upload_photo", "newbie", 1, 2),
        ("make_post", "newbie", 3, 3),
    ]
    levels.execute("SELECT achievements.record_step(%s, 'make_post', 2)", (user,))
    levels.execute("SELECT achievements.record_step(%s, 'upload_photo')", (user,))
    assert required(levels, "newbie", user) == [
        ("complete_profile", "newbie", 1, 1),
        ("make_post", "newbie", 1, 3),
    ]


def test_steps_required_returns_requirement_ids(levels):
    ids = levels.execute(
        "SELECT id FROM achievements.steps_required('pro', %s) ORDER BY priority", (uuid.uuid4(),)
    ).fetchall()
    expected = levels.execute(
        "SELECT id FROM achievements.level_requirements WHERE level = 'pro' ORDER BY priority"
    ).fetchall()
    assert ids == expected


def test_user_achieved_once_every_requirement_is_met(levels):
    user = uuid.uuid4()
    achieved = "SELECT achievements.user_achieved(%s, %s)"
    assert levels.execute(achieved, ("newbie", user)).fetchone()[0] is False
    for step, n in [("complete_profile", 1), ("upload_photo", 1), ("make_post", 3)]:
        levels.execute("SELECT achievements.record_step(%s, %s, %s)", (user, step, n))
    assert levels.execute(achieved, ("newbie", user)).fetchone()[0] is True
    assert required(levels, "newbie", user) == []
    assert levels.execute(achieved, ("pro", user)).fetchone()[0] is False


def test_a_level_without_requirements_is_achieved(levels):
    assert levels.execute(
        "SELECT achievements.user_achieved('empty', %s)", (uuid.uuid4(),)
    ).fetchone()[0]


@pytest.mark.parametrize(
    "call",
    [
        "SELECT * FROM achievements.steps_required('nope', %s)",
        "SELECT achievements.user_achieved('nope', %s)",
    ],
)
def test_an_unknown_level_is_an_error_not_an_answer(levels, call):
    with pytest.raises(psycopg.Error) as err:
        levels.execute(call, (uuid.uuid4(),))
    assert err.value.sqlstate == "AD001"
    assert "unknown level 'nope'" in str(err.value)
    assert "achievements.levels" in err.value.diag.message_hint


def test_without_a_user_the_request_user_is_used(levels):
    user = uuid.uuid4()
    levels.execute("SELECT achievements.record_step(%s, 'make_post', 3)", (user,))
    levels.execute("SELECT set_config('request.jwt.claims', %s, false)", (f'{{"sub": "{user}"}}',))
    rows = levels.execute("SELECT name FROM achievements.steps_required('newbie')").fetchall()
    assert rows == [("complete_profile",), ("upload_photo",)]


def test_without_any_user_it_is_an_error(levels):
    with pytest.raises(psycopg.Error) as err:
        levels.execute("SELECT achievements.user_achieved('newbie')")
    assert err.value.sqlstate == "AD005"


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO achievements.level_requirements (level, name, required_count) VALUES ('newbie', 'x', 0)",
        "INSERT INTO achievements.level_requirements (level, name) VALUES ('missing', 'x')",
        "INSERT INTO achievements.level_requirements (level, name) VALUES ('newbie', 'make_post')",
        "INSERT INTO achievements.levels (name) VALUES ('')",
    ],
)
def test_bad_level_definitions_are_refused(levels, statement):
    with pytest.raises(psycopg.IntegrityError):
        levels.execute(statement)


def test_deleting_a_level_removes_its_requirements(levels):
    levels.execute("DELETE FROM achievements.levels WHERE name = 'pro'")
    left = levels.execute(
        "SELECT count(*) FROM achievements.level_requirements WHERE level = 'pro'"
    ).fetchone()[0]
    assert left == 0


def test_one_statement_can_bring_many_users_to_a_level(levels):
    """The per-user level locks are bucketed: 20,000 users must not exhaust the lock table."""
    levels.execute("INSERT INTO achievements.levels (name) VALUES ('starter')")
    levels.execute(
        "INSERT INTO achievements.level_requirements (level, name) VALUES ('starter', 'hello')"
    )
    levels.execute(
        """INSERT INTO achievements.user_steps (user_id, name)
           SELECT gen_random_uuid(), 'hello' FROM generate_series(1, 20000)"""
    )
    assert (
        levels.execute(
            "SELECT count(*) FROM achievements.user_levels WHERE level = 'starter'"
        ).fetchone()[0]
        == 20000
    )


def test_a_level_is_awarded_when_a_step_crosses_a_requirement(db):
    # Tallies first, level later: steps that cross no requirement award nothing; the step that
    # crosses one does, and backfill_levels() catches up everyone who already qualifies.
    a, b = uuid.uuid4(), uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 5)", (a,))
    db.execute("SELECT achievements.record_step(%s, 'post', 5)", (b,))
    db.execute("INSERT INTO achievements.levels (name) VALUES ('writer')")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count)"
        " VALUES ('writer', 'post', 3), ('writer', 'comment', 1)"
    )
    db.execute("SELECT achievements.record_step(%s, 'post')", (a,))
    assert db.execute("SELECT count(*) FROM achievements.user_levels").fetchone()[0] == 0
    db.execute("SELECT achievements.record_step(%s, 'comment')", (a,))  # crosses 'comment'
    assert db.execute("SELECT user_id FROM achievements.user_levels").fetchall() == [(a,)]
    db.execute("INSERT INTO achievements.user_steps (user_id, name) VALUES (%s, 'comment')", (b,))
    assert db.execute("SELECT count(*) FROM achievements.user_levels").fetchone()[0] == 2
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name) VALUES ('writer', 'like')"
    )
    db.execute("INSERT INTO achievements.levels (name) VALUES ('poster')")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count)"
        " VALUES ('poster', 'post', 2)"
    )
    db.execute("SELECT achievements.record_step(%s, 'post')", (a,))
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.user_levels WHERE level = 'poster'"
        ).fetchone()[0]
        == 0
    )
    assert db.execute("SELECT achievements.backfill_levels('poster')").fetchone()[0] == 2
