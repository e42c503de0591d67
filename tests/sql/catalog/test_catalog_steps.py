"""The [steps] of a catalog: steps tracked from the application's tables by the same document
that declares levels and badges, with the same validation, idempotence and dry run."""

import json
import uuid

import psycopg
import pytest

ALICE, BOB = uuid.UUID(int=1), uuid.UUID(int=2)

CATALOG = {
    "levels": {"star": {"requirements": {"released": 2, "artists": 2}}},
    "badges": {
        "first_release": {"name": "First release", "step": "released", "threshold": 1},
        "completer": {"name": "Completer", "step": "completed", "threshold": 1},
    },
    "steps": {
        "released": {"table": "songs", "user_column": "owner", "condition": "status = 'released'"},
        "completed": {
            "table": "songs",
            "user_column": "owner",
            "condition": "status = 'released'",
            "previous": "status = 'wip'",
        },
        "artists": {
            "table": "public.songs",
            "user_column": "owner",
            "mode": "distinct",
            "value": "lower(artist)",
            "condition": "status = 'released'",
        },
    },
}


@pytest.fixture
def songs(db):
    db.execute("CREATE TABLE songs (id int PRIMARY KEY, owner uuid, status text, artist text)")
    return db


def apply(db, catalog, dry_run=False):
    return db.execute(
        "SELECT object, name, action, detail FROM achievements.apply_catalog(%s, %s)",
        (json.dumps(catalog), dry_run),
    ).fetchall()


def tracked(db):
    return db.execute(
        "SELECT tbl::text, step, mode, condition, previous, value FROM achievements.tracked()"
    ).fetchall()


def tallies(db):
    return dict(
        ((u, n), c)
        for u, n, c in db.execute(
            "SELECT user_id, name, count FROM achievements.user_achievements WHERE count <> 0"
        ).fetchall()
    )


def test_steps_are_tracked_last_so_adopting_rows_awards_the_same_document(songs):
    songs.execute(
        "INSERT INTO songs VALUES (1, %s, 'released', 'Abba'), (2, %s, 'released', 'Blur'),"
        " (3, %s, 'wip', 'Cher')",
        (ALICE, ALICE, BOB),
    )
    changes = apply(songs, CATALOG)
    assert [(o, n, a) for o, n, a, _ in changes][-3:] == [
        ("step", "artists", "create"),
        ("step", "completed", "create"),
        ("step", "released", "create"),
    ]
    assert changes[-1][3] == "table public.songs, mode count, condition status = 'released'"
    assert tallies(songs) == {(ALICE, "released"): 2, (ALICE, "artists"): 2}
    assert songs.execute("SELECT user_id, badge FROM achievements.user_badges").fetchall() == [
        (ALICE, "first_release")
    ]
    assert songs.execute("SELECT user_id, level FROM achievements.user_levels").fetchall() == [
        (ALICE, "star")
    ]
    assert songs.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 0
    # Idempotent; and the steps count from now on.
    assert apply(songs, CATALOG) == []
    songs.execute("UPDATE songs SET status = 'released' WHERE id = 3")
    assert tallies(songs)[(BOB, "completed")] == 1


def test_a_changed_step_is_tracked_again_and_keeps_its_tallies(songs):
    apply(songs, CATALOG)
    songs.execute("INSERT INTO songs VALUES (1, %s, 'released', 'Abba')", (ALICE,))
    changed = json.loads(json.dumps(CATALOG))
    changed["steps"]["released"]["condition"] = "status IN ('released', 'live')"
    assert apply(songs, changed) == [
        (
            "step",
            "released",
            "update",
            "condition: status = 'released' -> status IN ('released', 'live')",
        )
    ]
    assert ("songs", "released", "count", "status IN ('released', 'live')", None, None) in (
        tracked(songs)
    )
    assert tallies(songs)[(ALICE, "released")] == 1
    songs.execute("INSERT INTO songs VALUES (2, %s, 'live', 'Blur')", (ALICE,))
    assert tallies(songs)[(ALICE, "released")] == 2


def test_a_dry_run_tracks_nothing(songs):
    before = tracked(songs)
    changes = apply(songs, CATALOG, dry_run=True)
    assert ("step", "released", "create") in [(o, n, a) for o, n, a, _ in changes]
    assert not [c for c in changes if c[2] == "warning"]  # the document tracks its own steps
    assert tracked(songs) == before
    assert (
        songs.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'songs'::regclass AND NOT tgisinternal"
        ).fetchone()[0]
        == 0
    )


def test_every_problem_of_the_steps_is_listed_and_nothing_changes(songs):
    bad = {
        "badges": {"b": {"name": "B", "step": "released", "threshold": 1}},
        "steps": {
            "released": {"table": "songs", "user_column": "owner", "condition": "stauts = 'x'"},
            "minutes": {"table": "songs", "mode": "sum"},
            "gone": {"table": "songs", "user_column": "nope"},
        },
    }
    with pytest.raises(psycopg.Error) as err:
        apply(songs, bad)
    assert err.value.sqlstate == "AD207"
    detail = err.value.diag.message_detail.splitlines()
    assert [line.split(":")[0] for line in detail] == [
        "steps.gone",
        "steps.minutes",
        "steps.released",
    ]
    assert 'column "stauts" does not exist' in detail[2]
    assert tracked(songs) == []
    assert songs.execute("SELECT count(*) FROM achievements.badges").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"user_column": "owner"}, "steps.s.table: missing"),
        ({"table": "nosuch"}, 'steps.s.table: no table "nosuch"'),
        (
            {"table": "songs", "backfill": "no"},
            'steps.s.backfill: expected true or false, got "no"',
        ),
        ({"table": "songs", "colour": "red"}, "steps.s.colour: unknown key"),
        ({"table": "songs", "mode": 3}, "steps.s.mode: expected a string, got 3"),
    ],
)
def test_the_shape_of_a_step_is_checked_first(songs, step, problem):
    with pytest.raises(psycopg.Error) as err:
        apply(songs, {"steps": {"s": step}})
    assert err.value.sqlstate == "AD207"
    assert err.value.diag.message_detail.startswith(problem)


@pytest.mark.committed
def test_a_role_that_does_not_own_the_table_cannot_track_it_through_the_catalog(db, connect):
    from support.databases import SERVICE_ROLE

    db.execute("CREATE TABLE songs (id int PRIMARY KEY, owner uuid, status text, artist text)")
    service = connect()
    service.execute(f"SET ROLE {SERVICE_ROLE}")
    with pytest.raises(psycopg.Error) as err:
        apply(service, {"steps": {"released": {"table": "songs", "user_column": "owner"}}})
    assert err.value.sqlstate == "AD207"
    assert "only the owner of table public.songs" in err.value.diag.message_detail
    assert tracked(db) == []
