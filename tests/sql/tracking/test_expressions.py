"""track() with a condition, previous, a value, the modes distinct, sum and max, and depends_on:
random statements compared with a model of the table, statement by statement; several sessions
writing at once; adopting a table that has rows; TRUNCATE."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace

import pytest

from support.races import run_together

OWNERS = [uuid.UUID(int=i) for i in (1, 2, 3)] + [None]
STATUSES = ["future", "wip", "released", None]
ARTISTS = ["Abba", "abba", "Blur", "Cher", "Dido", None]

# step: track() arguments
STEPS = {
    "released": {"condition": "status = 'released'"},
    "completed": {"condition": "status = 'released'", "previous": "status = 'wip'"},
    "new_artist": {"column_name": "artist", "condition": "status = 'released'"},
    "planned": {"mode": "toggle", "condition": "status = 'future'"},
    "artists": {"mode": "distinct", "value": "lower(artist)", "condition": "status = 'released'"},
    "minutes": {"mode": "sum", "value": "minutes", "condition": "status IS NOT NULL"},
    "longest": {"mode": "max", "column_name": "minutes"},
}


@dataclass(frozen=True)
class Song:
    id: int
    owner: uuid.UUID | None
    status: str | None
    artist: str | None
    minutes: int | None


class Model:
    """The table as the test wrote it, and what each step must count."""

    def __init__(self) -> None:
        self.rows: dict[int, Song] = {}
        self.events: dict[str, dict[uuid.UUID, int]] = {
            s: {} for s in ("released", "completed", "new_artist")
        }

    def _event(self, step: str, owner: uuid.UUID | None) -> None:
        if owner is not None:
            self.events[step][owner] = self.events[step].get(owner, 0) + 1

    def insert(self, songs: list[Song]) -> None:
        for song in songs:
            self.rows[song.id] = song
            if song.status == "released":
                self._event("released", song.owner)
                if song.artist is not None:
                    self._event("new_artist", song.owner)

    def update(self, pairs: list[tuple[Song, Song]]) -> None:
        for old, new in pairs:
            self.rows[new.id] = new
            if new.status == "released" and old.status != "released":
                self._event("released", new.owner)
                if old.status == "wip":
                    self._event("completed", new.owner)
            if new.status == "released" and new.artist is not None and new.artist != old.artist:
                self._event("new_artist", new.owner)

    def delete(self, ids: list[int]) -> None:
        for i in ids:
            self.rows.pop(i, None)

    def expected(self) -> dict[str, dict[uuid.UUID, int]]:
        result = {step: dict(counts) for step, counts in self.events.items()}
        planned: dict = {}
        artists: dict = {}
        minutes: dict = {}
        longest: dict = {}
        for song in self.rows.values():
            if song.owner is None:
                continue
            if song.status == "future":
                planned[song.owner] = planned.get(song.owner, 0) + 1
            if song.status == "released" and song.artist is not None:
                artists.setdefault(song.owner, set()).add(song.artist.lower())
            if song.status is not None:
                minutes[song.owner] = minutes.get(song.owner, 0) + (song.minutes or 0)
            if song.minutes is not None:
                longest[song.owner] = max(longest.get(song.owner, 0), song.minutes)
        result["planned"] = planned
        result["artists"] = {u: len(a) for u, a in artists.items()}
        result["minutes"] = minutes
        result["longest"] = longest
        return {step: {u: c for u, c in counts.items() if c} for step, counts in result.items()}


def create_songs(db, table="songs"):
    db.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, owner uuid, status text, artist text,"
        " minutes int)"
    )
    db.execute(f"CREATE INDEX ON {table} (owner)")


def track_all(db, table="songs"):
    for step, arguments in STEPS.items():
        named = ", ".join(f"{name} => %s" for name in arguments)
        db.execute(
            f"SELECT achievements.track(%s, %s, user_column => 'owner', {named})",
            (table, step, *arguments.values()),
        )


def tallies(db):
    result: dict[str, dict] = {step: {} for step in STEPS}
    for user, step, count in db.execute(
        "SELECT user_id, name, count FROM achievements.user_achievements WHERE count <> 0"
    ).fetchall():
        if step in result:
            result[step][user] = count
    return result


def random_song(rng, i):
    return Song(
        i,
        rng.choice(OWNERS),
        rng.choice(STATUSES),
        rng.choice(ARTISTS),
        rng.choice([None, 0, 3, 7, 12]),
    )


def run_statement(db, rng, model, next_id, table="songs"):
    """One random INSERT, UPDATE or DELETE of several rows, applied to the model too; returns the
    next free id."""
    kind = rng.choice(["insert", "insert", "update", "update", "update", "delete"])
    ids = sorted(model.rows)
    if kind == "insert" or not ids:
        songs = [random_song(rng, next_id + k) for k in range(rng.randint(1, 6))]
        db.execute(
            f"INSERT INTO {table} SELECT * FROM unnest(%s::int[], %s::uuid[], %s::text[], %s::text[], %s::int[])",
            [
                list(column)
                for column in zip(
                    *[(s.id, s.owner, s.status, s.artist, s.minutes) for s in songs], strict=True
                )
            ],
        )
        model.insert(songs)
        return next_id + len(songs)
    chosen = rng.sample(ids, min(len(ids), rng.randint(1, 5)))
    if kind == "delete":
        db.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", (chosen,))
        model.delete(chosen)
        return next_id
    field = rng.choice(["status", "status", "owner", "artist", "minutes"])
    value = {"status": STATUSES, "owner": OWNERS, "artist": ARTISTS, "minutes": [None, 0, 5, 20]}[
        field
    ]
    new_value = rng.choice(value)
    db.execute(f"UPDATE {table} SET {field} = %s WHERE id = ANY(%s)", (new_value, chosen))
    model.update([(model.rows[i], replace(model.rows[i], **{field: new_value})) for i in chosen])
    return next_id


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_statements_match_the_model_statement_by_statement(db, seed):
    create_songs(db)
    track_all(db)
    rng = random.Random(seed)
    model = Model()
    next_id = 1
    for _ in range(60):
        next_id = run_statement(db, rng, model, next_id)
        assert tallies(db) == model.expected()


def test_several_sessions_writing_at_once_stay_exact(db, connect):
    """Six sessions write their own rows of the same owners at once: the gauges and recounted
    steps equal the table, the counters the events of every session's model."""
    create_songs(db)
    track_all(db)
    models = [Model() for _ in range(6)]

    def work(index, conn):
        rng = random.Random(100 + index)
        next_id = 1 + index * 100_000
        for _ in range(40):
            next_id = run_statement(conn, rng, models[index], next_id)

    run_together(connect, 6, work, timeout=300)
    merged = Model()
    for model in models:
        merged.rows.update(model.rows)
        for step, counts in model.events.items():
            for user, count in counts.items():
                merged.events[step][user] = merged.events[step].get(user, 0) + count
    assert tallies(db) == merged.expected()


def test_adopting_a_table_counts_its_rows_once_silently(db):
    """Gauges and recounted steps start from the rows; counters count each qualifying row once
    (a transition, previous, has nothing to count); nothing is announced."""
    create_songs(db)
    rng = random.Random(7)
    model = Model()
    next_id = 1
    for _ in range(15):
        next_id = run_statement(db, rng, model, next_id)
    db.execute(
        "INSERT INTO achievements.badges (code, name, step, threshold) VALUES ('a2', 'A2', 'artists', 2)"
    )
    track_all(db)
    adopted = Model()
    adopted.insert(list(model.rows.values()))
    assert tallies(db) == adopted.expected()
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 0
    holders = {r[0] for r in db.execute("SELECT user_id FROM achievements.user_badges").fetchall()}
    assert holders == {u for u, c in adopted.expected()["artists"].items() if c >= 2}


def test_truncate_takes_gauges_to_zero_and_leaves_counters(db):
    create_songs(db)
    track_all(db)
    rng = random.Random(3)
    model = Model()
    next_id = 1
    for _ in range(20):
        next_id = run_statement(db, rng, model, next_id)
    db.execute("TRUNCATE songs")
    model.rows.clear()
    assert tallies(db) == model.expected()


def test_a_step_that_depends_on_another_table_follows_both(db):
    """ "Complete packs": a pack counts while it has songs and all of them are authored. The
    condition reads songs, so songs are declared as what the step depends on; writes to either
    table recount the users they touch."""
    db.execute("CREATE TABLE packs (id int PRIMARY KEY, owner uuid)")
    db.execute(
        "CREATE TABLE pack_songs (id int PRIMARY KEY, owner uuid, pack_id int, authored boolean)"
    )
    db.execute("CREATE INDEX ON packs (owner)")
    db.execute(
        "SELECT achievements.track('packs', 'complete_packs', mode => 'toggle', user_column => 'owner',"
        " condition => 'EXISTS (SELECT 1 FROM public.pack_songs AS s WHERE s.pack_id = packs.id)"
        " AND NOT EXISTS (SELECT 1 FROM public.pack_songs AS s WHERE s.pack_id = packs.id"
        " AND s.authored IS NOT TRUE)', depends_on => 'pack_songs')"
    )
    rng = random.Random(5)
    owners = OWNERS[:3]
    song_id = 1
    for pack in range(1, 7):
        db.execute("INSERT INTO packs VALUES (%s, %s)", (pack, owners[pack % 3]))
    for _ in range(80):
        choice = rng.randrange(4)
        pack = rng.randint(1, 6)
        owner = db.execute("SELECT owner FROM packs WHERE id = %s", (pack,)).fetchone()
        if choice == 0 and owner:
            db.execute(
                "INSERT INTO pack_songs VALUES (%s, %s, %s, %s)",
                (song_id, owner[0], pack, rng.random() < 0.6),
            )
            song_id += 1
        elif choice == 1:
            db.execute(
                "UPDATE pack_songs SET authored = NOT coalesce(authored, false)"
                " WHERE id IN (SELECT id FROM pack_songs WHERE pack_id = %s LIMIT 2)",
                (pack,),
            )
        elif choice == 2:
            db.execute(
                "DELETE FROM pack_songs WHERE id = (SELECT min(id) FROM pack_songs WHERE pack_id = %s)",
                (pack,),
            )
        else:
            db.execute("UPDATE packs SET owner = %s WHERE id = %s", (rng.choice(owners), pack))
            db.execute(
                "UPDATE pack_songs SET owner = (SELECT owner FROM packs WHERE id = %s) WHERE pack_id = %s",
                (pack, pack),
            )
        expected = dict(
            db.execute(
                "SELECT p.owner, count(*) FROM packs AS p"
                " WHERE EXISTS (SELECT 1 FROM pack_songs AS s WHERE s.pack_id = p.id)"
                "   AND NOT EXISTS (SELECT 1 FROM pack_songs AS s WHERE s.pack_id = p.id AND s.authored IS NOT TRUE)"
                " GROUP BY p.owner"
            ).fetchall()
        )
        actual = dict(
            db.execute(
                "SELECT user_id, count FROM achievements.user_achievements"
                " WHERE name = 'complete_packs' AND count <> 0"
            ).fetchall()
        )
        assert actual == expected
    db.execute("TRUNCATE pack_songs")
    assert (
        db.execute(
            "SELECT coalesce(sum(count), 0) FROM achievements.user_achievements WHERE name = 'complete_packs'"
        ).fetchone()[0]
        == 0
    )


ALL_PROVIDERS = """CASE WHEN NOT EXISTS (
    SELECT 1 FROM public.providers AS p
     WHERE NOT EXISTS (SELECT 1 FROM public.quiz_scores AS q
                        WHERE q.user_id = quiz_scores.user_id AND q.provider_id = p.id AND q.correct))
THEN 'all' END"""


def create_quiz(db):
    db.execute("CREATE TABLE providers (id text PRIMARY KEY)")
    db.execute(
        "CREATE TABLE quiz_scores (id int PRIMARY KEY, user_id uuid NOT NULL,"
        " provider_id text NOT NULL REFERENCES providers ON DELETE CASCADE, correct boolean NOT NULL,"
        " UNIQUE (user_id, provider_id))"
    )
    db.execute("INSERT INTO providers VALUES ('a'), ('b'), ('c')")
    db.execute(
        "SELECT achievements.track('quiz_scores', 'all_providers', mode => 'distinct', user_column => 'user_id',"
        " condition => 'correct', value => %s, depends_on => 'providers', depends_on_user_column => '*')",
        (ALL_PROVIDERS,),
    )


def all_providers(db):
    """The users correct on every provider, in plain SQL, and the tallies of the step."""
    expected = {
        u: 1
        for (u,) in db.execute(
            "SELECT DISTINCT s.user_id FROM quiz_scores AS s WHERE NOT EXISTS ("
            " SELECT 1 FROM providers AS p WHERE NOT EXISTS (SELECT 1 FROM quiz_scores AS q"
            " WHERE q.user_id = s.user_id AND q.provider_id = p.id AND q.correct))"
        )
    }
    actual = dict(
        db.execute(
            "SELECT user_id, count FROM achievements.user_achievements"
            " WHERE name = 'all_providers' AND count <> 0"
        ).fetchall()
    )
    return actual, expected


def test_a_step_that_depends_on_a_list_for_every_user_follows_the_list(db):
    """depends_on_user_column => '*': the providers name no user, so any change of them
    recounts every user of the step: a provider added takes everyone back, one removed (or
    renamed, or the list emptied) completes whoever it now makes complete; statements on the
    scores recount their users as usual."""
    create_quiz(db)
    rng = random.Random(11)
    users = [uuid.UUID(int=i) for i in range(1, 6)]
    providers = ["a", "b", "c", "d", "e"]
    next_id = 1
    for _ in range(120):
        choice = rng.randrange(6)
        if choice <= 2:
            user, provider = rng.choice(users), rng.choice(providers)
            db.execute(
                "INSERT INTO quiz_scores SELECT %s, %s, p.id, %s FROM providers AS p WHERE p.id = %s"
                " ON CONFLICT (user_id, provider_id) DO UPDATE SET correct = excluded.correct",
                (next_id, user, rng.random() < 0.8, provider),
            )
            next_id += 1
        elif choice == 3:
            db.execute(
                "INSERT INTO providers VALUES (%s) ON CONFLICT DO NOTHING", (rng.choice(providers),)
            )
        elif choice == 4:
            db.execute("DELETE FROM providers WHERE id = %s", (rng.choice(providers),))
        else:
            db.execute(
                "DELETE FROM quiz_scores WHERE user_id = %s AND provider_id = %s",
                (rng.choice(users), rng.choice(providers)),
            )
        actual, expected = all_providers(db)
        assert actual == expected
    db.execute("TRUNCATE providers CASCADE")
    assert all_providers(db) == ({}, {})


def test_a_provider_removed_awards_and_announces_what_it_completes(db):
    """A user who lacked only the removed provider is complete: their badge is awarded with its
    notification, as for any change. A statement that changes no provider recounts no one."""
    create_quiz(db)
    db.execute(
        "SELECT * FROM achievements.apply_catalog(%s::jsonb)",
        (
            '{"badges": {"grandmaster": {"name": "Grandmaster", "step": "all_providers", "threshold": 1}}}',
        ),
    )
    ada = uuid.UUID(int=1)
    db.execute("INSERT INTO quiz_scores VALUES (1, %s, 'a', true), (2, %s, 'b', true)", (ada, ada))
    assert not db.execute("SELECT achievements.has_badge(%s, 'grandmaster')", (ada,)).fetchone()[0]
    logged = db.execute("SELECT count(*) FROM achievements.user_steps").fetchone()[0]
    db.execute("UPDATE providers SET id = id WHERE false")
    assert db.execute("SELECT count(*) FROM achievements.user_steps").fetchone()[0] == logged
    db.execute("DELETE FROM providers WHERE id = 'c'")
    assert db.execute("SELECT achievements.has_badge(%s, 'grandmaster')", (ada,)).fetchone()[0]
    assert db.execute(
        "SELECT data ->> 'badge' FROM achievements.notifications WHERE user_id = %s", (ada,)
    ).fetchall() == [("grandmaster",)]
    db.execute("INSERT INTO providers VALUES ('d')")
    assert all_providers(db) == ({}, {})  # back to 0; the badge stays
    assert db.execute("SELECT achievements.has_badge(%s, 'grandmaster')", (ada,)).fetchone()[0]


def test_every_user_needs_depends_on(db):
    db.execute("CREATE TABLE lessons (id int PRIMARY KEY, owner uuid)")
    with pytest.raises(Exception, match="depends_on_user_column goes with depends_on") as error:
        db.execute(
            "SELECT achievements.track('lessons', 'lessons', mode => 'toggle', user_column => 'owner',"
            " depends_on_user_column => '*')"
        )
    assert error.value.sqlstate == "AD107"
