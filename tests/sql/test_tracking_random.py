"""A random mix of multi-row inserts, updates (value, user or both) and deletes, for every mode at
every level: the final tallies equal a recount of the host table (gauges) and the number of
qualifying events computed by a reference model (counters)."""

import random

import pytest
from _tracking_support import (
    GAUGES,
    LEVELS,
    MODES,
    Model,
    create_host,
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
    logged = db.execute("SELECT user_id, sum(count)::int FROM achievements.user_steps"
                        " GROUP BY user_id HAVING sum(count) <> 0").fetchall()
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
        run_random_sequence(db, mode, rng, _copy(model), people,
                            statements=15)
        raise RuntimeError("roll back")
    assert tallies(db) == before == model.expected()


def _copy(model):
    clone = Model(model.mode)
    clone.rows = dict(model.rows)
    clone.counters = dict(model.counters)
    return clone
