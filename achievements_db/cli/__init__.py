"""The achievements-db command, one module per concern: schema (migrate, rollback, status),
server (url, stop), steps (record), badges (catalog apply, award, leaderboard, listen),
progress, bench, demo; options (the global options and the shape of --help), output (tables, bars,
colour and JSON).

Every command works on --database-url, else DATABASE_URL, else the embedded PostgreSQL, and
says which one it used (on stderr, unless -q). The global options work before and after the
command's name. Errors print one line to stderr and exit 1 (ACHIEVEMENTS_DB_DEBUG=1 shows the
traceback of an unexpected one); usage errors exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from achievements_db.cli import badges, bench, demo, progress, schema, server, steps
from achievements_db.cli.options import ENVIRONMENT, add_global_options
from achievements_db.cli.output import Output
from achievements_db.database import resolve
from achievements_db.errors import AchievementsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="achievements-db",
        description="Install and manage achievements-db in a PostgreSQL database.",
        epilog=ENVIRONMENT
        + "\n\nexamples:\n  achievements-db migrate\n"
        + "  achievements-db --database-url postgresql://app@db/app status --exit-code\n"
        + "  achievements-db COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for concern in (schema, steps, badges, progress, server, bench, demo):
        concern.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(quiet=args.quiet, out=sys.stdout, err=sys.stderr)
    if args.connect_timeout is not None:
        # libpq's own variable: every connection of the command (the migrator's too) uses it.
        os.environ["PGCONNECT_TIMEOUT"] = str(args.connect_timeout)
    try:
        if not getattr(args, "needs_database", True):
            return int(args.run(args, out))
        target = resolve(args.database_url)
        if not getattr(args, "quiet_database", False):
            out.note(f"database: {target.description}")
        return int(args.run(args, target, out))
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
