"""Bulk statements at statement level: 100,000 host rows in one INSERT ... SELECT across 10,000
users, then bulk UPDATE and DELETE; every tally checked against a recount of the table."""

import pytest

from support.tracking import GAUGES, MODES, create_host, is_boolean

pytestmark = pytest.mark.slow

USERS = 10_000
ROWS = 100_000


def expected_tallies(db, mode):
    """Counters after the one INSERT, gauges at any time: per user, rows whose column counts."""
    qualifies = "val IS TRUE" if is_boolean(mode) else "val IS NOT NULL"
    return dict(
        db.execute(
            f"SELECT user_id, count(*) FROM items WHERE {qualifies} GROUP BY user_id"
        ).fetchall()
    )


def mismatches(db, step, expected):
    tallies = dict(
        db.execute(
            "SELECT user_id, count FROM achievements.user_achievements"
            " WHERE name = %s AND count <> 0",
            (step,),
        ).fetchall()
    )
    return {u: (tallies.get(u), c) for u, c in expected.items() if tallies.get(u) != c} | {
        u: (c, None) for u, c in tallies.items() if u not in expected
    }


@pytest.mark.parametrize("mode", MODES)
def test_one_statement_of_100000_rows_across_10000_users(db, mode):
    create_host(db, mode)
    db.execute("SELECT achievements.track('items', 'bulk', 'val', %s, 'user_id')", (mode,))
    # Each user gets 10 rows, of which 7 or 8 count (the others are NULL / FALSE).
    counts = f"(i + i / {USERS}) % 4 <> 0"
    value = f"({counts})" if is_boolean(mode) else f"CASE WHEN {counts} THEN 'v' || i END"
    db.execute(
        "CREATE TEMP TABLE people AS SELECT n, gen_random_uuid() AS user_id"
        f" FROM generate_series(0, {USERS - 1}) AS n"
    )
    db.execute(
        f"INSERT INTO items (user_id, val) SELECT p.user_id, {value}"
        f" FROM generate_series(1, {ROWS}) AS i JOIN people AS p ON p.n = i % {USERS}"
    )

    expected = expected_tallies(db, mode)
    assert len(expected) == USERS
    qualifying = sum(expected.values())
    assert ROWS * 7 // 10 <= qualifying <= ROWS * 8 // 10
    assert mismatches(db, "bulk", expected) == {}
    # One log row per user for the whole statement.
    assert db.execute(
        "SELECT count(*), count(DISTINCT user_id), sum(count)"
        " FROM achievements.user_steps WHERE name = 'bulk'"
    ).fetchone() == (USERS, USERS, qualifying)

    if mode in GAUGES:
        # Bulk UPDATE (value and user change at once) and DELETE keep the gauge a recount.
        off = "NOT val" if is_boolean(mode) else "CASE WHEN val IS NULL THEN 'w' END"
        db.execute(f"UPDATE items SET val = {off} WHERE id % 3 = 0")
        db.execute(
            f"UPDATE items SET user_id = p.user_id FROM people AS p"
            f" WHERE p.n = (items.id * 7) % {USERS} AND items.id % 5 = 0"
        )
        assert mismatches(db, "bulk", expected_tallies(db, mode)) == {}
        db.execute("DELETE FROM items WHERE id % 2 = 0")
        assert mismatches(db, "bulk", expected_tallies(db, mode)) == {}
