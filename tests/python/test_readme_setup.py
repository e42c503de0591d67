"""The README's set-up commands run as written, in a fresh virtualenv, as a normal user (not
root): a copy of this checkout, `python3 -m venv ... && pip install .` from the package index,
then `achievements-db migrate` on the embedded PostgreSQL. It installs from the index, so it is
run where ACHIEVEMENTS_TEST_SETUP names the user to run it as (.ci/run sets it once); as root,
that user must exist."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
USER = os.environ.get("ACHIEVEMENTS_TEST_SETUP", "")


def set_up_commands() -> str:
    section = README.read_text().split("## Set up and run (fresh machine)", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(not USER, reason="set ACHIEVEMENTS_TEST_SETUP=USER to run it (.ci/run does)")
def test_the_set_up_commands_run_as_written_as_a_normal_user():
    is_root = os.geteuid() == 0
    if is_root and (USER == "root" or not _exists(USER)):
        pytest.fail(
            f"ACHIEVEMENTS_TEST_SETUP={USER}: as root, name an existing user other than root"
        )
    home = Path(tempfile.mkdtemp(prefix="achievements-setup-"))
    home.chmod(0o755)
    clone = home / "achievements-db"
    shutil.copytree(
        ROOT,
        clone,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist"
        ),
    )
    script = home / "set-up.sh"
    script.write_text(
        f"set -eu\nexport HOME={home}\ncd {clone}\n"
        + set_up_commands()
        + "achievements-db url\nachievements-db stop\n"
    )
    if is_root:
        entry = pwd.getpwnam(USER)
        for path in [home, *home.rglob("*")]:
            os.lchown(path, entry.pw_uid, entry.pw_gid)
        command = ["su", USER, "-s", "/bin/bash", "-c", f"bash {script}"]
    else:
        command = ["bash", str(script)]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "VIRTUAL_ENV", "PG"))
    }
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "applied 0001_baseline" in result.stdout
        assert f"database: embedded PostgreSQL in {home}/.local/share/achievements-db/pgdata" in (
            result.stderr
        )
        assert "postgresql://postgres@/postgres?host=" in result.stdout
        assert "stopped embedded PostgreSQL" in result.stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True
