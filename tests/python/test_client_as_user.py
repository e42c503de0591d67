"""Client.as_user and AsyncClient.as_user: a backend without JWTs acts for a user. The claims
are set in the call's own transaction and never outlive it; the client never commits on its
own: on an autocommit connection, in a transaction block, and on a connection that is not in
autocommit mode."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from achievements_db import AsyncClient, Client
from support.databases import APP_ROLE, conninfo

CATALOG = {
    "levels": {"fan": {"requirements": {"song": 2}}},
    "badges": {
        "first": {"name": "First", "step": "song", "threshold": 1, "points": 10},
        "share": {"name": "Share", "client_grantable": True, "points": 1},
    },
}

CLAIMS = "SELECT current_setting('request.jwt.claims', true)"


@pytest.fixture
def users(connect):
    conn = connect()
    client = Client(conn)
    client.apply_catalog(CATALOG)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    client.record_step(alice, "song")  # earns "first": one unread notification
    client.record_step(bob, "song")
    return alice, bob


def claims(conn):
    return conn.execute(CLAIMS).fetchone()[0] or None


def test_every_call_that_takes_the_user_from_the_jwt_acts_for_the_given_user(connect, users):
    alice, bob = users
    conn = connect()
    me = Client(conn).as_user(alice)
    assert me.current_user_id() == alice
    assert me.unread_count() == 1
    assert [r.name for r in me.steps_required("fan")] == ["song"]
    assert me.user_achieved("fan") is False
    assert [p.code for p in me.badge_progress() if p.earned_at] == ["first"]
    assert [b.badge for b in me.user_badges_page()] == ["first"]
    assert me.user_points() == 10
    assert me.user_rank() == 1
    assert me.claim_badge("share") is True
    assert me.set_badge_public("share", False) is True
    notes = conn.execute(
        "SELECT id FROM achievements.notifications WHERE user_id = %s ORDER BY id", (alice,)
    ).fetchall()
    assert me.mark_read(notes[0][0]) is True
    assert me.mark_all_read() == 1  # the notification of "share"
    assert me.unread_count() == 0
    assert Client(conn).as_user(bob).unread_count() == 1  # bob's are untouched
    assert claims(conn) is None  # nothing outlives the calls


def test_an_application_role_reads_only_the_users_rows(connect, users):
    alice, bob = users
    conn = connect()
    conn.execute(f"SET ROLE {APP_ROLE}")
    me = Client(conn).as_user(alice)
    assert me.user_points() == 10
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        me.user_points(bob)


def test_on_an_autocommit_connection_each_call_is_its_own_transaction(connect, users):
    alice, _ = users
    conn = connect()
    assert conn.autocommit
    assert Client(conn).as_user(alice).mark_all_read() == 1
    assert conn.info.transaction_status == TransactionStatus.IDLE
    assert claims(conn) is None
    other = connect()  # committed: another session sees it
    assert Client(other).as_user(alice).unread_count() == 0


def test_in_a_transaction_block_the_call_joins_it_and_the_caller_decides(connect, users):
    alice, bob = users
    conn = connect()
    conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (f'{{"sub":"{bob}"}}',))
    with conn.transaction():  # raising Rollback rolls it back and leaves the block quietly
        assert Client(conn).as_user(alice).mark_all_read() == 1
        assert claims(conn) == f'{{"sub":"{bob}"}}'  # put back within the transaction
        assert Client(conn).unread_count() == 1  # the JWT's user again: bob
        raise psycopg.Rollback
    assert Client(conn).as_user(alice).unread_count() == 1  # rolled back with the caller's


def test_without_autocommit_the_client_never_commits(connect, users):
    alice, _ = users
    conn = connect(autocommit=False)
    assert Client(conn).as_user(alice).mark_all_read() == 1
    assert conn.info.transaction_status == TransactionStatus.INTRANS  # left open for the caller
    assert claims(conn) is None
    conn.rollback()
    assert Client(conn).as_user(alice).unread_count() == 1
    assert Client(conn).as_user(alice).mark_all_read() == 1
    conn.commit()
    assert Client(connect()).as_user(alice).unread_count() == 0


def test_a_failed_call_leaves_the_claims_to_the_rollback(connect, users):
    alice, _ = users
    conn = connect(autocommit=False)
    with pytest.raises(psycopg.Error) as failed:
        Client(conn).as_user(alice).mark_read(-1)
    assert failed.value.sqlstate == "AD205"
    conn.rollback()
    assert claims(conn) is None


def test_async_client_as_user(db_name, users):
    alice, _ = users

    async def main():
        async with await psycopg.AsyncConnection.connect(conninfo(db_name), autocommit=True) as a:
            me = AsyncClient(a).as_user(alice)
            assert await me.current_user_id() == alice
            assert await me.unread_count() == 1
            async with a.transaction(force_rollback=True):
                assert await me.mark_all_read() == 1
                assert (await (await a.execute(CLAIMS)).fetchone())[0] in (None, "")
            assert await me.unread_count() == 1
            assert await me.mark_all_read() == 1
        async with await psycopg.AsyncConnection.connect(conninfo(db_name)) as b:
            assert await AsyncClient(b).as_user(alice).unread_count() == 0
            assert b.info.transaction_status == TransactionStatus.INTRANS
            await b.rollback()

    asyncio.run(main())
