"""The badge methods of Client and AsyncClient: one per SQL function, dataclasses back."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import psycopg
import pytest

from achievements_db.client import (
    AsyncClient,
    BadgeProgress,
    BadgeStat,
    CatalogChange,
    Client,
    LeaderboardRow,
)
from support.databases import conninfo

CATALOG = {
    "levels": {"fan": {"requirements": {"song": 2}}},
    "badges": {
        "first": {"name": "First", "step": "song", "threshold": 1, "points": 10},
        "fan": {"name": "Fan", "level": "fan", "points": 5},
        "share": {"name": "Share", "client_grantable": True, "points": 1},
    },
}


def as_user(conn, user):
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(user)}),)
    )


def test_sync_client(db):
    c = Client(db)
    changes = c.apply_catalog(CATALOG, dry_run=True)
    assert changes[0] == CatalogChange("level", "fan", "create", "")
    assert changes[2] == CatalogChange("badge", "fan", "create", "level fan, 5 points")
    assert len(c.apply_catalog(CATALOG)) == 5
    assert c.apply_catalog(CATALOG) == []
    alice, bob = uuid.uuid4(), uuid.uuid4()
    c.record_step(alice, "song", 2)
    assert c.award_badge(bob, "first") is True
    assert c.award_badge(bob, "first") is False
    assert c.has_badge(alice, "fan") is True
    assert c.user_points(alice) == 15
    assert c.leaderboard() == [LeaderboardRow(1, alice, 15, 2), LeaderboardRow(2, bob, 10, 1)]
    assert c.leaderboard(limit=1)[0].user_id == alice
    assert c.leaderboard(since=dt.datetime(2999, 1, 1, tzinfo=dt.timezone.utc)) == []
    assert c.user_rank(bob) == 2
    assert c.user_rank(bob, since=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)) == 2
    progress = c.badge_progress(alice)
    assert [p.code for p in progress] == ["first", "fan", "share"]
    assert isinstance(progress[0], BadgeProgress) and progress[0].current == progress[0].target == 1
    page = c.user_badges_page(alice, limit=1)
    assert len(page) == 1
    assert [b.badge for b in c.user_badges_page(alice, after=page[0].badge)] != [page[0].badge]
    assert c.public_badges(alice)[0].badge in {"first", "fan"}
    assert BadgeStat("first", 2, 1.0) in c.badge_stats()
    assert c.revoke_badge(bob, "first") is True
    assert c.backfill_badge("first") == 0
    assert c.compact_counters() >= 0
    as_user(db, alice)
    assert c.claim_badge("share") is True
    assert c.set_badge_public("share", False) is True
    assert c.user_points() == 16
    assert c.user_rank() == 1
    assert [p.code for p in c.badge_progress()] == ["first", "fan", "share"]
    assert c.has_badge(alice, "share") is True
    assert c.unread_count() == 4  # first, level fan, fan, share
    first_id = db.execute(
        "SELECT min(id) FROM achievements.notifications WHERE user_id = %s", (alice,)
    ).fetchone()[0]
    assert c.mark_read(first_id) is True
    assert c.mark_all_read() == 3
    with pytest.raises(psycopg.Error) as err:
        c.claim_badge("first")
    assert err.value.sqlstate == "AD203"


def test_async_client(db_name, db):
    Client(db).apply_catalog(CATALOG)
    user = uuid.uuid4()

    async def scenario():
        async with await psycopg.AsyncConnection.connect(
            conninfo(db_name), autocommit=True
        ) as conn:
            c = AsyncClient(conn)
            assert await c.apply_catalog(CATALOG) == []
            await c.record_step(user, "song")
            assert await c.award_badge(user, "share") is True
            assert await c.revoke_badge(user, "share") is True
            assert await c.has_badge(user, "first") is True
            assert await c.user_points(user) == 10
            assert (await c.leaderboard())[0].user_id == user
            assert await c.user_rank(user) == 1
            assert [p.code for p in await c.badge_progress(user)] == ["first", "fan", "share"]
            assert [b.badge for b in await c.user_badges_page(user)] == ["first"]
            assert [b.badge for b in await c.public_badges(user)] == ["first"]
            assert (await c.badge_stats())[1] == BadgeStat("first", 1, 1.0)
            assert await c.backfill_badge("first") == 0
            assert await c.compact_counters() >= 0
            await conn.execute(
                "SELECT set_config('request.jwt.claims', %s, false)",
                (json.dumps({"sub": str(user)}),),
            )
            assert await c.claim_badge("share") is True
            assert await c.set_badge_public("share", False) is True
            # first, share, share revoked, share claimed
            assert await c.unread_count() == 4
            assert await c.mark_all_read() == 4
            assert (
                await c.mark_read(
                    (
                        await (
                            await conn.execute("SELECT max(id) FROM achievements.notifications")
                        ).fetchone()
                    )[0]
                )
                is False
            )

    asyncio.run(scenario())
