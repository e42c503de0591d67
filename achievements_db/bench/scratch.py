"""Scratch databases: created on the chosen server, migrated with the package's own migrator,
dropped at the end, also on errors and Ctrl-C."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier

from achievements_db import migrator
from achievements_db.conninfo import Target
from achievements_db.database import connect

# Helpers shared by every workload: deterministic, well spread uuid user ids.
SETUP_SQL = """
CREATE SCHEMA bench;
CREATE FUNCTION bench.uid(n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN md5(n::text)::uuid;
"""


@contextmanager
def scratch_database(server: Target, label: str, log: Callable[[str], None]) -> Iterator[Target]:
    """A new database on `server` with achievements-db migrated into it; dropped on exit."""
    name = f"achievements_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    with connect(server) as admin:
        admin.execute(SQL("CREATE DATABASE {} TEMPLATE template0").format(Identifier(name)))
    try:
        scratch = Target(make_conninfo(server.conninfo, dbname=name), f"scratch database {name}")
        started = time.perf_counter()
        migrator.migrate(scratch)
        log(f"created and migrated {name} ({time.perf_counter() - started:.1f} s)")
        yield scratch
    finally:
        with connect(server) as admin:
            admin.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))
        log(f"dropped {name}")


def setup(conn: psycopg.Connection[Any]) -> None:
    """Creates schema bench with bench.uid(n), the user id of user number n."""
    conn.execute(SETUP_SQL)
