"""Races between real sessions: sessions released together, and interleavings made
deterministic by waiting until another backend is seen waiting on a lock (never a sleep)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg


def run_together(
    connect: Callable[..., psycopg.Connection],
    sessions: int,
    work: Callable[[int, psycopg.Connection], object],
    *,
    timeout: float = 120,
) -> None:
    """Runs work(index, connection) in `sessions` threads, each with its own connection, all
    released at one barrier. Re-raises the first error (a deadlock surfaces here as
    psycopg.errors.DeadlockDetected) and fails when a session is still running after `timeout`."""
    connections = [connect() for _ in range(sessions)]
    barrier = threading.Barrier(sessions)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index, connections[index])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a session hung"
    if errors:
        raise errors[0]


def wait_until_blocked(
    observer: psycopg.Connection,
    pid: int,
    *,
    timeout: float = 60,
    running: Callable[[], bool] = lambda: True,
) -> None:
    """Returns once backend `pid` is seen waiting for a lock (an ungranted lock in pg_locks).
    `observer` is a connection of its own. Fails when `running()` turns false first (the session
    finished without waiting) or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        row = observer.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", (pid,)
        ).fetchone()
        if row and row[0]:
            return
        if not running():
            raise AssertionError(f"backend {pid} finished without waiting for a lock")
        if time.monotonic() > deadline:
            raise AssertionError(f"backend {pid} was never seen waiting for a lock")
        time.sleep(0.002)


class InBackground:
    """Runs `call` in a thread; result() waits for it and returns its value or raises its error."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,))
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._value = call()
        except BaseException as error:  # noqa: BLE001 - re-raised by result()
            self._error = error

    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout: float = 120) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background session hung"
        if self._error is not None:
            raise self._error
        return self._value


def blocked_call(
    observer: psycopg.Connection,
    conn: psycopg.Connection,
    call: Callable[[psycopg.Connection], Any],
) -> InBackground:
    """Starts call(conn) in the background and returns once conn's backend waits for a lock."""
    pid = conn.info.backend_pid
    background = InBackground(lambda: call(conn))
    try:
        wait_until_blocked(observer, pid, running=background.running)
    except AssertionError:
        background.result()  # its own error, if it failed, says more
        raise
    return background
