"""record, progress and leaderboard through the installed command: a badge earned from the
shell, a level badge's real progress, JSON, and bars and colour on a terminal only."""

from __future__ import annotations

import json
import textwrap
import uuid

import pytest

from support.cli import cli, cli_on_terminal, url

CATALOG = textwrap.dedent("""\
    [levels.fan]
    requirements = { song = 50, like = 2 }

    [badges.first_song]
    name = "First song"
    step = "song"
    threshold = 1
    points = 10

    [badges.fan]
    name = "Fan"
    level = "fan"
    points = 5
    """)


@pytest.fixture
def database(db_name, tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    assert cli("catalog", "apply", str(catalog), database=url(db_name)).returncode == 0
    return url(db_name)


def test_record_earns_an_automatic_badge_from_the_shell(database):
    user = str(uuid.uuid4())
    first = cli("record", user, "song", database=database)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["song: 1", "Badge earned: First song"]
    more = cli("record", user, "song", "9", database=database)
    assert more.stdout.splitlines() == ["song: 10"]
    refused = cli("record", user, "song", "0", database=database)
    assert refused.returncode == 1 and "(SQLSTATE AD002)" in refused.stderr


def test_progress_shows_a_level_badge_as_its_levels_requirements(database):
    user = str(uuid.uuid4())
    cli("record", user, "song", "10", database=database)
    result = cli("progress", user, database=database)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["badge", "name", "progress", "earned"]
    assert lines[1].split()[:5] == ["first_song", "First", "song", "1/1", "song"]
    assert lines[2].split() == ["fan", "Fan", "0/2", "like,", "10/50", "song"]
    assert lines[-1] == "1 of 2 badge(s) earned"

    rows = json.loads(cli("progress", user, "--json", database=database).stdout)
    fan = next(r for r in rows if r["code"] == "fan")
    assert fan["earned"] is False and fan["earned_at"] is None
    assert fan["steps"] == [
        {"step": "like", "current": 0, "target": 2},
        {"step": "song", "current": 10, "target": 50},
    ]
    first = next(r for r in rows if r["code"] == "first_song")
    assert first["earned"] is True and first["steps"] == [
        {"step": "song", "current": 1, "target": 1}
    ]


def test_bars_and_colour_only_on_a_terminal(database):
    user = str(uuid.uuid4())
    cli("record", user, "song", "25", database=database)
    piped = cli("progress", user, database=database).stdout
    assert "\033[" not in piped and "█" not in piped and "\r" not in piped
    shown = cli_on_terminal("progress", user, database=database)
    assert "\033[32m" in shown and "█" in shown
    assert "25/50 song" in shown
    plain = cli_on_terminal("progress", user, database=database, env={"NO_COLOR": "1"})
    assert "\033[" not in plain and "█" in plain


def test_leaderboard_json(database):
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    cli("record", alice, "song", database=database)
    cli("award", bob, "fan", database=database)
    result = cli("leaderboard", "--json", database=database)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"rank": 1, "user_id": alice, "points": 10, "badges": 1},
        {"rank": 2, "user_id": bob, "points": 5, "badges": 1},
    ]
    empty = cli("leaderboard", "--json", "--since", "2999-01-01", database=database)
    assert json.loads(empty.stdout) == []


def test_listen_after_an_id_prints_the_outbox_from_there(database):
    users = [str(uuid.uuid4()) for _ in range(2)]
    for user in users:
        cli("record", user, "song", database=database)
    result = cli("listen", "--after", "0", "--timeout", "1", database=database)
    assert result.returncode == 0, result.stderr
    payloads = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(p["user_id"], p["kind"], p["badge"]) for p in payloads] == [
        (u, "badge", "first_song") for u in users
    ]
    assert "listening on channel 'achievements'" in result.stderr


def test_a_long_catalog_apply_shows_what_runs_on_a_terminal_only(db_name, tmp_path):
    catalog = tmp_path / "big.toml"
    catalog.write_text(
        "".join(
            f'[badges.b{i}]\nname = "Badge {i}"\nstep = "s{i % 50}"\nthreshold = {i + 1}\n'
            for i in range(3000)
        )
    )
    shown = cli_on_terminal(
        "catalog", "apply", str(catalog), database=url(db_name), stderr_too=True
    )
    assert "applying " + str(catalog) + " (one transaction)" in shown
    assert "\r\033[K" in shown  # the activity line is drawn, then erased
    assert shown.rstrip().endswith("3000 change(s) applied")
    again = cli("catalog", "apply", str(catalog), database=url(db_name))
    assert again.stdout == "no changes: the database already matches the catalog\n"
    assert "applying" not in again.stderr and "\r" not in again.stderr
