"""examples/trackflow end to end (issue 18): the application's schema.sql and catalog.toml, as
its README applies them, then a month of activity of 300 users (achievements_db.demo.trackflow:
songs planned, started, released, reopened, authored, packed, put in series and deleted;
collaborators added and removed; Spotify imports in bulk; logins across the two DST changes of
New York and Berlin, late ones and deleted ones), written by the application role as ordinary
statements. Every user's tallies, badges, points, level, progress, streaks and notifications,
and the leaderboards, must then equal what a model of the plan written here says: it replays
the same writes over its own copy of the rows, in Python, knowing nothing of the package."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from achievements_db.cli.badges import read_catalog
from achievements_db.client import Client
from achievements_db.demo import activity, trackflow
from achievements_db.demo.activity import Op
from support.databases import APP_ROLE

EXAMPLE = Path(__file__).parents[2] / "examples" / "trackflow"
CATALOG = read_catalog(EXAMPLE / "catalog.toml")
BADGES = CATALOG["badges"]
POINTS = CATALOG["rarity_points"]
PLAN_BADGES = {code: b for code, b in BADGES.items() if b["category"] != "bonus"}
USERS = 300

# Seed 004's plan, family by family, as the seed names its achievements (80).
PLAN = {
    "Future Plans Songs": [
        "Dreamer",
        "Visionary",
        "Long Term Planner",
        "Strategic Thinker",
        "Master Planner",
        "Future Architect",
        "Planning Legend",
    ],
    "WIP Songs": [
        "Getting Started",
        "Hard Worker",
        "Dedicated Creator",
        "Busy Bee",
        "Workhorse",
        "Productivity Master",
        "Work Legend",
    ],
    "WIP Completions": [
        "First Finish",
        "Finisher",
        "WIP Master",
        "Finishing Touch",
        "Master Finisher",
        "Completion Legend",
        "Fireworks Master",
    ],
    "Released Songs": [
        "First Release",
        "Rising Star",
        "Published Artist",
        "Pro Performer",
        "Chart Topper",
        "Hall of Fame",
        "Legendary Status",
    ],
    "Packs": ["Pack Starter", "Pack Creator", "Pack Master", "Pack Legend", "Pack Collector"],
    "Collaborations": ["Team Player", "Collaborator", "Social Butterfly", "Community Leader"],
    "Spotify Integration": ["Spotify Explorer", "Playlist Master", "Spotify Power User"],
    "Engagement": ["Early Bird", "Dedicated", "Committed", "Loyal", "Devoted", "TrackFlow Veteran"],
    "Community Contribution": [
        "Idea Generator",
        "Innovator",
        "Community Voice",
        "Bug Hunter",
        "Quality Guardian",
    ],
    "Song Completion": ["Perfectionist", "Multi-Talented", "Master Craftsman", "Artisan"],
    "Pack Completion": ["Pack Perfectionist", "Pack Master", "Pack Legend"],
    "Album Series": ["Series Starter", "Series Master", "Series Collector", "Series Legend"],
    "Social Achievements": [
        "Collaborative Spirit",
        "Popular Collaborator",
        "Sought After",
        "Community Favorite",
    ],
    "Artist Diversity": [
        "Variety Seeker",
        "Music Explorer",
        "Artist Collector",
        "Diversity Master",
        "Universal Listener",
    ],
    "Year Diversity": [
        "Time Traveler",
        "Decade Explorer",
        "Era Collector",
        "Timeline Master",
        "History Buff",
    ],
    "Decade Diversity": ["Decade Dabbler", "Multi-Decade", "Decade Master", "Timeline Legend"],
}
PLAN_RARITY_POINTS = {"common": 10, "uncommon": 25, "rare": 50, "epic": 100, "legendary": 250}
AUTHORING = ("lyrics", "chords", "key", "notes")


def test_the_catalog_declares_the_plan():
    """Every achievement of the plan, once, with an icon, a category of the plan, a rarity and
    the plan's points for it; the rest are the Phase 2 bonuses."""
    names = Counter(b["name"] for b in PLAN_BADGES.values())
    planned = Counter(name for family in PLAN.values() for name in family)
    assert sum(planned.values()) == 80 == len(PLAN_BADGES)
    assert names == planned  # "Pack Master" and "Pack Legend" are two families' names each
    for badge in PLAN_BADGES.values():
        assert badge["icon"] and badge["category"] in {
            "milestone",
            "activity",
            "quality",
            "social",
            "diversity",
        }
        assert badge["step"] in CATALOG["steps"] and badge["threshold"] >= 1
    assert POINTS == PLAN_RARITY_POINTS
    assert {b["category"] for c, b in BADGES.items() if c not in PLAN_BADGES} == {"bonus"}


@dataclass
class Song:
    owner: UUID
    status: str
    artist: str | None
    year: int | None
    fields: dict[str, Any] = field(default_factory=dict)
    pack: int | None = None
    series: int | None = None

    @property
    def authored(self) -> bool:
        tempo = self.fields.get("tempo")
        return all(self.fields.get(f) for f in AUTHORING) and tempo is not None and tempo > 0


class Model:
    """The plan, as the seed states it, over a copy of the application's rows."""

    COUNTED = {
        "future_plans": "future_plans_added",
        "wip": "wip_started",
        "released": "songs_released",
    }

    def __init__(self) -> None:
        self.songs: dict[int, Song] = {}
        self.packs: dict[int, UUID] = {}
        self.series: dict[int, UUID] = {}
        self.collabs: dict[int, tuple[int, UUID, UUID]] = {}  # song, user, added_by
        self.imports: dict[int, dict[str, Any]] = {}
        self.logins: dict[int, tuple[UUID, datetime, str | None]] = {}
        # Each user's rows, to work out one user's gauges without reading everyone's.
        self.owned: defaultdict[UUID, set[int]] = defaultdict(set)
        self.user_logins: defaultdict[UUID, set[int]] = defaultdict(set)
        self.added: defaultdict[UUID, set[int]] = defaultdict(set)
        self.zones: dict[UUID, str] = {}
        self.counters: Counter[tuple[UUID, str]] = Counter()
        self.gauges: dict[tuple[UUID, str], int] = {}
        self.highest: Counter[tuple[UUID, str]] = Counter()  # what badges go by: never lower

    # ---- the writes
    def apply(self, op: Op) -> None:
        touched: set[UUID] = set()
        getattr(self, f"_{op.kind}_{op.table}" if op.table else f"_{op.kind}")(op, touched)
        for user in touched:
            self.regauge(user)

    def _set_time_zone(self, op: Op, touched: set[UUID]) -> None:
        assert op.user is not None and op.zone is not None
        self.zones[op.user] = op.zone
        touched.add(op.user)

    def _insert_users(self, op: Op, touched: set[UUID]) -> None:
        pass

    def _insert_songs(self, op: Op, touched: set[UUID]) -> None:
        for r in op.rows:
            song = Song(r["owner_id"], r["status"], r["artist"], r["year"])
            self.songs[r["id"]] = song
            self.owned[song.owner].add(r["id"])
            self.counters[song.owner, self.COUNTED[song.status]] += 1
            touched.add(song.owner)

    def _update_songs(self, op: Op, touched: set[UUID]) -> None:
        for song_id in op.ids:
            song = self.songs[song_id]
            before = song.status
            for column, value in op.changes.items():
                if column == "status":
                    song.status = value
                elif column == "pack_id":
                    song.pack = value
                elif column == "album_series_id":
                    song.series = value
                elif column in (*AUTHORING, "tempo"):
                    song.fields[column] = value
                elif column not in ("title",):
                    raise AssertionError(column)
            if song.status != before:
                self.counters[song.owner, self.COUNTED[song.status]] += 1
                if (before, song.status) == ("wip", "released"):
                    self.counters[song.owner, "wip_completed"] += 1
            touched.add(song.owner)

    def _delete_songs(self, op: Op, touched: set[UUID]) -> None:
        for song_id in op.ids:
            owner = self.songs.pop(song_id).owner
            self.owned[owner].discard(song_id)
            touched.add(owner)
            for c in [c for c in self.added[owner] if self.collabs[c][0] == song_id]:
                del self.collabs[c]  # ON DELETE CASCADE
                self.added[owner].discard(c)

    def _insert_packs(self, op: Op, touched: set[UUID]) -> None:
        for r in op.rows:
            self.packs[r["id"]] = r["owner_id"]
            self.counters[r["owner_id"], "packs_created"] += 1
            touched.add(r["owner_id"])

    def _delete_packs(self, op: Op, touched: set[UUID]) -> None:
        for pack_id in op.ids:
            touched.add(self.packs.pop(pack_id))
            for song in self.songs.values():  # ON DELETE SET NULL
                if song.pack == pack_id:
                    song.pack = None
                    touched.add(song.owner)

    def _insert_album_series(self, op: Op, touched: set[UUID]) -> None:
        for r in op.rows:
            self.series[r["id"]] = r["owner_id"]
            self.counters[r["owner_id"], "album_series_created"] += 1
            touched.add(r["owner_id"])

    def _insert_collaborations(self, op: Op, touched: set[UUID]) -> None:
        for r in op.rows:
            song, user, added_by = r["song_id"], r["user_id"], r["added_by"]
            owner = self.songs[song].owner
            self.collabs[r["id"]] = (song, user, added_by)
            self.added[added_by].add(r["id"])
            if user != added_by and added_by == owner:
                self.counters[added_by, "collaborators_added"] += 1
            if user != owner:
                self.counters[user, "added_as_collaborator"] += 1
            touched |= {added_by, owner}

    def _delete_collaborations(self, op: Op, touched: set[UUID]) -> None:
        for c in op.ids:
            song, _, added_by = self.collabs.pop(c)
            self.added[added_by].discard(c)
            touched |= {added_by, self.songs[song].owner}

    def _insert_spotify_imports(self, op: Op, touched: set[UUID]) -> None:
        for r in op.rows:
            self.imports[r["id"]] = {"user": r["user_id"], "kind": r["kind"], "status": "pending"}

    def _update_spotify_imports(self, op: Op, touched: set[UUID]) -> None:
        for i in op.ids:
            imp = self.imports[i]
            if op.changes.get("status") == "completed" and imp["status"] != "completed":
                self.counters[imp["user"], "spotify_imports_completed"] += 1
                if imp["kind"] == "playlist":
                    self.counters[imp["user"], "spotify_playlists_imported"] += 1
            imp["status"] = op.changes.get("status", imp["status"])

    def _insert_feature_requests(self, op: Op, touched: set[UUID]) -> None:
        for r in op.rows:
            self.counters[r["user_id"], "feature_requests_submitted"] += 1

    def _insert_bug_reports(self, op: Op, touched: set[UUID]) -> None:
        for r in op.rows:
            self.counters[r["user_id"], "bugs_reported"] += 1

    def _insert_logins(self, op: Op, touched: set[UUID]) -> None:
        for r in op.rows:
            self.logins[r["id"]] = (r["user_id"], r["logged_in_at"], r["time_zone"])
            self.user_logins[r["user_id"]].add(r["id"])
            touched.add(r["user_id"])

    def _delete_logins(self, op: Op, touched: set[UUID]) -> None:
        for i in op.ids:
            user = self.logins.pop(i)[0]
            self.user_logins[user].discard(i)
            touched.add(user)

    # ---- the gauges and the streak, worked out again for a user whose rows changed
    def regauge(self, user: UUID) -> None:
        mine = [self.songs[i] for i in self.owned[user]]
        released = [s for s in mine if s.status == "released"]

        def complete(owner_of: dict[int, UUID], key: str, done: Any) -> int:
            total = 0
            for ident, owner in owner_of.items():
                if owner != user:
                    continue
                inside = [s for s in mine if getattr(s, key) == ident]
                total += bool(inside) and all(done(s) for s in inside)
            return total

        values = {
            "fully_authored_songs": sum(s.authored for s in mine),
            "completed_packs": complete(self.packs, "pack", lambda s: s.authored),
            "album_series_completed": complete(
                self.series, "series", lambda s: s.status == "released"
            ),
            "collaborations": sum(
                1
                for song, who, _ in map(self.collabs.__getitem__, self.added[user])
                if who != user and self.songs[song].owner == user
            ),
            "released_artists": len({s.artist.lower() for s in released if s.artist is not None}),
            "released_years": len({s.year for s in released if s.year is not None}),
            "released_decades": len({s.year // 10 for s in released if s.year is not None}),
            "login_streak": self.longest_streak(user),
        }
        for step, value in values.items():
            self.gauges[user, step] = value
            self.highest[user, step] = max(self.highest[user, step], value)

    def login_days(self, user: UUID) -> list[date]:
        zone = self.zones.get(user, "UTC")
        return sorted(
            {
                at.astimezone(ZoneInfo(row_zone or zone)).date()
                for _, at, row_zone in map(self.logins.__getitem__, self.user_logins[user])
            }
        )

    def longest_streak(self, user: UUID) -> int:
        longest = run = 0
        previous = None
        for day in self.login_days(user):
            run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
            longest, previous = max(longest, run), day
        return longest

    # ---- what follows
    def tally(self, user: UUID, step: str) -> int:
        return self.gauges.get((user, step), 0) if step in GAUGES else self.counters[user, step]

    def badges(self, user: UUID) -> set[str]:
        held = {
            code
            for code, b in PLAN_BADGES.items()
            if (
                self.highest[user, b["step"]]
                if b["step"] in GAUGES
                else self.counters[user, b["step"]]
            )
            >= b["threshold"]
        }
        points = sum(POINTS[PLAN_BADGES[c]["rarity"]] for c in held)
        for code, b in BADGES.items():
            if code in PLAN_BADGES:
                continue
            pool = {
                c
                for c, p in PLAN_BADGES.items()
                if b.get("badge_category") in (None, p["category"])
            }
            if (
                (b.get("all_badges") and pool <= held)
                or len(pool & held) >= b.get("min_badges", 10**9)
                or points >= b.get("min_points", 10**9)
            ):
                held = held | {code}
        return held

    def points(self, user: UUID) -> int:
        return sum(POINTS[BADGES[c]["rarity"]] for c in self.badges(user))

    def levels(self, user: UUID) -> set[str]:
        return {
            name
            for name, level in CATALOG["levels"].items()
            if self.points(user) >= level["min_points"]
        }


GAUGES = {
    "fully_authored_songs",
    "completed_packs",
    "album_series_completed",
    "collaborations",
    "released_artists",
    "released_years",
    "released_decades",
    "login_streak",
}


def ranked(rows: list[tuple[UUID, int]], limit: int) -> list[tuple[int, UUID, int]]:
    """rank() over value descending, ties by user id, the first `limit`."""
    rows = sorted((r for r in rows if r[1] > 0), key=lambda r: (-r[1], r[0]))[:limit]
    return [(1 + sum(v > value for _, v in rows), user, value) for user, value in rows]


@pytest.fixture(scope="module")
def month():
    return trackflow.month_of_activity(USERS, seed=18)


@pytest.mark.committed
def test_a_month_of_trackflow(db, month):
    people, days = month
    db.execute((EXAMPLE / "schema.sql").read_text())
    Client(db).apply_catalog(CATALOG)
    db.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    started = db.execute("SELECT now()").fetchone()[0]

    db.execute(f"SET ROLE {APP_ROLE}")
    activity.apply(db, days)
    db.execute("RESET ROLE")

    model = Model()
    for ops in days:
        for op in ops:
            model.apply(op)
    users = [u.id for u in people]
    steps = sorted(CATALOG["steps"])

    # Tallies: every step of every user.
    tallies = {
        (u, s): c
        for u, s, c in db.execute("SELECT user_id, name, count FROM achievements.user_achievements")
    }
    assert {k: v for k, v in tallies.items() if v} == {
        (u, s): model.tally(u, s) for u in users for s in steps if model.tally(u, s)
    }
    # Badges, one notification each, points, levels (with theirs).
    held = defaultdict(set)
    for user, badge in db.execute("SELECT user_id, badge FROM achievements.user_badges"):
        held[user].add(badge)
    expected = {u: model.badges(u) for u in users}
    assert {u: held[u] for u in users} == expected
    assert sum(map(len, expected.values())) > 2000  # the month earns plenty
    notified = Counter(
        db.execute(
            "SELECT user_id, kind, coalesce(data ->> 'badge', data ->> 'level') FROM achievements.notifications"
        ).fetchall()
    )
    assert notified == Counter(
        [(u, "badge", b) for u in users for b in expected[u]]
        + [(u, "level", lv) for u in users for lv in model.levels(u)]
    )
    titles = dict(
        ((u, b), t)
        for u, b, t in db.execute(
            "SELECT user_id, data ->> 'badge', title FROM achievements.notifications WHERE kind = 'badge'"
        )
    )
    assert all(
        titles[u, b] == f"Achievement unlocked: {BADGES[b]['name']}"
        for u in users
        for b in expected[u]
    )
    points = dict(db.execute("SELECT user_id, points FROM achievements.user_scores").fetchall())
    assert {u: points.get(u, 0) for u in users} == {u: model.points(u) for u in users}
    levels = defaultdict(set)
    for user, level in db.execute("SELECT user_id, level FROM achievements.user_levels"):
        levels[user].add(level)
    assert {u: levels[u] for u in users} == {u: model.levels(u) for u in users}

    # Progress ("5/10 songs") of every threshold badge, as each user reads it.
    client = Client(db)
    for user in users:
        progress = {p.code: (p.current, p.target) for p in client.as_user(user).badge_progress()}
        for code, b in PLAN_BADGES.items():
            done = code in expected[user]
            assert progress[code] == (
                b["threshold"] if done else min(model.tally(user, b["step"]), b["threshold"]),
                b["threshold"],
            ), (user, code)

    # Streaks: the longest run and the last active day, in each user's calendar; broken now.
    for user in users:
        days_active = model.login_days(user)
        rows = client.streaks(user)
        if not days_active:
            assert all(s.longest == 0 for s in rows)
            continue
        (streak,) = rows
        assert (streak.longest, streak.last_period, streak.current) == (
            model.longest_streak(user),
            days_active[-1],
            0,
        ), user

    # Leaderboards: points, badges, the longest streaks, songs released this week.
    assert [(r.rank, r.user_id, r.points) for r in client.leaderboard(limit=10)] == ranked(
        [(u, model.points(u)) for u in users], 10
    )
    assert [(r.rank, r.user_id, r.badges) for r in client.badge_leaderboard(limit=10)] == ranked(
        [(u, len(expected[u])) for u in users], 10
    )
    assert [
        (r.rank, r.user_id, r.length)
        for r in client.streak_leaderboard("login_streak", by="longest", limit=10)
    ] == ranked([(u, model.longest_streak(u)) for u in users], 10)
    weeks = {started, db.execute("SELECT now()").fetchone()[0]}
    released: Counter[UUID] = Counter()
    for at in weeks if len({w.isocalendar()[:2] for w in weeks}) > 1 else [started]:
        for row in client.step_leaderboard("songs_released", "week", limit=1000, at=at):
            released[row.user_id] += row.count
    assert released == Counter(
        {
            u: model.counters[u, "songs_released"]
            for u in users
            if model.counters[u, "songs_released"]
        }
    )

    # The badge statistics: holders and their share of the users with any tally.
    holders = Counter(b for u in users for b in expected[u])
    stats = {s.code: (s.holders, round(s.share, 9)) for s in client.badge_stats()}
    known = sum(1 for u in users if any(model.tally(u, s) for s in steps) or expected[u])
    assert stats == {c: (holders[c], round(holders[c] / known, 9)) for c in BADGES}


def test_the_month_spans_both_dst_changes_in_both_zones(month):
    """The generated month is what the test claims: logins on both sides of 8 and 29 March in
    New York and Berlin, some just after local midnight, some rows relying on the user's zone,
    late rows, deletes, bulk statements."""
    people, days = month
    ops = [op for d in days for op in d]
    logins = [r for op in ops if op.kind == "insert" and op.table == "logins" for r in op.rows]
    for zone in trackflow.ZONES:
        local = [
            r["logged_in_at"].astimezone(ZoneInfo(zone)) for r in logins if r["time_zone"] == zone
        ]
        assert {d.utcoffset() for d in local} == {
            datetime(2026, 3, 1, tzinfo=ZoneInfo(zone)).utcoffset(),
            datetime(2026, 3, 31, tzinfo=ZoneInfo(zone)).utcoffset(),
        }
        assert any(d.hour == 0 for d in local)
    assert any(r["time_zone"] is None for r in logins)
    assert any(op.kind == "delete" and op.table == "logins" for op in ops)
    assert max(len(op.rows) for op in ops if op.table == "songs") >= 20
    assert max(len(op.ids) for op in ops if op.kind == "update") >= 5
    assert len(people) == USERS
