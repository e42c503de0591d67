"""The tally trigger hands every changed tally to achievements_private.tallies_changed with
its count before and after the statement, on the single-row path (one positive step on an
existing tally: a plain UPDATE) as on the set-based upsert, and both are exact."""

import uuid

from support.races import run_together
from support.steps import tally

# Replaces the hook (levels and badges) with one that records what it is handed.
RECORD_HOOK = """
CREATE TABLE public.handed (user_id uuid, name text, old_count int, new_count int);
CREATE OR REPLACE FUNCTION achievements_private.tallies_changed(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.handed SELECT * FROM unnest(user_ids, names, old_counts, new_counts);
END $$;
"""


def handed(db):
    rows = db.execute("DELETE FROM public.handed RETURNING name, old_count, new_count").fetchall()
    return sorted(rows)


def test_every_path_hands_over_the_counts_before_and_after(db):
    db.execute(RECORD_HOOK)
    user = uuid.uuid4()
    assert db.execute("SELECT achievements.record_step(%s, 'post')", (user,)).fetchone()[0] == 1
    assert handed(db) == [("post", 0, 1)]  # new tally: the upsert
    assert db.execute("SELECT achievements.record_step(%s, 'post', 3)", (user,)).fetchone()[0] == 4
    assert handed(db) == [("post", 1, 4)]  # existing tally: the single-row UPDATE
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'post', 2)", (user,)
    )
    assert handed(db) == [("post", 4, 6)]
    # Several rows, steps and users in one statement: one element per tally, net of the statement.
    other = uuid.uuid4()
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count)"
        " VALUES (%s, 'post', 1), (%s, 'post', 2), (%s, 'like', 1), (%s, 'post', 5)",
        (user, user, user, other),
    )
    assert handed(db) == [("like", 0, 1), ("post", 0, 5), ("post", 6, 9)]
    # An undo takes the general path; undoing nothing changes no tally and hands over nothing.
    assert db.execute("SELECT achievements.undo_step(%s, 'post', 20)", (user,)).fetchone()[0] == 0
    assert handed(db) == [("post", 9, 0)]
    assert db.execute("SELECT achievements.undo_step(%s, 'post')", (user,)).fetchone()[0] == 0
    assert handed(db) == []
    assert tally(db, user, "post") == 0


def test_single_step_on_existing_tally_still_awards_the_level(db):
    db.execute("INSERT INTO achievements.levels (name) VALUES ('writer')")
    db.execute(
        "INSERT INTO achievements.level_requirements (level, name, required_count)"
        " VALUES ('writer', 'post', 3)"
    )
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 2)", (user,))
    assert db.execute("SELECT count(*) FROM achievements.user_levels").fetchone()[0] == 0
    db.execute("SELECT achievements.record_step(%s, 'post')", (user,))
    assert db.execute("SELECT user_id, level FROM achievements.user_levels").fetchall() == [
        (user, "writer")
    ]


def test_concurrent_single_steps_on_one_existing_tally_lose_nothing(db, connect):
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'like')", (user,))
    sessions, calls = 6, 60

    def work(i, conn):
        for n in range(calls):
            if n % 2:
                conn.execute("SELECT achievements.record_step(%s, 'like')", (user,))
            else:
                conn.execute(
                    "INSERT INTO achievements.user_steps (user_id, name) VALUES (%s, 'like')",
                    (user,),
                )

    run_together(connect, sessions, work)
    assert tally(db, user, "like") == 1 + sessions * calls
    assert (
        db.execute(
            "SELECT sum(count) FROM achievements.user_steps WHERE user_id = %s", (user,)
        ).fetchone()[0]
        == 1 + sessions * calls
    )
