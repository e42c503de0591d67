"""Client.listen and AsyncClient.listen: the notifications of channel 'achievements' as an
iterator, on a connection of their own, that reconnects after a dropped connection without
losing notifications.

Every notification is also a row of the outbox achievements.notifications, written in the
awarding transaction. After a reconnect (and at the start, given `after`), the listener first
LISTENs, then reads the outbox rows with an id above the last one it yielded, so what was
committed while it was away comes first, then the live ones; ids already yielded are skipped.
The payloads are those of pg_notify (sql/07_notifications/01_outbox.sql): id, user_id, kind,
and badge or level. Which rows the outbox shows follows its row level security: a service role
or the owner sees every user's.

LISTEN needs a session: not through a transaction-mode pooler (PgBouncer, Supavisor's
transaction mode); connect directly or through a session-mode pooler.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from achievements_db.client.rows import UserId

CHANNEL = "achievements"
LISTEN = "LISTEN achievements"
# The newest id of the outbox: where a listener without `after` starts.
NEWEST = "SELECT coalesce(max(id), 0) FROM achievements.notifications"
# The outbox rows after an id, as the payloads pg_notify sends for them.
SINCE = """
SELECT (jsonb_build_object('id', n.id, 'user_id', n.user_id, 'kind', n.kind)
        || jsonb_strip_nulls(jsonb_build_object('badge', n.data -> 'badge',
                                                'level', n.data -> 'level')))::text
  FROM achievements.notifications AS n
 WHERE n.id > %s
 ORDER BY n.id
"""
SEEN = 10_000  # how many ids a listener remembers, to skip one it yields twice


@dataclass(frozen=True)
class Notification:
    """One notification: a new badge (kind 'badge', badge set) or level (kind 'level')."""

    id: int
    user_id: UserId
    kind: str
    badge: str | None = None
    level: str | None = None

    @classmethod
    def from_payload(cls, payload: str) -> Notification:
        data = json.loads(payload)
        return cls(data["id"], data["user_id"], data["kind"], data.get("badge"), data.get("level"))

    def payload(self) -> dict[str, Any]:
        """The notification as its pg_notify payload (no null members)."""
        fields = {"id": self.id, "user_id": self.user_id, "kind": self.kind}
        fields.update({k: v for k, v in (("badge", self.badge), ("level", self.level)) if v})
        return fields


Hook = Callable[[], None]
ErrorHook = Callable[[Exception], None]


class _State:
    """What a listener has yielded: the highest id, and the recent ids (to skip repeats)."""

    def __init__(self, after: int | None) -> None:
        self.last = after
        self.recent: deque[int] = deque(maxlen=SEEN)
        self.seen: set[int] = set()

    def fresh(self, payloads: Iterable[str]) -> list[Notification]:
        new = []
        for payload in payloads:
            note = Notification.from_payload(payload)
            if note.id in self.seen:
                continue
            if len(self.recent) == self.recent.maxlen:
                self.seen.discard(self.recent[0])
            self.recent.append(note.id)
            self.seen.add(note.id)
            self.last = max(self.last or 0, note.id)
            new.append(note)
        return new


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def listen(
    conninfo: str,
    *,
    after: int | None = None,
    timeout: float | None = None,
    retry_delay: float = 1.0,
    on_listen: Hook | None = None,
    on_reconnect: ErrorHook | None = None,
) -> Generator[Notification, None, None]:
    """The notifications from now on (or from the outbox row after id `after`), until
    `timeout` seconds have passed (None: forever). A dropped connection is opened again
    (every `retry_delay` seconds until it succeeds, calling on_reconnect with the error);
    on_listen is called each time it listens."""
    state = _State(after)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(LISTEN)
                if state.last is None:
                    row = conn.execute(NEWEST).fetchone()
                    state.last = int(row[0]) if row else 0
                else:
                    rows = conn.execute(SINCE, (state.last,)).fetchall()
                    yield from state.fresh(r[0] for r in rows)
                if on_listen:
                    on_listen()
                for notify in conn.notifies(timeout=_remaining(deadline)):
                    yield from state.fresh([notify.payload])
                return
        except psycopg.OperationalError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                return
            if on_reconnect:
                on_reconnect(exc)
            time.sleep(min(retry_delay, _remaining(deadline) or retry_delay))


async def listen_async(
    conninfo: str,
    *,
    after: int | None = None,
    timeout: float | None = None,
    retry_delay: float = 1.0,
    on_listen: Hook | None = None,
    on_reconnect: ErrorHook | None = None,
) -> AsyncGenerator[Notification, None]:
    """listen() over an AsyncConnection: `async for notification in client.listen()`."""
    state = _State(after)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(LISTEN)
                if state.last is None:
                    row = await (await conn.execute(NEWEST)).fetchone()
                    state.last = int(row[0]) if row else 0
                else:
                    rows = await (await conn.execute(SINCE, (state.last,))).fetchall()
                    for note in state.fresh(r[0] for r in rows):
                        yield note
                if on_listen:
                    on_listen()
                async for notify in conn.notifies(timeout=_remaining(deadline)):
                    for note in state.fresh([notify.payload]):
                        yield note
                return
        except psycopg.OperationalError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                return
            if on_reconnect:
                on_reconnect(exc)
            await asyncio.sleep(min(retry_delay, _remaining(deadline) or retry_delay))


def conninfo_of(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> str:
    """A connection string that opens another connection like `conn` (its password too)."""
    return psycopg.conninfo.make_conninfo(conn.info.dsn, password=conn.info.password)
