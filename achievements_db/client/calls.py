"""The table of calls: one function per SQL function of the public API, saying how to call it
(the query and its parameters) and how to read its rows. Client and AsyncClient are built from
it, so the sync and async methods cannot drift apart; each adds no logic the SQL lacks.
user_id=None means the request's user (the SQL default, current_user_id()); any other None is
NULL, which the SQL functions refuse as they would from SQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from psycopg import sql
from psycopg.types.json import Jsonb

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

T = TypeVar("T")
Rows = Sequence[tuple[Any, ...]]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One statement to run, and how to turn its rows into the result."""

    query: sql.Composed
    params: tuple[Any, ...]
    shape: Callable[[Rows], T]


def _scalar(rows: Rows) -> Any:
    return rows[0][0]


def _rows(cls: Callable[..., T]) -> Callable[[Rows], list[T]]:
    return lambda rows: [cls(*r) for r in rows]


def _select(function: str, arguments: sql.Composable, table: bool) -> sql.Composed:
    """SELECT achievements.function(arguments), or SELECT * FROM it for a table function."""
    template = "SELECT * FROM {}.{}({})" if table else "SELECT {}.{}({})"
    return sql.SQL(template).format(
        sql.Identifier("achievements"), sql.Identifier(function), arguments
    )


def _positional(
    function: str,
    args: Sequence[Any],
    shape: Callable[[Rows], T],
    *,
    defaulted: int = 0,
    table: bool = False,
) -> Call[T]:
    """SELECT [* FROM] achievements.function(%s, ...). The last `defaulted` arguments are left
    out when None, so that their SQL defaults apply (the request's user); every other None is
    sent as NULL, for the SQL function to refuse as it would from SQL (record_step's count)."""
    given = list(args)
    for _ in range(defaulted):
        if given and given[-1] is None:
            given.pop()
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(given))
    return Call(_select(function, placeholders, table), tuple(given), shape)


def _named(
    function: str, kwargs: dict[str, Any], shape: Callable[[Rows], T], *, table: bool = False
) -> Call[T]:
    """SELECT [* FROM] achievements.function(name => %s, ...), leaving out None arguments so
    that the SQL defaults apply."""
    given = {k: v for k, v in kwargs.items() if v is not None}
    arguments = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder()) for k in given
    )
    return Call(_select(function, arguments, table), tuple(given.values()), shape)


# Steps and levels


def record_step(user_id: UserId, step: str, count: int = 1) -> Call[int]:
    """Records `count` steps for a user; returns the new tally."""
    return _positional("record_step", [user_id, step, count], _scalar)


def undo_step(user_id: UserId, step: str, count: int = 1) -> Call[int]:
    """Takes back up to `count` steps, never below 0; returns the new tally."""
    return _positional("undo_step", [user_id, step, count], _scalar)


def steps_required(level: str, user_id: UserId | None = None) -> Call[list[Requirement]]:
    """The requirements of a level the user has not met; required_count is what is missing."""
    return _positional(
        "steps_required", [level, user_id], _rows(Requirement), table=True, defaulted=1
    )


def user_achieved(level: str, user_id: UserId | None = None) -> Call[bool]:
    """Whether the user meets every requirement of the level."""
    return _positional("user_achieved", [level, user_id], _scalar, defaulted=1)


def level_progress(
    user_id: UserId | None = None, level: str | None = None
) -> Call[list[LevelProgress]]:
    """Per level (only `level` when given) and requirement: points or step, current of target."""
    return _named(
        "level_progress",
        {"user_id": user_id, "level_name": level},
        _rows(LevelProgress),
        table=True,
    )


def current_user_id() -> Call[UserId | None]:
    """The user of the current request (the JWT claim), or None."""
    return _positional("current_user_id", [], _scalar)


def backfill_levels(level: str | None = None) -> Call[int]:
    """Awards a level (all when None) to every user who meets it; returns how many."""
    return _positional("backfill_levels", [level], _scalar, defaulted=1)


# Tracking


def track(
    table: str,
    step: str,
    column: str | None = None,
    mode: str = "count",
    user_column: str | None = None,
    *,
    condition: str | None = None,
    previous: str | None = None,
    value: str | None = None,
    depends_on: str | None = None,
    depends_on_user_column: str | None = None,
    backfill: bool = True,
    at: str | None = None,
    period: str | None = None,
    week_start: str | None = None,
    time_zone: str | None = None,
) -> Call[bool]:
    """Counts `step` from a table (docs/tracking.md); true when it changed something, false when
    already tracked so. Every argument is sent: None is NULL, as the SQL defaults are."""
    return _positional(
        "track",
        [
            table,
            step,
            column,
            mode,
            user_column,
            condition,
            previous,
            value,
            depends_on,
            depends_on_user_column,
            backfill,
            at,
            period,
            week_start,
            time_zone,
        ],
        _scalar,
    )


def untrack(table: str, step: str) -> Call[bool]:
    """Removes what track() wired; the tallies stay."""
    return _positional("untrack", [table, step], _scalar)


def tracked() -> Call[list[TrackedStep]]:
    """What track() has wired."""
    return _positional("tracked", [], _rows(TrackedStep), table=True)


# Streaks


def define_streak(step: str, period: str = "day", week_start: str = "monday") -> Call[bool]:
    """Makes `step` a streak step of days or weeks; true when it created it."""
    return _positional("define_streak", [step, period, week_start], _scalar)


def set_time_zone(time_zone: str, user_id: UserId | None = None) -> Call[str]:
    """Sets the IANA time zone of a user (the request's user when None) from now on."""
    return _positional("set_time_zone", [time_zone, user_id], _scalar, defaulted=1)


def grant_streak_freezes(user_id: UserId, step: str, n: int = 1) -> Call[int]:
    """Grants `n` freezes of a streak step; returns the freezes left."""
    return _positional("grant_streak_freezes", [user_id, step, n], _scalar)


def streaks(user_id: UserId | None = None) -> Call[list[Streak]]:
    """The user's streaks, one per streak step."""
    return _named("streaks", {"user_id": user_id}, _rows(Streak), table=True)


def streak_leaderboard(
    step: str, by: str = "current", limit: int | None = None
) -> Call[list[StreakLeaderboardRow]]:
    """The users with the longest current (alive now) or longest-ever streaks of a step."""
    return _named(
        "streak_leaderboard",
        {"step": step, "by": by, "lim": limit},
        _rows(StreakLeaderboardRow),
        table=True,
    )


# Badges


def award_badge(user_id: UserId, code: str) -> Call[bool]:
    """Awards a badge; true when newly awarded."""
    return _positional("award_badge", [user_id, code], _scalar)


def claim_badge(code: str) -> Call[bool]:
    """The request's user claims a client_grantable badge; true when newly awarded."""
    return _positional("claim_badge", [code], _scalar)


def revoke_badge(user_id: UserId, code: str) -> Call[bool]:
    """Takes a badge back; true when the user held it."""
    return _positional("revoke_badge", [user_id, code], _scalar)


def has_badge(user_id: UserId, code: str) -> Call[bool]:
    """Whether the user holds the badge."""
    return _positional("has_badge", [user_id, code], _scalar)


def backfill_badge(code: str) -> Call[int]:
    """Awards a badge to every user who already qualifies, silently; returns how many."""
    return _positional("backfill_badge", [code], _scalar)


def set_badge_public(code: str, is_public: bool) -> Call[bool]:
    """The request's user shows or hides one of their badges; true when they hold it."""
    return _positional("set_badge_public", [code, is_public], _scalar)


def compact_counters() -> Call[int]:
    """Folds the append-only counter rows; returns how many rows it removed."""
    return _positional("compact_counters", [], _scalar)


def badge_progress(user_id: UserId | None = None) -> Call[list[BadgeProgress]]:
    """Progress toward every badge the user can see ("5/10")."""
    return _named("badge_progress", {"user_id": user_id}, _rows(BadgeProgress), table=True)


def user_badges_page(
    user_id: UserId | None = None, after: str | None = None, limit: int | None = None
) -> Call[list[EarnedBadge]]:
    """The user's badges, newest first, a page at a time (after: last code of the page)."""
    return _named(
        "user_badges_page",
        {"user_id": user_id, "after": after, "lim": limit},
        _rows(EarnedBadge),
        table=True,
    )


def public_badges(user_id: UserId) -> Call[list[PublicBadge]]:
    """The badges a user shows to others."""
    return _positional("public_badges", [user_id], _rows(PublicBadge), table=True)


def user_points(user_id: UserId | None = None) -> Call[int]:
    """The points of the badges the user holds."""
    return _named("user_points", {"user_id": user_id}, _scalar)


def leaderboard(
    limit: int | None = None, since: datetime | None = None
) -> Call[list[LeaderboardRow]]:
    """The users with the most points; ties share a rank."""
    return _named("leaderboard", {"lim": limit, "since": since}, _rows(LeaderboardRow), table=True)


def user_rank(user_id: UserId | None = None, since: datetime | None = None) -> Call[int]:
    """The user's rank on the leaderboard."""
    return _named("user_rank", {"user_id": user_id, "since": since}, _scalar)


def badge_stats() -> Call[list[BadgeStat]]:
    """Holders of each badge and their share of all users."""
    query = sql.SQL("SELECT code, holders, share FROM achievements.badge_stats ORDER BY code")
    return Call(query.format(), (), _rows(BadgeStat))


def set_featured(user_id: UserId, code: str, featured: bool) -> Call[bool]:
    """Features (or not) one of a user's badges in the community feed; true when held."""
    return _positional("set_featured", [user_id, code, featured], _scalar)


def community_feed(
    limit: int | None = None,
    after: str | None = None,
    rarest_first: bool | None = None,
    featured_only: bool | None = None,
    min_rarity: str | None = None,
) -> Call[list[FeedItem]]:
    """Recent public awards across users, newest (or rarest) first; after: a row's cursor."""
    return _named(
        "community_feed",
        {
            "lim": limit,
            "after": after,
            "rarest_first": rarest_first,
            "featured_only": featured_only,
            "min_rarity": min_rarity,
        },
        _rows(FeedItem),
        table=True,
    )


def badge_leaderboard(
    limit: int | None = None, since: datetime | None = None
) -> Call[list[BadgeLeaderboardRow]]:
    """The users with the most badges; ties share a rank."""
    return _named(
        "badge_leaderboard", {"lim": limit, "since": since}, _rows(BadgeLeaderboardRow), table=True
    )


def step_leaderboard(
    step: str, period: str | None = None, limit: int | None = None, at: datetime | None = None
) -> Call[list[StepLeaderboardRow]]:
    """The users with the most steps of `step` in the day, week or month containing `at`, or of
    all time (period "all")."""
    return _named(
        "step_leaderboard",
        {"step": step, "period": period, "lim": limit, "at": at},
        _rows(StepLeaderboardRow),
        table=True,
    )


def transaction_awards(user_id: UserId | None = None) -> Call[list[Award]]:
    """The badges and levels the current transaction awarded (to `user_id`, when given)."""
    return _positional("transaction_awards", [user_id], _rows(Award), table=True, defaulted=1)


# Notifications and the catalog


def mark_read(notification_id: int, user_id: UserId | None = None) -> Call[bool]:
    """Marks one notification of the request's user (or of `user_id`: service roles) read;
    true when it was unread."""
    return _positional("mark_read", [notification_id, user_id], _scalar, defaulted=1)


def mark_all_read(user_id: UserId | None = None) -> Call[int]:
    """Marks every unread notification of the request's user (or of `user_id`) read."""
    return _positional("mark_all_read", [user_id], _scalar, defaulted=1)


def unread_count(user_id: UserId | None = None) -> Call[int]:
    """The number of unread notifications of the request's user (or of `user_id`)."""
    return _positional("unread_count", [user_id], _scalar, defaulted=1)


def delete_notification(notification_id: int, user_id: UserId | None = None) -> Call[bool]:
    """Deletes one notification of the request's user (or of `user_id`); true."""
    return _positional("delete_notification", [notification_id, user_id], _scalar, defaulted=1)


def notifications_page(
    user_id: UserId | None = None,
    before: int | None = None,
    limit: int | None = None,
    unread_only: bool | None = None,
) -> Call[list[NotificationRow]]:
    """A user's notifications, newest first (before: the id of the last one of a page)."""
    return _named(
        "notifications_page",
        {"user_id": user_id, "before": before, "lim": limit, "unread_only": unread_only},
        _rows(NotificationRow),
        table=True,
    )


def notify(
    user_id: UserId,
    kind: str,
    title: str,
    body: str | None = None,
    link: str | None = None,
    data: dict[str, Any] | None = None,
) -> Call[int]:
    """Writes a notification of the application's own kind; returns its id."""
    return _positional(
        "notify",
        [user_id, kind, title, body, link, None if data is None else Jsonb(data)],
        _scalar,
        defaulted=3,
    )


def redeliver_notifications(limit: int | None = None) -> Call[list[Redelivery]]:
    """Writes the notifications of awards whose notification failed; one row per award."""
    return _named("redeliver_notifications", {"lim": limit}, _rows(Redelivery), table=True)


def apply_catalog(catalog: dict[str, Any], dry_run: bool = False) -> Call[list[CatalogChange]]:
    """Applies a catalog of levels, requirements and badges; returns the changes."""
    return _positional("apply_catalog", [Jsonb(catalog), dry_run], _rows(CatalogChange), table=True)
