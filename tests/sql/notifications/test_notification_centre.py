"""The notification centre (issue 16): a user's notifications page by page (newest first,
keyset, unread only), deleting one, every action for a given user from a service role,
notify() for the application's own kinds, templates, a notification on revocation, and awards
whose notification failed delivered again."""

import json
import uuid

import psycopg
import pytest

from support.badges import define_badge, define_level, notifications_of
from support.databases import APP_ROLE, SERVICE_ROLE
from support.races import blocked_call


def claims(db, user):
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(user)}),)
    )


def notify(db, user, kind="note", title="Hello", **extra):
    names = ", ".join(f"{k} => %({k})s" for k in extra)
    return db.execute(
        f"SELECT achievements.notify(%(u)s, %(k)s, %(t)s{', ' + names if names else ''})",
        {"u": user, "k": kind, "t": title, **extra},
    ).fetchone()[0]


def page(db, user=None, **named):
    """The ids of a page of notifications_page (the request's user when `user` is None)."""
    if user is not None:
        named = {"user_id": user, **named}
    params = ", ".join(f"{k} => %({k})s" for k in named)
    return [
        r[0] for r in db.execute(f"SELECT id FROM achievements.notifications_page({params})", named)
    ]


def test_pages_newest_first_with_a_keyset_and_unread_only(db):
    user, other = uuid.uuid4(), uuid.uuid4()
    ids = [notify(db, user, title=f"n{i}") for i in range(7)]
    notify(db, other)
    assert page(db, user, lim=3) == ids[::-1][:3]
    assert page(db, user, before=ids[4], lim=3) == [ids[3], ids[2], ids[1]]
    assert page(db, user, before=ids[1]) == [ids[0]]
    # Every notification once, page by page.
    seen, before = [], None
    while batch := page(db, user, before=before, lim=2):
        seen += batch
        before = batch[-1]
    assert seen == ids[::-1]
    db.execute("SELECT achievements.mark_read(%s, %s)", (ids[6], user))
    db.execute("SELECT achievements.mark_read(%s, %s)", (ids[3], user))
    assert page(db, user, unread_only=True) == [ids[5], ids[4], ids[2], ids[1], ids[0]]
    assert page(db, user, before=ids[4], lim=2, unread_only=True) == [ids[2], ids[1]]
    row = db.execute(
        "SELECT kind, title, body, link, data, read_at IS NOT NULL FROM"
        " achievements.notifications_page(%s, lim => 1)",
        (user,),
    ).fetchone()
    assert row == ("note", "n6", None, None, {}, True)
    for named, message in [
        ({"lim": 0}, "limit must be between 1 and 1000 (got 0)"),
        ({"lim": 1001}, "limit must be between 1 and 1000 (got 1001)"),
        ({"unread_only": None}, "unread_only must be true or false, not NULL"),
    ]:
        with pytest.raises(psycopg.Error) as err:
            page(db, user, **named)
        assert err.value.sqlstate == "AD206"
        assert message in err.value.diag.message_primary


def test_the_request_user_deletes_and_reads_their_own(db):
    user, other = uuid.uuid4(), uuid.uuid4()
    mine = [notify(db, user) for _ in range(3)]
    theirs = notify(db, other)
    claims(db, user)
    db.execute(f"SET ROLE {APP_ROLE}")
    try:
        assert page(db) == mine[::-1]
        assert db.execute("SELECT achievements.delete_notification(%s)", (mine[1],)).fetchone()[0]
        assert page(db) == [mine[2], mine[0]]
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT achievements.delete_notification(%s)", (theirs,))
        assert err.value.sqlstate == "AD205"
        assert err.value.diag.message_primary == f"the current user has no notification {theirs}"
        # Naming their own user works too; another user is refused.
        assert db.execute("SELECT achievements.unread_count(%s)", (user,)).fetchone()[0] == 2
        for sql, args in [
            ("SELECT * FROM achievements.notifications_page(%s)", (other,)),
            ("SELECT achievements.unread_count(%s)", (other,)),
            ("SELECT achievements.mark_read(%s, %s)", (theirs, other)),
            ("SELECT achievements.mark_all_read(%s)", (other,)),
            ("SELECT achievements.delete_notification(%s, %s)", (theirs, other)),
        ]:
            with pytest.raises(psycopg.Error) as err:
                db.execute(sql, args)
            assert err.value.sqlstate == "42501", sql
        with pytest.raises(psycopg.Error) as err:
            notify(db, other)
        assert err.value.sqlstate == "42501"  # notify is for the service roles
    finally:
        db.execute("RESET ROLE")
    assert notifications_of(db, other) == [("note", None)]


def test_a_service_role_acts_for_any_user_without_a_jwt(db):
    user = uuid.uuid4()
    ids = [notify(db, user) for _ in range(3)]
    db.execute(f"SET ROLE {SERVICE_ROLE}")
    try:
        assert db.execute("SELECT achievements.unread_count(%s)", (user,)).fetchone()[0] == 3
        assert (
            db.execute("SELECT achievements.mark_read(%s, %s)", (ids[0], user)).fetchone()[0]
            is True
        )
        assert (
            db.execute("SELECT achievements.mark_read(%s, %s)", (ids[0], user)).fetchone()[0]
            is False
        )
        assert db.execute("SELECT achievements.mark_all_read(%s)", (user,)).fetchone()[0] == 2
        assert db.execute("SELECT achievements.unread_count(%s)", (user,)).fetchone()[0] == 0
        assert db.execute(
            "SELECT achievements.delete_notification(%s, %s)", (ids[2], user)
        ).fetchone()[0]
        assert page(db, user) == [ids[1], ids[0]]
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT achievements.delete_notification(%s, %s)", (ids[2], user))
        assert err.value.sqlstate == "AD205"
        assert err.value.diag.message_primary == f"user {user} has no notification {ids[2]}"
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT achievements.unread_count(NULL::achievements.user_ref)")
        assert err.value.sqlstate == "AD005"
        # Without a JWT, the request's own functions have no user.
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT achievements.unread_count()")
        assert err.value.sqlstate == "AD005"
        assert notify(db, user, "collaboration_added", "Bob added you", link="/songs/1") > ids[2]
    finally:
        db.execute("RESET ROLE")


def test_notify_writes_the_applications_own_kinds_through_the_outbox(db, connect):
    user = uuid.uuid4()
    listener = connect()
    listener.execute("LISTEN achievements")
    with db.transaction():
        id_ = notify(
            db,
            user,
            "collaboration_added",
            "Bob added you",
            body="to Song 1",
            link="/songs/1",
            data=json.dumps({"song_id": 1}),
        )
        assert list(listener.notifies(timeout=0.3, stop_after=1)) == []  # at commit only
    payloads = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
    assert payloads == [{"id": id_, "user_id": str(user), "kind": "collaboration_added"}]
    row = db.execute(
        "SELECT kind, title, body, link, data FROM achievements.notifications WHERE id = %s", (id_,)
    ).fetchone()
    assert row == ("collaboration_added", "Bob added you", "to Song 1", "/songs/1", {"song_id": 1})


@pytest.mark.parametrize(
    ("args", "sqlstate", "message"),
    [
        ((None, "k", "t"), "AD005", "notify: user_id is NULL"),
        ((uuid.uuid4(), "badge", "t"), "AD208", "notify: kind 'badge' is the package's own"),
        ((uuid.uuid4(), "", "t"), "AD208", "notify: kind must be a name of 1 to 100 characters"),
        (
            (uuid.uuid4(), "k" * 101, "t"),
            "AD208",
            "notify: kind must be a name of 1 to 100 characters",
        ),
        ((uuid.uuid4(), "k", ""), "AD208", "notify: title must be a non-empty text"),
        (
            (uuid.uuid4(), "k", "t", None, None, "[1]"),
            "AD208",
            "notify: data must be a JSON object (got array)",
        ),
    ],
)
def test_notify_refuses_bad_arguments(db, args, sqlstate, message):
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT achievements.notify(%s, %s, %s" + ", %s, %s, %s::jsonb" * (len(args) > 3) + ")",
            args,
        )
    assert err.value.sqlstate == sqlstate
    assert err.value.diag.message_primary == message
    assert err.value.diag.message_hint
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 0


def test_templates_per_kind_per_badge_and_per_level(db):
    db.execute(
        "INSERT INTO achievements.notification_templates (kind, title, body, link) VALUES"
        " ('badge', 'You earned {name} ({points} points)', '{rarity}: {description}', '/u/{user_id}/badges/{code}')"
    )
    define_level(db, "fan", song=2)
    db.execute(
        "UPDATE achievements.levels SET notification_title = '{level} unlocked!', link = '/levels/{level}'"
    )
    define_badge(db, "first", step="song", threshold=1, points=10, description="One song")
    define_badge(
        db, "custom", step="song", threshold=2, notification_title="Custom {name}", link="/x"
    )
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'song', 2)", (user,))
    rows = db.execute(
        "SELECT kind, title, body, link FROM achievements.notifications WHERE user_id = %s ORDER BY id",
        (user,),
    ).fetchall()
    assert rows == [
        ("level", "fan unlocked!", None, "/levels/fan"),
        ("badge", "Custom Custom", "common: ", "/x"),
        ("badge", "You earned First (10 points)", "common: One song", f"/u/{user}/badges/first"),
    ]
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "UPDATE achievements.notification_templates SET title = '{level}' WHERE kind = 'badge'"
        )
    assert err.value.sqlstate == "AD208"
    assert "title: unknown placeholder {level}" in err.value.diag.message_primary


def test_revocations_are_announced_but_not_deletions_from_the_catalog(db):
    define_badge(db, "a", points=3, link="/badges/a")
    define_badge(db, "b")
    define_badge(db, "steps", step="song", threshold=1, revocable=True)
    user = uuid.uuid4()
    for code in ("a", "b"):
        db.execute("SELECT achievements.award_badge(%s, %s)", (user, code))
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    db.execute("SELECT achievements.revoke_badge(%s, 'a')", (user,))
    db.execute("SELECT achievements.undo_step(%s, 'song')", (user,))
    db.execute("DELETE FROM achievements.badges WHERE code = 'b'")
    assert notifications_of(db, user) == [
        ("badge", "a"),
        ("badge", "b"),
        ("badge", "steps"),
        ("badge_revoked", "a"),
        ("badge_revoked", "steps"),
    ]
    row = db.execute(
        "SELECT title, link, data->>'points' FROM achievements.notifications WHERE kind = 'badge_revoked'"
        " AND data->>'badge' = 'a'"
    ).fetchone()
    assert row == ("Badge revoked: A", "/badges/a", "3")
    # Quiet: revocations say nothing either.
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    with db.transaction():
        db.execute("SET LOCAL achievements.quiet = on")
        db.execute("SELECT achievements.undo_step(%s, 'song')", (user,))
    assert notifications_of(db, user)[-1] == ("badge", "steps")


def break_notifications(db):
    db.execute(
        "ALTER TABLE achievements.notifications ADD CONSTRAINT broken CHECK (false) NOT VALID"
    )


def test_awards_whose_notification_failed_are_found_and_delivered_again(db):
    define_level(db, "fan", song=1)
    define_badge(db, "first", step="song", threshold=1)
    user = uuid.uuid4()
    db.execute("SET client_min_messages = error")  # the WARNINGs of the failed notifications
    break_notifications(db)
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert notifications_of(db, user) == []
    assert (
        db.execute(
            "SELECT (SELECT count(*) FROM achievements.user_badges WHERE NOT notified)"
            "     + (SELECT count(*) FROM achievements.user_levels WHERE NOT notified)"
        ).fetchone()[0]
        == 2
    )
    # Still broken: delivered = false, and they stay undelivered.
    assert db.execute("SELECT * FROM achievements.redeliver_notifications()").fetchall() == [
        ("badge", user, "first", False),
        ("level", user, "fan", False),
    ]
    db.execute("ALTER TABLE achievements.notifications DROP CONSTRAINT broken")
    assert db.execute("SELECT * FROM achievements.redeliver_notifications(10)").fetchall() == [
        ("badge", user, "first", True),
        ("level", user, "fan", True),
    ]
    assert sorted(notifications_of(db, user)) == [("badge", "first"), ("level", "fan")]
    assert db.execute("SELECT * FROM achievements.redeliver_notifications()").fetchall() == []
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT * FROM achievements.redeliver_notifications(0)")
    assert err.value.sqlstate == "AD206"


def test_two_sessions_redelivering_at_once_deliver_each_award_once(db, connect):
    define_badge(db, "a")
    user = uuid.uuid4()
    db.execute("SET client_min_messages = error")
    break_notifications(db)
    db.execute("SELECT achievements.award_badge(%s, 'a')", (user,))
    db.execute("ALTER TABLE achievements.notifications DROP CONSTRAINT broken")
    first, second = connect(autocommit=False), connect(autocommit=False)
    assert first.execute(
        "SELECT delivered FROM achievements.redeliver_notifications()"
    ).fetchall() == [(True,)]
    waiting = blocked_call(
        db,
        second,
        lambda conn: (
            conn.execute("SELECT * FROM achievements.redeliver_notifications()").fetchall(),
            conn.commit(),
        )[0],
    )
    first.commit()
    assert waiting.result() == []
    assert notifications_of(db, user) == [("badge", "a")]
