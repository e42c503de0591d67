"""Typed helpers over the SQL API: one method per SQL function, plain dataclasses back.

They add no logic the SQL lacks: each method is one SELECT of the function of the same name.
Creating a client never touches the database. Errors are psycopg's, with the SQLSTATE and
message the SQL raised (see the README's error table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import psycopg
from psycopg import sql

UserId = UUID | int | str
T = TypeVar("T")


@dataclass(frozen=True)
class Requirement:
    """A requirement of a level not met yet; required_count is what is still missing."""

    id: int
    name: str
    level: str
    required_count: int
    priority: int


@dataclass(frozen=True)
class TrackedStep:
    """A table and step wired by track(); user_column None means the request's user."""

    table: str
    step: str
    column: str
    mode: str
    user_column: str | None
    created_at: datetime


@dataclass(frozen=True)
class _Call(Generic[T]):
    query: sql.Composed
    params: tuple[Any, ...]
    shape: Callable[[Sequence[tuple[Any, ...]]], T]


def _scalar(rows: Sequence[tuple[Any, ...]]) -> Any:
    return rows[0][0]


def _call(function: str, args: Sequence[Any], shape: Callable[[Sequence[tuple[Any, ...]]], T],
          *, table: bool = False) -> _Call[T]:
    """SELECT [* FROM] achievements.function(%s, ...), without trailing None defaults."""
    args = list(args)
    while args and args[-1] is None:
        args.pop()
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(args))
    template = "SELECT * FROM {}.{}({})" if table else "SELECT {}.{}({})"
    query = sql.SQL(template).format(
        sql.Identifier("achievements"), sql.Identifier(function), placeholders
    )
    return _Call(query, tuple(args), shape)


def _record_step(user_id: UserId, step: str, count: int) -> _Call[int]:
    return _call("record_step", [user_id, step, count], _scalar)


def _undo_step(user_id: UserId, step: str, count: int) -> _Call[int]:
    return _call("undo_step", [user_id, step, count], _scalar)


def _steps_required(level: str, user_id: UserId | None) -> _Call[list[Requirement]]:
    return _call("steps_required", [level, user_id],
                 lambda rows: [Requirement(*r) for r in rows], table=True)


def _user_achieved(level: str, user_id: UserId | None) -> _Call[bool]:
    return _call("user_achieved", [level, user_id], _scalar)


def _current_user_id() -> _Call[Any]:
    return _call("current_user_id", [], _scalar)


def _backfill_levels(level: str | None) -> _Call[int]:
    return _call("backfill_levels", [level], _scalar)


def _track(table: str, step: str, column: str, mode: str,
           user_column: str | None) -> _Call[bool]:
    return _call("track", [table, step, column, mode, user_column], _scalar)


def _untrack(table: str, step: str) -> _Call[bool]:
    return _call("untrack", [table, step], _scalar)


def _tracked() -> _Call[list[TrackedStep]]:
    return _call("tracked", [], lambda rows: [TrackedStep(*r) for r in rows], table=True)


class Client:
    """Sync helpers over a psycopg connection. user_id=None means the request's user."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def _run(self, call: _Call[T]) -> T:
        with self.conn.cursor() as cur:
            cur.execute(call.query, call.params)
            return call.shape(cur.fetchall())

    def record_step(self, user_id: UserId, step: str, count: int = 1) -> int:
        return self._run(_record_step(user_id, step, count))

    def undo_step(self, user_id: UserId, step: str, count: int = 1) -> int:
        return self._run(_undo_step(user_id, step, count))

    def steps_required(self, level: str, user_id: UserId | None = None) -> list[Requirement]:
        return self._run(_steps_required(level, user_id))

    def user_achieved(self, level: str, user_id: UserId | None = None) -> bool:
        return self._run(_user_achieved(level, user_id))

    def current_user_id(self) -> Any:
        return self._run(_current_user_id())

    def backfill_levels(self, level: str | None = None) -> int:
        return self._run(_backfill_levels(level))

    # tracking

    def track(self, table: str, step: str, column: str, mode: str = "count",
              user_column: str | None = None) -> bool:
        return self._run(_track(table, step, column, mode, user_column))

    def untrack(self, table: str, step: str) -> bool:
        return self._run(_untrack(table, step))

    def tracked(self) -> list[TrackedStep]:
        return self._run(_tracked())


class AsyncClient:
    """The same helpers over a psycopg AsyncConnection."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn

    async def _run(self, call: _Call[T]) -> T:
        async with self.conn.cursor() as cur:
            await cur.execute(call.query, call.params)
            return call.shape(await cur.fetchall())

    async def record_step(self, user_id: UserId, step: str, count: int = 1) -> int:
        return await self._run(_record_step(user_id, step, count))

    async def undo_step(self, user_id: UserId, step: str, count: int = 1) -> int:
        return await self._run(_undo_step(user_id, step, count))

    async def steps_required(self, level: str, user_id: UserId | None = None) -> list[Requirement]:
        return await self._run(_steps_required(level, user_id))

    async def user_achieved(self, level: str, user_id: UserId | None = None) -> bool:
        return await self._run(_user_achieved(level, user_id))

    async def current_user_id(self) -> Any:
        return await self._run(_current_user_id())

    async def backfill_levels(self, level: str | None = None) -> int:
        return await self._run(_backfill_levels(level))

    # tracking

    async def track(self, table: str, step: str, column: str, mode: str = "count",
                    user_column: str | None = None) -> bool:
        return await self._run(_track(table, step, column, mode, user_column))

    async def untrack(self, table: str, step: str) -> bool:
        return await self._run(_untrack(table, step))

    async def tracked(self) -> list[TrackedStep]:
        return await self._run(_tracked())
