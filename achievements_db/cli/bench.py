"""The bench command: the benchmark of docs/bench.md."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from achievements_db import bench
from achievements_db.conninfo import Target


def _bench(args: argparse.Namespace, target: Target) -> int:
    only = bench.WORKLOADS if args.only is None else tuple(args.only.split(","))
    try:
        bench.run(target, scale=args.scale, json_path=args.json, only=only)
    except KeyboardInterrupt:
        print(
            "achievements-db: bench interrupted; its scratch databases were dropped",
            file=sys.stderr,
        )
        return 130
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds bench to the achievements-db parser."""
    parser = commands.add_parser(
        "bench", help="benchmark tracking against bare twin tables in a scratch database"
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
