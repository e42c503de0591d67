"""apply_catalog: creates, updates and reports; idempotent; dry run; refuses a bad document
with every problem listed and nothing changed."""

import json
import uuid

import psycopg
import pytest

CATALOG = {
    "levels": {
        "rookie": {"description": "Started", "requirements": {"song": 1}},
        "fan": {
            "requirements": [
                {"step": "song", "count": 10, "priority": 1},
                {"step": "video", "count": 2},
            ]
        },
    },
    "badges": {
        "first_song": {
            "name": "First song",
            "step": "song",
            "threshold": 1,
            "points": 10,
            "icon": "🎵",
            "category": "music",
        },
        "fan_badge": {"name": "Fan", "level": "fan", "points": 50, "rarity": "epic"},
        "sharer": {"name": "Sharer", "client_grantable": True},
        "winter": {
            "name": "Winter",
            "step": "song",
            "threshold": 5,
            "active_from": "2026-12-01T00:00:00+00:00",
            "active_until": "2027-03-01",
        },
    },
}


def apply(db, catalog, dry_run=False):
    return db.execute(
        "SELECT object, name, action, detail FROM achievements.apply_catalog(%s, %s)",
        (json.dumps(catalog), dry_run),
    ).fetchall()


def snapshot(db):
    return (
        db.execute("SELECT * FROM achievements.levels ORDER BY name").fetchall(),
        db.execute(
            "SELECT level, name, required_count, priority FROM achievements.level_requirements"
            " ORDER BY 1, 2"
        ).fetchall(),
        db.execute("SELECT * FROM achievements.badges ORDER BY code").fetchall(),
    )


def test_apply_creates_everything_then_is_idempotent(db):
    changes = apply(db, CATALOG)
    assert [(o, n, a) for o, n, a, _ in changes] == [
        ("level", "fan", "create"),
        ("requirement", "fan/song", "create"),
        ("requirement", "fan/video", "create"),
        ("level", "rookie", "create"),
        ("requirement", "rookie/song", "create"),
        ("badge", "fan_badge", "create"),
        ("badge", "first_song", "create"),
        ("badge", "sharer", "create"),
        ("badge", "winter", "create"),
    ]
    assert changes[1][3] == "required_count 10, priority 1"
    assert changes[6][3] == "step song >= 1, 10 points"
    assert db.execute(
        "SELECT level, name, required_count, priority FROM achievements.level_requirements"
        " ORDER BY 1, 2"
    ).fetchall() == [("fan", "song", 10, 1), ("fan", "video", 2, 100), ("rookie", "song", 1, 100)]
    assert db.execute(
        "SELECT icon, points FROM achievements.badges WHERE code = 'first_song'"
    ).fetchone() == ("🎵", 10)
    assert apply(db, CATALOG) == []


def test_apply_updates_and_deletes_requirements_and_reports_each_field(db):
    apply(db, CATALOG)
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    changed = json.loads(json.dumps(CATALOG))
    changed["levels"]["fan"]["requirements"] = {"song": 20}
    changed["levels"]["rookie"]["description"] = "Just started"
    changed["badges"]["first_song"]["points"] = 15
    del changed["badges"]["first_song"]["icon"]
    changes = apply(db, changed)
    assert changes == [
        ("requirement", "fan/song", "update", "required_count: 10 -> 20; priority: 1 -> 100"),
        ("requirement", "fan/video", "delete", "required_count 2"),
        ("level", "rookie", "update", 'description: "Started" -> "Just started"'),
        ("badge", "first_song", "update", 'icon: "🎵" -> null; points: 10 -> 15'),
    ]
    # Points follow a catalog change.
    assert db.execute("SELECT achievements.user_points(%s)", (user,)).fetchone()[0] == 15
    assert apply(db, changed) == []


def test_dry_run_reports_and_changes_nothing(db):
    before = snapshot(db)
    changes = apply(db, CATALOG, dry_run=True)
    warnings = [c for c in changes if c[2] == "warning"]
    assert len(changes) - len(warnings) == 9
    assert snapshot(db) == before
    assert apply(db, CATALOG) == [c for c in changes if c[2] != "warning"]


def test_a_dry_run_warns_of_steps_nothing_counts(db):
    """A misspelt step never awards: the dry run names every step of the document that no
    track() counts and no tally has yet (the real run does not repeat it)."""
    db.execute("SELECT achievements.record_step(%s, 'song')", (uuid.uuid4(),))
    changes = apply(db, CATALOG, dry_run=True)
    assert [(o, n, a) for o, n, a, _ in changes if a == "warning"] == [("step", "video", "warning")]
    assert "check its spelling" in [d for *_, a, d in changes if a == "warning"][0]


def test_a_null_dry_run_is_refused_not_applied(db):
    """Before, dry_run => NULL applied the catalog for real: NULL must not mean yes."""
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as err:
        apply(db, CATALOG, dry_run=None)
    assert err.value.sqlstate == "AD207"
    assert "dry_run" in err.value.diag.message_primary
    assert err.value.diag.message_hint
    assert snapshot(db) == before


def test_step_names_of_more_than_200_characters_are_listed_with_the_other_problems(db):
    before = snapshot(db)
    long = "s" * 201
    bad = {
        "levels": {
            "fan": {"requirements": {long: 1}},
            "pro": {"requirements": [{"step": long, "count": 1}]},
        },
    }
    with pytest.raises(psycopg.Error) as err:
        apply(db, bad)
    assert err.value.sqlstate == "AD207"
    assert err.value.diag.message_detail.splitlines() == [
        f"levels.fan.requirements: a step name must be 1 to 200 characters, got '{'s' * 60}'...",
        "levels.pro.requirements[1].step: expected a step name of 1 to 200 characters",
    ]
    with pytest.raises(psycopg.Error) as err:
        apply(db, {"badges": {"b": {"name": "B", "step": long, "threshold": 1}}})
    assert err.value.diag.message_detail.splitlines() == [
        "badges.b: badge 'b': step must be a name of 1 to 200 characters",
    ]
    assert snapshot(db) == before


def test_a_bad_catalog_is_refused_with_every_problem_and_changes_nothing(db):
    apply(db, {"badges": {"keep": {"name": "Keep", "points": 1}}})
    before = snapshot(db)
    bad = {
        "levels": {"fan": {"requirements": {"song": 0}, "colour": "red"}},
        "badges": {
            "typo": {"name": "Typo", "treshold": 3},
            "words": {"name": "Words", "points": "ten", "hidden": "yes"},
            "nameless": {"points": 1},
            "keep": {"name": "Keep", "points": 2},
        },
        "extra": {},
    }
    with pytest.raises(psycopg.Error) as err:
        apply(db, bad)
    assert err.value.sqlstate == "AD207"
    assert err.value.diag.message_primary == "the catalog has 7 error(s); nothing was changed"
    assert err.value.diag.message_detail.splitlines() == [
        "extra: unknown section (expected levels, badges, steps, rarity_points, notifications or leaderboards)",
        "levels.fan.colour: unknown key (expected description, requirements, min_points, link,"
        " notification_title, notification_body)",
        "levels.fan.requirements.song: expected a whole number of at least 1, got 0",
        "badges.nameless.name: missing (the name users see)",
        "badges.typo.treshold: unknown key (expected one of name, description, icon, category,"
        " points, rarity, hidden, step, threshold, level, client_grantable, revocable,"
        " active_from, active_until, min_badges, all_badges, badge_category, min_points, link,"
        " notification_title, notification_body)",
        'badges.words.hidden: expected true or false, got "yes"',
        'badges.words.points: expected a whole number, got "ten"',
    ]
    assert snapshot(db) == before


def test_definition_errors_are_collected_from_every_badge(db):
    before = snapshot(db)
    bad = {
        "levels": {"fan": {"requirements": {"song": 3}}},
        "badges": {
            "a_zero": {"name": "Zero", "step": "song", "threshold": 0},
            "b_both": {"name": "Both", "step": "song", "threshold": 1, "level": "fan"},
            "c_level": {"name": "Unknown level", "level": "nope"},
            "d_window": {
                "name": "Window",
                "active_from": "2027-01-01",
                "active_until": "2026-01-01",
            },
            "e_ok": {"name": "Fine", "level": "fan"},
        },
    }
    with pytest.raises(psycopg.Error) as err:
        apply(db, bad)
    assert err.value.sqlstate == "AD207"
    detail = err.value.diag.message_detail.splitlines()
    assert len(detail) == 4
    assert detail[0] == "badges.a_zero: badge 'a_zero': threshold must be at least 1 (got 0)"
    assert detail[1].startswith("badges.b_both: badge 'b_both': has both a step")
    assert detail[2] == "badges.c_level: badge 'c_level': unknown level 'nope'"
    assert detail[3].startswith("badges.d_window: badge 'd_window': active_until")
    assert snapshot(db) == before


def test_not_a_table(db):
    with pytest.raises(psycopg.Error) as err:
        apply(db, ["badges"])
    assert err.value.sqlstate == "AD207"
