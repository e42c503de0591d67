"""Badges about badges (issue 16): at least N badges (of a category), all badges of a category or
of the catalog, at least N points. Awarded the moment the last piece arrives, whatever path
awarded it; revocable ones follow revocations; they count only badges that are not about badges
themselves; the set follows the catalog; exactly once under concurrent sessions."""

import uuid

import psycopg
import pytest

from support.badges import (
    badges_of,
    check_counters,
    define_badge,
    define_level,
    notifications_of,
    score_of,
)
from support.races import blocked_call, run_together


def award(conn, user, code):
    return conn.execute("SELECT achievements.award_badge(%s, %s)", (user, code)).fetchone()[0]


def revoke(conn, user, code):
    return conn.execute("SELECT achievements.revoke_badge(%s, %s)", (user, code)).fetchone()[0]


def milestones(db):
    """Category m: a threshold badge, a level badge and a badge awarded by call; every badge of
    m is a badge about them."""
    define_level(db, "fan", like=2)
    define_badge(db, "song", step="song", threshold=1, category="m", points=10)
    define_badge(db, "fan", level="fan", category="m", points=20)
    define_badge(db, "share", category="m", points=5)
    define_badge(db, "other", category="x", points=1)
    define_badge(db, "all_m", all_badges=True, badge_category="m", points=100, rarity="epic")


def test_all_of_a_category_comes_with_its_last_badge_whatever_path_brought_it(db):
    milestones(db)
    users = [uuid.uuid4() for _ in range(3)]
    # Three users, three orders: the last badge comes from a tally, a level, a call.
    for user, order in zip(
        users,
        [("call", "level", "tally"), ("tally", "call", "level"), ("level", "tally", "call")],
        strict=True,
    ):
        for i, path in enumerate(order):
            if path == "tally":
                db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
            elif path == "level":
                db.execute("SELECT achievements.record_step(%s, 'like', 2)", (user,))
            else:
                award(db, user, "share")
            expected = ["all_m"] if i == 2 else []
            assert [b for b in badges_of(db, user) if b == "all_m"] == expected, (order, i)
        assert badges_of(db, user) == ["all_m", "fan", "share", "song"]
        assert score_of(db, user) == (135, 4)
        # Notified once, after the badge that completed the set.
        assert notifications_of(db, user)[-1] == ("badge", "all_m")
        assert notifications_of(db, user).count(("badge", "all_m")) == 1
    check_counters(db)


def test_badges_about_badges_count_only_the_others(db):
    """Two badges about badges never count each other: "two badges" is not earned by holding
    one badge and "all badges", and "all badges" needs every badge that is not about badges."""
    define_badge(db, "a", points=10)
    define_badge(db, "b", points=10)
    define_badge(db, "two", min_badges=2, points=50)
    define_badge(db, "all", all_badges=True, points=50)
    define_badge(db, "p20", min_points=20, points=50)
    user = uuid.uuid4()
    award(db, user, "a")
    assert badges_of(db, user) == ["a"]
    award(db, user, "b")
    assert badges_of(db, user) == ["a", "all", "b", "p20", "two"]
    assert score_of(db, user) == (170, 5)
    check_counters(db)


def test_min_badges_and_min_points_of_a_category(db):
    for code, category, points in [("m1", "m", 10), ("m2", "m", 10), ("x1", "x", 30)]:
        define_badge(db, code, category=category, points=points)
    define_badge(db, "two_m", min_badges=2, badge_category="m")
    define_badge(db, "three", min_badges=3)
    define_badge(db, "p40", min_points=40)
    user = uuid.uuid4()
    award(db, user, "m1")
    award(db, user, "x1")
    assert badges_of(db, user) == ["m1", "p40", "x1"]  # 2 badges, 1 of m; 40 points
    award(db, user, "m2")
    assert badges_of(db, user) == ["m1", "m2", "p40", "three", "two_m", "x1"]


def test_the_set_follows_the_catalog(db):
    """ "All badges of m" is every badge of m at the time: adding one does not hand it to those
    who lack the new one, and the holders of the old set keep it (not revocable)."""
    define_badge(db, "a", category="m")
    define_badge(db, "b", category="m")
    define_badge(db, "all_m", all_badges=True, badge_category="m")
    early, late = uuid.uuid4(), uuid.uuid4()
    award(db, early, "a")
    award(db, early, "b")
    assert "all_m" in badges_of(db, early)
    define_badge(db, "c", category="m")
    award(db, late, "a")
    award(db, late, "b")
    assert badges_of(db, late) == ["a", "b"]
    award(db, late, "c")
    assert badges_of(db, late) == ["a", "all_m", "b", "c"]
    assert "all_m" in badges_of(db, early)
    # backfill_badge behaves as for other kinds: those who hold every badge of m now.
    third = uuid.uuid4()
    for code in ("a", "b", "c"):
        award(db, third, code)
    db.execute(
        "DELETE FROM achievements.user_badges WHERE user_id = %s AND badge = 'all_m'", (third,)
    )
    assert db.execute("SELECT achievements.backfill_badge('all_m')").fetchone()[0] == 1
    assert "all_m" in badges_of(db, third)
    assert ("badge", "all_m") not in notifications_of(db, third)[-1:]  # silent
    assert db.execute("SELECT achievements.backfill_badge('all_m')").fetchone()[0] == 0
    check_counters(db)


def test_a_backfill_that_completes_a_set_awards_the_badge_about_it_silently(db):
    define_badge(db, "a", category="m")
    define_badge(db, "b", category="m", step="song", threshold=3)
    define_badge(db, "all_m", all_badges=True, badge_category="m", points=7)
    user = uuid.uuid4()
    award(db, user, "a")
    db.execute("SELECT achievements.record_step(%s, 'song', 2)", (user,))
    db.execute("UPDATE achievements.badges SET threshold = 2 WHERE code = 'b'")
    assert db.execute("SELECT achievements.backfill_badge('b')").fetchone()[0] == 1
    assert badges_of(db, user) == ["a", "all_m", "b"]
    assert notifications_of(db, user) == [("badge", "a")]
    assert db.execute(
        "SELECT notified FROM achievements.user_badges WHERE badge = 'all_m'"
    ).fetchone() == (True,)
    assert score_of(db, user) == (7, 3)


def test_revocable_badges_about_badges_follow_revocations(db):
    define_badge(db, "a", category="m", points=10)
    define_badge(db, "b", category="m", points=10, step="song", threshold=1, revocable=True)
    define_badge(db, "all_m", all_badges=True, badge_category="m", points=100, revocable=True)
    define_badge(db, "p20", min_points=20, points=5, revocable=True)
    define_badge(db, "kept", min_badges=2, points=1)  # not revocable
    user = uuid.uuid4()
    award(db, user, "a")
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert badges_of(db, user) == ["a", "all_m", "b", "kept", "p20"]
    # An undo takes b back (revocable threshold badge), and with it all_m and p20.
    db.execute("SELECT achievements.undo_step(%s, 'song')", (user,))
    assert badges_of(db, user) == ["a", "kept"]
    assert score_of(db, user) == (11, 2)
    assert notifications_of(db, user)[-3:] == [
        ("badge_revoked", "b"),
        ("badge_revoked", "all_m"),
        ("badge_revoked", "p20"),
    ]
    # The tally crosses again: all of them again.
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert badges_of(db, user) == ["a", "all_m", "b", "kept", "p20"]
    # A revocation by call does the same.
    assert revoke(db, user, "a") is True
    assert badges_of(db, user) == ["b", "kept"]
    check_counters(db)


def test_a_badge_about_badges_revoked_by_hand_is_not_handed_back_by_the_next_badge(db):
    """Crossing, as for thresholds: only a new crossing (or backfill_badge) awards it again."""
    for code in ("a", "b", "c"):
        define_badge(db, code)
    define_badge(db, "two", min_badges=2)
    user = uuid.uuid4()
    award(db, user, "a")
    award(db, user, "b")
    assert revoke(db, user, "two") is True
    award(db, user, "c")
    assert badges_of(db, user) == ["a", "b", "c"]
    assert db.execute("SELECT achievements.backfill_badge('two')").fetchone()[0] == 1


def test_deleting_a_badge_of_the_set_takes_nothing_else_and_says_nothing(db):
    """A badge deleted from the catalog leaves the set: its holders keep a revocable "all"
    badge (they still hold all the others), and no revocation is announced for it."""
    define_badge(db, "a", category="m")
    define_badge(db, "b", category="m")
    define_badge(db, "all_m", all_badges=True, badge_category="m", revocable=True)
    define_badge(db, "two", min_badges=2, revocable=True)
    user = uuid.uuid4()
    award(db, user, "a")
    award(db, user, "b")
    before = notifications_of(db, user)
    db.execute("DELETE FROM achievements.badges WHERE code = 'b'")
    # "two" counted b, which is gone: revocable, it goes (announced); "all of m" stays.
    assert badges_of(db, user) == ["a", "all_m"]
    assert notifications_of(db, user) == before + [("badge_revoked", "two")]
    check_counters(db)


def test_seasonal_badges_about_badges_are_earned_only_in_their_window(db):
    define_badge(db, "a")
    define_badge(db, "over", min_badges=1, active_until="2000-01-01")
    define_badge(db, "now", min_badges=1, active_from="2000-01-01")
    user = uuid.uuid4()
    award(db, user, "a")
    assert badges_of(db, user) == ["a", "now"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"min_badges": 0}, "min_badges must be at least 1 (got 0)"),
        ({"min_points": -5}, "min_points must be at least 1 (got -5)"),
        (
            {"min_badges": 2, "min_points": 10},
            "has more than one criterion (min_badges, min_points)",
        ),
        (
            {"step": "s", "threshold": 1, "all_badges": True},
            "has more than one criterion (step, all_badges)",
        ),
        (
            {"badge_category": "m"},
            "has a badge_category ('m') but neither min_badges nor all_badges",
        ),
        ({"min_points": 10, "badge_category": "m"}, "has a badge_category ('m') but neither"),
        ({"notification_title": "Hi {nope}"}, "notification_title: unknown placeholder {nope}"),
    ],
)
def test_bad_definitions_are_refused_with_ad202(db, columns, message):
    with pytest.raises(psycopg.Error) as err:
        define_badge(db, "bad", **columns)
    assert err.value.sqlstate == "AD202"
    assert message in err.value.diag.message_primary
    assert err.value.diag.message_hint
    assert db.execute("SELECT count(*) FROM achievements.badges").fetchone()[0] == 0


def test_the_check_constraints_hold_without_the_validation_trigger(db):
    db.execute("ALTER TABLE achievements.badges DISABLE TRIGGER _000_validate")
    for columns in (
        "min_badges, min_points) VALUES ('x', 'X', 0, 1, 2",
        "min_badges) VALUES ('x', 'X', 0, 0",
        "badge_category) VALUES ('x', 'X', 0, 'm'",
        "revocable) VALUES ('x', 'X', 0, true",
    ):
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute(f"INSERT INTO achievements.badges (code, name, points, {columns})")


# Races: two transactions each bring one of the last badges of a set.


def test_two_transactions_each_delivering_the_last_badge_of_a_category_award_it_once(db, connect):
    """The first holds the user's lock until it commits; the second waits for it, then sees
    both badges and awards the badge about them, once."""
    define_badge(db, "a", category="m", points=1)
    define_badge(db, "b", category="m", points=1)
    define_badge(db, "c", category="m", points=1)
    define_badge(db, "all_m", all_badges=True, badge_category="m", points=50)
    user = uuid.uuid4()
    award(db, user, "a")
    first, second = connect(autocommit=False), connect(autocommit=False)
    assert award(first, user, "b") is True
    waiting = blocked_call(db, second, lambda conn: (award(conn, user, "c"), conn.commit())[0])
    first.commit()
    assert waiting.result() is True
    assert badges_of(db, user) == ["a", "all_m", "b", "c"]
    assert notifications_of(db, user).count(("badge", "all_m")) == 1
    assert score_of(db, user) == (53, 4)
    check_counters(db)


def test_two_steps_in_two_sessions_completing_a_category_award_it_once(db, connect):
    """The same through tallies: each session's step crosses the threshold of one badge."""
    define_badge(db, "songs", category="m", step="song", threshold=1)
    define_badge(db, "plays", category="m", step="play", threshold=1)
    define_badge(db, "all_m", all_badges=True, badge_category="m")
    user = uuid.uuid4()
    first, second = connect(autocommit=False), connect(autocommit=False)
    first.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    waiting = blocked_call(
        db,
        second,
        lambda conn: (
            conn.execute("SELECT achievements.record_step(%s, 'play')", (user,)),
            conn.commit(),
        ),
    )
    first.commit()
    waiting.result()
    assert badges_of(db, user) == ["all_m", "plays", "songs"]
    assert notifications_of(db, user).count(("badge", "all_m")) == 1


def test_eight_sessions_at_once_each_bringing_one_badge_of_the_set(db, connect):
    codes = [f"b{i}" for i in range(8)]
    for code in codes:
        define_badge(db, code, category="m", points=1)
    define_badge(db, "all_m", all_badges=True, badge_category="m", points=10)
    define_badge(db, "five", min_badges=5, points=10)
    users = [uuid.uuid4() for _ in range(3)]

    def work(index, conn):
        for user in users:
            award(conn, user, codes[index])

    run_together(connect, 8, work)
    for user in users:
        assert badges_of(db, user) == sorted([*codes, "all_m", "five"])
        assert notifications_of(db, user).count(("badge", "all_m")) == 1
        assert notifications_of(db, user).count(("badge", "five")) == 1
        assert score_of(db, user) == (28, 10)
    check_counters(db)
