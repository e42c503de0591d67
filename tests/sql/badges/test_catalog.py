"""The badge catalog: good definitions are stored, bad ones refused with AD202 and a clear
message, and catalog changes (points, deletion) keep every holder's score exact."""

import uuid

import psycopg
import pytest

from support.badges import badges_of, check_counters, define_badge, define_level, score_of


def test_definitions_of_every_kind_are_stored(db):
    define_level(db, "fan", song=3)
    define_badge(
        db,
        "first_song",
        step="song",
        threshold=1,
        points=10,
        rarity="rare",
        icon="🎵",
        category="music",
        description="Your first song",
    )
    define_badge(db, "fan_badge", level="fan", points=5)
    define_badge(db, "sharer", client_grantable=True)
    define_badge(
        db,
        "winter",
        step="song",
        threshold=3,
        revocable=True,
        active_from="2026-12-01",
        active_until="2027-03-01",
    )
    rows = db.execute(
        "SELECT code, step, threshold, level, rarity, hidden, revocable"
        " FROM achievements.badges ORDER BY code"
    ).fetchall()
    assert rows == [
        ("fan_badge", None, None, "fan", "common", False, False),
        ("first_song", "song", 1, None, "rare", False, False),
        ("sharer", None, None, None, "common", False, False),
        ("winter", "song", 3, None, "common", False, True),
    ]


BAD_DEFINITIONS = [
    ({"step": "song", "threshold": 0}, "threshold must be at least 1 (got 0)"),
    ({"step": "song", "threshold": -3}, "threshold must be at least 1 (got -3)"),
    ({"level": "nope"}, "unknown level 'nope'"),
    (
        {"step": "song", "threshold": 1, "level": "fan"},
        "has both a step ('song') and a level ('fan')",
    ),
    ({"threshold": 5}, "has a threshold (5) but no step"),
    ({"step": "song"}, "has a step ('song') but no threshold"),
    ({"step": "", "threshold": 1}, "step must be a name of 1 to 200 characters"),
    ({"step": "s" * 201, "threshold": 1}, "step must be a name of 1 to 200 characters"),
    ({"rarity": "mythic"}, "unknown rarity 'mythic'"),
    ({"points": -1}, "points must be 0 or more (got -1)"),
    ({"name": ""}, "name must be a non-empty text"),
    ({"revocable": True}, "is revocable but has no step and threshold"),
    ({"level": "fan", "revocable": True}, "is revocable but has no step and threshold"),
    ({"active_from": "2026-12-01", "active_until": "2026-12-01"}, "active_until"),
    ({"active_from": "2026-12-01", "active_until": "2026-11-01"}, "must be later than active_from"),
]


@pytest.mark.parametrize(
    ("columns", "message"), BAD_DEFINITIONS, ids=[m for _, m in BAD_DEFINITIONS]
)
def test_bad_definition_is_refused(db, columns, message):
    define_level(db, "fan", song=3)
    with pytest.raises(psycopg.Error) as err:
        define_badge(db, "bad", **columns)
    assert err.value.sqlstate == "AD202"
    assert err.value.diag.message_primary.startswith("badge 'bad': ")
    assert message in err.value.diag.message_primary
    assert err.value.diag.message_hint
    assert db.execute("SELECT count(*) FROM achievements.badges").fetchone()[0] == 0


def test_bad_update_is_refused_and_changes_nothing(db):
    define_badge(db, "ten", step="song", threshold=10)
    with pytest.raises(psycopg.Error) as err:
        db.execute("UPDATE achievements.badges SET threshold = 0 WHERE code = 'ten'")
    assert err.value.sqlstate == "AD202"
    assert db.execute("SELECT threshold FROM achievements.badges").fetchone()[0] == 10


def test_check_constraints_hold_without_the_validation_trigger(db):
    """The CHECK constraints are the guarantee; the trigger only words the message."""
    db.execute("ALTER TABLE achievements.badges DISABLE TRIGGER _000_validate")
    for columns, constraint in [
        ({"step": "song", "threshold": 0}, "badges_threshold_positive"),
        ({"threshold": 1}, "badges_step_and_threshold_together"),
        ({"points": -1}, "badges_points_not_negative"),
        ({"rarity": "x"}, "badges_rarity_known"),
        ({"active_from": "2026-01-02", "active_until": "2026-01-01"}, "badges_window_order"),
        ({"level": "none"}, "badges_level_known"),
    ]:
        with pytest.raises(psycopg.Error) as err:
            define_badge(db, "bad", **{"points": 0, **columns})  # the trigger gives NULL points 0
        assert err.value.diag.constraint_name == constraint


def test_deleting_a_level_with_badges_is_refused(db):
    """ON DELETE RESTRICT: 23503 (foreign_key_violation) up to PostgreSQL 17, 23001
    (restrict_violation) from 18 on (README, "Errors")."""
    define_level(db, "fan", song=1)
    define_badge(db, "fan_badge", level="fan")
    expected = (
        psycopg.errors.RestrictViolation
        if db.info.server_version >= 180000
        else psycopg.errors.ForeignKeyViolation
    )
    with pytest.raises(expected) as refused:
        db.execute("DELETE FROM achievements.levels WHERE name = 'fan'")
    assert refused.value.diag.constraint_name == "badges_level_known"


def test_deleting_a_badge_takes_it_and_its_points_from_holders(db):
    define_badge(db, "a", points=10)
    define_badge(db, "b", points=3)
    users = [uuid.uuid4() for _ in range(3)]
    for u in users:
        db.execute(
            "SELECT achievements.award_badge(%s, 'a'), achievements.award_badge(%s, 'b')", (u, u)
        )
    db.execute("DELETE FROM achievements.badges WHERE code = 'a'")
    for u in users:
        assert badges_of(db, u) == ["b"]
        assert score_of(db, u) == (3, 1)
    check_counters(db)


def test_changing_points_rescores_every_holder(db):
    define_badge(db, "a", points=10)
    define_badge(db, "b", points=1)
    users = [uuid.uuid4() for _ in range(4)]
    for u in users:
        db.execute("SELECT achievements.award_badge(%s, 'a')", (u,))
    db.execute("SELECT achievements.award_badge(%s, 'b')", (users[0],))
    db.execute("UPDATE achievements.badges SET points = 25 WHERE code = 'a'")
    assert score_of(db, users[0]) == (26, 2)
    assert score_of(db, users[1]) == (25, 1)
    db.execute("UPDATE achievements.badges SET points = 0, code = 'a2' WHERE code = 'a'")
    assert score_of(db, users[0]) == (1, 2)
    assert badges_of(db, users[1]) == ["a2"]
    check_counters(db)
