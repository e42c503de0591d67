"""Who reads which user's rows: row level security and the per-user reads, exercised as
non-owner roles (readable_user, sql/01_foundation/06_user_access.sql)."""

import json
import uuid

import psycopg
import pytest

from support.databases import APP_ROLE, SERVICE_ROLE


def as_user(conn, role, user=None):
    conn.execute(f"SET ROLE {role}")
    claims = json.dumps({"sub": str(user)}) if user else ""
    conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (claims,))
    return conn


@pytest.fixture
def two_users(db):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    db.execute("INSERT INTO achievements.levels (name) VALUES ('newbie')")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count) VALUES ('newbie', 'post', 2)"
    )
    db.execute("SELECT achievements.record_step(%s, 'post', 2)", (alice,))
    db.execute("SELECT achievements.record_step(%s, 'post', 1)", (bob,))
    return alice, bob


@pytest.mark.parametrize("table", ["user_steps", "user_achievements", "user_levels"])
def test_an_app_role_reads_only_its_own_rows(connect, two_users, table):
    alice, bob = two_users
    conn = as_user(connect(), APP_ROLE, alice)
    users = {r[0] for r in conn.execute(f"SELECT user_id FROM achievements.{table}").fetchall()}
    assert users == {alice}


def test_an_app_role_without_claims_reads_nothing(connect, two_users):
    conn = as_user(connect(), APP_ROLE)
    assert conn.execute("SELECT count(*) FROM achievements.user_achievements").fetchone()[0] == 0


def test_an_app_role_reads_the_level_catalog(connect, two_users):
    conn = as_user(connect(), APP_ROLE, two_users[0])
    assert conn.execute("SELECT count(*) FROM achievements.level_requirements").fetchone()[0] == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE achievements.user_achievements SET count = 1000",
        "DELETE FROM achievements.user_achievements",
        "INSERT INTO achievements.user_achievements (user_id, name, count) VALUES ('{user}', 'post', 99)",
        "INSERT INTO achievements.user_steps (user_id, name, count) VALUES ('{user}', 'post', 99)",
        "SELECT achievements.record_step('{user}', 'post', 99)",
        "SELECT achievements.undo_step('{user}', 'post', 1)",
        "SELECT achievements.backfill_levels()",
        "INSERT INTO achievements.user_levels (user_id, level) VALUES ('{user}', 'newbie')",
        "INSERT INTO achievements.levels (name) VALUES ('cheat')",
        "SELECT achievements_private.parse_user_ref('x')",
    ],
)
def test_an_app_role_cannot_write_tallies_or_call_internals(connect, db, two_users, statement):
    alice, bob = two_users
    conn = as_user(connect(), APP_ROLE, bob)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement.format(user=bob))
    assert (
        db.execute(
            "SELECT count FROM achievements.user_achievements WHERE user_id = %s", (bob,)
        ).fetchone()[0]
        == 1
    )


def test_an_app_role_reads_its_own_progress_through_the_functions(connect, two_users):
    alice, bob = two_users
    conn = as_user(connect(), APP_ROLE, bob)
    assert conn.execute("SELECT achievements.user_achieved('newbie')").fetchone()[0] is False
    assert conn.execute(
        "SELECT required_count FROM achievements.steps_required('newbie')"
    ).fetchall() == [(1,)]
    conn = as_user(connect(), APP_ROLE, alice)
    assert conn.execute("SELECT achievements.user_achieved('newbie')").fetchone()[0] is True


def test_an_app_role_may_not_ask_about_another_user(connect, two_users):
    alice, bob = two_users
    conn = as_user(connect(), APP_ROLE, bob)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
        conn.execute("SELECT achievements.user_achieved('newbie', %s)", (alice,))
    assert "may read only its own progress" in str(err.value)


def test_a_service_role_records_and_reads_for_any_user(connect, db, two_users):
    alice, bob = two_users
    conn = as_user(connect(), SERVICE_ROLE)
    assert conn.execute("SELECT achievements.record_step(%s, 'post')", (bob,)).fetchone()[0] == 2
    conn.execute(
        "INSERT INTO achievements.user_steps (user_id, name) VALUES (%s, 'post')", (alice,)
    )
    assert conn.execute("SELECT achievements.user_achieved('newbie', %s)", (bob,)).fetchone()[0]
    assert conn.execute("SELECT count(*) FROM achievements.user_achievements").fetchone()[0] == 2
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE achievements.user_achievements SET count = 0")
