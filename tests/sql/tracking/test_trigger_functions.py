"""The four tracking modes at row level, at statement level wired by hand, and through track():
insert, multi-row insert, updates that change or keep the column, moving a row to another user,
delete, rows without a user."""

import pytest

from support.tracking import (
    GAUGES,
    LEVELS,
    MODES,
    STEP,
    create_host,
    off_value,
    on_values,
    tallies,
    users,
    wire,
)

pytestmark = pytest.mark.parametrize("level", LEVELS)
modes = pytest.mark.parametrize("mode", MODES)


@pytest.fixture
def host(db, request):
    mode = request.node.callspec.params["mode"]
    level = request.node.callspec.params["level"]
    create_host(db, mode)
    wire(db, mode, level)
    return db


def step_rows(db):
    return db.execute(
        "SELECT user_id, count FROM achievements.user_steps WHERE name = %s ORDER BY id", (STEP,)
    ).fetchall()


@modes
def test_insert_one_row(host, mode, level):
    (a,) = users(1)
    on, _ = on_values(mode)
    host.execute("INSERT INTO items (user_id, val) VALUES (%s, %s)", (a, on))
    assert tallies(host) == {a: 1}
    assert step_rows(host) == [(a, 1)]


@modes
def test_insert_row_that_does_not_count(host, mode, level):
    (a,) = users(1)
    host.execute(
        "INSERT INTO items (user_id, val) VALUES (%s, NULL), (%s, %s)", (a, a, off_value(mode))
    )
    assert tallies(host) == {}
    assert step_rows(host) == []


@modes
def test_multi_row_insert(host, mode, level):
    a, b = users(2)
    on, other = on_values(mode)
    off = off_value(mode)
    host.execute(
        "INSERT INTO items (user_id, val) VALUES (%s, %s), (%s, %s), (%s, %s), (%s, NULL),"
        " (%s, %s), (NULL, %s)",
        (a, on, a, other, a, off, a, b, on, on),
    )
    assert tallies(host) == {a: 2, b: 1}
    rows = step_rows(host)
    if level == "row":
        assert sorted(rows) == sorted([(a, 1), (a, 1), (b, 1)])
    else:
        # One log row per user for the whole statement.
        assert sorted(rows) == sorted([(a, 2), (b, 1)])


# Per mode: the values one row takes, and the tally after each update.
SEQUENCES = {
    "count": [None, "x", "x", "y", None, "y", "y"],
    "toggle": [None, "x", "x", "y", None, "y", "y"],
    "boolean": [None, True, True, False, None, True, False],
    "toggle_boolean": [None, True, True, False, None, True, False],
}
EXPECTED = {
    #                 ->x  ->x  ->y  ->N  ->y  ->y
    "count": [1, 1, 2, 2, 3, 3],
    "toggle": [1, 1, 1, 0, 1, 1],
    #                 ->T  ->T  ->F  ->N  ->T  ->F
    "boolean": [1, 1, 1, 1, 2, 2],
    "toggle_boolean": [1, 1, 0, 0, 1, 0],
}


@modes
def test_updates_that_change_or_keep_the_column(host, mode, level):
    (a,) = users(1)
    values = SEQUENCES[mode]
    row_id = host.execute(
        "INSERT INTO items (user_id, val) VALUES (%s, %s) RETURNING id", (a, values[0])
    ).fetchone()[0]
    assert tallies(host) == {}
    for value, expected in zip(values[1:], EXPECTED[mode], strict=True):
        host.execute("UPDATE items SET val = %s WHERE id = %s", (value, row_id))
        assert tallies(host) == ({a: expected} if expected else {}), (value, expected)


@modes
def test_update_of_other_columns_counts_nothing(host, mode, level):
    (a,) = users(1)
    on, _ = on_values(mode)
    host.execute("INSERT INTO items (user_id, val) VALUES (%s, %s), (%s, %s)", (a, on, a, on))
    before = step_rows(host)
    host.execute("UPDATE items SET note = 'edited'")
    host.execute("UPDATE items SET val = val")
    assert tallies(host) == {a: 2}
    assert step_rows(host) == before


@modes
def test_multi_row_update(host, mode, level):
    a, b = users(2)
    on, other = on_values(mode)
    off = off_value(mode)
    host.execute(
        "INSERT INTO items (id, user_id, val) VALUES (1, %s, NULL), (2, %s, %s),"
        " (3, %s, %s), (4, %s, NULL)",
        (a, a, on, b, on, b),
    )
    # Every row changes at once: 1 NULL->on, 2 on->other, 3 on->off, 4 stays NULL.
    host.execute(
        "UPDATE items SET val = CASE id WHEN 1 THEN %s WHEN 2 THEN %s WHEN 3 THEN %s END",
        (on, other, off),
    )
    expected = {
        "count": {a: 3, b: 1},  # inserts a:1 b:1; rows 1 and 2 count for a
        "toggle": {a: 2},  # rows 1, 2 of a are non-NULL; b has none
        "boolean": {a: 2, b: 1},  # inserts a:1 b:1; row 1 becomes TRUE
        "toggle_boolean": {a: 2},  # rows 1, 2 of a are TRUE
    }[mode]
    assert tallies(host) == expected


@modes
def test_update_moves_a_row_to_another_user(host, mode, level):
    a, b, c = users(3)
    on, _ = on_values(mode)
    off = off_value(mode)
    row_id = host.execute(
        "INSERT INTO items (user_id, val) VALUES (%s, %s) RETURNING id", (a, on)
    ).fetchone()[0]
    host.execute("UPDATE items SET user_id = %s WHERE id = %s", (b, row_id))
    if mode in GAUGES:
        assert tallies(host) == {b: 1}
    else:
        assert tallies(host) == {a: 1}  # a counter counts events; moving the row is none
    host.execute("UPDATE items SET user_id = %s, val = %s WHERE id = %s", (c, off, row_id))
    assert tallies(host) == ({} if mode in GAUGES else {a: 1})
    host.execute("UPDATE items SET user_id = %s, val = %s WHERE id = %s", (a, on, row_id))
    assert tallies(host) == ({a: 1} if mode in GAUGES else {a: 2})


@modes
def test_swapping_users_in_one_statement(host, mode, level):
    a, b = users(2)
    on, _ = on_values(mode)
    host.execute(
        "INSERT INTO items (id, user_id, val) VALUES (1, %s, %s), (2, %s, %s), (3, %s, %s)",
        (a, on, a, on, b, on),
    )
    host.execute("UPDATE items SET user_id = CASE WHEN user_id = %s THEN %s ELSE %s END", (a, b, a))
    assert tallies(host) == ({a: 1, b: 2} if mode in GAUGES else {a: 2, b: 1})


@modes
def test_delete(host, mode, level):
    a, b = users(2)
    on, _ = on_values(mode)
    off = off_value(mode)
    host.execute(
        "INSERT INTO items (user_id, val) VALUES (%s, %s), (%s, %s), (%s, %s), (%s, %s)",
        (a, on, a, on, a, off, b, on),
    )
    host.execute("DELETE FROM items WHERE user_id = %s", (a,))
    assert tallies(host) == ({b: 1} if mode in GAUGES else {a: 2, b: 1})
    host.execute("DELETE FROM items")
    assert tallies(host) == ({} if mode in GAUGES else {a: 2, b: 1})


@modes
def test_rows_without_a_user_are_not_counted(host, mode, level):
    (a,) = users(1)
    on, _ = on_values(mode)
    host.execute(
        "INSERT INTO items (id, user_id, val) VALUES (1, NULL, %s), (2, NULL, %s)", (on, on)
    )
    host.execute("UPDATE items SET user_id = %s WHERE id = 1", (a,))
    assert tallies(host) == ({a: 1} if mode in GAUGES else {})
    host.execute("UPDATE items SET user_id = NULL WHERE id = 1")
    host.execute("DELETE FROM items")
    assert tallies(host) == {}
