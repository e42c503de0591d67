"""docs/python.md runs as written: each python block, as a script, against a database with the
page's catalog (badge first_post: step post, threshold 1, 10 points)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import environment, url
from support.databases import conninfo

PAGE = Path(__file__).resolve().parents[2] / "docs" / "python.md"


def blocks() -> list[tuple[str, str]]:
    """(heading, code) of each python block of the page."""
    found = []
    heading = ""
    for part in re.split(r"(^## [^\n]*$|```python\n.*?```)", PAGE.read_text(), flags=re.S | re.M):
        if part.startswith("## "):
            heading = part[3:].strip()
        elif part.startswith("```python"):
            found.append((heading, part[len("```python\n") : -3]))
    return found


def test_the_page_has_a_block_for_each_framework():
    headings = [h for h, _ in blocks()]
    for section in ("Who commits", "FastAPI (async pool)", "Django", "SQLAlchemy"):
        assert section in headings


@pytest.mark.parametrize(("heading", "code"), blocks(), ids=[h for h, _ in blocks()])
def test_the_block_runs_as_written(db_name, tmp_path, heading, code):
    import psycopg

    with psycopg.connect(conninfo(db_name), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO achievements.badges (code, name, step, threshold, points)"
            " VALUES ('first_post', 'First post', 'post', 1, 10)"
        )
    script = tmp_path / "block.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=environment(database=url(db_name)),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
