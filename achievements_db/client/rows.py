"""The rows the typed helpers return: plain frozen dataclasses, one per result shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

# A user id: uuid, bigint or text, as installed (--user-id-type). Rows read back carry the
# installed type (UUID, int or str).
UserId = UUID | int | str


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
    """A table and step wired by track(); user_column None means the request's user. The
    expressions are None when not given (docs/tracking.md)."""

    table: str
    step: str
    column: str | None
    mode: str
    user_column: str | None
    condition: str | None
    previous: str | None
    value: str | None
    depends_on: str | None
    depends_on_user_column: str | None
    created_at: datetime
    at: str | None
    time_zone: str | None
    period: str | None
    week_start: int | None


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
    user_id: UserId
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


@dataclass(frozen=True)
class Streak:
    """A user's streak of one streak step (docs/streaks.md): current is 0 once broken (worked
    out when read, in the user's zone); at_risk means alive with nothing yet in today's period."""

    step: str
    period: str
    current: int
    longest: int
    run_start: date | None
    last_period: date | None
    at_risk: bool
    freezes_left: int
    today: date


@dataclass(frozen=True)
class StreakLeaderboardRow:
    """One row of a streak leaderboard; ties share a rank."""

    rank: int
    user_id: UserId
    length: int


@dataclass(frozen=True)
class LevelProgress:
    """One requirement of a level: kind "points" or "step", current out of target ("1,200 /
    2,000 points"); achieved_at once the level is reached."""

    level: str
    requirement: str
    kind: str
    current: int
    target: int
    achieved_at: datetime | None


@dataclass(frozen=True)
class NotificationRow:
    """One notification of a user (notifications_page), newest first."""

    id: int
    kind: str
    title: str
    body: str | None
    link: str | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class Award:
    """A badge or level the current transaction awarded (transaction_awards); rarity, points and
    icon are None for levels."""

    kind: str
    user_id: Any
    code: str
    name: str
    description: str | None
    icon: str | None
    rarity: str | None
    points: int | None
    awarded_at: datetime


@dataclass(frozen=True)
class Redelivery:
    """An award whose notification failed, written again (delivered) or not."""

    kind: str
    user_id: Any
    code: str
    delivered: bool


@dataclass(frozen=True)
class FeedItem:
    """A public award in the community feed; pass cursor as `after` for the next page."""

    user_id: Any
    badge: str
    name: str
    icon: str | None
    category: str | None
    points: int
    rarity: str
    earned_at: datetime
    featured: bool
    cursor: str


@dataclass(frozen=True)
class BadgeLeaderboardRow:
    """One row of the leaderboard by badge count; ties share a rank."""

    rank: int
    user_id: Any
    badges: int
    points: int


@dataclass(frozen=True)
class StepLeaderboardRow:
    """One row of a step's leaderboard over a period; ties share a rank."""

    rank: int
    user_id: Any
    count: int
