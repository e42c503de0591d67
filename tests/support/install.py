"""Installing achievements-db the ways users do: the migrator, and psql on sql/achievements.sql."""

from __future__ import annotations

import os
import subprocess

from achievements_db.migrator import InstallOptions
from achievements_db.resources import sql_dir
from support.databases import CLUSTER, conninfo


def options_string(options: InstallOptions) -> str:
    return options.pgoptions()


def psql_install(
    dbname: str, options: InstallOptions | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `psql -v ON_ERROR_STOP=1 -f sql/achievements.sql` as the README shows, with the
    install options in PGOPTIONS, as `user` (default: the superuser); returns the finished run."""
    extra = {"user": user} if user else {}
    env = {**os.environ, "PGOPTIONS": options_string(options or InstallOptions())}
    return subprocess.run(
        [
            str(CLUSTER.bindir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            conninfo(dbname, **extra),
            "-f",
            str(sql_dir() / "achievements.sql"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
