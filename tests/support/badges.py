"""Helpers shared by the badge tests: define catalog rows, read a user's state."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def define_badge(db: psycopg.Connection, code: str, **columns: Any) -> None:
    """INSERT one row into achievements.badges; name defaults to the code."""
    columns = {"code": code, "name": code.replace("_", " ").title(), **columns}
    query = sql.SQL("INSERT INTO achievements.badges ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    db.execute(query, tuple(columns.values()))


def define_level(db: psycopg.Connection, name: str, **requirements: int) -> None:
    db.execute("INSERT INTO achievements.levels (name) VALUES (%s)", (name,))
    for step, count in requirements.items():
        db.execute(
            "INSERT INTO achievements.level_requirements (level, name, required_count)"
            " VALUES (%s, %s, %s)",
            (name, step, count),
        )


def badges_of(db: psycopg.Connection, user: Any) -> list[str]:
    rows = db.execute(
        "SELECT badge FROM achievements.user_badges WHERE user_id = %s ORDER BY badge", (user,)
    ).fetchall()
    return [r[0] for r in rows]


def notifications_of(db: psycopg.Connection, user: Any) -> list[tuple[str, str]]:
    """(kind, badge or level) of the user's notifications, oldest first."""
    rows = db.execute(
        "SELECT kind, coalesce(data->>'badge', data->>'level') FROM achievements.notifications"
        " WHERE user_id = %s ORDER BY id",
        (user,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def score_of(db: psycopg.Connection, user: Any) -> tuple[int, int]:
    """(points, badges) from user_scores; (0, 0) when the user has no row."""
    row = db.execute(
        "SELECT points, badges FROM achievements.user_scores WHERE user_id = %s", (user,)
    ).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def check_counters(db: psycopg.Connection) -> None:
    """The append-only counters equal a full recount of what they count."""
    holders = dict(
        db.execute(
            "SELECT badge, sum(holders) FROM achievements_private.badge_holders GROUP BY badge"
            " HAVING sum(holders) <> 0"
        ).fetchall()
    )
    assert holders == dict(
        db.execute("SELECT badge, count(*) FROM achievements.user_badges GROUP BY badge").fetchall()
    )
    histogram = dict(
        db.execute(
            "SELECT points, sum(users) FROM achievements_private.points_histogram GROUP BY points"
            " HAVING sum(users) <> 0"
        ).fetchall()
    )
    assert histogram == dict(
        db.execute(
            "SELECT points, count(*) FROM (SELECT ub.user_id, sum(b.points) AS points"
            " FROM achievements.user_badges ub JOIN achievements.badges b ON b.code = ub.badge"
            " GROUP BY ub.user_id) s WHERE points > 0 GROUP BY points"
        ).fetchall()
    )
    scores = {
        r[0]: (r[1], r[2])
        for r in db.execute(
            "SELECT user_id, points, badges FROM achievements.user_scores WHERE badges > 0"
        ).fetchall()
    }
    assert scores == {
        r[0]: (r[1], r[2])
        for r in db.execute(
            "SELECT ub.user_id, sum(b.points), count(*) FROM achievements.user_badges ub"
            " JOIN achievements.badges b ON b.code = ub.badge GROUP BY ub.user_id"
        ).fetchall()
    }
    users = db.execute(
        "SELECT coalesce(sum(users), 0) FROM achievements_private.known_user_count"
    ).fetchone()[0]
    assert (
        users == db.execute("SELECT count(*) FROM achievements_private.known_users").fetchone()[0]
    )
    assert (
        db.execute(
            "SELECT count(*) FROM (SELECT user_id FROM achievements.user_achievements"
            " UNION SELECT user_id FROM achievements.user_badges"
            " EXCEPT SELECT user_id FROM achievements_private.known_users) AS missing"
        ).fetchone()[0]
        == 0
    )
