"""The typed Python helpers, sync and async, against the real functions."""

import asyncio
import json
import uuid

import psycopg
import pytest

from achievements_db import AsyncClient, Client, Requirement
from support.databases import conninfo


@pytest.fixture
def client(db):
    db.execute("INSERT INTO achievements.levels (name) VALUES ('newbie')")
    db.execute(
        """INSERT INTO achievements.level_requirements (level, name, required_count, priority)
           VALUES ('newbie', 'post', 3, 1), ('newbie', 'photo', 1, 2)"""
    )
    return Client(db)


def test_creating_a_client_does_not_touch_the_database():
    conn = psycopg.Connection.__new__(psycopg.Connection)  # never connected
    assert Client(conn).conn is conn


def test_sync_client_round_trip(client):
    user = uuid.uuid4()
    assert client.record_step(user, "post") == 1
    assert client.record_step(user, "post", 2) == 3
    assert client.undo_step(user, "post") == 2
    assert client.steps_required("newbie", user) == [
        Requirement(id=1, name="post", level="newbie", required_count=1, priority=1),
        Requirement(id=2, name="photo", level="newbie", required_count=1, priority=2),
    ]
    assert client.user_achieved("newbie", user) is False
    client.record_step(user, "post")
    client.record_step(user, "photo")
    assert client.user_achieved("newbie", user) is True
    assert client.backfill_levels() == 0  # already awarded by the trigger


def test_sync_client_uses_the_request_user(client, db):
    user = uuid.uuid4()
    client.record_step(user, "photo")
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(user)}),)
    )
    assert client.current_user_id() == user
    assert [r.name for r in client.steps_required("newbie")] == ["post"]


@pytest.mark.parametrize(
    ("call", "sqlstate"),
    [
        (lambda c, u: c.record_step(u, "post", None), "AD002"),
        (lambda c, u: c.undo_step(u, "post", None), "AD002"),
        (lambda c, u: c.record_step(u, None), "AD002"),
        (lambda c, u: c.record_step(None, "post"), "AD005"),
        (lambda c, u: c.apply_catalog({"levels": {}}, dry_run=None), "AD207"),
        (lambda c, u: c.track("items", "post", "val", None), "AD107"),
    ],
)
def test_none_is_null_as_in_sql_not_a_default(client, db, call, sqlstate):
    """A None the SQL function has no default for is sent as NULL and refused as SQL refuses
    it: record_step(user, step, None) is AD002, not one step (as it was)."""
    db.execute("CREATE TABLE items (id int, val text)")
    user = uuid.uuid4()
    with pytest.raises(psycopg.Error) as err:
        call(client, user)
    assert err.value.sqlstate == sqlstate


def test_sync_client_passes_sql_errors_through(client):
    with pytest.raises(psycopg.Error) as err:
        client.steps_required("nope", uuid.uuid4())
    assert err.value.sqlstate == "AD001"


def test_async_client_round_trip(client, db_name):
    user = uuid.uuid4()

    async def scenario():
        async with await psycopg.AsyncConnection.connect(
            conninfo(db_name), autocommit=True
        ) as conn:
            aclient = AsyncClient(conn)
            assert await aclient.record_step(user, "post", 3) == 3
            assert await aclient.undo_step(user, "post", 1) == 2
            missing = await aclient.steps_required("newbie", user)
            assert [(r.name, r.required_count) for r in missing] == [("post", 1), ("photo", 1)]
            assert await aclient.user_achieved("newbie", user) is False
            assert await aclient.current_user_id() is None
            assert await aclient.backfill_levels("newbie") == 0

    asyncio.run(scenario())


def test_both_clients_offer_exactly_the_table_of_calls():
    import inspect

    from achievements_db.client import calls

    table = {
        name
        for name, fn in vars(calls).items()
        if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == calls.__name__
    }
    for cls in (Client, AsyncClient):
        methods = {name for name in vars(cls) if not name.startswith("_")}
        assert methods == table | {"as_user", "listen"}, cls
        for name in table:  # as_user and listen are the client's own (acting.py, listen.py)
            assert getattr(cls, name).__doc__ == getattr(calls, name).__doc__
