"""The workloads of track()'s expressions (issue 14), each against an untracked twin with the same
columns and indexes, in the same run (docs/bench.md, workloads 6-8):

6. a count with a condition: `track(songs_cond, 'bench_released', user_column => 'user_id',
   condition => $$status = 'released'$$)`; bulk: one INSERT ... SELECT of 100,000 rows over
   10,000 users, a third of them released; single-row: an INSERT of one released row;
7. a transition: the same condition with `previous => $$status = 'wip'$$` on a table with a
   primary key; bulk: one UPDATE of 100,000 prepared wip rows to released; single-row: an UPDATE
   of one prepared wip row (the next of a sequence) to released;
8. a distinct step: `mode => 'distinct', value => 'lower(artist)'`, an index on the user column;
   bulk: one INSERT ... SELECT of 100,000 rows over 10,000 users; single-row: an INSERT of one
   row with a random artist of 100.

The users are returning users (each has a tally of the step, and each distinct user 10 rows,
before the run), as most writes of a running application: the bulk repetitions each get their
own 10,000 users, all alike, and the single-row calls go to 10,000 more. Each step has one badge
out of reach, so every statement runs the gate that looks for thresholds and awards nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from achievements_db.bench.drivers import Driver, Load
from achievements_db.bench.measure import Result, Sizes, alternate, checkpoint, finish, timed
from achievements_db.bench.workloads import slice_seconds, throughput
from achievements_db.conninfo import Target

STEP_TABLES_SQL = """
CREATE TABLE bench.songs_cond (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL,
    title   text,
    status  text NOT NULL
);
CREATE INDEX songs_cond_user_idx ON bench.songs_cond (user_id);
CREATE TABLE bench.songs_cond_twin (LIKE bench.songs_cond INCLUDING ALL);

CREATE TABLE bench.songs_prev (
    id      bigint PRIMARY KEY,
    user_id uuid NOT NULL,
    title   text,
    status  text NOT NULL
);
CREATE INDEX songs_prev_user_idx ON bench.songs_prev (user_id);
CREATE TABLE bench.songs_prev_twin (LIKE bench.songs_prev INCLUDING ALL);
CREATE SEQUENCE bench.songs_prev_next;
CREATE SEQUENCE bench.songs_prev_twin_next;

CREATE TABLE bench.songs_distinct (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL,
    artist  text
);
CREATE INDEX songs_distinct_user_idx ON bench.songs_distinct (user_id);
CREATE TABLE bench.songs_distinct_twin (LIKE bench.songs_distinct INCLUDING ALL);

SELECT achievements.track('bench.songs_cond', 'bench_released', user_column => 'user_id',
                          condition => $$status = 'released'$$);
SELECT achievements.track('bench.songs_prev', 'bench_completed', user_column => 'user_id',
                          condition => $$status = 'released'$$, previous => $$status = 'wip'$$);
SELECT achievements.track('bench.songs_distinct', 'bench_artists', mode => 'distinct',
                          value => 'lower(artist)', user_column => 'user_id');
INSERT INTO achievements.badges (code, name, step, threshold, points)
VALUES ('bench_released_far', 'A million released', 'bench_released', 1000000, 10),
       ('bench_completed_far', 'A million completed', 'bench_completed', 1000000, 10),
       ('bench_artists_far', 'A million artists', 'bench_artists', 1000000, 10);
"""

# User numbers: the single-row calls go to users 1..U (as the other single-row workloads, of
# other steps), bulk repetition k to users STEP_USERS + k*U .. STEP_USERS + (k+1)*U - 1.
STEP_USERS = 5_000_000_000
WARM_ROWS = 10  # rows of each user of the distinct step before the run


def _users_sql(sizes: Sizes) -> str:
    """The user numbers of every single-row call and bulk repetition, as a FROM item `n(u)`."""
    return (
        f"(SELECT g FROM generate_series(1, {sizes.bulk_users}) AS g UNION ALL"
        f" SELECT g FROM generate_series({STEP_USERS},"
        f" {STEP_USERS + sizes.bulk_reps * sizes.bulk_users - 1}) AS g) AS n(u)"
    )


def _prepare_wip(
    conn: psycopg.Connection[Any], table: str, first_user: int, users: int, rows: int
) -> tuple[int, int]:
    """Appends `rows` wip rows over users first_user .. first_user + users - 1 to `table` and
    returns the range of their ids (lo, hi]."""
    row = conn.execute(f"SELECT coalesce(max(id), 0) FROM bench.{table}").fetchone()
    lo = int(row[0]) if row else 0
    conn.execute(
        f"INSERT INTO bench.{table} (id, user_id, title, status)"
        " SELECT %s + g, bench.uid(%s + g %% %s), 'song ' || g, 'wip'"
        " FROM generate_series(1, %s) AS g",
        (lo, first_user, users, rows),
    )
    return lo, lo + rows


def _step_tables(conn: psycopg.Connection[Any], sizes: Sizes) -> None:
    """Creates the three tracked tables, their twins and the steps' badges once, and makes every
    user of the runs a returning user, on both sides alike: a released row each (condition), a
    wip row each moved to released (transition), 10 rows each (distinct)."""
    row = conn.execute("SELECT to_regclass('bench.songs_cond') IS NOT NULL").fetchone()
    if row and row[0]:
        return
    conn.execute(STEP_TABLES_SQL)
    users = _users_sql(sizes)
    for side in ("", "_twin"):
        conn.execute(
            f"INSERT INTO bench.songs_cond{side} (user_id, title, status)"
            f" SELECT bench.uid(n.u), 'warm-up', 'released' FROM {users}"
        )
        conn.execute(
            f"INSERT INTO bench.songs_prev{side} (id, user_id, title, status)"
            f" SELECT row_number() OVER (), bench.uid(n.u), 'warm-up', 'wip' FROM {users}"
        )
        conn.execute(f"UPDATE bench.songs_prev{side} SET status = 'released'")
        conn.execute(
            f"INSERT INTO bench.songs_distinct{side} (user_id, artist)"
            f" SELECT bench.uid(n.u), 'Artist ' || mod(n.u * 7 + k, 97) FROM {users},"
            f" generate_series(1, {WARM_ROWS}) AS k"
        )
    conn.execute(
        "VACUUM ANALYZE bench.songs_cond, bench.songs_cond_twin, bench.songs_prev,"
        " bench.songs_prev_twin, bench.songs_distinct, bench.songs_distinct_twin"
    )


def _bulk_size(sizes: Sizes) -> str:
    return f"{sizes.bulk_rows:,} rows, {sizes.bulk_users:,} users"


def _bulk(sizes: Sizes, result: Result, statement: Callable[[str, int], float]) -> Result:
    """Runs `statement(table, rep)` (which times itself) on the tracked table and its twin."""

    def run(table: str) -> Callable[[int], float]:
        return lambda rep: statement(table, rep)

    mine, twin, ratio = alternate(sizes.bulk_reps, run(""), run("_twin"), result)
    return finish(result, mine, twin, higher_is_better=False, limit=1.3, ratio=ratio)


def bench_bulk_condition(conn: psycopg.Connection[Any], sizes: Sizes) -> Result:
    result = Result(
        f"bulk insert ({_bulk_size(sizes)}), count with a condition, returning users",
        "ms",
        "<= 1.3x twin",
    )
    _step_tables(conn, sizes)

    def statement(side: str, rep: int) -> float:
        checkpoint(conn)
        return 1000 * timed(
            conn,
            f"INSERT INTO bench.songs_cond{side} (user_id, title, status)"
            " SELECT bench.uid(%s + g %% %s), 'song ' || g,"
            " (ARRAY['released', 'wip', 'draft'])[1 + g %% 3] FROM generate_series(1, %s) AS g",
            (STEP_USERS + rep * sizes.bulk_users, sizes.bulk_users, sizes.bulk_rows),
        )

    return _bulk(sizes, result, statement)


def bench_bulk_transition(conn: psycopg.Connection[Any], sizes: Sizes) -> Result:
    result = Result(
        f"bulk update ({_bulk_size(sizes)}), transition wip -> released, returning users",
        "ms",
        "<= 1.3x twin",
    )
    _step_tables(conn, sizes)

    def statement(side: str, rep: int) -> float:
        table = f"songs_prev{side}"
        lo, hi = _prepare_wip(
            conn, table, STEP_USERS + rep * sizes.bulk_users, sizes.bulk_users, sizes.bulk_rows
        )
        checkpoint(conn)
        return 1000 * timed(
            conn,
            f"UPDATE bench.{table} SET status = 'released' WHERE id > %s AND id <= %s",
            (lo, hi),
        )

    return _bulk(sizes, result, statement)


def bench_bulk_distinct(conn: psycopg.Connection[Any], sizes: Sizes) -> Result:
    result = Result(
        f"bulk insert ({_bulk_size(sizes)}), distinct step, returning users",
        "ms",
        "<= 1.3x twin",
    )
    _step_tables(conn, sizes)

    def statement(side: str, rep: int) -> float:
        checkpoint(conn)
        return 1000 * timed(
            conn,
            f"INSERT INTO bench.songs_distinct{side} (user_id, artist)"
            " SELECT bench.uid(%s + g %% %s), 'Artist ' || (g %% 97)"
            " FROM generate_series(1, %s) AS g",
            (STEP_USERS + rep * sizes.bulk_users, sizes.bulk_users, sizes.bulk_rows),
        )

    return _bulk(sizes, result, statement)


def bench_single_condition(
    conn: psycopg.Connection[Any], target: Target, driver: Driver, sizes: Sizes
) -> Result:
    """Every call inserts a released row, so every call counts a step."""
    result = Result(
        "single-row insert (2 clients), count with a condition, returning users",
        "tps",
        ">= 0.85x twin",
    )
    _step_tables(conn, sizes)
    stmt = (
        "INSERT INTO bench.songs_cond{} (user_id, title, status)"
        " VALUES (bench.uid(:u), 'single', 'released')"
    )
    users = sizes.bulk_users
    return throughput(
        target,
        driver,
        sizes,
        Load(stmt.format(""), users),
        Load(stmt.format("_twin"), users),
        result,
    )


def bench_single_transition(
    conn: psycopg.Connection[Any], target: Target, driver: Driver, sizes: Sizes
) -> Result:
    """Every call moves one wip row to released: before each slice, both sides get fresh wip
    rows (untimed) and a sequence that hands each call the next one; a slice that ran out of
    them is void (it measured updates that change nothing) and runs again with twice as many."""
    result = Result(
        "single-row update (2 clients), transition wip -> released, returning users",
        "tps",
        ">= 0.85x twin",
    )
    _step_tables(conn, sizes)
    stmt = (
        "UPDATE bench.songs_prev{0} SET status = 'released'"
        " WHERE id = (SELECT nextval('bench.songs_prev{0}_next'))"
    )
    # Rows prepared per slice: enough for 20,000 tps at first, then twice the most used so far.
    need = [20_000 * slice_seconds(sizes)]
    ranges: dict[bool, tuple[int, int]] = {}

    def side(tracked: bool) -> str:
        return "" if tracked else "_twin"

    def prepare(tracked: bool) -> None:
        table = f"songs_prev{side(tracked)}"
        lo, hi = _prepare_wip(conn, table, 1, sizes.bulk_users, need[0])
        conn.execute("SELECT setval(%s, %s)", (f"bench.{table}_next", lo))
        ranges[tracked] = (lo, hi)
        checkpoint(conn)

    def done(tracked: bool) -> bool:
        lo, hi = ranges[tracked]
        row = conn.execute(
            f"SELECT last_value FROM bench.songs_prev{side(tracked)}_next"
        ).fetchone()
        used = (int(row[0]) if row else lo) - lo
        need[0] = max(need[0], 2 * used)
        return used < hi - lo

    return throughput(
        target,
        driver,
        sizes,
        Load(stmt.format(""), 1),
        Load(stmt.format("_twin"), 1),
        result,
        prepare=prepare,
        done=done,
    )


def bench_single_distinct(
    conn: psycopg.Connection[Any], target: Target, driver: Driver, sizes: Sizes
) -> Result:
    """Every call inserts one row with one of 100 artists at random for a user who has about 10
    rows already (so the user's count of artists usually rises by one)."""
    result = Result(
        "single-row insert (2 clients), distinct step, returning users", "tps", ">= 0.85x twin"
    )
    _step_tables(conn, sizes)
    stmt = (
        "INSERT INTO bench.songs_distinct{} (user_id, artist)"
        " VALUES (bench.uid(:u), 'Artist ' || floor(random() * 100)::int)"
    )
    users = sizes.bulk_users
    return throughput(
        target,
        driver,
        sizes,
        Load(stmt.format(""), users),
        Load(stmt.format("_twin"), users),
        result,
    )
