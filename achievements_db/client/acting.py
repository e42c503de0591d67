"""Acting for a user without a JWT (Client.as_user): request.jwt.claims is set to
{"sub": user_id} with set_config(..., true), local to the transaction, in the same transaction
as the call, and put back after it.

The client never commits on its own:
- on an autocommit connection outside a transaction block, the setting and the call are one
  transaction of two statements (BEGIN, set, call, COMMIT), as the call alone would be one;
- inside a transaction (a `with conn.transaction()` block, or a connection that is not in
  autocommit mode), they run in that transaction, and the setting is put back to what it was
  after the call, so that the rest of the transaction is not acting for the user. The caller
  commits or rolls back, as always; when the call fails, the transaction is in error and its
  rollback undoes the setting too.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus

from achievements_db.client.calls import Call
from achievements_db.client.rows import UserId

T = TypeVar("T")

# The claims before, and the user's claims from now on (target entries are evaluated in order).
SWAP = (
    "SELECT current_setting('request.jwt.claims', true), set_config('request.jwt.claims', %s, true)"
)
PUT_BACK = "SELECT set_config('request.jwt.claims', %s, true)"


def claims(user_id: UserId) -> str:
    """The claims of a JWT whose subject is `user_id`, as PostgREST sets them."""
    return json.dumps({"sub": str(user_id)})


def _outside_transaction(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    return conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE


def run_as(conn: psycopg.Connection[Any], user_id: UserId, call: Call[T]) -> T:
    """Runs `call` on `conn` acting for `user_id`."""
    if _outside_transaction(conn):
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(PUT_BACK, (claims(user_id),))
            cur.execute(call.query, call.params)
            return call.shape(cur.fetchall())
    with conn.cursor() as cur:
        cur.execute(SWAP, (claims(user_id),))
        row = cur.fetchone()
        before = row[0] if row else None
        cur.execute(call.query, call.params)
        result = call.shape(cur.fetchall())
        cur.execute(PUT_BACK, (before,))
        return result


async def run_as_async(conn: psycopg.AsyncConnection[Any], user_id: UserId, call: Call[T]) -> T:
    """run_as over an AsyncConnection."""
    if _outside_transaction(conn):
        async with conn.transaction(), conn.cursor() as cur:
            await cur.execute(PUT_BACK, (claims(user_id),))
            await cur.execute(call.query, call.params)
            return call.shape(await cur.fetchall())
    async with conn.cursor() as cur:
        await cur.execute(SWAP, (claims(user_id),))
        row = await cur.fetchone()
        before = row[0] if row else None
        await cur.execute(call.query, call.params)
        result = call.shape(await cur.fetchall())
        await cur.execute(PUT_BACK, (before,))
        return result
