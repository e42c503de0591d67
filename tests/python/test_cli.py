"""The achievements-db command, run as a user runs it: a subprocess."""

import os
import subprocess
import sys

import psycopg
import pytest

from achievements_db.database import describe, parse_conninfo
from support.databases import conninfo


def cli(*args, env=None, database=None):
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database:
        environ["DATABASE_URL"] = database
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "achievements_db.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )


def url(dbname):
    p = parse_conninfo(conninfo(dbname))
    return f"postgresql://{p['user']}@{p['host']}:{p['port']}/{dbname}"


def test_migrate_status_rollback(empty_database):
    name = empty_database()
    result = cli("migrate", database=url(name))
    assert result.returncode == 0, result.stderr
    assert "applied 0001_baseline" in result.stdout
    assert "database: postgresql://postgres@127.0.0.1:" in result.stderr
    again = cli("--database-url", url(name), "migrate")
    assert again.returncode == 0 and "up to date" in again.stdout
    status = cli("status", database=url(name))
    assert "applied  0001_baseline" in status.stdout and " 0 pending" in status.stdout
    back = cli("rollback", database=url(name))
    assert back.returncode == 0 and "rolled back" in back.stdout
    assert "pending" in cli("status", database=url(name)).stdout
    everything = cli("rollback", "--all", database=url(name))
    assert everything.returncode == 0
    with psycopg.connect(conninfo(name)) as conn:
        assert conn.execute("SELECT to_regnamespace('achievements')").fetchone()[0] is None


def test_sqlalchemy_style_urls_are_accepted(empty_database):
    name = empty_database()
    plus = url(name).replace("postgresql://", "postgresql+psycopg://")
    assert cli("migrate", database=plus).returncode == 0


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("mysql://localhost/db", "database URL has scheme 'mysql'"),
        ("postgresql://localhost:notaport/db", "invalid database URL"),
        (
            "postgresql://postgres@127.0.0.1:1/nodb",
            "cannot connect to postgresql://postgres@127.0.0.1:1/nodb",
        ),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(database, message):
    result = cli("migrate", database=database)
    assert result.returncode == 1
    error_lines = [
        line for line in result.stderr.splitlines() if line.startswith("achievements-db: error")
    ]
    assert len(error_lines) == 1 and message in error_lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_failed_migration_is_one_line_and_applies_nothing(empty_database):
    name = empty_database()
    result = cli("migrate", "--app-roles", "nobody_here", database=url(name))
    assert result.returncode == 1
    assert 'migration 0001_baseline failed: role "nobody_here"' in result.stderr
    assert "(hint: Create the role first" in result.stderr
    with psycopg.connect(conninfo(name)) as conn:
        assert conn.execute("SELECT to_regnamespace('achievements')").fetchone()[0] is None


def test_changing_the_user_id_type_is_refused(empty_database):
    name = empty_database()
    assert cli("migrate", "--user-id-type", "bigint", database=url(name)).returncode == 0
    result = cli("migrate", "--user-id-type", "text", database=url(name))
    assert result.returncode == 1
    assert "installed with user id type bigint; it cannot change to text" in result.stderr


def test_describe_hides_the_password():
    assert describe(parse_conninfo("postgresql://me:secret@db.example:6543/app")) == (
        "postgresql://me@db.example:6543/app"
    )


def test_without_a_database_it_uses_the_embedded_server(tmp_path):
    home = tmp_path / "home"
    env = {"ACHIEVEMENTS_DB_HOME": str(home)}
    try:
        result = cli("migrate", env=env)
        assert result.returncode == 0, result.stderr
        assert f"database: embedded PostgreSQL in {home / 'pgdata'}" in result.stderr
        assert "applied 0001_baseline" in result.stdout
        embedded = cli("url", env=env).stdout.strip()
        with psycopg.connect(embedded) as conn:
            assert (
                conn.execute(
                    "SELECT achievements.record_step(gen_random_uuid(), 'post')"
                ).fetchone()[0]
                == 1
            )
        assert "up to date" in cli("migrate", env=env).stdout
    finally:
        stopped = cli("stop", env=env)
    assert stopped.returncode == 0 and "stopped embedded PostgreSQL" in stopped.stdout
    assert "not running" in cli("stop", env=env).stdout
