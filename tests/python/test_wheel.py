"""The built wheel carries migrations/ (with the release manifest), every file of sql/ and the\npy.typed marker."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_the_sql(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("achievements_db-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = sorted(p.name for p in (ROOT / "migrations").glob("*.sql"))
    for name in migrations:
        assert f"achievements_db/_data/migrations/{name}" in names
    for path in (ROOT / "sql").rglob("*.sql"):
        assert f"achievements_db/_data/sql/{path.relative_to(ROOT / 'sql').as_posix()}" in names
    assert "achievements_db/_data/migrations/released.toml" in names
    assert "achievements_db/py.typed" in names
    assert any(n.endswith("entry_points.txt") for n in names)
