"""The embedded PostgreSQL (pgserver) used when no database is given.

It lives in a per-user data directory (ACHIEVEMENTS_DB_HOME overrides it) and keeps running
after the command exits, so that psql "$(achievements-db url)" can reach it.
"""

from __future__ import annotations

import os
import signal
import time
import warnings
from pathlib import Path

import platformdirs

from achievements_db.conninfo import Target, describe, parse_conninfo
from achievements_db.errors import AchievementsError


def data_dir() -> Path:
    """Where the embedded cluster keeps its files."""
    home = os.environ.get("ACHIEVEMENTS_DB_HOME")
    base = Path(home) if home else platformdirs.user_data_path("achievements-db")
    return base / "pgdata"


def start_embedded() -> Target:
    """Starts the embedded server if it is not running and returns how to reach it."""
    try:
        with warnings.catch_warnings():
            # pgserver computes a runtime dir at import; without XDG_RUNTIME_DIR it warns.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server
    except ImportError:  # pragma: no cover - pgserver is a dependency
        raise AchievementsError(
            "no database given and pgserver is not installed; "
            "pass --database-url or set DATABASE_URL"
        ) from None
    pgdata = data_dir()
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises plain exceptions with the server's log
        raise AchievementsError(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc}"
        ) from None
    uri = server.get_uri()
    return Target(
        conninfo=uri,
        description=f"embedded PostgreSQL in {pgdata} ({describe(parse_conninfo(uri))})",
    )


def stop_embedded(timeout: float = 30.0) -> bool:
    """Stops the embedded server (fast shutdown); False when it was not running."""
    pid_file = data_dir() / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while pid_file.exists():
        if time.monotonic() > deadline:
            raise AchievementsError(
                f"the embedded PostgreSQL (pid {pid}) did not stop in {timeout:.0f} s"
            )
        time.sleep(0.1)
    return True
