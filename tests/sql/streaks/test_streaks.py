"""Streaks from a host table (track(mode => 'streak')) and from record_step, in each user's own
calendar: compared with a model computed in Python with zoneinfo, for consecutive days, gaps,
the same day twice, late rows, deletes, DST changes, a 30-minute DST shift, a skipped calendar
day, weeks, a user who moves zones, freezes, and what streaks() says today."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest

UTC = dt.timezone.utc
ALICE = uuid.UUID(int=1)
BOB = uuid.UUID(int=2)


def create_logins(db, time_zone_column: bool = False) -> None:
    db.execute(
        "CREATE TABLE logins (id bigserial PRIMARY KEY, user_id uuid NOT NULL, at timestamptz NOT NULL,"
        " tz text, kind text NOT NULL DEFAULT 'app')"
    )
    db.execute("CREATE INDEX ON logins (user_id)")
    db.execute(
        "SELECT achievements.track('logins', 'daily', mode => 'streak', at => 'at', user_column => 'user_id',"
        " condition => %s, time_zone => %s)",
        ("kind = 'app'", "tz" if time_zone_column else None),
    )


def login(db, user, at: dt.datetime, tz: str | None = None, kind: str = "app") -> int:
    return db.execute(
        "INSERT INTO logins (user_id, at, tz, kind) VALUES (%s, %s, %s, %s) RETURNING id",
        (user, at, tz, kind),
    ).fetchone()[0]


def local(zone: str, *args: int) -> dt.datetime:
    """A wall-clock time in `zone` as an aware datetime."""
    return dt.datetime(*args, tzinfo=ZoneInfo(zone))


def tally(db, user, step: str = "daily") -> int:
    row = db.execute(
        "SELECT count FROM achievements.user_achievements WHERE user_id = %s AND name = %s",
        (user, step),
    ).fetchone()
    return row[0] if row else 0


def state(db, user, step: str = "daily"):
    return db.execute(
        "SELECT longest, run_length, run_start, last_period, freezes_used"
        "  FROM achievements_private.streak_states WHERE user_id = %s AND step = %s",
        (user, step),
    ).fetchone()


def model_longest(times: list[dt.datetime], zone: str, period: str = "day") -> int:
    """The longest run of consecutive days (or ISO weeks) with activity, in `zone`."""
    days = sorted({t.astimezone(ZoneInfo(zone)).date() for t in times})
    if period == "week":
        days = sorted({d - dt.timedelta(days=d.weekday()) for d in days})
    step = dt.timedelta(days=7 if period == "week" else 1)
    best = run = 0
    previous = None
    for d in days:
        run = run + 1 if previous is not None and d - previous == step else 1
        best = max(best, run)
        previous = d
    return best


def test_consecutive_days_a_gap_and_the_same_day_twice(db):
    create_logins(db)
    db.execute(
        "INSERT INTO achievements.badges (code, name, step, threshold) VALUES"
        " ('streak_3', 'Three days', 'daily', 3), ('streak_7', 'A week', 'daily', 7)"
    )
    for day, hour in [(1, 9), (2, 8), (2, 20), (3, 23), (5, 1), (6, 12)]:
        login(db, ALICE, dt.datetime(2026, 6, day, hour, tzinfo=UTC))
    assert tally(db, ALICE) == 3
    assert state(db, ALICE) == (3, 2, dt.date(2026, 6, 5), dt.date(2026, 6, 6), 0)
    assert db.execute(
        "SELECT badge FROM achievements.user_badges WHERE user_id = %s", (ALICE,)
    ).fetchall() == [("streak_3",)]
    # A row that does not qualify is no activity.
    login(db, ALICE, dt.datetime(2026, 6, 4, 12, tzinfo=UTC), kind="web")
    assert tally(db, ALICE) == 3


def test_a_late_row_fills_its_day_and_a_delete_takes_it_back(db):
    create_logins(db)
    days = [1, 2, 4, 5, 6]
    ids = {d: login(db, ALICE, dt.datetime(2026, 6, d, 12, tzinfo=UTC)) for d in days}
    assert tally(db, ALICE) == 3
    late = login(db, ALICE, dt.datetime(2026, 6, 3, 7, tzinfo=UTC))  # a late mobile sync
    assert tally(db, ALICE) == 6
    db.execute("DELETE FROM logins WHERE id = %s", (late,))
    assert tally(db, ALICE) == 3
    # Deleting the only login of a day breaks the run; a second login that day keeps it.
    login(db, ALICE, dt.datetime(2026, 6, 5, 22, tzinfo=UTC))
    db.execute("DELETE FROM logins WHERE id = %s", (ids[5],))
    assert tally(db, ALICE) == 3
    db.execute("DELETE FROM logins WHERE user_id = %s AND at::date = '2026-06-05'", (ALICE,))
    assert tally(db, ALICE) == 2
    # An UPDATE that moves a login to another day moves its activity.
    db.execute("UPDATE logins SET at = '2026-06-05 10:00Z' WHERE id = %s", (ids[6],))
    assert state(db, ALICE)[3] == dt.date(2026, 6, 5)
    db.execute("DELETE FROM logins")
    assert tally(db, ALICE) == 0 and state(db, ALICE) is None


def test_new_york_across_both_dst_changes(db):
    """Late-evening logins in New York fall on the next day in UTC, and the days around the
    changes have 23 and 25 hours: the streak counts New York's calendar days."""
    create_logins(db)
    zone = "America/New_York"
    db.execute("SELECT achievements.set_time_zone(%s, %s)", (zone, ALICE))
    times = [local(zone, 2026, 3, d, 23, 30) for d in (6, 7, 8, 9)]  # DST starts 2026-03-08
    times += [
        local(zone, 2026, 10, 31, 0, 15),
        local(zone, 2026, 11, 1, 23, 59),
        local(zone, 2026, 11, 2, 0, 1),
    ]
    for t in times:
        login(db, ALICE, t)
    assert model_longest(times, zone) == 4
    assert tally(db, ALICE) == 4
    assert state(db, ALICE)[1:4] == (3, dt.date(2026, 10, 31), dt.date(2026, 11, 2))
    # The same instants for a user on UTC make other days.
    for t in times:
        login(db, BOB, t)
    assert tally(db, BOB) == model_longest(times, "UTC")


def test_lord_howe_half_hour_shift_and_a_row_zone(db):
    """Australia/Lord_Howe moves its clocks by 30 minutes; a per-row zone expression wins over
    the user's zone."""
    create_logins(db, time_zone_column=True)
    zone = "Australia/Lord_Howe"
    times = [local(zone, 2026, 10, d, 23, 50) for d in (3, 4, 5)]  # DST starts 2026-10-04 02:00
    times += [local(zone, 2026, 10, 6, 0, 10)]
    for t in times:
        login(db, ALICE, t, tz=zone)
    assert tally(db, ALICE) == model_longest(times, zone) == 4
    for t in times:
        login(db, BOB, t)  # no zone in the row, none set: UTC
    assert tally(db, BOB) == model_longest(times, "UTC")


def test_a_calendar_day_the_zone_skipped_does_not_break_the_streak(db):
    create_logins(db)
    zone = "Pacific/Apia"  # went from 2011-12-29 straight to 2011-12-31
    db.execute("SELECT achievements.set_time_zone(%s, %s)", (zone, ALICE))
    for d in (28, 29, 31):
        login(db, ALICE, local(zone, 2011, 12, d, 12))
    assert tally(db, ALICE) == 3
    assert (
        db.execute(
            "SELECT achievements_private.day_exists('2011-12-30', 'Pacific/Apia')"
        ).fetchone()[0]
        is False
    )


def test_weeks_start_on_the_day_the_step_says(db):
    db.execute("CREATE TABLE workouts (id bigserial PRIMARY KEY, user_id uuid, at timestamptz)")
    db.execute(
        "SELECT achievements.track('workouts', 'weekly', mode => 'streak', at => 'at', user_column => 'user_id',"
        " period => 'week', week_start => 'sunday')"
    )
    # Sunday 2026-06-07 starts a week; Saturday 2026-06-13 ends it.
    for day in ("2026-06-06", "2026-06-07", "2026-06-13", "2026-06-14", "2026-06-28"):
        db.execute(
            "INSERT INTO workouts (user_id, at) VALUES (%s, %s::date + time '12:00')", (ALICE, day)
        )
    assert tally(db, ALICE, "weekly") == 3
    assert state(db, ALICE, "weekly")[2:4] == (dt.date(2026, 6, 28), dt.date(2026, 6, 28))


def test_random_logins_match_the_model(db):
    rng = random.Random(15)
    create_logins(db)
    zones = {ALICE: "Europe/Budapest", BOB: "America/Los_Angeles"}
    for user, zone in zones.items():
        db.execute("SELECT achievements.set_time_zone(%s, %s)", (zone, user))
    rows: dict[int, tuple[uuid.UUID, dt.datetime]] = {}
    start = dt.datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(60):
        if rows and rng.random() < 0.3:
            victim = rng.choice(sorted(rows))
            db.execute("DELETE FROM logins WHERE id = %s", (victim,))
            del rows[victim]
        else:
            batch = [
                (
                    rng.choice(list(zones)),
                    start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 40)),
                )
                for _ in range(rng.randrange(1, 6))
            ]
            inserted = db.execute(
                "INSERT INTO logins (user_id, at) SELECT * FROM unnest(%s::uuid[], %s::timestamptz[])"
                " RETURNING id, user_id, at",
                ([u for u, _ in batch], [a for _, a in batch]),
            ).fetchall()
            for row_id, user, at in inserted:
                rows[row_id] = (user, at)
        for user, zone in zones.items():
            assert tally(db, user) == model_longest(
                [a for u, a in rows.values() if u == user], zone
            )


def test_record_step_counts_activity_now_and_undo_is_refused(db):
    db.execute("SELECT achievements.define_streak('quiz_day')")
    assert (
        db.execute("SELECT achievements.record_step(%s, 'quiz_day')", (ALICE,)).fetchone()[0] == 1
    )
    assert (
        db.execute("SELECT achievements.record_step(%s, 'quiz_day', 5)", (ALICE,)).fetchone()[0]
        == 1
    )
    streak = db.execute(
        "SELECT step, current, longest, at_risk, last_period = today FROM achievements.streaks(%s)",
        (ALICE,),
    ).fetchall()
    assert streak == [("quiz_day", 1, 1, False, True)]
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.undo_step(%s, 'quiz_day')", (ALICE,))
    assert err.value.sqlstate == "AD303"


def test_streaks_reads_the_current_length_today(db):
    create_logins(db)
    db.execute("SELECT achievements.define_streak('other')")
    today = db.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
    noon = lambda d: dt.datetime.combine(d, dt.time(12), UTC)  # noqa: E731
    for back in (3, 2, 1):
        login(db, ALICE, noon(today - dt.timedelta(days=back)))
    login(db, BOB, noon(today - dt.timedelta(days=1)))
    login(db, BOB, noon(today))
    read = "SELECT step, current, longest, at_risk, freezes_left FROM achievements.streaks(%s)"
    assert db.execute(read, (ALICE,)).fetchall() == [
        ("daily", 3, 3, True, 0),
        ("other", 0, 0, False, 0),
    ]
    assert db.execute(read, (BOB,)).fetchall()[0] == ("daily", 2, 2, False, 0)
    # Broken by the day before yesterday: 0 now, longest kept.
    login(db, uuid.UUID(int=3), noon(today - dt.timedelta(days=5)))
    assert db.execute(read, (uuid.UUID(int=3),)).fetchall()[0] == ("daily", 0, 1, False, 0)
    board = db.execute(
        "SELECT rank, user_id, length FROM achievements.streak_leaderboard('daily')"
    ).fetchall()
    assert board == [(1, ALICE, 3), (2, BOB, 2)]
    longest = db.execute(
        "SELECT rank, user_id, length FROM achievements.streak_leaderboard('daily', 'longest', 3)"
    ).fetchall()
    assert longest == [(1, ALICE, 3), (2, BOB, 2), (3, uuid.UUID(int=3), 1)]


def test_freezes_cover_missed_days_once(db):
    """A week of mixed activity (in the future, so the freezes granted now apply): Mon Tue - Thu
    Fri - - Mon. One freeze covers Wednesday; the weekend breaks the run. Two more cover it."""
    create_logins(db)
    monday = db.execute(
        "SELECT (now() AT TIME ZONE 'UTC')::date + 7 - extract(isodow FROM now() AT TIME ZONE 'UTC')::int + 1"
    ).fetchone()[0]
    assert (
        db.execute("SELECT achievements.grant_streak_freezes(%s, 'daily', 1)", (ALICE,)).fetchone()[
            0
        ]
        == 1
    )
    for offset in (0, 1, 3, 4, 7):
        login(db, ALICE, dt.datetime.combine(monday + dt.timedelta(days=offset), dt.time(9), UTC))
    assert state(db, ALICE) == (
        4,
        1,
        monday + dt.timedelta(days=7),
        monday + dt.timedelta(days=7),
        1,
    )
    assert (
        db.execute("SELECT freezes_left FROM achievements.streaks(%s)", (ALICE,)).fetchone()[0] == 0
    )
    assert (
        db.execute("SELECT achievements.grant_streak_freezes(%s, 'daily', 2)", (ALICE,)).fetchone()[
            0
        ]
        == 0
    )
    assert state(db, ALICE) == (5, 5, monday, monday + dt.timedelta(days=7), 3)
    assert tally(db, ALICE) == 5


def test_a_freeze_granted_after_the_gap_was_bridged_does_not_repair_it(db):
    create_logins(db)
    for day in (1, 2, 4):
        login(db, ALICE, dt.datetime(2026, 1, day, 9, tzinfo=UTC))
    db.execute("SELECT achievements.grant_streak_freezes(%s, 'daily', 3)", (ALICE,))
    assert tally(db, ALICE) == 2


def test_track_adopts_existing_logins_silently(db):
    db.execute(
        "CREATE TABLE logins (id bigserial PRIMARY KEY, user_id uuid NOT NULL, at timestamptz NOT NULL)"
    )
    db.execute(
        "INSERT INTO achievements.badges (code, name, step, threshold) VALUES ('streak_3', 'Three days', 'daily', 3)"
    )
    for user, days in ((ALICE, (1, 2, 3)), (BOB, (1, 3))):
        for d in days:
            db.execute(
                "INSERT INTO logins (user_id, at) VALUES (%s, %s)",
                (user, dt.datetime(2026, 5, d, 12, tzinfo=UTC)),
            )
    db.execute(
        "SELECT achievements.track('logins', 'daily', mode => 'streak', at => 'at', user_column => 'user_id')"
    )
    assert (tally(db, ALICE), tally(db, BOB)) == (3, 1)
    assert db.execute("SELECT count(*) FROM achievements.user_badges").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 0
    # recount() works it out again from the rows.
    db.execute("DELETE FROM achievements_private.streak_states")
    assert db.execute("SELECT achievements.recount('daily')").fetchone()[0] >= 2
    assert state(db, ALICE)[0] == 3


def test_truncate_keeps_only_the_calls(db):
    create_logins(db)
    login(db, ALICE, dt.datetime(2026, 5, 1, tzinfo=UTC))
    login(db, ALICE, dt.datetime(2026, 5, 2, tzinfo=UTC))
    db.execute("SELECT achievements.record_step(%s, 'daily')", (ALICE,))
    db.execute("TRUNCATE logins")
    assert tally(db, ALICE) == 1
    assert state(db, ALICE)[0] == 1


@pytest.mark.parametrize(
    ("call", "sqlstate"),
    [
        (
            "SELECT achievements.set_time_zone('Mars/Olympus', '00000000-0000-0000-0000-000000000001')",
            "AD301",
        ),
        (
            "SELECT achievements.set_time_zone('Europe/Budapestx', '00000000-0000-0000-0000-000000000001')",
            "AD301",
        ),
        (
            "SELECT achievements.set_time_zone('+02', '00000000-0000-0000-0000-000000000001')",
            "AD301",
        ),
        (
            "SELECT achievements.grant_streak_freezes('00000000-0000-0000-0000-000000000001', 'nope', 1)",
            "AD302",
        ),
        ("SELECT achievements.define_streak('x', 'month')", "AD302"),
        ("SELECT achievements.define_streak('x', 'week', 'someday')", "AD302"),
        ("SELECT achievements.streak_leaderboard('nope')", "AD302"),
        ("SELECT achievements.track('t', 's', mode => 'streak', user_column => 'u')", "AD107"),
        ("SELECT achievements.track('t', 's', mode => 'count', at => 'at')", "AD107"),
        (
            "SELECT achievements.track('t', 's', mode => 'streak', at => 'nope', user_column => 'u')",
            "AD112",
        ),
    ],
)
def test_bad_input_is_refused_clearly_and_changes_nothing(db, call, sqlstate):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, u uuid, at timestamptz)")
    with pytest.raises(psycopg.Error) as err:
        db.execute(call)
    assert err.value.sqlstate == sqlstate
    assert err.value.diag.message_hint
    assert db.execute("SELECT count(*) FROM achievements.streak_steps").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM achievements.user_time_zones").fetchone()[0] == 0


def test_a_streak_step_keeps_its_period(db):
    db.execute("SELECT achievements.define_streak('s', 'day')")
    assert db.execute("SELECT achievements.define_streak('s', 'day')").fetchone()[0] is False
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.define_streak('s', 'week')")
    assert err.value.sqlstate == "AD302"
    db.execute("SELECT achievements.record_step(%s, 'plain')", (ALICE,))
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT achievements.define_streak('plain')")
    assert err.value.sqlstate == "AD302"


def test_extending_from_the_stored_state_equals_a_recount(db):
    """Logins appended day by day (several a day, across users) take the fast path, which reads
    no earlier rows; working every streak out again from the rows gives the same states."""
    create_logins(db)
    rng = random.Random(3)
    users = [uuid.UUID(int=i) for i in range(1, 8)]
    times: dict[uuid.UUID, list[dt.datetime]] = {u: [] for u in users}
    start = dt.datetime(2026, 2, 1, tzinfo=UTC)
    for day in range(30):
        batch = [
            (u, start + dt.timedelta(days=day, minutes=rng.randrange(0, 1440)))
            for u in users
            for _ in range(rng.choice([0, 0, 1, 2]))
        ]
        if batch:
            db.execute(
                "INSERT INTO logins (user_id, at) SELECT * FROM unnest(%s::uuid[], %s::timestamptz[])",
                ([u for u, _ in batch], [t for _, t in batch]),
            )
        for u, t in batch:
            times[u].append(t)
    read = "SELECT user_id, longest, run_length, run_start, last_period FROM achievements_private.streak_states ORDER BY 1"
    before = db.execute(read).fetchall()
    assert {u: n for u, n, *_ in before} == {
        u: model_longest(t, "UTC") for u, t in times.items() if t
    }
    db.execute("DELETE FROM achievements_private.streak_states")
    db.execute("SELECT achievements.recount('daily')")
    assert db.execute(read).fetchall() == before
