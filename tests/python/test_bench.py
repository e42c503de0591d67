"""`achievements-db bench` at a tiny scale: every workload row is there with numbers, the hot
user's tally is exact, and the scratch databases are gone afterwards. No time is asserted."""

from __future__ import annotations

import json

import psycopg
import pytest

from achievements_db import bench
from achievements_db.bench import expressions, streaks, workloads
from achievements_db.bench.scratch import setup
from achievements_db.cli import main
from achievements_db.errors import AchievementsError
from support.databases import conninfo, target

TINY = 0.001
WORKLOADS = [
    "bulk host insert",  # new users, vs the set-based twin
    "bulk host insert",  # new users, vs the bare twin
    "bulk host insert",  # quiet
    "bulk host insert",  # returning users
    "bulk host insert",  # the table tracked for three steps
    "bulk insert (",  # count with a condition
    "bulk update (",  # transition
    "bulk insert (",  # distinct step
    "bulk insert (",  # streak step
    "bulk log insert",
    "single-row tracked host insert",
    "single-row tracked host insert",
    "single-row insert (2 clients), count with a condition",
    "single-row update (2 clients), transition",
    "single-row insert (2 clients), distinct step",
    "single-row insert (2 clients), streak step",
    "single-row record_step vs twin insert",
    "hot user: 4 clients, one tally vs a bare one-row upsert",
    "hot user: final tally vs calls",
    "reference: hot user, 4 clients, one tally vs the same calls spread",
    "reference: bare upsert of one row",
    "backfill_badge, new badge",
    "leaderboard(10) at",
    "user_rank(user) at",
    "steps_required(level, user) at",
    "user_achieved(level, user) at",
    "badge_progress(user), 100 badges at",
    "streaks(user) at",
    "streak_leaderboard(step) by current streak at",
    "streak_leaderboard(step) by longest streak at",
    "community_feed(20) at",
    "community_feed(20, rarest_first) at",
    "community_feed(20, featured_only) at",
    "badge_leaderboard(10) at",
    "step_leaderboard(step, week) at",
    "step_leaderboard(step, all) at",
    "notifications_page(user) at",
    "notifications_page(user, unread_only) at",
    "unread_count(user) at",
    "level_progress(user) at",
]


def _scratch_databases() -> list[str]:
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'achievements_bench_%'"
            )
        ]


def test_bench_cli_prints_every_workload_with_numbers(pg_cluster, tmp_path, capsys):
    report = tmp_path / "bench.json"
    code = main(
        [
            "--database-url",
            conninfo("postgres"),
            "bench",
            "--scale",
            str(TINY),
            "--json",
            str(report),
        ]
    )
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err[-3000:]
    assert "fsync=" in out and "synchronous_commit=" in out
    data = json.loads(report.read_text())
    rows = data["results"]
    assert len(rows) == len(WORKLOADS)
    for row, workload in zip(rows, WORKLOADS, strict=True):
        assert row["workload"].startswith(workload)
        assert row["workload"] in out
        assert isinstance(row["figure"], float) and row["figure"] > 0, row
        assert isinstance(row["twin"], float) and row["twin"] > 0, row
        assert isinstance(row["ratio"], float), row
        assert isinstance(row["passed"], bool) or row["target"] == "(reference)", row
    hot = rows[WORKLOADS.index("hot user: final tally vs calls")]
    calls = 4 * data["sizes"]["hot_calls"] * data["sizes"]["hot_reps"]
    assert hot["figure"] == hot["twin"] == calls
    assert hot["passed"] is True
    assert _scratch_databases() == []


def test_hot_user_is_exact_with_the_threaded_driver(db, db_name):
    setup(db)
    sizes = bench.Sizes.scaled(TINY)
    speed, exact, _spread, _floor = workloads.bench_hot_user(
        db, target(db_name), bench.ThreadDriver(), sizes
    )
    assert speed.figure and speed.figure > 0 and speed.twin and speed.twin > 0
    calls = 4 * sizes.hot_calls * sizes.hot_reps
    assert exact.figure == exact.twin == calls
    assert (
        db.execute(
            "SELECT sum(count) FROM achievements.user_steps WHERE name = 'bench_hot'"
        ).fetchone()[0]
        == calls
    )


def _rows(conn, sql):
    return sorted(tuple(str(v) for v in row) for row in conn.execute(sql).fetchall())


def test_set_based_twin_writes_the_rows_the_package_writes(db):
    """The twin of the new-user import writes what the tracked insert makes the package write:
    the log rows, tallies, levels, badges and outbox rows, row for row."""
    setup(db)
    workloads.host_tables(db)
    workloads.set_twins(db)
    first, users, rows = 7_000_000_000, 12, 150
    db.execute(
        "INSERT INTO bench.plays_tracked (user_id, song) SELECT bench.uid(%s + g %% %s),"
        " 'song ' || g FROM generate_series(1, %s) AS g",
        (first, users, rows),
    )
    workloads.set_based_import(db, first, users, rows)
    assert _rows(db, "SELECT user_id, song FROM bench.plays_tracked") == _rows(
        db, "SELECT user_id, song FROM bench.plays_set"
    )
    pairs = [
        (
            "SELECT user_id, name, count FROM achievements_private.recorded_steps WHERE name = 'bench_songs'",
            "SELECT user_id, name, count FROM bench.log_set",
        ),
        (
            "SELECT user_id, name, count FROM achievements.user_achievements WHERE name = 'bench_songs'",
            "SELECT user_id, name, count FROM bench.tallies_set",
        ),
        (
            "SELECT user_id, level FROM achievements.user_levels",
            "SELECT user_id, level FROM bench.levels_set",
        ),
        (
            "SELECT user_id, badge, notified FROM achievements.user_badges",
            "SELECT user_id, badge, notified FROM bench.badges_set",
        ),
        (
            "SELECT user_id, kind, title, body, data FROM achievements.notifications",
            "SELECT user_id, kind, title, body, data FROM bench.outbox_set",
        ),
    ]
    for package, twin in pairs:
        written = _rows(db, package)
        assert written, package
        assert written == _rows(db, twin), twin
    # 12 or 13 plays each: every user reaches the level and the badges at 1 and 10.
    assert len(_rows(db, "SELECT * FROM bench.outbox_set")) == 3 * users


@pytest.mark.committed
def test_expression_workloads_count_what_they_measure(db, db_name):
    """The condition, transition and distinct workloads at a tiny scale: every row has numbers,
    and every tracked tally equals its table (so the tracked side did the work it is timed
    for: the single-row updates moved rows from wip to released, each counted once)."""
    setup(db)
    sizes = bench.Sizes.scaled(TINY)
    driver = bench.ThreadDriver()
    results = [
        expressions.bench_bulk_condition(db, sizes),
        expressions.bench_bulk_transition(db, sizes),
        expressions.bench_bulk_distinct(db, sizes),
        expressions.bench_single_condition(db, target(db_name), driver, sizes),
        expressions.bench_single_transition(db, target(db_name), driver, sizes),
        expressions.bench_single_distinct(db, target(db_name), driver, sizes),
    ]
    for r in results:
        assert r.figure and r.figure > 0 and r.twin and r.twin > 0 and isinstance(r.passed, bool), r
    for step, table, count in (
        ("bench_released", "songs_cond", "count(*) FILTER (WHERE status = 'released')"),
        ("bench_completed", "songs_prev", "count(*) FILTER (WHERE status = 'released')"),
        ("bench_artists", "songs_distinct", "count(DISTINCT lower(artist))"),
    ):
        wrong = db.execute(
            f"SELECT count(*) FROM (SELECT user_id, {count} AS c FROM bench.{table} GROUP BY user_id) AS r"
            " FULL JOIN (SELECT user_id::uuid, count AS c FROM achievements.user_achievements"
            "            WHERE name = %s) AS t USING (user_id)"
            " WHERE coalesce(r.c, 0) <> coalesce(t.c, 0)",
            (step,),
        ).fetchone()[0]
        assert wrong == 0, step
    # Warm-up (one per user), bulk (100 rows) and the single-row calls all became released.
    moved = db.execute(
        "SELECT count(*) FROM bench.songs_prev WHERE status = 'released'"
    ).fetchone()[0]
    warm = sizes.bulk_users * (1 + sizes.bulk_reps)
    assert moved > warm + sizes.bulk_rows


def test_streak_workloads_count_what_they_measure(db, db_name):
    """The streak workloads at a tiny scale: both rows have numbers, and every user's streak
    equals its logins (the bulk rows continued each user's run of earlier days)."""
    setup(db)
    sizes = bench.Sizes.scaled(TINY)
    results = [
        streaks.bench_bulk_logins(db, sizes),
        streaks.bench_single_login(db, target(db_name), bench.ThreadDriver(), sizes),
    ]
    for r in results:
        assert r.figure and r.figure > 0 and r.twin and r.twin > 0 and isinstance(r.passed, bool), r
    wrong = db.execute(
        "SELECT count(*) FROM (SELECT user_id, max(n) AS c FROM ("
        "         SELECT user_id, count(*) AS n FROM ("
        "             SELECT user_id, d, d - row_number() OVER (PARTITION BY user_id ORDER BY d)::int AS i"
        "               FROM (SELECT DISTINCT user_id, (at AT TIME ZONE 'UTC')::date AS d FROM bench.logins) AS x) AS y"
        "          GROUP BY user_id, i) AS z GROUP BY user_id) AS r"
        " FULL JOIN (SELECT user_id::uuid, count AS c FROM achievements.user_achievements"
        "            WHERE name = 'bench_daily') AS t USING (user_id)"
        " WHERE coalesce(r.c, 0) <> coalesce(t.c, 0)"
    ).fetchone()[0]
    assert wrong == 0
    assert (
        db.execute(
            "SELECT max(count) FROM achievements.user_achievements WHERE name = 'bench_daily'"
        ).fetchone()[0]
        >= streaks.WARM_DAYS + 1
    )


def test_scratch_database_is_dropped_when_a_workload_fails(pg_cluster, monkeypatch):
    def broken(conn, sizes):
        conn.execute("SELECT 1/0")

    monkeypatch.setattr(workloads, "bench_bulk_log_insert", broken)
    with pytest.raises(psycopg.errors.DivisionByZero):
        bench.run(target("postgres"), scale=TINY, log=lambda msg: None)
    assert _scratch_databases() == []


def test_scale_must_be_positive():
    with pytest.raises(AchievementsError, match="--scale must be a positive number"):
        bench.Sizes.scaled(0)
