"""Rollbacks: each one restores exactly the catalog of the migration before it, refuses while
the application depends on what it would drop, and the database can go forward again."""

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
        assert rollback(target(name)) == [migration]
        before.pop()
        assert differences(before[-1], snapshot(conninfo(name))) == [], migration
    assert snapshot(conninfo(name))["relation"] == []
    assert rollback(target(name)) == []
    assert migrate(target(name)) == ids


def test_rollback_refuses_while_the_application_depends_on_it(empty_database):
    name = empty_database()
    migrate(target(name))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE posts (id int PRIMARY KEY, author uuid, body text)")
        conn.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
        conn.execute("CREATE VIEW top AS SELECT * FROM achievements.user_levels")
        conn.execute("INSERT INTO posts VALUES (1, gen_random_uuid(), 'x')")
    before = snapshot(conninfo(name))
    with pytest.raises(AchievementsError) as err:
        rollback(target(name), count=None)
    message = str(err.value)
    assert "rollback of 0001_baseline failed: achievements-db cannot be removed" in message
    assert (
        "view public.top" in message
        and "trigger achievements_post_ins on table public.posts" in message
    )
    assert "hint: Drop those objects first; untrack the tables of track()" in message
    assert snapshot(conninfo(name)) == before
    assert all(s.applied for s in status(target(name)))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        assert (
            conn.execute("SELECT sum(count) FROM achievements.user_achievements").fetchone()[0] == 1
        )
        conn.execute("DROP VIEW top")
        conn.execute("SELECT achievements.untrack(tbl, step) FROM achievements.tracked()")
    assert rollback(target(name), count=None) == ["0001_baseline"]
    with psycopg.connect(conninfo(name)) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == 1  # the app's data stays
        assert conn.execute("SELECT to_regnamespace('achievements')").fetchone()[0] is None
