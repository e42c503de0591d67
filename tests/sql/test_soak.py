"""A bounded soak: 16 sessions mix every write path of the package at once, each operation one
statement in its own transaction: steps recorded and undone, tracked writes on a table tracked
for several steps (inserts, updates that move rows between users, deletes), steps logged
directly, badges awarded, claimed and revoked by call, backfills, catalog changes and counter
compaction; with a revocable badge about badges, a level of points and a step leaderboard
(issue 16) following them. No statement may fail (a deadlock, 40P01, fails the test), and at
the end every invariant holds: tallies equal their log and their table, every threshold reached
is held, every revocable badge held is earned, every level met is held, the badge about badges
is held exactly by the users with enough badges, the leaderboard's counters equal the log, every
counter equals a recount, and no notification is doubled."""

import json
import random
import uuid

from support.badges import check_counters, define_badge, define_level
from support.races import run_together

SESSIONS = 16
OPERATIONS = 120
USERS = [uuid.UUID(int=i) for i in range(1, 13)]

STEP_BADGES = {  # code: (step, threshold, revocable)
    "song_3": ("song", 3, True),
    "song_10": ("song", 10, False),
    "play_5": ("play", 5, False),
    "like_2": ("like", 2, True),
}
LEVELS = {"fan": {"song": 3, "play": 2}, "lover": {"like": 2}}


def set_up(db):
    for code, (step, threshold, revocable) in STEP_BADGES.items():
        define_badge(
            db, code, step=step, threshold=threshold, revocable=revocable, points=threshold
        )
    for name, requirements in LEVELS.items():
        define_level(db, name, **requirements)
    define_badge(db, "fan_badge", level="fan", points=7)
    define_badge(db, "sharer", client_grantable=True, points=1)
    define_badge(db, "gift", points=2)
    define_badge(db, "collector", min_badges=3, revocable=True, points=5)
    db.execute("INSERT INTO achievements.levels (name, min_points) VALUES ('pointy', 20)")
    db.execute("INSERT INTO achievements.step_leaderboards (step, period) VALUES ('song', 'day')")
    db.execute(
        "CREATE TABLE plays (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " who uuid, song text, liked boolean, rating text)"
    )
    db.execute("SELECT achievements.track('plays', 'play', 'song', 'count', 'who')")
    db.execute("SELECT achievements.track('plays', 'like', 'liked', 'toggle_boolean', 'who')")
    db.execute("SELECT achievements.track('plays', 'rated', 'rating', 'toggle', 'who')")
    db.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON plays TO PUBLIC")


def operation(rng, conn):
    """One statement of a random write path."""
    user = rng.choice(USERS)
    ids = [rng.randint(1, 400) for _ in range(rng.randint(1, 4))]
    choice = rng.randrange(17)
    if choice <= 2:
        conn.execute("SELECT achievements.record_step(%s, 'song', %s)", (user, rng.randint(1, 3)))
    elif choice == 3:
        conn.execute("SELECT achievements.undo_step(%s, 'song', %s)", (user, rng.randint(1, 3)))
    elif choice == 4:
        conn.execute(
            "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'visit', 2)",
            (user,),
        )
    elif choice <= 7:
        rows = [
            (
                rng.choice(USERS),
                rng.choice(["s", None]),
                rng.choice([True, False, None]),
                rng.choice(["5", None]),
            )
            for _ in range(rng.randint(1, 6))
        ]
        conn.execute(
            "INSERT INTO plays (who, song, liked, rating)"
            " SELECT * FROM unnest(%s::uuid[], %s::text[], %s::boolean[], %s::text[])",
            [list(column) for column in zip(*rows, strict=True)],
        )
    elif choice == 8:
        conn.execute(
            "UPDATE plays SET liked = NOT coalesce(liked, false),"
            " who = CASE WHEN id %% 2 = 0 THEN %s ELSE who END,"
            " song = coalesce(song, 'late') WHERE id = ANY(%s)",
            (user, ids),
        )
    elif choice == 9:
        conn.execute("DELETE FROM plays WHERE id = ANY(%s)", (ids,))
    elif choice == 10:
        conn.execute("SELECT achievements.award_badge(%s, 'gift')", (user,))
    elif choice == 11:
        conn.execute("SELECT achievements.revoke_badge(%s, 'gift')", (user,))
    elif choice == 12:
        conn.execute(
            "SELECT set_config('request.jwt.claims', %s, false), achievements.claim_badge('sharer')",
            (json.dumps({"sub": str(user)}),),
        )
    elif choice == 13:
        conn.execute("SELECT achievements.backfill_badge(%s)", (rng.choice(list(STEP_BADGES)),))
    elif choice == 14:
        conn.execute("SELECT achievements.backfill_levels()")
    elif choice == 15:
        conn.execute(
            "UPDATE achievements.badges SET points = points + 1 WHERE code = %s",
            (rng.choice(["song_3", "fan_badge", "gift"]),),
        )
    else:
        conn.execute("SELECT achievements.compact_counters()")


def one(db, query, *params):
    return db.execute(query, params).fetchall()


def test_sixteen_sessions_mixing_every_write_path_never_deadlock_and_stay_exact(db, connect):
    set_up(db)

    def work(index, conn):
        rng = random.Random(index)
        for _ in range(OPERATIONS):
            operation(rng, conn)

    run_together(connect, SESSIONS, work, timeout=600)

    # Tallies equal their log; gauges equal their table.
    assert (
        one(
            db,
            "SELECT t.user_id, t.name, t.count, s.total FROM achievements.user_achievements AS t"
            " FULL JOIN (SELECT user_id, name, sum(count) AS total FROM achievements.user_steps"
            "            GROUP BY 1, 2) AS s USING (user_id, name)"
            " WHERE t.count IS DISTINCT FROM s.total AND coalesce(t.count, 0) + coalesce(s.total, 0) <> 0",
        )
        == []
    )
    for step, qualifies in (("like", "liked IS TRUE"), ("rated", "rating IS NOT NULL")):
        assert (
            one(
                db,
                f"SELECT user_id, count FROM achievements.user_achievements WHERE name = '{step}'"
                " AND count <> 0 EXCEPT"
                f" SELECT who, count(*) FROM plays WHERE {qualifies} GROUP BY who",
            )
            == []
        )
        assert (
            one(
                db,
                f"SELECT who, count(*) FROM plays WHERE {qualifies} GROUP BY who EXCEPT"
                f" SELECT user_id, count FROM achievements.user_achievements WHERE name = '{step}'",
            )
            == []
        )
    # Every threshold reached is held; every revocable badge held is earned.
    for code, (step, threshold, revocable) in STEP_BADGES.items():
        assert (
            one(
                db,
                "SELECT user_id FROM achievements.user_achievements WHERE name = %s AND count >= %s"
                " EXCEPT SELECT user_id FROM achievements.user_badges WHERE badge = %s",
                step,
                threshold,
                code,
            )
            == []
        ), code
        if revocable:
            assert (
                one(
                    db,
                    "SELECT ub.user_id FROM achievements.user_badges AS ub"
                    " LEFT JOIN achievements.user_achievements AS t ON t.user_id = ub.user_id AND t.name = %s"
                    " WHERE ub.badge = %s AND coalesce(t.count, 0) < %s",
                    step,
                    code,
                    threshold,
                )
                == []
            ), code
    # Every level met is held, and its badge with it.
    for name, requirements in LEVELS.items():
        met = set(USERS)
        for step, count in requirements.items():
            met &= {
                r[0]
                for r in one(
                    db,
                    "SELECT user_id FROM achievements.user_achievements WHERE name = %s AND count >= %s",
                    step,
                    count,
                )
            }
        held = {
            r[0]
            for r in one(db, "SELECT user_id FROM achievements.user_levels WHERE level = %s", name)
        }
        assert met <= held, name
    assert (
        one(
            db,
            "SELECT user_id FROM achievements.user_levels WHERE level = 'fan'"
            " EXCEPT SELECT user_id FROM achievements.user_badges WHERE badge = 'fan_badge'",
        )
        == []
    )
    # The badge about badges: held exactly by the users holding 3 other badges.
    assert (
        one(
            db,
            "SELECT user_id FROM achievements.user_badges WHERE badge <> 'collector'"
            " GROUP BY user_id HAVING count(*) >= 3"
            " EXCEPT SELECT user_id FROM achievements.user_badges WHERE badge = 'collector'",
        )
        == []
    )
    assert (
        one(
            db,
            "SELECT user_id FROM achievements.user_badges WHERE badge = 'collector' EXCEPT"
            " SELECT user_id FROM achievements.user_badges WHERE badge <> 'collector'"
            " GROUP BY user_id HAVING count(*) >= 3",
        )
        == []
    )
    # The leaderboard's counters equal the log.
    assert (
        one(
            db,
            "SELECT user_id, sum(count) FROM achievements.user_steps WHERE name = 'song' GROUP BY 1"
            " EXCEPT SELECT user_id, sum(count) FROM achievements_private.step_period_counts GROUP BY 1",
        )
        == []
    )
    assert (
        one(
            db,
            "SELECT user_id, sum(count) FROM achievements_private.step_period_counts GROUP BY 1"
            " EXCEPT SELECT user_id, sum(count) FROM achievements.user_steps WHERE name = 'song' GROUP BY 1",
        )
        == []
    )
    # Counters, scores, holders, known users.
    check_counters(db)
    # No notification doubled: a badge never taken back is announced at most once, to a holder.
    assert (
        one(
            db,
            "SELECT user_id, kind, coalesce(data->>'badge', data->>'level'), count(*)"
            " FROM achievements.notifications"
            " WHERE kind = 'level' OR data->>'badge' IN ('song_10', 'play_5', 'fan_badge', 'sharer')"
            " GROUP BY 1, 2, 3 HAVING count(*) > 1",
        )
        == []
    )
    assert (
        one(
            db,
            "SELECT n.user_id, n.data->>'badge' FROM achievements.notifications AS n"
            " WHERE n.kind = 'badge' AND n.data->>'badge' IN ('song_10', 'play_5', 'fan_badge', 'sharer')"
            " EXCEPT SELECT user_id, badge FROM achievements.user_badges",
        )
        == []
    )
    # The soak did run every path.
    assert one(db, "SELECT count(DISTINCT badge) FROM achievements.user_badges")[0][0] >= 6
    assert one(db, "SELECT count(DISTINCT name) FROM achievements.user_steps")[0][0] == 5
