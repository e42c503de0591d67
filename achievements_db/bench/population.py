"""Reads at 1,000,000 and at 10,000 users with tallies, built set-based through the package's own
path (INSERT ... SELECT generate_series into achievements.user_steps): backfill_badge of a new
badge, leaderboard(10), user_rank, steps_required, user_achieved, badge_progress (100 badges),
and the reads of issue 16: the community feed (newest, rarest and featured first), the badge
leaderboard, a step's leaderboard of the week, a user's notifications page and unread count,
level_progress."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from achievements_db.bench.measure import Result, Sizes, checkpoint
from achievements_db.bench.scratch import scratch_database, setup
from achievements_db.conninfo import Target
from achievements_db.database import connect

STEPS = 10  # each user has a tally of one of bench_s0..bench_s9, and one of bench_plays
TIERS = 10  # badges per step: STEPS * TIERS = 100 badges


def _build_population(
    conn: psycopg.Connection[Any], users: int, log: Callable[[str], None]
) -> None:
    """Tallies for `users` users, through the package's own path: one INSERT ... SELECT
    generate_series into achievements.user_steps per step family (the tally trigger folds them);
    then a level over four steps and 100 threshold badges, backfilled."""
    started = time.perf_counter()
    conn.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count)"
        " SELECT bench.uid(g), 'bench_s' || (g %% %s), 1 + (g * 7919) %% 1000"
        "   FROM generate_series(1::bigint, %s) AS g",
        (STEPS, users),
    )
    conn.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count)"
        " SELECT bench.uid(g), 'bench_plays', 1 + (g * 104729) %% 1000"
        "   FROM generate_series(1::bigint, %s) AS g",
        (users,),
    )
    log(
        f"  {users:,} users: {2 * users:,} tallies via user_steps in "
        f"{time.perf_counter() - started:.1f} s"
    )
    conn.execute("INSERT INTO achievements.levels (name) VALUES ('bench_master')")
    conn.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count, priority)"
        " VALUES ('bench_master', 'bench_plays', 900, 1), ('bench_master', 'bench_s0', 500, 2),"
        "        ('bench_master', 'bench_s1', 500, 3), ('bench_master', 'bench_s2', 500, 4)"
    )
    started = time.perf_counter()
    # Tiers at 820, 840, ..., 1000 on each step: about one user in nine holds badges.
    conn.execute(
        "INSERT INTO achievements.badges (code, name, step, threshold, points)"
        " SELECT format('bench_s%%s_t%%s', s, t), format('Step %%s tier %%s', s, t),"
        "        'bench_s' || s, 800 + 20 * t, 10 * t"
        "   FROM generate_series(0, %s - 1) AS s, generate_series(1, %s) AS t",
        (STEPS, TIERS),
    )
    codes = [
        r[0]
        for r in conn.execute(
            "SELECT code FROM achievements.badges WHERE code LIKE 'bench_s%' ORDER BY code"
        )
    ]
    for code in codes:
        conn.execute("SELECT achievements.backfill_badge(%s)", (code,))
    log(f"  {len(codes)} badges backfilled in {time.perf_counter() - started:.1f} s")
    _build_streaks(conn, users, log)
    started = time.perf_counter()
    # Issues 16 and 18: a level of points, leaderboards of the week and of all time (filled from
    # the log), two notifications per user (one read; written without pg_notify), 100 featured
    # awards.
    conn.execute("INSERT INTO achievements.levels (name, min_points) VALUES ('bench_gold', 300)")
    conn.execute(
        "INSERT INTO achievements.step_leaderboards (step, period)"
        " VALUES ('bench_plays', 'week'), ('bench_plays', 'all')"
    )
    conn.execute("ALTER TABLE achievements.notifications DISABLE TRIGGER _100_publish")
    conn.execute(
        "INSERT INTO achievements.notifications (user_id, kind, title, read_at)"
        " SELECT bench.uid(g), 'bench', 'Notification ' || n, CASE WHEN n = 1 THEN now() END"
        "   FROM generate_series(1::bigint, %s) AS g, generate_series(1, 2) AS n",
        (users,),
    )
    conn.execute("ALTER TABLE achievements.notifications ENABLE TRIGGER _100_publish")
    conn.execute(
        "UPDATE achievements.user_badges SET featured = true"
        " WHERE (user_id, badge) IN (SELECT user_id, badge FROM achievements.user_badges"
        "                             ORDER BY user_id, badge LIMIT 100)"
    )
    took = time.perf_counter() - started
    log(f"  leaderboard of the week, notifications, featured in {took:.1f} s")
    conn.execute("VACUUM ANALYZE")


STREAK_CHUNK = 100_000  # users per statement of logins


def _build_streaks(conn: psycopg.Connection[Any], users: int, log: Callable[[str], None]) -> None:
    """A streak step of every user, through the package's own path: a tracked table of visits
    into which each user's visits of the last 1 to 5 days are inserted (runs alive today)."""
    started = time.perf_counter()
    conn.execute(
        "CREATE TABLE bench.visits (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " user_id uuid NOT NULL, at timestamptz NOT NULL)"
    )
    conn.execute("CREATE INDEX visits_user_idx ON bench.visits (user_id)")
    conn.execute(
        "SELECT achievements.track('bench.visits', 'bench_visits', mode => 'streak', at => 'at',"
        " user_column => 'user_id')"
    )
    for first in range(1, users + 1, STREAK_CHUNK):
        conn.execute(
            "INSERT INTO bench.visits (user_id, at)"
            " SELECT bench.uid(g), now() - k * interval '1 day'"
            "   FROM generate_series(%s::bigint, %s) AS g, generate_series(0, 4) AS k"
            "  WHERE k <= (g * 7919) %% 5",
            (first, min(users, first + STREAK_CHUNK - 1)),
        )
    log(f"  {users:,} users: streaks via bench.visits in {time.perf_counter() - started:.1f} s")


def _time_calls(
    conn: psycopg.Connection[Any], sql: str, args: Callable[[], Sequence[object]], calls: int
) -> list[float]:
    """Milliseconds of each of `calls` calls, measured at the client (prepared statement)."""
    times = []
    for _ in range(calls):
        a = args()
        started = time.perf_counter()
        conn.execute(sql, a, prepare=True).fetchall()
        times.append(1000 * (time.perf_counter() - started))
    return times


READS: list[tuple[str, str, float]] = [
    # (label, sql with %s for a random user, ms limit)
    ("leaderboard(10)", "SELECT * FROM achievements.leaderboard(10)", 20.0),
    ("user_rank(user)", "SELECT * FROM achievements.user_rank(bench.uid(%s))", 20.0),
    (
        "steps_required(level, user)",
        "SELECT * FROM achievements.steps_required('bench_master', bench.uid(%s))",
        1.0,
    ),
    (
        "user_achieved(level, user)",
        "SELECT achievements.user_achieved('bench_master', bench.uid(%s))",
        1.0,
    ),
    (
        "badge_progress(user), 100 badges",
        "SELECT * FROM achievements.badge_progress(bench.uid(%s))",
        5.0,
    ),
    ("streaks(user)", "SELECT * FROM achievements.streaks(bench.uid(%s))", 20.0),
    (
        "streak_leaderboard(step) by current streak",
        "SELECT * FROM achievements.streak_leaderboard('bench_visits')",
        20.0,
    ),
    (
        "streak_leaderboard(step) by longest streak",
        "SELECT * FROM achievements.streak_leaderboard('bench_visits', 'longest')",
        20.0,
    ),
    # Issue 16.
    ("community_feed(20)", "SELECT * FROM achievements.community_feed(20)", 20.0),
    (
        "community_feed(20, rarest_first)",
        "SELECT * FROM achievements.community_feed(20, rarest_first => true)",
        20.0,
    ),
    (
        "community_feed(20, featured_only)",
        "SELECT * FROM achievements.community_feed(20, featured_only => true)",
        20.0,
    ),
    ("badge_leaderboard(10)", "SELECT * FROM achievements.badge_leaderboard(10)", 20.0),
    (
        "step_leaderboard(step, week)",
        "SELECT * FROM achievements.step_leaderboard('bench_plays', 'week')",
        20.0,
    ),
    (
        "step_leaderboard(step, all)",
        "SELECT * FROM achievements.step_leaderboard('bench_plays', 'all')",
        20.0,
    ),
    (
        "notifications_page(user)",
        "SELECT * FROM achievements.notifications_page(bench.uid(%s))",
        20.0,
    ),
    (
        "notifications_page(user, unread_only)",
        "SELECT * FROM achievements.notifications_page(bench.uid(%s), unread_only => true)",
        20.0,
    ),
    ("unread_count(user)", "SELECT achievements.unread_count(bench.uid(%s))", 20.0),
    (
        "level_progress(user)",
        "SELECT * FROM achievements.level_progress(bench.uid(%s))",
        5.0,
    ),
]


def _populate(conn: psycopg.Connection[Any], users: int, log: Callable[[str], None]) -> float:
    """Builds `users` users; returns the ms backfill_badge of a new badge took."""
    setup(conn)
    _build_population(conn, users, log)
    # A new badge half of the users qualify for (bench_plays is uniform in 1..1000).
    conn.execute(
        "INSERT INTO achievements.badges (code, name, step, threshold, points)"
        " VALUES ('bench_new', 'Half way', 'bench_plays', 500, 50)"
    )
    checkpoint(conn)
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
    with (
        scratch_database(server, "small", log) as small_db,
        scratch_database(server, "big", log) as big_db,
        connect(small_db) as small,
        connect(big_db) as big,
    ):
        log(f"building {small_label}")
        backfill_small = _populate(small, sizes.small_users, log)
        log(f"building {big_label}")
        backfill_big = _populate(big, sizes.big_users, log)

        results: list[Result] = []
        backfill = Result(
            f"backfill_badge, new badge, {big_label} (twin: {small_label})", "ms", "<= 10 s"
        )
        backfill.figure, backfill.twin = backfill_big, backfill_small
        backfill.ratio = backfill_big / backfill_small if backfill_small else None
        backfill.passed = backfill_big <= 10_000
        results.append(backfill)

        log("timing reads")
        per_round = max(1, sizes.read_calls // READ_ROUNDS)
        for label, sql, limit in READS:
            row = Result(
                f"{label} at {big_label} (twin: {small_label})", "ms", f"<= {limit:g} ms, <= 2x"
            )
            times: dict[str, list[float]] = {"big": [], "small": []}
            sides = [("small", small, sizes.small_users), ("big", big, sizes.big_users)]
            rnd = random.Random(len(label))
            for n in range(READ_ROUNDS + 1):  # round 0 warms up (plans, caches) and is dropped
                for side, conn, users in sides if n % 2 == 0 else sides[::-1]:

                    def args(
                        users: int = users, rnd: random.Random = rnd, takes_user: bool = "%s" in sql
                    ) -> tuple[int, ...]:
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
