"""The workloads of streak steps (docs/streaks.md), each against an untracked twin with the same
columns and indexes, in the same run (docs/bench.md, workload 9):

- bulk: one INSERT ... SELECT of 100,000 login rows over 10,000 returning users into
  `bench.logins` (tracked with `track(..., mode => 'streak', at => 'at', user_column =>
  'user_id')`), ten days in a row per user that continue the 10 days each user logged in before;
- single-row: an INSERT of one login now for one of 10,000 users who logged in every day until
  yesterday (the first login of a user today extends the streak, the next ones change nothing).

Each user's earlier logins are written before the run, on both sides alike. The step has one
badge out of reach, so every statement runs the gate that looks for thresholds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from achievements_db.bench.drivers import Driver, Load
from achievements_db.bench.measure import Result, Sizes, alternate, checkpoint, finish, timed
from achievements_db.bench.workloads import throughput
from achievements_db.conninfo import Target

LOGINS_SQL = """
CREATE TABLE bench.logins (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL,
    at      timestamptz NOT NULL
);
CREATE INDEX logins_user_idx ON bench.logins (user_id);
CREATE TABLE bench.logins_twin (LIKE bench.logins INCLUDING ALL);
SELECT achievements.track('bench.logins', 'bench_daily', mode => 'streak', at => 'at',
                          user_column => 'user_id');
INSERT INTO achievements.badges (code, name, step, threshold, points)
VALUES ('bench_daily_far', 'A million days', 'bench_daily', 1000000, 10);
"""

# User numbers: the single-row calls go to users SINGLE_USERS + 1 .. + U, bulk repetition k to
# BULK_USERS + k*U .. BULK_USERS + (k+1)*U - 1 (apart from the other workloads' users).
SINGLE_USERS = 7_000_000_000
BULK_USERS = 8_000_000_000
WARM_DAYS = 10  # days each user logged in before the run


def _users_sql(sizes: Sizes) -> str:
    """Every user of the runs, as a FROM item `n(u)`."""
    last_single = SINGLE_USERS + sizes.bulk_users
    return (
        f"(SELECT g FROM generate_series({SINGLE_USERS + 1}, {last_single}) AS g"
        f" UNION ALL SELECT g FROM generate_series({BULK_USERS},"
        f" {BULK_USERS + sizes.bulk_reps * sizes.bulk_users - 1}) AS g) AS n(u)"
    )


def _logins(conn: psycopg.Connection[Any], sizes: Sizes) -> None:
    """Creates the tracked table, its twin and the step once, and gives every user of the runs
    the logins of the WARM_DAYS days before today, on both sides alike."""
    row = conn.execute("SELECT to_regclass('bench.logins') IS NOT NULL").fetchone()
    if row and row[0]:
        return
    conn.execute(LOGINS_SQL)
    for side in ("", "_twin"):
        conn.execute(
            f"INSERT INTO bench.logins{side} (user_id, at)"
            f" SELECT bench.uid(n.u), now() - k * interval '1 day' FROM {_users_sql(sizes)},"
            f" generate_series(1, {WARM_DAYS}) AS k"
        )
    conn.execute("VACUUM ANALYZE bench.logins, bench.logins_twin")


def bench_bulk_logins(conn: psycopg.Connection[Any], sizes: Sizes) -> Result:
    result = Result(
        f"bulk insert ({sizes.bulk_rows:,} rows, {sizes.bulk_users:,} users), streak step,"
        " returning users",
        "ms",
        "<= 1.3x twin",
    )
    _logins(conn, sizes)
    days = max(1, sizes.bulk_rows // sizes.bulk_users)

    def run(side: str) -> Callable[[int], float]:
        def statement(rep: int) -> float:
            checkpoint(conn)
            # Rows over the users of repetition `rep`, on today and the days after it.
            return 1000 * timed(
                conn,
                f"INSERT INTO bench.logins{side} (user_id, at)"
                " SELECT bench.uid(%s + g %% %s), now() + (g / %s %% %s) * interval '1 day'"
                " FROM generate_series(0, %s - 1) AS g",
                (
                    BULK_USERS + rep * sizes.bulk_users,
                    sizes.bulk_users,
                    sizes.bulk_users,
                    days,
                    sizes.bulk_rows,
                ),
            )

        return statement

    mine, twin, ratio = alternate(sizes.bulk_reps, run(""), run("_twin"), result)
    return finish(result, mine, twin, higher_is_better=False, limit=1.3, ratio=ratio)


def bench_single_login(
    conn: psycopg.Connection[Any], target: Target, driver: Driver, sizes: Sizes
) -> Result:
    result = Result(
        "single-row insert (2 clients), streak step, a login now, returning users",
        "tps",
        ">= 0.85x twin",
    )
    _logins(conn, sizes)
    stmt = (
        f"INSERT INTO bench.logins{{}} (user_id, at) VALUES (bench.uid({SINGLE_USERS} + :u), now())"
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
