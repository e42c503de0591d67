"""achievements-db demo trackflow: the reference application of examples/trackflow in a
database of its own on the chosen server (the embedded PostgreSQL by default): migrated, its
schema loaded, its catalog applied, a month of generated activity written as ordinary
statements, and a short report printed. The database is kept for exploring afterwards."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier

from achievements_db import migrator
from achievements_db.cli.badges import read_catalog
from achievements_db.client import Client
from achievements_db.conninfo import Target
from achievements_db.database import connect
from achievements_db.demo import DATABASE, activity, report, trackflow
from achievements_db.resources import examples_dir


def run_trackflow(
    server: Target, users: int, seed: int, print: Callable[[str], None], note: Callable[[str], None]
) -> tuple[Target, Any]:
    """Builds the demo database on `server` (dropping an earlier one of the same name), runs a
    month of TrackFlow in it and prints the report; returns the demo database and the id of the
    user at the top of the leaderboard (None without one)."""
    started = time.perf_counter()
    with connect(server) as admin:
        admin.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(DATABASE)))
        admin.execute(SQL("CREATE DATABASE {}").format(Identifier(DATABASE)))
    demo = Target(make_conninfo(server.conninfo, dbname=DATABASE), f"demo database {DATABASE}")
    migrator.migrate(demo)
    example = examples_dir() / "trackflow"
    with connect(demo) as conn:
        conn.execute((example / "schema.sql").read_text())
        catalog: dict[str, Any] = read_catalog(example / "catalog.toml")
        Client(conn).apply_catalog(catalog)
        note(
            f"installed achievements-db, the TrackFlow schema and its catalog "
            f"({len(catalog['badges'])} badges) in {time.perf_counter() - started:.1f} s"
        )
        people, days = trackflow.month_of_activity(users, seed)
        writing = time.perf_counter()
        statements = activity.apply(conn, days)
        note(
            f"wrote a month of activity of {len(people)} users: {statements:,} statements in "
            f"{time.perf_counter() - writing:.1f} s"
        )
        print(
            f"TrackFlow, March 2026: {len(people)} users in New York and Berlin "
            f"(seed {seed}; {json.dumps(DATABASE)})\n"
        )
        leader = report.report(conn, {u.id: u.username for u in people}, print)
    note(f"done in {time.perf_counter() - started:.1f} s")
    return demo, leader
