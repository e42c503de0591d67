"""Misuse of the tracking trigger functions and of track(): a stable SQLSTATE, a message that
names the trigger (or track()) and the table, a hint with the fix, and nothing changed."""

import psycopg
import pytest

from support.databases import APP_ROLE
from support.tracking import tallies, users


@pytest.fixture
def host(db):
    db.execute(
        "CREATE TABLE items (id int PRIMARY KEY, user_id uuid, val text, flag boolean,"
        " owner_flag boolean)"
    )
    return db


def primary(error):
    return error.diag.message_primary


def fails(db, statement, params=()):
    with pytest.raises(psycopg.Error) as info:
        db.execute(statement, params)
    return info.value


def assert_nothing_counted(db):
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM achievements.user_steps").fetchone()[0] == 0
    assert tallies(db) == {}


def insert_one(db):
    return fails(db, "INSERT INTO items VALUES (1, %s, 'x', true, true)", (users(1)[0],))


@pytest.mark.parametrize("level", ["ROW", "STATEMENT"])
@pytest.mark.parametrize("args", ["'val'", "'val', 's', 'user_id', 'extra'", ""])
def test_wrong_argument_count(host, level, args):
    referencing = "REFERENCING NEW TABLE AS new_rows" if level == "STATEMENT" else ""
    host.execute(
        f"CREATE TRIGGER bad_args AFTER INSERT ON items {referencing}"
        f" FOR EACH {level} EXECUTE FUNCTION achievements.tg_achievement({args})"
    )
    error = insert_one(host)
    assert error.sqlstate == "AD101"
    assert "trigger bad_args on table public.items" in primary(error)
    assert "takes 2 or 3 arguments (column, step [, user_column])" in primary(error)
    assert "achievements.tg_achievement('column', 'step')" in error.diag.message_hint
    assert_nothing_counted(host)


def test_empty_step(host):
    host.execute(
        "CREATE TRIGGER no_step AFTER INSERT ON items FOR EACH ROW"
        " EXECUTE FUNCTION achievements.tg_achievement('val', '', 'user_id')"
    )
    error = insert_one(host)
    assert error.sqlstate == "AD101"
    assert "trigger no_step on table public.items: the step (second argument" in primary(error)
    assert_nothing_counted(host)


@pytest.mark.parametrize("level", ["ROW", "STATEMENT"])
def test_watched_column_missing(host, level):
    referencing = "REFERENCING NEW TABLE AS new_rows" if level == "STATEMENT" else ""
    host.execute(
        f"CREATE TRIGGER typo AFTER INSERT ON items {referencing} FOR EACH {level}"
        " EXECUTE FUNCTION achievements.tg_achievement_toggle('vall', 's', 'user_id')"
    )
    error = insert_one(host)
    assert error.sqlstate == "AD102"
    assert primary(error) == (
        "trigger typo on table public.items: column vall does not exist in table public.items"
    )
    assert error.diag.message_hint == (
        "The first argument is the watched column; table public.items has: id, user_id, val, flag,"
        " owner_flag."
    )
    assert_nothing_counted(host)


@pytest.mark.parametrize("level", ["ROW", "STATEMENT"])
def test_user_column_missing(host, level):
    referencing = "REFERENCING NEW TABLE AS new_rows" if level == "STATEMENT" else ""
    host.execute(
        f"CREATE TRIGGER who AFTER INSERT ON items {referencing} FOR EACH {level}"
        " EXECUTE FUNCTION achievements.tg_achievement('val', 's', 'author_id')"
    )
    error = insert_one(host)
    assert error.sqlstate == "AD103"
    assert primary(error) == (
        "trigger who on table public.items:"
        " user column author_id does not exist in table public.items"
    )
    assert "Leave it out to count for achievements.current_user_id()" in error.diag.message_hint
    assert_nothing_counted(host)


@pytest.mark.parametrize("function", ["tg_achievement_boolean", "tg_achievement_toggle_boolean"])
def test_boolean_mode_on_a_text_column(host, function):
    host.execute(
        f"CREATE TRIGGER not_bool AFTER INSERT ON items FOR EACH ROW"
        f" EXECUTE FUNCTION achievements.{function}('val', 's', 'user_id')"
    )
    error = insert_one(host)
    assert error.sqlstate == "AD104"
    assert primary(error) == (
        f"trigger not_bool on table public.items: achievements.{function}()"
        " watches a boolean column, but val is text"
    )
    assert "tg_achievement / tg_achievement_toggle" in error.diag.message_hint
    assert_nothing_counted(host)


def test_user_column_of_a_type_that_cannot_hold_a_user_id(host):
    host.execute(
        "CREATE TRIGGER bad_user AFTER INSERT ON items FOR EACH ROW"
        " EXECUTE FUNCTION achievements.tg_achievement('val', 's', 'owner_flag')"
    )
    error = insert_one(host)
    assert error.sqlstate == "AD104"
    assert primary(error) == (
        "trigger bad_user on table public.items: user column owner_flag"
        " is boolean, which cannot hold a user id of type uuid"
    )
    assert_nothing_counted(host)


@pytest.mark.parametrize(
    ("event", "referencing", "needed"),
    [
        ("INSERT", "", "REFERENCING NEW TABLE AS new_rows"),
        (
            "UPDATE",
            "REFERENCING NEW TABLE AS new_rows",
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        ),
        ("DELETE", "", "REFERENCING OLD TABLE AS old_rows"),
    ],
)
def test_statement_level_without_transition_table(host, event, referencing, needed):
    host.execute("INSERT INTO items VALUES (1, %s, 'x', true, true)", (users(1)[0],))
    host.execute(
        f"CREATE TRIGGER no_table AFTER {event} ON items {referencing} FOR EACH STATEMENT"
        " EXECUTE FUNCTION achievements.tg_achievement_toggle('val', 's', 'user_id')"
    )
    statement = {
        "INSERT": "INSERT INTO items VALUES (2, NULL, 'x', true, true)",
        "UPDATE": "UPDATE items SET val = 'y'",
        "DELETE": "DELETE FROM items",
    }[event]
    error = fails(host, statement)
    assert error.sqlstate == "AD105"
    assert primary(error) == (
        f"trigger no_table on table public.items: a statement-level {event}"
        f" trigger of achievements.tg_achievement_toggle() needs {needed}"
    )
    assert error.diag.message_hint.startswith(
        "Create one trigger per event, e.g. CREATE TRIGGER no_table"
        f" AFTER {event} ON public.items {needed}"
    )
    assert host.execute("SELECT val FROM items").fetchall() == [("x",)]
    assert tallies(host) == {}


def test_statement_level_trigger_for_several_events(host):
    """Transition tables need one event per trigger, so such a trigger has none: AD105."""
    host.execute(
        "CREATE TRIGGER many AFTER INSERT OR UPDATE ON items FOR EACH STATEMENT"
        " EXECUTE FUNCTION achievements.tg_achievement('val', 's', 'user_id')"
    )
    error = insert_one(host)
    assert error.sqlstate == "AD105"
    assert_nothing_counted(host)


def test_before_trigger(host):
    host.execute(
        "CREATE TRIGGER early BEFORE INSERT ON items FOR EACH ROW"
        " EXECUTE FUNCTION achievements.tg_achievement('val', 's', 'user_id')"
    )
    error = insert_one(host)
    assert error.sqlstate == "AD106"
    assert primary(error) == (
        "trigger early on table public.items: achievements.tg_achievement()"
        " must run AFTER the change, not BEFORE"
    )
    assert_nothing_counted(host)


def test_error_names_a_quoted_table_and_trigger(db):
    db.execute('CREATE SCHEMA "App Data"')
    db.execute('CREATE TABLE "App Data"."My Items" (id int, "User Id" uuid, val text)')
    db.execute(
        'CREATE TRIGGER "Count It" AFTER INSERT ON "App Data"."My Items" FOR EACH ROW'
        " EXECUTE FUNCTION achievements.tg_achievement('Val', 's', 'User Id')"
    )
    error = fails(db, 'INSERT INTO "App Data"."My Items" VALUES (1, NULL, \'x\')')
    assert error.sqlstate == "AD102"
    assert primary(error) == (
        'trigger "Count It" on table "App Data"."My Items": column "Val" does'
        ' not exist in table "App Data"."My Items"'
    )


def test_application_roles_cannot_wire_the_trigger_functions(db, connect):
    """EXECUTE is checked at CREATE TRIGGER: a role without it cannot make a table log steps."""
    db.execute(f"GRANT CREATE ON SCHEMA public TO {APP_ROLE}")
    app = connect()
    app.execute(f"SET ROLE {APP_ROLE}")
    app.execute("CREATE TABLE mine (id int, user_id uuid, val text)")
    for function in [
        "tg_achievement",
        "tg_achievement_toggle",
        "tg_achievement_boolean",
        "tg_achievement_toggle_boolean",
    ]:
        error = fails(
            app,
            f"CREATE TRIGGER t AFTER INSERT ON mine FOR EACH ROW"
            f" EXECUTE FUNCTION achievements.{function}('val', 's', 'user_id')",
        )
        assert error.sqlstate == "42501"
        assert f"permission denied for function achievements.{function}" in primary(error)


# track()


def trackers(db):
    triggers = db.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal"
    ).fetchone()[0]
    recorded = db.execute("SELECT count(*) FROM achievements.tracked_steps").fetchone()[0]
    return triggers, recorded


@pytest.mark.parametrize(
    ("args", "sqlstate", "message", "hint"),
    [
        (
            ("items", "s", "val", "counter", None),
            "AD107",
            "achievements.track() on table public.items: unknown mode 'counter'",
            "mode is one of count (default), boolean (counters), toggle, toggle_boolean, sum"
            " (gauges), distinct, max, streak.",
        ),
        (
            ("items", "", "val", "count", None),
            "AD107",
            "achievements.track(): a table and a step of 1 to 200 characters are required"
            " (got public.items, '')",
            None,
        ),
        (
            ("items", None, "val", "count", None),
            "AD107",
            "achievements.track(): a table and a step of 1 to 200 characters are required"
            " (got public.items, NULL)",
            None,
        ),
        (
            ("items", "s" * 201, "val", "count", None),
            "AD107",
            "achievements.track(): a table and a step of 1 to 200 characters are required"
            f" (got public.items, '{'s' * 60}'...)",
            None,
        ),
        (
            ("items", "s", "val", "toggle", None),
            "AD107",
            "achievements.track() on table public.items: mode toggle needs a user column",
            None,
        ),
        (
            ("items", "s", "vall", "count", "user_id"),
            "AD102",
            "achievements.track() on table public.items:"
            " column vall does not exist in table public.items",
            None,
        ),
        (
            ("items", "s", "val", "count", "owner"),
            "AD103",
            "achievements.track() on table public.items:"
            " user column owner does not exist in table public.items",
            None,
        ),
        (
            ("items", "s", "val", "boolean", "user_id"),
            "AD104",
            "achievements.track() on table public.items: achievements.tg_achievement_boolean() watches a"
            " boolean column, but val is text",
            None,
        ),
    ],
)
def test_track_refuses_bad_arguments(host, args, sqlstate, message, hint):
    error = fails(host, "SELECT achievements.track(%s, %s, %s, %s, %s)", args)
    assert error.sqlstate == sqlstate
    assert primary(error) == message
    if hint:
        assert error.diag.message_hint == hint
    assert trackers(host) == (0, 0)


def test_track_refuses_what_is_not_a_table(host):
    host.execute("CREATE VIEW items_view AS SELECT * FROM items")
    error = fails(host, "SELECT achievements.track('items_view', 's', 'val')")
    assert error.sqlstate == "AD107"
    assert primary(error) == "achievements.track(): public.items_view is not a table"
    error = fails(host, "SELECT achievements.track('no_such_table', 's', 'val')")
    assert error.sqlstate == "42P01"


def test_track_refuses_other_arguments_for_a_tracked_step(host):
    host.execute("SELECT achievements.track('items', 's', 'val', 'count', 'user_id')")
    before = host.execute("SELECT * FROM achievements.tracked_steps").fetchall()
    error = fails(host, "SELECT achievements.track('items', 's', 'val', 'toggle', 'user_id')")
    assert error.sqlstate == "AD108"
    assert primary(error) == (
        "achievements.track(): table public.items already tracks step 's'"
        " (column val, mode count, user column user_id)"
    )
    assert error.diag.message_hint == (
        "To change it, call achievements.untrack('public.items', 's') first, then track() again."
    )
    assert host.execute("SELECT * FROM achievements.tracked_steps").fetchall() == before
    assert trackers(host) == (2, 1)


def test_a_gauge_step_comes_from_one_table_only(host):
    host.execute("CREATE TABLE others (id int, user_id uuid, val text)")
    host.execute("SELECT achievements.track('items', 's', 'val', 'toggle', 'user_id')")
    error = fails(host, "SELECT achievements.track('others', 's', 'val', 'count', 'user_id')")
    assert error.sqlstate == "AD109"
    assert primary(error) == (
        "achievements.track(): step 's' is tracked on table public.items"
        " too; a gauge step (any mode but count and boolean) must come from"
        " one table only"
    )
    host.execute("SELECT achievements.track('others', 'other', 'val', 'count', 'user_id')")
    error = fails(host, "SELECT achievements.track('items', 'other', 'val', 'toggle', 'user_id')")
    assert error.sqlstate == "AD109"
    # Counters may share a step across tables.
    host.execute("SELECT achievements.track('items', 'other', 'val', 'count', 'user_id')")


def test_application_roles_cannot_track(db, connect):
    db.execute("CREATE TABLE items (id int, user_id uuid, val text)")
    db.execute(f"GRANT ALL ON items TO {APP_ROLE}")
    app = connect()
    app.execute(f"SET ROLE {APP_ROLE}")
    for statement in [
        "SELECT achievements.track('items', 's', 'val')",
        "SELECT achievements.untrack('public.items', 's')",
        "SELECT * FROM achievements.tracked()",
    ]:
        error = fails(app, statement)
        assert error.sqlstate == "42501"
