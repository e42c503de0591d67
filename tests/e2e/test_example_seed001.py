"""Seed 001, AI University (examples/seed001/): the application's own tables (schema.sql) and
one catalog (catalog.toml) give it streak badges in each user's time zone, quiz badges, a
client-claimed share badge and two leaderboards, with nothing else written for achievements.

A month of activity (March 2026, across the daylight saving changes of New York, 8 March, and
Berlin, 29 March) and the last two weeks before now, for 200 users drawn by a seeded random
generator, is written as the application writes it: as its role, each user acting through the
JWT claims (set_time_zone, claim_badge, quiz upserts), and daily bulk syncs of study sessions,
late rows and deletes. Then every user's tallies, badges, points, streaks (current, as of the
read's transaction time, and longest), notifications and both leaderboards are compared with
a model written here in Python (zoneinfo for calendar days), which reads nothing from the
database but the ids of the rows it inserted and the time of the read."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from achievements_db.cli.badges import read_catalog
from achievements_db.client import Client
from support.databases import APP_ROLE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "seed001"
SCHEMA = (EXAMPLE / "schema.sql").read_text()
CATALOG = read_catalog(EXAMPLE / "catalog.toml")
UTC = dt.timezone.utc

# The seed's plan (/work/shared/seeds/001_*.txt, "Badge Definitions" and the list above it):
# badge id -> icon.
SEED_BADGES = {
    "streak_3d": "🔥",
    "streak_7d": "🏆",
    "streak_30d": "💎",
    "quiz_master_3": "🎓",
    "quiz_master_all": "🌟",
    "social_sharer": "📣",
}
STREAK_THRESHOLDS = {"streak_3d": 3, "streak_7d": 7, "streak_30d": 30}
POINTS = CATALOG["rarity_points"]
BADGE_POINTS = {code: POINTS[b["rarity"]] for code, b in CATALOG["badges"].items()}
PROVIDERS = ["openai", "anthropic", "google", "meta", "mistral"]
ZONES = ["America/New_York", "Europe/Berlin", None]  # None: never set, so UTC


def test_the_catalog_declares_the_seeds_badges():
    badges = CATALOG["badges"]
    assert {code: b["icon"] for code, b in badges.items()} == SEED_BADGES
    assert {code: badges[code]["threshold"] for code in STREAK_THRESHOLDS} == STREAK_THRESHOLDS
    assert {badges[code]["step"] for code in STREAK_THRESHOLDS} == {"study_day"}
    assert badges["quiz_master_3"]["step"] == "quiz_correct"
    assert badges["quiz_master_3"]["threshold"] == 3
    assert badges["social_sharer"]["client_grantable"] is True
    assert "step" not in badges["social_sharer"]
    assert all(b["name"] and b["category"] and b["rarity"] for b in badges.values())
    assert CATALOG["steps"]["study_day"]["mode"] == "streak"
    assert CATALOG["leaderboards"] == {"quiz_correct": {"periods": ["all"]}}


# The model: no SQL below until the test itself.


def local_day(at: dt.datetime, zone: str | None) -> dt.date:
    return at.astimezone(ZoneInfo(zone or "UTC")).date()


def runs(days: set[dt.date]) -> list[tuple[dt.date, int]]:
    """The runs of consecutive days: (last day, length), in order."""
    result: list[tuple[dt.date, int]] = []
    for day in sorted(days):
        if result and result[-1][0] == day - dt.timedelta(days=1):
            result[-1] = (day, result[-1][1] + 1)
        else:
            result.append((day, 1))
    return result


class Model:
    def __init__(self) -> None:
        self.zone: dict[uuid.UUID, str | None] = {}
        self.sessions: dict[uuid.UUID, dict[int, dt.datetime]] = {}
        self.scores: dict[uuid.UUID, dict[str, bool]] = {}
        self.badges: dict[uuid.UUID, set[str]] = {}

    def days(self, user: uuid.UUID) -> set[dt.date]:
        return {local_day(at, self.zone[user]) for at in self.sessions[user].values()}

    def longest(self, user: uuid.UUID) -> int:
        return max((n for _, n in runs(self.days(user))), default=0)

    def correct(self, user: uuid.UUID) -> int:
        return sum(self.scores[user].values())

    def all_providers(self, user: uuid.UUID) -> int:
        return int(all(self.scores[user].get(p, False) for p in PROVIDERS))

    def after_statement(self, users) -> None:
        """What a statement that touched `users` awards: a badge the first time its tally
        reaches its threshold (kept when it falls back: not revocable)."""
        for user in users:
            longest = self.longest(user)
            for code, threshold in STREAK_THRESHOLDS.items():
                if longest >= threshold:
                    self.badges[user].add(code)
            if self.correct(user) >= 3:
                self.badges[user].add("quiz_master_3")
            if self.all_providers(user):
                self.badges[user].add("quiz_master_all")

    def current(self, user: uuid.UUID, read_at: dt.datetime) -> tuple[int, bool]:
        """The current streak at `read_at` and whether it is at risk: alive while its last day
        is today or yesterday, in the user's zone."""
        today = local_day(read_at, self.zone[user])
        found = runs(self.days(user))
        if not found or found[-1][0] < today - dt.timedelta(days=1):
            return 0, False
        return found[-1][1], found[-1][0] < today


@pytest.fixture
def app(db, connect):
    """The example installed as its README says: the schema, then the catalog; the
    application's role may write its tables (it owns none)."""
    db.execute(SCHEMA)
    db.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON providers, study_sessions, quiz_scores TO {APP_ROLE}"
    )
    changes = Client(db).apply_catalog(CATALOG)
    assert {(c.object, c.name) for c in changes if c.action == "create"} >= {
        ("step", "study_day"),
        ("step", "quiz_correct"),
        ("step", "quiz_all_providers"),
        ("leaderboard", "quiz_correct/all"),
        *(("badge", code) for code in SEED_BADGES),
    }
    conn = connect()
    conn.execute(f"SET ROLE {APP_ROLE}")
    return conn


def act_as(conn: psycopg.Connection, user: uuid.UUID) -> None:
    """The request's user, as PostgREST sets it from a verified JWT."""
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(user)}),)
    )


HOURS = [(0, 10), (0, 40), (2, 30), (7, 0), (12, 15), (18, 45), (22, 30), (23, 50)]


def local_time(day: dt.date, zone: str | None, rng: random.Random) -> dt.datetime:
    """A time of `day` on the user's wall clock, as an instant (2:30 on a day that skips it
    lands after the jump, still on that day)."""
    hour, minute = rng.choice(HOURS)
    return dt.datetime.combine(day, dt.time(hour, minute), ZoneInfo(zone or "UTC")).astimezone(UTC)


def test_a_month_of_ai_university(app, db):
    rng = random.Random(2026_03)
    model = Model()
    start = db.execute("SELECT now()").fetchone()[0]
    users = sorted(uuid.UUID(int=rng.getrandbits(128)) for _ in range(200))
    diligence = {u: rng.choice([1.0, 0.97, 0.9, 0.75, 0.5, 0.2]) for u in users}
    for user in users:
        model.zone[user] = rng.choice(ZONES)
        model.sessions[user], model.scores[user], model.badges[user] = {}, {}, set()
        if model.zone[user]:
            act_as(app, user)  # the app asks for the zone at sign-up
            assert app.execute(
                "SELECT achievements.set_time_zone(%s)", (model.zone[user],)
            ).fetchone()[0]

    march = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(31)]
    today = start.astimezone(UTC).date()
    recent = [today - dt.timedelta(days=i) for i in range(14, -2, -1)]  # up to tomorrow in Berlin

    def study(days: list[dt.date]) -> None:
        """One bulk sync per calendar day (of each user's own calendar): 0 to 3 sessions per
        user who studied, sent as one statement; times after the start of the test are left out."""
        for day in days:
            rows = []
            for user in users:
                if rng.random() < diligence[user]:
                    for _ in range(rng.choice([1, 1, 1, 2, 3])):
                        at = local_time(day, model.zone[user], rng)
                        if at < start - dt.timedelta(minutes=1):
                            rows.append((user, at, rng.choice(PROVIDERS), rng.randint(5, 60)))
            if not rows:
                continue
            inserted = app.execute(
                "INSERT INTO study_sessions (user_id, started_at, provider_id, minutes)"
                " SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::text[], %s::int[])"
                " RETURNING id, user_id, started_at",
                [list(c) for c in zip(*rows, strict=True)],
            ).fetchall()
            for session, user, at in inserted:
                model.sessions[user][session] = at
            model.after_statement({r[0] for r in rows})

    def answer(user: uuid.UUID, answers: dict[str, bool], at: dt.datetime) -> None:
        """record_score: the app upserts the user's result per provider, as the user."""
        act_as(app, user)
        app.execute(
            "INSERT INTO quiz_scores (user_id, provider_id, quiz_correct, answered_at)"
            " SELECT %s, p, c, %s FROM unnest(%s::text[], %s::boolean[]) AS x(p, c)"
            " ON CONFLICT (user_id, provider_id)"
            " DO UPDATE SET quiz_correct = excluded.quiz_correct, answered_at = excluded.answered_at",
            (user, at, list(answers), list(answers.values())),
        )
        model.scores[user].update(answers)
        model.after_statement([user])

    def quiz_day(day: dt.date) -> None:
        for user in users:
            if rng.random() < 0.25 * diligence[user] + 0.02:
                picks = rng.sample(PROVIDERS, rng.choice([1, 1, 1, 2, 5]))
                skill = diligence[user]
                answer(
                    user,
                    {p: rng.random() < skill for p in picks},
                    local_time(day, model.zone[user], rng),
                )
            elif model.scores[user] and rng.random() < 0.01:
                provider = rng.choice(sorted(model.scores[user]))  # the user resets a quiz
                act_as(app, user)
                app.execute(
                    "DELETE FROM quiz_scores WHERE user_id = %s AND provider_id = %s",
                    (user, provider),
                )
                del model.scores[user][provider]
                model.after_statement([user])

    for day in march:
        study([day])
        quiz_day(day)
    # Late rows: a mobile client syncs a session of a March day it had missed (which may join
    # two runs), one statement per user.
    for user in rng.sample(users, 40):
        missing = [d for d in march if d not in model.days(user)]
        if missing:
            day = rng.choice(missing)
            at = local_time(day, model.zone[user], rng)
            (session,) = app.execute(
                "INSERT INTO study_sessions (user_id, started_at) VALUES (%s, %s) RETURNING id",
                (user, at),
            ).fetchone()
            model.sessions[user][session] = at
            model.after_statement([user])
    # Deletes: a user removes every session of one day (which may break a run).
    for user in rng.sample(users, 30):
        if model.days(user):
            day = rng.choice(sorted(model.days(user)))
            gone = [
                s
                for s, at in model.sessions[user].items()
                if local_day(at, model.zone[user]) == day
            ]
            app.execute("DELETE FROM study_sessions WHERE id = ANY (%s)", (gone,))
            for session in gone:
                del model.sessions[user][session]
            model.after_statement([user])
    for day in recent:
        study([day])
        quiz_day(day)
    # Shares: the user taps share, twice; the second claim changes nothing.
    for user in users:
        if rng.random() < 0.4:
            act_as(app, user)
            assert (
                app.execute("SELECT achievements.claim_badge('social_sharer')").fetchone()[0]
                is True
            )
            assert (
                app.execute("SELECT achievements.claim_badge('social_sharer')").fetchone()[0]
                is False
            )
            model.badges[user].add("social_sharer")

    # The model's sanity: the month reaches every badge, and some users miss each.
    earned = Counter(code for held in model.badges.values() for code in held)
    assert set(earned) == set(SEED_BADGES) and max(earned.values()) < len(users), earned
    zoned_30 = {model.zone[u] for u in users if "streak_30d" in model.badges[u]}
    assert {"America/New_York", "Europe/Berlin"} <= zoned_30

    # Tallies, badges, points, notifications: every user.
    tallies = {
        (u, step): n
        for u, step, n in db.execute(
            "SELECT user_id, name, count FROM achievements.user_achievements"
        )
    }
    held: dict[uuid.UUID, set[str]] = {u: set() for u in users}
    for user, badge in db.execute("SELECT user_id, badge FROM achievements.user_badges"):
        held[user].add(badge)
    notified: dict[uuid.UUID, list[str]] = {u: [] for u in users}
    for user, kind, badge in db.execute(
        "SELECT user_id, kind, data ->> 'badge' FROM achievements.notifications ORDER BY id"
    ):
        assert kind == "badge"
        notified[user].append(badge)
    for user in users:
        assert tallies.get((user, "study_day"), 0) == model.longest(user), user
        assert tallies.get((user, "quiz_correct"), 0) == model.correct(user), user
        assert tallies.get((user, "quiz_all_providers"), 0) == model.all_providers(user), user
        assert held[user] == model.badges[user], user
        assert sorted(notified[user]) == sorted(model.badges[user]), user
        points = db.execute("SELECT achievements.user_points(%s)", (user,)).fetchone()[0]
        assert points == sum(BADGE_POINTS[b] for b in model.badges[user]), user

    # Streaks as the app reads them (each user their own), in one transaction: one read time.
    with app.transaction():
        read_at = app.execute("SELECT now()").fetchone()[0]
        for user in users:
            act_as(app, user)
            rows = app.execute(
                "SELECT step, current, longest, at_risk FROM achievements.streaks()"
            ).fetchall()
            current, at_risk = model.current(user, read_at)
            assert rows == [("study_day", current, model.longest(user), at_risk)], user
    currents = Counter(model.current(u, read_at)[0] > 0 for u in users)
    assert currents[True] > 20 and currents[False] > 0  # the read is not trivial

    # The badge-count leaderboard ("3 badges earned") and the score leaderboard (all time).
    board = db.execute(
        "SELECT rank, user_id, badges, points FROM achievements.badge_leaderboard(1000)"
    ).fetchall()
    ranked = sorted((u for u in users if model.badges[u]), key=lambda u: (-len(model.badges[u]), u))
    assert board == [
        (
            1 + sum(len(model.badges[v]) > len(model.badges[u]) for v in users),
            u,
            len(model.badges[u]),
            sum(BADGE_POINTS[b] for b in model.badges[u]),
        )
        for u in ranked
    ]
    scores = db.execute(
        "SELECT rank, user_id, count FROM achievements.step_leaderboard('quiz_correct', 'all', 1000)"
    ).fetchall()
    ranked = sorted((u for u in users if model.correct(u)), key=lambda u: (-model.correct(u), u))
    assert scores == [
        (1 + sum(model.correct(v) > model.correct(u) for v in users), u, model.correct(u))
        for u in ranked
    ]
    assert len({r[0] for r in scores}) < len(scores)  # ties share a rank
    # The app reads both as a signed-in user, too.
    act_as(app, users[0])
    assert (
        app.execute(
            "SELECT count(*) FROM achievements.step_leaderboard('quiz_correct', 'all', 10)"
        ).fetchone()[0]
        == 10
    )


def test_a_change_of_the_provider_list_recounts_everyone(app, db):
    """quiz_all_providers depends on providers for every user ("*"): a provider added takes
    back whoever was complete, one removed completes whoever lacked only it, with the badge and
    its notification, though no score of theirs changed. README.md ("Changing the providers")."""
    ann, ben = uuid.UUID(int=1), uuid.UUID(int=2)
    for user, correct in ((ann, PROVIDERS), (ben, PROVIDERS[:-1])):  # Ben lacks mistral
        act_as(app, user)
        app.execute(
            "INSERT INTO quiz_scores (user_id, provider_id, quiz_correct) SELECT %s, p, true FROM unnest(%s::text[]) AS p",
            (user, correct),
        )

    def state(user):
        tally = db.execute(
            "SELECT coalesce(max(count), 0) FROM achievements.user_achievements WHERE user_id = %s AND name = 'quiz_all_providers'",
            (user,),
        ).fetchone()[0]
        badge = db.execute(
            "SELECT achievements.has_badge(%s, 'quiz_master_all')", (user,)
        ).fetchone()[0]
        notes = db.execute(
            "SELECT count(*) FROM achievements.notifications WHERE user_id = %s AND data ->> 'badge' = 'quiz_master_all'",
            (user,),
        ).fetchone()[0]
        return tally, badge, notes

    assert state(ann) == (1, True, 1) and state(ben) == (0, False, 0)

    # A new provider: Ann is no longer correct on all of them, though nothing of hers changed.
    db.execute("INSERT INTO providers VALUES ('xai', 'xAI')")
    assert state(ann) == (0, True, 1)  # the badge is kept: not revocable, as in the seed
    act_as(app, ann)
    app.execute(
        "INSERT INTO quiz_scores (user_id, provider_id, quiz_correct) VALUES (%s, 'xai', true)",
        (ann,),
    )
    assert state(ann) == (1, True, 1)

    # Removing the provider Ben lacks makes him correct on all: the delete cascades to no row of
    # his, and he is recounted all the same, with his badge and its notification.
    db.execute("DELETE FROM providers WHERE id IN ('mistral', 'xai')")
    assert state(ben) == (1, True, 1)
    assert state(ann) == (1, True, 1)
