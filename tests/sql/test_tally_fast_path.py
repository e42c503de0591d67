"""The single-row path of the tally trigger (one positive step on an existing tally: a plain
UPDATE) is as exact as the set-based upsert, and fires only the AFTER UPDATE reactions."""

import uuid

from _races import run_together

TRIGGER_LOG = """
CREATE TABLE public.fired (event text);
CREATE FUNCTION public.log_fired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.fired VALUES (TG_OP);
    RETURN NULL;
END $$;
CREATE TRIGGER _900_log_insert AFTER INSERT ON achievements.user_achievements
    FOR EACH STATEMENT EXECUTE FUNCTION public.log_fired();
CREATE TRIGGER _900_log_update AFTER UPDATE ON achievements.user_achievements
    FOR EACH STATEMENT EXECUTE FUNCTION public.log_fired();
"""


def fired(db):
    rows = db.execute("DELETE FROM public.fired RETURNING event").fetchall()
    return sorted(r[0] for r in rows)


def tally(db, user, step):
    row = db.execute(
        "SELECT count FROM achievements.user_achievements WHERE user_id = %s AND name = %s",
        (user, step)).fetchone()
    return row[0] if row else None


def test_existing_tally_single_step_fires_only_update_reactions(db):
    db.execute(TRIGGER_LOG)
    user = uuid.uuid4()
    assert db.execute("SELECT achievements.record_step(%s, 'post')", (user,)).fetchone()[0] == 1
    assert fired(db) == ["INSERT", "UPDATE"]  # new tally: the upsert fires both
    assert db.execute("SELECT achievements.record_step(%s, 'post', 3)", (user,)).fetchone()[0] == 4
    assert fired(db) == ["UPDATE"]
    db.execute("INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'post', 2)",
               (user,))
    assert fired(db) == ["UPDATE"]
    assert tally(db, user, "post") == 6
    # Two rows, or an undo, take the general path (one upsert, the below-zero check).
    db.execute("INSERT INTO achievements.user_steps (user_id, name) VALUES (%s, 'post'), (%s, 'post')",
               (user, user))
    assert fired(db) == ["INSERT", "UPDATE"]
    assert db.execute("SELECT achievements.undo_step(%s, 'post', 8)", (user,)).fetchone()[0] == 0
    assert tally(db, user, "post") == 0


def test_single_step_on_existing_tally_still_awards_the_level(db):
    db.execute("INSERT INTO achievements.levels (name) VALUES ('writer')")
    db.execute("INSERT INTO achievements.level_requirements (level, name, required_count)"
               " VALUES ('writer', 'post', 3)")
    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'post', 2)", (user,))
    assert db.execute("SELECT count(*) FROM achievements.user_levels").fetchone()[0] == 0
    db.execute("SELECT achievements.record_step(%s, 'post')", (user,))
    assert db.execute("SELECT user_id, level FROM achievements.user_levels").fetchall() == [
        (user, "writer")]


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
                    (user,))

    run_together(connect, sessions, work)
    assert tally(db, user, "like") == 1 + sessions * calls
    assert db.execute("SELECT sum(count) FROM achievements.user_steps WHERE user_id = %s",
                      (user,)).fetchone()[0] == 1 + sessions * calls
