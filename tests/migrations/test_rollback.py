"""Rollbacks: each one restores exactly the catalog of the migration before it; several are one
transaction, all or nothing; they refuse while the application depends on what they would drop
and delete rows only when confirmed."""

import psycopg
import pytest

from achievements_db import AchievementsError, migrate, rollback, status
from support.catalog import differences, snapshot
from support.databases import conninfo, target


def test_each_rollback_restores_the_catalog_before_its_migration(empty_database):
    name = empty_database()
    ids = [s.id for s in status(target(name))]
    before = [snapshot(conninfo(name))]
    for migration in ids:
        assert migrate(target(name), until=migration) == [migration]
        with psycopg.connect(conninfo(name)) as conn:
            recorded = {
                r[0] for r in conn.execute("SELECT id FROM achievements_private.applied_migrations")
            }
        assert migration in recorded
        before.append(snapshot(conninfo(name)))
    for migration in reversed(ids):
        assert rollback(target(name)) == [migration]  # no data yet: nothing to confirm
        before.pop()
        assert differences(before[-1], snapshot(conninfo(name))) == [], migration
    assert snapshot(conninfo(name))["relation"] == []
    assert rollback(target(name)) == []
    assert migrate(target(name)) == ids


def install_with_data(empty_database):
    name = empty_database()
    migrate(target(name))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE posts (id int PRIMARY KEY, author uuid, body text)")
        conn.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
        conn.execute(
            "INSERT INTO achievements.badges (code, name, step, threshold) VALUES ('p', 'P', 'post', 1)"
        )
        conn.execute(
            "INSERT INTO posts VALUES (1, gen_random_uuid(), 'x'), (2, gen_random_uuid(), 'y')"
        )
    return name


def test_a_rollback_of_everything_is_all_or_nothing_and_says_what_blocks_it(empty_database):
    name = install_with_data(empty_database)
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute("CREATE VIEW top AS SELECT * FROM achievements.user_levels")
    before = snapshot(conninfo(name))
    # The view selects every column of user_levels, 0005's among them: 0005 refuses first.
    with pytest.raises(AchievementsError) as err:
        rollback(target(name), count=None, confirm=True)
    message = str(err.value)
    assert "rollback of 0006_rewards failed: the rewards of 0006 cannot be removed" in message
    assert "view public.top (uses column notified of table achievements.user_levels)" in message
    assert snapshot(conninfo(name)) == before
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute("DROP VIEW top")
        conn.execute("CREATE VIEW top AS SELECT user_id, level FROM achievements.user_levels")
    before = snapshot(conninfo(name))
    with pytest.raises(AchievementsError) as err:
        rollback(target(name), count=None, confirm=True)
    message = str(err.value)
    assert "rollback of 0001_baseline failed: achievements-db cannot be removed" in message
    assert (
        "view public.top" in message
        and "trigger achievements_post_ins on table public.posts" in message
    )
    assert "hint: Drop those objects first; untrack the tables of track()" in message
    # The later migrations were not rolled back either: nothing changed.
    assert snapshot(conninfo(name)) == before
    assert all(s.applied for s in status(target(name)))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        assert (
            conn.execute("SELECT sum(count) FROM achievements.user_achievements").fetchone()[0] == 2
        )
        conn.execute("DROP VIEW top")
    every = [s.id for s in status(target(name))]
    assert rollback(target(name), count=None, confirm=True, untrack=True) == every[::-1]
    with psycopg.connect(conninfo(name)) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == 2  # the app's rows stay
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'posts'::regclass"
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT to_regnamespace('achievements')").fetchone()[0] is None


def test_a_rollback_that_deletes_rows_needs_confirmation_and_says_how_many(empty_database):
    name = install_with_data(empty_database)
    before = snapshot(conninfo(name))
    with pytest.raises(AchievementsError) as err:
        rollback(target(name), count=None, untrack=True)
    message = str(err.value)
    assert "would delete rows (" in message and "nothing was changed" in message
    assert "2 from achievements.user_achievements" in message
    assert "2 from achievements.user_badges" in message
    assert snapshot(conninfo(name)) == before

    asked = []

    def decline(removed):
        asked.append(removed)
        return False

    with pytest.raises(AchievementsError, match="nothing was changed"):
        rollback(target(name), count=None, untrack=True, confirm=decline)
    assert asked[0]["achievements.notifications"] == 2
    assert asked[0]["achievements.user_badges"] == 2
    assert snapshot(conninfo(name)) == before  # declined: still everything


@pytest.mark.parametrize("count", [0, -1, -3])
def test_a_count_below_one_is_refused(empty_database, count):
    name = empty_database()
    migrate(target(name))
    with pytest.raises(AchievementsError, match="count must be 1 or more"):
        rollback(target(name), count=count)
    assert all(s.applied for s in status(target(name)))
