"""transaction_awards() (issue 16): the badges and levels the caller's own transaction awarded,
for a toast, without a race against other sessions."""

import json
import uuid

from support.badges import define_badge, define_level
from support.databases import APP_ROLE, SERVICE_ROLE
from support.races import blocked_call


def awards(conn, *args):
    placeholders = ", ".join(["%s"] * len(args))
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            f"SELECT kind, user_id, code FROM achievements.transaction_awards({placeholders})", args
        )
    ]


def catalog(db):
    define_level(db, "fan", song=2)
    define_badge(db, "first", step="song", threshold=1, points=10, category="m")
    define_badge(db, "fan_badge", level="fan", category="m")
    define_badge(db, "all_m", all_badges=True, badge_category="m")
    define_badge(db, "share")


def test_the_awards_of_this_transaction_and_no_other(db, connect):
    catalog(db)
    user = uuid.uuid4()
    conn = connect(autocommit=False)
    assert awards(conn) == []  # nothing written: no transaction id
    conn.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert awards(conn) == [("badge", user, "first")]
    conn.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert awards(conn, user) == [
        ("level", user, "fan"),
        ("badge", user, "all_m"),
        ("badge", user, "fan_badge"),
        ("badge", user, "first"),
    ]
    row = conn.execute(
        "SELECT name, rarity, points, awarded_at = now() FROM achievements.transaction_awards(%s)"
        " WHERE code = 'first'",
        (user,),
    ).fetchone()
    assert row == ("First", "common", 10, True)
    # A savepoint rolled back takes its awards with it; a revocation takes the award.
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT achievements.award_badge(%s, 'share')", (user,))
        assert ("badge", user, "share") in awards(conn)
    conn.execute("SELECT achievements.revoke_badge(%s, 'first')", (user,))
    assert ("badge", user, "first") not in awards(conn)
    conn.commit()
    assert awards(conn) == []  # a new transaction
    assert awards(conn, uuid.uuid4()) == []


def test_concurrent_sessions_see_their_own_awards_only(db, connect):
    catalog(db)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    first, second = connect(autocommit=False), connect(autocommit=False)
    first.execute("SELECT achievements.award_badge(%s, 'share')", (alice,))
    second.execute("SELECT achievements.award_badge(%s, 'share')", (bob,))
    assert awards(first) == [("badge", alice, "share")]
    assert awards(second) == [("badge", bob, "share")]
    # The same user in both: the second waits for the first, and sees its own awards alone.
    waiting = blocked_call(
        db,
        second,
        lambda conn: (
            conn.execute("SELECT achievements.record_step(%s, 'song')", (alice,)),
            awards(conn),
        )[1],
    )
    first.commit()
    assert waiting.result() == sorted(
        [("badge", bob, "share"), ("badge", alice, "first")], key=lambda r: r[1]
    )
    second.commit()


def test_an_application_role_sees_its_own_awards(db):
    catalog(db)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for user in (alice, bob):
        db.execute("SELECT achievements.award_badge(%s, 'share')", (user,))
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(alice)}),)
    )
    db.execute(f"SET ROLE {APP_ROLE}")
    try:
        assert awards(db) == [("badge", alice, "share")]
        assert awards(db, bob) == []
    finally:
        db.execute("RESET ROLE")
    db.execute(f"SET ROLE {SERVICE_ROLE}")
    try:
        assert {u for _, u, _ in awards(db)} == {alice, bob}
    finally:
        db.execute("RESET ROLE")
