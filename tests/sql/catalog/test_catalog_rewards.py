"""The catalog's rewards (issue 16): rarity points, notification templates, leaderboards,
levels from points and badges about badges, applied like the rest: validated first, idempotent,
every change reported, the same in a dry run."""

import json
import uuid

import psycopg
import pytest

CATALOG = {
    "rarity_points": {"common": 10, "uncommon": 25, "rare": 50, "epic": 100, "legendary": 250},
    "notifications": {
        "badge": {"title": "You earned {name}!", "link": "/achievements"},
        "badge_revoked": {"title": "{name} was taken back"},
    },
    "leaderboards": {"song": {"periods": ["week", "month"]}},
    "levels": {
        "bronze": {"min_points": 20, "link": "/levels/{level}"},
        "pro": {
            "min_points": 100,
            "requirements": {"song": 2},
            "notification_title": "Pro at last",
        },
    },
    "badges": {
        "first": {"name": "First", "step": "song", "threshold": 1, "category": "milestone"},
        "second": {"name": "Second", "step": "song", "threshold": 2, "category": "milestone"},
        "sharer": {"name": "Sharer", "client_grantable": True, "points": 5},
        "milestones": {
            "name": "Every milestone",
            "all_badges": True,
            "badge_category": "milestone",
            "rarity": "epic",
        },
        "legend": {"name": "Legendary", "all_badges": True, "rarity": "legendary"},
        "three": {"name": "Three badges", "min_badges": 3, "rarity": "rare"},
        "points": {"name": "25 points", "min_points": 25, "rarity": "uncommon", "revocable": True},
    },
}


def apply(db, catalog, dry_run=False):
    return db.execute(
        "SELECT object, name, action, detail FROM achievements.apply_catalog(%s::jsonb, %s)",
        (json.dumps(catalog), dry_run),
    ).fetchall()


def test_a_catalog_of_rewards_applies_once_and_works(db):
    dry = apply(db, CATALOG, dry_run=True)
    done = apply(db, CATALOG)
    assert [r for r in dry if r[2] != "warning"] == done
    assert ("step", "song", "warning") in [r[:3] for r in dry]  # nothing records song yet
    assert ("rarity", "legendary", "update", "points: 0 -> 250") in done
    assert ("leaderboard", "song/week", "create", "time zone UTC") in done
    assert ("level", "bronze", "create", "min_points 20") in done
    assert ("badge", "legend", "create", "all badges, 250 points") in done
    assert ("badge", "milestones", "create", "all badges of milestone, 100 points") in done
    assert ("badge", "three", "create", "3 badges, 50 points") in done
    assert (
        "notification",
        "badge",
        "update",
        'title: "Badge earned: {name}" -> "You earned {name}!"; link: null -> "/achievements"',
    ) in done
    assert apply(db, CATALOG) == []
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'song', 2)", (user,))
    held = {
        r[0]
        for r in db.execute(
            "SELECT badge FROM achievements.user_badges WHERE user_id = %s", (user,)
        )
    }
    # first, second (20): milestones, legend (all, without sharer? no: sharer is a badge too).
    assert held == {"first", "second", "milestones"}
    db.execute("SELECT achievements.award_badge(%s, 'sharer')", (user,))
    held = {
        r[0]
        for r in db.execute(
            "SELECT badge FROM achievements.user_badges WHERE user_id = %s", (user,)
        )
    }
    assert held == {"first", "second", "milestones", "sharer", "legend", "three", "points"}
    levels = {
        r[0]
        for r in db.execute(
            "SELECT level FROM achievements.user_levels WHERE user_id = %s", (user,)
        )
    }
    assert levels == {"bronze", "pro"}
    titles = [
        r[0]
        for r in db.execute(
            "SELECT title FROM achievements.notifications WHERE user_id = %s ORDER BY id", (user,)
        )
    ]
    assert "You earned Legendary!" in titles and "Pro at last" in titles
    assert "Level reached: bronze" in titles
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.step_leaderboard('song', 'month')"
        ).fetchone()[0]
        == 1
    )
    # Re-pricing a rarity moves the badges declared without points.
    changes = apply(db, {**CATALOG, "rarity_points": {**CATALOG["rarity_points"], "common": 15}})
    assert changes == [("rarity", "common", "update", "points: 10 -> 15")]
    assert (
        db.execute("SELECT points FROM achievements.badges WHERE code = 'first'").fetchone()[0]
        == 15
    )
    # Declarative: a leaderboard step gets exactly the periods listed.
    changes = apply(db, {"leaderboards": {"song": {"periods": ["day"]}}})
    assert changes == [
        ("leaderboard", "song/day", "create", "time zone UTC"),
        ("leaderboard", "song/week", "delete", "time zone UTC"),
        ("leaderboard", "song/month", "delete", "time zone UTC"),
    ]


def test_the_dry_run_warns_of_leaderboards_of_steps_nothing_counts(db):
    rows = apply(db, {"leaderboards": {"sogn": {"periods": ["week"]}}}, dry_run=True)
    assert ("step", "sogn", "warning") in [r[:3] for r in rows]


def test_every_problem_of_the_new_sections_is_listed_at_once(db):
    bad = {
        "rarity_points": {"common": -1, "mythic": 5},
        "notifications": {"badge": {"title": "{level}", "colour": "red"}, "toast": {}},
        "leaderboards": {"song": {"periods": ["year"], "time_zone": "Mars/Olympus"}, "x": {}},
        "levels": {"gold": {"min_points": "lots"}, "silver": {"min_points": 0}},
        "badges": {
            "b": {"name": "B", "min_badges": "two", "all_badges": "yes"},
            "c": {"name": "C", "min_badges": 2, "min_points": 3},
        },
    }
    with pytest.raises(psycopg.Error) as err:
        apply(db, bad)
    assert err.value.sqlstate == "AD207"
    detail = err.value.diag.message_detail.splitlines()
    for line in [
        "rarity_points.common: expected a whole number of 0 or more, got -1",
        "rarity_points.mythic: unknown rarity (expected common, uncommon, rare, epic or legendary)",
        "notifications.badge.colour: unknown key (expected title, body, link)",
        "notifications.toast: unknown kind (expected badge, level or badge_revoked)",
        'leaderboards.song.periods: expected a list of distinct periods among "day", "week", "month", "all", got ["year"]',
        'leaderboards.song.time_zone: unknown time zone "Mars/Olympus"',
        'leaderboards.x.periods: expected a list of distinct periods among "day", "week", "month", "all", got nothing',
        'levels.gold.min_points: expected a whole number, got "lots"',
        'badges.b.min_badges: expected a whole number, got "two"',
        'badges.b.all_badges: expected true or false, got "yes"',
    ]:
        assert line in detail, line
    assert any(
        line.startswith("notifications.badge.title: unknown placeholder {level}") for line in detail
    )
    # Definition errors surface only once the shape is right: levels and badges alike.
    with pytest.raises(psycopg.Error) as err:
        apply(
            db,
            {
                "levels": bad["levels"] | {"gold": {"min_points": 5}},
                "badges": {"c": bad["badges"]["c"]},
            },
        )
    detail = err.value.diag.message_detail.splitlines()
    assert "levels.silver: level 'silver': min_points must be at least 1 (got 0)" in detail
    assert "badges.c: badge 'c': has more than one criterion (min_badges, min_points)" in detail
    assert db.execute("SELECT count(*) FROM achievements.levels").fetchone()[0] == 0
