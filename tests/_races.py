"""Runs work in several real sessions released together: the one race runner of the tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg


def run_together(connect: Callable[..., psycopg.Connection], sessions: int,
                 work: Callable[[int, psycopg.Connection], object], *,
                 timeout: float = 120) -> None:
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
