"""sql/ is the source of truth: sql/achievements.sql installs every file under sql/ once, in name
order, and every object the package defines has exactly one home there."""

import re
from collections import Counter

from achievements_db.resources import sql_dir
from achievements_db.sources import included_files, install_script, source_files

DEFINITION = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|TABLE|VIEW|SEQUENCE|DOMAIN|INDEX|TRIGGER|POLICY|SCHEMA)"
    r"\s+([\w.\"%]+)(?:\s+(?:(?:BEFORE|AFTER|INSTEAD\s+OF)\s+[\w\s]+?\s+)?ON\s+([\w.]+))?",
    re.IGNORECASE,
)


def definitions():
    """(kind, name) of every CREATE under sql/, with the file it is in; triggers, policies and
    indexes are named with their table. Names built with format() (%I) are left out."""
    found = []
    for path in source_files():
        for kind, name, table in DEFINITION.findall(path.read_text()):
            if "%" in name:
                continue
            key = f"{name} ON {table}" if kind.upper() in ("TRIGGER", "POLICY") else name
            found.append((kind.upper(), key, path.relative_to(sql_dir()).as_posix()))
    return found


def test_the_entry_point_installs_every_file_once_in_name_order():
    assert included_files() == source_files()
    assert install_script().count("-- ==== sql/") == len(source_files())


def test_every_object_is_defined_in_exactly_one_place():
    counts = Counter((kind, name) for kind, name, _ in definitions())
    # Overloads of one function (mark_read(id), mark_read(id, user_id)) share their file.
    homes = {
        (kind, name): {f for k, n, f in definitions() if (k, n) == (kind, name)}
        for kind, name in counts
    }
    assert [
        key for key, n in counts.items() if n > 1 and (key[0] != "FUNCTION" or len(homes[key]) > 1)
    ] == []
    assert not [d for d in definitions() if "OR REPLACE" in d[1].upper()]
    text = "\n".join(p.read_text() for p in source_files())
    generated = "'CREATE OR REPLACE FUNCTION achievements_tracking.%I("  # track()'s functions
    assert "CREATE OR REPLACE" not in text.replace(generated, "")


def test_every_object_in_the_database_has_its_home_under_sql(db):
    defined = {(kind, name) for kind, name, _ in definitions()}
    functions = db.execute(
        "SELECT n.nspname || '.' || p.proname FROM pg_proc AS p"
        " JOIN pg_namespace AS n ON n.oid = p.pronamespace"
        " WHERE n.nspname IN ('achievements', 'achievements_private', 'achievements_tracking')"
    ).fetchall()
    relations = db.execute(
        "SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,"
        "       n.nspname || '.' || c.relname"
        "  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname IN ('achievements', 'achievements_private', 'achievements_tracking') AND c.relkind IN ('r', 'p', 'v', 'S')"
        "   AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')"
        "                     AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass)"
    ).fetchall()
    triggers = db.execute(
        "SELECT t.tgname || ' ON ' || t.tgrelid::regclass::text FROM pg_trigger AS t"
        " JOIN pg_class AS c ON c.oid = t.tgrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname IN ('achievements', 'achievements_private', 'achievements_tracking') AND NOT t.tgisinternal"
    ).fetchall()
    missing = [("FUNCTION", f) for (f,) in functions if ("FUNCTION", f) not in defined]
    missing += [(kind, r) for kind, r in relations if (kind, r) not in defined]
    missing += [("TRIGGER", t) for (t,) in triggers if ("TRIGGER", t) not in defined]
    assert missing == []
    assert len(functions) > 80


def test_grep_finds_each_function_in_one_file():
    """The check the layout promises: `grep -rl 'CREATE FUNCTION <schema>.<name>' sql/` names
    one file (triggers elsewhere may EXECUTE FUNCTION it)."""
    names = {name for kind, name, _ in definitions() if kind == "FUNCTION"}
    for name in names:
        files = [p for p in source_files() if f"CREATE FUNCTION {name}(" in p.read_text()]
        assert len(files) == 1, (name, files)


def test_a_comment_above_every_function_says_what_it_guarantees():
    for path in source_files():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.startswith("CREATE FUNCTION"):
                above = next(prev for prev in reversed(lines[:number]) if prev.strip())
                assert above.startswith("--"), f"{path.name}:{number + 1}: {line}"


def test_every_public_object_explains_itself_in_psql(db):
    """\\df+ and \\d+ show a comment for every function, table and view of the public API."""
    silent = db.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc AS p"
        " WHERE p.pronamespace = 'achievements'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL"
        " UNION ALL"
        " SELECT c.oid::regclass::text FROM pg_class AS c"
        " WHERE c.relnamespace = 'achievements'::regnamespace AND c.relkind IN ('r', 'p', 'v')"
        "   AND obj_description(c.oid, 'pg_class') IS NULL"
    ).fetchall()
    assert silent == []
