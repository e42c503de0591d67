"""The single-row load drivers: pgbench when it is on PATH, else threads of psycopg connections
doing the same (one connection per client, prepared statements, autocommit)."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

import psycopg

from achievements_db.conninfo import Target
from achievements_db.errors import AchievementsError


@dataclass(frozen=True)
class Load:
    """One pgbench-style script: `\\set u random(1, users)`, then one statement using :u."""

    statement: str  # uses :u for the user number
    users: int


@dataclass(frozen=True)
class LoadRun:
    tps: float
    transactions: int
    failed: int


class Driver:
    """Runs a Load with N autocommit clients, for a duration or a number of calls per client."""

    name = "abstract"

    def run(
        self,
        target: Target,
        load: Load,
        clients: int,
        *,
        seconds: int | None = None,
        calls: int | None = None,
    ) -> LoadRun:
        raise NotImplementedError


class PgbenchDriver(Driver):
    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.name = f"pgbench ({executable})"

    def run(
        self,
        target: Target,
        load: Load,
        clients: int,
        *,
        seconds: int | None = None,
        calls: int | None = None,
    ) -> LoadRun:
        script = f"\\set u random(1, {load.users})\n{load.statement};\n"
        with tempfile.NamedTemporaryFile(
            "w", suffix=".sql", prefix="achievements-bench-", delete=False
        ) as f:
            f.write(script)
        try:
            length = ["-T", str(seconds)] if seconds is not None else ["-t", str(calls)]
            proc = subprocess.run(
                [
                    self.executable,
                    "-n",
                    "-M",
                    "prepared",
                    "-c",
                    str(clients),
                    "-j",
                    str(clients),
                    *length,
                    "-f",
                    f.name,
                    target.conninfo,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            os.unlink(f.name)
        out = proc.stdout
        tps = re.search(r"tps = ([0-9.]+) \((?:without initial connection time|excluding)", out)
        done = re.search(r"number of transactions actually processed: (\d+)", out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        if proc.returncode != 0 or not tps or not done:
            detail = (proc.stderr.strip() or out.strip()).splitlines()[-3:]
            raise AchievementsError(f"pgbench failed on {load.statement!r}: {' | '.join(detail)}")
        return LoadRun(
            float(tps.group(1)), int(done.group(1)), int(failed.group(1)) if failed else 0
        )


class ThreadDriver(Driver):
    """Threads, one psycopg connection each, prepared statement, autocommit. Like pgbench, a
    failing call stops the run with an error."""

    name = "threads (psycopg)"

    def run(
        self,
        target: Target,
        load: Load,
        clients: int,
        *,
        seconds: int | None = None,
        calls: int | None = None,
    ) -> LoadRun:
        sql = load.statement.replace(":u", "%s")
        takes_user = sql != load.statement
        conns = [psycopg.connect(target.conninfo, autocommit=True) for _ in range(clients)]
        counts = [0] * clients
        errors: list[BaseException] = []
        barrier = threading.Barrier(clients + 1)
        stop = threading.Event()

        def client(i: int) -> None:
            rnd = random.Random(i)
            conn = conns[i]
            barrier.wait()
            try:
                while not stop.is_set() and (calls is None or counts[i] < calls):
                    params = (rnd.randint(1, load.users),) if takes_user else ()
                    conn.execute(sql, params, prepare=True)
                    counts[i] += 1
            except BaseException as exc:  # noqa: BLE001 - reported below, stops every client
                errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        try:
            barrier.wait()
            started = time.perf_counter()
            if seconds is not None:
                stop.wait(seconds)
                stop.set()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
        finally:
            stop.set()
            for conn in conns:
                conn.close()
        if errors:
            raise AchievementsError(f"{load.statement!r} failed: {errors[0]}")
        done = sum(counts)
        return LoadRun(done / elapsed if elapsed else 0.0, done, 0)


def choose_driver(prefer_threads: bool = False) -> Driver:
    """pgbench when it is on PATH (unless `prefer_threads`), else the threaded driver."""
    exe = None if prefer_threads else shutil.which("pgbench")
    return PgbenchDriver(exe) if exe else ThreadDriver()
