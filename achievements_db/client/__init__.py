"""Typed helpers over the SQL API: Client over a psycopg Connection, AsyncClient over an
AsyncConnection. Both are built from the one table of calls in calls.py: each method is one
statement of the SQL function of the same name, with plain dataclasses back (rows.py).
Creating a client never touches the database, and a client never commits on its own: each
call runs in the connection's transaction, or as its own under autocommit. as_user(user_id)
acts for a user without a JWT (acting.py); listen() iterates over the notifications
(listen.py). Errors are psycopg's, with the SQLSTATE and message the SQL raised (see the
README's error table)."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg

from achievements_db.client import calls
from achievements_db.client.acting import run_as, run_as_async
from achievements_db.client.calls import Call
from achievements_db.client.listen import (
    ErrorHook,
    Hook,
    Notification,
    conninfo_of,
    listen,
    listen_async,
)
from achievements_db.client.rows import (
    Award,
    BadgeLeaderboardRow,
    BadgeProgress,
    BadgeStat,
    CatalogChange,
    EarnedBadge,
    FeedItem,
    LeaderboardRow,
    LevelProgress,
    NotificationRow,
    PublicBadge,
    Redelivery,
    Requirement,
    StepLeaderboardRow,
    Streak,
    StreakLeaderboardRow,
    TrackedStep,
    UserId,
)

__all__ = [
    "AsyncClient",
    "Award",
    "BadgeLeaderboardRow",
    "BadgeProgress",
    "BadgeStat",
    "CatalogChange",
    "Client",
    "EarnedBadge",
    "FeedItem",
    "LeaderboardRow",
    "LevelProgress",
    "Notification",
    "NotificationRow",
    "PublicBadge",
    "Redelivery",
    "Requirement",
    "Streak",
    "StreakLeaderboardRow",
    "StepLeaderboardRow",
    "TrackedStep",
    "UserId",
]

P = ParamSpec("P")
T = TypeVar("T")


def _sync(call: Callable[P, Call[T]]) -> Callable[Concatenate[Client, P], T]:
    """The method of Client that runs `call`."""

    @functools.wraps(call)
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(call(*args, **kwargs))

    return method


def _async(call: Callable[P, Call[T]]) -> Callable[Concatenate[AsyncClient, P], Awaitable[T]]:
    """The method of AsyncClient that runs `call`."""

    @functools.wraps(call)
    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(call(*args, **kwargs))

    return method


class Client:
    """Sync helpers over a psycopg connection. user_id=None means the request's user: the
    JWT's (request.jwt.claims), or the one of as_user()."""

    def __init__(self, conn: psycopg.Connection[Any], *, acting_for: UserId | None = None) -> None:
        self.conn = conn
        self.acting_for = acting_for

    def as_user(self, user_id: UserId) -> Client:
        """A client on the same connection whose every call acts for `user_id`, as PostgREST
        does for a verified JWT: request.jwt.claims is {"sub": user_id} for the call, in the
        call's transaction. For a backend that authenticates users itself."""
        return Client(self.conn, acting_for=user_id)

    def _run(self, call: Call[T]) -> T:
        if self.acting_for is not None:
            return run_as(self.conn, self.acting_for, call)
        with self.conn.cursor() as cur:
            cur.execute(call.query, call.params)
            return call.shape(cur.fetchall())

    def listen(
        self,
        *,
        after: int | None = None,
        timeout: float | None = None,
        conninfo: str | None = None,
        retry_delay: float = 1.0,
        on_listen: Hook | None = None,
        on_reconnect: ErrorHook | None = None,
    ) -> Generator[Notification, None, None]:
        """The notifications, as they arrive, on a connection of their own (to `conninfo`, by
        default like this client's), reconnecting when it drops without losing any: `for
        notification in client.listen(): ...`. From the outbox row after id `after` when
        given, else from now on; until `timeout` seconds have passed, else forever."""
        return listen(
            conninfo or conninfo_of(self.conn),
            after=after,
            timeout=timeout,
            retry_delay=retry_delay,
            on_listen=on_listen,
            on_reconnect=on_reconnect,
        )

    record_step = _sync(calls.record_step)
    undo_step = _sync(calls.undo_step)
    steps_required = _sync(calls.steps_required)
    user_achieved = _sync(calls.user_achieved)
    current_user_id = _sync(calls.current_user_id)
    backfill_levels = _sync(calls.backfill_levels)
    track = _sync(calls.track)
    untrack = _sync(calls.untrack)
    tracked = _sync(calls.tracked)
    define_streak = _sync(calls.define_streak)
    set_time_zone = _sync(calls.set_time_zone)
    grant_streak_freezes = _sync(calls.grant_streak_freezes)
    streaks = _sync(calls.streaks)
    streak_leaderboard = _sync(calls.streak_leaderboard)
    award_badge = _sync(calls.award_badge)
    claim_badge = _sync(calls.claim_badge)
    revoke_badge = _sync(calls.revoke_badge)
    has_badge = _sync(calls.has_badge)
    backfill_badge = _sync(calls.backfill_badge)
    set_badge_public = _sync(calls.set_badge_public)
    compact_counters = _sync(calls.compact_counters)
    badge_progress = _sync(calls.badge_progress)
    user_badges_page = _sync(calls.user_badges_page)
    public_badges = _sync(calls.public_badges)
    user_points = _sync(calls.user_points)
    leaderboard = _sync(calls.leaderboard)
    user_rank = _sync(calls.user_rank)
    badge_stats = _sync(calls.badge_stats)
    mark_read = _sync(calls.mark_read)
    mark_all_read = _sync(calls.mark_all_read)
    unread_count = _sync(calls.unread_count)
    apply_catalog = _sync(calls.apply_catalog)
    level_progress = _sync(calls.level_progress)
    set_featured = _sync(calls.set_featured)
    community_feed = _sync(calls.community_feed)
    badge_leaderboard = _sync(calls.badge_leaderboard)
    step_leaderboard = _sync(calls.step_leaderboard)
    transaction_awards = _sync(calls.transaction_awards)
    delete_notification = _sync(calls.delete_notification)
    notifications_page = _sync(calls.notifications_page)
    notify = _sync(calls.notify)
    redeliver_notifications = _sync(calls.redeliver_notifications)


class AsyncClient:
    """The same helpers over a psycopg AsyncConnection."""

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], *, acting_for: UserId | None = None
    ) -> None:
        self.conn = conn
        self.acting_for = acting_for

    def as_user(self, user_id: UserId) -> AsyncClient:
        """Client.as_user over the AsyncConnection."""
        return AsyncClient(self.conn, acting_for=user_id)

    async def _run(self, call: Call[T]) -> T:
        if self.acting_for is not None:
            return await run_as_async(self.conn, self.acting_for, call)
        async with self.conn.cursor() as cur:
            await cur.execute(call.query, call.params)
            return call.shape(await cur.fetchall())

    def listen(
        self,
        *,
        after: int | None = None,
        timeout: float | None = None,
        conninfo: str | None = None,
        retry_delay: float = 1.0,
        on_listen: Hook | None = None,
        on_reconnect: ErrorHook | None = None,
    ) -> AsyncGenerator[Notification, None]:
        """Client.listen as an async iterator: `async for notification in client.listen()`."""
        return listen_async(
            conninfo or conninfo_of(self.conn),
            after=after,
            timeout=timeout,
            retry_delay=retry_delay,
            on_listen=on_listen,
            on_reconnect=on_reconnect,
        )

    record_step = _async(calls.record_step)
    undo_step = _async(calls.undo_step)
    steps_required = _async(calls.steps_required)
    user_achieved = _async(calls.user_achieved)
    current_user_id = _async(calls.current_user_id)
    backfill_levels = _async(calls.backfill_levels)
    track = _async(calls.track)
    untrack = _async(calls.untrack)
    tracked = _async(calls.tracked)
    define_streak = _async(calls.define_streak)
    set_time_zone = _async(calls.set_time_zone)
    grant_streak_freezes = _async(calls.grant_streak_freezes)
    streaks = _async(calls.streaks)
    streak_leaderboard = _async(calls.streak_leaderboard)
    award_badge = _async(calls.award_badge)
    claim_badge = _async(calls.claim_badge)
    revoke_badge = _async(calls.revoke_badge)
    has_badge = _async(calls.has_badge)
    backfill_badge = _async(calls.backfill_badge)
    set_badge_public = _async(calls.set_badge_public)
    compact_counters = _async(calls.compact_counters)
    badge_progress = _async(calls.badge_progress)
    user_badges_page = _async(calls.user_badges_page)
    public_badges = _async(calls.public_badges)
    user_points = _async(calls.user_points)
    leaderboard = _async(calls.leaderboard)
    user_rank = _async(calls.user_rank)
    badge_stats = _async(calls.badge_stats)
    mark_read = _async(calls.mark_read)
    mark_all_read = _async(calls.mark_all_read)
    unread_count = _async(calls.unread_count)
    apply_catalog = _async(calls.apply_catalog)
    level_progress = _async(calls.level_progress)
    set_featured = _async(calls.set_featured)
    community_feed = _async(calls.community_feed)
    badge_leaderboard = _async(calls.badge_leaderboard)
    step_leaderboard = _async(calls.step_leaderboard)
    transaction_awards = _async(calls.transaction_awards)
    delete_notification = _async(calls.delete_notification)
    notifications_page = _async(calls.notifications_page)
    notify = _async(calls.notify)
    redeliver_notifications = _async(calls.redeliver_notifications)
