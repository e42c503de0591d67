"""achievements-db bench: what tracking costs, as ratios to bare twin tables measured in one run.

Everything runs in scratch databases created on the chosen server (CREATE DATABASE, then the
package's own migrations) and dropped at the end, also on errors and Ctrl-C. Each workload runs
against the tracked table and against its bare twin (same columns and indexes, no triggers),
alternating the two and taking the median of several repetitions, so that drift of a shared
machine hits both sides alike. See docs/bench.md.

Workloads (default scale; --scale multiplies the sizes and durations):
1. bulk host insert: one INSERT ... SELECT of 100,000 rows over 10,000 users into a table
   tracked with track(..., 'count', ..., user_column), whose step has a level and three
   threshold badges, against the untracked twin.
2. bulk log insert: 100,000 rows into achievements.user_steps in one statement, against a twin.
3. single-row throughput (pgbench when on PATH, else a threaded driver; 2 clients, autocommit,
   10 s): tracked host insert vs twin insert; record_step vs a twin insert.
4. one hot user: 4 connections call record_step for the same user and step; the final tally must
   equal the number of calls; throughput compared with the same load spread over many users.
5. reads at 1,000,000 and at 10,000 users with tallies (built set-based through the package's own
   path: INSERT ... SELECT generate_series into achievements.user_steps): backfill_badge of a new
   badge, leaderboard(10), user_rank, steps_required, user_achieved, badge_progress (100 badges).
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from achievements_db import migrator
from achievements_db.database import Target, connect
from achievements_db.errors import AchievementsError

# Server settings the report names, so a reader knows what the figures were measured on.
REPORTED_SETTINGS = (
    "server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
    "shared_buffers", "work_mem", "max_wal_size", "jit",
)


@dataclass(frozen=True)
class Sizes:
    """How big each workload is; default() is the scale the targets are stated for."""

    bulk_rows: int
    bulk_users: int
    seconds: int  # per side and single-row workload, run as `slices` alternating slices
    slices: int
    hot_calls: int  # per connection and repetition
    hot_reps: int
    big_users: int
    small_users: int
    bulk_reps: int
    read_calls: int
    badges: int = 100

    @classmethod
    def scaled(cls, scale: float) -> Sizes:
        if scale <= 0:
            raise AchievementsError(f"--scale must be a positive number, got {scale}")

        def size(base: int, least: int) -> int:
            return max(least, round(base * scale))

        full = scale >= 0.5
        return cls(
            bulk_rows=size(100_000, 100),
            bulk_users=size(10_000, 10),
            seconds=size(10, 1),
            slices=5 if full else 1,
            hot_calls=size(1_000, 20),
            hot_reps=6 if full else 1,
            big_users=size(1_000_000, 200),
            small_users=size(10_000, 20),
            bulk_reps=5 if full else 1,
            read_calls=200 if full else 10,
        )


@dataclass
class Result:
    """One row of the table: the figure, the twin's figure, their ratio and the target."""

    workload: str
    unit: str
    target: str
    figure: float | None = None
    twin: float | None = None
    ratio: float | None = None
    passed: bool | None = None
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    def skipped(self, why: str) -> Result:
        self.note = f"skipped: {why}"
        return self


# ---------------------------------------------------------------------------------------------
# Scratch databases


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def scratch_database(server: Target, label: str, log: Callable[[str], None]) -> Iterator[Target]:
    """A new database on `server` with achievements-db migrated into it; dropped on exit."""
    name = f"achievements_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    with connect(server) as admin:
        admin.execute(f"CREATE DATABASE {_quote_ident(name)} TEMPLATE template0")
    try:
        scratch = Target(make_conninfo(server.conninfo, dbname=name), f"scratch database {name}")
        started = time.perf_counter()
        migrator.migrate(scratch)
        log(f"created and migrated {name} ({time.perf_counter() - started:.1f} s)")
        yield scratch
    finally:
        with connect(server) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        log(f"dropped {name}")


def _has_function(conn: psycopg.Connection, name: str) -> bool:
    schema, _, fname = name.rpartition(".")
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s AND p.proname = %s)", (schema or "achievements", fname)
    ).fetchone()
    return bool(row and row[0])


def _has_table(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def _missing(conn: psycopg.Connection, *needs: str) -> str | None:
    """The first of `needs` (functions; tables as "table achievements.x") not installed."""
    for need in needs:
        if need.startswith("table "):
            if not _has_table(conn, need[6:]):
                return need[6:]
        elif not _has_function(conn, need):
            return need
    return None


# Helpers shared by every workload: deterministic, well spread uuid user ids.
SETUP_SQL = """
CREATE SCHEMA bench;
CREATE FUNCTION bench.uid(n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN md5(n::text)::uuid;
"""


def _setup(conn: psycopg.Connection) -> None:
    conn.execute(SETUP_SQL)


def _checkpoint(conn: psycopg.Connection) -> None:
    """Starts a timed run with no dirty buffers pending, so a checkpoint rarely lands inside it."""
    with suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("CHECKPOINT")


def _timed(conn: psycopg.Connection, sql: str, params: Sequence[object] = ()) -> float:
    """Seconds one autocommit statement takes, commit included, measured at the client."""
    started = time.perf_counter()
    conn.execute(sql, params)  # type: ignore[arg-type]
    return time.perf_counter() - started


def _finish(result: Result, figure: float, twin: float | None, *, higher_is_better: bool,
            limit: float | None, ratio: float | None = None) -> Result:
    result.figure, result.twin = figure, twin
    result.ratio = ratio if ratio is not None else (figure / twin if twin else None)
    if limit is not None and result.ratio is not None:
        result.passed = result.ratio >= limit if higher_is_better else result.ratio <= limit
    return result


# ---------------------------------------------------------------------------------------------
# 1 and 2: bulk statements


HOST_TABLES_SQL = """
CREATE TABLE bench.plays_tracked (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   uuid NOT NULL,
    song      text,
    played_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plays_tracked_user_idx ON bench.plays_tracked (user_id);
CREATE TABLE bench.plays_twin (LIKE bench.plays_tracked INCLUDING ALL);
"""

HOST_CATALOG_SQL = """
INSERT INTO achievements.levels (name) VALUES ('bench_listener');
INSERT INTO achievements.level_requirements (level, name, required_count)
VALUES ('bench_listener', 'bench_songs', 5);
SELECT achievements.track('bench.plays_tracked', 'bench_songs', 'song', 'count', 'user_id');
"""
HOST_BADGES_SQL = """
INSERT INTO achievements.badges (code, name, step, threshold, points)
VALUES ('bench_songs_1', 'First song', 'bench_songs', 1, 1),
       ('bench_songs_10', 'Ten songs', 'bench_songs', 10, 5),
       ('bench_songs_100', 'A hundred songs', 'bench_songs', 100, 20);
"""
NO_BADGES = "level only: achievements.badges not installed"


def _host_tables(conn: psycopg.Connection) -> str:
    """Creates the tracked host table, its twin and the catalog of workloads 1 and 3 once;
    returns a note when the badges part could not be set up."""
    badges = _has_table(conn, "achievements.badges")
    if not _has_table(conn, "bench.plays_tracked"):
        conn.execute(HOST_TABLES_SQL)
        conn.execute(HOST_CATALOG_SQL)
        if badges:
            conn.execute(HOST_BADGES_SQL)
    return "" if badges else NO_BADGES

LOG_TWIN_SQL = """
CREATE TABLE bench.steps_twin (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    achievements.user_ref NOT NULL,
    name       text NOT NULL CHECK (name <> ''),
    count      int NOT NULL DEFAULT 1 CHECK (count <> 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX steps_twin_user_idx ON bench.steps_twin (user_id, name, id);
"""


def _alternate(reps: int, tracked: Callable[[int], float], twin: Callable[[int], float],
               result: Result) -> tuple[float, float, float]:
    """Runs both sides `reps` times, alternating which goes first. Returns the two medians and
    the median of the ratios of the pairs run back to back, which drift of a shared machine
    (other work coming and going over minutes) disturbs least."""
    mine: list[float] = []
    theirs: list[float] = []
    for rep in range(reps):
        if rep % 2 == 0:
            theirs.append(twin(rep))
            mine.append(tracked(rep))
        else:
            mine.append(tracked(rep))
            theirs.append(twin(rep))
    result.samples = {"tracked": mine, "twin": theirs}
    paired = statistics.median(m / t for m, t in zip(mine, theirs, strict=True) if t)
    return statistics.median(mine), statistics.median(theirs), paired


def bench_bulk_host_insert(conn: psycopg.Connection, sizes: Sizes) -> list[Result]:
    """Three rows: new users (every repetition brings fresh users, the same on both sides, so
    each run creates 10,000 tallies and awards the level and two badges to every user: the work
    of an import of new users); the same with `SET LOCAL achievements.quiet = on`, the setting
    for an import that should not notify (a reference without target: it shows what the outbox
    rows and pg_notify cost); then returning users (the users of the first repetition again:
    their tallies exist and the next threshold, 100, is out of reach, so nothing new is
    awarded)."""
    size = f"{sizes.bulk_rows:,} rows, {sizes.bulk_users:,} users"
    fresh = Result(f"bulk host insert ({size}), new users", "ms", "<= 1.3x twin")
    quiet = Result(f"bulk host insert ({size}), new users, achievements.quiet = on", "ms",
                   "(reference)")
    returning = Result(f"bulk host insert ({size}), returning users", "ms", "<= 1.3x twin")
    rows = [fresh, quiet, returning]
    missing = _missing(conn, "achievements.track")
    if missing:
        return [row.skipped(f"needs {missing}") for row in rows]
    note = _host_tables(conn)
    first_user = 1_000_000_000

    def run(table: str, users_from: int | None, silent: bool) -> Callable[[int], float]:
        def one(rep: int) -> float:
            batch = 0 if users_from is None else users_from + rep
            insert = (f"INSERT INTO bench.{table} (user_id, song) SELECT bench.uid(%s + g %% %s),"
                      " 'song ' || g FROM generate_series(1, %s) AS g")
            params = (first_user + batch * sizes.bulk_users, sizes.bulk_users, sizes.bulk_rows)
            _checkpoint(conn)
            if not silent:
                return 1000 * _timed(conn, insert, params)
            started = time.perf_counter()
            with conn.transaction():  # both sides alike: BEGIN, SET LOCAL, INSERT, COMMIT
                conn.execute("SET LOCAL achievements.quiet = on")
                conn.execute(insert, params)
            return 1000 * (time.perf_counter() - started)
        return one

    # Fresh users for each repetition of the first two rows; the first row's again for the third.
    for result, users_from, silent, limit in ((fresh, 0, False, 1.3),
                                              (quiet, sizes.bulk_reps, True, None),
                                              (returning, None, False, 1.3)):
        mine, twin, ratio = _alternate(sizes.bulk_reps, run("plays_tracked", users_from, silent),
                                       run("plays_twin", users_from, silent), result)
        result.note = note
        _finish(result, mine, twin, higher_is_better=False, limit=limit, ratio=ratio)
    return rows


def bench_bulk_log_insert(conn: psycopg.Connection, sizes: Sizes) -> Result:
    result = Result(f"bulk log insert ({sizes.bulk_rows:,} rows into user_steps)", "ms",
                    "<= 1.5x twin")
    conn.execute(LOG_TWIN_SQL)

    def run(table: str) -> Callable[[int], float]:
        def one(rep: int) -> float:
            _checkpoint(conn)
            return 1000 * _timed(
                conn,
                f"INSERT INTO {table} (user_id, name, count)"
                " SELECT bench.uid(%s + g %% %s), 'bench_log', 1 FROM generate_series(1, %s) AS g",
                (2_000_000_000 + rep * sizes.bulk_users, sizes.bulk_users, sizes.bulk_rows),
            )
        return one

    mine, twin, ratio = _alternate(sizes.bulk_reps, run("achievements.user_steps"),
                            run("bench.steps_twin"), result)
    return _finish(result, mine, twin, higher_is_better=False, limit=1.5, ratio=ratio)


# ---------------------------------------------------------------------------------------------
# 3 and 4: single-row throughput


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

    def run(self, target: Target, load: Load, clients: int, *, seconds: int | None = None,
            calls: int | None = None) -> LoadRun:
        raise NotImplementedError


class PgbenchDriver(Driver):
    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.name = f"pgbench ({executable})"

    def run(self, target: Target, load: Load, clients: int, *, seconds: int | None = None,
            calls: int | None = None) -> LoadRun:
        script = f"\\set u random(1, {load.users})\n{load.statement};\n"
        with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="achievements-bench-",
                                         delete=False) as f:
            f.write(script)
        try:
            length = ["-T", str(seconds)] if seconds is not None else ["-t", str(calls)]
            proc = subprocess.run(
                [self.executable, "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients),
                 *length, "-f", f.name, target.conninfo],
                capture_output=True, text=True, check=False,
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
        return LoadRun(float(tps.group(1)), int(done.group(1)),
                       int(failed.group(1)) if failed else 0)


class ThreadDriver(Driver):
    """Threads, one psycopg connection each, prepared statement, autocommit. Like pgbench, a
    failing call stops the run with an error."""

    name = "threads (psycopg)"

    def run(self, target: Target, load: Load, clients: int, *, seconds: int | None = None,
            calls: int | None = None) -> LoadRun:
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
    exe = None if prefer_threads else shutil.which("pgbench")
    return PgbenchDriver(exe) if exe else ThreadDriver()


THROUGHPUT_CLIENTS = 2
HOT_CLIENTS = 4


def _throughput(target: Target, driver: Driver, sizes: Sizes, tracked: Load, twin: Load,
                result: Result) -> Result:
    seconds = max(1, round(sizes.seconds / sizes.slices))

    def run(load: Load) -> Callable[[int], float]:
        return lambda rep: driver.run(target, load, THROUGHPUT_CLIENTS, seconds=seconds).tps

    mine, theirs, ratio = _alternate(sizes.slices, run(tracked), run(twin), result)
    return _finish(result, mine, theirs, higher_is_better=True, limit=0.85, ratio=ratio)


NEW_USERS_FROM = 3_000_000_000  # user numbers of the new-users run: far from every other run


def bench_single_host_insert(conn: psycopg.Connection, target: Target, driver: Driver,
                             sizes: Sizes) -> list[Result]:
    """Two rows, as for the bulk insert. Returning users: 10,000 users (scaled) with 10 plays
    each (the level and the badges for 1 and 10 are theirs; 100 is out of reach of this run), so
    a call awards nothing, as almost every write of a running application. New users: every call
    is the first play of a user, so it creates the tally and awards the first badge with its
    notification."""
    returning = Result("single-row tracked host insert (2 clients), returning users", "tps",
                       ">= 0.85x twin")
    fresh = Result("single-row tracked host insert (2 clients), new users", "tps",
                   ">= 0.85x twin")
    missing = _missing(conn, "achievements.track")
    if missing:
        return [returning.skipped(f"needs {missing}"), fresh.skipped(f"needs {missing}")]
    returning.note = fresh.note = _host_tables(conn)
    users = sizes.bulk_users
    for table in ("plays_tracked", "plays_twin"):
        conn.execute(f"INSERT INTO bench.{table} (user_id, song)"
                     " SELECT bench.uid(1 + g %% %s), 'warm-up' FROM generate_series(0, %s) AS g",
                     (users, 10 * users - 1))
    stmt = "INSERT INTO bench.{} (user_id, song) VALUES (bench.uid({}), 'single')"
    _throughput(target, driver, sizes,
                Load(stmt.format("plays_tracked", ":u"), users),
                Load(stmt.format("plays_twin", ":u"), users), returning)
    new_user = f"{NEW_USERS_FROM} + :u"
    _throughput(target, driver, sizes,
                Load(stmt.format("plays_tracked", new_user), 1_000_000_000),
                Load(stmt.format("plays_twin", new_user), 1_000_000_000), fresh)
    return [returning, fresh]


def _warm_tallies(conn: psycopg.Connection, step: str, users: int) -> None:
    """Gives users 1..users one step of `step` (one set-based insert into the log), so that the
    calls measured next add to existing tallies, as almost every write of a running application
    does, instead of creating them."""
    conn.execute("INSERT INTO achievements.user_steps (user_id, name)"
                 " SELECT bench.uid(g), %s FROM generate_series(1, %s) AS g", (step, users))


def bench_single_record_step(conn: psycopg.Connection, target: Target, driver: Driver,
                             sizes: Sizes) -> Result:
    """Returning users: the 10,000 users (scaled) have a tally of the step before the run; the
    twin table gets the same rows."""
    result = Result("single-row record_step vs twin insert (2 clients)", "tps", ">= 0.85x twin")
    if not _has_table(conn, "bench.steps_twin"):
        conn.execute(LOG_TWIN_SQL)
    users = sizes.bulk_users
    _warm_tallies(conn, "bench_single", users)
    conn.execute("INSERT INTO bench.steps_twin (user_id, name)"
                 " SELECT bench.uid(g), 'bench_single' FROM generate_series(1, %s) AS g", (users,))
    return _throughput(
        target, driver, sizes,
        Load("SELECT achievements.record_step(bench.uid(:u), 'bench_single')", users),
        Load("INSERT INTO bench.steps_twin (user_id, name) VALUES (bench.uid(:u), 'bench_single')",
             users),
        result,
    )


HOT_USER = 4_000_000_000


def bench_hot_user(conn: psycopg.Connection, target: Target, driver: Driver,
                   sizes: Sizes) -> list[Result]:
    speed = Result(f"hot user: {HOT_CLIENTS} clients, one tally vs spread", "tps",
                   ">= 0.8x spread")
    exact = Result("hot user: final tally vs calls", "steps", "= calls, no failures")
    # The spread load runs over 100,000 users (scaled) who have a tally already, so that the two
    # sides differ in contention only, not in creating tallies.
    spread_users = 10 * sizes.bulk_users
    _warm_tallies(conn, "bench_spread", spread_users)
    hot = Load(f"SELECT achievements.record_step(bench.uid({HOT_USER}), 'bench_hot')", 1)
    spread = Load("SELECT achievements.record_step(bench.uid(:u), 'bench_spread')", spread_users)
    calls = 0
    failed = 0

    def run_hot(rep: int) -> float:
        nonlocal calls, failed
        outcome = driver.run(target, hot, HOT_CLIENTS, calls=sizes.hot_calls)
        calls += HOT_CLIENTS * sizes.hot_calls
        failed += outcome.failed + HOT_CLIENTS * sizes.hot_calls - outcome.transactions
        return outcome.tps

    def run_spread(rep: int) -> float:
        return driver.run(target, spread, HOT_CLIENTS, calls=sizes.hot_calls).tps

    mine, theirs, ratio = _alternate(sizes.hot_reps, run_hot, run_spread, speed)
    _finish(speed, mine, theirs, higher_is_better=True, limit=0.8, ratio=ratio)

    # The floor on this server: a bare upsert of one counter row, same clients and calls. Every
    # hot transaction holds the row lock through its commit (a WAL flush), so they serialize.
    floor = Result(f"reference: bare upsert of one row, {HOT_CLIENTS} clients, vs spread", "tps",
                   "(reference)")
    conn.execute("CREATE TABLE IF NOT EXISTS bench.counter (id int PRIMARY KEY, n int NOT NULL)")
    conn.execute("INSERT INTO bench.counter (id, n) SELECT g, 0 FROM generate_series(0, %s) AS g"
                 " ON CONFLICT DO NOTHING", (spread_users,))
    upsert = ("INSERT INTO bench.counter AS c (id, n) VALUES ({}, 1)"
              " ON CONFLICT (id) DO UPDATE SET n = c.n + 1")
    bare_hot, bare_spread = Load(upsert.format(0), 1), Load(upsert.format(":u"), spread_users)
    mine, theirs, ratio = _alternate(
        sizes.hot_reps,
        lambda rep: driver.run(target, bare_hot, HOT_CLIENTS, calls=sizes.hot_calls).tps,
        lambda rep: driver.run(target, bare_spread, HOT_CLIENTS, calls=sizes.hot_calls).tps,
        floor)
    _finish(floor, mine, theirs, higher_is_better=True, limit=None, ratio=ratio)
    row = conn.execute(
        "SELECT count FROM achievements.user_achievements"
        " WHERE user_id = bench.uid(%s) AND name = 'bench_hot'", (HOT_USER,)
    ).fetchone()
    tally = row[0] if row else 0
    exact.figure, exact.twin = float(tally), float(calls)
    exact.ratio = tally / calls if calls else None
    exact.passed = tally == calls and failed == 0
    exact.note = f"{tally} of {calls} calls counted, {failed} failed"
    return [speed, exact, floor]


# ---------------------------------------------------------------------------------------------
# 5: reads at 10,000 and 1,000,000 users

STEPS = 10  # each user has a tally of one of bench_s0..bench_s9, and one of bench_plays
TIERS = 10  # badges per step: STEPS * TIERS = 100 badges


def _build_population(conn: psycopg.Connection, users: int, log: Callable[[str], None],
                      with_badges: bool) -> None:
    """Tallies for `users` users, through the package's own path: one INSERT ... SELECT
    generate_series into achievements.user_steps per step family (the tally trigger folds them);
    then a level over four steps and 100 threshold badges, backfilled."""
    started = time.perf_counter()
    conn.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count)"
        " SELECT bench.uid(g), 'bench_s' || (g %% %s), 1 + (g * 7919) %% 1000"
        "   FROM generate_series(1::bigint, %s) AS g", (STEPS, users))
    conn.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count)"
        " SELECT bench.uid(g), 'bench_plays', 1 + (g * 104729) %% 1000"
        "   FROM generate_series(1::bigint, %s) AS g", (users,))
    log(f"  {users:,} users: {2 * users:,} tallies via user_steps in "
        f"{time.perf_counter() - started:.1f} s")
    conn.execute("INSERT INTO achievements.levels (name) VALUES ('bench_master')")
    conn.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count, priority)"
        " VALUES ('bench_master', 'bench_plays', 900, 1), ('bench_master', 'bench_s0', 500, 2),"
        "        ('bench_master', 'bench_s1', 500, 3), ('bench_master', 'bench_s2', 500, 4)")
    if with_badges:
        started = time.perf_counter()
        # Tiers at 820, 840, ..., 1000 on each step: about one user in nine holds badges.
        conn.execute(
            "INSERT INTO achievements.badges (code, name, step, threshold, points)"
            " SELECT format('bench_s%%s_t%%s', s, t), format('Step %%s tier %%s', s, t),"
            "        'bench_s' || s, 800 + 20 * t, 10 * t"
            "   FROM generate_series(0, %s - 1) AS s, generate_series(1, %s) AS t",
            (STEPS, TIERS))
        codes = [r[0] for r in conn.execute(
            "SELECT code FROM achievements.badges WHERE code LIKE 'bench_s%' ORDER BY code")]
        for code in codes:
            conn.execute("SELECT achievements.backfill_badge(%s)", (code,))
        log(f"  {len(codes)} badges backfilled in {time.perf_counter() - started:.1f} s")
    conn.execute("VACUUM ANALYZE")


def _time_calls(conn: psycopg.Connection, sql: str, args: Callable[[], Sequence[object]],
                calls: int) -> list[float]:
    """Milliseconds of each of `calls` calls, measured at the client (prepared statement)."""
    times = []
    for _ in range(calls):
        a = args()
        started = time.perf_counter()
        conn.execute(sql, a, prepare=True).fetchall()  # type: ignore[arg-type]
        times.append(1000 * (time.perf_counter() - started))
    return times


READS: list[tuple[str, str, str, float, tuple[str, ...]]] = [
    # (label, sql with %s for a random user, function it needs, ms limit, other needs)
    ("leaderboard(10)", "SELECT * FROM achievements.leaderboard(10)", "achievements.leaderboard",
     20.0, ()),
    ("user_rank(user)", "SELECT * FROM achievements.user_rank(bench.uid(%s))",
     "achievements.user_rank", 20.0, ()),
    ("steps_required(level, user)",
     "SELECT * FROM achievements.steps_required('bench_master', bench.uid(%s))",
     "achievements.steps_required", 1.0, ()),
    ("user_achieved(level, user)",
     "SELECT achievements.user_achieved('bench_master', bench.uid(%s))",
     "achievements.user_achieved", 1.0, ()),
    ("badge_progress(user), 100 badges",
     "SELECT * FROM achievements.badge_progress(bench.uid(%s))", "achievements.badge_progress",
     5.0, ()),
]


def _populate(conn: psycopg.Connection, users: int, log: Callable[[str], None]) -> float | str:
    """Builds `users` users; returns the ms backfill_badge of a new badge took (or what is
    missing for it)."""
    _setup(conn)
    badges = _missing(conn, "table achievements.badges", "achievements.backfill_badge")
    _build_population(conn, users, log, with_badges=badges is None)
    if badges:
        return f"needs {badges}"
    # A new badge half of the users qualify for (bench_plays is uniform in 1..1000).
    conn.execute(
        "INSERT INTO achievements.badges (code, name, step, threshold, points)"
        " VALUES ('bench_new', 'Half way', 'bench_plays', 500, 50)")
    _checkpoint(conn)
    started = time.perf_counter()
    awarded = conn.execute("SELECT achievements.backfill_badge('bench_new')").fetchone()
    elapsed = 1000 * (time.perf_counter() - started)
    log(f"  backfill_badge awarded {awarded[0] if awarded else '?'} badges in {elapsed:,.0f} ms")
    conn.execute("VACUUM ANALYZE")
    return elapsed


READ_ROUNDS = 5


def bench_population(server: Target, sizes: Sizes, log: Callable[[str], None]) -> list[Result]:
    """Reads at sizes.small_users and sizes.big_users users, in two scratch databases that live
    side by side: each read alternates rounds of calls between the two, and every call asks
    about a random user; the figure is the median call."""
    small_label = f"{sizes.small_users:,} users"
    big_label = f"{sizes.big_users:,} users"
    with scratch_database(server, "small", log) as small_db, \
            scratch_database(server, "big", log) as big_db, \
            connect(small_db) as small, connect(big_db) as big:
        log(f"building {small_label}")
        backfill_small = _populate(small, sizes.small_users, log)
        log(f"building {big_label}")
        backfill_big = _populate(big, sizes.big_users, log)

        results = []
        backfill = Result(f"backfill_badge, new badge, {big_label} (twin: {small_label})", "ms",
                          "<= 10 s")
        if isinstance(backfill_big, str):
            results.append(backfill.skipped(backfill_big))
        else:
            backfill.figure = backfill_big
            backfill.twin = backfill_small if isinstance(backfill_small, float) else None
            backfill.ratio = backfill.figure / backfill.twin if backfill.twin else None
            backfill.passed = backfill.figure <= 10_000
            results.append(backfill)

        log("timing reads")
        per_round = max(1, sizes.read_calls // READ_ROUNDS)
        for label, sql, needs, limit, _ in READS:
            row = Result(f"{label} at {big_label} (twin: {small_label})", "ms",
                         f"<= {limit:g} ms, <= 2x")
            missing = _missing(big, needs)
            if missing:
                results.append(row.skipped(f"needs {missing}"))
                continue
            times: dict[str, list[float]] = {"big": [], "small": []}
            sides = [("small", small, sizes.small_users), ("big", big, sizes.big_users)]
            rnd = random.Random(len(label))
            for n in range(READ_ROUNDS + 1):  # round 0 warms up (plans, caches) and is dropped
                for side, conn, users in (sides if n % 2 == 0 else sides[::-1]):
                    def args(users: int = users, rnd: random.Random = rnd,
                             takes_user: bool = "%s" in sql) -> tuple[int, ...]:
                        return (rnd.randint(1, users),) if takes_user else ()

                    took = _time_calls(conn, sql, args, per_round)
                    if n:
                        times[side].extend(took)
            b, s_ = statistics.median(times["big"]), statistics.median(times["small"])
            row.figure, row.twin, row.ratio = b, s_, b / s_ if s_ else None
            row.passed = b <= limit and (row.ratio is None or row.ratio <= 2.0)
            row.samples = {"big": times["big"], "small": times["small"]}
            results.append(row)
    return results


# ---------------------------------------------------------------------------------------------
# Running it all and printing the table


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.3f} ms" if value < 10 else f"{value:,.0f} ms"
    if unit == "tps":
        return f"{value:,.0f} tps"
    return f"{value:,.0f}"


def format_table(results: Sequence[Result]) -> str:
    header = ("workload", "figure", "twin", "ratio", "target", "result")
    rows = [header]
    for r in results:
        if r.note.startswith("skipped"):
            rows.append((r.workload, "-", "-", "-", r.target, r.note))
            continue
        verdict = "-" if r.passed is None else ("pass" if r.passed else "FAIL")
        if r.note:
            verdict += f" ({r.note})"
        rows.append((r.workload, _fmt(r.figure, r.unit), _fmt(r.twin, r.unit),
                     "-" if r.ratio is None else f"{r.ratio:.3f}x", r.target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for n, row in enumerate(rows):
        numbers = zip(row[1:-1], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    return "\n".join(lines)


def server_settings(target: Target) -> dict[str, str]:
    with connect(target) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name",
            (list(REPORTED_SETTINGS),)).fetchall()
    return dict(rows)


WORKLOADS = ("bulk", "single", "hot", "reads")


def run(server: Target, scale: float = 1.0, json_path: str | None = None,
        log: Callable[[str], None] | None = None, prefer_threads: bool = False,
        only: Sequence[str] = WORKLOADS) -> list[Result]:
    """Runs the workloads on `server` in scratch databases and prints the table to stdout.

    When a workload fails, the rows measured so far are printed before the error propagates."""
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        raise AchievementsError(
            f"unknown workload {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOADS)}")
    sizes = Sizes.scaled(scale)
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    driver = choose_driver(prefer_threads)
    settings = server_settings(server)
    say(f"scale {scale:g}; single-row driver: {driver.name}; "
        + ", ".join(f"{k}={v}" for k, v in settings.items()))
    started = datetime.now(timezone.utc)
    results: list[Result] = []
    # SIGTERM unwinds like Ctrl-C, so the scratch databases are dropped either way.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        if {"bulk", "single", "hot"} & set(only):
            with scratch_database(server, "main", say) as db, connect(db) as conn:
                _setup(conn)
                steps: list[tuple[str, str, Callable[[], list[Result]]]] = [
                    ("bulk", "bulk host insert", lambda: bench_bulk_host_insert(conn, sizes)),
                    ("bulk", "bulk log insert", lambda: [bench_bulk_log_insert(conn, sizes)]),
                    ("single", "single-row host insert",
                     lambda: bench_single_host_insert(conn, db, driver, sizes)),
                    ("single", "single-row record_step",
                     lambda: [bench_single_record_step(conn, db, driver, sizes)]),
                    ("hot", "hot user", lambda: bench_hot_user(conn, db, driver, sizes)),
                ]
                for group, name, step in steps:
                    if group in only:
                        say(f"running {name}")
                        results.extend(step())
        if "reads" in only:
            results.extend(bench_population(server, sizes, say))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _report(results, started, scale, sizes, driver, settings, json_path)
    return results


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _report(results: list[Result], started: datetime, scale: float, sizes: Sizes,
            driver: Driver, settings: dict[str, str], json_path: str | None) -> None:
    print(f"achievements-db bench, {started:%Y-%m-%d %H:%M} UTC, scale {scale:g}, "
          f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
          f"driver {driver.name}")
    print("server: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(format_table(results))
    judged = [r for r in results if r.passed is not None]
    skipped = sum(r.note.startswith("skipped") for r in results)
    print(f"{sum(bool(r.passed) for r in judged)} of {len(judged)} targets met"
          + (f", {skipped} skipped" if skipped else ""), flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps({
            "started_at": started.isoformat(),
            "scale": scale,
            "sizes": asdict(sizes),
            "cpus": os.cpu_count(),
            "machine": f"{platform.system()} {platform.machine()} {platform.release()}",
            "driver": driver.name,
            "settings": settings,
            "results": [asdict(r) for r in results],
        }, indent=2) + "\n")
