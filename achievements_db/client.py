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
from psycopg.types.json import Jsonb

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
# badges


@dataclass(frozen=True)
class BadgeProgress:
    """Progress toward one badge: current out of target; earned_at when held."""

    code: str
    name: str
    current: int
    target: int
    earned_at: datetime | None


@dataclass(frozen=True)
class EarnedBadge:
    """A badge the user holds (user_badges_page)."""

    badge: str
    name: str
    description: str | None
    icon: str | None
    category: str | None
    points: int
    rarity: str
    earned_at: datetime
    is_public: bool


@dataclass(frozen=True)
class PublicBadge:
    """A badge a user shows to others (public_badges)."""

    badge: str
    name: str
    icon: str | None
    category: str | None
    points: int
    rarity: str
    earned_at: datetime


@dataclass(frozen=True)
class LeaderboardRow:
    """One row of the leaderboard; ties share a rank."""

    rank: int
    user_id: Any
    points: int
    badges: int


@dataclass(frozen=True)
class BadgeStat:
    """Holders of a badge and their share (0 to 1) of all users with any tally."""

    code: str
    holders: int
    share: float


@dataclass(frozen=True)
class CatalogChange:
    """One change apply_catalog made (or, in a dry run, would make)."""

    object: str
    name: str
    action: str
    detail: str


def _call_named(function: str, kwargs: dict[str, Any],
                shape: Callable[[Sequence[tuple[Any, ...]]], T],
                *, table: bool = False) -> _Call[T]:
    """SELECT [* FROM] achievements.function(name => %s, ...), leaving out None arguments so
    that the SQL defaults apply (e.g. user_id: the request's user)."""
    given = {k: v for k, v in kwargs.items() if v is not None}
    arguments = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder()) for k in given
    )
    template = "SELECT * FROM {}.{}({})" if table else "SELECT {}.{}({})"
    query = sql.SQL(template).format(
        sql.Identifier("achievements"), sql.Identifier(function), arguments
    )
    return _Call(query, tuple(given.values()), shape)


def _rows(cls: Callable[..., T]) -> Callable[[Sequence[tuple[Any, ...]]], list[T]]:
    return lambda rows: [cls(*r) for r in rows]


def _award_badge(user_id: UserId, code: str) -> _Call[bool]:
    return _call("award_badge", [user_id, code], _scalar)


def _claim_badge(code: str) -> _Call[bool]:
    return _call("claim_badge", [code], _scalar)


def _revoke_badge(user_id: UserId, code: str) -> _Call[bool]:
    return _call("revoke_badge", [user_id, code], _scalar)


def _has_badge(user_id: UserId, code: str) -> _Call[bool]:
    return _call("has_badge", [user_id, code], _scalar)


def _backfill_badge(code: str) -> _Call[int]:
    return _call("backfill_badge", [code], _scalar)


def _set_badge_public(code: str, is_public: bool) -> _Call[bool]:
    return _call("set_badge_public", [code, is_public], _scalar)


def _compact_counters() -> _Call[int]:
    return _call("compact_counters", [], _scalar)


def _badge_progress(user_id: UserId | None) -> _Call[list[BadgeProgress]]:
    return _call_named("badge_progress", {"user_id": user_id}, _rows(BadgeProgress), table=True)


def _user_badges_page(user_id: UserId | None, after: str | None, limit: int | None
                      ) -> _Call[list[EarnedBadge]]:
    return _call_named("user_badges_page", {"user_id": user_id, "after": after, "lim": limit},
                       _rows(EarnedBadge), table=True)


def _public_badges(user_id: UserId) -> _Call[list[PublicBadge]]:
    return _call("public_badges", [user_id], _rows(PublicBadge), table=True)


def _user_points(user_id: UserId | None) -> _Call[int]:
    return _call_named("user_points", {"user_id": user_id}, _scalar)


def _leaderboard(limit: int | None, since: datetime | None) -> _Call[list[LeaderboardRow]]:
    return _call_named("leaderboard", {"lim": limit, "since": since}, _rows(LeaderboardRow),
                       table=True)


def _user_rank(user_id: UserId | None, since: datetime | None) -> _Call[int]:
    return _call_named("user_rank", {"user_id": user_id, "since": since}, _scalar)


def _badge_stats() -> _Call[list[BadgeStat]]:
    query = sql.SQL("SELECT code, holders, share FROM achievements.badge_stats ORDER BY code")
    return _Call(query, (), _rows(BadgeStat))


def _mark_read(notification_id: int) -> _Call[bool]:
    return _call("mark_read", [notification_id], _scalar)


def _mark_all_read() -> _Call[int]:
    return _call("mark_all_read", [], _scalar)


def _unread_count() -> _Call[int]:
    return _call("unread_count", [], _scalar)


def _apply_catalog(catalog: dict[str, Any], dry_run: bool) -> _Call[list[CatalogChange]]:
    return _call("apply_catalog", [Jsonb(catalog), dry_run], _rows(CatalogChange), table=True)


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
    # badges

    def award_badge(self, user_id: UserId, code: str) -> bool:
        return self._run(_award_badge(user_id, code))

    def claim_badge(self, code: str) -> bool:
        return self._run(_claim_badge(code))

    def revoke_badge(self, user_id: UserId, code: str) -> bool:
        return self._run(_revoke_badge(user_id, code))

    def has_badge(self, user_id: UserId, code: str) -> bool:
        return self._run(_has_badge(user_id, code))

    def backfill_badge(self, code: str) -> int:
        return self._run(_backfill_badge(code))

    def set_badge_public(self, code: str, is_public: bool) -> bool:
        return self._run(_set_badge_public(code, is_public))

    def compact_counters(self) -> int:
        return self._run(_compact_counters())

    def badge_progress(self, user_id: UserId | None = None) -> list[BadgeProgress]:
        return self._run(_badge_progress(user_id))

    def user_badges_page(self, user_id: UserId | None = None, after: str | None = None,
                         limit: int | None = None) -> list[EarnedBadge]:
        return self._run(_user_badges_page(user_id, after, limit))

    def public_badges(self, user_id: UserId) -> list[PublicBadge]:
        return self._run(_public_badges(user_id))

    def user_points(self, user_id: UserId | None = None) -> int:
        return self._run(_user_points(user_id))

    def leaderboard(self, limit: int | None = None, since: datetime | None = None
                    ) -> list[LeaderboardRow]:
        return self._run(_leaderboard(limit, since))

    def user_rank(self, user_id: UserId | None = None, since: datetime | None = None) -> int:
        return self._run(_user_rank(user_id, since))

    def badge_stats(self) -> list[BadgeStat]:
        return self._run(_badge_stats())

    def mark_read(self, notification_id: int) -> bool:
        return self._run(_mark_read(notification_id))

    def mark_all_read(self) -> int:
        return self._run(_mark_all_read())

    def unread_count(self) -> int:
        return self._run(_unread_count())

    def apply_catalog(self, catalog: dict[str, Any], dry_run: bool = False) -> list[CatalogChange]:
        return self._run(_apply_catalog(catalog, dry_run))


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
    # badges

    async def award_badge(self, user_id: UserId, code: str) -> bool:
        return await self._run(_award_badge(user_id, code))

    async def claim_badge(self, code: str) -> bool:
        return await self._run(_claim_badge(code))

    async def revoke_badge(self, user_id: UserId, code: str) -> bool:
        return await self._run(_revoke_badge(user_id, code))

    async def has_badge(self, user_id: UserId, code: str) -> bool:
        return await self._run(_has_badge(user_id, code))

    async def backfill_badge(self, code: str) -> int:
        return await self._run(_backfill_badge(code))

    async def set_badge_public(self, code: str, is_public: bool) -> bool:
        return await self._run(_set_badge_public(code, is_public))

    async def compact_counters(self) -> int:
        return await self._run(_compact_counters())

    async def badge_progress(self, user_id: UserId | None = None) -> list[BadgeProgress]:
        return await self._run(_badge_progress(user_id))

    async def user_badges_page(self, user_id: UserId | None = None, after: str | None = None,
                         limit: int | None = None) -> list[EarnedBadge]:
        return await self._run(_user_badges_page(user_id, after, limit))

    async def public_badges(self, user_id: UserId) -> list[PublicBadge]:
        return await self._run(_public_badges(user_id))

    async def user_points(self, user_id: UserId | None = None) -> int:
        return await self._run(_user_points(user_id))

    async def leaderboard(self, limit: int | None = None, since: datetime | None = None
                    ) -> list[LeaderboardRow]:
        return await self._run(_leaderboard(limit, since))

    async def user_rank(self, user_id: UserId | None = None, since: datetime | None = None) -> int:
        return await self._run(_user_rank(user_id, since))

    async def badge_stats(self) -> list[BadgeStat]:
        return await self._run(_badge_stats())

    async def mark_read(self, notification_id: int) -> bool:
        return await self._run(_mark_read(notification_id))

    async def mark_all_read(self) -> int:
        return await self._run(_mark_all_read())

    async def unread_count(self) -> int:
        return await self._run(_unread_count())

    async def apply_catalog(self, catalog: dict[str, Any],
                            dry_run: bool = False) -> list[CatalogChange]:
        return await self._run(_apply_catalog(catalog, dry_run))
