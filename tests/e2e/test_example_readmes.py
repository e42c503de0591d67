"""The examples' READMEs run as written: every `sh` block of examples/*/README.md, in order, in
one shell per README, from the repository root, with DATABASE_URL naming a fresh empty
database (so `achievements-db url` prints it), the installed achievements-db on PATH, and the
`pip install .` line left out (the package under test is installed already)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from achievements_db.demo import DATABASE
from support.databases import conninfo, drop_databases

ROOT = Path(__file__).parents[2]
READMES = sorted((ROOT / "examples").glob("*/README.md"))
# What each README's commands must print, beyond exiting 0: regular expressions.
ADA, BEN = "a0000000-0000-4000-8000-00000000000a", "b0000000-0000-4000-8000-00000000000b"
PRINTS = {
    "trackflow": [
        r"7 of 85 badge\(s\) earned",
        r"early_bird\s+Early Bird\s+3/3 login_streak\s+\d{4}-",  # across New York's DST change
        r"5/10 future_plans_added",  # Long Term Planner
        r"Leaderboard by points",  # the demo's report
        r"Rarest badges",
    ],
    "seed001": [
        r"create leaderboard quiz_correct/all",
        r"\bt\s*\|\s*f\b",  # the second tap claims nothing
        r"streak_3d\s+3-Day Streak\s+3/3 study_day\s+\d{4}-",  # Ada, across the DST change
        r"2 of 6 badge\(s\) earned",
        r"quiz_master_all\s+Quiz Grandmaster\s+1/1 quiz_all_providers\s+\d{4}-",  # Ben
        r"3 of 6 badge\(s\) earned",
        rf"1\s*\|\s*{BEN}\s*\|\s*3\s*\|\s*160",  # badge leaderboard
        rf"2\s*\|\s*{ADA}\s*\|\s*2\s*\|\s*60",
        rf"1\s*\|\s*{BEN}\s*\|\s*5\b",  # all-time score leaderboard
        rf"2\s*\|\s*{ADA}\s*\|\s*2\b",
    ],
}


def sh_blocks(readme: Path) -> str:
    blocks = re.findall(r"```sh\n(.*?)```", readme.read_text(), flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return "\n".join(line for line in lines if not line.startswith("pip install"))


@pytest.mark.skipif(shutil.which("psql") is None, reason="the READMEs load SQL with psql")
@pytest.mark.parametrize("readme", READMES, ids=[r.parent.name for r in READMES])
def test_the_readme_runs_as_written(readme, empty_database):
    script = sh_blocks(readme)
    assert "achievements-db" in script
    env = {
        **os.environ,
        "DATABASE_URL": conninfo(empty_database()),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "NO_COLOR": "1",
    }
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        drop_databases([DATABASE])  # made by achievements-db demo, on the same server
    assert result.returncode == 0, result.stderr[-3000:]
    for pattern in PRINTS[readme.parent.name]:
        assert re.search(pattern, result.stdout), (pattern, result.stdout[-3000:])
