"""Automatic awarding: threshold and level badges follow the tallies in the same transaction,
whichever way the steps arrive; revocable badges follow them back down; backfill awards
silently; seasonal windows hold. Exactly once under concurrency."""

import random
import threading
import uuid

import psycopg
import pytest

from support.badges import (
    badges_of,
    check_counters,
    define_badge,
    define_level,
    notifications_of,
    score_of,
)
from support.races import blocked_call


def step(db, user, name="song", count=1):
    return db.execute(
        "SELECT achievements.record_step(%s, %s, %s)", (user, name, count)
    ).fetchone()[0]


def undo(db, user, name="song", count=1):
    return db.execute("SELECT achievements.undo_step(%s, %s, %s)", (user, name, count)).fetchone()[
        0
    ]


@pytest.fixture
def tiers(db):
    define_badge(db, "song_1", step="song", threshold=1, points=1)
    define_badge(db, "song_10", step="song", threshold=10, points=10)
    define_badge(db, "song_100", step="song", threshold=100, points=100, rarity="epic")
    define_badge(db, "video_5", step="video", threshold=5, points=5)


def test_record_step_awards_each_tier_once_with_a_notification(db, tiers):
    user = uuid.uuid4()
    step(db, user)
    assert badges_of(db, user) == ["song_1"]
    for _ in range(8):
        step(db, user)
    assert badges_of(db, user) == ["song_1"]
    step(db, user)  # 10
    assert badges_of(db, user) == ["song_1", "song_10"]
    step(db, user, count=500)  # crosses 100 with one call
    assert badges_of(db, user) == ["song_1", "song_10", "song_100"]
    step(db, user, count=5)
    assert notifications_of(db, user) == [
        ("badge", "song_1"),
        ("badge", "song_10"),
        ("badge", "song_100"),
    ]
    assert score_of(db, user) == (111, 3)
    check_counters(db)


def test_the_award_is_in_the_transaction_of_the_step(db, tiers):
    user = uuid.uuid4()
    with pytest.raises(psycopg.errors.RaiseException), db.transaction():
        step(db, user, count=10)
        assert badges_of(db, user) == ["song_1", "song_10"]
        db.execute("DO $$ BEGIN RAISE EXCEPTION 'app failure'; END $$")
    assert badges_of(db, user) == []
    assert notifications_of(db, user) == []
    assert score_of(db, user) == (0, 0)
    check_counters(db)


def test_bulk_insert_into_user_steps_awards_exactly(db, tiers):
    rng = random.Random(7)
    users = [uuid.uuid4() for _ in range(300)]
    rows = [
        (u, rng.choice(["song", "video"]), rng.randint(1, 40))
        for u in users
        for _ in range(rng.randint(1, 6))
    ]
    with db.cursor() as cur:
        cur.execute("CREATE TEMP TABLE incoming (user_id uuid, name text, count int)")
        with cur.copy("COPY incoming FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        # Two bulk statements, so that the second crosses thresholds from existing tallies.
        half = len(users) // 2
        cur.execute(
            "INSERT INTO achievements.user_steps (user_id, name, count)"
            " SELECT user_id, name, count FROM incoming WHERE user_id = ANY(%s)",
            (users[:half],),
        )
        cur.execute(
            "INSERT INTO achievements.user_steps (user_id, name, count)"
            " SELECT user_id, name, count FROM incoming"
        )
    totals: dict[tuple[uuid.UUID, str], int] = {}
    for u, name, c in rows:
        factor = 2 if u in set(users[: len(users) // 2]) else 1
        totals[(u, name)] = totals.get((u, name), 0) + c * factor
    expected = sorted(
        (u, code)
        for (u, name), total in totals.items()
        for code, s, t in [
            ("song_1", "song", 1),
            ("song_10", "song", 10),
            ("song_100", "song", 100),
            ("video_5", "video", 5),
        ]
        if s == name and total >= t
    )
    got = db.execute("SELECT user_id, badge FROM achievements.user_badges ORDER BY 1, 2").fetchall()
    assert got == expected
    notified = db.execute(
        "SELECT user_id, data->>'badge' FROM achievements.notifications"
        " WHERE kind = 'badge' ORDER BY 1, 2"
    ).fetchall()
    assert notified == expected
    check_counters(db)


def test_revocable_badge_follows_the_tally_back_down(db):
    define_badge(db, "liked_3", step="like", threshold=3, points=30, revocable=True)
    define_badge(db, "liked_1", step="like", threshold=1, points=1)  # not revocable
    user = uuid.uuid4()
    step(db, user, "like", 3)
    assert badges_of(db, user) == ["liked_1", "liked_3"]
    undo(db, user, "like")  # 2: below 3
    assert badges_of(db, user) == ["liked_1"]
    assert score_of(db, user) == (1, 1)
    undo(db, user, "like", 5)  # 0: liked_1 is not revocable
    assert badges_of(db, user) == ["liked_1"]
    step(db, user, "like", 3)  # toggled again: earned again, announced again
    assert badges_of(db, user) == ["liked_1", "liked_3"]
    assert score_of(db, user) == (31, 2)
    assert notifications_of(db, user) == [
        ("badge", "liked_1"),
        ("badge", "liked_3"),
        ("badge_revoked", "liked_3"),
        ("badge", "liked_3"),
    ]
    # A negative row inserted in bulk revokes too.
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count) VALUES (%s, 'like', -1)",
        (user,),
    )
    assert badges_of(db, user) == ["liked_1"]
    check_counters(db)


def test_a_badge_revoked_by_hand_returns_only_when_the_threshold_is_crossed_again(db):
    define_badge(db, "ten", step="song", threshold=10, revocable=True)
    user = uuid.uuid4()
    step(db, user, count=12)
    db.execute("SELECT achievements.revoke_badge(%s, 'ten')", (user,))
    step(db, user)  # 13: no crossing
    assert badges_of(db, user) == []
    undo(db, user, count=5)  # 8
    step(db, user, count=2)  # 10: crossed
    assert badges_of(db, user) == ["ten"]


def test_level_badge_and_level_notification(db):
    define_level(db, "fan", song=2, video=1)
    define_badge(db, "fan_badge", level="fan", points=20)
    define_badge(db, "song_2", step="song", threshold=2)
    user = uuid.uuid4()
    step(db, user, "song", 2)
    assert badges_of(db, user) == ["song_2"]
    step(db, user, "video")
    assert badges_of(db, user) == ["fan_badge", "song_2"]
    assert notifications_of(db, user) == [
        ("badge", "song_2"),
        ("level", "fan"),
        ("badge", "fan_badge"),
    ]
    # Levels are kept when steps are undone, and so is the level badge.
    undo(db, user, "video")
    assert badges_of(db, user) == ["fan_badge", "song_2"]
    check_counters(db)


def test_seasonal_window(db):
    define_badge(db, "past", step="song", threshold=1, active_until="2000-01-01")
    define_badge(db, "future", step="song", threshold=1, active_from="2999-01-01")
    define_badge(
        db, "now", step="song", threshold=1, active_from="2000-01-01", active_until="2999-01-01"
    )
    define_level(db, "fan", song=1)
    define_badge(db, "fan_past", level="fan", active_until="2000-01-01")
    user = uuid.uuid4()
    step(db, user)
    assert badges_of(db, user) == ["now"]
    # The window opens later: the next crossing, or a backfill, awards it.
    db.execute("UPDATE achievements.badges SET active_from = NULL WHERE code = 'future'")
    assert db.execute("SELECT achievements.backfill_badge('future')").fetchone()[0] == 1
    for code in ("past", "fan_past"):
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT achievements.backfill_badge(%s)", (code,))
        assert err.value.sqlstate == "AD204"
    assert badges_of(db, user) == ["future", "now"]


@pytest.mark.committed
def test_quiet_awards_without_notifications(db, tiers):
    user = uuid.uuid4()
    with db.transaction():
        db.execute("SET LOCAL achievements.quiet = on")
        step(db, user, count=10)
    assert badges_of(db, user) == ["song_1", "song_10"]
    assert notifications_of(db, user) == []
    assert (
        db.execute("SELECT bool_and(notified) FROM achievements.user_badges").fetchone()[0] is True
    )
    step(db, user, count=90)  # quiet was local to that transaction
    assert notifications_of(db, user) == [("badge", "song_100")]


def test_concurrent_steps_cross_a_threshold_once(db, connect, tiers):
    """20 sessions add one song each to one user: the first holds the tally's row lock while 19
    more queue behind it and an award_badge of song_10 commits in between. song_1 and song_10
    are each awarded and announced once."""
    user = uuid.uuid4()
    step(db, user, count=5)
    first = connect(autocommit=False)
    step(first, user)
    queued = [
        blocked_call(db, connect(autocommit=False), lambda conn: (step(conn, user), conn.commit()))
        for _ in range(19)
    ]
    award = connect()
    award.execute("SELECT achievements.award_badge(%s, 'song_10')", (user,))
    first.commit()
    for session in queued:
        session.result()
    assert (
        db.execute(
            "SELECT count FROM achievements.user_achievements WHERE user_id = %s", (user,)
        ).fetchone()[0]
        == 25
    )
    assert badges_of(db, user) == ["song_1", "song_10"]
    assert sorted(notifications_of(db, user)) == [("badge", "song_1"), ("badge", "song_10")]
    assert score_of(db, user) == (11, 2)
    check_counters(db)


def test_concurrent_bulk_statements_over_shared_users(db, connect, tiers):
    users = [uuid.uuid4() for _ in range(200)]
    sessions = [connect() for _ in range(4)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(conn):
        try:
            barrier.wait()
            conn.execute(
                "INSERT INTO achievements.user_steps (user_id, name, count)"
                " SELECT u, 'song', 3 FROM unnest(%s::uuid[]) AS u",
                (users,),
            )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (
        db.execute(
            "SELECT count(*) FROM achievements.user_badges WHERE badge = 'song_10'"
        ).fetchone()[0]
        == 200
    )
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 400
    check_counters(db)


def test_backfill_badge_awards_qualified_users_silently(db, tiers):
    users = [uuid.uuid4() for _ in range(50)]
    for i, u in enumerate(users):
        step(db, u, "song", i + 1)
    define_level(db, "veteran", song=40)
    define_badge(db, "song_25", step="song", threshold=25, points=25)
    define_badge(db, "veteran_badge", level="veteran", points=3)
    define_badge(db, "by_hand")
    before = db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0]
    assert db.execute("SELECT achievements.backfill_badge('song_25')").fetchone()[0] == 26
    assert db.execute("SELECT achievements.backfill_badge('song_25')").fetchone()[0] == 0
    assert db.execute("SELECT achievements.backfill_levels('veteran')").fetchone()[0] == 11
    assert db.execute("SELECT achievements.backfill_badge('veteran_badge')").fetchone()[0] == 0
    assert db.execute("SELECT achievements.backfill_badge('by_hand')").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == before
    assert db.execute(
        "SELECT count(*), bool_and(notified) FROM achievements.user_badges"
        " WHERE badge IN ('song_25', 'veteran_badge')"
    ).fetchone() == (26 + 11, True)
    assert score_of(db, users[49]) == (1 + 10 + 25 + 3, 4)
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.backfill_badge('nope')")
    assert err.value.sqlstate == "AD201"
    check_counters(db)


@pytest.mark.slow
def test_backfill_over_100000_users(db):
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count)"
        " SELECT gen_random_uuid(), 'song', g % 20 + 1 FROM generate_series(1, 100000) AS g"
    )
    define_badge(db, "song_15", step="song", threshold=15, points=15)
    assert db.execute("SELECT achievements.backfill_badge('song_15')").fetchone()[0] == 30000
    assert db.execute("SELECT achievements.backfill_badge('song_15')").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 0
    assert (
        db.execute("SELECT count(*) FROM achievements.user_scores WHERE points = 15").fetchone()[0]
        == 30000
    )
    check_counters(db)


def test_backfill_beside_a_concurrent_award_of_the_same_badge(db, connect):
    """The backfill's fast path (a plain INSERT) meets an award committed meanwhile: it is redone
    with ON CONFLICT DO NOTHING, and the user holds the badge once, announced once."""
    users = [uuid.uuid4() for _ in range(30)]
    for u in users:
        step(db, u, "song", 5)
    define_badge(db, "five", step="song", threshold=5, points=5)
    awarding = connect(autocommit=False)
    awarding.execute("SELECT achievements.award_badge(%s, 'five')", (users[0],))  # uncommitted
    backfill = blocked_call(
        db,
        connect(),
        lambda conn: conn.execute("SELECT achievements.backfill_badge('five')").fetchone()[0],
    )  # waits on users[0]'s row
    awarding.commit()
    result = [backfill.result()]
    assert result == [29]
    assert db.execute("SELECT count(*) FROM achievements.user_badges").fetchone()[0] == 30
    assert notifications_of(db, users[0]) == [("badge", "five")]
    check_counters(db)


def test_concurrent_toggles_keep_a_revocable_badge_in_step_with_the_tally(db, connect):
    """8 sessions like and unlike at once: the revocable badge is held exactly when the tally
    reaches its threshold, its points follow, and each rise above the threshold is announced."""
    define_badge(db, "liked", step="like", threshold=2, points=7, revocable=True)
    user = uuid.uuid4()
    step(db, user, "like")  # 1: one more like crosses the threshold
    sessions = [connect() for _ in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def run(i, conn):
        try:
            barrier.wait()
            for n in range(25):
                if (i + n) % 2:
                    undo(conn, user, "like")
                else:
                    step(conn, user, "like")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tally = db.execute(
        "SELECT count FROM achievements.user_achievements WHERE user_id = %s", (user,)
    ).fetchone()[0]
    held = badges_of(db, user) == ["liked"]
    assert held == (tally >= 2)
    assert score_of(db, user) == ((7, 1) if held else (0, 0))
    # Rises and falls alternate, starting with a rise: awards = revocations + (1 if held).
    # The holder counter has one delta row per award (+1) and per revocation (-1); too few
    # rows were written for a fold.
    awards, revocations = db.execute(
        "SELECT count(*) FILTER (WHERE holders > 0), count(*) FILTER (WHERE holders < 0)"
        " FROM achievements_private.badge_holders"
    ).fetchone()
    assert awards == revocations + (1 if held else 0)
    # One notification per award and per revocation, alternating.
    assert notifications_of(db, user) == [
        ("badge", "liked"),
        ("badge_revoked", "liked"),
    ] * revocations + [("badge", "liked")] * (1 if held else 0)
    check_counters(db)


def levels_of(db, user):
    rows = db.execute(
        "SELECT level FROM achievements.user_levels WHERE user_id = %s ORDER BY level", (user,)
    ).fetchall()
    return [r[0] for r in rows]


def test_a_statement_whose_counts_straddle_a_threshold_awards_only_real_crossings(db):
    """tallies_changed gates a statement by the range of counts per step, which can straddle a
    threshold that no single tally crosses: the reactions must then award nothing; and a
    statement where one tally of many crosses must award that one alone."""
    define_level(db, "five_songs", song=5)
    define_badge(db, "song_5", step="song", threshold=5, points=5)
    low, high, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    step(db, low, count=3)
    step(db, high, count=10)
    step(db, other, count=1)
    before = {u: (badges_of(db, u), levels_of(db, u)) for u in (low, high, other)}

    # 3 -> 4 and 10 -> 12: the range 3..12 holds 5, no tally crosses it.
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count)"
        " VALUES (%s, 'song', 1), (%s, 'song', 2)",
        (low, high),
    )
    assert {u: (badges_of(db, u), levels_of(db, u)) for u in (low, high, other)} == before

    # 4 -> 5 crosses; 12 -> 13 and 1 -> 2 do not.
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count)"
        " VALUES (%s, 'song', 1), (%s, 'song', 1), (%s, 'song', 1)",
        (low, high, other),
    )
    assert badges_of(db, low) == ["song_5"] and levels_of(db, low) == ["five_songs"]
    assert badges_of(db, high) == before[high][0] and levels_of(db, high) == before[high][1]
    assert badges_of(db, other) == [] and levels_of(db, other) == []
    check_counters(db)
