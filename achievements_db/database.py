"""Which database a command works on (--database-url, else DATABASE_URL, else the embedded
one), and connecting to it."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from achievements_db.conninfo import Target, describe, parse_conninfo
from achievements_db.embedded import start_embedded
from achievements_db.errors import AchievementsError


def resolve(database_url: str | None) -> Target:
    """The database named by the argument or DATABASE_URL; with neither, the embedded server.
    An empty one is an error, not a way to ask for the embedded server."""
    if database_url is not None:
        return target(database_url, "--database-url")
    from_env = os.environ.get("DATABASE_URL")
    if from_env is not None:
        return target(from_env, "DATABASE_URL")
    return start_embedded()


def as_target(database: Target | str) -> Target:
    """A Target as it is; a connection string as the Target it names."""
    return database if isinstance(database, Target) else target(database)


def target(url: str, source: str = "the connection string") -> Target:
    """The database a connection string names (a URL or key=value pairs, as libpq takes them);
    AchievementsError when it is empty or not one."""
    if not url.strip():
        raise AchievementsError(
            f"{source} is empty: give a connection string (postgresql://user@host:port/dbname),"
            " or leave it unset to use the embedded PostgreSQL"
        )
    params = parse_conninfo(url)
    return Target(conninfo=make_conninfo(**params), description=describe(params))


# Seconds to wait for a server to answer, unless the URL (connect_timeout=) or libpq's
# PGCONNECT_TIMEOUT says otherwise: a server that accepts the connection and never answers
# must not hang a command forever.
DEFAULT_CONNECT_TIMEOUT = 10


def connect_timeout(conninfo: str) -> int | None:
    """The connect timeout to pass for `conninfo`: None when the URL or the environment sets
    one already (libpq and psycopg then apply it), else DEFAULT_CONNECT_TIMEOUT."""
    if "connect_timeout" in conninfo_to_dict(conninfo) or os.environ.get("PGCONNECT_TIMEOUT"):
        return None
    return DEFAULT_CONNECT_TIMEOUT


def connect(target: Target, **kwargs: Any) -> psycopg.Connection[Any]:
    """An autocommit connection to `target`; AchievementsError with the reason if refused, or
    naming the server that did not answer in time."""
    timeout = connect_timeout(target.conninfo)
    if timeout is not None:
        kwargs.setdefault("connect_timeout", timeout)
    try:
        return psycopg.connect(target.conninfo, autocommit=True, **kwargs)
    except psycopg.errors.ConnectionTimeout:
        seconds = (
            kwargs.get("connect_timeout")
            or os.environ.get("PGCONNECT_TIMEOUT")
            or (conninfo_to_dict(target.conninfo).get("connect_timeout"))
        )
        raise AchievementsError(
            f"{target.description} did not answer within {seconds} s "
            "(a longer wait: --connect-timeout SECONDS, or PGCONNECT_TIMEOUT)"
        ) from None
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise AchievementsError(f"cannot connect to {target.description}: {reason}") from None


def connect_installed(target: Target, **kwargs: Any) -> psycopg.Connection[Any]:
    """connect(target), for a command that needs the package installed: AchievementsError
    saying to run `achievements-db migrate` when it is not."""
    conn = connect(target, **kwargs)
    row = conn.execute("SELECT to_regnamespace('achievements') IS NOT NULL").fetchone()
    if not (row and row[0]):
        conn.close()
        raise AchievementsError(
            f"achievements-db is not installed in {target.description}: "
            "run `achievements-db migrate` first"
        )
    return conn
