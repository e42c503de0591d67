"""The record command: records steps for a user with achievements.record_step, and prints the
new tally and what the step earned (the titles of the outbox rows its transaction wrote)."""

from __future__ import annotations

import argparse
from typing import Any

from achievements_db.cli.options import add_command
from achievements_db.cli.output import BOLD, Output
from achievements_db.cli.sqlerrors import sql_errors
from achievements_db.client import Client
from achievements_db.conninfo import Target
from achievements_db.database import connect_installed

# The notifications the current transaction wrote for the user: their created_at is the
# transaction's now().
EARNED = """
SELECT title FROM achievements.notifications
 WHERE user_id = %s AND created_at = now() ORDER BY id
"""


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _cmd_record(args: argparse.Namespace, target: Target, out: Output) -> int:
    with connect_installed(target) as conn, sql_errors(), conn.transaction():
        tally = Client(conn).record_step(args.user, args.step, args.count)
        earned = conn.execute(EARNED, (args.user,)).fetchall()
    out.print(f"{args.step}: {tally}")
    for (title,) in earned:
        out.print(out.paint(title, BOLD))
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds record to the achievements-db parser."""
    record = add_command(
        commands,
        "record",
        "record steps for a user (achievements.record_step) and print what they earned",
        details="Prints the step's new tally, then each badge and level the step earned. "
        "Levels and badges are awarded as from any other write: a badge whose threshold the "
        "tally crosses is earned here.",
        examples=[
            "achievements-db record 7f9c2b1e-0c1d-4b53-9d2a-4a3f5e6d7c8b make_post",
            "achievements-db record 42 song 10",
        ],
    )
    record.add_argument("user", metavar="USER", help="the user id (of the installed id type)")
    record.add_argument("step", metavar="STEP", help="the step's name, e.g. make_post")
    record.add_argument(
        "count",
        metavar="COUNT",
        type=_count,
        nargs="?",
        default=1,
        help="how many steps (default 1; 1 or more)",
    )
    record.set_defaults(run=_cmd_record)
