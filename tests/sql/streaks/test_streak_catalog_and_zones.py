"""Streak steps in the catalog ([steps], with a table or recorded by record_step), seed 001's
3-, 7- and 30-day streak badges as catalog entries, and a user who moves zones."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest

ALICE = uuid.UUID(int=1)

CATALOG = {
    "badges": {
        f"{step}_{n}": {"name": f"{n} days in a row", "step": step, "threshold": n}
        for n, step in (
            (3, "daily_quiz"),
            (7, "daily_quiz"),
            (30, "daily_quiz"),
            (3, "daily_login"),
        )
    },
    "steps": {
        "daily_login": {
            "table": "logins",
            "user_column": "user_id",
            "mode": "streak",
            "at": "logged_in_at",
        },
        "daily_quiz": {"mode": "streak", "period": "day"},
    },
}


def apply(db, catalog, dry_run=False):
    return db.execute(
        "SELECT object, name, action FROM achievements.apply_catalog(%s, %s)",
        (json.dumps(catalog), dry_run),
    ).fetchall()


def test_streak_steps_in_the_catalog(db):
    db.execute(
        "CREATE TABLE logins (id bigserial PRIMARY KEY, user_id uuid NOT NULL, logged_in_at timestamptz NOT NULL)"
    )
    changes = apply(db, CATALOG)
    assert ("step", "daily_login", "create") in changes and (
        "step",
        "daily_quiz",
        "create",
    ) in changes
    assert apply(db, CATALOG) == []  # idempotent
    assert db.execute("SELECT step, mode, at, period FROM achievements.tracked()").fetchall() == [
        ("daily_login", "streak", "logged_in_at", "day")
    ]
    assert db.execute(
        "SELECT step, period FROM achievements.streak_steps ORDER BY 1"
    ).fetchall() == [
        ("daily_login", "day"),
        ("daily_quiz", "day"),
    ]
    # Seed 001: a quiz a day, recorded by the application; the streak badges follow.
    assert (
        db.execute("SELECT achievements.record_step(%s, 'daily_quiz')", (ALICE,)).fetchone()[0] == 1
    )
    for back in (1, 2):
        db.execute(
            "INSERT INTO achievements_private.streak_calls (step, user_id, at) VALUES ('daily_quiz', %s, now() - %s * interval '1 day')",
            (ALICE, back),
        )
    db.execute(
        "SELECT achievements.grant_streak_freezes(%s, 'daily_quiz', 1)", (ALICE,)
    )  # works it out again
    assert db.execute(
        "SELECT badge FROM achievements.user_badges WHERE user_id = %s", (ALICE,)
    ).fetchall() == [("daily_quiz_3",)]
    # Another period for a streak step is an error of the catalog, and changes nothing.
    wrong = json.loads(json.dumps(CATALOG))
    wrong["steps"]["daily_quiz"]["period"] = "week"
    with pytest.raises(psycopg.Error) as err:
        apply(db, wrong)
    assert err.value.sqlstate == "AD207" and "daily_quiz" in err.value.diag.message_detail


def test_a_user_who_moves_zones_keeps_the_days_already_counted(db, connect):
    """Budapest first (it also dates the logins before it), then Los Angeles from the moment it
    is set: the earlier logins keep their Budapest days, the new one is a Los Angeles day."""
    db.execute(
        "CREATE TABLE logins (id bigserial PRIMARY KEY, user_id uuid NOT NULL, at timestamptz NOT NULL)"
    )
    db.execute(
        "SELECT achievements.track('logins', 'daily', mode => 'streak', at => 'at', user_column => 'user_id')"
    )
    db.execute("SELECT achievements.set_time_zone('Europe/Budapest', %s)", (ALICE,))
    earlier = [
        db.execute(
            "INSERT INTO logins (user_id, at) VALUES (%s, now() - %s * interval '1 day') RETURNING at",
            (ALICE, back),
        ).fetchone()[0]
        for back in (2, 1)
    ]
    db.execute("SELECT achievements.set_time_zone('America/Los_Angeles', %s)", (ALICE,))
    latest = db.execute(
        "INSERT INTO logins (user_id, at) VALUES (%s, clock_timestamp()) RETURNING at", (ALICE,)
    ).fetchone()[0]
    days = sorted(
        {t.astimezone(ZoneInfo("Europe/Budapest")).date() for t in earlier}
        | {latest.astimezone(ZoneInfo("America/Los_Angeles")).date()}
    )
    longest = run = 1
    for a, b in zip(days, days[1:], strict=False):
        run = run + 1 if b - a == dt.timedelta(days=1) else 1
        longest = max(longest, run)
    state = db.execute(
        "SELECT longest, last_period FROM achievements_private.streak_states WHERE user_id = %s",
        (ALICE,),
    ).fetchone()
    assert state == (longest, days[-1])
    assert db.execute(
        "SELECT time_zone FROM achievements.user_time_zones WHERE user_id = %s ORDER BY valid_from",
        (ALICE,),
    ).fetchall() == [("Europe/Budapest",), ("America/Los_Angeles",)]
    # Working it out again from the rows gives the same: each login keeps the zone of its time.
    db.execute("SELECT achievements.recount('daily')")
    assert (
        db.execute(
            "SELECT longest, last_period FROM achievements_private.streak_states WHERE user_id = %s",
            (ALICE,),
        ).fetchone()
        == state
    )
