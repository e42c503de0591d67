"""plpgsql_check over every PL/pgSQL function of the package, the counting functions track()
generates included, with every warning class on: nothing may be reported. Where a check cannot
see that an EXECUTE is safe (the SQL is built from the package's own text and quoted names),
the function says so in an in-comment option next to the reason.

The extension comes from the Debian package postgresql-NN-plpgsql-check (.ci/run installs it).
Without it the test is skipped with that message, unless ACHIEVEMENTS_REQUIRE_PLPGSQL_CHECK=1,
as in CI, where it fails instead."""

import os

import psycopg
import pytest

from support.tracking import MODES

OPTIONS = (
    "extra_warnings => true, performance_warnings => true, security_warnings => true,"
    " other_warnings => true"
)


def check(db, fn, relid, new, old):
    """plpgsql_check's findings for one function: (function, line, level, message)."""
    tables = "".join(
        f", {arg} => %({arg})s" for arg, name in (("newtable", new), ("oldtable", old)) if name
    )
    return db.execute(
        f"SELECT %(fn)s, r.lineno, r.level, r.message FROM plpgsql_check_function_tb("
        f"%(fn)s::regprocedure, %(relid)s::oid::regclass{tables}, {OPTIONS}) AS r",
        {"fn": fn, "relid": relid, "newtable": new, "oldtable": old},
    ).fetchall()


@pytest.fixture
def checked(db):
    available = db.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check')"
    ).fetchone()[0]
    if not available:
        message = (
            "plpgsql_check is not installed on this server (Debian: apt-get install "
            "postgresql-15-plpgsql-check)"
        )
        if os.environ.get("ACHIEVEMENTS_REQUIRE_PLPGSQL_CHECK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    db.execute("CREATE EXTENSION plpgsql_check")
    return db


def wire_everything(db):
    """Tables that make the package generate every kind of counting function (one per table,
    whatever its steps), and triggers
    that use each public trigger function at row and statement level."""
    db.execute(
        "CREATE TABLE items (id int PRIMARY KEY, user_id uuid, name text, val text, flag boolean)"
    )
    for mode in MODES:
        column = "flag" if mode.endswith("boolean") else "val"
        db.execute(
            "SELECT achievements.track('items', %s, %s, %s, 'user_id')", (mode, column, mode)
        )
    db.execute("SELECT achievements.track('items', 'by_name', 'val', 'count', 'name')")
    db.execute("SELECT achievements.track('items', 'by_claim', 'val', 'count')")
    # A table with counters only (no DELETE or TRUNCATE branch) and a user column to parse.
    db.execute("CREATE TABLE plays (id int PRIMARY KEY, listener text, song text)")
    db.execute("SELECT achievements.track('plays', 'play', 'song', 'count', 'listener')")
    # Conditions, a transition, values, and a step that depends on another table.
    db.execute(
        "CREATE TABLE songs (id int PRIMARY KEY, owner uuid, status text, artist text,"
        " minutes int, pack_id int)"
    )
    db.execute("CREATE TABLE packs (id int PRIMARY KEY, owner uuid)")
    for step, arguments in {
        "released": {"condition": "status = 'released'"},
        "completed": {"condition": "status = 'released'", "previous": "status = 'wip'"},
        "artists": {"mode": "distinct", "value": "lower(artist)"},
        "minutes": {"mode": "sum", "value": "minutes"},
        "longest": {"mode": "max", "column_name": "minutes"},
    }.items():
        named = ", ".join(f"{name} => %s" for name in arguments)
        db.execute(
            f"SELECT achievements.track('songs', %s, user_column => 'owner', {named})",
            (step, *arguments.values()),
        )
    db.execute(
        "SELECT achievements.track('packs', 'full_packs', mode => 'toggle', user_column => 'owner',"
        " condition => 'EXISTS (SELECT 1 FROM public.songs AS s WHERE s.pack_id = packs.id)',"
        " depends_on => 'songs')"
    )
    for function in (
        "tg_achievement",
        "tg_achievement_toggle",
        "tg_achievement_boolean",
        "tg_achievement_toggle_boolean",
    ):
        column = "flag" if function.endswith("boolean") else "val"
        db.execute(
            f"CREATE TRIGGER {function}_row AFTER INSERT OR UPDATE OR DELETE ON items"
            f" FOR EACH ROW EXECUTE FUNCTION achievements.{function}('{column}', 'h', 'user_id')"
        )


def targets(db):
    """(function, relation, new table, old table) to check: each trigger function against each
    trigger that runs it, with the transition table names it reads; the public trigger functions
    and the generated ones read new_rows and old_rows whichever event fires them."""
    return db.execute("""
        SELECT p.oid::regprocedure::text,
               coalesce(t.tgrelid, 0)::oid,
               CASE WHEN p.prorettype = 'trigger'::regtype
                         AND (n.nspname = 'achievements' OR p.proname LIKE 'track\\_%') THEN 'new_rows'
                    ELSE t.tgnewtable END,
               CASE WHEN p.prorettype = 'trigger'::regtype
                         AND (n.nspname = 'achievements' OR p.proname LIKE 'track\\_%') THEN 'old_rows'
                    ELSE t.tgoldtable END
          FROM pg_proc AS p
          JOIN pg_namespace AS n ON n.oid = p.pronamespace
          JOIN pg_language AS l ON l.oid = p.prolang
          LEFT JOIN pg_trigger AS t ON t.tgfoid = p.oid AND NOT t.tgisinternal
         WHERE n.nspname IN ('achievements', 'achievements_private', 'achievements_tracking') AND l.lanname = 'plpgsql'
         ORDER BY 1, 2""").fetchall()


def test_plpgsql_check_reports_nothing(checked):
    db = checked
    wire_everything(db)
    checks = targets(db)
    functions = {fn for fn, *_ in checks}
    assert len(functions) > 60
    # Per table, its trigger function and its recount function.
    assert sum(fn.startswith("achievements_tracking.track_") for fn in functions) == 8
    reports = []
    for fn, relid, new, old in checks:
        try:
            reports += check(db, fn, relid, new, old)
        except psycopg.Error as error:  # the checker itself refused: report it as a finding
            reports.append((fn, None, "error", str(error).splitlines()[0]))
    assert reports == [], "\n".join(map(str, reports))


def test_the_check_finds_what_it_is_meant_to_find(checked):
    """The same call reports a hidden cast and an unsanitized EXECUTE in a function made to
    have them, so an empty report above means something."""
    db = checked
    db.execute("""CREATE FUNCTION public.careless(tbl text) RETURNS bigint LANGUAGE plpgsql AS $$
                  DECLARE n bigint := 0;
                  BEGIN
                      EXECUTE 'SELECT count(*) FROM ' || tbl INTO n;
                      RETURN n;
                  END $$""")
    found = {
        (level, message)
        for _, _, level, message in check(db, "public.careless(text)", 0, None, None)
    }
    assert ("performance", "target type is different type than source type") in found
    assert ("security", "text type variable is not sanitized") in found
