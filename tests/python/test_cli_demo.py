"""achievements-db demo trackflow: deterministic for a seed, its report is what the demo
database holds, a second run starts from scratch, and bad arguments are usage errors."""

import psycopg
import pytest

from achievements_db.cli import main
from achievements_db.demo import DATABASE
from support.databases import conninfo, drop_databases


@pytest.fixture
def server(empty_database):
    yield conninfo(empty_database())
    drop_databases([DATABASE])


def test_the_report_is_the_demo_database_and_a_rerun_starts_over(server, capsys):
    args = ["--database-url", server, "demo", "trackflow", "--users", "20", "--seed", "7"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert main(args) == 0
    second = capsys.readouterr()
    assert first.out == second.out  # same seed, same month, same report: nothing carried over
    assert "the demo database achievements_demo_trackflow stays" in second.err
    with psycopg.connect(conninfo(DATABASE)) as conn:
        top = conn.execute(
            "SELECT rank, user_id, points, badges FROM achievements.leaderboard(5)"
        ).fetchall()
        rarest = conn.execute(
            "SELECT holders FROM achievements.badge_stats WHERE holders > 0 ORDER BY share, code LIMIT 1"
        ).fetchone()
    lines = second.out.splitlines()
    board = lines[lines.index("Leaderboard by points") + 2 :][: len(top)]
    assert [line.split()[:4] for line in board] == [
        [str(rank), f"user{user.int:04d}", f"{points:,}", str(badges)]
        for rank, user, points, badges in top
    ]
    assert len(top) == 5 and rarest is not None
    leader = f"user{top[0][1].int:04d}"
    assert f"{leader}'s progress: the next badge of each family" in second.out


@pytest.mark.parametrize("users", ["5", "abc", "9999"])
def test_a_bad_number_of_users_is_a_usage_error(users, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["demo", "trackflow", "--users", users])
    assert exit.value.code == 2
    assert "must be a whole number from 10 to 5000" in capsys.readouterr().err


def test_an_unknown_example_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["demo", "shop"])
    assert exit.value.code == 2
    assert "invalid choice: 'shop'" in capsys.readouterr().err
