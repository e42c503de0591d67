"""The commands that install and remove the package: migrate, rollback, status."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from achievements_db import migrator
from achievements_db.cli.options import add_command
from achievements_db.cli.output import Output
from achievements_db.conninfo import Target

# The exit code of status --exit-code when migrations are pending (1 is an error, 2 a usage
# error).
PENDING_EXIT_CODE = 3


def _migrate(args: argparse.Namespace, target: Target, out: Output) -> int:
    options = migrator.InstallOptions(
        user_id_type=args.user_id_type, app_roles=args.app_roles, service_roles=args.service_roles
    )
    applied = migrator.migrate(target, options)
    for migration_id in applied:
        out.print(f"applied {migration_id}")
    out.print("up to date" if not applied else f"{len(applied)} migration(s) applied")
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


def _rollback(args: argparse.Namespace, target: Target, out: Output) -> int:
    undone = migrator.rollback(
        target, None if args.all else args.count, confirm=_confirm(args.yes), untrack=args.untrack
    )
    for migration_id in undone:
        out.print(f"rolled back {migration_id}")
    out.print("nothing to roll back" if not undone else f"{len(undone)} migration(s) rolled back")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return value


def _status(args: argparse.Namespace, target: Target, out: Output) -> int:
    rows = migrator.status(target)
    pending = [r.id for r in rows if not r.applied]
    if args.json:
        out.json(
            {
                "migrations": [{"id": r.id, "applied": r.applied} for r in rows],
                "applied": [r.id for r in rows if r.applied],
                "pending": pending,
            }
        )
    else:
        for row in rows:
            out.print(f"{'applied' if row.applied else 'pending'}  {row.id}")
        out.print(f"{len(rows) - len(pending)} applied, {len(pending)} pending")
        if pending and len(pending) == len(rows):
            out.note("achievements-db is not installed here: run `achievements-db migrate`")
    return PENDING_EXIT_CODE if args.exit_code and pending else 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds migrate, rollback and status to the achievements-db parser."""
    migrate = add_command(
        commands,
        "migrate",
        "install achievements-db, or apply every pending migration",
        details="Applies the pending migrations one transaction each; two runs at once are "
        "safe (an advisory lock). The install options are chosen at first install and "
        "refused (AD006) when they differ later.",
        examples=[
            "achievements-db migrate",
            "achievements-db migrate --database-url postgresql://app@db:5432/app "
            "--service-roles service_role",
        ],
    )
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

    rollback = add_command(
        commands,
        "rollback",
        "roll back the newest migration(s), all in one transaction",
        details="Rolls back the newest migration(s) in one transaction: all of them or none. "
        "When that deletes rows, it lists them and asks first (on a terminal) or needs --yes. "
        "It refuses while your own objects depend on the package, and lists them.",
        examples=["achievements-db rollback", "achievements-db rollback --all --yes --untrack"],
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

    status = add_command(
        commands,
        "status",
        "list applied and pending migrations",
        details="Migrations of an install with psql (sql/achievements.sql) count as applied. "
        f"With --exit-code it exits {PENDING_EXIT_CODE} when any migration is pending (1 is an "
        "error), for deploy scripts and CI.",
        examples=[
            "achievements-db status",
            "achievements-db status --exit-code || achievements-db migrate",
            "achievements-db status --json",
        ],
    )
    status.add_argument(
        "--exit-code",
        action="store_true",
        help=f"exit {PENDING_EXIT_CODE} when migrations are pending, 0 when up to date",
    )
    status.add_argument("--json", action="store_true", help="print the status as a JSON object")
    status.set_defaults(run=_status)
