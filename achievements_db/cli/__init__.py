"""The achievements-db command, one module per concern: schema (migrate, rollback, status),
server (url, stop), badges (catalog apply, award, progress, leaderboard, listen), bench.

Every command works on --database-url, else DATABASE_URL, else the embedded PostgreSQL, and
says which one it used. Errors print one line to stderr and exit 1 (ACHIEVEMENTS_DB_DEBUG=1
shows the traceback of an unexpected one).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from achievements_db.cli import badges, bench, schema, server
from achievements_db.database import DEFAULT_CONNECT_TIMEOUT, resolve
from achievements_db.errors import AchievementsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="achievements-db",
        description="Install and manage achievements-db in a PostgreSQL database.",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://user:password@host:port/dbname (default: $DATABASE_URL, "
        "else an embedded PostgreSQL in a per-user data directory)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="how long to wait for the server to answer (default: the URL's connect_timeout, "
        f"else $PGCONNECT_TIMEOUT, else {DEFAULT_CONNECT_TIMEOUT})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for concern in (schema, badges, bench, server):
        concern.register(commands)
    return parser


def _seconds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds (1 or more)")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.connect_timeout is not None:
        # libpq's own variable: every connection of the command (the migrator's too) uses it.
        os.environ["PGCONNECT_TIMEOUT"] = str(args.connect_timeout)
    try:
        if not getattr(args, "needs_database", True):
            return int(args.run(args))
        target = resolve(args.database_url)
        if not getattr(args, "quiet_database", False):
            print(f"database: {target.description}", file=sys.stderr)
        return int(args.run(args, target))
    except AchievementsError as exc:
        print(f"achievements-db: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("achievements-db: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is one line; the traceback on demand
        if os.environ.get("ACHIEVEMENTS_DB_DEBUG"):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"achievements-db: error: {reason} ({type(exc).__name__}; "
            "ACHIEVEMENTS_DB_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
