"""The achievements-db command: migrate, rollback, status, url, bench.

Every command works on --database-url, else DATABASE_URL, else the embedded PostgreSQL, and
says which one it used. Errors print one line to stderr and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from achievements_db import commands_badges, migrator
from achievements_db.database import Target, resolve
from achievements_db.errors import AchievementsError

Command = Callable[[argparse.Namespace, Target], int]


def _cmd_migrate(args: argparse.Namespace, target: Target) -> int:
    options = migrator.InstallOptions(
        user_id_type=args.user_id_type, app_roles=args.app_roles, service_roles=args.service_roles
    )
    applied = migrator.migrate(target, options)
    for migration_id in applied:
        print(f"applied {migration_id}")
    print("up to date" if not applied else f"{len(applied)} migration(s) applied")
    return 0


def _cmd_rollback(args: argparse.Namespace, target: Target) -> int:
    undone = migrator.rollback(target, None if args.all else args.count)
    for migration_id in undone:
        print(f"rolled back {migration_id}")
    print("nothing to roll back" if not undone else f"{len(undone)} migration(s) rolled back")
    return 0


def _cmd_status(args: argparse.Namespace, target: Target) -> int:
    rows = migrator.status(target)
    for row in rows:
        print(f"{'applied' if row.applied else 'pending'}  {row.id}")
    pending = sum(not r.applied for r in rows)
    print(f"{len(rows) - pending} applied, {pending} pending")
    return 0


def _cmd_url(args: argparse.Namespace, target: Target) -> int:
    print(target.conninfo)
    return 0


def _cmd_bench(args: argparse.Namespace, target: Target) -> int:
    from achievements_db import bench

    only = bench.WORKLOADS if args.only is None else tuple(args.only.split(","))
    try:
        bench.run(target, scale=args.scale, json_path=args.json, only=only)
    except KeyboardInterrupt:
        print("achievements-db: bench interrupted; its scratch databases were dropped",
              file=sys.stderr)
        return 130
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    from achievements_db.embedded import data_dir, stop_embedded

    stopped = stop_embedded()
    print(f"{'stopped' if stopped else 'not running:'} embedded PostgreSQL in {data_dir()}")
    return 0


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

    migrate = commands.add_parser("migrate", help="apply every pending migration")
    migrate.add_argument("--user-id-type", choices=["uuid", "bigint", "text"],
                         help="base type of user ids, chosen once at first install (default uuid)")
    migrate.add_argument("--app-roles", metavar="ROLES",
                         help="comma-separated roles that read their own rows through RLS "
                         "(first install only; default PUBLIC)")
    migrate.add_argument("--service-roles", metavar="ROLES",
                         help="comma-separated trusted roles that record steps for any user and "
                         "read every row (first install only; default none: only the owner)")
    migrate.set_defaults(run=_cmd_migrate)

    rollback = commands.add_parser("rollback", help="roll back the newest migration(s)")
    group = rollback.add_mutually_exclusive_group()
    group.add_argument("--count", type=int, default=1, help="how many migrations (default 1)")
    group.add_argument("--all", action="store_true",
                       help="roll back every migration: removes achievements-db and its data")
    rollback.set_defaults(run=_cmd_rollback)

    status = commands.add_parser("status", help="list applied and pending migrations")
    status.set_defaults(run=_cmd_status)

    bench = commands.add_parser(
        "bench", help="benchmark tracking against bare twin tables in a scratch database")
    bench.add_argument("--scale", type=float, default=1.0,
                       help="multiply every workload size and duration (default 1)")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.add_argument("--only", metavar="LIST",
                       help="run only these workload groups: bulk,single,hot,reads (default all)")
    bench.set_defaults(run=_cmd_bench)

    url = commands.add_parser("url", help="print the connection string of the database in use")
    url.set_defaults(run=_cmd_url)

    stop = commands.add_parser("stop", help="stop the embedded PostgreSQL")
    stop.set_defaults(run=_cmd_stop, needs_database=False)

    commands_badges.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not getattr(args, "needs_database", True):
            return args.run(args)
        target = resolve(args.database_url)
        if args.command != "url":
            print(f"database: {target.description}", file=sys.stderr)
        return args.run(args, target)
    except AchievementsError as exc:
        print(f"achievements-db: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
