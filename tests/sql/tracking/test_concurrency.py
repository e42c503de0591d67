"""Several sessions writing the same user's rows at once, at statement level: no count is lost,
no statement deadlocks, and the tallies equal the recount / the events of every session."""

import random

import psycopg
import pytest

from support.races import run_together
from support.tracking import (
    GAUGES,
    MODES,
    Model,
    create_host,
    on_values,
    recount,
    run_random_sequence,
    tallies,
    users,
    wire,
)

SESSIONS = 6


def run_sessions(connect, work):
    """Runs work(index, connection) in SESSIONS sessions that start together."""
    run_together(connect, SESSIONS, work, timeout=300)


@pytest.mark.parametrize("mode", MODES)
def test_sessions_mixing_statements_on_the_same_users(db, connect, mode):
    create_host(db, mode)
    wire(db, mode, "track")
    # A level on the step, so that level awarding runs (and locks) under the same load.
    db.execute("INSERT INTO achievements.levels (name) VALUES ('regular')")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count)"
        " VALUES ('regular', 's', 3)"
    )
    shared, b, c = users(3)
    # Mostly the same user; multi-row statements touch the users in random orders.
    people = [shared, shared, shared, b, c, None]
    models = [Model(mode) for _ in range(SESSIONS)]

    def work(index, conn):
        run_random_sequence(
            conn,
            mode,
            random.Random(index),
            models[index],
            people,
            statements=40,
            first_id=1 + index * 100_000,
        )

    run_sessions(connect, work)
    expected: dict = {}
    for model in models:
        for user, count in model.expected().items():
            expected[user] = expected.get(user, 0) + count
    assert tallies(db) == expected
    awarded = db.execute("SELECT user_id FROM achievements.user_levels").fetchall()
    if mode in GAUGES:
        assert tallies(db) == recount(db, mode)
    else:
        # A counter only grows: the level is held exactly by the users at 3 or more.
        assert sorted(u for (u,) in awarded) == sorted(u for u, n in expected.items() if n >= 3)
    assert len(awarded) == len(set(awarded))


@pytest.mark.parametrize("mode", ["count", "toggle"])
def test_overlapping_transactions_on_one_user(db, connect, mode):
    """Each session runs transactions of several statements on one user; they overlap and
    queue on the user's tally."""
    create_host(db, mode)
    wire(db, mode, "track")
    (shared,) = users(1)
    on, other = on_values(mode)

    def work(index, conn):
        base = 1 + index * 1000
        for round_ in range(5):
            first = base + round_ * 10
            with conn.transaction():
                conn.execute(
                    "INSERT INTO items (id, user_id, val)"
                    " SELECT g, %s, %s FROM generate_series(%s::int, %s::int) AS g",
                    (shared, on, first, first + 4),
                )
                conn.execute(
                    "UPDATE items SET val = %s WHERE id BETWEEN %s AND %s",
                    (other, first, first + 1),
                )
                conn.execute("DELETE FROM items WHERE id = %s", (first + 4,))

    run_sessions(connect, work)
    if mode == "count":
        # 5 inserts and 2 changed values per round, 5 rounds, every session.
        assert tallies(db) == {shared: SESSIONS * 5 * 7}
    else:
        assert tallies(db) == recount(db, mode) == {shared: SESSIONS * 5 * 4}


def test_sessions_inserting_users_in_opposite_orders_never_deadlock(db, connect):
    """Each statement locks the tallies it changes in user order, whatever the row order."""
    create_host(db, "toggle")
    wire(db, "toggle", "track")
    people = users(20)

    def work(index, conn):
        order = people if index % 2 == 0 else list(reversed(people))
        for round_ in range(10):
            first = 1 + index * 10_000 + round_ * 100
            with conn.transaction():
                conn.execute(
                    "INSERT INTO items (id, user_id, val)"
                    " SELECT %s + o, u, 'x'"
                    " FROM unnest(%s::uuid[]) WITH ORDINALITY AS t(u, o)",
                    (first, order),
                )
                conn.execute("UPDATE items SET val = NULL WHERE id = %s", (first + 1,))

    run_sessions(connect, work)
    assert tallies(db) == recount(db, "toggle")
    assert sum(tallies(db).values()) == SESSIONS * 10 * 19


def test_row_level_single_row_statements_lose_nothing(db, connect):
    create_host(db, "toggle")
    wire(db, "toggle", "row")
    (shared,) = users(1)

    def work(index, conn):
        for i in range(30):
            row_id = 1 + index * 1000 + i
            conn.execute(
                "INSERT INTO items (id, user_id, val) VALUES (%s, %s, 'x')", (row_id, shared)
            )
            if i % 3 == 0:
                conn.execute("DELETE FROM items WHERE id = %s", (row_id,))

    run_sessions(connect, work)
    assert tallies(db) == recount(db, "toggle") == {shared: SESSIONS * 20}


def test_a_failed_host_statement_counts_nothing(db, connect):
    """A statement that fails after the tracking trigger ran (a later trigger raises) is rolled
    back with everything it logged."""
    create_host(db, "count")
    wire(db, "count", "track")
    db.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                  $$BEGIN RAISE EXCEPTION 'refused'; END$$""")
    db.execute(
        "CREATE TRIGGER zzz_refuse AFTER INSERT ON items FOR EACH STATEMENT"
        " EXECUTE FUNCTION refuse()"
    )
    (a,) = users(1)
    with pytest.raises(psycopg.errors.RaiseException):
        db.execute("INSERT INTO items (user_id, val) VALUES (%s, 'x')", (a,))
    assert tallies(db) == {}
    assert db.execute("SELECT count(*) FROM achievements.user_steps").fetchone()[0] == 0
