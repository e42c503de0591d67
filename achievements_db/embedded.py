"""The embedded PostgreSQL (pgserver) used when no database is given.

It lives in a per-user data directory (ACHIEVEMENTS_DB_HOME overrides it) and keeps running
after the command exits, so that psql "$(achievements-db url)" can reach it.

As root: PostgreSQL refuses to run as root, so pgserver runs it as the system user `pgserver`
(created if missing), which must be able to reach the data directory and the binaries. The
data then lives in /var/lib/achievements-db, a folder of the package's own; when pgserver's
binaries sit under a folder other users cannot enter, a copy of them is kept there too. No
permission of a folder the package does not own is changed: a data directory (from
ACHIEVEMENTS_DB_HOME) under a folder other users cannot enter is refused with the reason.

libpq's PG* variables (PGHOST, PGPORT, PGUSER, PGDATABASE, ...) play no part here: the server is
started without them and its connection string names its socket folder, port, user and
database, so it is the same whatever the environment holds.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import platformdirs

from achievements_db.conninfo import Target, url
from achievements_db.errors import AchievementsError

ROOT_HOME = Path("/var/lib/achievements-db")
SYSTEM_USER = "pgserver"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def data_dir() -> Path:
    """Where the embedded cluster keeps its files."""
    home = os.environ.get("ACHIEVEMENTS_DB_HOME")
    if home:
        base = Path(home)
    elif _is_root():
        base = ROOT_HOME
    else:
        base = platformdirs.user_data_path("achievements-db")
    return base / "pgdata"


# What pgserver, as root, adds to every folder on the way to the data and the binaries.
_OPEN = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def closed_folder(path: Path) -> Path | None:
    """The nearest existing folder on the way to `path` (itself included) that is not open to
    other users (read and enter, for group and others), or None."""
    for folder in [path, *path.parents]:
        if folder.exists() and folder.stat().st_mode & _OPEN != _OPEN:
            return folder
    return None


def _modules() -> tuple[Any, Any]:
    try:
        with warnings.catch_warnings():
            # pgserver computes a runtime dir at import; without XDG_RUNTIME_DIR it warns.
            warnings.simplefilter("ignore")
            from pgserver import _commands, postgres_server
    except ImportError:  # pragma: no cover - pgserver is a dependency
        raise AchievementsError(
            "no database given and pgserver is not installed; "
            "pass --database-url or set DATABASE_URL"
        ) from None
    return _commands, postgres_server


def _prepare_as_root(pgdata: Path, commands: Any, server: Any) -> None:
    """Makes sure the system user can reach the data and the binaries without changing a folder
    the package does not own; AchievementsError when it cannot."""
    closed = closed_folder(pgdata.parent)
    if closed is not None and not closed.is_relative_to(ROOT_HOME):
        raise AchievementsError(
            f"as root, the embedded PostgreSQL runs as the system user {SYSTEM_USER!r}, which "
            f"cannot reach {pgdata}: {closed} is not open to other users (mode "
            f"{stat.S_IMODE(closed.stat().st_mode):04o}), and achievements-db does not change "
            "folders it does not own. Leave ACHIEVEMENTS_DB_HOME unset (as root the data lives "
            f"in {ROOT_HOME}), point it at a folder other users can enter, or pass --database-url"
        )
    ROOT_HOME.mkdir(mode=0o755, parents=True, exist_ok=True)
    ROOT_HOME.chmod(0o755)
    binaries = Path(commands.POSTGRES_BIN_PATH)
    if closed_folder(binaries.parent.parent) is None:
        return
    # pgserver's binaries are out of the system user's reach: use a copy in our own folder.
    copy = ROOT_HOME / f"pginstall-{version('pgserver')}"
    if not (copy / "bin" / "postgres").exists():
        staging = ROOT_HOME / f".{copy.name}-{os.getpid()}"
        shutil.copytree(binaries.parent, staging, symlinks=True)
        staging.rename(copy)
    for module in (commands, server):  # pgserver reads the path from these two modules
        module.POSTGRES_BIN_PATH = copy / "bin"


def start_embedded() -> Target:
    """Starts the embedded server if it is not running and returns how to reach it."""
    commands, server_module = _modules()
    pgdata = data_dir()
    if _is_root():
        _prepare_as_root(pgdata, commands, server_module)
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        with _without_libpq_variables():
            server = server_module.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises plain exceptions with the server's log
        raise AchievementsError(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc}"
        ) from None
    info = server.get_postmaster_info()
    conninfo = url(
        user=USER, host=str(info.socket_dir), port=str(info.port or 5432), dbname=DATABASE
    )
    runs_as = f", run as system user {SYSTEM_USER!r}" if _is_root() else ""
    return Target(
        conninfo=conninfo,
        description=f"embedded PostgreSQL in {pgdata} ({conninfo}{runs_as})",
    )


USER = DATABASE = "postgres"


@contextmanager
def _without_libpq_variables() -> Iterator[None]:
    """os.environ without libpq's PG* variables for the block (the server pgserver starts
    would take its port from PGPORT)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("PG")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


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
