"""The achievements-db command, one module per concern: schema (migrate, rollback, status),
server (url, stop), badges (catalog apply, award, progress, leaderboard, listen), bench.

Every command works on --database-url, else DATABASE_URL, else the embedded PostgreSQL, and
says which one it used. Errors print one line to stderr and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from achievements_db.cli import badges, bench, schema, server
from achievements_db.database import resolve
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
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for concern in (schema, badges, bench, server):
        concern.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
