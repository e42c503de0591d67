"""squawk (PyPI squawk-cli) finds nothing in the migrations, with the project's .squawk.toml.
Skipped, saying so, where squawk is not installed."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from achievements_db.resources import migrations_dir

ROOT = Path(__file__).resolve().parents[2]


def squawk() -> str | None:
    beside = Path(sys.executable).parent / "squawk"
    return str(beside) if beside.exists() else shutil.which("squawk")


def test_squawk_finds_nothing_in_the_migrations():
    executable = squawk()
    if executable is None:
        pytest.skip("squawk is not installed (pip install squawk-cli, part of the test extras)")
    files = sorted(str(p) for p in migrations_dir().glob("*.sql"))
    result = subprocess.run(
        [executable, "--config", str(ROOT / ".squawk.toml"), "--reporter", "gcc", *files],
        capture_output=True,
        text=True,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
