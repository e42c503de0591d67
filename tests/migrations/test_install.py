"""Installing: with the migrator and with psql on sql/achievements.sql, twice, from 20 clients at
once, as a database owner who is not a superuser, and with every install option."""

import threading

import psycopg
import pytest

from achievements_db import AchievementsError, migrate, rollback, status
from achievements_db.migrator import InstallOptions
from support.catalog import snapshot
from support.databases import APP_ROLE, SERVICE_ROLE, admin, conninfo, target
from support.install import psql_install


def run_in_threads(count, work):
    """Runs work() in `count` threads released together; returns results and errors."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def body():
        barrier.wait()
        try:
            results.append(work())
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            errors.append(exc)

    threads = [threading.Thread(target=body) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_migrate_twice_changes_nothing(empty_database):
    name = empty_database()
    first = migrate(target(name))
    before = snapshot(conninfo(name))
    assert first and migrate(target(name)) == []
    assert snapshot(conninfo(name)) == before
    assert all(s.applied for s in status(target(name)))


def test_the_single_file_installs_once_and_then_refuses(empty_database):
    name = empty_database()
    assert psql_install(name).returncode == 0
    before = snapshot(conninfo(name))
    again = psql_install(name)
    assert again.returncode != 0
    assert "achievements-db is already installed" in again.stderr
    assert snapshot(conninfo(name)) == before


def test_20_concurrent_migrates_apply_everything_exactly_once(empty_database):
    name = empty_database()
    results, errors = run_in_threads(20, lambda: migrate(target(name)))
    assert errors == []
    assert sorted(m for r in results for m in r) == [s.id for s in status(target(name))]
    assert sum(1 for r in results if r) == 1


def test_20_concurrent_single_file_installs_install_once(empty_database):
    name = empty_database()
    results, errors = run_in_threads(20, lambda: psql_install(name))
    assert errors == []
    assert sum(r.returncode == 0 for r in results) == 1
    refused = [r.stderr for r in results if r.returncode != 0]
    assert len(refused) == 19 and all("already installed" in e for e in refused), refused[:1]
    assert migrate(target(name)) == []  # adopted, complete


@pytest.mark.parametrize("way", ["migrator", "psql"])
def test_a_database_owner_who_is_not_a_superuser_installs_and_uses_it(empty_database, way):
    owner = f"app_owner_{way}"
    with admin() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {owner}")
        conn.execute(f"CREATE ROLE {owner} LOGIN CREATEDB CREATEROLE NOSUPERUSER")
    name = empty_database(owner=owner)
    options = InstallOptions(app_roles=APP_ROLE, service_roles=SERVICE_ROLE)
    if way == "migrator":
        assert migrate(target(name, user=owner), options) == [s.id for s in status(target(name))]
    else:
        installed = psql_install(name, options, user=owner)
        assert installed.returncode == 0, installed.stderr
    with psycopg.connect(conninfo(name, user=owner), autocommit=True) as conn:
        assert (
            conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
            is False
        )
        conn.execute(
            "INSERT INTO achievements.badges (code, name, step, threshold) VALUES ('p', 'P', 'post', 1)"
        )
        conn.execute("CREATE TABLE posts (id int PRIMARY KEY, author uuid, body text)")
        conn.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
        conn.execute("INSERT INTO posts VALUES (1, '00000000-0000-0000-0000-000000000001', 'x')")
        assert conn.execute("SELECT achievements.backfill_badge('p')").fetchone()[0] == 0
        assert conn.execute("SELECT achievements.backfill_levels()").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM achievements.notifications").fetchone()[0] == 1
        conn.execute("DROP TABLE posts")
    every = [s.id for s in status(target(name))]
    assert rollback(target(name, user=owner), count=None, confirm=True) == every[::-1]


@pytest.mark.parametrize(
    ("id_type", "user", "other"),
    [
        ("bigint", 42, "9223372036854775808"),
        ("text", "user-42", ""),
    ],
)
def test_other_user_id_types(empty_database, id_type, user, other):
    name = empty_database()
    migrate(target(name), InstallOptions(user_id_type=id_type))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        assert (
            conn.execute("SELECT achievements.record_step(%s, 'post', 2)", (user,)).fetchone()[0]
            == 2
        )
        base = conn.execute(
            "SELECT format_type(typbasetype, NULL) FROM pg_type WHERE typname = 'user_ref'"
        ).fetchone()[0]
        assert base == id_type
        conn.execute("SELECT set_config('jwt.claims.user_id', %s, false)", (str(user),))
        assert conn.execute("SELECT achievements.current_user_id()").fetchone()[0] == user
        conn.execute("SELECT set_config('jwt.claims.user_id', %s, false)", (other,))
        assert conn.execute("SELECT achievements.current_user_id()").fetchone()[0] is None


def test_the_user_id_type_cannot_change_after_install(empty_database):
    name = empty_database()
    migrate(target(name))
    with pytest.raises(AchievementsError, match="installed with user id type uuid"):
        migrate(target(name), InstallOptions(user_id_type="bigint"))
    migrate(target(name), InstallOptions(user_id_type="uuid"))  # the same type is fine


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            InstallOptions(app_roles="no_such_role"),
            'role "no_such_role" named in achievements.app_roles does not exist',
        ),
        (
            InstallOptions(service_roles="ghost"),
            'role "ghost" named in achievements.service_roles does not exist',
        ),
        (InstallOptions(user_id_type="float"), 'unsupported user id type "float"'),
    ],
)
def test_bad_install_options_fail_clearly_and_install_nothing(empty_database, options, message):
    name = empty_database()
    with pytest.raises(AchievementsError) as err:
        migrate(target(name), options)
    assert message in str(err.value)
    assert "migration 0001_baseline failed" in str(err.value)
    assert snapshot(conninfo(name))["relation"] == []
    assert not any(s.applied for s in status(target(name)))


def test_a_role_list_limits_access_to_those_roles(empty_database):
    name = empty_database()
    migrate(target(name), InstallOptions(app_roles=APP_ROLE))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        ok = conn.execute(
            "SELECT has_schema_privilege(%s, 'achievements', 'USAGE'),"
            "       has_schema_privilege(%s, 'achievements', 'USAGE')",
            (APP_ROLE, SERVICE_ROLE),
        ).fetchone()
    assert ok == (True, False)


def test_the_cli_adopts_a_database_installed_from_the_single_file(empty_database):
    name = empty_database()
    assert psql_install(name).returncode == 0
    assert all(s.applied for s in status(target(name)))
    assert migrate(target(name)) == []  # adopted: nothing to apply, nothing applied twice
    assert all(s.applied for s in status(target(name)))
    newest = status(target(name))[-1].id
    assert rollback(target(name), confirm=True) == [newest]  # and the CLI can now roll it back


def test_a_database_with_migrations_this_version_does_not_ship_is_refused(empty_database):
    name = empty_database()
    migrate(target(name))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO achievements_private.applied_migrations (id) VALUES ('0099_future')"
        )
    with pytest.raises(
        AchievementsError, match="migrations this version does not ship: 0099_future"
    ):
        migrate(target(name))


def test_migrating_up_to_an_unknown_migration_is_refused(empty_database):
    name = empty_database()
    with pytest.raises(AchievementsError, match="unknown migration '0042_nothing'"):
        migrate(target(name), until="0042_nothing")
    assert not any(s.applied for s in status(target(name)))
