"""Leaderboards of a step over calendar periods (issue 16, "most songs this week"): declared
per step and period, their counters equal the step log, by each row's time, whatever path
logged it, and under concurrent sessions."""

import datetime as dt
import json
import uuid

import psycopg
import pytest

from support.races import blocked_call, run_together

UTC = dt.timezone.utc


def declare(db, step, period, time_zone="UTC"):
    db.execute(
        "INSERT INTO achievements.step_leaderboards (step, period, time_zone) VALUES (%s, %s, %s)",
        (step, period, time_zone),
    )


def board(db, step, period="week", at=None, lim=10):
    return db.execute(
        "SELECT rank, user_id, count FROM achievements.step_leaderboard(%s, %s, %s, coalesce(%s, now()))",
        (step, period, lim, at),
    ).fetchall()


def log_at(db, user, step, count, when):
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count, created_at) VALUES (%s, %s, %s, %s)",
        (user, step, count, when),
    )


def recount(db, step):
    """The counters of the calendar periods, and what the log says they must be: (period,
    starts, user) -> count."""
    counters = dict(
        ((p, s, u), c)
        for p, s, u, c in db.execute(
            "SELECT period, starts, user_id, count FROM achievements_private.step_period_counts"
            " WHERE step = %s AND period <> 'all' AND count <> 0",
            (step,),
        )
    )
    expected = dict(
        ((p, s, u), c)
        for p, s, u, c in db.execute(
            "SELECT l.period, date_trunc(l.period, s.created_at AT TIME ZONE l.time_zone), s.user_id, sum(s.count)"
            "  FROM achievements.user_steps AS s JOIN achievements.step_leaderboards AS l ON l.step = s.name"
            " WHERE s.name = %s AND l.period <> 'all' GROUP BY 1, 2, 3 HAVING sum(s.count) <> 0",
            (step,),
        )
    )
    return counters, expected


def test_a_declared_leaderboard_counts_the_log_by_period(db):
    alice, bob, carol = (uuid.UUID(int=i) for i in range(1, 4))
    monday = dt.datetime(2026, 3, 2, 12, tzinfo=UTC)  # a Monday
    log_at(db, alice, "song", 5, monday - dt.timedelta(days=7))  # the week before
    log_at(db, bob, "song", 2, monday)
    declare(db, "song", "week")  # fills from the log
    declare(db, "song", "day")
    log_at(db, alice, "song", 3, monday + dt.timedelta(days=6))  # Sunday: same week
    log_at(db, carol, "song", 3, monday + dt.timedelta(days=1))
    log_at(db, bob, "song", 1, monday + dt.timedelta(days=7))  # next Monday
    assert board(db, "song", at=monday) == [(1, alice, 3), (1, carol, 3), (3, bob, 2)]
    assert board(db, "song", at=monday - dt.timedelta(days=3)) == [(1, alice, 5)]
    assert board(db, "song", "day", at=monday + dt.timedelta(days=1)) == [(1, carol, 3)]
    assert board(db, "song", at=monday, lim=1) == [(1, alice, 3)]
    counters, expected = recount(db, "song")
    assert counters == expected and len(counters) == 10


def test_every_path_that_logs_a_step_counts_now(db):
    db.execute("CREATE TABLE plays (id int PRIMARY KEY, listener uuid)")
    db.execute("SELECT achievements.track('plays', 'play', 'id', 'count', 'listener')")
    declare(db, "play", "month")
    declare(db, "play", "day")
    users = [uuid.uuid4() for _ in range(3)]
    db.execute("SELECT achievements.record_step(%s, 'play', 4)", (users[0],))
    db.execute("SELECT achievements.undo_step(%s, 'play')", (users[0],))
    db.execute("INSERT INTO plays VALUES (1, %s), (2, %s), (3, %s)", (users[1], users[1], users[2]))
    db.execute(
        "INSERT INTO achievements.user_steps (user_id, name, count) SELECT %s, 'play', 1 FROM generate_series(1, 5)",
        (users[2],),
    )
    assert board(db, "play", "month") == [(1, users[2], 6), (2, users[0], 3), (3, users[1], 2)]
    counters, expected = recount(db, "play")
    assert counters == expected


def test_periods_start_in_the_leaderboards_time_zone(db):
    user = uuid.uuid4()
    # 23:30 UTC on Sunday is already Monday in Tokyo.
    log_at(db, user, "run", 1, dt.datetime(2026, 3, 8, 23, 30, tzinfo=UTC))
    declare(db, "run", "week", "UTC")
    declare(db, "run", "day", "Asia/Tokyo")
    assert board(db, "run", "week", at=dt.datetime(2026, 3, 2, tzinfo=UTC)) == [(1, user, 1)]
    assert board(db, "run", "day", at=dt.datetime(2026, 3, 9, 1, tzinfo=UTC)) == [(1, user, 1)]
    # A changed time zone recounts.
    db.execute("UPDATE achievements.step_leaderboards SET time_zone = 'UTC' WHERE period = 'day'")
    assert board(db, "run", "day", at=dt.datetime(2026, 3, 9, 1, tzinfo=UTC)) == []
    assert board(db, "run", "day", at=dt.datetime(2026, 3, 8, 1, tzinfo=UTC)) == [(1, user, 1)]


def test_errors(db):
    with pytest.raises(psycopg.Error) as err:
        board(db, "nope")
    assert err.value.sqlstate == "AD210"
    assert err.value.diag.message_primary == "step 'nope' has no leaderboard by week"
    assert "[leaderboards" in err.value.diag.message_hint
    with pytest.raises(psycopg.Error) as err:
        declare(db, "song", "week", "Mars/Olympus")
    assert err.value.sqlstate == "AD210"
    assert "unknown time zone 'Mars/Olympus'" in err.value.diag.message_primary
    declare(db, "song", "week")
    with pytest.raises(psycopg.Error) as err:
        board(db, "song", lim=0)
    assert err.value.sqlstate == "AD206"
    with pytest.raises(psycopg.errors.CheckViolation):
        declare(db, "song", "year")


def test_declaring_waits_for_steps_in_flight_and_counts_them(db, connect):
    """The declaration locks the log: a step logged by a transaction still open when it starts
    is counted once that transaction commits, however the two interleave."""
    user = uuid.uuid4()
    writer = connect(autocommit=False)
    writer.execute("SELECT achievements.record_step(%s, 'song', 2)", (user,))
    declaring = blocked_call(db, connect(), lambda conn: declare(conn, "song", "week"))
    writer.commit()
    declaring.result()
    db.execute("SELECT achievements.record_step(%s, 'song')", (user,))
    assert board(db, "song") == [(1, user, 3)]


def test_declaring_in_repeatable_read_is_refused(db, connect):
    conn = connect(autocommit=False)
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    with pytest.raises(psycopg.Error) as err:
        declare(conn, "song", "week")
    assert err.value.sqlstate == "AD210"
    assert "READ COMMITTED" in err.value.diag.message_primary


def test_concurrent_writers_keep_the_counters_equal_to_the_log(db, connect):
    declare(db, "song", "week")
    declare(db, "song", "day")
    users = [uuid.uuid4() for _ in range(6)]

    def work(index, conn):
        for i in range(30):
            user = users[(index + i) % len(users)]
            if i % 3 == 0:
                conn.execute(
                    "INSERT INTO achievements.user_steps (user_id, name, count)"
                    " SELECT u, 'song', 1 FROM unnest(%s::uuid[]) AS u",
                    (users,),
                )
            else:
                conn.execute("SELECT achievements.record_step(%s, 'song')", (user,))

    run_together(connect, 6, work)
    counters, expected = recount(db, "song")
    assert counters == expected
    assert sum(r[2] for r in board(db, "song", lim=100)) == 6 * (10 * 6 + 20)


# All time (period 'all', migration 0007): one counter per user, the sum of the user's log.


def all_time_counters(db, step):
    """The 'all' counters of `step`: user -> (starts, as text, count)."""
    return {
        u: (s, c)
        for s, u, c in db.execute(
            "SELECT starts::text, user_id, count FROM achievements_private.step_period_counts"
            " WHERE step = %s AND period = 'all'",
            (step,),
        )
    }


def test_all_time_counts_every_step_undos_included_whatever_at(db):
    alice, bob, carol = (uuid.UUID(int=i) for i in range(1, 4))
    declare(db, "answer", "all")
    log_at(db, alice, "answer", 4, dt.datetime(2020, 1, 1, tzinfo=UTC))
    log_at(db, alice, "answer", 2, dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC))
    db.execute("SELECT achievements.record_step(%s, 'answer', 5)", (bob,))
    db.execute("SELECT achievements.undo_step(%s, 'answer', 2)", (bob,))
    db.execute("SELECT achievements.record_step(%s, 'answer', 3)", (carol,))
    db.execute("SELECT achievements.undo_step(%s, 'answer', 3)", (carol,))  # back to 0: not listed
    for at in (None, dt.datetime(1999, 1, 1, tzinfo=UTC), dt.datetime(2100, 1, 1, tzinfo=UTC)):
        assert board(db, "answer", "all", at=at) == [(1, alice, 6), (2, bob, 3)]
    # One counter per user, whenever its steps were logged, starting at -infinity.
    assert all_time_counters(db, "answer") == {
        alice: ("-infinity", 6),
        bob: ("-infinity", 3),
        carol: ("-infinity", 0),
    }


def test_all_time_of_a_recounted_gauge_is_the_gauge_now(db):
    """A distinct gauge logs the change of each statement (up and down): its all-time counter
    is the gauge itself, whatever the statements did."""
    db.execute(
        "CREATE TABLE scores (user_id uuid, provider int, correct boolean, PRIMARY KEY (user_id, provider))"
    )
    db.execute(
        "SELECT achievements.track('scores', 'providers_correct', mode => 'distinct', value => 'provider',"
        " user_column => 'user_id', condition => 'correct')"
    )
    declare(db, "providers_correct", "all")
    declare(db, "providers_correct", "week")
    alice, bob = uuid.UUID(int=1), uuid.UUID(int=2)
    db.execute(
        "INSERT INTO scores VALUES (%s, 1, true), (%s, 2, true), (%s, 3, false), (%s, 1, true)",
        (alice, alice, alice, bob),
    )
    db.execute("UPDATE scores SET correct = NOT correct WHERE user_id = %s", (alice,))  # 2 -> 1
    db.execute(
        "INSERT INTO scores VALUES (%s, 2, true) ON CONFLICT (user_id, provider) DO UPDATE SET correct = true",
        (bob,),
    )
    db.execute("DELETE FROM scores WHERE user_id = %s AND provider = 3", (alice,))  # 1 -> 0
    assert board(db, "providers_correct", "all") == [(1, bob, 2)]
    db.execute("INSERT INTO scores VALUES (%s, 4, true), (%s, 5, true)", (alice, alice))
    assert board(db, "providers_correct", "all") == [(1, alice, 2), (1, bob, 2)]  # a tie
    tallies = dict(
        db.execute(
            "SELECT user_id, count FROM achievements.user_achievements WHERE name = 'providers_correct'"
        ).fetchall()
    )
    assert {u: c for u, (_, c) in all_time_counters(db, "providers_correct").items()} == tallies
    # recount() logs what it changes: the counter follows it too.
    db.execute("ALTER TABLE scores DISABLE TRIGGER USER")
    db.execute("DELETE FROM scores WHERE user_id = %s", (bob,))
    db.execute("ALTER TABLE scores ENABLE TRIGGER USER")
    db.execute("SELECT achievements.recount('providers_correct')")
    assert board(db, "providers_correct", "all") == [(1, alice, 2)]


def test_all_time_ties_share_a_rank_listed_by_user(db):
    users = [uuid.UUID(int=i) for i in range(1, 6)]
    declare(db, "answer", "all")
    for user, count in zip(users, (3, 5, 3, 5, 1), strict=True):
        db.execute("SELECT achievements.record_step(%s, 'answer', %s)", (user, count))
    assert board(db, "answer", "all") == [
        (1, users[1], 5),
        (1, users[3], 5),
        (3, users[0], 3),
        (3, users[2], 3),
        (5, users[4], 1),
    ]
    assert board(db, "answer", "all", lim=3) == [
        (1, users[1], 5),
        (1, users[3], 5),
        (3, users[0], 3),
    ]


def test_all_time_declared_after_history_is_filled_from_the_log(db):
    alice, bob = uuid.UUID(int=1), uuid.UUID(int=2)
    log_at(db, alice, "answer", 2, dt.datetime(2025, 12, 31, 23, tzinfo=UTC))
    log_at(db, alice, "answer", 1, dt.datetime(2026, 3, 8, 6, tzinfo=UTC))
    log_at(db, bob, "answer", 4, dt.datetime(2026, 3, 1, tzinfo=UTC))
    log_at(db, bob, "answer", -2, dt.datetime(2026, 3, 2, tzinfo=UTC))
    declare(db, "answer", "week", "America/New_York")
    declare(db, "answer", "all", "America/New_York")
    assert board(db, "answer", "all") == [(1, alice, 3), (2, bob, 2)]
    db.execute("SELECT achievements.record_step(%s, 'answer', 2)", (bob,))
    assert board(db, "answer", "all") == [(1, bob, 4), (2, alice, 3)]
    # A new time zone refills it: all time stays all time.
    db.execute(
        "UPDATE achievements.step_leaderboards SET time_zone = 'Asia/Tokyo' WHERE step = 'answer'"
    )
    assert board(db, "answer", "all") == [(1, bob, 4), (2, alice, 3)]
    # The calendar periods of the same step are untouched by 'all'.
    counters, expected = recount(db, "answer")
    week = {k: v for k, v in counters.items() if k[0] == "week"}
    assert week == {k: v for k, v in expected.items() if k[0] == "week"} and week


def test_a_bad_period_is_refused_with_the_periods_in_the_hint(db):
    declare(db, "answer", "all")
    for period in ("year", "ALL", None):
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT * FROM achievements.step_leaderboard('answer', %s)", (period,))
        assert err.value.sqlstate == "AD210"
        shown = "NULL" if period is None else f"'{period}'"
        assert err.value.diag.message_primary == f"unknown leaderboard period {shown}"
        assert (
            err.value.diag.message_hint == "A period is 'day', 'week', 'month' or 'all' (all time)."
        )
    with pytest.raises(psycopg.Error) as err:
        board(db, "answer", "month")
    assert err.value.sqlstate == "AD210"
    assert err.value.diag.message_primary == "step 'answer' has no leaderboard by month"
    assert 'periods = ["week", "all"]' in err.value.diag.message_hint


def test_the_catalog_declares_all_time(db):

    def apply(catalog):
        return db.execute(
            "SELECT object, name, action, detail FROM achievements.apply_catalog(%s::jsonb)",
            (json.dumps(catalog),),
        ).fetchall()

    user = uuid.uuid4()
    db.execute("SELECT achievements.record_step(%s, 'answer', 7)", (user,))
    assert apply({"leaderboards": {"answer": {"periods": ["all", "week"]}}}) == [
        ("leaderboard", "answer/week", "create", "time zone UTC"),
        ("leaderboard", "answer/all", "create", "time zone UTC"),
    ]
    assert board(db, "answer", "all") == [(1, user, 7)]
    assert apply({"leaderboards": {"answer": {"periods": ["all", "week"]}}}) == []
    assert apply({"leaderboards": {"answer": {"periods": ["week"]}}}) == [
        ("leaderboard", "answer/all", "delete", "time zone UTC")
    ]
    with pytest.raises(psycopg.Error) as err:
        apply({"leaderboards": {"answer": {"periods": ["all", "forever"]}}})
    assert err.value.sqlstate == "AD207"
    assert err.value.diag.message_detail == (
        'leaderboards.answer.periods: expected a list of distinct periods among "day", "week",'
        ' "month", "all", got ["all", "forever"]'
    )
