"""Connection strings: what a database URL names, and how to show it to a person."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict

from achievements_db.errors import AchievementsError


@dataclass(frozen=True)
class Target:
    """A database to connect to, and how to name it to a person."""

    conninfo: str
    description: str


def parse_conninfo(url: str) -> dict[str, str]:
    """The libpq parameters of a URL or key=value string; AchievementsError when it is not one."""
    if "://" in url:
        scheme, rest = url.split("://", 1)
        # Accept SQLAlchemy-style URLs such as postgresql+psycopg://...
        if scheme.split("+", 1)[0] in ("postgres", "postgresql"):
            url = "postgresql://" + rest
        else:
            raise AchievementsError(
                f"database URL has scheme {scheme!r}; use postgresql://user:password@host:port/dbname"
            )
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items()}
    except psycopg.ProgrammingError as exc:
        raise AchievementsError(
            f"invalid database URL: {str(exc).strip().splitlines()[0]}; "
            "use postgresql://user:password@host:port/dbname"
        ) from None
    ports = params.get("port", "5432").split(",")
    if not all(p.isdigit() and 0 < int(p) < 65536 for p in ports):
        raise AchievementsError(
            f"invalid database URL: port {params['port']!r} is not a number from 1 to 65535"
        )
    return params


def describe(params: dict[str, str]) -> str:
    """The database as a URL that psql accepts, without the password: libpq's PG* variables
    fill in what `params` leave out, as libpq does. A socket folder (a host that is a path)
    goes in the query: postgresql://user@/dbname?host=/path&port=5432."""
    user = params.get("user", os.environ.get("PGUSER", ""))
    host = params.get("host", os.environ.get("PGHOST", "localhost"))
    port = params.get("port", os.environ.get("PGPORT", "5432"))
    dbname = params.get("dbname", os.environ.get("PGDATABASE", user))
    return url(user=user, host=host, port=port, dbname=dbname)


def url(*, user: str, host: str, port: str, dbname: str) -> str:
    """postgresql://user@host:port/dbname, or with a socket folder as host,
    postgresql://user@/dbname?host=/path&port=N (both forms psql and libpq accept)."""
    who = f"{quote(user, safe='')}@" if user else ""
    name = quote(dbname, safe="")
    if host.startswith("/"):
        return f"postgresql://{who}/{name}?{urlencode({'host': host, 'port': port}, safe='/')}"
    return f"postgresql://{who}{host}:{port}/{name}"
