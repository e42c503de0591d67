"""Streaks under concurrent sessions: logins of one user written at once, a late row racing a
delete, record_step racing a host insert, set_time_zone racing a login; and what an application
role may read and do (row level security from the JWT claims)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import psycopg
import pytest

from support.databases import APP_ROLE, SERVICE_ROLE
from support.races import blocked_call, run_together

UTC = dt.timezone.utc
ALICE = uuid.UUID(int=1)
BOB = uuid.UUID(int=2)


def setup_logins(db) -> None:
    db.execute(
        "CREATE TABLE logins (id bigserial PRIMARY KEY, user_id uuid NOT NULL, at timestamptz NOT NULL)"
    )
    db.execute(
        "SELECT achievements.track('logins', 'daily', mode => 'streak', at => 'at', user_column => 'user_id')"
    )
    db.execute(
        "INSERT INTO achievements.badges (code, name, step, threshold) VALUES ('streak_5', 'Five days', 'daily', 5)"
    )


def day(n: int) -> dt.datetime:
    return dt.datetime(2026, 4, 1, 12, tzinfo=UTC) + dt.timedelta(days=n)


def tally(conn, user) -> int:
    row = conn.execute(
        "SELECT count FROM achievements.user_achievements WHERE user_id = %s AND name = 'daily'",
        (user,),
    ).fetchone()
    return row[0] if row else 0


def test_a_second_session_waits_and_sees_the_first_ones_day(db, connect):
    """Session A logs day 1 and holds its transaction; session B logs day 2, waits on the
    tally's lock, and once A commits works the streak out from both rows."""
    setup_logins(db)
    a, b, observer = connect(), connect(), connect()
    a.execute("BEGIN")
    a.execute("INSERT INTO logins (user_id, at) VALUES (%s, %s)", (ALICE, day(1)))
    waiting = blocked_call(
        observer,
        b,
        lambda c: c.execute("INSERT INTO logins (user_id, at) VALUES (%s, %s)", (ALICE, day(2))),
    )
    a.execute("COMMIT")
    waiting.result()
    assert tally(db, ALICE) == 2


def test_a_delete_racing_a_late_row(db, connect):
    """Day 2 is deleted while another session fills it again with a late row: whichever order
    they commit in, the streak equals a recount of the rows left."""
    setup_logins(db)
    ids = [
        db.execute(
            "INSERT INTO logins (user_id, at) VALUES (%s, %s) RETURNING id", (ALICE, day(n))
        ).fetchone()[0]
        for n in (1, 2, 3)
    ]
    a, b, observer = connect(), connect(), connect()
    a.execute("BEGIN")
    a.execute("DELETE FROM logins WHERE id = %s", (ids[1],))
    waiting = blocked_call(
        observer,
        b,
        lambda c: c.execute(
            "INSERT INTO logins (user_id, at) VALUES (%s, %s)",
            (ALICE, day(2) + dt.timedelta(hours=3)),
        ),
    )
    a.execute("COMMIT")
    waiting.result()
    assert tally(db, ALICE) == 3


def test_many_sessions_logging_one_user_at_once(db, connect):
    setup_logins(db)

    def work(index: int, conn) -> None:
        for n in range(index, 30, 6):
            conn.execute(
                "INSERT INTO logins (user_id, at) VALUES (%s, %s), (%s, %s)",
                (ALICE, day(n), BOB, day(2 * n)),
            )
            if n % 4 == 0:
                conn.execute("SELECT achievements.record_step(%s, 'daily')", (BOB,))

    run_together(connect, 6, work)
    assert tally(db, ALICE) == 30
    # Bob: every other day, plus today's calls: runs of 1 in the rows.
    assert tally(db, BOB) == 1
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.user_badges WHERE badge = 'streak_5'"
        ).fetchone()[0]
        == 1
    )
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.notifications WHERE user_id = %s AND kind = 'badge'",
            (ALICE,),
        ).fetchone()[0]
        == 1
    )


def test_set_time_zone_waits_for_a_login_in_flight(db, connect):
    """A login at 23:30 UTC on day 1 and one at 01:00 UTC on day 3 are two days apart in UTC
    but consecutive in Tokyo (UTC+9): a zone set while the login commits counts it."""
    setup_logins(db)
    db.execute(
        "INSERT INTO logins (user_id, at) VALUES (%s, %s)",
        (ALICE, dt.datetime(2026, 4, 1, 23, 30, tzinfo=UTC)),
    )
    a, b, observer = connect(), connect(), connect()
    a.execute("BEGIN")
    a.execute(
        "INSERT INTO logins (user_id, at) VALUES (%s, %s)",
        (ALICE, dt.datetime(2026, 4, 3, 1, 0, tzinfo=UTC)),
    )
    waiting = blocked_call(
        observer,
        b,
        lambda c: c.execute("SELECT achievements.set_time_zone('Asia/Tokyo', %s)", (ALICE,)),
    )
    a.execute("COMMIT")
    waiting.result()
    assert tally(db, ALICE) == 2


def as_role(connect, role: str, user) -> psycopg.Connection:
    conn = connect()
    conn.execute(f"SET ROLE {role}")
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(user)}),)
    )
    return conn


def test_an_application_role_reads_and_sets_only_its_own(db, connect):
    setup_logins(db)
    db.execute(
        "INSERT INTO logins (user_id, at) VALUES (%s, %s), (%s, %s)", (ALICE, day(1), BOB, day(1))
    )
    app = as_role(connect, APP_ROLE, ALICE)
    assert (
        app.execute("SELECT achievements.set_time_zone('Europe/Budapest')").fetchone()[0]
        == "Europe/Budapest"
    )
    db.execute("SELECT achievements.set_time_zone('Asia/Tokyo', %s)", (BOB,))
    assert app.execute(
        "SELECT user_id, time_zone FROM achievements.user_time_zones"
    ).fetchall() == [(ALICE, "Europe/Budapest")]
    assert app.execute("SELECT step, longest FROM achievements.streaks()").fetchall() == [
        ("daily", 1)
    ]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT * FROM achievements.streaks(%s)", (BOB,))
    for call, user in (
        ("SELECT achievements.set_time_zone('UTC', %s)", BOB),
        ("SELECT achievements.grant_streak_freezes(%s, 'daily', 5)", ALICE),
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(call, (user,))
    assert (
        app.execute("SELECT achievements.set_time_zone('Asia/Tokyo', %s)", (ALICE,)).fetchone()[0]
        == "Asia/Tokyo"
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT * FROM achievements_private.streak_states")
    assert (
        len(
            app.execute(
                "SELECT * FROM achievements.streak_leaderboard('daily', 'longest')"
            ).fetchall()
        )
        == 2
    )
    service = as_role(connect, SERVICE_ROLE, ALICE)
    assert (
        service.execute(
            "SELECT achievements.grant_streak_freezes(%s, 'daily', 2)", (BOB,)
        ).fetchone()[0]
        == 2
    )
    assert (
        service.execute("SELECT freezes_left FROM achievements.streaks(%s)", (BOB,)).fetchone()[0]
        == 2
    )
