"""The outbox: a row per new badge and level, written in the awarding transaction; pg_notify
at commit (never for a rolled-back award); mark_read, mark_all_read, unread_count."""

import json
import uuid

import psycopg
import pytest

from support.badges import define_badge, define_level


def listen(connect):
    conn = connect()
    conn.execute("LISTEN achievements")
    return conn


def received(conn, expected, timeout=5.0):
    """The payloads of up to `expected` notifications, waiting at most `timeout` seconds."""
    out = []
    for note in conn.notifies(timeout=timeout, stop_after=expected):
        assert note.channel == "achievements"
        out.append(json.loads(note.payload))
    return out


def claims(db, user):
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(user)}),)
    )


def test_award_notifies_at_commit_with_a_small_payload(db, connect):
    define_level(db, "fan", song=2)
    define_badge(db, "song_2", step="song", threshold=2, points=4, description="Two songs")
    listener = listen(connect)
    user = uuid.uuid4()
    with db.transaction():
        db.execute("SELECT achievements.record_step(%s, 'song', 2)", (user,))
        assert received(listener, 1, timeout=0.3) == []  # nothing before commit
    payloads = received(listener, 2)
    ids = [
        r[0] for r in db.execute("SELECT id FROM achievements.notifications ORDER BY id").fetchall()
    ]
    assert payloads == [
        {"id": ids[0], "user_id": str(user), "kind": "level", "level": "fan"},
        {"id": ids[1], "user_id": str(user), "kind": "badge", "badge": "song_2"},
    ]
    row = db.execute(
        "SELECT kind, title, body, data->>'points', read_at FROM achievements.notifications"
        " WHERE id = %s",
        (ids[1],),
    ).fetchone()
    assert row == ("badge", "Badge earned: Song 2", "Two songs", "4", None)


def test_rolled_back_award_sends_nothing(db, connect):
    define_badge(db, "a")
    listener = listen(connect)
    with db.transaction(force_rollback=True):
        db.execute("SELECT achievements.award_badge(%s, 'a')", (uuid.uuid4(),))
    assert received(listener, 1, timeout=0.3) == []
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 0


def test_bulk_awards_notify_each_once(db, connect):
    define_badge(db, "first", step="song", threshold=1)
    listener = listen(connect)
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name)"
        " SELECT gen_random_uuid(), 'song' FROM generate_series(1, 500)"
    )
    payloads = received(listener, 500)
    assert len(payloads) == 500
    assert len({p["user_id"] for p in payloads}) == 500
    assert received(listener, 1, timeout=0.3) == []


def test_backfill_and_backfill_levels_are_silent(db, connect):
    users = [uuid.uuid4() for _ in range(20)]
    for u in users:
        db.execute("SELECT achievements.record_step(%s, 'song', 3)", (u,))
    define_level(db, "late", song=3)
    define_badge(db, "late_badge", level="late")
    define_badge(db, "three", step="song", threshold=3)
    listener = listen(connect)
    assert db.execute("SELECT achievements.backfill_levels('late')").fetchone()[0] == 20
    # Levels reached by a backfill carry their badges along, silently too.
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.user_badges WHERE badge = 'late_badge'"
        ).fetchone()[0]
        == 20
    )
    assert db.execute("SELECT achievements.backfill_badge('late_badge')").fetchone()[0] == 0
    assert db.execute("SELECT achievements.backfill_badge('three')").fetchone()[0] == 20
    assert received(listener, 1, timeout=0.3) == []
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 0
    # quiet was the functions' own setting: the next award speaks again.
    db.execute("SELECT achievements.record_step(%s, 'song', 1)", (uuid.uuid4(),))
    db.execute("SELECT achievements.award_badge(%s, 'three')", (uuid.uuid4(),))
    assert [p["badge"] for p in received(listener, 1)] == ["three"]


def test_mark_read_mark_all_read_unread_count(db):
    for code in ("a", "b", "c"):
        define_badge(db, code)
    me, other = uuid.uuid4(), uuid.uuid4()
    for code in ("a", "b", "c"):
        db.execute("SELECT achievements.award_badge(%s, %s)", (me, code))
    db.execute("SELECT achievements.award_badge(%s, 'a')", (other,))
    mine = [
        r[0]
        for r in db.execute(
            "SELECT id FROM achievements.notifications WHERE user_id = %s ORDER BY id", (me,)
        ).fetchall()
    ]
    theirs = db.execute(
        "SELECT id FROM achievements.notifications WHERE user_id = %s", (other,)
    ).fetchone()[0]
    claims(db, me)
    assert db.execute("SELECT achievements.unread_count()").fetchone()[0] == 3
    assert db.execute("SELECT achievements.mark_read(%s)", (mine[0],)).fetchone()[0] is True
    assert db.execute("SELECT achievements.mark_read(%s)", (mine[0],)).fetchone()[0] is False
    assert db.execute("SELECT achievements.unread_count()").fetchone()[0] == 2
    for bad in (theirs, 999999):
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT achievements.mark_read(%s)", (bad,))
        assert err.value.sqlstate == "AD205"
        assert err.value.diag.message_primary == f"the current user has no notification {bad}"
    assert db.execute("SELECT achievements.mark_all_read()").fetchone()[0] == 2
    assert db.execute("SELECT achievements.mark_all_read()").fetchone()[0] == 0
    assert db.execute("SELECT achievements.unread_count()").fetchone()[0] == 0
    claims(db, other)
    assert db.execute("SELECT achievements.unread_count()").fetchone()[0] == 1
    db.execute("SELECT set_config('request.jwt.claims', '', false)")
    for fn in ("unread_count()", "mark_all_read()", "mark_read(1)"):
        with pytest.raises(psycopg.Error) as err:
            db.execute(f"SELECT achievements.{fn}")
        assert err.value.sqlstate == "AD005"
        assert (
            err.value.diag.message_primary
            == f"{fn.split('(')[0]}: the request carries no user claim"
        )
