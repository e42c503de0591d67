"""The package's public names: migrate, rollback and status take a connection string; every
name of __all__ is exported and typed, and mypy --strict checks a program that uses them
(LeaderboardRow.user_id is a user id, not Any)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import achievements_db
from achievements_db import InstallOptions, MigrationStatus, migrate, rollback, status
from support.cli import url
from support.databases import conninfo


def test_migrate_status_rollback_take_a_connection_string(empty_database):
    name = empty_database()
    for database in (url(name), conninfo(name)):  # a URL, and libpq's key=value form
        applied = migrate(database, InstallOptions())
        assert applied[0] == "0001_baseline"
        assert migrate(database) == []
        assert all(isinstance(s, MigrationStatus) and s.applied for s in status(database))
        assert [s.id for s in status(database)] == applied
        undone = rollback(database, None, confirm=True)
        assert undone[-1] == "0001_baseline"
        assert not any(s.applied for s in status(database))


def test_an_empty_connection_string_is_refused():
    with pytest.raises(achievements_db.AchievementsError, match="the connection string is empty"):
        status("")


def test_every_public_name_is_exported():
    for name in achievements_db.__all__:
        assert getattr(achievements_db, name) is not None, name
    assert {"Client", "AsyncClient", "Notification", "UserId", "InstallOptions", "Target"} <= set(
        achievements_db.__all__
    )


PROGRAM = textwrap.dedent("""\
    from typing import assert_type
    from uuid import UUID

    import psycopg

    from achievements_db import (
        AsyncClient, Client, LeaderboardRow, MigrationStatus, Notification, UserId, migrate,
        status,
    )

    def use(conn: psycopg.Connection[tuple[object, ...]]) -> None:
        client = Client(conn)
        row = client.leaderboard()[0]
        assert_type(row, LeaderboardRow)
        assert_type(row.user_id, UUID | int | str)
        assert_type(client.as_user(UUID(int=1)).unread_count(), int)
        assert_type(client.current_user_id(), UserId | None)
        for note in client.listen(timeout=1):
            assert_type(note, Notification)
        assert_type(migrate("postgresql://localhost/app"), list[str])
        assert_type(status("postgresql://localhost/app"), list[MigrationStatus])

    async def use_async(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        client = AsyncClient(conn)
        assert_type(await client.as_user(1).user_points(), int)
        async for note in client.listen():
            assert_type(note, Notification)
    """)


def test_mypy_strict_checks_a_program_using_the_public_api(tmp_path):
    program = tmp_path / "uses_the_api.py"
    program.write_text(PROGRAM)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(program)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout
