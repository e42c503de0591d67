"""The progress command: a user's progress toward every badge.

Threshold badges read badge_progress (the tally out of the threshold). For a level badge,
badge_progress counts requirements met; the command shows each requirement of the level
instead (10/50 song), from level_requirements and what steps_required says is missing.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from achievements_db.cli.options import add_command
from achievements_db.cli.output import BOLD, GREEN, Output, table
from achievements_db.cli.sqlerrors import sql_errors
from achievements_db.client import BadgeProgress, Client
from achievements_db.conninfo import Target
from achievements_db.database import connect_installed

# Each requirement of each level badge: how far the user is (required_count less what
# steps_required says is missing) out of its required count.
LEVEL_REQUIREMENTS = """
SELECT b.code, r.name, r.required_count - coalesce(s.required_count, 0), r.required_count
  FROM achievements.badges AS b
  JOIN achievements.level_requirements AS r ON r.level = b.level
  LEFT JOIN LATERAL achievements.steps_required(b.level, %(user)s) AS s ON s.id = r.id
 WHERE b.level IS NOT NULL
 ORDER BY b.code, r.priority, r.name
"""


@dataclass(frozen=True)
class Part:
    """One thing counted toward a badge: a step's tally out of what the badge needs."""

    step: str | None
    current: int
    target: int


def _steps(conn: psycopg.Connection[Any], user: str) -> dict[str, list[Part]]:
    """The requirements of every level badge, as parts, by badge code."""
    parts: dict[str, list[Part]] = {}
    for code, step, current, needed in conn.execute(LEVEL_REQUIREMENTS, {"user": user}):
        parts.setdefault(code, []).append(Part(step, current, needed))
    return parts


def _step_of(conn: psycopg.Connection[Any]) -> dict[str, str]:
    return dict(conn.execute("SELECT code, step FROM achievements.badges WHERE step IS NOT NULL"))


def _parts(row: BadgeProgress, steps: dict[str, str], levels: dict[str, list[Part]]) -> list[Part]:
    if row.code in levels:
        return levels[row.code]
    return [Part(steps.get(row.code), row.current, row.target)]


def _text(parts: list[Part]) -> str:
    return ", ".join(f"{p.current}/{p.target}" + (f" {p.step}" if p.step else "") for p in parts)


def _cmd_progress(args: argparse.Namespace, target: Target, out: Output) -> int:
    with connect_installed(target) as conn, sql_errors():
        rows = Client(conn).badge_progress(args.user)
        levels = _steps(conn, args.user)
        steps = _step_of(conn)
    if args.json:
        out.json(
            [
                {
                    **asdict(r),
                    "earned": r.earned_at is not None,
                    "steps": [asdict(p) for p in _parts(r, steps, levels)],
                }
                for r in rows
            ]
        )
        return 0
    cells = []
    for r in rows:
        parts = _parts(r, steps, levels)
        earned = r.earned_at is not None
        done = sum(min(p.current, p.target) for p in parts)
        goal = sum(p.target for p in parts)
        bar = out.bar(goal if earned else done, goal)
        when = r.earned_at.strftime("%Y-%m-%d %H:%M") if r.earned_at else ""
        cells.append(
            [out.paint(r.code, BOLD if earned else ""), r.name, *([bar] if bar else []),
             _text(parts), out.paint(when, GREEN)]
        )  # fmt: skip
    headers = ["badge", "name", *(["", "progress"] if out.tty else ["progress"]), "earned"]
    out.print(table(headers, cells))
    out.print(f"{sum(r.earned_at is not None for r in rows)} of {len(rows)} badge(s) earned")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds progress to the achievements-db parser."""
    progress = add_command(
        commands,
        "progress",
        "a user's progress toward every badge",
        details="One row per badge the user can see: a step's tally out of the badge's "
        "threshold, or each requirement of a level badge's level (10/50 song), and when it was "
        "earned. Bars and colour on a terminal only.",
        examples=[
            "achievements-db progress 7f9c2b1e-0c1d-4b53-9d2a-4a3f5e6d7c8b",
            "achievements-db progress 42 --json",
        ],
    )
    progress.add_argument("user", metavar="USER", help="the user id (of the installed id type)")
    progress.add_argument("--json", action="store_true", help="print the rows as a JSON array")
    progress.set_defaults(run=_cmd_progress)
