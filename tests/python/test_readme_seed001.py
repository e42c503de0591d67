"""examples/seed001/README.md runs as written: its shell blocks, in order, in one bash from the
repository's root, against a fresh empty database (DATABASE_URL), with `achievements-db` the
command of this checkout and `psql` of the test cluster. Only `pip install .` is left out (the
test runs in the package's own environment)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support.databases import CLUSTER, conninfo

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "examples" / "seed001" / "README.md"
ADA, BEN = "a0000000-0000-4000-8000-00000000000a", "b0000000-0000-4000-8000-00000000000b"


def shell_blocks() -> list[str]:
    section = README.read_text().split("## Changing the providers", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_walk_through_runs_as_written(empty_database, tmp_path):
    blocks = shell_blocks()
    assert blocks[0].strip() == "pip install ."
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    command = bin_dir / "achievements-db"
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m achievements_db.cli "$@"\n')
    command.chmod(0o755)
    env = {
        **os.environ,
        "DATABASE_URL": conninfo(empty_database()),
        "PATH": f"{bin_dir}{os.pathsep}{CLUSTER.bindir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    script = "set -eu\n" + "".join(blocks[1:])
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    for created in (
        "create step study_day",
        "create step quiz_correct",
        "create step quiz_all_providers",
        "create badge quiz_master_all",
        "create leaderboard quiz_correct/all",
    ):
        assert created in out, out
    assert re.search(r"\bt\s*\|\s*f\b", out), out  # the two taps
    # achievements-db progress, Ada then Ben.
    ada, ben = out.split("2 of 6 badge(s) earned", 1)
    assert re.search(r"streak_3d\s+3-Day Streak\s+3/3 study_day\s+\d{4}-", ada), out
    assert re.search(r"quiz_master_all\s+Quiz Grandmaster\s+0/1 quiz_all_providers\n", ada), out
    assert "3 of 6 badge(s) earned" in ben
    assert re.search(
        r"quiz_master_all\s+Quiz Grandmaster\s+1/1 quiz_all_providers\s+\d{4}-", ben
    ), out
    assert re.search(r"streak_3d\s+3-Day Streak\s+2/3 study_day\n", ben), out
    # The leaderboards: points (CLI), badges, all-time score; Ben's streak.
    assert re.search(rf"1\s*\|\s*{BEN}\s*\|\s*3\s*\|\s*160", out), out
    assert re.search(rf"2\s*\|\s*{ADA}\s*\|\s*2\s*\|\s*60", out), out
    assert re.search(rf"1\s*\|\s*{BEN}\s*\|\s*5\b", out), out
    assert re.search(rf"2\s*\|\s*{ADA}\s*\|\s*2\b", out), out
    assert re.search(r"study_day\s*\|\s*2\s*\|\s*2\s*\|\s*f", out), out
