"""Client.listen (an iterator) and AsyncClient.listen (an async iterator): the notifications as
they arrive; after the listening backend is terminated (pg_terminate_backend from another
session), it reconnects and yields what was committed meanwhile from the outbox, then the
live ones: none lost, none twice."""

from __future__ import annotations

import asyncio
import queue
import threading
import uuid

import psycopg

from achievements_db import AsyncClient, Client, Notification
from support.databases import conninfo

LISTENER = "achievements-test-listener"


def award(conn, *users):
    for user in users:
        conn.execute("SELECT achievements.award_badge(%s, 'hello')", (user,))


def terminate_listener(conn):
    row = conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (LISTENER,),
    ).fetchone()
    assert row == (True,)


def outbox(conn):
    rows = conn.execute("SELECT id, user_id FROM achievements.notifications ORDER BY id").fetchall()
    return [Notification(i, str(u), "badge", "hello") for i, u in rows]


def test_listen_reconnects_without_losing_notifications(connect, db_name):
    writer = connect()
    writer.execute("INSERT INTO achievements.badges (code, name) VALUES ('hello', 'Hello')")
    before, live, away, away_too, after = (uuid.uuid4() for _ in range(5))
    award(writer, before)  # before the listener starts: not delivered
    listening, reconnects = threading.Event(), []
    got: queue.Queue[Notification] = queue.Queue()

    def while_away(error):  # runs in the listener once it has lost its connection
        reconnects.append(error)
        award(connect(), away, away_too)

    notes = Client(writer).listen(
        conninfo=conninfo(db_name, application_name=LISTENER),
        timeout=60,
        retry_delay=0.1,
        on_listen=listening.set,
        on_reconnect=while_away,
    )

    def consume():
        for count, note in enumerate(notes, start=1):
            got.put(note)
            if count == 4:
                break
        notes.close()

    thread = threading.Thread(target=consume)
    thread.start()
    assert listening.wait(30)
    listening.clear()
    award(writer, live)
    first = got.get(timeout=30)
    terminate_listener(writer)
    assert listening.wait(30)  # listening again, after yielding what it missed
    award(writer, after)
    thread.join(60)
    assert not thread.is_alive()
    delivered = [first, *(got.get_nowait() for _ in range(3))]
    assert len(reconnects) == 1 and isinstance(reconnects[0], psycopg.OperationalError)
    assert delivered == outbox(writer)[1:]  # all but the one before it started, in order
    assert [n.user_id for n in delivered] == [str(u) for u in (live, away, away_too, after)]


def test_listen_from_an_id_and_until_a_timeout(connect, db_name):
    writer = connect()
    writer.execute("INSERT INTO achievements.badges (code, name) VALUES ('hello', 'Hello')")
    award(writer, uuid.uuid4(), uuid.uuid4())
    every = outbox(writer)
    after_first = list(Client(writer).listen(after=every[0].id, timeout=0.5))
    assert after_first == every[1:]
    assert list(Client(writer).listen(timeout=0.2)) == []
    assert every[0].payload() == {
        "id": every[0].id,
        "user_id": every[0].user_id,
        "kind": "badge",
        "badge": "hello",
    }


def test_async_listen_reconnects_without_losing_notifications(connect, db_name):
    writer = connect()
    writer.execute("INSERT INTO achievements.badges (code, name) VALUES ('hello', 'Hello')")
    users = [uuid.uuid4() for _ in range(3)]
    reconnects = []

    def while_away(error):
        reconnects.append(error)
        award(connect(), users[1])

    async def main():
        listening = asyncio.Event()
        async with await psycopg.AsyncConnection.connect(conninfo(db_name)) as conn:
            client = AsyncClient(conn)
            notes = client.listen(
                conninfo=conninfo(db_name, application_name=LISTENER),
                timeout=60,
                retry_delay=0.1,
                on_listen=listening.set,
                on_reconnect=while_away,
            )
            got = []

            async def consume():
                async for note in notes:
                    got.append(note)
                    if len(got) == 3:
                        break
                await notes.aclose()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(listening.wait(), 30)
            listening.clear()
            await asyncio.to_thread(award, writer, users[0])
            while not got:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(terminate_listener, writer)
            await asyncio.wait_for(listening.wait(), 30)
            await asyncio.to_thread(award, writer, users[2])
            await asyncio.wait_for(task, 30)
            return got

    got = asyncio.run(main())
    assert len(reconnects) == 1
    assert got == outbox(writer)
    assert [n.user_id for n in got] == [str(u) for u in users]
