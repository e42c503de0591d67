"""What track() refuses in its new arguments, with which error, changing nothing; and whose
rights the expressions run with."""

import psycopg
import pytest

from support.databases import APP_ROLE


@pytest.fixture
def songs(db):
    db.execute(
        "CREATE TABLE songs (id int PRIMARY KEY, owner uuid, status text, artist text, minutes int,"
        " title text)"
    )
    db.execute("CREATE TABLE nokey (id int, owner uuid, status text)")
    return db


def refused(db, call, params=()):
    with pytest.raises(psycopg.Error) as err:
        db.execute(call, params)
    return err.value


@pytest.mark.parametrize(
    ("arguments", "sqlstate", "fragment"),
    [
        ("mode => 'sum', user_column => 'owner'", "AD107", "mode sum needs a value"),
        ("mode => 'distinct', user_column => 'owner'", "AD107", "mode distinct needs a value"),
        ("mode => 'boolean', user_column => 'owner'", "AD107", "column_name is missing"),
        ("value => 'minutes', user_column => 'owner'", "AD107", "value is for the modes"),
        ("previous => 'status = ''wip'''", "AD107", "previous (the condition"),
        ("mode => 'toggle', condition => 'true'", "AD107", "needs a user column"),
        (
            "mode => 'toggle', user_column => 'owner', backfill => false",
            "AD107",
            "backfill must be true or false, and true for mode toggle",
        ),
        ("condition => 'true', depends_on => 'nokey'", "AD107", "depends_on is for gauges"),
        (
            "mode => 'toggle', user_column => 'owner', depends_on => 'songs'",
            "AD107",
            "depends_on must be another table",
        ),
        ("condition => 'stauts = ''released'''", "AD112", 'column "stauts" does not exist'),
        ("condition => 'minutes'", "AD112", "argument of IS TRUE must be type boolean"),
        (
            "mode => 'sum', value => 'title', user_column => 'owner'",
            "AD112",
            "integer_value(text) does not exist",
        ),
        ("condition => 'my_check(status)'", "AD112", "my_check(text) does not exist"),
        ("column_name => 'nope'", "AD102", "column nope does not exist"),
        ("user_column => 'nope'", "AD103", "user column nope does not exist"),
    ],
)
def test_bad_arguments_are_refused_and_change_nothing(songs, arguments, sqlstate, fragment):
    error = refused(songs, f"SELECT achievements.track('songs', 's', {arguments})")
    assert error.sqlstate == sqlstate, error.diag.message_primary
    assert fragment in error.diag.message_primary
    assert error.diag.message_hint
    assert songs.execute("SELECT count(*) FROM achievements.tracked_steps").fetchone()[0] == 0
    assert (
        songs.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'songs'::regclass AND NOT tgisinternal"
        ).fetchone()[0]
        == 0
    )


def test_an_invalid_expression_names_the_table_the_step_and_the_expression(songs):
    error = refused(
        songs,
        "SELECT achievements.track('songs', 'released', condition => 'stauts = ''released''')",
    )
    assert error.diag.message_primary == (
        "achievements.track() on table public.songs: the expressions of step 'released' are not"
        " valid for it: column \"stauts\" does not exist (condition 'stauts = ''released''')"
    )


def test_previous_needs_a_primary_key(songs):
    error = refused(
        songs,
        "SELECT achievements.track('nokey', 'done', condition => 'status = ''done''',"
        " previous => 'status = ''wip''')",
    )
    assert error.sqlstate == "AD107"
    assert "public.nokey has none" in error.diag.message_primary


def test_a_negative_value_fails_the_statement_with_ad113(songs):
    songs.execute(
        "SELECT achievements.track('songs', 'minutes', mode => 'sum', value => 'minutes',"
        " user_column => 'owner')"
    )
    error = refused(
        songs, "INSERT INTO songs (id, owner, minutes) VALUES (1, gen_random_uuid(), -3)"
    )
    assert error.sqlstate == "AD113"
    assert error.diag.message_primary == (
        "achievements.track(): step 'minutes' of table public.songs counts a value below 0 (-3)"
    )
    assert songs.execute("SELECT count(*) FROM songs").fetchone()[0] == 0


def test_a_second_track_with_other_expressions_is_refused(songs):
    songs.execute(
        "SELECT achievements.track('songs', 'released', condition => 'status = ''released''')"
    )
    error = refused(
        songs, "SELECT achievements.track('songs', 'released', condition => 'status = ''done''')"
    )
    assert error.sqlstate == "AD108"
    assert "condition 'status = ''released'''" in error.diag.message_primary
    assert (
        songs.execute(
            "SELECT achievements.track('songs', 'released', condition => 'status = ''released''')"
        ).fetchone()[0]
        is False
    )


@pytest.mark.committed
def test_expressions_run_with_the_table_owners_rights_only(db, connect):
    """The table belongs to a role that is not the package's owner: its condition sees that
    role as current_user, whoever writes the table, and cannot read what the package owner
    can. The generated functions belong to that role."""
    db.execute("DROP ROLE IF EXISTS song_owner")
    db.execute("CREATE ROLE song_owner NOLOGIN")
    db.execute("GRANT song_owner TO current_user")
    db.execute("CREATE TABLE songs (id int PRIMARY KEY, owner uuid, title text)")
    db.execute("ALTER TABLE songs OWNER TO song_owner")
    db.execute(f"GRANT INSERT ON songs TO {APP_ROLE}")
    db.execute(
        "SELECT achievements.track('songs', 'by_owner', user_column => 'owner',"
        " condition => 'current_user = ''song_owner''')"
    )
    owners = db.execute(
        "SELECT DISTINCT pg_get_userbyid(p.proowner) FROM pg_proc AS p"
        " WHERE p.pronamespace = 'achievements_tracking'::regnamespace AND p.proname ~ '^track_'"
    ).fetchall()
    assert owners == [("song_owner",)]
    writer = connect()
    writer.execute(f"SET ROLE {APP_ROLE}")
    writer.execute("INSERT INTO songs VALUES (1, '00000000-0000-0000-0000-000000000001', 'x')")
    assert db.execute(
        "SELECT count FROM achievements.user_achievements WHERE name = 'by_owner'"
    ).fetchone() == (1,)
    # The owner role cannot name the package's internals, nor count another table's steps.
    assert db.execute(
        "SELECT has_schema_privilege('song_owner', 'achievements_private', 'USAGE'),"
        "       has_schema_privilege('song_owner', 'achievements_tracking', 'CREATE')"
    ).fetchone() == (False, False)
    # An expression cannot read what only the package's owner can.
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT achievements.track('songs', 'peek', user_column => 'owner',"
            " condition => 'EXISTS (SELECT 1 FROM achievements_private.known_users)')"
        )
    assert err.value.sqlstate == "AD112"
    assert "permission denied for schema achievements_private" in err.value.diag.message_primary
    db.execute("CREATE TABLE other (id int)")
    db.execute("SELECT achievements.track('other', 'other_rows')")
    as_owner = connect()
    as_owner.execute("SET ROLE song_owner")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_owner.execute(
            "SELECT achievements_tracking.add('other', ARRAY['00000000-0000-0000-0000-000000000001']::achievements.user_ref[],"
            " ARRAY['other_rows'], ARRAY[100])"
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_owner.execute(
            "SELECT achievements_tracking.add('songs', ARRAY['00000000-0000-0000-0000-000000000001']::achievements.user_ref[],"
            " ARRAY['other_rows'], ARRAY[100])"
        )
    db.execute("SELECT achievements.untrack('songs', 'by_owner')")
    db.execute("DROP TABLE songs")
    db.execute("DROP OWNED BY song_owner")
    db.execute("DROP ROLE song_owner")


def test_the_user_may_be_an_expression_through_a_join(songs):
    """A step's user need not be a column of the rows: an expression over the row, here the
    song's owner for each collaboration, counted and recounted as a column would be."""
    songs.execute("CREATE TABLE collaborations (id int PRIMARY KEY, song_id int, user_id uuid)")
    owner = "(SELECT s.owner FROM public.songs AS s WHERE s.id = collaborations.song_id)"
    songs.execute(
        "SELECT achievements.track('collaborations', 'collaborators_added', user_column => %s)",
        (owner,),
    )
    songs.execute(
        "SELECT achievements.track('collaborations', 'collaborators', mode => 'toggle',"
        " user_column => %s)",
        (owner,),
    )
    alice, bob = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
    songs.execute("INSERT INTO songs (id, owner) VALUES (1, %s), (2, %s)", (alice, bob))
    songs.execute(
        "INSERT INTO collaborations VALUES (1, 1, %s), (2, 1, gen_random_uuid()), (3, 2, %s)",
        (bob, alice),
    )
    songs.execute("DELETE FROM collaborations WHERE id = 2")
    tallies = {
        (str(u), n): c
        for u, n, c in songs.execute(
            "SELECT user_id, name, count FROM achievements.user_achievements"
        ).fetchall()
    }
    assert tallies == {
        (alice, "collaborators_added"): 2,
        (alice, "collaborators"): 1,
        (bob, "collaborators_added"): 1,
        (bob, "collaborators"): 1,
    }


@pytest.mark.parametrize(
    ("user_column", "sqlstate", "fragment"),
    [
        ("ownr", "AD103", "user column ownr does not exist"),
        ("(SELECT nope FROM public.songs)", "AD112", 'column "nope" does not exist'),
    ],
)
def test_a_user_column_that_is_no_column_is_an_expression_checked_with_the_others(
    songs, user_column, sqlstate, fragment
):
    error = refused(
        songs, "SELECT achievements.track('songs', 's', user_column => %s)", (user_column,)
    )
    assert error.sqlstate == sqlstate
    assert fragment in error.diag.message_primary


def test_a_hand_wired_trigger_takes_a_column_not_an_expression(songs):
    songs.execute(
        "CREATE TRIGGER t AFTER INSERT ON songs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
        " EXECUTE FUNCTION achievements.tg_achievement('title', 'titled', '(SELECT 1)')"
    )
    error = refused(songs, "INSERT INTO songs (id, title) VALUES (1, 'x')")
    assert error.sqlstate == "AD103"
