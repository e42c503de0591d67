"""The methods of issue 16 on Client and AsyncClient: one per SQL function, dataclasses back."""

from __future__ import annotations

import asyncio
import json
import uuid

import psycopg
import pytest

from achievements_db.client import (
    AsyncClient,
    Award,
    BadgeLeaderboardRow,
    Client,
    FeedItem,
    LevelProgress,
    NotificationRow,
    Redelivery,
    StepLeaderboardRow,
)
from support.databases import conninfo

CATALOG = {
    "rarity_points": {"common": 10, "legendary": 250},
    "leaderboards": {"song": {"periods": ["week"]}},
    "levels": {"gold": {"min_points": 250}},
    "badges": {
        "first": {"name": "First", "step": "song", "threshold": 1, "category": "m"},
        "share": {"name": "Share", "category": "m"},
        "all": {"name": "Legendary", "all_badges": True, "rarity": "legendary"},
    },
}


def test_sync_client(db):
    c = Client(db)
    c.apply_catalog(CATALOG)
    alice, bob = uuid.UUID(int=1), uuid.UUID(int=2)
    with db.transaction():
        c.record_step(alice, "song")
        assert c.award_badge(alice, "share") is True
        toast = c.transaction_awards(alice)
    assert [(a.kind, a.code) for a in toast] == [
        ("level", "gold"),
        ("badge", "all"),
        ("badge", "first"),
        ("badge", "share"),
    ]
    assert isinstance(toast[0], Award) and toast[1].points == 250 and toast[0].points is None
    assert c.transaction_awards(bob) == []
    progress = c.level_progress(alice)
    assert progress == [
        LevelProgress("gold", "points", "points", 250, 250, progress[0].achieved_at)
    ]
    assert progress[0].achieved_at is not None
    assert c.level_progress(bob, "gold")[0].current == 0
    c.record_step(bob, "song", 3)
    assert c.step_leaderboard("song") == [
        StepLeaderboardRow(1, bob, 3),
        StepLeaderboardRow(2, alice, 1),
    ]
    assert c.step_leaderboard("song", period="week", limit=1) == [StepLeaderboardRow(1, bob, 3)]
    assert c.badge_leaderboard() == [
        BadgeLeaderboardRow(1, alice, 3, 270),
        BadgeLeaderboardRow(2, bob, 1, 10),
    ]
    assert c.badge_leaderboard(limit=1)[0].user_id == alice
    feed = c.community_feed(limit=2, rarest_first=True)
    assert isinstance(feed[0], FeedItem) and feed[0].badge == "all"
    assert [f.badge for f in c.community_feed(after=feed[-1].cursor)] != []
    assert c.set_featured(alice, "all", True) is True
    assert [f.badge for f in c.community_feed(featured_only=True)] == ["all"]
    assert c.community_feed(min_rarity="legendary")[0].featured is True
    # Notifications for a given user (the owner acts for any user).
    page = c.notifications_page(alice, limit=2)
    assert len(page) == 2 and isinstance(page[0], NotificationRow) and page[0].id > page[1].id
    assert c.notifications_page(alice, before=page[1].id)[0].id < page[1].id
    assert c.unread_count(alice) == 4
    assert c.mark_read(page[0].id, alice) is True
    assert len(c.notifications_page(alice, unread_only=True)) == 3
    assert c.mark_all_read(alice) == 3
    assert c.delete_notification(page[0].id, alice) is True
    id_ = c.notify(bob, "hello", "Hi Bob", link="/bob", data={"x": 1})
    assert c.notifications_page(bob, limit=1)[0] == NotificationRow(
        id_,
        "hello",
        "Hi Bob",
        None,
        "/bob",
        {"x": 1},
        c.notifications_page(bob)[0].created_at,
        None,
    )
    assert c.notify(bob, "hello", "Again") > id_
    assert c.redeliver_notifications() == []
    assert c.redeliver_notifications(limit=5) == []
    # The request's user.
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": str(bob)}),)
    )
    assert c.unread_count() == 3
    assert c.delete_notification(id_) is True
    assert c.mark_read(c.notifications_page()[0].id) is True
    assert c.mark_all_read() == 1
    with pytest.raises(psycopg.Error) as err:
        c.notify(bob, "badge", "no")
    assert err.value.sqlstate == "AD208"


def test_redelivery_rows(db):
    c = Client(db)
    c.apply_catalog({"badges": {"a": {"name": "A"}}})
    db.execute("SET client_min_messages = error")
    db.execute(
        "ALTER TABLE achievements.notifications ADD CONSTRAINT broken CHECK (false) NOT VALID"
    )
    user = uuid.uuid4()
    c.award_badge(user, "a")
    db.execute("ALTER TABLE achievements.notifications DROP CONSTRAINT broken")
    assert c.redeliver_notifications() == [Redelivery("badge", user, "a", True)]


def test_async_client(db_name, db):
    Client(db).apply_catalog(CATALOG)
    user = uuid.uuid4()

    async def scenario():
        async with await psycopg.AsyncConnection.connect(conninfo(db_name)) as conn:
            c = AsyncClient(conn)
            await c.record_step(user, "song")
            assert [a.code for a in await c.transaction_awards(user)] == ["first"]
            await conn.commit()
            assert await c.transaction_awards() == []
            assert (await c.level_progress(user, "gold"))[0].target == 250
            assert (await c.step_leaderboard("song"))[0].count == 1
            assert (await c.badge_leaderboard())[0].badges == 1
            assert (await c.community_feed())[0].badge == "first"
            assert await c.set_featured(user, "first", True) is True
            assert await c.notify(user, "hello", "Hi") > 0
            assert len(await c.notifications_page(user)) == 2
            assert await c.unread_count(user) == 2
            first = (await c.notifications_page(user))[-1].id
            assert await c.mark_read(first, user) is True
            assert await c.mark_all_read(user) == 1
            assert await c.delete_notification(first, user) is True
            assert await c.redeliver_notifications() == []
            await conn.commit()

    asyncio.run(scenario())
