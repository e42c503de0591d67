"""Points by rarity (issue 16): a badge without points of its own is worth its rarity's points
(achievements.rarity_points, 0 without a row) and follows them; a badge may override them."""

import uuid

import psycopg
import pytest

from support.badges import check_counters, define_badge, score_of


def points(db):
    return dict(db.execute("SELECT code, points FROM achievements.badges ORDER BY code").fetchall())


def set_rarity(db, rarity, value):
    db.execute(
        "INSERT INTO achievements.rarity_points (rarity, points) VALUES (%s, %s)"
        " ON CONFLICT (rarity) DO UPDATE SET points = excluded.points",
        (rarity, value),
    )


def test_badges_without_points_follow_their_rarity_and_move_their_holders(db):
    define_badge(db, "plain")  # common, no points given: 0 until the rarity has some
    define_badge(db, "rare_one", rarity="rare")
    define_badge(db, "own", rarity="rare", points=7)
    assert points(db) == {"own": 7, "plain": 0, "rare_one": 0}
    set_rarity(db, "rare", 50)
    set_rarity(db, "common", 10)
    assert points(db) == {"own": 7, "plain": 10, "rare_one": 50}
    user = uuid.uuid4()
    for code in ("plain", "rare_one", "own"):
        db.execute("SELECT achievements.award_badge(%s, %s)", (user, code))
    assert score_of(db, user) == (67, 3)
    set_rarity(db, "rare", 100)  # re-prices rare_one and its holders, not own
    assert points(db)["rare_one"] == 100
    assert score_of(db, user) == (117, 3)
    db.execute("DELETE FROM achievements.rarity_points WHERE rarity = 'common'")
    assert points(db)["plain"] == 0
    assert score_of(db, user) == (107, 3)
    # A badge moved to another rarity takes that rarity's points.
    db.execute("UPDATE achievements.badges SET rarity = 'rare' WHERE code = 'plain'")
    assert points(db)["plain"] == 100
    assert score_of(db, user) == (207, 3)
    check_counters(db)


def test_a_badge_that_follows_its_rarity_refuses_other_points_until_told(db):
    set_rarity(db, "epic", 100)
    define_badge(db, "e", rarity="epic")
    assert db.execute("SELECT points, points_by_rarity FROM achievements.badges").fetchone() == (
        100,
        True,
    )
    with pytest.raises(psycopg.Error) as err:
        db.execute("UPDATE achievements.badges SET points = 5 WHERE code = 'e'")
    assert err.value.sqlstate == "AD202"
    assert "its points follow its rarity" in err.value.diag.message_primary
    assert "points_by_rarity = false" in err.value.diag.message_hint
    db.execute(
        "UPDATE achievements.badges SET points = 5, points_by_rarity = false WHERE code = 'e'"
    )
    set_rarity(db, "epic", 200)
    assert points(db) == {"e": 5}
    # NULL points: back to the rarity's.
    db.execute("UPDATE achievements.badges SET points = NULL WHERE code = 'e'")
    assert db.execute("SELECT points, points_by_rarity FROM achievements.badges").fetchone() == (
        200,
        True,
    )


def test_rarity_points_are_checked(db):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO achievements.rarity_points VALUES ('mythic', 5)")
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO achievements.rarity_points VALUES ('rare', -1)")
