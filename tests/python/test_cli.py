"""The achievements-db command, run as a user runs it: a subprocess."""

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from achievements_db import embedded
from achievements_db.conninfo import describe, parse_conninfo
from achievements_db.database import connect_timeout
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


def test_rollback_asks_before_it_deletes_rows_and_needs_yes_without_a_terminal(empty_database):
    name = empty_database()
    assert cli("migrate", database=url(name)).returncode == 0
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        conn.execute("SELECT achievements.record_step(gen_random_uuid(), 'post', 3)")
    refused = cli("rollback", "--all", database=url(name))  # stdin is not a terminal here
    assert refused.returncode == 1
    assert "this rollback deletes:" in refused.stderr
    assert "1 rows of achievements.user_achievements" in refused.stderr
    assert (
        "nothing was changed: confirm to go on (achievements-db rollback --yes)" in refused.stderr
    )
    assert "0 pending" in cli("status", database=url(name)).stdout
    done = cli("rollback", "--all", "--yes", database=url(name))
    assert done.returncode == 0, done.stderr
    assert "1 rows of achievements_private.recorded_steps" in done.stderr
    assert "rolled back 0001_baseline" in done.stdout


@pytest.mark.parametrize("count", ["0", "-1", "-3", "two"])
def test_rollback_refuses_a_count_below_one(empty_database, count):
    name = empty_database()
    assert cli("migrate", database=url(name)).returncode == 0
    result = cli("rollback", f"--count={count}", database=url(name))
    assert result.returncode == 2
    assert "must be a whole number of 1 or more" in result.stderr
    assert "0 pending" in cli("status", database=url(name)).stdout


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
        # Nor the migrations' bookkeeping: the database is as it was (before, it stayed).
        assert (
            conn.execute("SELECT to_regnamespace('achievements_migrations')").fetchone()[0] is None
        )
    assert cli("migrate", database=url(name)).returncode == 0


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in accepted:
        conn.close()


@pytest.mark.parametrize(
    ("args", "env", "seconds"),
    [
        (["--connect-timeout", "1"], {}, 1),
        ([], {"PGCONNECT_TIMEOUT": "2"}, 2),
    ],
)
def test_a_server_that_never_answers_is_named_after_the_timeout(silent_server, args, env, seconds):
    """Before, the command hung forever. It waits --connect-timeout (else PGCONNECT_TIMEOUT,
    else the URL's connect_timeout, else 10 s) and names the server."""
    database = f"postgresql://someone@127.0.0.1:{silent_server}/app"
    result = cli(*args, "status", database=database, env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"achievements-db: error: {database} did not answer within {seconds} s"
        " (a longer wait: --connect-timeout SECONDS, or PGCONNECT_TIMEOUT)"
    )


def test_the_connect_timeout_defaults_to_ten_seconds_unless_the_url_or_libpq_say(monkeypatch):
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert connect_timeout("host=db dbname=app") == 10
    assert connect_timeout("postgresql://db/app?connect_timeout=3") is None
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "4")
    assert connect_timeout("host=db dbname=app") is None


def test_a_catalog_file_that_is_not_utf8_is_one_line(empty_database, tmp_path):
    name = empty_database()
    catalog = tmp_path / "catalog.toml"
    catalog.write_bytes('[badges.caf\xe9]\nname = "Caf\xe9"\n'.encode("latin-1"))
    result = cli("catalog", "apply", str(catalog), database=url(name))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"achievements-db: error: {catalog} is not UTF-8 text (byte 0xe9 at offset 11);"
        " TOML files are UTF-8: save it as UTF-8"
    )


def test_changing_the_user_id_type_is_refused(empty_database):
    name = empty_database()
    assert cli("migrate", "--user-id-type", "bigint", database=url(name)).returncode == 0
    result = cli("migrate", "--user-id-type", "text", database=url(name))
    assert result.returncode == 1
    assert "installed with user id type bigint; it cannot change to text" in result.stderr


def test_describe_hides_the_password_and_gives_a_url_psql_takes():
    assert describe(parse_conninfo("postgresql://me:secret@db.example:6543/app")) == (
        "postgresql://me@db.example:6543/app"
    )
    assert describe(parse_conninfo("host=/run/postgresql port=5433 user=me dbname=app")) == (
        "postgresql://me@/app?host=/run/postgresql&port=5433"
    )


def test_without_a_database_it_uses_the_embedded_server():
    """libpq's PG* variables play no part in the embedded server (they pointed it at another
    port before), and its connection string is one psql takes."""
    # A folder every user may enter: as root, PostgreSQL runs as another system user.
    home = Path(tempfile.mkdtemp(prefix="achievements-home-"))
    home.chmod(0o755)
    libpq = {"PGPORT": "1", "PGHOST": "/nonexistent", "PGUSER": "nobody", "PGDATABASE": "nowhere"}
    env = {"ACHIEVEMENTS_DB_HOME": str(home), **libpq}
    try:
        result = cli("migrate", env=env)
        assert result.returncode == 0, result.stderr
        assert f"database: embedded PostgreSQL in {home / 'pgdata'}" in result.stderr
        assert "applied 0001_baseline" in result.stdout
        embedded = cli("url", env=env).stdout.strip()
        assert embedded.startswith("postgresql://postgres@/postgres?host=/")
        assert f"({embedded}" in result.stderr  # the database: line names the same URL
        port = int(embedded.rsplit("port=", 1)[1])
        assert port != 1
        with psycopg.connect(embedded) as conn:
            assert (
                conn.execute(
                    "SELECT achievements.record_step(gen_random_uuid(), 'post')"
                ).fetchone()[0]
                == 1
            )
        if shutil.which("psql"):
            pasted = subprocess.run(
                ["psql", embedded, "-Atc", "SELECT count(*) FROM achievements.user_achievements"],
                capture_output=True,
                text=True,
                env={**os.environ, **libpq},
            )
            assert (pasted.returncode, pasted.stdout) == (0, "1\n"), pasted.stderr
        assert "up to date" in cli("migrate", env=env).stdout
    finally:
        stopped = cli("stop", env=env)
    assert stopped.returncode == 0 and "stopped embedded PostgreSQL" in stopped.stdout
    assert "not running" in cli("stop", env=env).stdout
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the embedded server changes nothing for other users")
def test_as_root_a_data_folder_others_cannot_enter_is_refused_and_left_alone(tmp_path):
    closed = tmp_path / "private"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    result = cli("migrate", env={"ACHIEVEMENTS_DB_HOME": str(closed / "home")})
    assert result.returncode == 1
    assert "as root, the embedded PostgreSQL runs as the system user 'pgserver'" in result.stderr
    assert f"{closed} is not open to other users (mode 0700)" in result.stderr
    assert (
        "Leave ACHIEVEMENTS_DB_HOME unset (as root the data lives in /var/lib/achievements-db)"
        in result.stderr
    )
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700
    assert not (closed / "home").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_as_root_binaries_out_of_reach_are_copied_into_the_package_folder(tmp_path, monkeypatch):
    closed = tmp_path / "venv"
    (closed / "pginstall" / "bin").mkdir(parents=True)
    (closed / "pginstall" / "bin" / "postgres").write_text("#!/bin/sh\n")
    (closed / "pginstall" / "lib").mkdir()
    closed.chmod(0o700)
    ours = Path(tempfile.mkdtemp(prefix="achievements-root-home-")) / "achievements-db"
    ours.parent.chmod(0o755)
    monkeypatch.setattr(embedded, "ROOT_HOME", ours)
    commands, server = SimpleNamespace(), SimpleNamespace()
    commands.POSTGRES_BIN_PATH = server.POSTGRES_BIN_PATH = closed / "pginstall" / "bin"
    embedded._prepare_as_root(ours / "pgdata", commands, server)
    copy = commands.POSTGRES_BIN_PATH
    assert copy == server.POSTGRES_BIN_PATH and copy.parent.parent == ours
    assert (copy / "postgres").read_text() == "#!/bin/sh\n" and (copy.parent / "lib").is_dir()
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700
    assert stat.S_IMODE(ours.stat().st_mode) == 0o755
    shutil.rmtree(ours.parent)
