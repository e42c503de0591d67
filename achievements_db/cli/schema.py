"""The commands that install and remove the package: migrate, rollback, status."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from achievements_db import migrator
from achievements_db.conninfo import Target


def _migrate(args: argparse.Namespace, target: Target) -> int:
    options = migrator.InstallOptions(
        user_id_type=args.user_id_type, app_roles=args.app_roles, service_roles=args.service_roles
    )
    applied = migrator.migrate(target, options)
    for migration_id in applied:
        print(f"applied {migration_id}")
    print("up to date" if not applied else f"{len(applied)} migration(s) applied")
    return 0


def _confirm(yes: bool) -> migrator.Confirm:
    """Shows the rows a rollback would delete; goes on with --yes, else asks on a terminal."""

    def confirm(removed: dict[str, int]) -> bool:
        print("this rollback deletes:", file=sys.stderr)
        for table, rows in removed.items():
            print(f"  {rows:>10,} rows of {table}", file=sys.stderr)
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        answer = input("delete them? [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    return confirm


def _rollback(args: argparse.Namespace, target: Target) -> int:
    undone = migrator.rollback(
        target, None if args.all else args.count, confirm=_confirm(args.yes), untrack=args.untrack
    )
    for migration_id in undone:
        print(f"rolled back {migration_id}")
    print("nothing to roll back" if not undone else f"{len(undone)} migration(s) rolled back")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return value


def _status(args: argparse.Namespace, target: Target) -> int:
    rows = migrator.status(target)
    for row in rows:
        print(f"{'applied' if row.applied else 'pending'}  {row.id}")
    pending = sum(not r.applied for r in rows)
    print(f"{len(rows) - pending} applied, {pending} pending")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds migrate, rollback and status to the achievements-db parser."""
    migrate = commands.add_parser("migrate", help="apply every pending migration")
    migrate.add_argument(
        "--user-id-type",
        choices=["uuid", "bigint", "text"],
        help="base type of user ids, chosen once at first install (default uuid)",
    )
    migrate.add_argument(
        "--app-roles",
        metavar="ROLES",
        help="comma-separated roles that read their own rows through RLS "
        "(first install only; default PUBLIC)",
    )
    migrate.add_argument(
        "--service-roles",
        metavar="ROLES",
        help="comma-separated trusted roles that record steps for any user and "
        "read every row (first install only; default none: only the owner)",
    )
    migrate.set_defaults(run=_migrate)

    rollback = commands.add_parser(
        "rollback",
        help="roll back the newest migration(s), all in one transaction",
        description="Rolls back the newest migration(s) in one transaction: all of them or "
        "none. When that deletes rows, it lists them and asks first (on a terminal) or needs "
        "--yes.",
    )
    group = rollback.add_mutually_exclusive_group()
    group.add_argument("--count", type=_positive, default=1, help="how many migrations (default 1)")
    group.add_argument(
        "--all",
        action="store_true",
        help="roll back every migration: removes achievements-db and its data",
    )
    rollback.add_argument(
        "--yes", action="store_true", help="delete the rows the rollback removes without asking"
    )
    rollback.add_argument(
        "--untrack",
        action="store_true",
        help="first untrack every table of track(): their triggers go, their rows stay",
    )
    rollback.set_defaults(run=_rollback)

    status = commands.add_parser("status", help="list applied and pending migrations")
    status.set_defaults(run=_status)
