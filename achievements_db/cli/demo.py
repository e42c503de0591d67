"""The demo command: a reference application of examples/ on generated activity."""

from __future__ import annotations

import argparse
from typing import Any

from achievements_db.cli.options import add_command
from achievements_db.cli.output import Output
from achievements_db.conninfo import Target
from achievements_db.demo import DATABASE


def _demo(args: argparse.Namespace, target: Target, out: Output) -> int:
    # Imported here: achievements_db.demo.run uses the CLI's catalog reader and tables.
    from achievements_db.demo.run import run_trackflow

    demo, leader = run_trackflow(
        target, users=args.users, seed=args.seed, print=out.print, note=out.note
    )
    out.note(f"\nthe demo database {DATABASE} stays for you to explore, e.g.:")
    out.note(f'  psql "{demo.conninfo}"')
    if leader is not None:
        out.note(f'  achievements-db --database-url "{demo.conninfo}" progress {leader}')
    return 0


def _users(text: str) -> int:
    if not text.isdigit() or not 10 <= int(text) <= 5000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 10 to 5000, got {text!r}")
    return int(text)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds demo to the achievements-db parser."""
    parser = add_command(
        commands,
        "demo",
        "run a reference application on a month of generated activity and print a report",
        details=f"trackflow: examples/trackflow (seed 004's 80 achievements) in a database of its "
        f"own, {DATABASE}, on the server (dropped first if it exists, kept afterwards): "
        "achievements-db migrated into it, the application's schema and catalog, a month of "
        "activity of its users written as ordinary statements, then the top of the leaderboard, "
        "the rarest badges, the longest streaks and one user's progress grid. With "
        "--database-url the role needs CREATEDB.",
        examples=["achievements-db demo trackflow", "achievements-db demo trackflow --users 300"],
    )
    parser.add_argument("example", choices=["trackflow"], help="the reference application")
    parser.add_argument(
        "--users", type=_users, default=120, help="how many users (default 120: under a minute)"
    )
    parser.add_argument("--seed", type=int, default=2026, help="the random seed (default 2026)")
    parser.set_defaults(run=_demo)
