"""One lock order for every write path (docs/locks.md): interleavings that deadlocked when two
paths took the same locks in different orders, made deterministic by a gate session that holds
a badge row, so that one path stops half-way while the other starts; and backfills that could
cross an undo. Each interleaving must end with both sessions done and the state exact."""

import uuid

from support.badges import badges_of, check_counters, define_badge, define_level
from support.races import blocked_call
from support.steps import tally

USER = uuid.UUID(int=7)


def gate_on_badge(connect, code):
    """A session that holds the badge row FOR UPDATE: a count_badges that reads it FOR SHARE
    (an award of that badge) waits for it. Rolled back to open the gate."""
    gate = connect(autocommit=False)
    gate.execute("SELECT 1 FROM achievements.badges WHERE code = %s FOR UPDATE", (code,))
    return gate


def test_an_award_by_call_and_an_automatic_award_of_a_new_user_do_not_deadlock(db, connect):
    """Before: award_badge locked the user's score and then registered the user, an automatic
    award registered the user and then locked the score. Now both take the user's lock first."""
    define_badge(db, "first_song", step="song", threshold=1, points=10)
    define_badge(db, "sharer", client_grantable=True, points=5)
    observer, automatic, by_call = connect(), connect(), connect()
    gate = gate_on_badge(connect, "first_song")
    # The new user's first step: registers them, then stops awarding first_song at the gate.
    stepping = blocked_call(
        observer,
        automatic,
        lambda c: c.execute("SELECT achievements.record_step(%s, 'song')", (USER,)),
    )
    # The award by call of another badge to the same user waits for the first one.
    awarding = blocked_call(
        observer,
        by_call,
        lambda c: c.execute("SELECT achievements.award_badge(%s, 'sharer')", (USER,)),
    )
    gate.rollback()
    stepping.result()
    awarding.result()
    assert badges_of(db, USER) == ["first_song", "sharer"]
    assert db.execute(
        "SELECT points, badges FROM achievements.user_scores WHERE user_id = %s", (USER,)
    ).fetchone() == (15, 2)
    check_counters(db)


def test_a_table_tracked_for_two_steps_and_a_level_award_do_not_deadlock(db, connect):
    """Before: a statement on a table tracked for two steps ran the tally path once per step,
    so it locked the user's score (a badge of the first step) and then the user's level lock
    (a level of the second), while a level award took them the other way round. Now all of a
    statement's steps go through one tally call, which takes the user's lock once, first."""
    db.execute("SELECT achievements.record_step(%s, 'known')", (USER,))  # not a new user
    define_badge(db, "first_play", step="a_play", threshold=1, points=1)
    define_level(db, "listener", b_like=1)
    define_level(db, "regular", c_visit=1)
    define_badge(db, "regular_badge", level="regular", points=2)
    db.execute("CREATE TABLE plays (id int PRIMARY KEY, who uuid, song text, liked boolean)")
    db.execute("SELECT achievements.track('plays', 'a_play', 'song', 'count', 'who')")
    db.execute("SELECT achievements.track('plays', 'b_like', 'liked', 'boolean', 'who')")
    observer, leveling, writing = connect(), connect(), connect()
    gate = gate_on_badge(connect, "regular_badge")
    # The level award takes the user's lock, reaches 'regular', stops at its badge.
    visiting = blocked_call(
        observer,
        leveling,
        lambda c: c.execute("SELECT achievements.record_step(%s, 'c_visit')", (USER,)),
    )
    # The tracked write (a badge of one step, a level of the other) waits for it.
    inserting = blocked_call(
        observer,
        writing,
        lambda c: c.execute("INSERT INTO plays VALUES (1, %s, 'x', true)", (USER,)),
    )
    gate.rollback()
    visiting.result()
    inserting.result()
    assert badges_of(db, USER) == ["first_play", "regular_badge"]
    assert db.execute(
        "SELECT level FROM achievements.user_levels WHERE user_id = %s ORDER BY 1", (USER,)
    ).fetchall() == [("listener",), ("regular",)]
    check_counters(db)


def test_a_backfill_waits_for_an_undo_that_revokes(db, connect):
    """The undo drops the tally below a revocable badge's threshold and holds the user's lock:
    the backfill, which takes every user's lock first, then sees the undone tally and awards
    nothing. Before, it read the tally of its snapshot and awarded after the revocation."""
    db.execute("SELECT achievements.record_step(%s, 'song', 3)", (USER,))
    define_badge(db, "three_songs", step="song", threshold=3, revocable=True)
    undoing = connect(autocommit=False)
    undoing.execute("SELECT achievements.undo_step(%s, 'song', 2)", (USER,))
    backfill = blocked_call(
        connect(),
        connect(),
        lambda c: c.execute("SELECT achievements.backfill_badge('three_songs')"),
    )
    undoing.commit()
    backfill.result()
    assert tally(db, USER, "song") == 1
    assert badges_of(db, USER) == []
    check_counters(db)


def test_an_undo_that_revokes_waits_for_a_backfill(db, connect):
    """The other order: the backfill awards and holds every user's lock; the undo waits, then
    revokes what the backfill awarded. Before, the undo did not wait, found nothing to revoke,
    and the backfill's award stood over a tally below its threshold."""
    db.execute("SELECT achievements.record_step(%s, 'song', 3)", (USER,))
    define_badge(db, "three_songs", step="song", threshold=3, revocable=True)
    backfilling = connect(autocommit=False)
    assert (
        backfilling.execute("SELECT achievements.backfill_badge('three_songs')").fetchone()[0] == 1
    )
    undo = blocked_call(
        connect(),
        connect(),
        lambda c: c.execute("SELECT achievements.undo_step(%s, 'song', 2)", (USER,)),
    )
    backfilling.commit()
    undo.result()
    assert tally(db, USER, "song") == 1
    assert badges_of(db, USER) == []
    check_counters(db)


def test_a_catalog_change_and_an_award_take_the_users_first(db, connect):
    """Renaming a level cascades to the badges of the level (whose change takes every user's
    lock), and a level award locks the level row it points to. The award holds the user's lock
    and stops at the gate before its level; the rename must not lock the level row first and
    then wait for the user, or the award would wait for the level row: the rename takes every
    user's lock before it touches the row (the trigger on levels that 0003 adds)."""
    define_level(db, "regular", visit=1)
    define_badge(db, "regular_badge", level="regular", points=2)
    observer, awarding, renaming = connect(), connect(), connect()
    # The gate: a session registering the same new user, so that the award stops there.
    gate = connect(autocommit=False)
    gate.execute("INSERT INTO achievements_private.known_users (user_id) VALUES (%s)", (USER,))
    visiting = blocked_call(
        observer,
        awarding,
        lambda c: c.execute("SELECT achievements.record_step(%s, 'visit')", (USER,)),
    )
    rename = blocked_call(
        observer,
        renaming,
        lambda c: c.execute(
            "UPDATE achievements.levels SET name = 'habitue' WHERE name = 'regular'"
        ),
    )
    gate.rollback()
    visiting.result()
    rename.result()
    assert db.execute(
        "SELECT level FROM achievements.user_levels WHERE user_id = %s", (USER,)
    ).fetchall() == [("habitue",)]
    assert badges_of(db, USER) == ["regular_badge"]
    check_counters(db)
