"""Awarding by call: award_badge, claim_badge, revoke_badge, has_badge, set_badge_public;
exactly once under repetition and concurrency, with the points and notifications that follow."""

import json
import uuid

import psycopg
import pytest

from support.badges import badges_of, check_counters, define_badge, notifications_of, score_of
from support.races import blocked_call


def award(db, user, code):
    return db.execute("SELECT achievements.award_badge(%s, %s)", (user, code)).fetchone()[0]


def test_award_badge_is_true_once_then_false(db):
    define_badge(db, "welcome", points=5)
    user = uuid.uuid4()
    assert award(db, user, "welcome") is True
    assert all(award(db, user, "welcome") is False for _ in range(99))
    assert badges_of(db, user) == ["welcome"]
    assert notifications_of(db, user) == [("badge", "welcome")]
    assert score_of(db, user) == (5, 1)
    row = db.execute("SELECT notified, is_public FROM achievements.user_badges").fetchone()
    assert row == (True, True)
    check_counters(db)


def test_award_badge_from_20_sessions_at_once_gives_one_row_and_one_notification(db, connect):
    """The first award is uncommitted while 19 more sessions award the same badge: each of them
    waits for it (ON CONFLICT on the primary key), then finds the row and awards nothing."""
    define_badge(db, "welcome", points=5)
    user = uuid.uuid4()
    first = connect(autocommit=False)
    assert award(first, user, "welcome") is True
    waiting = [
        blocked_call(
            db,
            connect(autocommit=False),
            lambda conn: (award(conn, user, "welcome"), conn.commit())[0],
        )
        for _ in range(19)
    ]
    first.commit()
    assert [w.result() for w in waiting] == [False] * 19
    assert badges_of(db, user) == ["welcome"]
    assert notifications_of(db, user) == [("badge", "welcome")]
    assert score_of(db, user) == (5, 1)
    check_counters(db)


def test_award_errors(db):
    define_badge(db, "welcome")
    define_badge(db, "old", active_until="2000-01-01")
    define_badge(db, "future", active_from="2999-01-01")
    user = uuid.uuid4()
    for args, sqlstate, message in [
        ((user, "nope"), "AD201", "unknown badge 'nope'"),
        ((None, "welcome"), "AD005", "award_badge: user_id is NULL"),
        ((user, "old"), "AD204", "badge 'old' can be earned only from -infinity until 2000-01-01"),
        ((user, "future"), "AD204", "badge 'future' can be earned only from 2999-01-01"),
    ]:
        with pytest.raises(psycopg.Error) as err:
            award(db, *args)
        assert err.value.sqlstate == sqlstate
        assert err.value.diag.message_primary.startswith(message)
        assert err.value.diag.message_hint
    assert db.execute("SELECT count(*) FROM achievements.user_badges").fetchone()[0] == 0


def test_revoke_badge_takes_points_back(db):
    define_badge(db, "a", points=10)
    define_badge(db, "b", points=4)
    user = uuid.uuid4()
    award(db, user, "a")
    award(db, user, "b")
    assert score_of(db, user) == (14, 2)
    assert db.execute("SELECT achievements.revoke_badge(%s, 'a')", (user,)).fetchone()[0] is True
    assert db.execute("SELECT achievements.revoke_badge(%s, 'a')", (user,)).fetchone()[0] is False
    assert badges_of(db, user) == ["b"]
    assert score_of(db, user) == (4, 1)
    assert db.execute(
        "SELECT achievements.has_badge(%s, 'a'), achievements.has_badge(%s, 'b')", (user, user)
    ).fetchone() == (False, True)
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.revoke_badge(%s, 'zzz')", (user,))
    assert err.value.sqlstate == "AD201"
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.has_badge(%s, 'zzz')", (user,))
    assert err.value.sqlstate == "AD201"
    # Awarded again after a revocation: a new row and a new notification.
    assert award(db, user, "a") is True
    assert notifications_of(db, user) == [
        ("badge", "a"),
        ("badge", "b"),
        ("badge_revoked", "a"),
        ("badge", "a"),
    ]
    check_counters(db)


def claims(db, user):
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)",
        (json.dumps({"sub": str(user)}) if user else "",),
    )


def test_claim_badge_for_the_current_user(db):
    define_badge(db, "sharer", client_grantable=True, points=2)
    define_badge(db, "earned", points=50)
    define_badge(db, "secret", hidden=True)
    define_badge(db, "easter_egg", hidden=True, client_grantable=True)
    user = uuid.uuid4()
    claims(db, user)
    assert db.execute("SELECT achievements.claim_badge('sharer')").fetchone()[0] is True
    assert db.execute("SELECT achievements.claim_badge('sharer')").fetchone()[0] is False
    assert db.execute("SELECT achievements.claim_badge('easter_egg')").fetchone()[0] is True
    for code, sqlstate, message in [
        ("earned", "AD203", "badge 'earned' cannot be claimed"),
        ("secret", "AD201", "unknown badge 'secret'"),
        ("missing", "AD201", "unknown badge 'missing'"),
    ]:
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT achievements.claim_badge(%s)", (code,))
        assert err.value.sqlstate == sqlstate
        assert err.value.diag.message_primary.startswith(message)
    assert badges_of(db, user) == ["easter_egg", "sharer"]
    assert score_of(db, user) == (2, 2)
    claims(db, None)
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.claim_badge('sharer')")
    assert err.value.sqlstate == "AD005"


def test_set_badge_public(db):
    define_badge(db, "a")
    user = uuid.uuid4()
    award(db, user, "a")
    claims(db, user)
    assert db.execute("SELECT achievements.set_badge_public('a', false)").fetchone()[0] is True
    assert db.execute("SELECT achievements.set_badge_public('b', false)").fetchone()[0] is False
    assert db.execute("SELECT is_public FROM achievements.user_badges").fetchone()[0] is False


def test_a_failing_notification_never_undoes_the_award(db):
    define_badge(db, "a", points=7)
    db.execute(
        "ALTER TABLE achievements.notifications ADD CONSTRAINT broken CHECK (false) NOT VALID"
    )
    warnings: list[str] = []
    db.add_notice_handler(lambda d: warnings.append(f"{d.severity}: {d.message_primary}"))
    user = uuid.uuid4()
    assert award(db, user, "a") is True
    assert badges_of(db, user) == ["a"]
    assert score_of(db, user) == (7, 1)
    assert notifications_of(db, user) == []
    assert db.execute("SELECT notified FROM achievements.user_badges").fetchone()[0] is False
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "WARNING: achievements: 1 badge award(s) stand, but their notifications failed"
    )
