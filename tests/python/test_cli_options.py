"""The installed achievements-db command: global options before and after the command,
--version, -q, DATABASE_URL set but empty, --help of every command, status --exit-code and
--json, and the message on a database that was never migrated."""

from __future__ import annotations

import json
import re

import pytest

from achievements_db import __version__
from achievements_db.cli import build_parser
from support.cli import cli, url


def test_global_options_work_before_and_after_the_command(empty_database):
    name = empty_database()
    after = cli("migrate", "--database-url", url(name), "--connect-timeout", "5")
    assert after.returncode == 0, after.stderr
    assert "applied 0001_baseline" in after.stdout
    before = cli("--database-url", url(name), "status")
    assert before.returncode == 0 and " 0 pending" in before.stdout
    nested = cli("catalog", "apply", "--database-url", url(name), "/nonexistent.toml")
    assert nested.returncode == 1 and "cannot read /nonexistent.toml" in nested.stderr


def test_quiet_prints_no_database_line(empty_database):
    name = empty_database()
    loud = cli("status", database=url(name))
    assert loud.stderr.startswith("database: postgresql://postgres@127.0.0.1:")
    for args in (["-q", "status"], ["status", "-q"], ["status", "--quiet"]):
        quiet = cli(*args, database=url(name))
        assert quiet.returncode == 0
        assert quiet.stderr == "", args
        assert quiet.stdout == loud.stdout


def test_version():
    for args in (["--version"], ["status", "--version"]):
        result = cli(*args)
        assert (result.returncode, result.stdout) == (0, f"achievements-db {__version__}\n")


@pytest.mark.parametrize("args", [[], ["--database-url", ""]])
def test_an_empty_database_url_is_an_error_not_the_embedded_server(args):
    result = cli(*args, "status", database="" if not args else None)
    assert result.returncode == 1
    source = "--database-url" if args else "DATABASE_URL"
    assert result.stderr.splitlines() == [
        f"achievements-db: error: {source} is empty: give a connection string "
        "(postgresql://user@host:port/dbname), or leave it unset to use the embedded PostgreSQL"
    ]


def test_status_exit_code_and_json(empty_database):
    name = empty_database()
    pending = cli("status", "--exit-code", database=url(name))
    assert pending.returncode == 3
    assert pending.stdout.splitlines()[0] == "pending  0001_baseline"
    assert "achievements-db is not installed here: run `achievements-db migrate`" in pending.stderr
    as_json = json.loads(cli("status", "--json", database=url(name)).stdout)
    assert as_json["applied"] == [] and as_json["pending"][0] == "0001_baseline"
    assert cli("migrate", database=url(name)).returncode == 0
    done = cli("status", "--exit-code", "--json", database=url(name))
    assert done.returncode == 0
    as_json = json.loads(done.stdout)
    assert as_json["pending"] == [] and as_json["applied"][0] == "0001_baseline"
    assert all(m["applied"] for m in as_json["migrations"])


@pytest.mark.parametrize(
    "args",
    [
        ["progress", "42"],
        ["award", "42", "first"],
        ["record", "42", "song"],
        ["leaderboard"],
        ["listen", "--timeout", "1"],
    ],
)
def test_a_database_never_migrated_says_to_run_migrate(empty_database, args):
    name = empty_database()
    result = cli(*args, database=url(name))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"achievements-db: error: achievements-db is not installed in {url(name)}: "
        "run `achievements-db migrate` first"
    )


def _commands() -> list[list[str]]:
    parser = build_parser()
    found = []

    def walk(p, path):
        subs = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            found.append(path)
        for sub in subs:
            for name, child in sub.choices.items():
                walk(child, [*path, name])

    walk(parser, [])
    return found


def test_every_command_is_listed():
    assert sorted(" ".join(c) for c in _commands()) == [
        "award",
        "bench",
        "catalog apply",
        "demo",
        "leaderboard",
        "listen",
        "migrate",
        "progress",
        "record",
        "rollback",
        "status",
        "stop",
        "url",
    ]


@pytest.mark.parametrize("command", [*_commands(), ["catalog"]], ids=" ".join)
def test_every_command_help_has_a_summary_arguments_environment_and_an_example(command):
    result = cli(*command, "--help")
    assert result.returncode == 0
    text = result.stdout
    summary = text.split("\n\n")[1]
    assert summary.count("\n") == 0 and summary.endswith("."), summary
    assert "environment:\n  DATABASE_URL" in text and "ACHIEVEMENTS_DB_HOME" in text
    assert "the embedded PostgreSQL ignores them" in text
    assert re.search(rf"\nexamples?:\n  achievements-db {' '.join(command)}", text) or (
        command == ["url"] and '  psql "$(achievements-db url)"' in text
    )
    positionals = text.split("positional arguments:\n", 1)
    if len(positionals) == 2:
        for line in positionals[1].split("\n\n")[0].splitlines():
            if line.startswith("  ") and not line.startswith("   "):
                assert len(line.split()) > 1, f"no help for {line.strip()}"
    assert "--database-url URL" in text and "-q, --quiet" in text
