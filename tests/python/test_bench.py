"""`achievements-db bench` at a tiny scale: every workload row is there with numbers, the hot
user's tally is exact, and the scratch databases are gone afterwards. No time is asserted."""

from __future__ import annotations

import json

import psycopg
import pytest

from achievements_db import bench
from achievements_db.bench import workloads
from achievements_db.bench.scratch import setup
from achievements_db.cli import main
from achievements_db.errors import AchievementsError
from support.databases import conninfo, target

TINY = 0.001
WORKLOADS = [
    "bulk host insert",
    "bulk host insert",
    "bulk host insert",
    "bulk host insert",  # the table tracked for three steps
    "bulk log insert",
    "single-row tracked host insert",
    "single-row tracked host insert",
    "single-row record_step vs twin insert",
    "hot user: 4 clients, one tally vs spread",
    "hot user: final tally vs calls",
    "reference: bare upsert of one row",
    "backfill_badge, new badge",
    "leaderboard(10) at",
    "user_rank(user) at",
    "steps_required(level, user) at",
    "user_achieved(level, user) at",
    "badge_progress(user), 100 badges at",
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
    out = capsys.readouterr().out
    assert code == 0
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
    speed, exact, _floor = workloads.bench_hot_user(
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
