"""End to end, as a user wires it: a catalog file applied with the CLI, an application table
tracked with one call, ordinary writes by a non-owner application role, and badges, points,
progress, leaderboard, stats and notifications following, exactly once each."""

import json
import textwrap
import uuid

import pytest

from achievements_db.cli import main
from support.databases import APP_ROLE, conninfo

CATALOG = textwrap.dedent("""\
    [levels.listener]
    requirements = { song = 3 }

    [badges.first_song]
    name = "First song"
    step = "song"
    threshold = 1
    points = 10

    [badges.five_songs]
    name = "Five songs"
    step = "song"
    threshold = 5
    points = 40
    rarity = "rare"

    [badges.listener]
    name = "Listener"
    level = "listener"
    points = 25

    [badges.secret]
    name = "Secret"
    step = "song"
    threshold = 100
    hidden = true
    """)


@pytest.fixture
def app(db, db_name, tmp_path, capsys):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    assert main(["--database-url", conninfo(db_name), "catalog", "apply", str(catalog)]) == 0
    capsys.readouterr()
    db.execute("CREATE TABLE plays (id bigserial PRIMARY KEY, listener uuid NOT NULL, song text)")
    db.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON plays TO {APP_ROLE}")
    db.execute(f"GRANT USAGE ON SEQUENCE plays_id_seq TO {APP_ROLE}")
    db.execute("SELECT achievements.track('plays', 'song', 'song', 'count', 'listener')")
    return db


def as_app(connect, user):
    conn = connect()
    conn.execute(f"SET ROLE {APP_ROLE}")
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(user)}),)
    )
    return conn


def test_ordinary_writes_earn_everything_exactly_once(app, connect):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    alice_conn, bob_conn = as_app(connect, alice), as_app(connect, bob)

    # Alice: one bulk statement of 4 plays, then 2 single plays. Bob: one play.
    alice_conn.execute(
        "INSERT INTO plays (listener, song) SELECT %s, 'track ' || g FROM generate_series(1, 4) g",
        (alice,),
    )
    alice_conn.execute(
        "INSERT INTO plays (listener, song) VALUES (%s, 'a'), (%s, 'b')", (alice, alice)
    )
    bob_conn.execute("INSERT INTO plays (listener, song) VALUES (%s, 'x')", (bob,))
    # Retried and no-op writes earn nothing more.
    alice_conn.execute("UPDATE plays SET song = song WHERE listener = %s", (alice,))

    badges = app.execute(
        "SELECT user_id, badge FROM achievements.user_badges ORDER BY user_id, badge"
    ).fetchall()
    assert sorted(badges) == sorted(
        [
            (alice, "first_song"),
            (alice, "five_songs"),
            (alice, "listener"),
            (bob, "first_song"),
        ]
    )
    assert app.execute("SELECT achievements.user_points(%s)", (alice,)).fetchone()[0] == 75
    assert app.execute(
        "SELECT level FROM achievements.user_levels WHERE user_id = %s", (alice,)
    ).fetchall() == [("listener",)]

    # One notification per badge and per level, nothing else.
    kinds = app.execute(
        "SELECT user_id, kind, count(*) FROM achievements.notifications GROUP BY 1, 2"
    ).fetchall()
    assert sorted(kinds, key=str) == sorted(
        [(alice, "badge", 3), (alice, "level", 1), (bob, "badge", 1)], key=str
    )

    # What the application role reads back, as Alice: only her own rows and public summaries.
    progress = {
        r[0]: (r[2], r[3])
        for r in alice_conn.execute(
            "SELECT code, name, current, target FROM achievements.badge_progress()"
        ).fetchall()
    }
    assert progress["five_songs"] == (5, 5)
    assert progress["first_song"] == (1, 1)
    assert "secret" not in progress  # hidden until earned
    assert alice_conn.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 4
    assert alice_conn.execute("SELECT achievements.unread_count()").fetchone()[0] == 4
    assert alice_conn.execute("SELECT achievements.mark_all_read()").fetchone()[0] == 4
    assert alice_conn.execute("SELECT achievements.unread_count()").fetchone()[0] == 0
    assert {
        r[0] for r in alice_conn.execute("SELECT user_id FROM achievements.user_badges").fetchall()
    } == {alice}

    board = alice_conn.execute(
        "SELECT rank, user_id, points FROM achievements.leaderboard(10)"
    ).fetchall()
    assert board == [(1, alice, 75), (2, bob, 10)]
    assert alice_conn.execute("SELECT achievements.user_rank()").fetchone()[0] == 1
    stats = dict(
        alice_conn.execute("SELECT code, holders FROM achievements.badge_stats").fetchall()
    )
    assert stats["first_song"] == 2 and stats["five_songs"] == 1

    # Deleting plays does not take counter badges back (count mode is a counter, not a gauge).
    alice_conn.execute("DELETE FROM plays WHERE listener = %s", (alice,))
    assert (
        app.execute(
            "SELECT count(*) FROM achievements.user_badges WHERE user_id = %s", (alice,)
        ).fetchone()[0]
        == 3
    )
