"""Helpers shared by the step and tally tests."""

from __future__ import annotations

from typing import Any

import psycopg


def tally(db: psycopg.Connection, user: Any, step: str) -> int | None:
    """The user's tally of `step`, or None when there is no tally row."""
    row = db.execute(
        "SELECT count FROM achievements.user_achievements WHERE user_id = %s AND name = %s",
        (user, step),
    ).fetchone()
    return row[0] if row else None
