"""The write workloads, each against a bare twin in the same run (docs/bench.md):
1. bulk host insert: one INSERT ... SELECT of 100,000 rows over 10,000 users into a table tracked
   with track(..., 'count', ..., user_column), whose step has a level and three threshold
   badges, against the untracked twin; 2. bulk log insert: 100,000 rows into
   achievements.user_steps in one statement; 3. single-row throughput: tracked host insert vs
   twin insert, record_step vs a twin insert; 4. one hot user: 4 connections call record_step
   for the same user and step, against the same load spread over many users; 5. bulk host
   insert into a table tracked for three steps (a counter and two gauges) against its twin."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from achievements_db.bench.drivers import Driver, Load
from achievements_db.bench.measure import Result, Sizes, alternate, checkpoint, finish, timed
from achievements_db.conninfo import Target

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


def _has_table(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def _host_tables(conn: psycopg.Connection[Any]) -> None:
    """Creates the tracked host table, its twin and the catalog of workloads 1 and 3 once."""
    if not _has_table(conn, "bench.plays_tracked"):
        conn.execute(HOST_TABLES_SQL)
        conn.execute(HOST_CATALOG_SQL)
        conn.execute(HOST_BADGES_SQL)


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


def bench_bulk_host_insert(conn: psycopg.Connection[Any], sizes: Sizes) -> list[Result]:
    """Three rows: new users (every repetition brings fresh users, the same on both sides, so
    each run creates 10,000 tallies and awards the level and two badges to every user: the work
    of an import of new users); the same with `SET LOCAL achievements.quiet = on`, the setting
    for an import that should not notify (a reference without target: it shows what the outbox
    rows and pg_notify cost); then returning users (the users of the first repetition again:
    their tallies exist and the next threshold, 100, is out of reach, so nothing new is
    awarded)."""
    size = f"{sizes.bulk_rows:,} rows, {sizes.bulk_users:,} users"
    fresh = Result(f"bulk host insert ({size}), new users", "ms", "<= 1.3x twin")
    quiet = Result(
        f"bulk host insert ({size}), new users, achievements.quiet = on", "ms", "(reference)"
    )
    returning = Result(f"bulk host insert ({size}), returning users", "ms", "<= 1.3x twin")
    rows = [fresh, quiet, returning]
    _host_tables(conn)
    first_user = 1_000_000_000

    def run(table: str, users_from: int | None, silent: bool) -> Callable[[int], float]:
        def one(rep: int) -> float:
            batch = 0 if users_from is None else users_from + rep
            insert = (
                f"INSERT INTO bench.{table} (user_id, song) SELECT bench.uid(%s + g %% %s),"
                " 'song ' || g FROM generate_series(1, %s) AS g"
            )
            params = (first_user + batch * sizes.bulk_users, sizes.bulk_users, sizes.bulk_rows)
            checkpoint(conn)
            if not silent:
                return 1000 * timed(conn, insert, params)
            started = time.perf_counter()
            with conn.transaction():  # both sides alike: BEGIN, SET LOCAL, INSERT, COMMIT
                conn.execute("SET LOCAL achievements.quiet = on")
                conn.execute(insert, params)
            return 1000 * (time.perf_counter() - started)

        return one

    # Fresh users for each repetition of the first two rows; the first row's again for the third.
    for result, users_from, silent, limit in (
        (fresh, 0, False, 1.3),
        (quiet, sizes.bulk_reps, True, None),
        (returning, None, False, 1.3),
    ):
        mine, twin, ratio = alternate(
            sizes.bulk_reps,
            run("plays_tracked", users_from, silent),
            run("plays_twin", users_from, silent),
            result,
        )
        finish(result, mine, twin, higher_is_better=False, limit=limit, ratio=ratio)
    return rows


SEVERAL_STEPS_SQL = """
CREATE TABLE bench.songs_tracked (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL,
    title   text,
    liked   boolean NOT NULL DEFAULT false
);
CREATE INDEX songs_tracked_user_idx ON bench.songs_tracked (user_id);
CREATE TABLE bench.songs_twin (LIKE bench.songs_tracked INCLUDING ALL);
SELECT achievements.track('bench.songs_tracked', 'bench_song_count', 'title', 'count', 'user_id');
SELECT achievements.track('bench.songs_tracked', 'bench_song_live', 'title', 'toggle', 'user_id');
SELECT achievements.track('bench.songs_tracked', 'bench_song_liked', 'liked', 'toggle_boolean',
                          'user_id');
"""


def bench_bulk_several_steps(conn: psycopg.Connection[Any], sizes: Sizes) -> Result:
    """One INSERT ... SELECT of 100,000 rows over 10,000 returning users into a table tracked
    for three steps (a counter, two gauges: one counting function, one tally call per
    statement), against the untracked twin."""
    result = Result(
        f"bulk host insert ({sizes.bulk_rows:,} rows, {sizes.bulk_users:,} users),"
        " table tracked for 3 steps, returning users",
        "ms",
        "(reference)",
    )
    if not _has_table(conn, "bench.songs_tracked"):
        conn.execute(SEVERAL_STEPS_SQL)

    def run(table: str) -> Callable[[int], float]:
        def one(rep: int) -> float:
            checkpoint(conn)
            return 1000 * timed(
                conn,
                f"INSERT INTO bench.{table} (user_id, title, liked) SELECT bench.uid(%s + g %% %s),"
                " 'song ' || g, g %% 3 = 0 FROM generate_series(1, %s) AS g",
                (2_000_000_000, sizes.bulk_users, sizes.bulk_rows),
            )

        return one

    mine, twin, ratio = alternate(sizes.bulk_reps, run("songs_tracked"), run("songs_twin"), result)
    finish(result, mine, twin, higher_is_better=False, limit=None, ratio=ratio)
    return result


def bench_bulk_log_insert(conn: psycopg.Connection[Any], sizes: Sizes) -> Result:
    result = Result(
        f"bulk log insert ({sizes.bulk_rows:,} rows into user_steps)", "ms", "<= 1.5x twin"
    )
    conn.execute(LOG_TWIN_SQL)

    def run(table: str) -> Callable[[int], float]:
        def one(rep: int) -> float:
            checkpoint(conn)
            return 1000 * timed(
                conn,
                f"INSERT INTO {table} (user_id, name, count)"
                " SELECT bench.uid(%s + g %% %s), 'bench_log', 1 FROM generate_series(1, %s) AS g",
                (2_000_000_000 + rep * sizes.bulk_users, sizes.bulk_users, sizes.bulk_rows),
            )

        return one

    mine, twin, ratio = alternate(
        sizes.bulk_reps, run("achievements.user_steps"), run("bench.steps_twin"), result
    )
    return finish(result, mine, twin, higher_is_better=False, limit=1.5, ratio=ratio)


THROUGHPUT_CLIENTS = 2
HOT_CLIENTS = 4


def _throughput(
    target: Target, driver: Driver, sizes: Sizes, tracked: Load, twin: Load, result: Result
) -> Result:
    seconds = max(1, round(sizes.seconds / sizes.slices))

    def run(load: Load) -> Callable[[int], float]:
        return lambda rep: driver.run(target, load, THROUGHPUT_CLIENTS, seconds=seconds).tps

    mine, theirs, ratio = alternate(sizes.slices, run(tracked), run(twin), result)
    return finish(result, mine, theirs, higher_is_better=True, limit=0.85, ratio=ratio)


NEW_USERS_FROM = 3_000_000_000  # user numbers of the new-users run: far from every other run


def bench_single_host_insert(
    conn: psycopg.Connection[Any], target: Target, driver: Driver, sizes: Sizes
) -> list[Result]:
    """Two rows, as for the bulk insert. Returning users: 10,000 users (scaled) with 10 plays
    each (the level and the badges for 1 and 10 are theirs; 100 is out of reach of this run), so
    a call awards nothing, as almost every write of a running application. New users: every call
    is the first play of a user, so it creates the tally and awards the first badge with its
    notification."""
    returning = Result(
        "single-row tracked host insert (2 clients), returning users", "tps", ">= 0.85x twin"
    )
    fresh = Result("single-row tracked host insert (2 clients), new users", "tps", ">= 0.85x twin")
    _host_tables(conn)
    users = sizes.bulk_users
    for table in ("plays_tracked", "plays_twin"):
        conn.execute(
            f"INSERT INTO bench.{table} (user_id, song)"
            " SELECT bench.uid(1 + g %% %s), 'warm-up' FROM generate_series(0, %s) AS g",
            (users, 10 * users - 1),
        )
    stmt = "INSERT INTO bench.{} (user_id, song) VALUES (bench.uid({}), 'single')"
    _throughput(
        target,
        driver,
        sizes,
        Load(stmt.format("plays_tracked", ":u"), users),
        Load(stmt.format("plays_twin", ":u"), users),
        returning,
    )
    new_user = f"{NEW_USERS_FROM} + :u"
    _throughput(
        target,
        driver,
        sizes,
        Load(stmt.format("plays_tracked", new_user), 1_000_000_000),
        Load(stmt.format("plays_twin", new_user), 1_000_000_000),
        fresh,
    )
    return [returning, fresh]


def _warm_tallies(conn: psycopg.Connection[Any], step: str, users: int) -> None:
    """Gives users 1..users one step of `step` (one set-based insert into the log), so that the
    calls measured next add to existing tallies, as almost every write of a running application
    does, instead of creating them."""
    conn.execute(
        "INSERT INTO achievements.user_steps (user_id, name)"
        " SELECT bench.uid(g), %s FROM generate_series(1, %s) AS g",
        (step, users),
    )


def bench_single_record_step(
    conn: psycopg.Connection[Any], target: Target, driver: Driver, sizes: Sizes
) -> Result:
    """Returning users: the 10,000 users (scaled) have a tally of the step before the run; the
    twin table gets the same rows."""
    result = Result("single-row record_step vs twin insert (2 clients)", "tps", ">= 0.85x twin")
    if not _has_table(conn, "bench.steps_twin"):
        conn.execute(LOG_TWIN_SQL)
    users = sizes.bulk_users
    _warm_tallies(conn, "bench_single", users)
    conn.execute(
        "INSERT INTO bench.steps_twin (user_id, name)"
        " SELECT bench.uid(g), 'bench_single' FROM generate_series(1, %s) AS g",
        (users,),
    )
    return _throughput(
        target,
        driver,
        sizes,
        Load("SELECT achievements.record_step(bench.uid(:u), 'bench_single')", users),
        Load(
            "INSERT INTO bench.steps_twin (user_id, name) VALUES (bench.uid(:u), 'bench_single')",
            users,
        ),
        result,
    )


HOT_USER = 4_000_000_000


def bench_hot_user(
    conn: psycopg.Connection[Any], target: Target, driver: Driver, sizes: Sizes
) -> list[Result]:
    speed = Result(f"hot user: {HOT_CLIENTS} clients, one tally vs spread", "tps", ">= 0.8x spread")
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

    mine, theirs, ratio = alternate(sizes.hot_reps, run_hot, run_spread, speed)
    finish(speed, mine, theirs, higher_is_better=True, limit=0.8, ratio=ratio)

    # The floor on this server: a bare upsert of one counter row, same clients and calls. Every
    # hot transaction holds the row lock through its commit (a WAL flush), so they serialize.
    floor = Result(
        f"reference: bare upsert of one row, {HOT_CLIENTS} clients, vs spread", "tps", "(reference)"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS bench.counter (id int PRIMARY KEY, n int NOT NULL)")
    conn.execute(
        "INSERT INTO bench.counter (id, n) SELECT g, 0 FROM generate_series(0, %s) AS g"
        " ON CONFLICT DO NOTHING",
        (spread_users,),
    )
    upsert = (
        "INSERT INTO bench.counter AS c (id, n) VALUES ({}, 1)"
        " ON CONFLICT (id) DO UPDATE SET n = c.n + 1"
    )
    bare_hot, bare_spread = Load(upsert.format(0), 1), Load(upsert.format(":u"), spread_users)
    mine, theirs, ratio = alternate(
        sizes.hot_reps,
        lambda rep: driver.run(target, bare_hot, HOT_CLIENTS, calls=sizes.hot_calls).tps,
        lambda rep: driver.run(target, bare_spread, HOT_CLIENTS, calls=sizes.hot_calls).tps,
        floor,
    )
    finish(floor, mine, theirs, higher_is_better=True, limit=None, ratio=ratio)
    row = conn.execute(
        "SELECT count FROM achievements.user_achievements"
        " WHERE user_id = bench.uid(%s) AND name = 'bench_hot'",
        (HOT_USER,),
    ).fetchone()
    tally = row[0] if row else 0
    exact.figure, exact.twin = float(tally), float(calls)
    exact.ratio = tally / calls if calls else None
    exact.passed = tally == calls and failed == 0
    exact.note = f"{tally} of {calls} calls counted, {failed} failed"
    return [speed, exact, floor]
