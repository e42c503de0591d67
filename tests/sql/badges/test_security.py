"""Row level security as the non-owner application role, with request.jwt.claims set: users
read their own badges, scores and notifications; others' data only through the public reads;
hidden badges stay secret; writes are the service's."""

import json
import uuid

import psycopg
import pytest

from support.badges import define_badge
from support.databases import APP_ROLE, SERVICE_ROLE


@pytest.fixture
def world(db):
    define_badge(db, "open", points=5)
    define_badge(db, "secret", hidden=True, points=1)
    define_badge(db, "secret_other", hidden=True)
    define_badge(db, "sharer", client_grantable=True)
    me, other = uuid.uuid4(), uuid.uuid4()
    for user, code in [(me, "open"), (me, "secret"), (other, "open"), (other, "secret_other")]:
        db.execute("SELECT achievements.award_badge(%s, %s)", (user, code))
    db.execute(
        "SELECT achievements.record_step(%s, 'song'), achievements.record_step(%s, 'song')",
        (me, other),
    )
    return me, other


def as_app(connect, user):
    conn = connect()
    conn.execute(f"SET ROLE {APP_ROLE}")
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(user)}),)
    )
    return conn


def test_app_role_reads_only_its_own_rows(connect, world):
    me, other = world
    app = as_app(connect, me)
    assert app.execute(
        "SELECT user_id, badge FROM achievements.user_badges ORDER BY badge"
    ).fetchall() == [(me, "open"), (me, "secret")]
    assert app.execute("SELECT user_id, points FROM achievements.user_scores").fetchall() == [
        (me, 6)
    ]
    assert {
        r[0] for r in app.execute("SELECT user_id FROM achievements.notifications").fetchall()
    } == {me}
    # Hidden badges: only the one I hold.
    assert app.execute("SELECT code FROM achievements.badges ORDER BY code").fetchall() == [
        ("open",),
        ("secret",),
        ("sharer",),
    ]
    assert [
        r[0] for r in app.execute("SELECT code FROM achievements.badge_progress()").fetchall()
    ] == ["open", "secret", "sharer"]
    assert [
        r[0]
        for r in app.execute("SELECT code FROM achievements.badge_stats ORDER BY code").fetchall()
    ] == ["open", "secret", "sharer"]
    assert app.execute(
        "SELECT achievements.user_points(), achievements.user_rank(),"
        " achievements.has_badge(%s, 'secret')",
        (me,),
    ).fetchone() == (6, 1, True)
    assert [
        r[0] for r in app.execute("SELECT badge FROM achievements.user_badges_page()").fetchall()
    ] == ["secret", "open"]


def test_app_role_sees_others_only_through_public_reads(connect, world):
    me, other = world
    app = as_app(connect, me)
    board = app.execute("SELECT user_id, points FROM achievements.leaderboard()").fetchall()
    assert sorted(board, key=lambda r: -r[1]) == [(me, 6), (other, 5)]
    assert app.execute("SELECT badge FROM achievements.public_badges(%s)", (other,)).fetchall() == [
        ("open",)
    ]
    for query in [
        "SELECT * FROM achievements.badge_progress(%s)",
        "SELECT * FROM achievements.user_badges_page(%s)",
        "SELECT achievements.user_points(%s)",
        "SELECT achievements.user_rank(%s)",
        "SELECT achievements.has_badge(%s, 'open')",
    ]:
        with pytest.raises(psycopg.Error) as err:
            app.execute(query, (other,))
        assert err.value.sqlstate == "42501", query
    # The hidden badge I do not hold does not exist for me.
    with pytest.raises(psycopg.Error) as err:
        app.execute("SELECT achievements.has_badge(%s, 'secret_other')", (me,))
    assert err.value.sqlstate == "AD201"


def test_app_role_cannot_write(connect, world):
    me, _ = world
    app = as_app(connect, me)
    for query in [
        "SELECT achievements.award_badge(%s, 'open')",
        "SELECT achievements.revoke_badge(%s, 'open')",
        "SELECT achievements.backfill_badge('open') WHERE %s IS NOT NULL",
        "SELECT achievements.compact_counters() WHERE %s IS NOT NULL",
        "INSERT INTO achievements.user_badges (user_id, badge) VALUES (%s, 'sharer')",
        "UPDATE achievements.user_scores SET points = 1000 WHERE user_id = %s",
        "DELETE FROM achievements.notifications WHERE user_id = %s",
        "INSERT INTO achievements.badges (code, name) VALUES (%s::text, 'x')",
        "SELECT * FROM achievements.apply_catalog('{}'::jsonb) WHERE %s IS NOT NULL",
    ]:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(query, (me,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT * FROM achievements_private.points_histogram")


def test_app_role_claims_and_manages_its_own_badges(connect, world):
    me, _ = world
    app = as_app(connect, me)
    assert app.execute("SELECT achievements.claim_badge('sharer')").fetchone()[0] is True
    with pytest.raises(psycopg.Error) as err:
        app.execute("SELECT achievements.claim_badge('open')")
    assert err.value.sqlstate == "AD203"
    assert app.execute("SELECT achievements.set_badge_public('open', false)").fetchone()[0] is True
    assert (
        app.execute(
            "SELECT is_public FROM achievements.user_badges WHERE badge = 'open'"
        ).fetchone()[0]
        is False
    )
    assert app.execute("SELECT achievements.unread_count()").fetchone()[0] == 3
    assert app.execute("SELECT achievements.mark_all_read()").fetchone()[0] == 3


def test_service_role_reads_every_row_and_awards(connect, world):
    me, other = world
    svc = connect()
    svc.execute(f"SET ROLE {SERVICE_ROLE}")
    assert svc.execute("SELECT count(*) FROM achievements.user_badges").fetchone()[0] == 4
    assert svc.execute("SELECT count(*) FROM achievements.badges").fetchone()[0] == 4
    assert (
        svc.execute("SELECT achievements.award_badge(%s, 'sharer')", (other,)).fetchone()[0] is True
    )
    assert svc.execute("SELECT achievements.user_points(%s)", (other,)).fetchone()[0] == 5
    # A service role's progress view of a user still hides the hidden badges they lack.
    codes = [
        r[0]
        for r in svc.execute(
            "SELECT code FROM achievements.badge_progress(%s)", (other,)
        ).fetchall()
    ]
    assert codes == ["open", "secret_other", "sharer"]
    assert svc.execute("SELECT achievements.backfill_badge('open')").fetchone()[0] == 0
    changes = svc.execute(
        "SELECT object, name, action FROM achievements.apply_catalog("
        """'{"badges": {"new_one": {"name": "New"}}}'::jsonb)"""
    ).fetchall()
    assert changes == [("badge", "new_one", "create")]
