"""The commands about the database in use: url, and stop for the embedded PostgreSQL."""

from __future__ import annotations

import argparse
from typing import Any

from achievements_db.conninfo import Target
from achievements_db.embedded import data_dir, stop_embedded


def _url(args: argparse.Namespace, target: Target) -> int:
    print(target.conninfo)
    return 0


def _stop(args: argparse.Namespace) -> int:
    stopped = stop_embedded()
    print(f"{'stopped' if stopped else 'not running:'} embedded PostgreSQL in {data_dir()}")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds url and stop to the achievements-db parser."""
    url = commands.add_parser("url", help="print the connection string of the database in use")
    url.set_defaults(run=_url, quiet_database=True)
    stop = commands.add_parser("stop", help="stop the embedded PostgreSQL")
    stop.set_defaults(run=_stop, needs_database=False)
