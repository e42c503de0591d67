"""Installing through the migrator and through sql/achievements.sql."""

import threading

import psycopg
import pytest
from catalog import snapshot
from conftest import SERVICE_ROLE, TEMPLATE_OPTIONS, conninfo, target

from achievements_db import AchievementsError, migrate, rollback, status
from achievements_db.migrator import InstallOptions
from achievements_db.resources import sql_dir


def install_bundle(dbname: str, options: InstallOptions) -> None:
    with psycopg.connect(conninfo(dbname, options=_options(options)), autocommit=True) as conn:
        conn.execute((sql_dir() / "achievements.sql").read_text())


def _options(options: InstallOptions) -> str:
    return " ".join(f"-c {k}={v}" for k, v in options.settings().items())


@pytest.mark.parametrize("options", [
    TEMPLATE_OPTIONS,
    InstallOptions(),
    InstallOptions(user_id_type="bigint", app_roles="achievements_app"),
    InstallOptions(user_id_type="text", service_roles=SERVICE_ROLE),
])
def test_single_file_install_equals_running_every_migration(empty_database, options):
    by_migrations, by_file = empty_database(), empty_database()
    migrate(target(by_migrations), options)
    install_bundle(by_file, options)
    migrated, bundled = snapshot(conninfo(by_migrations)), snapshot(conninfo(by_file))
    assert sum(len(v) for v in migrated.values()) > 50
    for kind in migrated:
        assert bundled[kind] == migrated[kind], kind


def test_the_single_file_refuses_an_installed_database(empty_database):
    name = empty_database()
    migrate(target(name))
    with pytest.raises(psycopg.Error) as err:
        install_bundle(name, InstallOptions())
    assert err.value.sqlstate == "AD006"
    assert "already installed" in str(err.value)


def test_migrate_twice_changes_nothing(empty_database):
    name = empty_database()
    first = migrate(target(name))
    before = snapshot(conninfo(name))
    assert first and migrate(target(name)) == []
    assert snapshot(conninfo(name)) == before
    assert all(s.applied for s in status(target(name)))


def test_concurrent_migrates_apply_everything_exactly_once(empty_database):
    name = empty_database()
    results, errors = [], []
    barrier = threading.Barrier(6)

    def run():
        try:
            barrier.wait()
            results.append(migrate(target(name)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    applied = [m for r in results for m in r]
    assert sorted(applied) == sorted(s.id for s in status(target(name)))
    assert sum(1 for r in results if r) == 1


def test_rollback_all_removes_everything_and_migrate_reinstalls(empty_database):
    name = empty_database()
    migrate(target(name))
    every = [s.id for s in status(target(name))]
    assert rollback(target(name), count=None) == list(reversed(every))
    assert snapshot(conninfo(name))["relation"] == []
    assert not any(s.applied for s in status(target(name)))
    assert migrate(target(name)) == every


def test_rollback_one_at_a_time_then_forward_again(empty_database):
    name = empty_database()
    migrate(target(name))
    every = [s.id for s in status(target(name))]
    for expected in reversed(every):
        assert rollback(target(name)) == [expected]
    assert rollback(target(name)) == []
    assert migrate(target(name)) == every


@pytest.mark.parametrize(("id_type", "user", "other"), [
    ("bigint", 42, "9223372036854775808"),
    ("text", "user-42", ""),
])
def test_other_user_id_types(empty_database, id_type, user, other):
    name = empty_database()
    migrate(target(name), InstallOptions(user_id_type=id_type))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        assert conn.execute("SELECT achievements.record_step(%s, 'post', 2)", (user,)).fetchone()[0] == 2
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


@pytest.mark.parametrize(("options", "message"), [
    (InstallOptions(app_roles="no_such_role"), 'role "no_such_role" named in achievements.app_roles does not exist'),
    (InstallOptions(service_roles="ghost"), 'role "ghost" named in achievements.service_roles does not exist'),
    (InstallOptions(user_id_type="float"), 'unsupported user id type "float"'),
])
def test_bad_install_options_fail_clearly_and_install_nothing(empty_database, options, message):
    name = empty_database()
    with pytest.raises(AchievementsError) as err:
        migrate(target(name), options)
    assert message in str(err.value)
    assert "migration 0001_foundation failed" in str(err.value)
    assert snapshot(conninfo(name))["relation"] == []
    assert not any(s.applied for s in status(target(name)))


def test_a_role_list_limits_access_to_those_roles(empty_database):
    name = empty_database()
    migrate(target(name), InstallOptions(app_roles="achievements_app"))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        ok = conn.execute(
            "SELECT has_schema_privilege('achievements_app', 'achievements', 'USAGE'),"
            "       has_schema_privilege('achievements_service', 'achievements', 'USAGE')"
        ).fetchone()
    assert ok == (True, False)


def test_the_cli_adopts_a_database_installed_from_the_single_file(empty_database):
    name = empty_database()
    install_bundle(name, InstallOptions())
    assert not any(s.applied for s in status(target(name)))
    assert migrate(target(name)) == []  # adopted: nothing to apply, nothing applied twice
    assert all(s.applied for s in status(target(name)))
    assert rollback(target(name))  # and the CLI can now roll it back


def test_rollback_refuses_while_application_objects_depend_on_it(empty_database):
    name = empty_database()
    migrate(target(name))
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute("CREATE VIEW public.top AS SELECT * FROM achievements.user_levels")
    with pytest.raises(AchievementsError) as err:
        rollback(target(name), count=None)
    assert "rollback of 0004_user_levels failed" in str(err.value)
    assert "depend" in str(err.value)
    # Each migration is one transaction: the database stops, whole, at 0004.
    applied = [s.id for s in status(target(name)) if s.applied]
    assert applied[-1] == "0004_user_levels"
    with psycopg.connect(conninfo(name)) as conn:
        assert conn.execute("SELECT count(*) FROM public.top").fetchone()[0] == 0
        installed = [r[0] for r in conn.execute(
            "SELECT id FROM achievements_private.applied_migrations ORDER BY id").fetchall()]
    assert installed == applied
