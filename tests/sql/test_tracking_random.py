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
    is_boolean,
    recount,
    tallies,
    users,
    wire,
)


def values_for(mode):
    return [None, True, False] if is_boolean(mode) else [None, "a", "b", "c"]


def run_random_sequence(db, mode, rng, model, people, statements=60, table="items"):
    values = values_for(mode)
    next_id = max(model.rows, default=0) + 1
    for _ in range(statements):
        op = rng.choice(["insert", "insert", "update", "update", "update", "delete"])
        if op == "insert" or not model.rows:
            batch = []
            for _ in range(rng.randint(1, 6)):
                batch.append((next_id, rng.choice(people), rng.choice(values)))
                next_id += 1
            db.execute(
                f"INSERT INTO {table} (id, user_id, val) SELECT * FROM unnest(%s::int[], %s::uuid[],"
                f" %s::{'boolean' if is_boolean(mode) else 'text'}[])",
                ([b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch]))
            for row_id, user, value in batch:
                model.insert(row_id, user, value)
        elif op == "update":
            chosen = rng.sample(sorted(model.rows), rng.randint(1, min(5, len(model.rows))))
            changes = []
            for row_id in chosen:
                user, value = model.rows[row_id]
                what = rng.choice(["value", "user", "both", "same"])
                if what in ("value", "both"):
                    value = rng.choice(values)
                if what in ("user", "both"):
                    user = rng.choice(people)
                changes.append((row_id, user, value))
            db.execute(
                f"UPDATE {table} AS t SET user_id = c.user_id, val = c.val"
                f" FROM unnest(%s::int[], %s::uuid[], %s::{'boolean' if is_boolean(mode) else 'text'}[])"
                " AS c(id, user_id, val) WHERE t.id = c.id",
                ([c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes]))
            for row_id, user, value in changes:
                model.update(row_id, user, value)
        else:
            chosen = rng.sample(sorted(model.rows), rng.randint(1, min(4, len(model.rows))))
            db.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", (chosen,))
            for row_id in chosen:
                model.delete(row_id)


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
