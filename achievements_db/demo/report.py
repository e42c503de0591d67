"""The demo's report, read back through the package's public reads only: the top of the points
leaderboard with each user's level, the rarest badges with their share of holders (badge_stats),
the longest login streaks, one user's progress toward the next badge of every family, and the
notification centre."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from achievements_db.cli.output import plain_bar, table
from achievements_db.client import Client

# Per badge: what the report shows of it.
BADGES = """
SELECT code, name, coalesce(icon, '') AS icon, category, step, threshold
  FROM achievements.badges ORDER BY category, step, threshold, code
"""
# Each user's highest level (by min_points) and the usernames, from the application's table.
LEVELS = """
SELECT DISTINCT ON (ul.user_id) ul.user_id, l.name
  FROM achievements.user_levels AS ul JOIN achievements.levels AS l ON l.name = ul.level
 ORDER BY ul.user_id, l.min_points DESC NULLS LAST
"""


@dataclass(frozen=True)
class Badge:
    code: str
    name: str
    icon: str
    category: str
    step: str | None
    threshold: int | None


def report(
    conn: psycopg.Connection[Any], usernames: dict[Any, str], print: Callable[[str], None]
) -> Any:
    """Prints the report of the database `conn` is connected to (as its owner); returns the id
    of the user at the top of the leaderboard, whose progress it shows (None without one)."""
    client = Client(conn)
    badges = {r[0]: Badge(*r) for r in conn.execute(BADGES)}
    levels = dict(conn.execute(LEVELS).fetchall())

    print("Leaderboard by points")
    top = client.leaderboard(limit=5)
    rows = [
        [
            str(r.rank),
            usernames[r.user_id],
            f"{r.points:,}",
            str(r.badges),
            levels.get(r.user_id, ""),
        ]
        for r in top
    ]
    print(_indent(table(["#", "user", "points", "badges", "level"], rows)))

    print("\nRarest badges (share of users who hold them)")
    earned = sorted((s for s in client.badge_stats() if s.holders > 0), key=lambda s: s.share)
    rows = [
        [f"{badges[s.code].icon} {badges[s.code].name}", str(s.holders), f"{s.share:.1%}"]
        for s in earned[:5]
    ]
    print(_indent(table(["badge", "holders", "share"], rows)))

    print("\nLongest login streaks (days in a row, each in the user's own calendar)")
    streaks = client.streak_leaderboard("login_streak", by="longest", limit=3)
    rows = [[str(r.rank), usernames[r.user_id], str(r.length)] for r in streaks]
    print(_indent(table(["#", "user", "days"], rows)))

    if top:
        leader = top[0].user_id
        print(f"\n{usernames[leader]}'s progress: the next badge of each family")
        print(_indent(progress_grid(client, leader, badges)))
        unread = client.unread_count(leader)
        print(f"\n{usernames[leader]}'s notification centre: {unread} unread")
        for n in client.notifications_page(leader, limit=3):
            print(f"  {n.title}")
        return leader
    return None


def progress_grid(client: Client, user: Any, badges: dict[str, Badge]) -> str:
    """Per step with threshold badges: a bar toward the next badge not yet held (or the last
    one, complete), as badge_progress counts it, and how many of the family's badges the user
    holds."""
    progress = {p.code: p for p in client.badge_progress(user)}
    held = {code for code, p in progress.items() if p.earned_at is not None}
    families: dict[str, list[Badge]] = {}
    for b in badges.values():
        if b.step is not None and b.threshold is not None:
            families.setdefault(b.step, []).append(b)
    rows = []
    for step, family in families.items():
        family.sort(key=lambda b: b.threshold or 0)
        goal = next((b for b in family if b.code not in held), family[-1])
        current, target = progress[goal.code].current, progress[goal.code].target
        mark = "✓" if goal.code in held else " "
        rows.append(
            [
                step,
                f"{plain_bar(current, target)} {current}/{target} {mark}",
                f"{goal.icon} {goal.name}",
                f"{sum(b.code in held for b in family)}/{len(family)}",
            ]
        )
    return table(["step", "progress", "next badge", "held"], rows)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
