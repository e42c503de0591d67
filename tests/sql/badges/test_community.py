"""Community reads (issue 16): a feed of recent public awards across users (newest or rarest
first, featured ones, hidden badges only to those who hold them), featuring an award, and the
leaderboard by badge count."""

import datetime as dt
import json
import uuid

import psycopg
import pytest

from support.badges import define_badge
from support.databases import APP_ROLE, SERVICE_ROLE


def at(db, user, code, when):
    """Awards `code` to `user` with earned_at = `when` (minutes after 2026-01-01)."""
    db.execute("SELECT achievements.award_badge(%s, %s)", (user, code))
    db.execute(
        "UPDATE achievements.user_badges SET earned_at = timestamptz '2026-01-01' + %s * interval '1 minute'"
        " WHERE user_id = %s AND badge = %s",
        (when, user, code),
    )


def feed(db, **named):
    params = ", ".join(f"{k} => %({k})s" for k in named)
    return db.execute(
        f"SELECT user_id, badge, featured, cursor FROM achievements.community_feed({params})", named
    ).fetchall()


@pytest.fixture
def community(db):
    define_badge(db, "c", rarity="common")
    define_badge(db, "r", rarity="rare")
    define_badge(db, "e", rarity="epic")
    define_badge(db, "l", rarity="legendary")
    define_badge(db, "secret", rarity="epic", hidden=True)
    users = [uuid.UUID(int=i) for i in range(1, 5)]
    minute = 0
    for user in users:
        for code in ("c", "r", "e"):
            minute += 1
            at(db, user, code, minute)
    at(db, users[0], "l", 100)
    at(db, users[1], "secret", 101)
    # Two awards in the same microsecond: the keyset still orders them.
    at(db, users[2], "l", 50)
    at(db, users[3], "l", 50)
    return users


def everything(db, **named):
    rows, after = [], None
    while True:
        page = feed(db, lim=2, after=after, **named)
        if not page:
            return rows
        rows += [(u, b) for u, b, _, _ in page]
        after = page[-1][3]


def test_the_feed_pages_through_public_awards_newest_first(db, community):
    u1, u2, u3, u4 = community
    rows = everything(db)
    assert len(rows) == 15 and len(set(rows)) == 15
    assert rows[:3] == [(u1, "l"), (u4, "l"), (u3, "l")]
    assert (u2, "secret") not in rows  # hidden, and the viewer holds it not
    # is_public: a user who hides an award leaves the feed.
    db.execute(
        "UPDATE achievements.user_badges SET is_public = false WHERE user_id = %s AND badge = 'l'",
        (u1,),
    )
    assert everything(db)[0] == (u4, "l")


def test_rarest_first_and_a_minimum_rarity(db, community):
    u1, u2, u3, u4 = community
    rows = everything(db, rarest_first=True)
    rarity = dict(db.execute("SELECT code, rarity FROM achievements.badges").fetchall())
    order = ["legendary", "epic", "rare", "common"]
    assert [order.index(rarity[b]) for _, b in rows] == sorted(
        order.index(rarity[b]) for _, b in rows
    )
    assert rows[:4] == [(u1, "l"), (u4, "l"), (u3, "l"), (u4, "e")]
    assert {b for _, b in everything(db, min_rarity="epic")} == {"l", "e"}


def test_hidden_badges_only_for_viewers_who_hold_them(db, community):
    u1, u2, *_ = community
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(u2)}),)
    )
    assert (u2, "secret") in everything(db)
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(u1)}),)
    )
    assert (u2, "secret") not in everything(db)


def test_featured_awards(db, community):
    u1, u2, u3, _ = community
    db.execute(f"SET ROLE {SERVICE_ROLE}")
    try:
        assert (
            db.execute("SELECT achievements.set_featured(%s, 'r', true)", (u3,)).fetchone()[0]
            is True
        )
        assert (
            db.execute("SELECT achievements.set_featured(%s, 'e', true)", (u1,)).fetchone()[0]
            is True
        )
        assert (
            db.execute("SELECT achievements.set_featured(%s, 'l', true)", (u2,)).fetchone()[0]
            is False
        )
    finally:
        db.execute("RESET ROLE")
    assert [(u, b, f) for u, b, f, _ in feed(db, featured_only=True)] == [
        (u3, "r", True),
        (u1, "e", True),
    ]
    assert everything(db, featured_only=True, rarest_first=True) == [(u1, "e"), (u3, "r")]
    assert [f for u, b, f, _ in feed(db, lim=100) if (u, b) == (u3, "r")] == [True]
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.set_featured(%s, 'nope', true)", (u1,))
    assert err.value.sqlstate == "AD201"
    db.execute(f"SET ROLE {APP_ROLE}")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("SELECT achievements.set_featured(%s, 'r', false)", (u3,))
    finally:
        db.execute("RESET ROLE")


@pytest.mark.parametrize(
    ("named", "message"),
    [
        ({"after": "nope"}, "after is not a cursor of the feed"),
        ({"after": '[0, 1, "not a user", "c"]'}, "after is not a cursor of the feed"),
        ({"lim": 0}, "limit must be between 1 and 1000"),
        ({"min_rarity": "mythic"}, "unknown rarity 'mythic'"),
        ({"rarest_first": None}, "must be true or false, not NULL"),
    ],
)
def test_bad_feed_arguments(db, named, message):
    with pytest.raises(psycopg.Error) as err:
        feed(db, **named)
    assert err.value.sqlstate == "AD206"
    assert message in err.value.diag.message_primary
    assert err.value.diag.message_hint


def test_the_badge_leaderboard_ranks_by_badges_held(db):
    for code in ("a", "b", "c"):
        define_badge(db, code, points=1)
    u1, u2, u3 = (uuid.UUID(int=i) for i in range(1, 4))
    for user, codes in [(u1, "ab"), (u2, "abc"), (u3, "ba")]:
        for code in codes:
            db.execute("SELECT achievements.award_badge(%s, %s)", (user, code))
    assert db.execute("SELECT * FROM achievements.badge_leaderboard()").fetchall() == [
        (1, u2, 3, 3),
        (2, u1, 2, 2),
        (2, u3, 2, 2),
    ]
    assert db.execute("SELECT * FROM achievements.badge_leaderboard(1)").fetchall() == [
        (1, u2, 3, 3)
    ]
    db.execute(
        "UPDATE achievements.user_badges SET earned_at = '2000-01-01' WHERE user_id = %s", (u2,)
    )
    since = dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
    assert [
        r[1] for r in db.execute("SELECT * FROM achievements.badge_leaderboard(10, %s)", (since,))
    ] == [u1, u3]
    db.execute("SELECT achievements.revoke_badge(%s, 'c')", (u2,))
    assert db.execute("SELECT rank, user_id FROM achievements.badge_leaderboard()").fetchall() == [
        (1, u1),
        (1, u2),
        (1, u3),
    ]
