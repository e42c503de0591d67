"""The append-only counters behind user_rank and badge_stats: exact under concurrent writers,
folded automatically about every 1000 delta rows and on demand by compact_counters()."""

import uuid

import pytest

from support.badges import check_counters, define_badge
from support.races import run_together


def delta_rows(db):
    return db.execute(
        "SELECT (SELECT count(*) FROM achievements_private.points_histogram)"
        " + (SELECT count(*) FROM achievements_private.badge_holders)"
        " + (SELECT count(*) FROM achievements_private.known_user_count)"
    ).fetchone()[0]


def test_writers_fold_the_delta_rows_as_they_go(db):
    define_badge(db, "a", points=3)
    define_badge(db, "b", points=5)
    for _ in range(700):  # 700 awards x 2 statements: ~2800 delta rows written
        user = uuid.uuid4()
        db.execute("SELECT achievements.award_badge(%s, 'a')", (user,))
        db.execute("SELECT achievements.award_badge(%s, 'b')", (user,))
    assert delta_rows(db) < 1100
    check_counters(db)
    removed = db.execute("SELECT achievements.compact_counters()").fetchone()[0]
    assert removed > 0
    # One row per nonzero key is left: 700 users at 8 points, badges a and b, the user count.
    assert delta_rows(db) == 4
    assert db.execute("SELECT achievements.compact_counters()").fetchone()[0] == 4
    check_counters(db)


@pytest.mark.committed
def test_no_fold_inside_repeatable_read(db):
    define_badge(db, "a", points=1)
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert db.execute("SELECT achievements_private.compact_counters(false)").fetchone()[0] == -1


def test_counters_stay_exact_under_concurrent_writers_and_folds(db, connect):
    for code, points in [("a", 1), ("b", 2), ("c", 4)]:
        define_badge(db, code, points=points, step=f"s_{code}", threshold=1, revocable=True)
    users = [uuid.uuid4() for _ in range(40)]

    def work(i, conn):
        if i < 4:  # four writers
            for n in range(60):
                user = users[(i * 7 + n) % len(users)]
                step = "s_" + "abc"[(i + n) % 3]
                if n % 4 == 3:
                    conn.execute("SELECT achievements.undo_step(%s, %s)", (user, step))
                else:
                    conn.execute("SELECT achievements.record_step(%s, %s)", (user, step))
        else:  # and one session folding the counters meanwhile
            for _ in range(30):
                conn.execute("SELECT achievements.compact_counters()")

    run_together(connect, 5, work)
    check_counters(db)
    # Ranks from the histogram equal ranks counted the slow way.
    for user in users[:10]:
        fast = db.execute("SELECT achievements.user_rank(%s)", (user,)).fetchone()[0]
        slow = db.execute(
            "SELECT 1 + count(*) FROM achievements.user_scores"
            " WHERE points > (SELECT coalesce(max(points), 0) FROM achievements.user_scores"
            " WHERE user_id = %s)",
            (user,),
        ).fetchone()[0]
        assert fast == slow


def test_one_row_and_many_row_statements_keep_the_same_counters(db):
    # count_badges counts a one-row statement with single-row queries and a bigger one
    # set-based; mixed in any order, including badges worth 0 points, they agree with a recount.
    define_badge(db, "zero", points=0)
    define_badge(db, "five", points=5)
    define_badge(db, "nine", points=9, step="s", threshold=1, revocable=True)
    define_badge(db, "free", points=0, step="s", threshold=1)
    users = [uuid.uuid4() for _ in range(6)]
    for user in users[:4]:
        db.execute("SELECT achievements.award_badge(%s, 'zero')", (user,))
        db.execute("SELECT achievements.award_badge(%s, 'five')", (user,))
    # One statement: every user reaches step s, two badges each.
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name) SELECT u, 's' FROM unnest(%s::uuid[]) AS u",
        (users,),
    )
    check_counters(db)
    db.execute("SELECT achievements.revoke_badge(%s, 'five')", (users[0],))
    db.execute("SELECT achievements.revoke_badge(%s, 'zero')", (users[1],))
    db.execute("SELECT achievements.undo_step(%s, 's')", (users[2],))  # takes back 'nine' only
    check_counters(db)
    assert db.execute(
        "SELECT points, badges FROM achievements.user_scores WHERE user_id = %s", (users[0],)
    ).fetchone() == (9, 3)
    assert db.execute(
        "SELECT points, badges FROM achievements.user_scores WHERE user_id = %s", (users[2],)
    ).fetchone() == (5, 3)
