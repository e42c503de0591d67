"""TrackFlow (issue 14): the achievements of a real application's families, expressed with
nothing but its own tables (examples/trackflow/schema.sql), one track() call per step
(trackflow/tracking.sql, the example catalog's [steps] as calls) and the example's badges
(examples/trackflow/catalog.toml).

Each family is driven through inserts, updates, moves of rows between users (and of songs
between packs and album series) and deletes. After every statement, every tally of every step
must equal what the test expects: for a counter, the events the test's own statements caused
(each statement declares them); for a gauge, a recount in plain SQL over the application's
tables. And every user must hold exactly the badges whose threshold their tally has reached at
some point (badges are not revocable: a gauge going down keeps what it earned), with one
notification each and the points of their rarity."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest

from achievements_db.cli.badges import read_catalog
from support.databases import APP_ROLE

HERE = Path(__file__).parent / "trackflow"
EXAMPLE = Path(__file__).parents[2] / "examples" / "trackflow"
SCHEMA = (EXAMPLE / "schema.sql").read_text()
TRACKING = (HERE / "tracking.sql").read_text()
EXAMPLE_CATALOG = read_catalog(EXAMPLE / "catalog.toml")
POINTS_BY_RARITY = {"common": 10, "uncommon": 25, "rare": 50, "epic": 100, "legendary": 250}
# The plan's 80 achievements (their points: their rarity's), applied here without the rest of
# the example's catalog (its steps are tracking.sql's calls; its rewards: RewardedTrackFlow).
BADGES = {
    code: {**badge, "points": EXAMPLE_CATALOG["rarity_points"][badge["rarity"]]}
    for code, badge in EXAMPLE_CATALOG["badges"].items()
    if badge["category"] != "bonus"
}
CATALOG = {"badges": BADGES}

ALICE, BOB, CAROL, DAVE, ERIN = (uuid.UUID(int=i) for i in range(1, 6))
USERS = {ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave", ERIN: "erin"}

# A song whose authoring fields are all filled in, as plain SQL over `songs AS s`.
AUTHORED = (
    "coalesce(s.lyrics <> '' AND s.chords <> '' AND s.key <> '' AND s.notes <> ''"
    " AND s.tempo > 0, false)"
)
FULL = {"lyrics": "la la", "chords": "C G Am F", "key": "C", "notes": "capo 2", "tempo": 120}

# The gauges, recounted independently over the application's tables: (user, count) rows.
RECOUNTS = {
    "fully_authored_songs": f"SELECT s.owner_id, count(*) FROM songs AS s WHERE {AUTHORED} GROUP BY 1",
    "completed_packs": f"""
        SELECT p.owner_id, count(*) FROM (
            SELECT p.id, p.owner_id FROM packs AS p
              JOIN songs AS s ON s.pack_id = p.id AND s.owner_id = p.owner_id
             GROUP BY p.id HAVING bool_and({AUTHORED})) AS p
         GROUP BY 1""",
    "album_series_completed": """
        SELECT a.owner_id, count(*) FROM (
            SELECT a.id, a.owner_id FROM album_series AS a
              JOIN songs AS s ON s.album_series_id = a.id AND s.owner_id = a.owner_id
             GROUP BY a.id HAVING bool_and(s.status = 'released')) AS a
         GROUP BY 1""",
    "collaborations": """
        SELECT c.added_by, count(*) FROM collaborations AS c JOIN songs AS s ON s.id = c.song_id
         WHERE c.added_by = s.owner_id AND c.user_id <> s.owner_id GROUP BY 1""",
    "released_artists": "SELECT owner_id, count(DISTINCT lower(artist)) FROM songs WHERE status = 'released' GROUP BY 1",
    "released_years": "SELECT owner_id, count(DISTINCT year) FROM songs WHERE status = 'released' GROUP BY 1",
    "released_decades": "SELECT owner_id, count(DISTINCT year / 10) FROM songs WHERE status = 'released' GROUP BY 1",
    # The longest run of consecutive login days, in the zone each user set (one each here).
    "login_streak": """
        SELECT r.user_id, max(r.days) FROM (
            SELECT d.user_id, count(*) AS days FROM (
                SELECT x.user_id, x.day, x.day - row_number() OVER (PARTITION BY x.user_id ORDER BY x.day)::int AS island
                  FROM (SELECT DISTINCT l.user_id,
                               (l.logged_in_at AT TIME ZONE coalesce(
                                   (SELECT z.time_zone FROM achievements.user_time_zones AS z WHERE z.user_id = l.user_id),
                                   'UTC'))::date AS day
                          FROM logins AS l) AS x) AS d
             GROUP BY d.user_id, d.island) AS r
         GROUP BY 1""",
}
STEPS = sorted({b["step"] for b in BADGES.values()})
COUNTERS = [step for step in STEPS if step not in RECOUNTS]


class TrackFlow:
    """The application's connection, and what every tally and badge must be."""

    def __init__(self, db):
        self.db = db
        self.events = {step: Counter() for step in COUNTERS}
        # The highest tally seen of each step and user: what the badges follow.
        self.high = {step: Counter() for step in STEPS}
        # (user, badge) awarded without a notification: on adopting rows that were there.
        self.silent = set()

    def run(self, sql, params=None, **events):
        """Runs one statement of the application, as its role (which owns none of the tables),
        which causes `events` (counter step -> {user: number of events}); then checks every
        tally and badge."""
        self.db.execute(f"SET ROLE {APP_ROLE}")  # as the application writes: not the owner
        cursor = self.db.execute(sql, params)
        result = cursor.fetchall() if cursor.description else None
        self.db.execute("RESET ROLE")
        for step, per_user in events.items():
            assert step in self.events, f"{step} is not a counter"
            self.events[step].update(per_user)
        self.check()
        return result

    def query(self, sql, params=None):
        return self.db.execute(sql, params).fetchall()

    def value(self, sql, params=None):
        return self.db.execute(sql, params).fetchone()[0]

    def tallies(self):
        result = {step: {} for step in STEPS}
        for user, step, count in self.query(
            "SELECT user_id, name, count FROM achievements.user_achievements WHERE count <> 0"
        ):
            if step in result:  # the steps of the catalog
                result[step][user] = count
        return result

    def expected_tallies(self):
        result = {step: {u: n for u, n in self.events[step].items() if n} for step in COUNTERS}
        for step, sql in RECOUNTS.items():
            result[step] = {u: n for u, n in self.query(sql) if n and u is not None}
        return result

    def badges(self, user, *steps):
        """The badges `user` holds (of `steps` only, when given)."""
        held = self.query("SELECT badge FROM achievements.user_badges WHERE user_id = %s", (user,))
        return {b for (b,) in held if not steps or BADGES[b]["step"] in steps}

    def check(self):
        tallies = self.tallies()
        assert tallies == self.expected_tallies()
        for step, per_user in tallies.items():
            for user, count in per_user.items():
                self.high[step][user] = max(self.high[step][user], count)
        earned = self.expected_badges(
            {
                (user, code)
                for code, badge in BADGES.items()
                for user, high in self.high[badge["step"]].items()
                if high >= badge["threshold"]
            }
        )
        assert set(self.query("SELECT user_id, badge FROM achievements.user_badges")) == earned
        # One notification per badge earned, and the points of the badges held.
        notified = Counter(
            self.query(
                "SELECT user_id, data ->> 'badge' FROM achievements.notifications WHERE kind = 'badge'"
            )
        )
        assert notified == Counter(earned - self.silent)
        points = Counter()
        for user, code in earned:
            points[user] += self.worth(code)
        for user in USERS:
            assert self.value("SELECT achievements.user_points(%s)", (user,)) == points[user]

    def expected_badges(self, earned):
        """The (user, badge) pairs held, given those of the catalog's threshold badges."""
        return earned

    def worth(self, code):
        return BADGES[code]["points"]

    def insert(self, table, rows, **events):
        """Inserts `rows` (dicts of column values) into `table` in one statement that causes
        `events`; returns the ids of the new rows."""
        columns = ", ".join(sorted(set().union(*rows)))
        result = self.run(
            f"INSERT INTO {table} ({columns}) SELECT {columns}"
            f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) RETURNING id",
            (json.dumps(rows, default=str),),
            **events,
        )
        return [r[0] for r in result]


def install(db):
    db.execute(SCHEMA)
    db.execute(
        "INSERT INTO users (id, username, email) SELECT u, n, n || '@example.com'"
        " FROM unnest(%s::uuid[], %s::text[]) AS x(u, n)",
        (list(USERS), list(USERS.values())),
    )
    db.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    db.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    # The tests give their rows small ids; the ids the tables generate start above them.
    for table in (
        "packs",
        "album_series",
        "songs",
        "collaborations",
        "spotify_imports",
        "feature_requests",
        "bug_reports",
    ):
        db.execute(f"ALTER TABLE {table} ALTER COLUMN id RESTART WITH 100000")


def apply_catalog(db):
    return db.execute(
        "SELECT * FROM achievements.apply_catalog(%s::jsonb)", (json.dumps(CATALOG),)
    ).fetchall()


@pytest.fixture
def app(db):
    install(db)
    apply_catalog(db)
    db.execute(TRACKING)
    flow = TrackFlow(db)
    flow.check()
    return flow


def song(id, owner, status="future_plans", **fields):
    return {"id": id, "owner_id": owner, "title": f"song {id}", "status": status, **fields}


def test_the_catalog_is_the_seeds_families_on_tracked_steps(app):
    """The 80 badges of the seed's 16 families, points by rarity as the seed says, and every
    badge's step is counted by exactly one track() call (counters by mode count)."""
    assert len(BADGES) == 80
    per_category = Counter(b["category"] for b in BADGES.values())
    assert per_category == {
        "milestone": 37,
        "activity": 14,
        "quality": 11,
        "social": 4,
        "diversity": 14,
    }
    for badge in BADGES.values():
        assert badge["points"] == POINTS_BY_RARITY[badge["rarity"]]
    tracked = dict(app.query("SELECT step, mode FROM achievements.tracked()"))
    assert sorted(tracked) == STEPS
    assert sorted(s for s, mode in tracked.items() if mode == "count") == COUNTERS
    assert apply_catalog(app.db) == []  # applying it again changes nothing
    cursor = app.db.execute(TRACKING)  # nor does tracking.sql: every track() returns false
    again = [cursor.fetchone()[0]]
    while cursor.nextset():
        again.append(cursor.fetchone()[0])
    assert again == [False] * len(STEPS)


def test_docs_show_every_track_call():
    """docs/tracking.md shows each track() call of tracking.sql as it is."""
    docs = (Path(__file__).parents[2] / "docs" / "tracking.md").read_text()
    calls = [
        line for line in TRACKING.splitlines() if line.startswith("SELECT achievements.track(")
    ]
    assert len(calls) == len(STEPS)
    for call in calls:
        assert f"`{call}`" in docs


def test_future_plans(app):
    """+1 each time a song enters Future Plans (added as one, or moved back to it); editing,
    giving the song to another user, or deleting it counts nothing."""
    app.insert("songs", [song(1, ALICE)], future_plans_added={ALICE: 1})
    assert app.badges(ALICE) == {"dreamer"}
    app.insert(
        "songs",
        [song(i, ALICE) for i in range(2, 6)] + [song(6, ALICE, "wip")],
        future_plans_added={ALICE: 4},
        wip_started={ALICE: 1},
    )
    assert app.badges(ALICE) == {"dreamer", "visionary", "getting_started"}
    app.run("UPDATE songs SET title = 'renamed', artist = 'Blur', year = 1994 WHERE id = 1")
    app.run("UPDATE songs SET status = 'future_plans' WHERE id = 1")  # already there
    app.run("UPDATE songs SET status = 'future_plans' WHERE id = 6", future_plans_added={ALICE: 1})
    app.run("UPDATE songs SET status = 'wip' WHERE id IN (1, 2)", wip_started={ALICE: 2})
    # One statement moves two songs back to the plans and starts a third.
    app.run(
        "UPDATE songs SET status = CASE status WHEN 'wip' THEN 'future_plans' ELSE 'wip' END"
        " WHERE id IN (1, 2, 3)",
        future_plans_added={ALICE: 2},
        wip_started={ALICE: 1},
    )
    # Alice gives song 4 to Bob: a move is no event. Song 3 moves to Bob and back to the plans
    # in one statement: the event is Bob's.
    app.run("UPDATE songs SET owner_id = %s WHERE id = 4", (BOB,))
    app.run(
        "UPDATE songs SET owner_id = %s, status = 'future_plans' WHERE id = 3",
        (BOB,),
        future_plans_added={BOB: 1},
    )
    app.run("DELETE FROM songs WHERE owner_id = %s", (ALICE,))
    app.run(
        "INSERT INTO songs (owner_id, title) SELECT %s, 'idea ' || g FROM generate_series(1, 2) AS g",
        (ALICE,),
        future_plans_added={ALICE: 2},
    )
    assert app.tallies()["future_plans_added"] == {ALICE: 10, BOB: 1}
    assert "long_term_planner" in app.badges(ALICE)
    # Every tier at once.
    app.run(
        "INSERT INTO songs (owner_id, title) SELECT %s, 'idea ' || g FROM generate_series(1, 250) AS g",
        (CAROL,),
        future_plans_added={CAROL: 250},
    )
    assert app.badges(CAROL) == {b for b, x in BADGES.items() if x["step"] == "future_plans_added"}


def test_wip(app):
    """+1 each time a song is started: added as WIP, or moved to WIP from the plans or back
    from released; moves between users, edits and deletes count nothing."""
    app.insert(
        "songs",
        [song(1, ALICE, "wip"), song(2, ALICE)],
        wip_started={ALICE: 1},
        future_plans_added={ALICE: 1},
    )
    assert app.badges(ALICE) == {"getting_started", "dreamer"}
    app.run("UPDATE songs SET status = 'wip' WHERE id = 2", wip_started={ALICE: 1})
    app.run("UPDATE songs SET status = 'wip', notes = 'bridge' WHERE id IN (1, 2)")  # already WIP
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 1",
        songs_released={ALICE: 1},
        wip_completed={ALICE: 1},
    )
    app.run("UPDATE songs SET status = 'wip' WHERE id = 1", wip_started={ALICE: 1})  # reopened
    app.run("UPDATE songs SET owner_id = %s WHERE id = 1", (BOB,))  # moved: no event
    app.run(
        "UPDATE songs SET owner_id = %s, status = 'wip' WHERE id = 1", (ALICE,)
    )  # back to Alice, still WIP: no event
    app.insert("songs", [song(i, ALICE, "wip") for i in range(3, 6)], wip_started={ALICE: 3})
    assert app.tallies()["wip_started"] == {ALICE: 6}
    assert "hard_worker" in app.badges(ALICE)
    app.run("DELETE FROM songs WHERE status = 'wip'")
    app.insert("songs", [song(i, BOB) for i in range(10, 20)], future_plans_added={BOB: 10})
    app.run("UPDATE songs SET status = 'wip' WHERE owner_id = %s", (BOB,), wip_started={BOB: 10})
    assert {"getting_started", "hard_worker", "dedicated_creator"} <= app.badges(BOB)
    app.run(
        "INSERT INTO songs (owner_id, title, status) SELECT %s, 'jam ' || g, 'wip' FROM generate_series(1, 250) AS g",
        (CAROL,),
        wip_started={CAROL: 250},
    )
    assert app.badges(CAROL) == {b for b, x in BADGES.items() if x["step"] == "wip_started"}


def test_completions(app):
    """+1 each time a WIP song is released (WIP -> released only: not a song released straight
    from the plans, nor one added as released); a song reopened and released again counts
    again; the event goes to the song's owner after the update."""
    app.insert(
        "songs",
        [
            song(1, ALICE, "wip"),
            song(2, ALICE, "wip"),
            song(3, ALICE, "wip"),
            song(4, ALICE),
            song(5, ALICE, "released"),
        ],
        wip_started={ALICE: 3},
        future_plans_added={ALICE: 1},
        songs_released={ALICE: 1},
    )
    assert "first_finish" not in app.badges(ALICE)
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 1",
        wip_completed={ALICE: 1},
        songs_released={ALICE: 1},
    )
    assert {"first_finish", "first_release"} <= app.badges(ALICE)
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 4", songs_released={ALICE: 1}
    )  # from the plans
    app.run(
        "UPDATE songs SET status = 'released' WHERE id IN (1, 2, 3, 5)",
        wip_completed={ALICE: 2},
        songs_released={ALICE: 2},
    )
    app.run("UPDATE songs SET status = 'wip' WHERE id = 1", wip_started={ALICE: 1})
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 1",
        wip_completed={ALICE: 1},
        songs_released={ALICE: 1},
    )
    # Released -> plans -> released: a release, not a completion.
    app.run("UPDATE songs SET status = 'future_plans' WHERE id = 2", future_plans_added={ALICE: 1})
    app.run("UPDATE songs SET status = 'released' WHERE id = 2", songs_released={ALICE: 1})
    # Bob takes over a WIP song and releases it in one statement: his completion.
    app.insert("songs", [song(6, ALICE, "wip")], wip_started={ALICE: 1})
    app.run(
        "UPDATE songs SET owner_id = %s, status = 'released' WHERE id = 6",
        (BOB,),
        wip_completed={BOB: 1},
        songs_released={BOB: 1},
    )
    app.run("UPDATE songs SET owner_id = %s WHERE id = 1", (BOB,))  # a released song moves: nothing
    app.run("DELETE FROM songs WHERE status = 'released'")
    assert app.tallies()["wip_completed"] == {ALICE: 4, BOB: 1}
    # Two WIP songs and a planned one released by one statement.
    app.insert(
        "songs",
        [song(7, ALICE, "wip"), song(8, ALICE, "wip"), song(9, ALICE)],
        wip_started={ALICE: 2},
        future_plans_added={ALICE: 1},
    )
    app.run(
        "UPDATE songs SET status = 'released' WHERE id IN (7, 8, 9)",
        wip_completed={ALICE: 2},
        songs_released={ALICE: 3},
    )
    assert "finisher" in app.badges(ALICE)
    app.run(
        "INSERT INTO songs (owner_id, title, status) SELECT %s, 'jam ' || g, 'wip' FROM generate_series(1, 250) AS g",
        (CAROL,),
        wip_started={CAROL: 250},
    )
    app.run(
        "UPDATE songs SET status = 'released' WHERE owner_id = %s",
        (CAROL,),
        wip_completed={CAROL: 250},
        songs_released={CAROL: 250},
    )
    assert {b for b, x in BADGES.items() if x["step"] == "wip_completed"} <= app.badges(CAROL)


def test_released(app):
    """+1 each time a song becomes released: added as released, or released from the plans or
    from WIP; re-releasing counts again; moves, edits and deletes count nothing."""
    app.insert(
        "songs", [song(1, ALICE, "released", artist="Abba", year=1976)], songs_released={ALICE: 1}
    )
    assert {"first_release"} <= app.badges(ALICE)
    app.insert(
        "songs",
        [song(2, ALICE), song(3, ALICE, "wip")],
        future_plans_added={ALICE: 1},
        wip_started={ALICE: 1},
    )
    app.run(
        "UPDATE songs SET status = 'released' WHERE id IN (1, 2, 3)",
        songs_released={ALICE: 2},
        wip_completed={ALICE: 1},
    )
    app.run("UPDATE songs SET released_at = now(), artist = 'ABBA' WHERE id = 1")
    app.run("UPDATE songs SET owner_id = %s WHERE id = 2", (BOB,))
    app.run("UPDATE songs SET status = 'wip' WHERE id = 2", wip_started={BOB: 1})
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 2",
        songs_released={BOB: 1},
        wip_completed={BOB: 1},
    )
    app.run("DELETE FROM songs WHERE id IN (1, 3)")
    app.insert(
        "songs", [song(i, ALICE, "released") for i in range(10, 12)], songs_released={ALICE: 2}
    )
    assert app.tallies()["songs_released"] == {ALICE: 5, BOB: 1}
    assert "rising_star" in app.badges(ALICE)
    app.run(
        "INSERT INTO songs (owner_id, title, status) SELECT %s, 'hit ' || g, 'released' FROM generate_series(1, 250) AS g",
        (CAROL,),
        songs_released={CAROL: 250},
    )
    assert app.badges(CAROL) == {b for b, x in BADGES.items() if x["step"] == "songs_released"}


def test_packs(app):
    """+1 per pack created; renaming, giving a pack to another user and deleting it count
    nothing."""
    app.insert("packs", [{"id": 1, "owner_id": ALICE, "name": "Setlist"}], packs_created={ALICE: 1})
    assert app.badges(ALICE) == {"pack_starter"}
    app.insert(
        "packs",
        [{"id": i, "owner_id": ALICE, "name": f"Pack {i}"} for i in (2, 3)],
        packs_created={ALICE: 2},
    )
    assert app.badges(ALICE) == {"pack_starter", "pack_creator"}
    app.run("UPDATE packs SET name = 'Encore', description = 'the last three' WHERE id = 1")
    app.run("UPDATE packs SET owner_id = %s WHERE id = 3", (BOB,))
    app.insert("songs", [song(1, ALICE, pack_id=2)], future_plans_added={ALICE: 1})
    app.run("DELETE FROM packs WHERE id = 2")  # its song stays, outside any pack
    assert app.value("SELECT pack_id FROM songs WHERE id = 1") is None
    app.insert(
        "packs",
        [{"id": i, "owner_id": ALICE, "name": f"Pack {i}"} for i in (4, 5)],
        packs_created={ALICE: 2},
    )
    assert app.badges(ALICE, "packs_created") == {"pack_starter", "pack_creator", "pack_master"}
    assert app.badges(BOB) == set()
    app.run(
        "INSERT INTO packs (owner_id, name) SELECT %s, 'Pack ' || g FROM generate_series(1, 20) AS g",
        (CAROL,),
        packs_created={CAROL: 20},
    )
    assert app.badges(CAROL) == {b for b, x in BADGES.items() if x["step"] == "packs_created"}


def collab(id, song_id, user, added_by, **fields):
    return {"id": id, "song_id": song_id, "user_id": user, "added_by": added_by, **fields}


def test_collaborations(app):
    """For the song's owner: +1 (collaborators_added) each time the owner adds someone else to
    one of their songs; and the gauge `collaborations`, the collaborators the owner added to the
    songs they own now (a song given away takes its collaborations along)."""
    app.insert(
        "songs",
        [song(1, ALICE), song(2, ALICE), song(3, ALICE), song(4, BOB)],
        future_plans_added={ALICE: 3, BOB: 1},
    )
    app.insert(
        "collaborations",
        [collab(1, 1, BOB, ALICE)],
        collaborators_added={ALICE: 1},
        added_as_collaborator={BOB: 1},
    )
    assert app.badges(ALICE, "collaborators_added", "collaborations") == {"team_player"}
    app.insert(
        "collaborations",
        [collab(2, 1, CAROL, ALICE), collab(3, 1, DAVE, ALICE), collab(4, 2, BOB, ALICE)],
        collaborators_added={ALICE: 3},
        added_as_collaborator={CAROL: 1, DAVE: 1, BOB: 1},
    )
    assert app.tallies()["collaborations"] == {ALICE: 4}
    assert app.badges(ALICE, "collaborators_added", "collaborations") == {
        "team_player",
        "collaborator",
    }
    # Alice on her own song, and Erin added by Bob, who does not own the song: no collaborator
    # added by an owner (Erin was added to someone else's song though: Social).
    app.insert("collaborations", [collab(5, 3, ALICE, ALICE)])
    app.insert("collaborations", [collab(6, 1, ERIN, BOB)], added_as_collaborator={ERIN: 1})
    app.run("UPDATE collaborations SET role = 'viewer' WHERE id = 2")
    # Alice replaces Bob by Dave on song 2: a collaborator added.
    app.run(
        "UPDATE collaborations SET user_id = %s WHERE id = 4",
        (DAVE,),
        collaborators_added={ALICE: 1},
        added_as_collaborator={DAVE: 1},
    )
    app.run("DELETE FROM collaborations WHERE id = 2")
    assert app.tallies()["collaborations"] == {ALICE: 3}
    # Alice gives song 1 to Bob: her collaborations on it leave her gauge; Erin, whom Bob
    # added, now counts for Bob, who owns the song (Bob himself, now the owner, does not).
    app.run("UPDATE songs SET owner_id = %s WHERE id = 1", (BOB,))
    assert app.tallies()["collaborations"] == {ALICE: 1, BOB: 1}
    app.insert(
        "collaborations",
        [collab(7, 1, CAROL, BOB)],
        collaborators_added={BOB: 1},
        added_as_collaborator={CAROL: 1},
    )
    app.run("DELETE FROM songs WHERE id = 2")  # its collaborations go with it
    assert app.tallies()["collaborations"] == {BOB: 2}
    # Alice adds the four others to seven new songs in one statement.
    app.insert("songs", [song(i, ALICE) for i in range(10, 17)], future_plans_added={ALICE: 7})
    app.run(
        "INSERT INTO collaborations (song_id, user_id, added_by)"
        " SELECT s.id, u, s.owner_id FROM songs AS s, unnest(%s::uuid[]) AS u WHERE s.id BETWEEN 10 AND 16",
        ([BOB, CAROL, DAVE, ERIN],),
        collaborators_added={ALICE: 28},
        added_as_collaborator={BOB: 7, CAROL: 7, DAVE: 7, ERIN: 7},
    )
    assert app.badges(ALICE, "collaborators_added", "collaborations") == {
        "team_player",
        "collaborator",
        "social_butterfly",
        "community_leader",
    }
    # Dave deletes his account: his collaborations go (the database cascades them).
    app.run("DELETE FROM users WHERE id = %s", (DAVE,))
    assert app.tallies()["collaborations"] == {ALICE: 21, BOB: 2}
    # Alice gives the seven songs to Erin, who collaborated on them.
    app.run("UPDATE songs SET owner_id = %s WHERE id BETWEEN 10 AND 16", (ERIN,))
    assert app.tallies()["collaborations"] == {BOB: 2}
    assert app.badges(BOB, "collaborators_added", "collaborations") == {"team_player"}


def test_social(app):
    """For the collaborator: +1 each time they are added to a song they do not own (by its
    owner or by anyone else); being added to one's own song counts nothing; removed and added
    again counts again."""
    app.insert(
        "songs",
        [song(1, ALICE), song(2, ALICE), song(3, BOB), song(4, CAROL)],
        future_plans_added={ALICE: 2, BOB: 1, CAROL: 1},
    )
    app.insert(
        "collaborations",
        [collab(1, 1, BOB, ALICE)],
        added_as_collaborator={BOB: 1},
        collaborators_added={ALICE: 1},
    )
    assert app.badges(BOB) == {"collaborative_spirit", "dreamer"}
    app.insert(
        "collaborations",
        [collab(2, 4, BOB, CAROL), collab(3, 3, BOB, BOB)],  # Carol's song; Bob's own song
        added_as_collaborator={BOB: 1},
        collaborators_added={CAROL: 1},
    )
    # Joined through an invitation link: nobody added him, he is still on someone else's song.
    app.insert("collaborations", [collab(4, 2, BOB, None)], added_as_collaborator={BOB: 1})
    app.run("DELETE FROM collaborations WHERE id = 1")
    app.insert(
        "collaborations",
        [collab(5, 1, BOB, ALICE)],
        added_as_collaborator={BOB: 1},
        collaborators_added={ALICE: 1},
    )
    # Bob's place on song 2 goes to Dave.
    app.run(
        "UPDATE collaborations SET user_id = %s WHERE id = 4",
        (DAVE,),
        added_as_collaborator={DAVE: 1},
    )
    # Carol gives song 4 to Bob, who collaborated on it: counted events stay.
    app.run("UPDATE songs SET owner_id = %s WHERE id = 4", (BOB,))
    app.run("UPDATE collaborations SET role = 'viewer' WHERE id = 2")
    assert app.tallies()["added_as_collaborator"] == {BOB: 4, DAVE: 1}
    # Erin adds Bob to ten of her songs in one statement, then to eleven more.
    app.insert("songs", [song(i, ERIN) for i in range(10, 31)], future_plans_added={ERIN: 21})
    add_bob = (
        "INSERT INTO collaborations (song_id, user_id, added_by)"
        " SELECT id, %s, owner_id FROM songs WHERE id BETWEEN %s AND %s"
    )
    app.run(add_bob, (BOB, 10, 19), added_as_collaborator={BOB: 10}, collaborators_added={ERIN: 10})
    assert app.badges(BOB, "added_as_collaborator") == {
        "collaborative_spirit",
        "popular_collaborator",
        "sought_after",
    }
    app.run(add_bob, (BOB, 20, 30), added_as_collaborator={BOB: 11}, collaborators_added={ERIN: 11})
    app.run("DELETE FROM songs WHERE owner_id = %s", (ERIN,))
    assert app.tallies()["added_as_collaborator"] == {BOB: 25, DAVE: 1}
    assert app.badges(BOB, "added_as_collaborator") == {
        b for b, x in BADGES.items() if x["step"] == "added_as_collaborator"
    }
    assert app.badges(DAVE) == {"collaborative_spirit"}


def test_spotify(app):
    """+1 per import that completes (added as completed, or pending/failed -> completed), and
    per playlist import that completes; pending and failed imports, later edits, moves and
    deletes count nothing."""

    def imports(ids, user, kind="playlist", status="pending"):
        return [
            {"id": i, "user_id": user, "kind": kind, "spotify_id": f"sp{i}", "status": status}
            for i in ids
        ]

    app.insert("spotify_imports", imports([1], ALICE))
    app.run(
        "UPDATE spotify_imports SET status = 'completed', songs_imported = 12, completed_at = now() WHERE id = 1",
        spotify_imports_completed={ALICE: 1},
        spotify_playlists_imported={ALICE: 1},
    )
    assert app.badges(ALICE) == {"spotify_explorer"}
    app.run("UPDATE spotify_imports SET songs_imported = 13 WHERE id = 1")
    app.insert(
        "spotify_imports",
        imports([2], ALICE, "album", "completed"),
        spotify_imports_completed={ALICE: 1},
    )
    app.insert("spotify_imports", imports([3], ALICE))
    app.run("UPDATE spotify_imports SET status = 'failed' WHERE id = 3")
    app.run(
        "UPDATE spotify_imports SET status = 'completed' WHERE id = 3",  # retried
        spotify_imports_completed={ALICE: 1},
        spotify_playlists_imported={ALICE: 1},
    )
    app.insert(
        "spotify_imports",
        imports([4, 5, 6], ALICE, status="completed") + imports([7], ALICE, "track", "failed"),
        spotify_imports_completed={ALICE: 3},
        spotify_playlists_imported={ALICE: 3},
    )
    assert app.badges(ALICE) == {"spotify_explorer", "playlist_master"}
    app.run("UPDATE spotify_imports SET user_id = %s WHERE id = 6", (BOB,))
    app.run("DELETE FROM spotify_imports WHERE user_id = %s", (ALICE,))
    assert app.tallies()["spotify_playlists_imported"] == {ALICE: 5}
    app.insert("spotify_imports", imports(range(10, 20), BOB))
    app.run(
        "UPDATE spotify_imports SET status = 'completed' WHERE user_id = %s",
        (BOB,),
        spotify_imports_completed={BOB: 10},  # import 6 was completed already
        spotify_playlists_imported={BOB: 10},
    )
    assert app.badges(BOB) == {"spotify_explorer", "playlist_master", "spotify_power_user"}


def test_community(app):
    """+1 per feature request submitted and per bug reported; status changes, edits, moves,
    deletes, anonymous posts and a deleted account count nothing."""
    app.insert(
        "feature_requests",
        [{"id": 1, "user_id": ALICE, "title": "Dark mode"}],
        feature_requests_submitted={ALICE: 1},
    )
    assert app.badges(ALICE) == {"idea_generator"}
    app.insert(
        "feature_requests",
        [{"id": i, "user_id": ALICE, "title": f"Idea {i}"} for i in range(2, 6)],
        feature_requests_submitted={ALICE: 4},
    )
    assert app.badges(ALICE) == {"idea_generator", "innovator"}
    app.run("UPDATE feature_requests SET status = 'planned', title = 'Dark mode!' WHERE id = 1")
    app.insert("feature_requests", [{"id": 6, "user_id": None, "title": "Anonymous"}])
    app.run("UPDATE feature_requests SET user_id = %s WHERE id = 2", (BOB,))  # merged into Bob's
    app.run("DELETE FROM feature_requests WHERE id IN (3, 6)")
    app.run(
        "INSERT INTO feature_requests (user_id, title) SELECT %s, 'Wish ' || g FROM generate_series(1, 10) AS g",
        (BOB,),
        feature_requests_submitted={BOB: 10},
    )
    assert app.badges(BOB) == {"idea_generator", "innovator", "community_voice"}
    app.insert(
        "bug_reports",
        [{"id": 1, "user_id": CAROL, "title": "Crash on save", "severity": "high"}],
        bugs_reported={CAROL: 1},
    )
    assert app.badges(CAROL) == {"bug_hunter"}
    app.run("UPDATE bug_reports SET status = 'confirmed' WHERE id = 1")
    app.run("UPDATE bug_reports SET status = 'fixed' WHERE id = 1")
    app.run(
        "INSERT INTO bug_reports (user_id, title) SELECT %s, 'Bug ' || g FROM generate_series(1, 4) AS g",
        (CAROL,),
        bugs_reported={CAROL: 4},
    )
    assert app.badges(CAROL) == {"bug_hunter", "quality_guardian"}
    # Carol deletes her account: her reports stay, anonymous (user_id set to NULL).
    app.run("DELETE FROM users WHERE id = %s", (CAROL,))
    assert app.value("SELECT count(*) FROM bug_reports WHERE user_id IS NULL") == 5
    assert app.tallies()["bugs_reported"] == {CAROL: 5}


def test_song_completion(app):
    """The gauge of the owner's fully authored songs (lyrics, chords, key, notes not empty and
    a tempo): follows every edit, move and delete; badges stay once earned."""
    app.insert(
        "songs",
        [song(1, ALICE, **FULL), song(2, ALICE, lyrics="la")],
        future_plans_added={ALICE: 2},
    )
    assert app.tallies()["fully_authored_songs"] == {ALICE: 1}
    assert app.badges(ALICE, "fully_authored_songs") == {"perfectionist"}
    for field, value in [("chords", "Am"), ("key", "A minor"), ("notes", "slow"), ("tempo", 90)]:
        app.run(f"UPDATE songs SET {field} = %s WHERE id = 2", (value,))
    assert app.tallies()["fully_authored_songs"] == {ALICE: 2}
    app.run("UPDATE songs SET lyrics = '' WHERE id = 1")  # an empty field is not authored
    app.run("UPDATE songs SET lyrics = NULL WHERE id = 2")
    assert app.tallies()["fully_authored_songs"] == {}
    app.run("UPDATE songs SET lyrics = 'back' WHERE id IN (1, 2)")
    app.run("UPDATE songs SET owner_id = %s WHERE id = 1", (BOB,))
    assert app.tallies()["fully_authored_songs"] == {ALICE: 1, BOB: 1}
    app.insert(
        "songs", [song(i, ALICE, "wip", **FULL) for i in range(3, 7)], wip_started={ALICE: 4}
    )
    assert app.badges(ALICE, "fully_authored_songs") == {"perfectionist", "multi_talented"}
    app.run("DELETE FROM songs WHERE id IN (3, 4)")
    app.run("UPDATE songs SET owner_id = %s WHERE owner_id = %s", (BOB, ALICE))
    assert app.tallies()["fully_authored_songs"] == {BOB: 4}
    # Carol fills in 25 songs in one statement, then takes the tempo off ten of them.
    app.run(
        "INSERT INTO songs (id, owner_id, title) SELECT g, %s, 'draft' FROM generate_series(100, 124) AS g",
        (CAROL,),
        future_plans_added={CAROL: 25},
    )
    app.run(
        "UPDATE songs SET lyrics = 'l', chords = 'c', key = 'D', notes = 'n', tempo = 100 WHERE owner_id = %s",
        (CAROL,),
    )
    app.run("UPDATE songs SET tempo = NULL WHERE id BETWEEN 100 AND 109")
    assert app.tallies()["fully_authored_songs"] == {BOB: 4, CAROL: 15}
    assert app.badges(CAROL, "fully_authored_songs") == {
        b for b, x in BADGES.items() if x["step"] == "fully_authored_songs"
    }
    assert app.badges(BOB, "fully_authored_songs") == {"perfectionist"}


def test_pack_completion(app):
    """The gauge of the owner's complete packs: packs holding at least one of the owner's
    songs, all fully authored. Follows writes to songs (authoring, moves between packs and
    users, deletes) as well as to packs (moves, deletes)."""
    app.insert(
        "packs",
        [{"id": i, "owner_id": ALICE, "name": f"Pack {i}"} for i in (1, 2, 3)],
        packs_created={ALICE: 3},
    )
    app.insert(
        "songs",
        [song(1, ALICE, pack_id=1, **FULL), song(2, ALICE, pack_id=1, lyrics="la")],
        future_plans_added={ALICE: 2},
    )
    assert app.tallies()["completed_packs"] == {}
    app.run("UPDATE songs SET chords = 'C', key = 'C', notes = 'n', tempo = 100 WHERE id = 2")
    assert app.badges(ALICE, "completed_packs") == {"pack_perfectionist"}
    app.insert("songs", [song(3, ALICE, pack_id=1)], future_plans_added={ALICE: 1})
    assert app.tallies()["completed_packs"] == {}
    app.run("UPDATE songs SET pack_id = 2 WHERE id = 3")  # pack 1 complete again, 2 is not
    app.run(
        "UPDATE songs SET lyrics = 'l', chords = 'c', key = 'E', notes = 'n', tempo = 80 WHERE id = 3"
    )
    assert app.tallies()["completed_packs"] == {ALICE: 2}
    # Songs of others in Alice's pack 3 count neither way: Bob's authored song does not make
    # it complete for her, his unfinished one does not keep it from completing.
    app.insert("songs", [song(4, BOB, pack_id=3, **FULL)], future_plans_added={BOB: 1})
    assert app.tallies()["completed_packs"] == {ALICE: 2}
    app.run("UPDATE songs SET tempo = NULL WHERE id = 4")
    app.insert("songs", [song(5, ALICE, pack_id=3, **FULL)], future_plans_added={ALICE: 1})
    assert app.badges(ALICE, "completed_packs") == {"pack_perfectionist", "pack_completion_master"}
    app.run("UPDATE songs SET notes = NULL WHERE id = 5")
    app.run("DELETE FROM songs WHERE id = 3")  # pack 2 is empty now
    assert app.tallies()["completed_packs"] == {ALICE: 1}
    app.run("DELETE FROM packs WHERE id = 1")  # songs 1 and 2 leave it
    assert app.tallies()["completed_packs"] == {}
    app.run("UPDATE songs SET notes = 'n' WHERE id = 5")
    assert app.tallies()["completed_packs"] == {ALICE: 1}
    # Alice gives song 5, then pack 3, to Bob: the pack is his, with his unfinished song 4.
    app.run("UPDATE songs SET owner_id = %s WHERE id = 5", (BOB,))
    assert app.tallies()["completed_packs"] == {}
    app.run("UPDATE packs SET owner_id = %s WHERE id = 3", (BOB,))
    assert app.tallies()["completed_packs"] == {}
    app.run("UPDATE songs SET tempo = 140 WHERE id = 4")
    assert app.tallies()["completed_packs"] == {BOB: 1}
    # A song moves from Bob's complete pack into Alice's empty pack 2, changing owner too.
    app.run("UPDATE songs SET pack_id = 2, owner_id = %s WHERE id = 4", (ALICE,))
    assert app.tallies()["completed_packs"] == {ALICE: 1, BOB: 1}
    # Carol: five packs of two songs each, authored by one statement.
    app.run(
        "INSERT INTO packs (id, owner_id, name) SELECT g, %s, 'Pack ' || g FROM generate_series(10, 14) AS g",
        (CAROL,),
        packs_created={CAROL: 5},
    )
    app.run(
        "INSERT INTO songs (id, owner_id, title, pack_id) SELECT g, %s, 'draft', 10 + g %% 5 FROM generate_series(100, 109) AS g",
        (CAROL,),
        future_plans_added={CAROL: 10},
    )
    app.run(
        "UPDATE songs SET lyrics = 'l', chords = 'c', key = 'D', notes = 'n', tempo = 100 WHERE owner_id = %s",
        (CAROL,),
    )
    assert app.tallies()["completed_packs"] == {ALICE: 1, BOB: 1, CAROL: 5}
    assert app.badges(CAROL, "completed_packs") == {
        b for b, x in BADGES.items() if x["step"] == "completed_packs"
    }


def test_album_series(app):
    """+1 per album series created; and the gauge of the owner's complete series: series
    holding at least one of the owner's songs, all released. Follows releases, reopened songs,
    songs moved between series and users, and deletes."""
    app.insert(
        "album_series",
        [
            {"id": i, "owner_id": ALICE, "artist": "Abba", "album_name": f"Album {i}"}
            for i in (1, 2)
        ],
        album_series_created={ALICE: 2},
    )
    assert app.badges(ALICE) == {"series_starter"}
    app.insert(
        "songs",
        [song(i, ALICE, "wip", album_series_id=1) for i in (1, 2, 3)],
        wip_started={ALICE: 3},
    )
    app.run(
        "UPDATE songs SET status = 'released' WHERE id IN (1, 2)",
        songs_released={ALICE: 2},
        wip_completed={ALICE: 2},
    )
    assert app.tallies()["album_series_completed"] == {}
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 3",
        songs_released={ALICE: 1},
        wip_completed={ALICE: 1},
    )
    assert app.badges(ALICE, "album_series_completed") == {"series_master"}
    app.run("UPDATE songs SET status = 'wip' WHERE id = 2", wip_started={ALICE: 1})
    assert app.tallies()["album_series_completed"] == {}
    app.run("UPDATE songs SET album_series_id = 2 WHERE id = 2")  # series 1 complete again
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 2",
        songs_released={ALICE: 1},
        wip_completed={ALICE: 1},
    )
    assert app.tallies()["album_series_completed"] == {ALICE: 2}
    app.run("DELETE FROM album_series WHERE id = 1")  # songs 1 and 3 leave it
    assert app.tallies()["album_series_completed"] == {ALICE: 1}
    app.insert("songs", [song(4, ALICE, album_series_id=2)], future_plans_added={ALICE: 1})
    assert app.tallies()["album_series_completed"] == {}
    app.run("DELETE FROM songs WHERE id = 4")
    # Alice gives series 2, then its song, to Bob.
    app.run("UPDATE album_series SET owner_id = %s WHERE id = 2", (BOB,))
    assert app.tallies()["album_series_completed"] == {}
    app.run("UPDATE songs SET owner_id = %s WHERE id = 2", (BOB,))
    assert app.tallies()["album_series_completed"] == {BOB: 1}
    assert app.badges(BOB) == {"series_master"}
    # Carol: five series of two released songs each.
    app.run(
        "INSERT INTO album_series (id, owner_id, artist, album_name) SELECT g, %s, 'Blur', 'Album ' || g FROM generate_series(10, 14) AS g",
        (CAROL,),
        album_series_created={CAROL: 5},
    )
    app.run(
        "INSERT INTO songs (id, owner_id, title, status, album_series_id) SELECT g, %s, 'hit', 'released', 10 + g %% 5 FROM generate_series(100, 109) AS g",
        (CAROL,),
        songs_released={CAROL: 10},
    )
    assert app.tallies()["album_series_completed"] == {BOB: 1, CAROL: 5}
    assert app.badges(CAROL, "album_series_created", "album_series_completed") == {
        "series_starter",
        "series_master",
        "series_collector",
        "series_legend",
    }


def test_artist_diversity(app):
    """The gauge of the distinct artists (case-insensitive) of the owner's released songs."""
    app.insert(
        "songs",
        [song(i, ALICE, "released", artist=a) for i, a in ((1, "Abba"), (2, "ABBA"), (3, "abba"))],
        songs_released={ALICE: 3},
    )
    assert app.tallies()["released_artists"] == {ALICE: 1}
    app.insert(
        "songs",
        [song(4, ALICE, "wip", artist="Blur"), song(5, ALICE, "wip", artist="Cher")],
        wip_started={ALICE: 2},
    )
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 4",
        songs_released={ALICE: 1},
        wip_completed={ALICE: 1},
    )
    app.insert("songs", [song(6, ALICE, "released")], songs_released={ALICE: 1})  # no artist
    app.insert(
        "songs",
        [
            song(i, ALICE, "released", artist=a)
            for i, a in ((7, "Dido"), (8, "Enya"), (9, "Fugees"))
        ],
        songs_released={ALICE: 3},
    )
    assert app.tallies()["released_artists"] == {ALICE: 5}
    assert app.badges(ALICE, "released_artists") == {"variety_seeker"}
    app.run("UPDATE songs SET artist = 'Abba' WHERE id = 8")  # Enya was a typo
    app.run("UPDATE songs SET owner_id = %s WHERE id = 7", (BOB,))
    app.run("UPDATE songs SET status = 'wip' WHERE id = 9", wip_started={ALICE: 1})
    assert app.tallies()["released_artists"] == {ALICE: 2, BOB: 1}
    app.run("DELETE FROM songs WHERE lower(artist) = 'abba'")
    assert app.tallies()["released_artists"] == {ALICE: 1, BOB: 1}
    app.run(
        "INSERT INTO songs (owner_id, title, status, artist) SELECT %s, 'hit', 'released', 'Artist ' || (g %% 100) FROM generate_series(1, 150) AS g",
        (CAROL,),
        songs_released={CAROL: 150},
    )
    assert app.tallies()["released_artists"][CAROL] == 100
    assert app.badges(CAROL, "released_artists") == {
        b for b, x in BADGES.items() if x["step"] == "released_artists"
    }


def test_year_diversity(app):
    """The gauge of the distinct years of the owner's released songs."""
    app.insert(
        "songs",
        [song(i, ALICE, "released", year=y) for i, y in ((1, 1999), (2, 1999), (3, 2000))]
        + [song(4, ALICE, "released")],
        songs_released={ALICE: 4},
    )
    assert app.tallies()["released_years"] == {ALICE: 2}
    app.run("UPDATE songs SET year = 2001 WHERE id = 2")
    app.insert(
        "songs",
        [song(i, ALICE, "wip", year=y) for i, y in ((5, 2002), (6, 2003), (7, 2004))],
        wip_started={ALICE: 3},
    )
    assert app.tallies()["released_years"] == {ALICE: 3}
    app.run(
        "UPDATE songs SET status = 'released' WHERE id IN (5, 6, 7)",
        songs_released={ALICE: 3},
        wip_completed={ALICE: 3},
    )
    assert app.badges(ALICE, "released_years") == {"time_traveler"}
    app.run("UPDATE songs SET year = NULL WHERE id = 1")
    app.run("UPDATE songs SET owner_id = %s WHERE id IN (5, 6)", (BOB,))
    app.run("DELETE FROM songs WHERE id = 7")
    assert app.tallies()["released_years"] == {ALICE: 2, BOB: 2}
    app.run(
        "INSERT INTO songs (owner_id, title, status, year) SELECT %s, 'oldie', 'released', 1900 + g FROM generate_series(1, 100) AS g",
        (CAROL,),
        songs_released={CAROL: 100},
    )
    assert app.badges(CAROL, "released_years") == {
        b for b, x in BADGES.items() if x["step"] == "released_years"
    }


def test_decade_diversity(app):
    """The gauge of the distinct decades (year / 10) of the owner's released songs."""
    app.insert(
        "songs",
        [song(1, ALICE, "released", year=1979), song(2, ALICE, "released", year=1980)],
        songs_released={ALICE: 2},
    )
    assert app.badges(ALICE, "released_decades") == {"decade_dabbler"}
    app.insert("songs", [song(3, ALICE, "released", year=1985)], songs_released={ALICE: 1})
    app.insert("songs", [song(4, ALICE, "wip", year=1999)], wip_started={ALICE: 1})
    assert app.tallies()["released_decades"] == {ALICE: 2}
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 4",
        songs_released={ALICE: 1},
        wip_completed={ALICE: 1},
    )
    assert app.badges(ALICE, "released_decades") == {"decade_dabbler", "multi_decade"}
    app.run("UPDATE songs SET year = 2005 WHERE id = 1")  # the seventies go, the 2000s come
    assert app.tallies()["released_decades"] == {ALICE: 3}
    app.insert(
        "songs",
        [song(5, ALICE, "released", year=1965), song(6, ALICE, "released", year=1955)],
        songs_released={ALICE: 2},
    )
    assert app.badges(ALICE, "released_decades") == {
        b for b, x in BADGES.items() if x["step"] == "released_decades"
    }
    app.run("UPDATE songs SET owner_id = %s WHERE id IN (5, 6)", (BOB,))
    app.run("UPDATE songs SET status = 'future_plans' WHERE id = 2", future_plans_added={ALICE: 1})
    app.run("DELETE FROM songs WHERE id = 3")
    assert app.tallies()["released_decades"] == {ALICE: 2, BOB: 2}


HISTORY = f"""
INSERT INTO packs (id, owner_id, name) VALUES (1, '{ALICE}', 'Live'), (2, '{ALICE}', 'Drafts'), (3, '{BOB}', 'Blur set');
INSERT INTO album_series (id, owner_id, artist, album_name) VALUES (1, '{ALICE}', 'Abba', 'Arrival'), (2, '{BOB}', 'Blur', 'Parklife');
-- Alice: 12 released songs (6 artists, 12 years, 5 decades; 1-6 fully authored, 1-3 in pack 1,
-- 7-9 in series 1), 6 future plans (13 in pack 2), 3 WIP.
INSERT INTO songs (id, owner_id, title, status, artist, year, lyrics, chords, key, notes, tempo, pack_id, album_series_id)
SELECT g, '{ALICE}', 'song ' || g,
       CASE WHEN g <= 12 THEN 'released' WHEN g <= 18 THEN 'future_plans' ELSE 'wip' END,
       'Artist ' || g % 6, 1960 + 4 * g,
       CASE WHEN g <= 6 THEN 'l' END, 'c', 'k', 'n', 100,
       CASE WHEN g <= 3 THEN 1 WHEN g = 13 THEN 2 END,
       CASE WHEN g BETWEEN 7 AND 9 THEN 1 END
  FROM generate_series(1, 21) AS g;
-- Bob: 5 released songs of Blur, fully authored, in pack 3; 24-26 in series 2.
INSERT INTO songs (id, owner_id, title, status, artist, year, lyrics, chords, key, notes, tempo, pack_id, album_series_id)
SELECT g, '{BOB}', 'song ' || g, 'released', 'Blur', 1994, 'l', 'c', 'k', 'n', 100, 3,
       CASE WHEN g >= 24 THEN 2 END
  FROM generate_series(22, 26) AS g;
-- Alice added Bob, Carol and Dave to songs 1 and 2; Bob added Alice to song 22; Alice added
-- Dave to Bob's song 23.
INSERT INTO collaborations (song_id, user_id, added_by)
SELECT s, u, '{ALICE}' FROM generate_series(1, 2) AS s, unnest(ARRAY['{BOB}', '{CAROL}', '{DAVE}']::uuid[]) AS u;
INSERT INTO collaborations (song_id, user_id, added_by) VALUES (22, '{ALICE}', '{BOB}'), (23, '{DAVE}', '{ALICE}');
INSERT INTO spotify_imports (user_id, kind, spotify_id, status)
SELECT '{ALICE}', 'playlist', 'pl' || g, CASE WHEN g <= 5 THEN 'completed' WHEN g = 6 THEN 'pending' ELSE 'failed' END
  FROM generate_series(1, 7) AS g;
INSERT INTO spotify_imports (user_id, kind, spotify_id, status) VALUES ('{BOB}', 'album', 'al1', 'completed');
INSERT INTO feature_requests (user_id, title) SELECT '{ALICE}', 'Idea ' || g FROM generate_series(1, 5) AS g;
INSERT INTO feature_requests (user_id, title) VALUES (NULL, 'Anonymous');
INSERT INTO bug_reports (user_id, title) VALUES ('{CAROL}', 'Crash'), ('{CAROL}', 'Typo');
-- Logins: Alice on 4 days in a row (and twice on one), Bob on 2 days apart.
INSERT INTO logins (user_id, logged_in_at) SELECT '{ALICE}', timestamptz '2025-06-01 09:00+00' + g * interval '1 day' FROM generate_series(0, 3) AS g;
INSERT INTO logins (user_id, logged_in_at) VALUES ('{ALICE}', '2025-06-02 21:00+00'), ('{BOB}', '2025-06-01 09:00+00'), ('{BOB}', '2025-06-03 09:00+00');
"""

# What adopting the rows counts for each counter: each qualifying row once, as if inserted now
# (a transition, WIP -> released, leaves no trace in the rows: nothing).
ADOPTED = {
    "future_plans_added": "SELECT owner_id, count(*) FROM songs WHERE status = 'future_plans' GROUP BY 1",
    "wip_started": "SELECT owner_id, count(*) FROM songs WHERE status = 'wip' GROUP BY 1",
    "songs_released": "SELECT owner_id, count(*) FROM songs WHERE status = 'released' GROUP BY 1",
    "wip_completed": "SELECT NULL::uuid, 0 WHERE false",
    "packs_created": "SELECT owner_id, count(*) FROM packs GROUP BY 1",
    "album_series_created": "SELECT owner_id, count(*) FROM album_series GROUP BY 1",
    "collaborators_added": """
        SELECT c.added_by, count(*) FROM collaborations AS c JOIN songs AS s ON s.id = c.song_id
         WHERE c.added_by = s.owner_id AND c.user_id <> c.added_by GROUP BY 1""",
    "added_as_collaborator": """
        SELECT c.user_id, count(*) FROM collaborations AS c JOIN songs AS s ON s.id = c.song_id
         WHERE c.user_id <> s.owner_id GROUP BY 1""",
    "spotify_imports_completed": "SELECT user_id, count(*) FROM spotify_imports WHERE status = 'completed' GROUP BY 1",
    "spotify_playlists_imported": "SELECT user_id, count(*) FROM spotify_imports WHERE status = 'completed' AND kind = 'playlist' GROUP BY 1",
    "feature_requests_submitted": "SELECT user_id, count(*) FROM feature_requests WHERE user_id IS NOT NULL GROUP BY 1",
    "bugs_reported": "SELECT user_id, count(*) FROM bug_reports WHERE user_id IS NOT NULL GROUP BY 1",
}


def test_login_streaks(app):
    """Engagement: consecutive login days in the user's calendar; two logins on a day are one;
    a late row fills its day; a delete takes it back (the badges stay); a user in Auckland
    whose late-evening logins are the next day there; 100 days in one import."""
    day = lambda n, hour=12: f"2026-03-{n:02d} {hour:02d}:00+00"  # noqa: E731
    app.insert("logins", [{"user_id": ALICE, "logged_in_at": day(n)} for n in (1, 2, 2, 3)])
    assert app.badges(ALICE) == {"early_bird"}
    app.insert("logins", [{"user_id": ALICE, "logged_in_at": day(n)} for n in (5, 6, 7)])
    assert app.tallies()["login_streak"][ALICE] == 3
    late = app.insert("logins", [{"user_id": ALICE, "logged_in_at": day(4, 23)}])  # a late sync
    assert app.tallies()["login_streak"][ALICE] == 7
    assert app.badges(ALICE) == {"early_bird", "dedicated"}
    app.run("DELETE FROM logins WHERE id = %s", (late[0],))
    assert app.tallies()["login_streak"][ALICE] == 3
    assert app.badges(ALICE) == {"early_bird", "dedicated"}
    # 22:00 UTC is 11:00 the next day in Auckland (UTC+13 in March).
    app.db.execute("SELECT achievements.set_time_zone('Pacific/Auckland', %s)", (DAVE,))
    app.insert(
        "logins",
        [{"user_id": DAVE, "logged_in_at": day(n, h)} for n, h in ((1, 22), (2, 22), (3, 2))],
    )
    assert app.tallies()["login_streak"][DAVE] == 2  # Auckland's 2 and 3 March (UTC: 1, 2, 3)
    app.run(
        "INSERT INTO logins (user_id, logged_in_at) SELECT %s, timestamptz '2025-01-01 08:00+00' + g * interval '1 day'"
        " FROM generate_series(0, 99) AS g",
        (CAROL,),
    )
    assert app.badges(CAROL, "login_streak") == {
        b for b, x in BADGES.items() if x["step"] == "login_streak"
    }
    assert app.value("SELECT longest FROM achievements.streaks(%s)", (CAROL,)) == 100


@pytest.mark.parametrize("backfill", [True, False], ids=["backfill", "counters from now on"])
def test_adopting_a_database_with_history(db, backfill):
    """tracking.sql run on a TrackFlow database that has rows: the gauges start from the rows,
    the counters count each qualifying row once (or, with backfill => false, nothing), and the
    badges those tallies reach are awarded silently. Counting goes on from there."""
    install(db)
    db.execute(HISTORY)
    apply_catalog(db)
    tracking = TRACKING
    if not backfill:
        tracking = "\n".join(
            line.replace(");", ", backfill => false);")
            if line.startswith("SELECT achievements.track(") and "mode =>" not in line
            else line
            for line in TRACKING.splitlines()
        )
        assert tracking.count("backfill => false") == len(COUNTERS)
    db.execute(tracking)
    app = TrackFlow(db)
    assert set(ADOPTED) == set(COUNTERS)
    for step, sql in ADOPTED.items():
        if backfill:
            app.events[step].update(dict(db.execute(sql).fetchall()))
    assert db.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 0
    app.silent = set(db.execute("SELECT user_id, badge FROM achievements.user_badges").fetchall())
    app.check()
    tallies = app.tallies()
    assert tallies["released_artists"] == {ALICE: 6, BOB: 1}
    assert tallies["released_decades"] == {ALICE: 5, BOB: 1}
    assert tallies["completed_packs"] == {ALICE: 1, BOB: 1}
    assert tallies["album_series_completed"] == {ALICE: 1, BOB: 1}
    assert tallies["collaborations"] == {ALICE: 6, BOB: 1}
    assert tallies["login_streak"] == {ALICE: 4, BOB: 1}
    if backfill:
        assert tallies["songs_released"] == {ALICE: 12, BOB: 5}
        assert tallies["wip_completed"] == {}
        assert {"first_release", "published_artist", "visionary", "playlist_master"} <= app.badges(
            ALICE
        )
    else:
        assert {step for step, per_user in tallies.items() if per_user} == set(RECOUNTS)
    assert {"variety_seeker", "time_traveler", "decade_master", "pack_perfectionist"} <= app.badges(
        ALICE
    )
    # From now on, as for any write; new badges are announced.
    app.run(
        "UPDATE songs SET status = 'released' WHERE id = 19",
        wip_completed={ALICE: 1},
        songs_released={ALICE: 1},
    )
    assert "first_finish" in app.badges(ALICE)
    app.run("UPDATE songs SET lyrics = 'l' WHERE id BETWEEN 7 AND 12")
    assert app.tallies()["fully_authored_songs"][ALICE] == 12
    app.run(
        "INSERT INTO bug_reports (user_id, title) SELECT %s, 'Bug ' || g FROM generate_series(1, 3) AS g",
        (CAROL,),
        bugs_reported={CAROL: 3},
    )
    assert ("quality_guardian" in app.badges(CAROL)) == backfill
    app.run("DELETE FROM songs WHERE owner_id = %s", (BOB,))
    assert app.tallies()["completed_packs"] == {ALICE: 1}


def test_deleting_an_account(app):
    """Alice deletes her account: the database cascades it through every table (her songs,
    packs, series and collaborations go; her feature requests stay, anonymous). Counters keep
    what was counted; every gauge follows, hers and Bob's."""
    app.insert(
        "packs",
        [{"id": 1, "owner_id": ALICE, "name": "A"}, {"id": 2, "owner_id": BOB, "name": "B"}],
        packs_created={ALICE: 1, BOB: 1},
    )
    app.insert(
        "album_series",
        [
            {"id": 1, "owner_id": ALICE, "artist": "Abba", "album_name": "Arrival"},
            {"id": 2, "owner_id": BOB, "artist": "Blur", "album_name": "Parklife"},
        ],
        album_series_created={ALICE: 1, BOB: 1},
    )
    app.insert(
        "songs",
        [
            song(
                1, ALICE, "released", artist="Abba", year=1976, pack_id=1, album_series_id=1, **FULL
            ),
            # Alice's unfinished song in Bob's pack and series: only his own songs count there.
            song(2, ALICE, "wip", artist="Abba", year=1977, pack_id=2, album_series_id=2),
            song(
                3, BOB, "released", artist="Blur", year=1994, pack_id=2, album_series_id=2, **FULL
            ),
        ],
        songs_released={ALICE: 1, BOB: 1},
        wip_started={ALICE: 1},
    )
    app.insert(
        "collaborations",
        [collab(1, 1, BOB, ALICE), collab(2, 3, ALICE, BOB), collab(3, 3, CAROL, ALICE)],
        collaborators_added={ALICE: 1, BOB: 1},
        added_as_collaborator={ALICE: 1, BOB: 1, CAROL: 1},
    )
    app.insert(
        "spotify_imports",
        [{"user_id": ALICE, "kind": "playlist", "spotify_id": "x", "status": "completed"}],
        spotify_imports_completed={ALICE: 1},
        spotify_playlists_imported={ALICE: 1},
    )
    app.insert(
        "feature_requests",
        [{"id": 1, "user_id": ALICE, "title": "Dark mode"}],
        feature_requests_submitted={ALICE: 1},
    )
    before = app.tallies()
    assert {
        step: before[step]
        for step in ("completed_packs", "album_series_completed", "collaborations")
    } == {
        "completed_packs": {ALICE: 1, BOB: 1},
        "album_series_completed": {ALICE: 1, BOB: 1},
        "collaborations": {ALICE: 1, BOB: 1},
    }
    app.run("DELETE FROM users WHERE id = %s", (ALICE,))
    after = app.tallies()
    assert {step: after[step] for step in RECOUNTS} == {
        "fully_authored_songs": {BOB: 1},
        "completed_packs": {BOB: 1},
        "album_series_completed": {BOB: 1},
        "collaborations": {},
        "login_streak": {},
        "released_artists": {BOB: 1},
        "released_years": {BOB: 1},
        "released_decades": {BOB: 1},
    }
    assert {step: after[step] for step in COUNTERS} == {step: before[step] for step in COUNTERS}
    assert app.value("SELECT user_id FROM feature_requests WHERE id = 1") is None


# The same steps wherever the application's data is shaped otherwise: where a step's user is
# not in a column of the rows that change. depends_on recounts the users named by a column of
# the changed rows of the table depended on (depends_on_user_column); nothing lets a step name
# the users a change reaches through a join. tracking.sql avoids these shapes (see the
# comments of its Pack completion, Album series and Collaborations steps).
def test_a_pack_of_songs_of_several_owners(app):
    """Pack completion counting every song of the pack, whoever owns it (a collaborator may own
    songs in someone else's pack): Bob authoring his song in Alice's pack completes her pack.
    The users a change of songs reaches are the pack's owners: an expression given as
    depends_on_user_column, read through the join."""
    app.db.execute(
        "SELECT achievements.track('packs', 'packs_complete_any_owner', mode => 'toggle',"
        " user_column => 'owner_id', depends_on => 'songs',"
        " depends_on_user_column => '(SELECT p.owner_id FROM public.packs AS p WHERE p.id = songs.pack_id)',"
        " condition => $$EXISTS (SELECT 1 FROM public.songs AS s WHERE s.pack_id = packs.id)"
        " AND NOT EXISTS (SELECT 1 FROM public.songs AS s WHERE s.pack_id = packs.id"
        " AND (s.lyrics <> '' AND s.chords <> '' AND s.key <> '' AND s.notes <> '' AND s.tempo > 0) IS NOT TRUE)$$)"
    )
    app.insert("packs", [{"id": 1, "owner_id": ALICE, "name": "Duets"}], packs_created={ALICE: 1})
    app.insert(
        "songs",
        [song(1, ALICE, pack_id=1, **FULL), song(2, BOB, pack_id=1, lyrics="la")],
        future_plans_added={ALICE: 1, BOB: 1},
    )
    tally = "SELECT count FROM achievements.user_achievements WHERE user_id = %s AND name = 'packs_complete_any_owner'"
    assert app.value(tally, (ALICE,)) == 0
    app.run("UPDATE songs SET chords = 'C', key = 'C', notes = 'n', tempo = 90 WHERE id = 2")
    recount = app.value(
        f"SELECT count(*) FROM packs AS p WHERE p.owner_id = %s AND EXISTS (SELECT 1 FROM songs AS s WHERE s.pack_id = p.id)"
        f" AND NOT EXISTS (SELECT 1 FROM songs AS s WHERE s.pack_id = p.id AND NOT {AUTHORED})",
        (ALICE,),
    )
    assert recount == 1
    assert app.value(tally, (ALICE,)) == recount


def test_collaborations_on_my_songs_added_by_anyone(app):
    """ "Have N collaborations" as the collaborators on the songs a user owns, whoever invited
    them: a gauge on songs (sum of each song's collaborators) that depends on collaborations.
    The collaborations rows do not hold the song's owner: depends_on_user_column gives it as an
    expression, so when Bob, a collaborator, invites Carol to Alice's song, Alice is
    recounted."""
    app.db.execute(
        "SELECT achievements.track('songs', 'collaborators_on_my_songs', mode => 'sum',"
        " user_column => 'owner_id', depends_on => 'collaborations',"
        " depends_on_user_column => '(SELECT s.owner_id FROM public.songs AS s WHERE s.id = collaborations.song_id)',"
        " value => $$(SELECT count(*) FROM public.collaborations AS c WHERE c.song_id = songs.id AND c.user_id <> songs.owner_id)$$)"
    )
    app.insert("songs", [song(1, ALICE)], future_plans_added={ALICE: 1})
    app.insert(
        "collaborations",
        [collab(1, 1, BOB, ALICE)],
        collaborators_added={ALICE: 1},
        added_as_collaborator={BOB: 1},
    )
    tally = "SELECT count FROM achievements.user_achievements WHERE user_id = %s AND name = 'collaborators_on_my_songs'"
    assert app.value(tally, (ALICE,)) == 1
    app.insert("collaborations", [collab(2, 1, CAROL, BOB)], added_as_collaborator={CAROL: 1})
    recount = app.value(
        "SELECT count(*) FROM collaborations AS c JOIN songs AS s ON s.id = c.song_id"
        " WHERE s.owner_id = %s AND c.user_id <> s.owner_id",
        (ALICE,),
    )
    assert recount == 2
    assert app.value(tally, (ALICE,)) == recount


def test_tracking_sql_runs_without_notices(db):
    install(db)
    notices = []
    db.add_notice_handler(lambda diagnostic: notices.append(diagnostic.message_primary))
    db.execute(TRACKING)
    assert notices == []


def test_the_example_catalog_tracks_what_tracking_sql_does(db):
    """The [steps] of examples/trackflow/catalog.toml are tracking.sql's track() calls: applied
    to the same schema, both track the same steps with the same arguments."""

    def tracked():
        rows = db.execute("SELECT * FROM achievements.tracked() ORDER BY step").fetchall()
        return [
            tuple(" ".join(v.split()) if isinstance(v, str) else v for v in r[:-1]) for r in rows
        ]

    install(db)
    db.execute(
        "SELECT * FROM achievements.apply_catalog(%s::jsonb)",
        (json.dumps({"steps": EXAMPLE_CATALOG["steps"]}),),
    )
    from_catalog = tracked()
    for step, table in db.execute("SELECT step, tbl::text FROM achievements.tracked()").fetchall():
        db.execute("SELECT achievements.untrack(%s::regclass, %s)", (table, step))
    db.execute(TRACKING)
    assert tracked() == from_catalog
    assert len(from_catalog) == len(STEPS)


# Issue 16: badges about badges, points by rarity, levels from points, the badge leaderboard and
# a step's leaderboard of the week, from the rest of examples/trackflow/catalog.toml.

REWARDS = {
    "rarity_points": EXAMPLE_CATALOG["rarity_points"],
    "notifications": EXAMPLE_CATALOG["notifications"],
    "leaderboards": EXAMPLE_CATALOG["leaderboards"],
    "levels": EXAMPLE_CATALOG["levels"],
    "badges": {c: b for c, b in EXAMPLE_CATALOG["badges"].items() if b["category"] == "bonus"},
}
META = REWARDS["badges"]
LEVELS = REWARDS["levels"]


class RewardedTrackFlow(TrackFlow):
    """TrackFlow with the rewards: every user also holds the badges about badges that the
    catalog's badges they hold earn (none is revocable, nor are these: the high water mark
    counts), and has reached every level their points reach."""

    def expected_badges(self, earned):
        held = {}
        for user, code in earned:
            held.setdefault(user, set()).add(code)
        result = set(earned)
        for user, codes in held.items():
            points = sum(BADGES[c]["points"] for c in codes)
            for code, meta in META.items():
                pool = {
                    c
                    for c, b in BADGES.items()
                    if "badge_category" not in meta or b["category"] == meta["badge_category"]
                }
                if (
                    (meta.get("all_badges") and pool <= codes)
                    or len(pool & codes) >= meta.get("min_badges", 10**9)
                    or points >= meta.get("min_points", 10**9)
                ):
                    result.add((user, code))
        return result

    def worth(self, code):
        return (
            BADGES[code]["points"]
            if code in BADGES
            else REWARDS["rarity_points"][META[code]["rarity"]]
        )

    def check(self):
        super().check()
        expected = {
            (user, level)
            for user in USERS
            for level, spec in LEVELS.items()
            if self.value("SELECT achievements.user_points(%s)", (user,)) >= spec["min_points"]
        }
        assert set(self.query("SELECT user_id, level FROM achievements.user_levels")) == expected
        notified = Counter(
            self.query(
                "SELECT user_id, data ->> 'level' FROM achievements.notifications WHERE kind = 'level'"
            )
        )
        assert notified == Counter(expected)


@pytest.fixture
def rewarded(db):
    install(db)
    apply_catalog(db)
    db.execute("SELECT * FROM achievements.apply_catalog(%s::jsonb)", (json.dumps(REWARDS),))
    db.execute(TRACKING)
    flow = RewardedTrackFlow(db)
    flow.check()
    return flow


def test_the_rewards_catalog_applies_once_and_prices_badges_by_rarity(rewarded):
    again = rewarded.query(
        "SELECT * FROM achievements.apply_catalog(%s::jsonb)", (json.dumps(REWARDS),)
    )
    assert again == []
    assert rewarded.query(
        "SELECT code, points FROM achievements.badges WHERE category = 'bonus' ORDER BY code"
    ) == [
        ("every_milestone", 100),
        ("every_social", 100),
        ("legendary", 250),
        ("ten_badges", 50),
        ("thousand_points", 100),
    ]


def test_legendary_all_achievements_and_levels_from_points(rewarded):
    """Alice earns every one of the 80 achievements through TrackFlow's own writes: the
    completion bonuses come with the last badge of their category, Legendary with the 80th,
    the levels as her points reach them, each with its notification; the leaderboards by badge
    count and by songs released this week rank her first."""
    app = rewarded
    app.insert(
        "packs",
        [{"id": i, "owner_id": ALICE, "name": f"Pack {i}"} for i in range(1, 21)],
        packs_created={ALICE: 20},
    )
    app.insert(
        "album_series",
        [
            {"id": i, "owner_id": ALICE, "artist": "Abba", "album_name": f"A{i}"}
            for i in range(1, 6)
        ],
        album_series_created={ALICE: 5},
    )
    assert "ten_badges" not in app.badges(ALICE)
    # 250 fully authored songs in the plans: 100 artists, 100 years, in packs and series.
    app.run(
        "INSERT INTO songs (id, owner_id, title, artist, year, lyrics, chords, key, notes, tempo,"
        "                   pack_id, album_series_id)"
        " SELECT g, %s, 'song ' || g, 'Artist ' || g %% 100, 1950 + g %% 100, 'la', 'C G', 'C', 'n', 100,"
        "        1 + g %% 5, 1 + g %% 5"
        "   FROM generate_series(1, 250) AS g",
        (ALICE,),
        future_plans_added={ALICE: 250},
    )
    assert "ten_badges" in app.badges(ALICE)
    app.run(
        "UPDATE songs SET status = 'wip' WHERE owner_id = %s", (ALICE,), wip_started={ALICE: 250}
    )
    app.run(
        "UPDATE songs SET status = 'released' WHERE owner_id = %s",
        (ALICE,),
        songs_released={ALICE: 250},
        wip_completed={ALICE: 250},
    )
    # Alice adds Bob to 25 of her songs; Bob adds her to 25 of his.
    app.run(
        "INSERT INTO collaborations (song_id, user_id, added_by) SELECT g, %s, %s FROM generate_series(1, 25) AS g",
        (BOB, ALICE),
        collaborators_added={ALICE: 25},
        added_as_collaborator={BOB: 25},
    )
    assert "every_milestone" in app.badges(ALICE) and "every_social" not in app.badges(ALICE)
    app.insert("songs", [song(i, BOB) for i in range(300, 325)], future_plans_added={BOB: 25})
    assert "every_social" in app.badges(BOB)  # Bob's four social badges, all at once
    app.run(
        "INSERT INTO collaborations (song_id, user_id, added_by) SELECT g, %s, %s FROM generate_series(300, 324) AS g",
        (ALICE, BOB),
        collaborators_added={BOB: 25},
        added_as_collaborator={ALICE: 25},
    )
    assert "every_social" in app.badges(ALICE)
    app.insert(
        "spotify_imports",
        [
            {"user_id": ALICE, "kind": "playlist", "spotify_id": f"p{i}", "status": "completed"}
            for i in range(10)
        ],
        spotify_imports_completed={ALICE: 10},
        spotify_playlists_imported={ALICE: 10},
    )
    app.insert(
        "feature_requests",
        [{"user_id": ALICE, "title": f"idea {i}"} for i in range(10)],
        feature_requests_submitted={ALICE: 10},
    )
    app.insert(
        "bug_reports",
        [{"user_id": ALICE, "title": f"bug {i}"} for i in range(4)],
        bugs_reported={ALICE: 4},
    )
    app.run(
        "INSERT INTO logins (user_id, logged_in_at)"
        " SELECT %s, timestamptz '2025-01-01 08:00+00' + g * interval '1 day' FROM generate_series(0, 99) AS g",
        (ALICE,),
    )
    assert len(app.badges(ALICE) & set(BADGES)) == 79
    assert "legendary" not in app.badges(ALICE)
    app.insert(
        "bug_reports", [{"user_id": ALICE, "title": "the last one"}], bugs_reported={ALICE: 1}
    )
    assert app.badges(ALICE) == set(BADGES) | set(META)
    # The toast-worthy last notifications: Quality Guardian, then Legendary.
    last = app.query(
        "SELECT kind, title, link FROM achievements.notifications WHERE user_id = %s ORDER BY id DESC LIMIT 2",
        (ALICE,),
    )
    assert last == [
        ("badge", "Achievement unlocked: Legendary", "/achievements"),
        ("badge", "Achievement unlocked: Quality Guardian", "/achievements"),
    ]
    points = app.value("SELECT achievements.user_points(%s)", (ALICE,))
    assert points == sum(b["points"] for b in BADGES.values()) + 100 + 100 + 50 + 100 + 250
    assert {
        lvl
        for (lvl,) in app.query(
            "SELECT level FROM achievements.user_levels WHERE user_id = %s", (ALICE,)
        )
    } == set(LEVELS)
    assert app.query(
        "SELECT level, current, target FROM achievements.level_progress(%s) WHERE kind = 'points'",
        (BOB,),
    ) == [
        ("rookie", 100, 100),
        ("regular", 500, 500),
        ("pro", app.value("SELECT least(achievements.user_points(%s), 1000)", (BOB,)), 1000),
        ("star", app.value("SELECT least(achievements.user_points(%s), 2500)", (BOB,)), 2500),
    ]
    # Seed 001's badge-count leaderboard, and the songs released this week.
    board = app.query("SELECT rank, user_id, badges FROM achievements.badge_leaderboard(3)")
    assert board[0] == (1, ALICE, 85) and board[1][1] == BOB
    assert app.query("SELECT * FROM achievements.step_leaderboard('songs_released')") == [
        (1, ALICE, 250)
    ]
    # The community feed, rarest first: legendary awards (earned in this one test transaction).
    rarest = app.query(
        "SELECT user_id, rarity FROM achievements.community_feed(5, rarest_first => true)"
    )
    assert rarest == [(ALICE, "legendary")] * 5
