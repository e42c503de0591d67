"""achievements-db: levels, step tallies, badges and notifications for PostgreSQL.

The SQL is the product: sql/ holds the current definition of every object, migrations/ the
deltas that reach it. This package installs it (``achievements-db migrate``), starts an embedded
PostgreSQL when no database is given, and offers thin typed helpers over its functions
(:class:`Client`, :class:`AsyncClient`).
"""

from achievements_db.client import (
    AsyncClient,
    BadgeProgress,
    BadgeStat,
    CatalogChange,
    Client,
    EarnedBadge,
    LeaderboardRow,
    Notification,
    PublicBadge,
    Requirement,
    Streak,
    StreakLeaderboardRow,
    TrackedStep,
    UserId,
)
from achievements_db.conninfo import Target
from achievements_db.errors import AchievementsError
from achievements_db.migrator import (
    Confirm,
    InstallOptions,
    MigrationStatus,
    migrate,
    rollback,
    status,
)

__all__ = [
    "AchievementsError",
    "AsyncClient",
    "BadgeProgress",
    "BadgeStat",
    "CatalogChange",
    "Client",
    "Confirm",
    "EarnedBadge",
    "InstallOptions",
    "LeaderboardRow",
    "MigrationStatus",
    "Notification",
    "PublicBadge",
    "Requirement",
    "Streak",
    "StreakLeaderboardRow",
    "Target",
    "TrackedStep",
    "UserId",
    "migrate",
    "rollback",
    "status",
]
__version__ = "0.2.0.dev0"
