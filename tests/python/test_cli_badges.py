"""The badge commands of the CLI against a real database: catalog apply (idempotent, dry run,
refusing a bad file without changes), award, progress, leaderboard, listen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from achievements_db.cli import main
from support.databases import conninfo

CATALOG = textwrap.dedent("""\
    [levels.fan]
    description = "Listens a lot"
    requirements = { song = 3 }

    [badges.first_song]
    name = "First song"
    step = "song"
    threshold = 1
    points = 10
    icon = "🎵"

    [badges.ten_songs]
    name = "Ten songs"
    step = "song"
    threshold = 10
    points = 50
    rarity = "rare"

    [badges.fan]
    name = "Fan"
    level = "fan"
    points = 5

    [badges.winter]
    name = "Winter 2999"
    step = "song"
    threshold = 2
    active_from = 2999-12-01T00:00:00Z
    active_until = 3000-03-01
    """)


@pytest.fixture
def url(db_name):
    return conninfo(db_name)


def run(capsys, url, *args):
    code = main(["--database-url", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return path


def test_catalog_apply_is_idempotent_and_prints_changes(capsys, url, tmp_path, db):
    path = write(tmp_path, CATALOG)
    code, out, _ = run(capsys, url, "catalog", "apply", str(path), "--dry-run")
    assert code == 0
    assert out.splitlines()[0] == "would create level fan"
    assert out.splitlines()[-1] == "dry run: 6 change(s) not applied"
    assert db.execute("SELECT count(*) FROM achievements.badges").fetchone()[0] == 0

    code, out, _ = run(capsys, url, "catalog", "apply", str(path))
    assert code == 0
    assert out.splitlines() == [
        "create level fan",
        "create requirement fan/song (required_count 3, priority 100)",
        "create badge fan (level fan, 5 points)",
        "create badge first_song (step song >= 1, 10 points)",
        "create badge ten_songs (step song >= 10, 50 points)",
        "create badge winter (step song >= 2, 0 points)",
        "6 change(s) applied",
    ]
    assert (
        db.execute(
            "SELECT active_from, active_until FROM achievements.badges WHERE code = 'winter'"
        ).fetchone()
        == db.execute(
            "SELECT '2999-12-01T00:00:00Z'::timestamptz, '3000-03-01'::timestamptz"
        ).fetchone()
    )

    code, out, _ = run(capsys, url, "catalog", "apply", str(path))
    assert (code, out) == (0, "no changes: the database already matches the catalog\n")

    write(tmp_path, CATALOG.replace("points = 50", "points = 60"))
    code, out, _ = run(capsys, url, "catalog", "apply", str(path))
    assert out.splitlines() == ["update badge ten_songs (points: 50 -> 60)", "1 change(s) applied"]


def test_catalog_apply_tracks_steps_and_warns_of_a_misspelt_one(capsys, url, tmp_path, db):
    db.execute("CREATE TABLE plays (id int PRIMARY KEY, listener uuid, song text)")
    path = write(
        tmp_path,
        CATALOG
        + textwrap.dedent("""
        [badges.typo]
        name = "Typo"
        step = "snog"
        threshold = 1

        [steps.song]
        table = "plays"
        user_column = "listener"
        column = "song"
        """),
    )
    code, out, err = run(capsys, url, "catalog", "apply", str(path), "--dry-run")
    assert code == 0
    assert "would create step song (table public.plays, mode count, column song)" in out
    assert out.splitlines()[-1] == "dry run: 8 change(s) not applied"
    assert (
        "warning: step snog: nothing tracks or records this step: check its spelling, track it"
        " ([steps]), or record it with record_step()"
    ) in err.splitlines()
    code, out, err = run(capsys, url, "catalog", "apply", str(path))
    assert code == 0 and "warning" not in err
    assert db.execute("SELECT step FROM achievements.tracked()").fetchall() == [("song",)]


def test_catalog_apply_refuses_a_bad_file_and_changes_nothing(capsys, url, tmp_path, db):
    bad = CATALOG.replace("threshold = 10", "threshold = 0").replace(
        'level = "fan"', 'level = "fann"'
    )
    path = write(tmp_path, bad)
    code, out, err = run(capsys, url, "catalog", "apply", str(path))
    assert code == 1
    assert out == ""
    assert (
        "achievements-db: error: the catalog has 2 error(s); nothing was changed (SQLSTATE AD207)"
        in err
    )
    assert "badges.fan: badge 'fan': unknown level 'fann'" in err
    assert "badges.ten_songs: badge 'ten_songs': threshold must be at least 1 (got 0)" in err
    assert db.execute("SELECT count(*) FROM achievements.levels").fetchone()[0] == 0

    path.write_text("[badges.x\nname = 1")
    code, _, err = run(capsys, url, "catalog", "apply", str(path))
    assert code == 1
    assert f"achievements-db: error: {path} is not valid TOML" in err

    code, _, err = run(capsys, url, "catalog", "apply", str(tmp_path / "missing.toml"))
    assert code == 1
    assert "cannot read" in err


def test_award_progress_leaderboard(capsys, url, tmp_path, db):
    run(capsys, url, "catalog", "apply", str(write(tmp_path, CATALOG)))
    alice, bob = uuid.uuid4(), uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'song', 4)", (alice,))
    code, out, _ = run(capsys, url, "award", str(bob), "ten_songs")
    assert (code, out) == (0, f"awarded ten_songs to {bob}\n")
    code, out, _ = run(capsys, url, "award", str(bob), "ten_songs")
    assert (code, out) == (0, f"{bob} already holds ten_songs\n")
    code, _, err = run(capsys, url, "award", str(bob), "nope")
    assert code == 1
    assert "unknown badge 'nope' (SQLSTATE AD201)" in err

    code, out, _ = run(capsys, url, "progress", str(alice))
    lines = out.splitlines()
    assert lines[0].split() == ["badge", "name", "progress", "earned"]
    assert lines[1].split()[:5] == ["first_song", "First", "song", "1/1", "song"]
    assert lines[3].split() == ["ten_songs", "Ten", "songs", "4/10", "song"]
    assert lines[4].split()[:4] == ["fan", "Fan", "3/3", "song"]  # the level's requirement
    assert lines[-1] == "2 of 4 badge(s) earned"
    assert "\033[" not in out and "█" not in out  # not a terminal: no colour, no bars

    code, out, _ = run(capsys, url, "leaderboard", "--limit", "5")
    assert out.splitlines() == [
        "rank  user                                  points  badges",
        f"1     {bob}  50      1",
        f"2     {alice}  15      2",
    ]
    code, out, _ = run(capsys, url, "leaderboard", "--since", "2999-01-01")
    assert out.splitlines()[-1] == "no user holds a badge earned since then"


def test_listen_prints_each_notification_as_a_json_line(url, db, tmp_path):
    db.execute("INSERT INTO achievements.badges (code, name) VALUES ('hello', 'Hello')")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "achievements_db.cli",
            "--database-url",
            url,
            "listen",
            "--count",
            "2",
            "--timeout",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until it listens
            if line.startswith("listening"):
                break
        users = [uuid.uuid4(), uuid.uuid4()]
        for user in users:
            db.execute("SELECT achievements.award_badge(%s, 'hello')", (user,))
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    payloads = [json.loads(line) for line in out.splitlines()]
    ids = [
        r[0] for r in db.execute("SELECT id FROM achievements.notifications ORDER BY id").fetchall()
    ]
    assert payloads == [
        {"id": ids[i], "user_id": str(u), "kind": "badge", "badge": "hello"}
        for i, u in enumerate(users)
    ]


def test_listen_stops_at_its_timeout(capsys, url):
    code, out, err = run(capsys, url, "listen", "--timeout", "0.2")
    assert (code, out) == (0, "")
    assert "listening on channel 'achievements'" in err


REWARDS = textwrap.dedent("""\
    [rarity_points]
    common = 10
    legendary = 250

    [notifications.badge]
    title = "Achievement unlocked: {name}"
    link = "/achievements"

    [leaderboards.song]
    periods = ["week"]

    [levels.rookie]
    min_points = 10

    [badges.first_song]
    name = "First song"
    step = "song"
    threshold = 1

    [badges.legendary]
    name = "Legendary"
    all_badges = true
    rarity = "legendary"
    """)


def test_catalog_apply_takes_the_rewards_of_issue_16_from_toml(capsys, url, tmp_path, db):
    path = write(tmp_path, REWARDS)
    code, out, _ = run(capsys, url, "catalog", "apply", str(path))
    assert code == 0
    assert out.splitlines() == [
        "create leaderboard song/week (time zone UTC)",
        "update rarity common (points: 0 -> 10)",
        "update rarity legendary (points: 0 -> 250)",
        'update notification badge (title: "Badge earned: {name}" -> "Achievement unlocked: {name}";'
        ' link: null -> "/achievements")',
        "create level rookie (min_points 10)",
        "create badge first_song (step song >= 1, 10 points)",
        "create badge legendary (all badges, 250 points)",
        "7 change(s) applied",
    ]
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert db.execute(
        "SELECT kind, title FROM achievements.notifications WHERE user_id = %s ORDER BY id", (user,)
    ).fetchall() == [
        ("badge", "Achievement unlocked: First song"),
        ("badge", "Achievement unlocked: Legendary"),
        ("level", "Level reached: rookie"),
    ]
    code, out, _ = run(capsys, url, "catalog", "apply", str(path))
    assert code == 0 and out.splitlines()[-1].startswith("no changes")
