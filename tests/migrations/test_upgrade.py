"""Upgrade with data: a database at the newest release, full of real data (tallies from every
path, levels, badges, scores, notifications, a tracked table of the application), migrated to
this version keeps every row and keeps working."""

import uuid

import psycopg

from achievements_db import migrate, rollback, status
from achievements_db.releases import releases
from support.badges import check_counters
from support.databases import conninfo, target

ALICE, BOB = uuid.UUID(int=1), uuid.UUID(int=2)

DATA = [
    "INSERT INTO achievements.levels (name) VALUES ('fan')",
    "INSERT INTO achievements.level_requirements (level, name, required_count) VALUES ('fan', 'song', 3)",
    "INSERT INTO achievements.badges (code, name, step, threshold, points) VALUES"
    " ('song_1', 'First song', 'song', 1, 10), ('song_5', 'Five songs', 'song', 5, 20)",
    "INSERT INTO achievements.badges (code, name, level, points) VALUES ('fan', 'Fan', 'fan', 30)",
    "INSERT INTO achievements.badges (code, name, client_grantable) VALUES ('sharer', 'Sharer', true)",
    "CREATE TABLE plays (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, listener uuid, song text)",
    "SELECT achievements.track('plays', 'song', 'song', 'count', 'listener')",
    f"INSERT INTO plays (listener, song) SELECT '{ALICE}', 's' || g FROM generate_series(1, 4) AS g",
    f"SELECT achievements.record_step('{BOB}', 'song', 2)",
    f"INSERT INTO achievements.user_steps (user_id, name, count) VALUES ('{BOB}', 'video', 7)",
    f"SELECT achievements.award_badge('{BOB}', 'sharer')",
    f"SELECT achievements.undo_step('{BOB}', 'video', 2)",
]

STATE = {
    "tallies": "SELECT user_id, name, count FROM achievements.user_achievements ORDER BY 1, 2",
    "log": "SELECT user_id, name, count FROM achievements.user_steps ORDER BY id",
    "levels": "SELECT user_id, level, achieved_at FROM achievements.user_levels ORDER BY 1, 2",
    "badges": "SELECT user_id, badge, earned_at FROM achievements.user_badges ORDER BY 1, 2",
    "scores": "SELECT user_id, points, badges FROM achievements.user_scores ORDER BY 1",
    "notifications": "SELECT user_id, kind, data FROM achievements.notifications ORDER BY id",
    "tracked": "SELECT tbl::text, step, mode FROM achievements.tracked()",
}


def state(conn):
    return {name: conn.execute(query).fetchall() for name, query in STATE.items()}


def test_upgrade_from_the_newest_release_keeps_the_data_and_the_behaviour(empty_database):
    name = empty_database()
    release = releases()[-1]
    assert migrate(target(name), until=release.migrations[-1]) == release.migrations
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        for statement in DATA:
            conn.execute(statement)
        before = state(conn)
    assert before["levels"][0][:2] == (ALICE, "fan")
    assert [(r[0], r[1]) for r in before["badges"]] == [
        (ALICE, "fan"),
        (ALICE, "song_1"),
        (BOB, "sharer"),
        (BOB, "song_1"),
    ]

    migrate(target(name))
    assert all(s.applied for s in status(target(name)))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        assert state(conn) == before
        check_counters(conn)
        # Still working: the tracked table counts, thresholds award, reads answer.
        conn.execute(f"INSERT INTO plays (listener, song) VALUES ('{ALICE}', 'five')")
        assert conn.execute(
            "SELECT badge FROM achievements.user_badges WHERE user_id = %s ORDER BY 1", (ALICE,)
        ).fetchall() == [("fan",), ("song_1",), ("song_5",)]
        assert conn.execute("SELECT achievements.user_points(%s)", (ALICE,)).fetchone()[0] == 60
        assert conn.execute("SELECT achievements.user_rank(%s)", (BOB,)).fetchone()[0] == 2
        check_counters(conn)
        # Issue 16 over the data of before: a badge about badges backfilled from the badges
        # held, a leaderboard of the month filled from the log, the notification centre.
        conn.execute(
            "INSERT INTO achievements.badges (code, name, min_badges, points)"
            " VALUES ('two', 'Two badges', 2, 1)"
        )
        assert conn.execute("SELECT achievements.backfill_badge('two')").fetchone()[0] == 2
        conn.execute(
            "INSERT INTO achievements.step_leaderboards (step, period) VALUES ('song', 'month')"
        )
        assert conn.execute(
            "SELECT user_id, count FROM achievements.step_leaderboard('song', 'month')"
        ).fetchall() == [(ALICE, 5), (BOB, 2)]
        assert (
            conn.execute(
                "SELECT count(*) FROM achievements.notifications_page(%s)", (ALICE,)
            ).fetchone()[0]
            == len([n for n in before["notifications"] if n[0] == ALICE]) + 1
        )
        assert conn.execute("SELECT * FROM achievements.redeliver_notifications()").fetchall() == []
        check_counters(conn)


def tracking_state(conn):
    triggers = [
        r[0]
        for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'songs'::regclass ORDER BY 1"
        ).fetchall()
    ]
    functions = conn.execute(
        "SELECT count(*) FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace"
        " WHERE n.nspname IN ('achievements_private', 'achievements_tracking')"
        "   AND p.proname ~ '^track_[0-9]+(_[0-9a-f]{12})?$'"
    ).fetchone()[0]
    return triggers, functions


def check_songs(conn, inserted):
    """The tallies of the three steps of songs equal what the rows say."""
    tallies = dict(
        conn.execute(
            "SELECT name, count FROM achievements.user_achievements WHERE user_id = %s", (ALICE,)
        ).fetchall()
    )
    live = conn.execute("SELECT count(*) FROM songs WHERE title IS NOT NULL").fetchone()[0]
    loved = conn.execute("SELECT count(*) FROM songs WHERE loved").fetchone()[0]
    assert tallies == {"song": inserted, "live": live, "loved": loved}


def test_0003_rewires_tracked_tables_and_its_rollback_rewires_them_back(empty_database):
    """0003 gives a table tracked for several steps one counting function and one set of
    triggers; its rollback gives each step its own again; the counts stay exact throughout."""
    name = empty_database()
    migrate(target(name), until="0002_track_as_table_owner")
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE songs (id int PRIMARY KEY, owner uuid, title text, loved boolean)"
        )
        conn.execute("SELECT achievements.track('songs', 'song', 'title', 'count', 'owner')")
        conn.execute("SELECT achievements.track('songs', 'live', 'title', 'toggle', 'owner')")
        conn.execute(
            "SELECT achievements.track('songs', 'loved', 'loved', 'toggle_boolean', 'owner')"
        )
        conn.execute("CREATE TABLE gone (id int, owner uuid, title text)")  # tracked, then dropped
        conn.execute("SELECT achievements.track('gone', 'gone', 'title', 'count', 'owner')")
        conn.execute("DROP TABLE gone")
        conn.execute(
            f"INSERT INTO songs VALUES (1, '{ALICE}', 'a', true), (2, '{ALICE}', 'b', false)"
        )
        assert len(tracking_state(conn)[0]) == 10
        check_songs(conn, 2)

    assert migrate(target(name), until="0003_one_lock_order") == ["0003_one_lock_order"]
    # (0004 keeps the same triggers; its functions move to achievements_tracking.)
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        assert tracking_state(conn) == (
            [
                "achievements_track_del",
                "achievements_track_ins",
                "achievements_track_trunc",
                "achievements_track_upd",
            ],
            1,
        )
        assert conn.execute("SELECT count(*) FROM achievements.tracked()").fetchone()[0] == 3
        conn.execute(f"INSERT INTO songs VALUES (3, '{ALICE}', 'c', true)")
        conn.execute("UPDATE songs SET loved = NOT loved, title = NULL WHERE id = 2")
        conn.execute("DELETE FROM songs WHERE id = 1")
        check_songs(conn, 3)

    assert rollback(target(name)) == ["0003_one_lock_order"]
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        triggers, functions = tracking_state(conn)
        assert functions == 3 and len(triggers) == 10
        assert (
            sorted(
                n
                for r in conn.execute("SELECT trigger_names FROM achievements.tracked_steps")
                for n in r[0]
            )
            == triggers
        )
        conn.execute(f"INSERT INTO songs VALUES (4, '{ALICE}', 'd', true)")
        conn.execute("TRUNCATE songs")
        check_songs(conn, 4)

    migrate(target(name))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        assert tracking_state(conn)[1] == 1
        conn.execute(f"INSERT INTO songs VALUES (5, '{ALICE}', 'e', true)")
        check_songs(conn, 5)
