"""The rows the typed helpers return: plain frozen dataclasses, one per result shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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
