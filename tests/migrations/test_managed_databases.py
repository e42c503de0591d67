"""Managed PostgreSQL: installed, upgraded and used by a database owner who is not a superuser,
with Supabase's roles (anon, authenticated, service_role with BYPASSRLS, and authenticator
logging in and switching role per transaction with request.jwt.claims, as PostgREST does) and
with a plain RDS-style layout (an owner, an application login, a service login)."""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

import psycopg
import pytest

from achievements_db import migrate, status
from achievements_db.migrator import InstallOptions
from achievements_db.releases import releases
from support.databases import admin, conninfo, target
from support.install import psql_install

SUPABASE_ROLES = [
    "CREATE ROLE anon NOLOGIN NOINHERIT",
    "CREATE ROLE authenticated NOLOGIN NOINHERIT",
    "CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS",
    "CREATE ROLE authenticator LOGIN NOINHERIT",
    "GRANT anon, authenticated, service_role TO authenticator",
    "CREATE ROLE supa_owner LOGIN CREATEDB CREATEROLE NOSUPERUSER",
]
RDS_ROLES = [
    "CREATE ROLE rds_owner LOGIN CREATEDB CREATEROLE NOSUPERUSER",
    "CREATE ROLE rds_app LOGIN",
    "CREATE ROLE rds_service LOGIN",
]
CATALOG = {
    "levels": {"listener": {"requirements": {"song": 2}}},
    "badges": {
        "first_song": {"name": "First song", "step": "song", "threshold": 1, "points": 10},
        "listener": {"name": "Listener", "level": "listener", "points": 25},
        "sharer": {"name": "Sharer", "client_grantable": True, "points": 5},
    },
}
SONGS = """
    CREATE TABLE public.songs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                               owner uuid NOT NULL, title text NOT NULL);
    ALTER TABLE public.songs ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_songs ON public.songs
        USING (owner = achievements.current_user_id()) WITH CHECK (owner = achievements.current_user_id());
"""


def create_roles(statements: list[str]) -> None:
    with admin() as conn:
        for statement in statements:
            role = statement.split()[2]
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not statement.startswith("CREATE ROLE") or not exists:
                conn.execute(statement)


class PostgREST:
    """Requests as PostgREST makes them: log in as authenticator, and per transaction SET LOCAL
    ROLE and the request's claims."""

    def __init__(self, dbname: str) -> None:
        self.conn = psycopg.connect(conninfo(dbname, user="authenticator"), autocommit=True)

    @contextmanager
    def request(self, role: str, sub: uuid.UUID | None = None):
        claims = {"role": role, **({"sub": str(sub)} if sub else {})}
        with self.conn.transaction():
            self.conn.execute(f"SET LOCAL ROLE {role}")
            self.conn.execute(
                "SELECT set_config('request.jwt.claims', %s, true)", (json.dumps(claims),)
            )
            yield self.conn

    def fails(self, role: str, sub: uuid.UUID | None, query: str, *params: object) -> str:
        """The SQLSTATE of a request that must fail (PostgREST ends the request with it)."""
        with pytest.raises(psycopg.Error) as err, self.request(role, sub) as conn:
            conn.execute(query, params)
        return str(err.value.sqlstate)


def one(conn: psycopg.Connection, query: str, *params: object) -> object:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


@pytest.fixture
def supabase(empty_database):
    """A database owned by a non-superuser, with Supabase's roles, at the newest release, then
    upgraded with the migrator as that owner: the application's table, tracked, and the catalog."""
    create_roles(SUPABASE_ROLES)
    name = empty_database(owner="supa_owner")
    owner = target(name, user="supa_owner")
    options = InstallOptions(app_roles="anon, authenticated", service_roles="service_role")
    release = releases()[-1]
    assert migrate(owner, options, until=release.migrations[-1]) == release.migrations
    migrate(owner, options)
    assert all(s.applied for s in status(owner))
    with psycopg.connect(conninfo(name, user="supa_owner"), autocommit=True) as conn:
        assert one(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        conn.execute(SONGS)
        conn.execute("GRANT SELECT, INSERT, DELETE ON public.songs TO authenticated")
        conn.execute("SELECT achievements.track('public.songs', 'song', 'title', 'count', 'owner')")
    return name


@pytest.fixture
def api(supabase):
    rest = PostgREST(supabase)
    yield rest
    rest.conn.close()


def test_supabase_serves_postgrest_requests(api):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with api.request("service_role") as conn:
        changes = conn.execute(
            "SELECT * FROM achievements.apply_catalog(%s)", (json.dumps(CATALOG),)
        ).fetchall()
        assert len(changes) == 5
    for user, titles in ((alice, ["a", "b"]), (bob, ["c"])):
        for title in titles:
            with api.request("authenticated", user) as conn:
                conn.execute(
                    "INSERT INTO public.songs (owner, title) VALUES (%s, %s)", (user, title)
                )
    with api.request("authenticated", alice) as conn:
        assert one(conn, "SELECT achievements.user_achieved('listener')") is True
        assert conn.execute(
            "SELECT name, count FROM achievements.user_achievements"
        ).fetchall() == [("song", 2)]
        assert sorted(r[0] for r in conn.execute("SELECT badge FROM achievements.user_badges")) == [
            "first_song",
            "listener",
        ]
        assert one(conn, "SELECT achievements.user_points()") == 35
        assert one(conn, "SELECT achievements.claim_badge('sharer')") is True
        assert (
            one(conn, "SELECT achievements.unread_count()") == 4
        )  # 2 badges, the level, the claim
        first = one(conn, "SELECT min(id) FROM achievements.notifications")
        assert one(conn, "SELECT achievements.mark_read(%s)", first) is True
        assert one(conn, "SELECT achievements.mark_all_read()") == 3
        board = conn.execute("SELECT user_id, points FROM achievements.leaderboard()").fetchall()
        assert board == [(alice, 40), (bob, 10)]
        progress = {
            r[0]: (r[2], r[3]) for r in conn.execute("SELECT * FROM achievements.badge_progress()")
        }
        assert progress["listener"] == (1, 1)
    assert (
        api.fails("authenticated", alice, "SELECT achievements.steps_required('listener', %s)", bob)
        == "42501"
    )
    with api.request("authenticated", bob) as conn:
        assert conn.execute("SELECT user_id FROM achievements.user_badges").fetchall() == [(bob,)]
        assert one(conn, "SELECT count(*) FROM public.songs") == 1
        assert conn.execute(
            "SELECT required_count FROM achievements.steps_required('listener')"
        ).fetchall() == [(1,)]
    assert (
        api.fails("authenticated", bob, "SELECT achievements.record_step(%s, 'song')", bob)
        == "42501"
    )
    assert (
        api.fails("authenticated", bob, "SELECT achievements_private.parse_user_ref('x')")
        == "42501"
    )
    assert (
        api.fails("authenticated", bob, "UPDATE achievements.user_achievements SET count = 99")
        == "42501"
    )
    with api.request("anon") as conn:
        assert one(conn, "SELECT count(*) FROM achievements.badges") == 3
        assert one(conn, "SELECT count(*) FROM achievements.user_achievements") == 0
    assert api.fails("anon", None, "SELECT achievements.steps_required('listener')") == "AD005"
    with api.request("service_role") as conn:
        assert one(conn, "SELECT count(*) FROM achievements.user_badges") == 4
        assert one(conn, "SELECT achievements.award_badge(%s, 'sharer')", bob) is True
        assert one(conn, "SELECT achievements.record_step(%s, 'bonus')", bob) == 1
        assert one(conn, "SELECT achievements.user_points(%s)", bob) == 15
        assert conn.execute("SELECT step FROM achievements.tracked()").fetchall() == [("song",)]
    # The service role may not rewire the application's table, which supa_owner owns.
    assert (
        api.fails("service_role", None, "SELECT achievements.untrack('public.songs', 'song')")
        == "42501"
    )


def test_a_table_the_package_owner_cannot_rewire_is_refused_with_the_grant_to_make(supabase):
    create_roles(["CREATE ROLE other_team LOGIN NOSUPERUSER"])
    with admin() as conn:
        conn.execute(f'GRANT CREATE ON DATABASE "{supabase}" TO other_team')
    with psycopg.connect(conninfo(supabase, user="other_team"), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS team AUTHORIZATION other_team")
        conn.execute("CREATE TABLE team.plays (id int, who uuid, song text)")
    with psycopg.connect(conninfo(supabase, user="supa_owner"), autocommit=True) as conn:
        conn.execute("GRANT USAGE ON SCHEMA achievements TO other_team")
        conn.execute(
            "GRANT EXECUTE ON FUNCTION achievements.track(regclass, text, text, text, text, text, text,"
            " text, regclass, text, boolean, text, text, text, text) TO other_team"
        )
    with psycopg.connect(conninfo(supabase, user="other_team"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            conn.execute("SELECT achievements.track('team.plays', 'play', 'song', 'count', 'who')")
        assert (
            "the owner of achievements-db, supa_owner, needs the privileges of the owner of table"
            " team.plays, other_team, to wire its triggers" in str(err.value)
        )
        assert err.value.diag.message_hint == (
            "GRANT other_team TO supa_owner, or track tables that role owns."
        )
        # What the hint says, by a role that may grant it (the dashboard's postgres role).
        with admin() as granter:
            granter.execute("GRANT other_team TO supa_owner")
        assert (
            one(conn, "SELECT achievements.track('team.plays', 'play', 'song', 'count', 'who')")
            is True
        )
        # Expressions run as other_team: the generated functions are handed to it, which a
        # package owner that is not a superuser can do.
        assert (
            one(
                conn,
                "SELECT achievements.track('team.plays', 'songs_of_x', mode => 'distinct',"
                " value => 'lower(song)', user_column => 'who',"
                " condition => $$current_user = 'other_team'$$)",
            )
            is True
        )
        conn.execute(
            "INSERT INTO team.plays VALUES (1, '00000000-0000-0000-0000-000000000001', 'x'),"
            " (2, '00000000-0000-0000-0000-000000000001', 'X')"
        )
    with psycopg.connect(conninfo(supabase, user="supa_owner")) as conn:
        assert (
            one(conn, "SELECT count FROM achievements.user_achievements WHERE name = 'play'") == 2
        )
        assert (
            one(conn, "SELECT count FROM achievements.user_achievements WHERE name = 'songs_of_x'")
            == 1
        )
        assert conn.execute(
            "SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc"
            " WHERE pronamespace = 'achievements_tracking'::regnamespace"
            "   AND proname ~ ('^track_' || 'team.plays'::regclass::oid || '(_rows)?$')"
        ).fetchall() == [("other_team",)]
        assert (
            one(
                conn, "SELECT has_schema_privilege('other_team', 'achievements_tracking', 'CREATE')"
            )
            is False
        )


def test_an_rds_style_layout_installed_with_psql(empty_database):
    create_roles(RDS_ROLES)
    name = empty_database(owner="rds_owner")
    installed = psql_install(
        name,
        InstallOptions(user_id_type="bigint", app_roles="rds_app", service_roles="rds_service"),
        user="rds_owner",
    )
    assert installed.returncode == 0, installed.stderr
    with psycopg.connect(conninfo(name, user="rds_owner"), autocommit=True) as conn:
        conn.execute("CREATE TABLE posts (id int PRIMARY KEY, author bigint NOT NULL, body text)")
        conn.execute("GRANT SELECT, INSERT ON posts TO rds_app")
        conn.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
    with psycopg.connect(conninfo(name, user="rds_service"), autocommit=True) as service:
        service.execute(
            "SELECT * FROM achievements.apply_catalog(%s)",
            (
                json.dumps(
                    {
                        "badges": {
                            "first_post": {"name": "First post", "step": "post", "threshold": 1}
                        }
                    }
                ),
            ),
        )
    with psycopg.connect(conninfo(name, user="rds_app"), autocommit=True) as app:
        app.execute("INSERT INTO posts VALUES (1, 42, 'hello')")
        app.execute("SELECT set_config('jwt.claims.user_id', '42', false)")
        assert app.execute("SELECT badge FROM achievements.user_badges").fetchall() == [
            ("first_post",)
        ]
        assert one(app, "SELECT achievements.unread_count()") == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT achievements.user_points(7)")
    assert migrate(target(name, user="rds_owner")) == []  # adopted as installed
