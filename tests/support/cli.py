"""Running the installed achievements-db command as a user runs it: a subprocess of the entry
point next to this Python, with DATABASE_URL only when a test gives it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from support.databases import conninfo

COMMAND = str(Path(sys.executable).parent / "achievements-db")


def environment(env: dict[str, str] | None = None, database: str | None = None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database is not None:
        environ["DATABASE_URL"] = database
    environ.update(env or {})
    return environ


def cli(
    *args: str, env: dict[str, str] | None = None, database: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args],
        capture_output=True,
        text=True,
        env=environment(env, database),
        timeout=300,
    )


def cli_on_terminal(
    *args: str, database: str, env: dict[str, str] | None = None, stderr_too: bool = False
) -> str:
    """What the command writes to stdout when stdout is a terminal (a pseudo-terminal); with
    `stderr_too`, stderr is the terminal too and the command runs without -q."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [COMMAND, *([] if stderr_too else ["-q"]), *args],
            stdout=follower,
            stderr=follower if stderr_too else subprocess.DEVNULL,
            env=environment({"TERM": "xterm", **(env or {})}, database),
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0
    finally:
        os.close(leader)
    return b"".join(chunks).decode()


def url(dbname: str) -> str:
    p = conninfo_to_dict(conninfo(dbname))
    return f"postgresql://{p['user']}@{p['host']}:{p['port']}/{dbname}"
