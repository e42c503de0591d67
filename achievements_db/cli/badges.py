"""The badge commands: catalog apply, award, progress, leaderboard, listen.

Each command is one call of an SQL function (the logic is in SQL); this module only parses
arguments and files, and prints. SQL errors become one AchievementsError with the server's
message, its detail lines and its hint.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from achievements_db.client import Client
from achievements_db.conninfo import Target
from achievements_db.database import connect
from achievements_db.errors import AchievementsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CHANNEL = "achievements"
BAR_WIDTH = 20


@contextmanager
def _sql_errors() -> Iterator[None]:
    """Turns a database error into an AchievementsError carrying its message, detail, hint."""
    try:
        yield
    except psycopg.Error as exc:
        diag = exc.diag
        text = diag.message_primary or str(exc).strip().splitlines()[0]
        if diag.sqlstate:
            text = f"{text} (SQLSTATE {diag.sqlstate})"
        if diag.message_detail:
            text += "".join(f"\n  {line}" for line in diag.message_detail.splitlines())
        if diag.message_hint:
            text += f"\nhint: {diag.message_hint}"
        raise AchievementsError(text) from None


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


def _cmd_catalog_apply(args: argparse.Namespace, target: Target) -> int:
    catalog = read_catalog(Path(args.file))
    with connect(target) as conn, _sql_errors():
        changes = Client(conn).apply_catalog(catalog, dry_run=args.dry_run)
    warnings = [c for c in changes if c.action == "warning"]
    changes = [c for c in changes if c.action != "warning"]
    for c in changes:
        detail = f" ({c.detail})" if c.detail else ""
        print(f"{'would ' if args.dry_run else ''}{c.action} {c.object} {c.name}{detail}")
    for w in warnings:
        print(f"warning: {w.object} {w.name}: {w.detail}", file=sys.stderr)
    if not changes:
        print("no changes: the database already matches the catalog")
    elif args.dry_run:
        print(f"dry run: {len(changes)} change(s) not applied")
    else:
        print(f"{len(changes)} change(s) applied")
    return 0


def _cmd_award(args: argparse.Namespace, target: Target) -> int:
    with connect(target) as conn, _sql_errors():
        awarded = Client(conn).award_badge(args.user, args.badge)
    print(
        f"awarded {args.badge} to {args.user}"
        if awarded
        else f"{args.user} already holds {args.badge}"
    )
    return 0


def progress_bar(current: int, target: int, width: int = BAR_WIDTH) -> str:
    filled = 0 if target <= 0 else min(width, current * width // target)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _cmd_progress(args: argparse.Namespace, target: Target) -> int:
    with connect(target) as conn, _sql_errors():
        rows = Client(conn).badge_progress(args.user)
    table = [
        [
            r.code,
            r.name,
            progress_bar(r.current, r.target),
            f"{r.current}/{r.target}",
            r.earned_at.strftime("%Y-%m-%d %H:%M") if r.earned_at else "",
        ]
        for r in rows
    ]
    print(_table(["badge", "name", "progress", "", "earned"], table))
    print(f"{sum(r.earned_at is not None for r in rows)} of {len(rows)} badge(s) earned")
    return 0


def _cmd_leaderboard(args: argparse.Namespace, target: Target) -> int:
    with connect(target) as conn, _sql_errors():
        rows = Client(conn).leaderboard(args.limit, args.since)
    table = [[str(r.rank), str(r.user_id), str(r.points), str(r.badges)] for r in rows]
    print(_table(["rank", "user", "points", "badges"], table))
    if not rows:
        print("no user holds a badge" + (" earned since then" if args.since else ""))
    return 0


def _cmd_listen(args: argparse.Namespace, target: Target) -> int:
    """Prints each notification on channel 'achievements' as one JSON line, as it arrives."""
    with connect(target) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        print(f"listening on channel {CHANNEL!r}", file=sys.stderr, flush=True)
        try:
            for note in conn.notifies(timeout=args.timeout, stop_after=args.count):
                try:
                    payload = json.loads(note.payload)
                except json.JSONDecodeError:
                    payload = {"payload": note.payload}
                print(json.dumps(payload, separators=(",", ":")), flush=True)
        except KeyboardInterrupt:
            pass
    return 0


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date/time: {text!r} (e.g. 2026-11-01 or 2026-11-01T12:00:00+00:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds the badge commands to the achievements-db parser."""
    catalog = commands.add_parser("catalog", help="declare levels, requirements and badges")
    actions = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    apply = actions.add_parser("apply", help="apply a TOML catalog: idempotent, prints each change")
    apply.add_argument("file", metavar="FILE.toml")
    apply.add_argument(
        "--dry-run", action="store_true", help="print what would change and change nothing"
    )
    apply.set_defaults(run=_cmd_catalog_apply)

    award = commands.add_parser("award", help="award a badge to a user (idempotent)")
    award.add_argument("user")
    award.add_argument("badge")
    award.set_defaults(run=_cmd_award)

    progress = commands.add_parser("progress", help="a user's progress toward every badge")
    progress.add_argument("user")
    progress.set_defaults(run=_cmd_progress)

    board = commands.add_parser("leaderboard", help="the users with the most points")
    board.add_argument("--limit", type=int, default=10, help="how many rows (default 10)")
    board.add_argument(
        "--since",
        type=_timestamp,
        metavar="TIME",
        help="count only badges earned since TIME (ISO 8601; UTC when no offset)",
    )
    board.set_defaults(run=_cmd_leaderboard)

    listen = commands.add_parser(
        "listen", help="print each notification as one JSON line as it arrives"
    )
    listen.add_argument("--count", type=int, metavar="N", help="stop after N notifications")
    listen.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop after SECONDS (default: run until interrupted)",
    )
    listen.set_defaults(run=_cmd_listen)
