"""Which database a command works on (--database-url, else DATABASE_URL, else the embedded
one), and connecting to it."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from achievements_db.conninfo import Target, describe, parse_conninfo
from achievements_db.embedded import start_embedded
from achievements_db.errors import AchievementsError


def resolve(database_url: str | None) -> Target:
    """The database named by the argument or DATABASE_URL; with neither, the embedded server."""
    url = database_url or os.environ.get("DATABASE_URL")
    if url:
        params = parse_conninfo(url)
        return Target(conninfo=make_conninfo(**params), description=describe(params))
    return start_embedded()


def connect(target: Target, **kwargs: Any) -> psycopg.Connection[Any]:
    """An autocommit connection to `target`; AchievementsError with the reason if refused."""
    try:
        return psycopg.connect(target.conninfo, autocommit=True, **kwargs)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise AchievementsError(f"cannot connect to {target.description}: {reason}") from None
