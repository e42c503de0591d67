"""A month of TrackFlow (examples/trackflow): what a few hundred users do in March 2026, as the
application would write it. Deterministic for a given seed. Users live in New York or Berlin,
whose clocks change two weeks apart (8 and 29 March), and log in at local times, some just
after midnight; most logins carry the device's time zone, the rest rely on the zone the user
set. Songs are planned, started, released, reopened, authored, packed, put in album series and
deleted; owners add collaborators; Spotify imports bring songs in bulk; users report bugs and
request features; a few veterans import their login history on the first day, and some logins
reach the server days late."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from uuid import UUID
from zoneinfo import ZoneInfo

from achievements_db.demo.activity import Op, delete, insert, set_time_zone, update

MONTH = [date(2026, 3, 1) + timedelta(days=n) for n in range(31)]
ZONES = ("America/New_York", "Europe/Berlin")
# How active each kind of user is (a factor on every action's chance), and their share.
KINDS = (("casual", 0.35, 0.6), ("regular", 1.0, 0.32), ("power", 4.0, 0.08))
LOGIN_CHANCE = {"casual": 0.45, "regular": 0.85, "power": 0.98}
ARTISTS = [f"Artist {n}" for n in range(1, 151)]
AUTHORING = {
    "lyrics": "la la la",
    "chords": "C G Am F",
    "key": "C",
    "notes": "capo 2",
    "tempo": 120,
}


@dataclass(frozen=True)
class User:
    id: UUID
    username: str
    kind: str
    zone: str
    # Whether the user's logins carry the device's zone (else: the zone they set).
    zone_on_logins: bool
    joins: date


@dataclass
class Song:
    owner: UUID
    status: str
    authored: set[str] = field(default_factory=set)
    pack: int | None = None
    series: int | None = None


@dataclass
class World:
    """What the generator knows of the rows it wrote, to choose the next writes."""

    songs: dict[int, Song] = field(default_factory=dict)
    packs: dict[int, UUID] = field(default_factory=dict)
    series: dict[int, UUID] = field(default_factory=dict)
    collaborations: dict[int, tuple[int, UUID]] = field(default_factory=dict)
    pending_imports: dict[int, tuple[UUID, str]] = field(default_factory=dict)
    logins: dict[UUID, list[int]] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)

    # The ids of each user's songs, oldest first.
    owned: dict[UUID, list[int]] = field(default_factory=dict)

    def add_song(self, song_id: int, song: Song) -> None:
        self.songs[song_id] = song
        self.owned.setdefault(song.owner, []).append(song_id)

    def delete_song(self, song_id: int) -> None:
        """Forgets a song and, as ON DELETE CASCADE does, its collaborations."""
        self.owned[self.songs.pop(song_id).owner].remove(song_id)
        for collab_id in [c for c, (s, _) in self.collaborations.items() if s == song_id]:
            del self.collaborations[collab_id]

    def new_id(self, table: str) -> int:
        self.next_id[table] = self.next_id.get(table, 0) + 1
        return self.next_id[table]


def make_users(rng: random.Random, count: int) -> list[User]:
    users = []
    for n in range(1, count + 1):
        kind = rng.choices([k[0] for k in KINDS], weights=[k[2] for k in KINDS])[0]
        joins = MONTH[0] if n <= count * 4 // 5 else rng.choice(MONTH[1:20])
        users.append(
            User(
                id=UUID(int=n),
                username=f"user{n:04d}",
                kind=kind,
                zone=ZONES[n % 2],
                zone_on_logins=n % 5 != 0,
                joins=joins,
            )
        )
    return users


def login_at(rng: random.Random, user: User, day: date) -> datetime:
    """A moment of `day` in the user's zone: mostly daytime, sometimes just after midnight
    (the same calendar day there, the day before in UTC for New York)."""
    hour, minute = rng.choice([(rng.randint(7, 23), rng.randint(0, 59)), (0, rng.randint(1, 59))])
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(user.zone))
    return local.astimezone(timezone.utc)


def month_of_activity(users: int = 300, seed: int = 2026) -> tuple[list[User], list[list[Op]]]:
    """The users, and per day of March 2026 the application's writes in order."""
    rng = random.Random(seed)
    people = make_users(rng, users)
    world = World()
    days: list[list[Op]] = []
    for day in MONTH:
        ops: list[Op] = []
        joining = [u for u in people if u.joins == day]
        if joining:
            ops.append(
                insert(
                    "users",
                    *(
                        {"id": u.id, "username": u.username, "email": f"{u.username}@example.com"}
                        for u in joining
                    ),
                )
            )
            ops += [set_time_zone(u.id, u.zone) for u in joining if not u.zone_on_logins]
        if day == MONTH[0]:
            ops += veterans(rng, world, [u for u in joining if u.kind == "power"][:5], day)
        active = [u for u in people if u.joins <= day]
        for user in rng.sample(active, len(active)):
            ops += UserDay(rng, world, user, day, active).ops()
        days.append(ops)
    return people, days


def veterans(rng: random.Random, world: World, users: list[User], day: date) -> list[Op]:
    """Users who bring their login history: 70 to 90 days in a row before the month, imported
    in one statement."""
    rows = []
    for user in users:
        for back in range(rng.randint(70, 90), 0, -1):
            rows.append(login_row(rng, world, user, day - timedelta(days=back)))
    return [insert("logins", *rows)] if rows else []


def login_row(rng: random.Random, world: World, user: User, day: date) -> dict[str, object]:
    login_id = world.new_id("logins")
    world.logins.setdefault(user.id, []).append(login_id)
    return {
        "id": login_id,
        "user_id": user.id,
        "logged_in_at": login_at(rng, user, day),
        "time_zone": user.zone if user.zone_on_logins else None,
    }


def song_row(rng: random.Random, world: World, user: User) -> dict[str, object]:
    """A new song of `user`, planned (Future Plans)."""
    song_id = world.new_id("songs")
    world.add_song(song_id, Song(user.id, "future_plans"))
    artist = rng.choice(ARTISTS)
    return {
        "id": song_id,
        "owner_id": user.id,
        "title": f"Song {song_id}",
        "artist": rng.choice((artist, artist.lower(), artist.upper())),
        "year": rng.randint(1955, 2025),
        "status": "future_plans",
    }


class UserDay:
    """What one user does on one day: each action happens by chance, more often the more
    active the user is."""

    def __init__(
        self, rng: random.Random, world: World, user: User, day: date, active: list[User]
    ) -> None:
        self.rng, self.world, self.user, self.day, self.active = rng, world, user, day, active
        self.factor = next(k[1] for k in KINDS if k[0] == user.kind)

    def chance(self, p: float) -> bool:
        return self.rng.random() < min(0.95, p * self.factor)

    def pick(self, status: str | None = None) -> int | None:
        """One of the user's songs (of that status), or None."""
        songs = self.world.songs
        ids = [
            i
            for i in self.world.owned.get(self.user.id, [])
            if status is None or songs[i].status == status
        ]
        return self.rng.choice(ids) if ids else None

    def ops(self) -> list[Op]:
        return [
            *self.logins(),
            *self.songs(),
            *self.packs(),
            *self.series(),
            *self.collaborations(),
            *self.spotify(),
            *self.community(),
        ]

    def logins(self) -> list[Op]:
        rng, world, user = self.rng, self.world, self.user
        ops = []
        if rng.random() < LOGIN_CHANCE[user.kind]:
            for _ in range(rng.choice((1, 1, 1, 2))):
                ops.append(insert("logins", login_row(rng, world, user, self.day)))
            if rng.random() < 0.03:  # a login of two days ago, synced late
                ops.append(
                    insert("logins", login_row(rng, world, user, self.day - timedelta(days=2)))
                )
        mine = world.logins.get(user.id, [])
        if mine and rng.random() < 0.01:  # support removes a login recorded twice
            ops.append(delete("logins", [mine.pop(rng.randrange(len(mine)))]))
        return ops

    def songs(self) -> list[Op]:
        rng, world, user = self.rng, self.world, self.user
        ops: list[Op] = []
        if self.chance(0.35):
            ops.append(
                insert("songs", *(song_row(rng, world, user) for _ in range(rng.randint(1, 3))))
            )
        for before, after, p in (
            ("future_plans", "wip", 0.35),
            ("wip", "released", 0.3),
            ("released", "wip", 0.03),
            ("wip", "future_plans", 0.03),
        ):
            song_id = self.pick(before)
            if song_id is not None and self.chance(p):
                world.songs[song_id].status = after
                ops.append(update("songs", [song_id], status=after))
        if user.kind == "power" and self.chance(0.02):  # an album: start up to 20 plans at once
            ops += self.move_all("future_plans", "wip")
        if user.kind == "power" and self.chance(0.02):  # and release all of the work at once
            ops += self.move_all("wip", "released")
        song_id = self.pick()
        if song_id is not None and self.chance(0.3):
            song = world.songs[song_id]
            missing = sorted(set(AUTHORING) - song.authored)
            fields = missing if rng.random() < 0.5 else missing[:1]
            if fields:
                song.authored |= set(fields)
                ops.append(update("songs", [song_id], **{f: AUTHORING[f] for f in fields}))
        song_id = self.pick()
        if song_id is not None and self.chance(0.02) and world.songs[song_id].authored:
            song = world.songs[song_id]
            cleared = rng.choice(sorted(song.authored))
            song.authored.discard(cleared)
            ops.append(update("songs", [song_id], **{cleared: None if cleared == "tempo" else ""}))
        song_id = self.pick()
        if song_id is not None and self.chance(0.03):
            world.delete_song(song_id)
            ops.append(delete("songs", [song_id]))
        return ops

    def move_all(self, before: str, after: str) -> list[Op]:
        """One statement moving up to 20 of the user's songs from one status to another."""
        batch = [
            i
            for i in self.world.owned.get(self.user.id, [])
            if self.world.songs[i].status == before
        ]
        for i in batch[:20]:
            self.world.songs[i].status = after
        return [update("songs", batch[:20], status=after)] if batch else []

    def packs(self) -> list[Op]:
        rng, world, user = self.rng, self.world, self.user
        ops: list[Op] = []
        if self.chance(0.06):
            pack_id = world.new_id("packs")
            world.packs[pack_id] = user.id
            ops.append(
                insert("packs", {"id": pack_id, "owner_id": user.id, "name": f"Pack {pack_id}"})
            )
        mine = [p for p, owner in world.packs.items() if owner == user.id]
        song_id = self.pick()
        if mine and song_id is not None and self.chance(0.2):
            pack_id = rng.choice(mine)
            world.songs[song_id].pack = pack_id
            ops.append(update("songs", [song_id], pack_id=pack_id))
        if mine and self.chance(0.005):
            pack_id = rng.choice(mine)
            del world.packs[pack_id]
            for song in world.songs.values():
                if song.pack == pack_id:
                    song.pack = None  # ON DELETE SET NULL
            ops.append(delete("packs", [pack_id]))
        return ops

    def series(self) -> list[Op]:
        rng, world, user = self.rng, self.world, self.user
        ops: list[Op] = []
        if self.chance(0.04):
            series_id = world.new_id("album_series")
            world.series[series_id] = user.id
            ops.append(
                insert(
                    "album_series",
                    {
                        "id": series_id,
                        "owner_id": user.id,
                        "artist": rng.choice(ARTISTS),
                        "album_name": f"Album {series_id}",
                        "year": rng.randint(1960, 2025),
                    },
                )
            )
        mine = [s for s, owner in world.series.items() if owner == user.id]
        song_id = self.pick()
        if mine and song_id is not None and self.chance(0.15):
            series_id = rng.choice(mine)
            world.songs[song_id].series = series_id
            ops.append(update("songs", [song_id], album_series_id=series_id))
        return ops

    def collaborations(self) -> list[Op]:
        rng, world, user = self.rng, self.world, self.user
        ops: list[Op] = []
        song_id = self.pick()
        if song_id is not None and self.chance(0.12):
            other = rng.choice(self.active)
            taken = {u for s, u in world.collaborations.values() if s == song_id}
            if other.id != user.id and other.id not in taken:
                collab_id = world.new_id("collaborations")
                world.collaborations[collab_id] = (song_id, other.id)
                ops.append(
                    insert(
                        "collaborations",
                        {
                            "id": collab_id,
                            "song_id": song_id,
                            "user_id": other.id,
                            "added_by": user.id,
                        },
                    )
                )
        mine = [c for c, (s, _) in world.collaborations.items() if world.songs[s].owner == user.id]
        if mine and self.chance(0.02):
            collab_id = rng.choice(mine)
            del world.collaborations[collab_id]
            ops.append(delete("collaborations", [collab_id]))
        return ops

    def spotify(self) -> list[Op]:
        """An import is created pending; the next day it completes, bringing its songs in one
        statement, or fails."""
        rng, world, user = self.rng, self.world, self.user
        ops: list[Op] = []
        for import_id, (owner, kind) in list(world.pending_imports.items()):
            if owner != user.id:
                continue
            del world.pending_imports[import_id]
            if rng.random() < 0.15:
                ops.append(update("spotify_imports", [import_id], status="failed"))
                continue
            count = rng.randint(5, 40) if kind != "track" else 1
            ops.append(insert("songs", *(song_row(rng, world, user) for _ in range(count))))
            ops.append(
                update("spotify_imports", [import_id], status="completed", songs_imported=count)
            )
        if self.chance(0.05):
            import_id = world.new_id("spotify_imports")
            kind = rng.choice(("playlist", "playlist", "album", "track"))
            world.pending_imports[import_id] = (user.id, kind)
            ops.append(
                insert(
                    "spotify_imports",
                    {
                        "id": import_id,
                        "user_id": user.id,
                        "kind": kind,
                        "spotify_id": f"sp{import_id}",
                    },
                )
            )
        return ops

    def community(self) -> list[Op]:
        world, user = self.world, self.user
        ops: list[Op] = []
        if self.chance(0.03):
            ops.append(
                insert(
                    "feature_requests",
                    {
                        "id": world.new_id("feature_requests"),
                        "user_id": user.id,
                        "title": "Dark mode",
                    },
                )
            )
        if self.chance(0.03):
            ops.append(
                insert(
                    "bug_reports",
                    {
                        "id": world.new_id("bug_reports"),
                        "user_id": user.id,
                        "title": "Crash on save",
                    },
                )
            )
        return ops
