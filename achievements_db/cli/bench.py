"""The bench command: the benchmark of docs/bench.md."""

from __future__ import annotations

import argparse
from typing import Any

from achievements_db import bench
from achievements_db.cli.options import add_command
from achievements_db.cli.output import Output
from achievements_db.conninfo import Target


def _bench(args: argparse.Namespace, target: Target, out: Output) -> int:
    only = bench.WORKLOADS if args.only is None else tuple(args.only.split(","))

    with out.activity("bench: starting") as activity:

        def log(message: str) -> None:
            out.note(("\r\033[K" if activity.stream else "") + message)
            activity.say(f"bench: {message.splitlines()[0][:120]}")

        try:
            bench.run(target, scale=args.scale, json_path=args.json, only=only, log=log)
        except KeyboardInterrupt:
            out.note("achievements-db: bench interrupted; its scratch databases were dropped")
            return 130
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds bench to the achievements-db parser."""
    parser = add_command(
        commands,
        "bench",
        "benchmark tracking against bare twin tables in scratch databases",
        details="Creates scratch databases on the server, runs the workloads of docs/bench.md "
        "and drops them; prints the table on stdout, progress on stderr.",
        examples=[
            "achievements-db bench --scale 0.1 --only bulk,single",
            "achievements-db bench --database-url postgresql://postgres@localhost/postgres "
            "--json bench.json",
        ],
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every workload size and duration (default 1)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--only",
        metavar="LIST",
        help="run only these workload groups: bulk,single,hot,reads (default all)",
    )
    parser.set_defaults(run=_bench)
