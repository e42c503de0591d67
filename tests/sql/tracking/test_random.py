"""A random mix of multi-row inserts, updates (value, user or both) and deletes, for every mode at
every level: the final tallies equal a recount of the host table (gauges) and the number of
qualifying events computed by a reference model (counters)."""

import random

import pytest

from support.tracking import (
    GAUGES,
    LEVELS,
    MODES,
    Model,
    create_host,
    is_boolean,
    recount,
    run_random_sequence,
    tallies,
    users,
    wire,
)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_sequence_matches_recount(db, mode, level, seed):
    create_host(db, mode)
    wire(db, mode, level)
    rng = random.Random(seed)
    people = users(4) + [None]
    model = Model(mode)
    run_random_sequence(db, mode, rng, model, people)
    assert tallies(db) == model.expected()
    if mode in GAUGES:
        assert tallies(db) == recount(db, mode)
    # The log adds up to the tallies: nothing was written around user_steps.
    logged = db.execute(
        "SELECT user_id, sum(count)::int FROM achievements.user_steps"
        " GROUP BY user_id HAVING sum(count) <> 0"
    ).fetchall()
    assert dict(logged) == model.expected()


@pytest.mark.parametrize("mode", MODES)
def test_random_transactions_that_roll_back_leave_no_trace(db, mode):
    """Statements inside rolled-back transactions count nothing."""
    create_host(db, mode)
    wire(db, mode, "track")
    rng = random.Random(7)
    people = users(3)
    model = Model(mode)
    run_random_sequence(db, mode, rng, model, people, statements=15)
    before = tallies(db)
    with pytest.raises(RuntimeError), db.transaction():
        run_random_sequence(db, mode, rng, _copy(model), people, statements=15)
        raise RuntimeError("roll back")
    assert tallies(db) == before == model.expected()


def _copy(model):
    clone = Model(model.mode)
    clone.rows = dict(model.rows)
    clone.counters = dict(model.counters)
    return clone


@pytest.mark.parametrize("level", [level for level in LEVELS if level != "track"])
@pytest.mark.parametrize("mode", MODES)
def test_random_sequence_on_a_partitioned_table(db, mode, level):
    """Updates that move some rows to another partition and leave others in place: old and new
    rows still pair up in the transition tables. (track() refuses partitioned tables:
    test_track.py.)"""
    if is_boolean(mode):
        db.execute(
            "CREATE TABLE items (id int, user_id uuid, val boolean, note text)"
            " PARTITION BY LIST (val)"
        )
        for name, values in [("t", "true"), ("f", "false"), ("n", "NULL")]:
            db.execute(f"CREATE TABLE items_{name} PARTITION OF items FOR VALUES IN ({values})")
    else:
        db.execute(
            "CREATE TABLE items (id int, user_id uuid, val text, note text)"
            " PARTITION BY LIST ((val IS NULL))"
        )
        db.execute("CREATE TABLE items_set PARTITION OF items FOR VALUES IN (false)")
        db.execute("CREATE TABLE items_null PARTITION OF items FOR VALUES IN (true)")
    wire(db, mode, level)
    people = users(3) + [None]
    model = Model(mode)
    run_random_sequence(db, mode, random.Random(11), model, people, statements=50)
    assert tallies(db) == model.expected()
    if mode in GAUGES:
        assert tallies(db) == recount(db, mode)
