"""The README's quickstart runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

from support.databases import conninfo

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart() -> str:
    text = README.read_text()
    section = text.split("## Quickstart", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_quickstart_runs_as_written(db_name, tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart())
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "DATABASE_URL": conninfo(db_name),
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (
        "Requirement(id=2, name='make_post', level='newbie', required_count=1, priority=2)"
        in result.stdout
    )
    assert "[('newbie',)]" in result.stdout
