"""The README's Supabase / PostgREST section runs as written, on a database laid out as
Supabase's (its roles, auth.users, the publication supabase_realtime): the install command's
options, the Realtime publication, and removing a deleted user's rows."""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path

import psycopg

from support.cli import cli, url
from support.databases import admin, conninfo

README = Path(__file__).resolve().parents[2] / "README.md"
ROLES = ("anon", "authenticated", "service_role")


def section() -> str:
    text = README.read_text()
    return text.split("## Supabase / PostgREST", 1)[1].split("\n## ", 1)[0]


def supabase_roles() -> None:
    with admin() as conn:
        for role in ROLES:
            conn.execute(
                f"DO $$ BEGIN IF to_regrole('{role}') IS NULL THEN"
                f" CREATE ROLE {role} NOLOGIN NOINHERIT; END IF; END $$"
            )


def test_the_supabase_section_runs_as_written(empty_database):
    supabase_roles()
    name = empty_database()
    command = re.search(r"```sh\n(.*?)```", section(), re.S).group(1).replace("\\\n", " ")
    args = shlex.split(command)
    assert args[:2] == ["achievements-db", "migrate"]
    options = [a for a in args[2:] if not a.startswith("postgresql://") and a != "--database-url"]
    assert options == [
        "--app-roles",
        "authenticated,anon",
        "--service-roles",
        "service_role",
    ]
    installed = cli("migrate", "--database-url", url(name), *options)
    assert installed.returncode == 0, installed.stderr

    publication, forget = re.findall(r"```sql\n(.*?)```", section(), re.S)
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA auth")
        conn.execute("CREATE TABLE auth.users (id uuid PRIMARY KEY)")
        conn.execute("CREATE PUBLICATION supabase_realtime")
        conn.execute(publication)
        assert conn.execute(
            "SELECT schemaname, tablename FROM pg_publication_tables"
            " WHERE pubname = 'supabase_realtime'"
        ).fetchall() == [("achievements", "notifications")]

        conn.execute(forget)
        conn.execute(
            "INSERT INTO achievements.levels (name) VALUES ('fan');"
            " INSERT INTO achievements.level_requirements (level, name, required_count)"
            " VALUES ('fan', 'song', 1);"
            " INSERT INTO achievements.badges (code, name, step, threshold, points)"
            " VALUES ('first', 'First', 'song', 1, 10)"
        )
        alice, bob = uuid.uuid4(), uuid.uuid4()
        for user in (alice, bob):
            conn.execute("INSERT INTO auth.users (id) VALUES (%s)", (user,))
            conn.execute("SELECT achievements.record_step(%s, 'song')", (user,))
        conn.execute(
            "INSERT INTO achievements.user_steps (user_id, name) VALUES (%s, 'x')", (alice,)
        )
        conn.execute("DELETE FROM auth.users WHERE id = %s", (alice,))
        for table in (
            "user_badges",
            "user_levels",
            "user_achievements",
            "user_steps",
            "notifications",
        ):
            users = conn.execute(f"SELECT DISTINCT user_id FROM achievements.{table}").fetchall()
            assert users == [(bob,)], table
        assert conn.execute(
            "SELECT user_id, points FROM achievements.leaderboard()"
        ).fetchall() == [(bob, 10)]
        assert conn.execute(
            "SELECT holders FROM achievements.badge_stats WHERE code = 'first'"
        ).fetchone() == (1,)
