"""Levels from points (issue 16, seed 004's "convert points to user levels"): a level may
require min_points (the user's points) besides its steps; it is awarded with its timestamp
and a notification the moment the last requirement is met, whichever it is, and the progress
reads say it in terms a UI prints ("1,200 / 2,000 points")."""

import uuid

import psycopg
import pytest

from support.badges import define_badge, notifications_of
from support.races import blocked_call


def level(db, name, min_points=None, **requirements):
    db.execute(
        "INSERT INTO achievements.levels (name, min_points) VALUES (%s, %s)", (name, min_points)
    )
    for step, count in requirements.items():
        db.execute(
            "INSERT INTO achievements.level_requirements (level, name, required_count)"
            " VALUES (%s, %s, %s)",
            (name, step, count),
        )


def levels_of(db, user):
    return [
        r[0]
        for r in db.execute(
            "SELECT level FROM achievements.user_levels WHERE user_id = %s ORDER BY level", (user,)
        )
    ]


def award(db, user, code):
    db.execute("SELECT achievements.award_badge(%s, %s)", (user, code))


def test_a_level_of_points_alone_comes_with_the_badge_that_reaches_it(db):
    level(db, "bronze", 100)
    level(db, "silver", 150)
    define_badge(db, "big", points=120)
    define_badge(db, "bronze_badge", level="bronze", points=40)  # bronze's own badge: 160
    user = uuid.uuid4()
    award(db, user, "big")
    # 120 points reach bronze; its badge's 40 then reach silver: a chain, in one statement.
    assert levels_of(db, user) == ["bronze", "silver"]
    assert db.execute("SELECT achievements.user_points(%s)", (user,)).fetchone()[0] == 160
    assert notifications_of(db, user) == [
        ("badge", "big"),
        ("level", "bronze"),
        ("badge", "bronze_badge"),
        ("level", "silver"),
    ]
    achieved = db.execute(
        "SELECT achieved_at = now() FROM achievements.user_levels WHERE user_id = %s", (user,)
    ).fetchall()
    assert achieved == [(True,), (True,)]


@pytest.mark.parametrize("last", ["points", "steps"])
def test_a_level_of_steps_and_points_comes_with_whichever_is_met_last(db, last):
    level(db, "pro", 50, song=3)
    define_badge(db, "gift", points=60)
    user = uuid.uuid4()
    if last == "points":
        db.execute("SELECT achievements.record_step(%s, 'song', 3)", (user,))
        assert levels_of(db, user) == []
        award(db, user, "gift")
    else:
        award(db, user, "gift")
        db.execute("SELECT achievements.record_step(%s, 'song', 2)", (user,))
        assert levels_of(db, user) == []
        db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert levels_of(db, user) == ["pro"]
    assert notifications_of(db, user).count(("level", "pro")) == 1


def test_levels_are_kept_when_points_fall(db):
    level(db, "bronze", 10)
    define_badge(db, "a", points=10)
    user = uuid.uuid4()
    award(db, user, "a")
    db.execute("SELECT achievements.revoke_badge(%s, 'a')", (user,))
    assert levels_of(db, user) == ["bronze"]
    award(db, user, "a")  # crossing again: nothing new, once
    assert notifications_of(db, user).count(("level", "bronze")) == 1


def test_progress_reads_speak_in_points(db):
    level(db, "gold", 2000, song=50)
    level(db, "bronze", 100)
    define_badge(db, "a", points=1200)
    user = uuid.uuid4()
    award(db, user, "a")
    db.execute("SELECT achievements.record_step(%s, 'song', 12)", (user,))
    required = db.execute(
        "SELECT id IS NULL, name, level, required_count, priority"
        "  FROM achievements.steps_required('gold', %s)",
        (user,),
    ).fetchall()
    assert required == [(True, "points", "gold", 800, 0), (False, "song", "gold", 38, 100)]
    assert (
        db.execute("SELECT achievements.user_achieved('gold', %s)", (user,)).fetchone()[0] is False
    )
    assert (
        db.execute("SELECT achievements.user_achieved('bronze', %s)", (user,)).fetchone()[0] is True
    )
    rows = db.execute(
        "SELECT level, requirement, kind, current, target, achieved_at IS NOT NULL"
        "  FROM achievements.level_progress(%s)",
        (user,),
    ).fetchall()
    assert rows == [
        ("bronze", "points", "points", 100, 100, True),
        ("gold", "points", "points", 1200, 2000, False),
        ("gold", "song", "step", 12, 50, False),
    ]
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.level_progress(%s, 'gold')", (user,)
        ).fetchone()[0]
        == 2
    )
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT * FROM achievements.level_progress(%s, 'nope')", (user,))
    assert err.value.sqlstate == "AD001"


def test_backfill_levels_awards_levels_of_points(db):
    define_badge(db, "a", points=100)
    user, poor = uuid.uuid4(), uuid.uuid4()
    award(db, user, "a")
    db.execute("SELECT achievements.record_step(%s, 'song')", (poor,))
    level(db, "bronze", 100)
    level(db, "mixed", 50, song=1)
    assert levels_of(db, user) == []
    assert db.execute("SELECT achievements.backfill_levels()").fetchone()[0] == 1
    assert levels_of(db, user) == ["bronze"]
    assert levels_of(db, poor) == []
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert levels_of(db, user) == ["bronze", "mixed"]


def test_bad_level_definitions_are_refused_with_ad209(db):
    for sql, message in [
        (
            "INSERT INTO achievements.levels (name, min_points) VALUES ('x', 0)",
            "min_points must be at least 1 (got 0)",
        ),
        (
            "INSERT INTO achievements.levels (name, link) VALUES ('x', '/l/{badge}')",
            "link: unknown placeholder {badge}",
        ),
    ]:
        with pytest.raises(psycopg.Error) as err:
            db.execute(sql)
        assert err.value.sqlstate == "AD209"
        assert message in err.value.diag.message_primary
        assert err.value.diag.message_hint
    assert db.execute("SELECT count(*) FROM achievements.levels").fetchone()[0] == 0


def test_points_and_the_last_step_arriving_in_two_sessions_award_the_level_once(db, connect):
    """One session completes the steps, the other brings the points: whichever commits second
    (it waited for the first's user lock) sees both and awards the level, once."""
    level(db, "pro", 50, song=1)
    define_badge(db, "gift", points=60)
    user = uuid.uuid4()
    first, second = connect(autocommit=False), connect(autocommit=False)
    first.execute("SELECT achievements.award_badge(%s, 'gift')", (user,))
    waiting = blocked_call(
        db,
        second,
        lambda conn: (
            conn.execute("SELECT achievements.record_step(%s, 'song')", (user,)),
            conn.commit(),
        ),
    )
    first.commit()
    waiting.result()
    assert levels_of(db, user) == ["pro"]
    assert notifications_of(db, user).count(("level", "pro")) == 1
