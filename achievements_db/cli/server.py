"""The commands about the database in use: url, and stop for the embedded PostgreSQL."""

from __future__ import annotations

import argparse
from typing import Any

from achievements_db.cli.options import add_command
from achievements_db.cli.output import Output
from achievements_db.conninfo import Target
from achievements_db.embedded import data_dir, stop_embedded


def _url(args: argparse.Namespace, target: Target, out: Output) -> int:
    out.print(target.conninfo)
    return 0


def _stop(args: argparse.Namespace, out: Output) -> int:
    stopped = stop_embedded()
    out.print(f"{'stopped' if stopped else 'not running:'} embedded PostgreSQL in {data_dir()}")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds url and stop to the achievements-db parser."""
    url = add_command(
        commands,
        "url",
        "print the connection string of the database in use",
        details="Starts the embedded PostgreSQL when no database is given. The string can be "
        "pasted into psql.",
        examples=['psql "$(achievements-db url)"'],
    )
    url.set_defaults(run=_url, quiet_database=True)
    stop = add_command(
        commands,
        "stop",
        "stop the embedded PostgreSQL",
        details="Fast shutdown of the embedded server of this user (or of "
        "ACHIEVEMENTS_DB_HOME); its data stays. It starts again with the next command.",
        examples=["achievements-db stop"],
    )
    stop.set_defaults(run=_stop, needs_database=False)
