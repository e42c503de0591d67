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
from achievements_db.bench.measure import (
    Result,
    Sizes,
    alternate,
    checkpoint,
    compare,
    finish,
    rotate,
    timed,
)
from achievements_db.conninfo import Target
from achievements_db.errors import AchievementsError

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


def host_tables(conn: psycopg.Connection[Any]) -> None:
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


# What the package writes for a bulk insert of new users, mirrored by hand (workload 1, the
# set-based twin): the host rows, the log rows, the tallies, the levels reached, the badges whose
# thresholds are reached and one outbox row per badge and per level. Each twin copies its
# model's columns, defaults, checks, indexes, storage options (fillfactor) and foreign keys
# (user_levels -> levels), but none of its triggers.
SET_TWINS = (
    ("bench.plays_set", "bench.plays_tracked"),
    ("bench.log_set", "achievements.user_steps"),
    ("bench.tallies_set", "achievements.user_achievements"),
    ("bench.levels_set", "achievements.user_levels"),
    ("bench.badges_set", "achievements.user_badges"),
    ("bench.outbox_set", "achievements.notifications"),
)

# The hand-written import, one statement each, in one transaction: the host rows; the log rows
# (each user's count, from the host rows just written); the tallies (the users are new: tally =
# count); the levels whose requirement the count meets (the level has one requirement) and the
# badges whose threshold it reaches, both read from the package's catalog; one outbox row per
# badge and per level, with the titles and data the package writes. %(host_lo)s and %(log_lo)s
# are the largest ids before the import, read at its start.
SET_IMPORT_SQL = (
    "INSERT INTO bench.plays_set (user_id, song) SELECT bench.uid(%(first)s + g %% %(users)s),"
    " 'song ' || g FROM generate_series(1, %(rows)s) AS g",
    "INSERT INTO bench.log_set (user_id, name, count)"
    " SELECT p.user_id, 'bench_songs', count(*) FROM bench.plays_set AS p"
    " WHERE p.id > %(host_lo)s GROUP BY p.user_id",
    "INSERT INTO bench.tallies_set (user_id, name, count)"
    " SELECT l.user_id, l.name, l.count FROM bench.log_set AS l WHERE l.id > %(log_lo)s",
    "INSERT INTO bench.levels_set (user_id, level)"
    " SELECT l.user_id, r.level FROM bench.log_set AS l"
    " JOIN achievements.level_requirements AS r ON r.name = l.name AND l.count >= r.required_count"
    " WHERE l.id > %(log_lo)s",
    "INSERT INTO bench.badges_set (user_id, badge, notified)"
    " SELECT l.user_id, b.code, true FROM bench.log_set AS l"
    " JOIN achievements.badges AS b ON b.step = l.name AND l.count >= b.threshold"
    " WHERE l.id > %(log_lo)s",
    "INSERT INTO bench.outbox_set (user_id, kind, title, body, data)"
    " SELECT l.user_id, 'badge', 'Badge earned: ' || b.name, b.description,"
    " jsonb_build_object('badge', b.code, 'name', b.name, 'points', b.points,"
    " 'rarity', b.rarity, 'icon', b.icon, 'category', b.category)"
    " FROM bench.log_set AS l"
    " JOIN achievements.badges AS b ON b.step = l.name AND l.count >= b.threshold"
    " WHERE l.id > %(log_lo)s ORDER BY l.id, b.threshold",
    "INSERT INTO bench.outbox_set (user_id, kind, title, body, data)"
    " SELECT l.user_id, 'level', 'Level reached: ' || v.name, v.description,"
    " jsonb_build_object('level', v.name)"
    " FROM bench.log_set AS l"
    " JOIN achievements.level_requirements AS r ON r.name = l.name AND l.count >= r.required_count"
    " JOIN achievements.levels AS v ON v.name = r.level"
    " WHERE l.id > %(log_lo)s ORDER BY l.id",
)


def mirror(conn: psycopg.Connection[Any], twin: str, model: str) -> None:
    """Creates table `twin` like `model`: columns, defaults, checks, indexes (LIKE ... INCLUDING
    ALL), its storage options and its foreign keys; no trigger."""
    conn.execute(f"CREATE TABLE {twin} (LIKE {model} INCLUDING ALL)")
    row = conn.execute(
        "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = %s::regclass",
        (model,),
    ).fetchone()
    if row and row[0]:
        conn.execute(f"ALTER TABLE {twin} SET ({row[0]})")
    for (definition,) in conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        (model,),
    ).fetchall():
        conn.execute(f"ALTER TABLE {twin} ADD {definition}")


def set_twins(conn: psycopg.Connection[Any]) -> None:
    if not _has_table(conn, SET_TWINS[0][0]):
        for twin, model in SET_TWINS:
            mirror(conn, twin, model)


def set_based_import(conn: psycopg.Connection[Any], first: int, users: int, rows: int) -> None:
    """The set-based twin of an import of new users: `rows` host rows over users first ..
    first + users - 1, and every row the package would write for them, by SET_IMPORT_SQL in one
    transaction."""
    values = {"first": first, "users": users, "rows": rows}
    with conn.transaction():
        for key, table in (("host_lo", "plays_set"), ("log_lo", "log_set")):
            row = conn.execute(f"SELECT coalesce(max(id), 0) FROM bench.{table}").fetchone()
            values[key] = int(row[0]) if row else 0
        for statement in SET_IMPORT_SQL:
            conn.execute(statement, values)


def bench_bulk_host_insert(conn: psycopg.Connection[Any], sizes: Sizes) -> list[Result]:
    """Four rows: new users (every repetition brings fresh users, the same on every side, so
    each run creates 10,000 tallies and awards the level and two badges to every user: the work
    of an import of new users) against the hand-written set-based twin that writes the same
    rows (the target), and against the bare twin (a reference); the same with `SET LOCAL
    achievements.quiet = on`, the setting for an import that should not notify (a reference: it
    shows what the outbox rows and pg_notify cost); then returning users (the users of the first
    repetition again: their tallies exist and the next threshold, 100, is out of reach, so
    nothing new is awarded)."""
    size = f"{sizes.bulk_rows:,} rows, {sizes.bulk_users:,} users"
    fresh = Result(
        f"bulk host insert ({size}), new users, vs a set-based twin writing the same rows",
        "ms",
        "<= 1.3x twin",
    )
    bare = Result(f"bulk host insert ({size}), new users, vs the bare twin", "ms", "(reference)")
    quiet = Result(
        f"bulk host insert ({size}), new users, achievements.quiet = on", "ms", "(reference)"
    )
    returning = Result(f"bulk host insert ({size}), returning users", "ms", "<= 1.3x twin")
    host_tables(conn)
    set_twins(conn)
    first_user = 1_000_000_000

    def params(users_from: int | None, rep: int) -> dict[str, int]:
        batch = 0 if users_from is None else users_from + rep
        return {
            "first": first_user + batch * sizes.bulk_users,
            "users": sizes.bulk_users,
            "rows": sizes.bulk_rows,
        }

    def run(table: str, users_from: int | None, silent: bool) -> Callable[[int], float]:
        def one(rep: int) -> float:
            insert = (
                f"INSERT INTO bench.{table} (user_id, song) SELECT bench.uid(%(first)s + g %% "
                "%(users)s), 'song ' || g FROM generate_series(1, %(rows)s) AS g"
            )
            checkpoint(conn)
            if not silent:
                return 1000 * timed(conn, insert, params(users_from, rep))
            started = time.perf_counter()
            with conn.transaction():  # both sides alike: BEGIN, SET LOCAL, INSERT, COMMIT
                conn.execute("SET LOCAL achievements.quiet = on")
                conn.execute(insert, params(users_from, rep))
            return 1000 * (time.perf_counter() - started)

        return one

    def run_set(rep: int) -> float:
        checkpoint(conn)
        started = time.perf_counter()
        set_based_import(conn, **params(0, rep))
        return 1000 * (time.perf_counter() - started)

    # New users: the tracked insert, the bare twin and the set-based twin, the set-based twin
    # next to the tracked insert in every repetition.
    samples = rotate(
        sizes.bulk_reps,
        [
            ("bare", run("plays_twin", 0, False)),
            ("set", run_set),
            ("tracked", run("plays_tracked", 0, False)),
        ],
    )
    compare(fresh, samples, "tracked", "set", higher_is_better=False, limit=1.3)
    compare(bare, samples, "tracked", "bare", higher_is_better=False, limit=None)
    # Fresh users for each repetition of the quiet row; the first row's again for the last.
    for result, users_from, silent, limit in (
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
    return [fresh, bare, quiet, returning]


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


def slice_seconds(sizes: Sizes) -> int:
    """How long each alternating slice of a single-row workload runs."""
    return max(1, round(sizes.seconds / sizes.slices))


SLICE_ATTEMPTS = 4  # runs of one slice whose prepared rows ran out, at most


def throughput(
    target: Target,
    driver: Driver,
    sizes: Sizes,
    tracked: Load,
    twin: Load,
    result: Result,
    prepare: Callable[[bool], None] | None = None,
    done: Callable[[bool], bool] | None = None,
) -> Result:
    """Single-row throughput, 2 clients, tracked against twin in alternating slices. `prepare`
    (untimed) runs before each slice and `done` after it, given whether the slice is the
    tracked side's; a slice `done` finds void (it ran out of what `prepare` made) is run again,
    up to SLICE_ATTEMPTS times."""
    seconds = slice_seconds(sizes)

    def run(load: Load) -> Callable[[int], float]:
        def one(rep: int) -> float:
            for _ in range(SLICE_ATTEMPTS):
                if prepare is not None:
                    prepare(load is tracked)
                tps = driver.run(target, load, THROUGHPUT_CLIENTS, seconds=seconds).tps
                if done is None or done(load is tracked):
                    return tps
            raise AchievementsError(
                f"{result.workload}: {SLICE_ATTEMPTS} slices in a row ran out of prepared rows"
            )

        return one

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
    host_tables(conn)
    users = sizes.bulk_users
    for table in ("plays_tracked", "plays_twin"):
        conn.execute(
            f"INSERT INTO bench.{table} (user_id, song)"
            " SELECT bench.uid(1 + g %% %s), 'warm-up' FROM generate_series(0, %s) AS g",
            (users, 10 * users - 1),
        )
    stmt = "INSERT INTO bench.{} (user_id, song) VALUES (bench.uid({}), 'single')"
    throughput(
        target,
        driver,
        sizes,
        Load(stmt.format("plays_tracked", ":u"), users),
        Load(stmt.format("plays_twin", ":u"), users),
        returning,
    )
    new_user = f"{NEW_USERS_FROM} + :u"
    throughput(
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
    return throughput(
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
    """Four loads, 4 clients each, the same number of calls, in one rotation per repetition:
    `record_step` of one user and step (hot), a bare `INSERT ... ON CONFLICT DO UPDATE` of one
    counter row (its twin: the same contention on one row, whose lock every transaction holds
    through its commit's WAL flush), and each of them spread over 100,000 users or rows that
    exist already (references: what the contention costs each). The target row is hot against
    the bare hot upsert; the hot user's final tally must equal the calls."""
    speed = Result(
        f"hot user: {HOT_CLIENTS} clients, one tally vs a bare one-row upsert, same contention",
        "tps",
        ">= 0.95x bare upsert",
    )
    exact = Result("hot user: final tally vs calls", "steps", "= calls, no failures")
    spread_ref = Result(
        f"reference: hot user, {HOT_CLIENTS} clients, one tally vs the same calls spread",
        "tps",
        "(reference)",
    )
    floor = Result(
        f"reference: bare upsert of one row, {HOT_CLIENTS} clients, vs spread", "tps", "(reference)"
    )
    # The spread loads run over 100,000 users (scaled) who have a tally already, and 100,000
    # counter rows, so that each spread side differs from its hot side in contention only.
    spread_users = 10 * sizes.bulk_users
    _warm_tallies(conn, "bench_spread", spread_users)
    conn.execute("CREATE TABLE IF NOT EXISTS bench.counter (id int PRIMARY KEY, n int NOT NULL)")
    conn.execute(
        "INSERT INTO bench.counter (id, n) SELECT g, 0 FROM generate_series(0, %s) AS g"
        " ON CONFLICT DO NOTHING",
        (spread_users,),
    )
    hot = Load(f"SELECT achievements.record_step(bench.uid({HOT_USER}), 'bench_hot')", 1)
    spread = Load("SELECT achievements.record_step(bench.uid(:u), 'bench_spread')", spread_users)
    upsert = (
        "INSERT INTO bench.counter AS c (id, n) VALUES ({}, 1)"
        " ON CONFLICT (id) DO UPDATE SET n = c.n + 1"
    )
    bare_hot, bare_spread = Load(upsert.format(0), 1), Load(upsert.format(":u"), spread_users)
    calls = 0
    failed = 0

    def run_hot(rep: int) -> float:
        nonlocal calls, failed
        outcome = driver.run(target, hot, HOT_CLIENTS, calls=sizes.hot_calls)
        calls += HOT_CLIENTS * sizes.hot_calls
        failed += outcome.failed + HOT_CLIENTS * sizes.hot_calls - outcome.transactions
        return outcome.tps

    def run(load: Load) -> Callable[[int], float]:
        return lambda rep: driver.run(target, load, HOT_CLIENTS, calls=sizes.hot_calls).tps

    # Even repetitions: bare hot, hot, spread, bare spread; odd ones the reverse. The two hot
    # sides (the target's pair) run back to back every time.
    samples = rotate(
        sizes.hot_reps,
        [
            ("bare hot", run(bare_hot)),
            ("hot", run_hot),
            ("spread", run(spread)),
            ("bare spread", run(bare_spread)),
        ],
    )
    compare(speed, samples, "hot", "bare hot", higher_is_better=True, limit=0.95)
    compare(spread_ref, samples, "hot", "spread", higher_is_better=True, limit=None)
    compare(floor, samples, "bare hot", "bare spread", higher_is_better=True, limit=None)
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
    return [speed, exact, spread_ref, floor]
