"""achievements.track(), untrack() and tracked(): the triggers they create, idempotence, gauges
that start from a recount, TRUNCATE, names and quoting, users from claims, roles."""

import json
import random
import threading
import time

import psycopg
import pytest
from _tracking_support import (
    GAUGES,
    LEVELS,
    MODES,
    create_host,
    on_values,
    recount,
    tallies,
    users,
    wire,
)
from conftest import APP_ROLE, SERVICE_ROLE


def triggers(db, table="items"):
    rows = db.execute(
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
        " WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname", (table,)).fetchall()
    return dict(rows)


@pytest.mark.parametrize("mode", MODES)
def test_track_creates_one_statement_trigger_per_event(db, mode):
    create_host(db, mode)
    assert db.execute("SELECT achievements.track('items', 'post', 'val', %s, 'user_id')",
                      (mode,)).fetchone()[0] is True
    function = {"count": "tg_achievement", "toggle": "tg_achievement_toggle",
                "boolean": "tg_achievement_boolean",
                "toggle_boolean": "tg_achievement_toggle_boolean"}[mode]
    expected = {
        "achievements_post_ins": "AFTER INSERT ON public.items REFERENCING NEW TABLE AS new_rows",
        "achievements_post_upd": "AFTER UPDATE ON public.items REFERENCING OLD TABLE AS old_rows"
                                 " NEW TABLE AS new_rows",
    }
    if mode in GAUGES:
        expected["achievements_post_del"] = ("AFTER DELETE ON public.items"
                                             " REFERENCING OLD TABLE AS old_rows")
        expected["achievements_post_trunc"] = "AFTER TRUNCATE ON public.items"
    found = triggers(db)
    assert sorted(found) == sorted(expected)
    for name, timing in expected.items():
        assert found[name] == (f"CREATE TRIGGER {name} {timing} FOR EACH STATEMENT EXECUTE FUNCTION"
                               f" achievements.{function}('val', 'post', 'user_id')")


@pytest.mark.parametrize("mode", MODES)
def test_track_again_with_the_same_arguments_changes_nothing(db, mode):
    create_host(db, mode)
    db.execute("SELECT achievements.track('items', 'post', 'val', %s, 'user_id')", (mode,))
    (a,) = users(1)
    on, _ = on_values(mode)
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, %s)", (a, on))
    state = (db.execute("SELECT oid, tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass"
                        " ORDER BY oid").fetchall(),
             db.execute("SELECT * FROM achievements.tracked_steps").fetchall(),
             db.execute("SELECT * FROM achievements.user_steps ORDER BY id").fetchall())
    assert db.execute("SELECT achievements.track('items', 'post', 'val', %s, 'user_id')",
                      (mode,)).fetchone()[0] is False
    assert db.execute("SELECT achievements.track('public.items'::regclass, 'post', 'val', %s,"
                      " 'user_id')", (mode,)).fetchone()[0] is False
    assert state == (
        db.execute("SELECT oid, tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass"
                   " ORDER BY oid").fetchall(),
        db.execute("SELECT * FROM achievements.tracked_steps").fetchall(),
        db.execute("SELECT * FROM achievements.user_steps ORDER BY id").fetchall())
    assert tallies(db, "post") == {a: 1}


def test_track_repairs_a_trigger_dropped_by_hand(db):
    create_host(db, "toggle")
    db.execute("SELECT achievements.track('items', 'post', 'val', 'toggle', 'user_id')")
    db.execute("DROP TRIGGER achievements_post_del ON items")
    a, b = users(2)
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x'), (%s, 'x')", (a, b))
    db.execute("DELETE FROM items WHERE user_id = %s", (a,))  # not seen: the gauge drifts
    assert tallies(db, "post") == {a: 1, b: 1}
    assert db.execute("SELECT achievements.track('items', 'post', 'val', 'toggle', 'user_id')"
                      ).fetchone()[0] is True
    assert "achievements_post_del" in triggers(db)
    assert tallies(db, "post") == recount(db, "toggle") == {b: 1}
    assert db.execute("SELECT count(*) FROM achievements.tracked_steps").fetchone()[0] == 1


@pytest.mark.parametrize("mode", ["toggle", "toggle_boolean"])
def test_a_gauge_starts_from_the_rows_already_in_the_table(db, mode):
    create_host(db, mode)
    people = users(50)
    on, _ = on_values(mode)
    db.execute("INSERT INTO items (user_id, val)"
               " SELECT (%s::uuid[])[1 + i %% 50], CASE WHEN i %% 3 = 0 THEN NULL ELSE %s END"
               " FROM generate_series(1, 1000) AS i", (people, on))
    db.execute("INSERT INTO items (user_id, val) VALUES (NULL, %s)", (on,))
    db.execute("SELECT achievements.track('items', 'post', 'val', %s, 'user_id')", (mode,))
    assert tallies(db, "post") == recount(db, mode)
    # One log row per user for the existing rows.
    assert db.execute("SELECT count(*), count(DISTINCT user_id) FROM achievements.user_steps"
                      ).fetchone() == (50, 50)
    db.execute("DELETE FROM items WHERE id % 7 = 0")
    db.execute("UPDATE items SET val = NULL WHERE id % 5 = 0")
    assert tallies(db, "post") == recount(db, mode)


def test_a_counter_counts_from_now_on(db):
    create_host(db, "count")
    (a,) = users(1)
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x')", (a,))
    db.execute("SELECT achievements.track('items', 'post', 'val', 'count', 'user_id')")
    assert tallies(db, "post") == {}
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x')", (a,))
    assert tallies(db, "post") == {a: 1}


def test_untrack_then_track_again_resyncs_a_gauge(db):
    create_host(db, "toggle")
    a, b = users(2)
    db.execute("SELECT achievements.track('items', 'post', 'val', 'toggle', 'user_id')")
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x'), (%s, 'x'), (%s, 'x')", (a, a, b))
    assert db.execute("SELECT achievements.untrack('items', 'post')").fetchone()[0] is True
    assert triggers(db) == {}
    assert db.execute("SELECT * FROM achievements.tracked()").fetchall() == []
    assert tallies(db, "post") == {a: 2, b: 1}  # tallies stay
    db.execute("DELETE FROM items WHERE user_id = %s", (a,))
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x')", (b,))
    assert tallies(db, "post") == {a: 2, b: 1}  # untracked: nothing counted
    db.execute("SELECT achievements.track('items', 'post', 'val', 'toggle', 'user_id')")
    assert tallies(db, "post") == recount(db, "toggle") == {b: 2}


def test_untrack_of_what_is_not_tracked(db):
    create_host(db, "count")
    db.execute("CREATE TRIGGER mine AFTER INSERT ON items FOR EACH ROW"
               " EXECUTE FUNCTION achievements.tg_achievement('val', 'post', 'user_id')")
    assert db.execute("SELECT achievements.untrack('items', 'post')").fetchone()[0] is False
    assert db.execute("SELECT achievements.untrack('items', NULL)").fetchone()[0] is False
    assert list(triggers(db)) == ["mine"]  # triggers wired by hand are left alone


def test_tracked_lists_what_is_tracked(db):
    create_host(db, "count")
    db.execute("CREATE TABLE flags (id int, owner uuid, done boolean)")
    db.execute("SELECT achievements.track('items', 'post', 'val')")
    db.execute("SELECT achievements.track('flags', 'done', 'done', 'toggle_boolean', 'owner')")
    db.execute("SELECT achievements.track('items', 'edit', 'note', 'count', 'user_id')")
    rows = db.execute("SELECT tbl::text, step, column_name, mode, user_column,"
                      " created_at <= now() FROM achievements.tracked()").fetchall()
    assert rows == [("flags", "done", "done", "toggle_boolean", "owner", True),
                    ("items", "edit", "note", "count", "user_id", True),
                    ("items", "post", "val", "count", None, True)]
    db.execute("DROP TABLE flags")
    listed = db.execute("SELECT tbl::text FROM achievements.tracked()").fetchall()
    assert listed == [("items",), ("items",)]
    db.execute("SELECT achievements.untrack('items', 'edit')")
    assert db.execute("SELECT step FROM achievements.tracked()").fetchall() == [("post",)]
    # The row of the dropped table is cleaned up by the next track()/untrack().
    assert db.execute("SELECT count(*) FROM achievements.tracked_steps").fetchone()[0] == 1


@pytest.mark.parametrize("mode", ["toggle", "toggle_boolean"])
def test_truncate_empties_a_gauge(db, mode):
    create_host(db, mode)
    a, b = users(2)
    on, _ = on_values(mode)
    db.execute("SELECT achievements.track('items', 'post', 'val', %s, 'user_id')", (mode,))
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, %s), (%s, %s)", (a, on, b, on))
    db.execute("TRUNCATE items")
    assert tallies(db, "post") == {}
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, %s)", (a, on))
    assert tallies(db, "post") == {a: 1}


def test_truncate_keeps_a_counter(db):
    create_host(db, "count")
    (a,) = users(1)
    db.execute("SELECT achievements.track('items', 'post', 'val', 'count', 'user_id')")
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x')", (a,))
    db.execute("TRUNCATE items")
    assert tallies(db, "post") == {a: 1}


def test_long_step_names_get_distinct_trigger_names(db):
    create_host(db, "count")
    long_a = "completed_the_onboarding_tutorial_and_the_first_project_variant_a"
    long_b = "completed_the_onboarding_tutorial_and_the_first_project_variant_b"
    db.execute("SELECT achievements.track('items', %s, 'val', 'count', 'user_id')", (long_a,))
    db.execute("SELECT achievements.track('items', %s, 'note', 'count', 'user_id')", (long_b,))
    names = list(triggers(db))
    assert len(names) == 4
    assert all(len(n.encode()) <= 63 and n.startswith("achievements_completed_") for n in names)
    (a,) = users(1)
    db.execute("INSERT INTO items (user_id, val, note) VALUES (%s, 'x', NULL)", (a,))
    assert tallies(db, long_a) == {a: 1}
    assert tallies(db, long_b) == {}
    db.execute("SELECT achievements.untrack('items', %s)", (long_a,))
    assert len(triggers(db)) == 2


def test_quoted_names_everywhere(db):
    db.execute('CREATE SCHEMA "App Data"')
    db.execute('CREATE TABLE "App Data"."Posts" ("Post Id" int, "Author\'s Id" uuid,'
               ' "Body ""text""" text)')
    step = "it's a \"step\""
    db.execute("""SELECT achievements.track('"App Data"."Posts"', %s, 'Body "text"', 'toggle',"""
               """ 'Author''s Id')""", (step,))
    (a,) = users(1)
    db.execute('INSERT INTO "App Data"."Posts" VALUES (1, %s, \'hello\'), (2, %s, NULL)', (a, a))
    db.execute('UPDATE "App Data"."Posts" SET "Body ""text""" = \'x\' WHERE "Post Id" = 2')
    assert tallies(db, step) == {a: 2}
    db.execute('DELETE FROM "App Data"."Posts" WHERE "Post Id" = 1')
    assert tallies(db, step) == {a: 1}
    assert db.execute("SELECT tbl::text, step FROM achievements.tracked()").fetchall() == [
        ('"App Data"."Posts"', step)]
    assert db.execute('SELECT achievements.untrack(\'"App Data"."Posts"\', %s)',
                      (step,)).fetchone()[0] is True
    assert triggers(db, '"App Data"."Posts"') == {}


@pytest.mark.parametrize("level", LEVELS)
def test_without_a_user_column_the_request_user_counts(db, level):
    create_host(db, "count")
    wire(db, "count", level, user_column=None, step="post")
    a, b = users(2)
    db.execute("INSERT INTO items (val) VALUES ('x')")  # no claim: not counted, no error
    db.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(a)}),))
    db.execute("INSERT INTO items (val) VALUES ('x'), ('y'), (NULL)")
    db.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(b)}),))
    db.execute("UPDATE items SET val = 'z' WHERE val = 'x'")
    assert tallies(db, "post") == {a: 2, b: 2}


@pytest.mark.parametrize("level", ["row", "track"])
def test_user_ids_held_in_a_text_column(db, level):
    db.execute("CREATE TABLE items (id int, author text, val text)")
    if level == "track":
        db.execute("SELECT achievements.track('items', 'post', 'val', 'toggle', 'author')")
    else:
        db.execute("CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW"
                   " EXECUTE FUNCTION achievements.tg_achievement_toggle('val', 'post', 'author')")
    (a,) = users(1)
    # Text that is not a user id counts for no one, and nothing fails.
    db.execute("INSERT INTO items VALUES (1, %s, 'x'), (2, %s, 'x'), (3, 'anonymous', 'x'),"
               " (4, '', 'x')", (str(a), str(a).upper()))
    assert tallies(db, "post") == {a: 2}
    db.execute("DELETE FROM items")
    assert tallies(db, "post") == {}


def test_partitioned_table_and_rows_moving_between_partitions(db):
    db.execute("CREATE TABLE items (id int, user_id uuid, val text, region int)"
               " PARTITION BY LIST (region)")
    db.execute("CREATE TABLE items_1 PARTITION OF items FOR VALUES IN (1)")
    db.execute("CREATE TABLE items_2 PARTITION OF items FOR VALUES IN (2)")
    db.execute("SELECT achievements.track('items', 'post', 'val', 'count', 'user_id')")
    db.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    a, b = users(2)
    db.execute("INSERT INTO items VALUES (1, %s, 'x', 1), (2, %s, NULL, 1), (3, %s, 'x', 2)",
               (a, a, b))
    # Row 1 moves partition and user; row 2 moves partition and gets a value.
    db.execute("UPDATE items SET region = 2, user_id = CASE id WHEN 1 THEN %s ELSE user_id END,"
               " val = CASE id WHEN 2 THEN 'y' ELSE val END WHERE region = 1", (b,))
    assert tallies(db, "post") == {a: 2, b: 1}
    assert tallies(db, "live") == recount(db, "toggle") == {a: 1, b: 2}


def test_insert_on_conflict_counts_inserts_and_updates(db):
    create_host(db, "count")
    db.execute("SELECT achievements.track('items', 'post', 'val', 'count', 'user_id')")
    db.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    (a,) = users(1)
    db.execute("INSERT INTO items (id, user_id, val) VALUES (1, %s, 'x'), (2, %s, NULL)", (a, a))
    db.execute("INSERT INTO items (id, user_id, val)"
               " VALUES (1, %s, 'y'), (2, %s, 'y'), (3, %s, 'z')"
               " ON CONFLICT (id) DO UPDATE SET val = excluded.val", (a, a, a))
    assert tallies(db, "post") == {a: 4}
    assert tallies(db, "live") == recount(db, "toggle") == {a: 3}


def test_host_writes_by_an_application_role_under_rls_are_counted(db, connect):
    create_host(db, "toggle")
    db.execute("ALTER TABLE items ENABLE ROW LEVEL SECURITY")
    db.execute("CREATE POLICY own ON items USING (user_id = achievements.current_user_id())")
    db.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {APP_ROLE}")
    db.execute("SELECT achievements.track('items', 'post', 'val', 'count', 'user_id')")
    db.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    a, b = users(2)
    app = connect()
    app.execute(f"SET ROLE {APP_ROLE}")
    app.execute("SELECT set_config('request.jwt.claims', %s, false)",
                (json.dumps({"sub": str(a)}),))
    app.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x'), (%s, 'y'), (%s, NULL)",
                (a, a, a))
    app.execute("UPDATE items SET val = 'z' WHERE val IS NULL")
    app.execute("DELETE FROM items WHERE val = 'x'")
    # The app role reads its own tallies, and cannot write them.
    assert dict(app.execute("SELECT name, count FROM achievements.user_achievements"
                            " ORDER BY name").fetchall()) == {"live": 2, "post": 3}
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("INSERT INTO achievements.user_steps (user_id, name) VALUES (%s, 'post')", (a,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("UPDATE achievements.user_achievements SET count = 100")
    app.execute("SELECT set_config('request.jwt.claims', %s, false)",
                (json.dumps({"sub": str(b)}),))
    assert app.execute("SELECT count(*) FROM achievements.user_achievements").fetchone()[0] == 0
    assert tallies(db, "post") == {a: 3}
    assert tallies(db, "live") == recount(db, "toggle") == {a: 2}


def test_a_service_role_tracks_a_table_it_may_trigger(db, connect):
    create_host(db, "toggle")
    (a,) = users(1)
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x')", (a,))
    service = connect()
    service.execute(f"SET ROLE {SERVICE_ROLE}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        service.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    db.execute(f"GRANT SELECT, TRIGGER ON items TO {SERVICE_ROLE}")
    service.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    assert tallies(db, "live") == {a: 1}
    assert service.execute("SELECT step FROM achievements.tracked()").fetchall() == [("live",)]
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x')", (a,))
    assert tallies(db, "live") == {a: 2}
    # Only the owner of a table may drop its triggers.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        service.execute("SELECT achievements.untrack('items', 'live')")
    assert len(triggers(db)) == 4
    assert db.execute("SELECT achievements.untrack('items', 'live')").fetchone()[0] is True
    assert triggers(db) == {}


def test_a_gauge_below_its_table_fails_the_write_instead_of_counting_wrong(db):
    create_host(db, "toggle")
    (a,) = users(1)
    db.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    db.execute("INSERT INTO items (id, user_id, val) VALUES (1, %s, 'x')", (a,))
    db.execute("SELECT achievements.undo_step(%s, 'live')", (a,))  # misuse: a gauge step by hand
    with pytest.raises(psycopg.Error) as info:
        db.execute("DELETE FROM items")
    assert info.value.sqlstate == "AD003"
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 1
    # track() again (after untrack) recounts, and the table can be written again.
    db.execute("SELECT achievements.untrack('items', 'live')")
    db.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    assert tallies(db, "live") == {a: 1}
    db.execute("DELETE FROM items")
    assert tallies(db, "live") == {}


@pytest.mark.parametrize("level", LEVELS)
def test_columns_named_like_the_internal_aliases(db, level):
    """The generated SQL names its own columns u, d, c, v, ord and aliases o, n, r, s, x."""
    db.execute("CREATE TABLE items (ord int, u uuid, v json, d text, c int, x int)")
    fn = "tg_achievement"
    if level == "track":
        db.execute("SELECT achievements.track('items', 'json', 'v', 'count', 'u')")
        db.execute("SELECT achievements.track('items', 'live', 'd', 'toggle', 'u')")
    elif level == "statement":
        for event, ref in [("INSERT", "NEW TABLE AS n"),
                           ("UPDATE", "OLD TABLE AS o NEW TABLE AS n"),
                           ("DELETE", "OLD TABLE AS o")]:
            for step, col, f in [("json", "v", fn), ("live", "d", "tg_achievement_toggle")]:
                if event == "DELETE" and f == fn:
                    continue
                db.execute(f"CREATE TRIGGER t_{step}_{event} AFTER {event} ON items"
                           f" REFERENCING {ref} FOR EACH STATEMENT"
                           f" EXECUTE FUNCTION achievements.{f}('{col}', '{step}', 'u')")
    else:
        db.execute("CREATE TRIGGER t1 AFTER INSERT OR UPDATE ON items FOR EACH ROW"
                   " EXECUTE FUNCTION achievements.tg_achievement('v', 'json', 'u')")
        db.execute("CREATE TRIGGER t2 AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW"
                   " EXECUTE FUNCTION achievements.tg_achievement_toggle('d', 'live', 'u')")
    a, b = users(2)
    db.execute("""INSERT INTO items VALUES (1, %s, '{"a": 1}', 'x', 1, 1),"""
               """ (2, %s, NULL, NULL, 2, 2)""", (a, b))
    # json has no "=": values are compared as jsonb, so whitespace is no change.
    db.execute("""UPDATE items SET v = '{"a":1}' WHERE ord = 1""")
    assert tallies(db, "json") == {a: 1}
    db.execute("""UPDATE items SET v = '{"a": 2}', d = 'y', u = %s""", (b,))
    assert tallies(db, "json") == {a: 1, b: 2}
    assert tallies(db, "live") == {b: 2}
    db.execute("DELETE FROM items WHERE ord = 1")
    assert tallies(db, "live") == {b: 1}


def test_concurrent_track_calls_of_one_table_take_turns(db, connect):
    create_host(db, "toggle")
    (a,) = users(1)
    db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x')", (a,))
    one, two = connect(autocommit=False), connect(autocommit=False)
    assert one.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')"
                       ).fetchone()[0] is True
    results = []
    thread = threading.Thread(target=lambda: results.append(two.execute(
        "SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')").fetchone()[0]))
    thread.start()
    deadline = time.monotonic() + 10
    while db.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted",
                     (two.info.backend_pid,)).fetchone()[0] == 0:
        assert time.monotonic() < deadline, "the second track() did not wait"
        time.sleep(0.01)
    one.commit()
    thread.join(timeout=30)
    two.commit()
    assert results == [False]
    assert tallies(db, "live") == {a: 1}
    assert len(triggers(db)) == 4


def test_track_while_others_write_the_table(db, connect):
    """Writers keep inserting and deleting while a gauge is wired: it still equals the recount."""
    create_host(db, "toggle")
    people = users(5)
    stop = threading.Event()
    errors = []

    def writer(index):
        conn = connect()
        rng = random.Random(index)
        row_id = index * 1_000_000
        try:
            while not stop.is_set():
                row_id += 1
                # Autocommit statements: a transaction of several statements over several
                # users may deadlock with another such transaction (see docs/tracking.md).
                conn.execute("INSERT INTO items (id, user_id, val) VALUES (%s, %s, %s)",
                             (row_id, rng.choice(people), rng.choice(["x", None])))
                conn.execute("DELETE FROM items WHERE id = %s", (row_id - rng.randint(1, 3),))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(1, 4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    db.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] > 0
    assert tallies(db, "live") == recount(db, "toggle")


def function_calls(db):
    return dict(db.execute(
        "SELECT funcname, calls FROM pg_stat_xact_user_functions"
        " WHERE schemaname = 'achievements_private'"
        " AND funcname IN ('count_rows', 'statement_sql')").fetchall())


@pytest.mark.parametrize(("rows", "setting", "path"), [
    (20, None, "count_rows"), (21, None, "statement_sql"),
    (3, "0", "statement_sql"), (30, "50", "count_rows")])
def test_small_statements_take_the_planned_once_path(db, rows, setting, path):
    create_host(db, "toggle")
    db.execute("SELECT achievements.track('items', 'live', 'val', 'toggle', 'user_id')")
    db.execute("SET track_functions = 'pl'")
    if setting is not None:
        db.execute("SELECT set_config('achievements.tracking_small_statement', %s, false)",
                   (setting,))
    (a,) = users(1)
    with db.transaction():
        db.execute("INSERT INTO items (user_id, val) SELECT %s, 'x' FROM generate_series(1, %s)",
                   (a, rows))
        assert function_calls(db) == {path: 1}
    assert tallies(db, "live") == {a: rows}


@pytest.mark.parametrize("level", LEVELS)
def test_columns_of_domain_types(db, level):
    db.execute("CREATE DOMAIN flag AS boolean")
    db.execute("CREATE DOMAIN flag2 AS flag")
    db.execute("CREATE DOMAIN flag3 AS flag2")
    db.execute("CREATE DOMAIN account AS uuid")
    db.execute("CREATE DOMAIN account2 AS account")
    db.execute("CREATE DOMAIN account3 AS account2")
    db.execute("CREATE TABLE items (id int, user_id account3, val flag3, note text)")
    wire(db, "toggle_boolean", level)
    (a,) = users(1)
    db.execute("INSERT INTO items VALUES (1, %s, true), (2, %s, false)", (a, a))
    db.execute("UPDATE items SET val = true WHERE id = 2")
    assert tallies(db) == {a: 2}
