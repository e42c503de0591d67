"""SQL errors as one AchievementsError with the server's message, detail lines and hint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from achievements_db.errors import AchievementsError


@contextmanager
def sql_errors() -> Iterator[None]:
    """Turns a database error into an AchievementsError carrying its message, detail, hint."""
    try:
        yield
    except psycopg.Error as exc:
        diag = exc.diag
        text = diag.message_primary or str(exc).strip().splitlines()[0]
        if diag.sqlstate:
            text = f"{text} (SQLSTATE {diag.sqlstate})"
        if diag.message_detail:
            text += "".join(f"\n  {line}" for line in diag.message_detail.splitlines())
        if diag.message_hint:
            text += f"\nhint: {diag.message_hint}"
        raise AchievementsError(text) from None
