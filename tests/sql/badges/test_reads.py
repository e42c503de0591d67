"""Reads: badge_progress, user_badges_page, user_points, leaderboard, user_rank, badge_stats,
public_badges; each checked against the writes that produced it."""

import datetime as dt
import uuid

import psycopg
import pytest

from support.badges import define_badge, define_level


def step(db, user, name="song", count=1):
    db.execute("SELECT achievements.record_step(%s, %s, %s)", (user, name, count))


def award(db, user, code):
    db.execute("SELECT achievements.award_badge(%s, %s)", (user, code))


def test_badge_progress(db):
    define_level(db, "fan", song=5, video=2, like=1)
    define_badge(db, "song_1", step="song", threshold=1, category="music")
    define_badge(db, "song_10", step="song", threshold=10, category="music")
    define_badge(db, "fan_badge", level="fan", category="music")
    define_badge(db, "sharer", client_grantable=True)
    define_badge(db, "secret_20", step="song", threshold=20, hidden=True)
    define_badge(db, "secret_3", step="song", threshold=3, hidden=True)
    user = uuid.uuid4()
    step(db, user, "song", 6)
    step(db, user, "video", 1)
    rows = db.execute(
        "SELECT code, current, target, earned_at IS NOT NULL FROM achievements.badge_progress(%s)",
        (user,),
    ).fetchall()
    assert rows == [
        ("song_1", 1, 1, True),
        ("song_10", 6, 10, False),
        ("fan_badge", 1, 3, False),  # song met; video 1/2 and like 0/1 not
        ("secret_3", 3, 3, True),  # hidden, shown once earned
        ("sharer", 0, 1, False),
    ]
    step(db, user, "video", 1)
    step(db, user, "like", 1)
    assert db.execute(
        "SELECT current, target, earned_at IS NOT NULL FROM achievements.badge_progress(%s)"
        " WHERE code = 'fan_badge'",
        (user,),
    ).fetchone() == (3, 3, True)
    assert db.execute(
        "SELECT name FROM achievements.badge_progress(%s) WHERE code = 'song_10'", (user,)
    ).fetchone() == ("Song 10",)
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT * FROM achievements.badge_progress()")
    assert err.value.sqlstate == "AD005"


@pytest.mark.committed
def test_user_badges_page_is_keyset_paginated_newest_first(db):
    codes = [f"b{i:02}" for i in range(7)]
    for code in codes:
        define_badge(db, code, points=1)
    user = uuid.uuid4()
    for code in codes[:3]:
        award(db, user, code)
    with db.transaction():  # four badges with the same earned_at: ties ordered by code
        for code in codes[3:]:
            award(db, user, code)
    expected = ["b03", "b04", "b05", "b06", "b02", "b01", "b00"]
    pages, after = [], None
    while True:
        page = db.execute(
            "SELECT badge FROM achievements.user_badges_page(%s, %s, 3)", (user, after)
        ).fetchall()
        if not page:
            break
        pages.append([r[0] for r in page])
        after = page[-1][0]
    assert pages == [expected[:3], expected[3:6], expected[6:]]
    row = db.execute(
        "SELECT badge, name, points, rarity, is_public FROM achievements.user_badges_page(%s)",
        (user,),
    ).fetchone()
    assert row == ("b03", "B03", 1, "common", True)
    for args, message in [
        ((user, "zzz", 3), "after: the user holds no badge 'zzz'"),
        ((user, None, 0), "limit must be between 1 and 1000 (got 0)"),
        ((user, None, 1001), "limit must be between 1 and 1000 (got 1001)"),
    ]:
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT * FROM achievements.user_badges_page(%s, %s, %s)", args)
        assert err.value.sqlstate == "AD206"
        assert err.value.diag.message_primary == message


@pytest.fixture
def scores(db):
    """Users with points 50, 30, 30, 10, 0 (a zero-point badge) and one without badges."""
    define_badge(db, "p50", points=50)
    define_badge(db, "p30", points=30)
    define_badge(db, "p10", points=10)
    define_badge(db, "p0", points=0)
    users = [uuid.UUID(int=i + 1) for i in range(6)]
    for user, code in zip(users, ["p50", "p30", "p30", "p10", "p0"], strict=False):
        award(db, user, code)
    step(db, users[5])
    return users


def test_points_leaderboard_and_ranks(db, scores):
    u = scores
    assert [db.execute("SELECT achievements.user_points(%s)", (x,)).fetchone()[0] for x in u] == [
        50,
        30,
        30,
        10,
        0,
        0,
    ]
    board = db.execute(
        "SELECT rank, user_id, points, badges FROM achievements.leaderboard()"
    ).fetchall()
    assert board == [
        (1, u[0], 50, 1),
        (2, u[1], 30, 1),
        (2, u[2], 30, 1),
        (4, u[3], 10, 1),
        (5, u[4], 0, 1),
    ]
    assert db.execute("SELECT rank, user_id FROM achievements.leaderboard(3)").fetchall() == [
        (1, u[0]),
        (2, u[1]),
        (2, u[2]),
    ]
    ranks = [db.execute("SELECT achievements.user_rank(%s)", (x,)).fetchone()[0] for x in u]
    assert ranks == [1, 2, 2, 4, 5, 5]
    # Points move: u3 overtakes everyone; a revocation drops u0.
    award(db, u[3], "p50")
    db.execute("SELECT achievements.revoke_badge(%s, 'p50')", (u[0],))
    assert db.execute("SELECT user_id, points FROM achievements.leaderboard(2)").fetchall() == [
        (u[3], 60),
        (u[1], 30),
    ]
    ranks = [db.execute("SELECT achievements.user_rank(%s)", (x,)).fetchone()[0] for x in u]
    assert ranks == [4, 2, 2, 1, 4, 4]
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT * FROM achievements.leaderboard(0)")
    assert err.value.sqlstate == "AD206"


def test_leaderboard_since_counts_only_badges_earned_in_the_window(db, scores):
    u = scores
    db.execute("UPDATE achievements.user_badges SET earned_at = earned_at - interval '30 days'")
    since = db.execute("SELECT now() - interval '7 days'").fetchone()[0]
    award(db, u[3], "p30")
    award(db, u[4], "p10")
    assert db.execute(
        "SELECT rank, user_id, points, badges FROM achievements.leaderboard(10, %s)", (since,)
    ).fetchall() == [(1, u[3], 30, 1), (2, u[4], 10, 1)]
    assert db.execute("SELECT achievements.user_rank(%s, %s)", (u[4], since)).fetchone()[0] == 2
    assert db.execute("SELECT achievements.user_rank(%s, %s)", (u[0], since)).fetchone()[0] == 3
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    assert db.execute("SELECT * FROM achievements.leaderboard(10, %s)", (future,)).fetchall() == []


def test_badge_stats(db, scores):
    def stats():
        return {
            r[0]: (r[1], r[2])
            for r in db.execute(
                "SELECT code, holders, share FROM achievements.badge_stats"
            ).fetchall()
        }

    # Users with any tally or badge: six.
    assert stats() == {"p50": (1, 1 / 6), "p30": (2, 2 / 6), "p10": (1, 1 / 6), "p0": (1, 1 / 6)}
    for user in scores[:5]:
        step(db, user, "song")  # known already: no change
    assert stats()["p30"] == (2, 2 / 6)
    db.execute("SELECT achievements.revoke_badge(%s, 'p30')", (scores[1],))
    assert stats()["p30"] == (1, 1 / 6)


def test_badge_stats_of_an_empty_database(db):
    define_badge(db, "a")
    assert db.execute("SELECT code, holders, share FROM achievements.badge_stats").fetchall() == [
        ("a", 0, 0.0)
    ]


def test_public_badges(db):
    define_badge(db, "shown")
    define_badge(db, "private")
    define_badge(db, "secret", hidden=True)
    owner, viewer = uuid.uuid4(), uuid.uuid4()
    for code in ("shown", "private", "secret"):
        award(db, owner, code)
    db.execute("UPDATE achievements.user_badges SET is_public = false WHERE badge = 'private'")
    db.execute("SELECT set_config('request.jwt.claims', %s, false)", (f'{{"sub": "{viewer}"}}',))
    assert db.execute("SELECT badge FROM achievements.public_badges(%s)", (owner,)).fetchall() == [
        ("shown",)
    ]
    award(db, viewer, "secret")
    assert sorted(
        db.execute("SELECT badge FROM achievements.public_badges(%s)", (owner,)).fetchall()
    ) == [("secret",), ("shown",)]
