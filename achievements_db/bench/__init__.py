"""achievements-db bench: what tracking costs, as ratios to bare twin tables measured in one run.

Everything runs in scratch databases created on the chosen server and dropped at the end
(scratch.py). Each workload runs against the tracked table and against its twin (same columns
and indexes, no triggers; for an import of new users, also a hand-written set-based twin that
writes the same rows), alternating the sides and taking the median of several repetitions, so
that drift of a shared machine hits both sides alike (measure.py). The write workloads are in
workloads.py and, for track()'s conditions, transitions and distinct steps, expressions.py; the
reads at 10,000 and 1,000,000 users in population.py, the single-row drivers (pgbench or
threads) in drivers.py, the table in report.py. docs/bench.md describes each workload and
target.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from achievements_db.bench import expressions, population, streaks, workloads
from achievements_db.bench.drivers import ThreadDriver, choose_driver
from achievements_db.bench.measure import Result, Sizes
from achievements_db.bench.report import report, server_settings
from achievements_db.bench.scratch import scratch_database, setup
from achievements_db.conninfo import Target
from achievements_db.database import connect
from achievements_db.errors import AchievementsError

__all__ = ["WORKLOADS", "Result", "Sizes", "ThreadDriver", "run"]

WORKLOADS = ("bulk", "single", "hot", "reads")


def run(
    server: Target,
    scale: float = 1.0,
    json_path: str | None = None,
    log: Callable[[str], None] | None = None,
    prefer_threads: bool = False,
    only: Sequence[str] = WORKLOADS,
) -> list[Result]:
    """Runs the workloads on `server` in scratch databases and prints the table to stdout.

    When a workload fails, the rows measured so far are printed before the error propagates."""
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        raise AchievementsError(
            f"unknown workload {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOADS)}"
        )
    sizes = Sizes.scaled(scale)
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    driver = choose_driver(prefer_threads)
    settings = server_settings(server)
    say(
        f"scale {scale:g}; single-row driver: {driver.name}; "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
    )
    started = datetime.now(timezone.utc)
    results: list[Result] = []
    # SIGTERM unwinds like Ctrl-C, so the scratch databases are dropped either way.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        if {"bulk", "single", "hot"} & set(only):
            with scratch_database(server, "main", say) as db, connect(db) as conn:
                setup(conn)
                steps: list[tuple[str, str, Callable[[], list[Result]]]] = [
                    (
                        "bulk",
                        "bulk host insert",
                        lambda: workloads.bench_bulk_host_insert(conn, sizes),
                    ),
                    (
                        "bulk",
                        "bulk host insert, three steps",
                        lambda: [workloads.bench_bulk_several_steps(conn, sizes)],
                    ),
                    (
                        "bulk",
                        "bulk insert, count with a condition",
                        lambda: [expressions.bench_bulk_condition(conn, sizes)],
                    ),
                    (
                        "bulk",
                        "bulk update, transition",
                        lambda: [expressions.bench_bulk_transition(conn, sizes)],
                    ),
                    (
                        "bulk",
                        "bulk insert, distinct step",
                        lambda: [expressions.bench_bulk_distinct(conn, sizes)],
                    ),
                    (
                        "bulk",
                        "bulk insert, streak step",
                        lambda: [streaks.bench_bulk_logins(conn, sizes)],
                    ),
                    (
                        "bulk",
                        "bulk log insert",
                        lambda: [workloads.bench_bulk_log_insert(conn, sizes)],
                    ),
                    (
                        "single",
                        "single-row host insert",
                        lambda: workloads.bench_single_host_insert(conn, db, driver, sizes),
                    ),
                    (
                        "single",
                        "single-row insert, count with a condition",
                        lambda: [expressions.bench_single_condition(conn, db, driver, sizes)],
                    ),
                    (
                        "single",
                        "single-row update, transition",
                        lambda: [expressions.bench_single_transition(conn, db, driver, sizes)],
                    ),
                    (
                        "single",
                        "single-row insert, distinct step",
                        lambda: [expressions.bench_single_distinct(conn, db, driver, sizes)],
                    ),
                    (
                        "single",
                        "single-row insert, streak step",
                        lambda: [streaks.bench_single_login(conn, db, driver, sizes)],
                    ),
                    (
                        "single",
                        "single-row record_step",
                        lambda: [workloads.bench_single_record_step(conn, db, driver, sizes)],
                    ),
                    ("hot", "hot user", lambda: workloads.bench_hot_user(conn, db, driver, sizes)),
                ]
                for group, name, step in steps:
                    if group in only:
                        say(f"running {name}")
                        results.extend(step())
        if "reads" in only:
            results.extend(population.bench_population(server, sizes, say))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        report(results, started, scale, sizes, driver, settings, json_path)
    return results


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
