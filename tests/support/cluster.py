"""A throwaway PostgreSQL cluster for the test session.

Binaries: $ACHIEVEMENTS_TEST_PG_BINDIR, else the pg_ctl on PATH, else pgserver's bundled ones,
so the suite runs on a machine without PostgreSQL. initdb refuses to run as root: as root, the
cluster runs as an unprivileged system user (created if missing), as pgserver itself does.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "achievements_pg"


def pg_bindir() -> Path:
    configured = os.environ.get("ACHIEVEMENTS_TEST_PG_BINDIR")
    if configured:
        return Path(configured)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(os.path.realpath(pg_ctl)).parent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    bindir: Path
    datadir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"

    def _run(self, *args: str) -> None:
        demote = None
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam(SERVICE_USER)

            def demote() -> None:  # runs in the child, before exec
                os.setgid(entry.pw_gid)
                os.setuid(entry.pw_uid)

        result = subprocess.run(
            args, preexec_fn=demote, capture_output=True, text=True, cwd=self.datadir.parent
        )
        if result.returncode != 0:
            log = self.datadir / "server.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}{tail}")

    def start(self) -> None:
        if os.geteuid() == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from pgserver.utils import ensure_prefix_permissions, ensure_user_exists
            # Test processes start at once under pytest-xdist: one creates the user at a time.
            with open(Path(tempfile.gettempdir()) / "achievements-test-user.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                ensure_user_exists(SERVICE_USER)
            ensure_prefix_permissions(self.bindir)
            import pwd

            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        # The free port found may be taken before the server binds it (by another worker's
        # server, or as the local port of some connection): then try another one.
        for attempt in range(5):
            settings = (
                f"-p {self.port} -k {self.datadir} -c listen_addresses={self.host} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=120 -c shared_buffers=256MB"
            )
            try:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.datadir / "server.log"),
                    "-o",
                    settings,
                    "-w",
                    "start",
                )
                return
            except RuntimeError as failed:
                if "Address already in use" not in str(failed) or attempt == 4:
                    raise
                (self.datadir / "server.log").unlink(missing_ok=True)
                self.port = free_port()

    def stop(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"
        )
        shutil.rmtree(self.datadir, ignore_errors=True)


def new_cluster() -> Cluster:
    datadir = Path(tempfile.mkdtemp(prefix="achievements-test-")) / "pgdata"
    datadir.mkdir()
    if os.geteuid() == 0:
        os.chmod(datadir.parent, 0o755)
    return Cluster(bindir=pg_bindir(), datadir=datadir, port=free_port())
