"""Client/AsyncClient track(), untrack(), tracked(): one SELECT of the SQL function each."""

import asyncio
import uuid

import psycopg
import pytest

from achievements_db.client import AsyncClient, Client, TrackedStep
from support.databases import conninfo


@pytest.mark.committed  # the client's own cursor: a failed call ends the test's transaction
def test_client_tracking(db):
    db.execute("CREATE TABLE posts (id int, author uuid, body text)")
    client = Client(db)
    assert client.track("posts", "post", "body", user_column="author") is True
    assert client.track("posts", "post", "body", "count", "author") is False
    assert client.track("public.posts", "live", "body", "toggle", "author") is True
    author = uuid.uuid4()
    db.execute("INSERT INTO posts VALUES (1, %s, 'hi'), (2, %s, NULL)", (author, author))
    tracked = client.tracked()
    assert [(t.table, t.step, t.column, t.mode, t.user_column) for t in tracked] == [
        ("posts", "live", "body", "toggle", "author"),
        ("posts", "post", "body", "count", "author"),
    ]
    assert all(isinstance(t, TrackedStep) and t.created_at is not None for t in tracked)
    with pytest.raises(psycopg.Error) as info:
        client.track("posts", "post", "body", "toggle", "author")
    assert info.value.sqlstate == "AD108"
    assert client.untrack("posts", "post") is True
    assert client.untrack("posts", "post") is False
    assert [t.step for t in client.tracked()] == ["live"]
    assert dict(
        db.execute("SELECT name, count FROM achievements.user_achievements").fetchall()
    ) == {"post": 1, "live": 1}


def test_async_client_tracking(db, db_name):
    db.execute("CREATE TABLE posts (id int, author uuid, body text)")

    async def run():
        async with await psycopg.AsyncConnection.connect(
            conninfo(db_name), autocommit=True
        ) as conn:
            client = AsyncClient(conn)
            assert await client.track("posts", "post", "body", "count", "author") is True
            assert [t.step for t in await client.tracked()] == ["post"]
            assert await client.untrack("posts", "post") is True
            assert await client.tracked() == []

    asyncio.run(run())
