"""The badge commands: catalog apply, award, leaderboard, listen (progress: progress.py).

Each command is one call of an SQL function (the logic is in SQL); this module only parses
arguments and files, and prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from achievements_db.cli.options import add_command
from achievements_db.cli.output import Output, table
from achievements_db.cli.sqlerrors import sql_errors
from achievements_db.client import Client
from achievements_db.client.listen import listen
from achievements_db.conninfo import Target
from achievements_db.database import connect_installed
from achievements_db.errors import AchievementsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CHANNEL = "achievements"


def _jsonable(value: Any) -> Any:
    """TOML values as JSON values: dates and times become ISO 8601 strings."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return value


def read_catalog(path: Path) -> dict[str, Any]:
    """The TOML file as a JSON-ready dict; AchievementsError when unreadable or not TOML."""
    try:
        with path.open("rb") as f:
            catalog: dict[str, Any] = _jsonable(tomllib.load(f))
            return catalog
    except OSError as exc:
        raise AchievementsError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AchievementsError(f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise AchievementsError(
            f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start});"
            " TOML files are UTF-8: save it as UTF-8"
        ) from None


def _cmd_catalog_apply(args: argparse.Namespace, target: Target, out: Output) -> int:
    catalog = read_catalog(Path(args.file))
    verb = "checking" if args.dry_run else "applying"
    with (
        connect_installed(target) as conn,
        sql_errors(),
        out.activity(f"{verb} {args.file} (one transaction)"),
    ):
        changes = Client(conn).apply_catalog(catalog, dry_run=args.dry_run)
    warnings = [c for c in changes if c.action == "warning"]
    changes = [c for c in changes if c.action != "warning"]
    for c in changes:
        detail = f" ({c.detail})" if c.detail else ""
        out.print(f"{'would ' if args.dry_run else ''}{c.action} {c.object} {c.name}{detail}")
    for w in warnings:
        print(f"warning: {w.object} {w.name}: {w.detail}", file=out.err)
    if not changes:
        out.print("no changes: the database already matches the catalog")
    elif args.dry_run:
        out.print(f"dry run: {len(changes)} change(s) not applied")
    else:
        out.print(f"{len(changes)} change(s) applied")
    return 0


def _cmd_award(args: argparse.Namespace, target: Target, out: Output) -> int:
    with connect_installed(target) as conn, sql_errors():
        awarded = Client(conn).award_badge(args.user, args.badge)
    out.print(
        f"awarded {args.badge} to {args.user}"
        if awarded
        else f"{args.user} already holds {args.badge}"
    )
    return 0


def _cmd_leaderboard(args: argparse.Namespace, target: Target, out: Output) -> int:
    with connect_installed(target) as conn, sql_errors():
        rows = Client(conn).leaderboard(args.limit, args.since)
    if args.json:
        out.json(
            [
                {"rank": r.rank, "user_id": r.user_id, "points": r.points, "badges": r.badges}
                for r in rows
            ]
        )
        return 0
    cells = [[str(r.rank), str(r.user_id), str(r.points), str(r.badges)] for r in rows]
    out.print(table(["rank", "user", "points", "badges"], cells))
    if not rows:
        out.print("no user holds a badge" + (" earned since then" if args.since else ""))
    return 0


def _cmd_listen(args: argparse.Namespace, target: Target, out: Output) -> int:
    """Prints each notification as one JSON line, as it arrives; reconnects when the connection
    drops and catches up from the outbox."""
    connect_installed(target).close()
    notes = listen(
        target.conninfo,
        after=args.after,
        timeout=args.timeout,
        on_listen=lambda: out.note(f"listening on channel {CHANNEL!r}"),
        on_reconnect=lambda error: out.note(f"connection lost ({error}); reconnecting"),
    )
    try:
        for n, note in enumerate(notes, start=1):
            out.print(json.dumps(note.payload(), separators=(",", ":"), ensure_ascii=False))
            if args.count is not None and n >= args.count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        notes.close()
    return 0


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date/time: {text!r} (e.g. 2026-11-01 or 2026-11-01T12:00:00+00:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _limit(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(text)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds the badge commands to the achievements-db parser."""
    catalog = add_command(
        commands,
        "catalog",
        "declare levels, requirements, badges and tracked steps from a TOML file",
        examples=["achievements-db catalog apply catalog.toml --dry-run"],
    )
    actions = catalog.add_subparsers(
        dest="catalog_command", required=True, metavar="ACTION", help="what to do with the file"
    )
    apply = add_command(
        actions,
        "apply",
        "apply a TOML catalog: idempotent, prints each change",
        details="Validates the whole file first and changes nothing when it has errors; "
        "applies it in one transaction. Prints each change on stdout and warnings (such as a "
        "step nothing tracks or records) on stderr. The format: docs/badges.md.",
        examples=[
            "achievements-db catalog apply catalog.toml --dry-run",
            "achievements-db catalog apply catalog.toml",
        ],
    )
    apply.add_argument("file", metavar="FILE.toml", help="the catalog file (TOML, UTF-8)")
    apply.add_argument(
        "--dry-run", action="store_true", help="print what would change and change nothing"
    )
    apply.set_defaults(run=_cmd_catalog_apply)

    award = add_command(
        commands,
        "award",
        "award a badge to a user (idempotent)",
        examples=["achievements-db award 7f9c2b1e-0c1d-4b53-9d2a-4a3f5e6d7c8b early_adopter"],
    )
    award.add_argument("user", metavar="USER", help="the user id (of the installed id type)")
    award.add_argument("badge", metavar="BADGE", help="the code of the badge")
    award.set_defaults(run=_cmd_award)

    board = add_command(
        commands,
        "leaderboard",
        "the users with the most points; ties share a rank",
        examples=[
            "achievements-db leaderboard --limit 20",
            "achievements-db leaderboard --since 2026-11-01 --json",
        ],
    )
    board.add_argument(
        "--limit", type=_limit, default=10, help="how many rows, 1 to 1000 (default 10)"
    )
    board.add_argument(
        "--since",
        type=_timestamp,
        metavar="TIME",
        help="count only badges earned since TIME (ISO 8601; UTC when no offset)",
    )
    board.add_argument("--json", action="store_true", help="print the rows as a JSON array")
    board.set_defaults(run=_cmd_leaderboard)

    listen = add_command(
        commands,
        "listen",
        "print each notification as one JSON line as it arrives",
        details="Listens on channel 'achievements'. When the connection drops it reconnects "
        "and first prints what the outbox (achievements.notifications) received meanwhile, "
        "so no notification is lost. Needs a session connection: not through a "
        "transaction-mode pooler.",
        examples=["achievements-db listen", "achievements-db listen --count 1 --timeout 60"],
    )
    listen.add_argument("--count", type=int, metavar="N", help="stop after N notifications")
    listen.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop after SECONDS (default: run until interrupted)",
    )
    listen.add_argument(
        "--after",
        type=int,
        metavar="ID",
        help="first print the notifications of the outbox with an id above ID",
    )
    listen.set_defaults(run=_cmd_listen)
