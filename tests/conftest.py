"""Test fixtures: one real PostgreSQL cluster per test process (pytest-xdist runs one per worker),
a template database migrated once with achievements-db's own migrator, and per test either a
rolled-back transaction in a shared copy of the template (single-session tests) or a fresh copy
of the template (tests of several sessions, of commits, or of the migrator)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import psycopg
import pytest

from achievements_db.migrator import migrate
from support.databases import (
    APP_ROLE,
    CLUSTER,
    SERVICE_ROLE,
    SHARED,
    TEMPLATE,
    TEMPLATE_OPTIONS,
    admin,
    conninfo,
    create_database,
    drop_databases,
    target,
)


class StatementConnection(psycopg.Connection[Any]):
    """A connection inside one transaction that the test never commits, where every execute()
    runs in a savepoint of its own: a failed statement undoes only itself and the session goes
    on, as under autocommit, and the fixture rolls everything back at the end."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        with self.transaction():
            return super().execute(query, params, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "committed: the test needs a fresh database whose writes are committed "
        "(as every test that opens further sessions gets)",
    )


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    CLUSTER.start()
    with admin() as conn:
        conn.execute(f"CREATE ROLE {SERVICE_ROLE} NOLOGIN")
        conn.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN")
    create_database(TEMPLATE)
    migrate(target(TEMPLATE), TEMPLATE_OPTIONS)
    create_database(SHARED, template=TEMPLATE)
    yield CLUSTER
    CLUSTER.stop()


_database_numbers = count()


@pytest.fixture
def db_name(pg_cluster: Any) -> Iterator[str]:
    """The name of a fresh database for this test, cloned from the migrated template."""
    name = create_database(f"achievements_test_{next(_database_numbers)}", template=TEMPLATE)
    yield name
    drop_databases([name])


@pytest.fixture
def connect(db_name: str) -> Iterator[Callable[..., psycopg.Connection[Any]]]:
    """Opens further autocommit connections to this test's fresh database; closes them after."""
    opened: list[psycopg.Connection[Any]] = []

    def _connect(**kwargs: Any) -> psycopg.Connection[Any]:
        kwargs.setdefault("autocommit", True)
        conn = psycopg.connect(conninfo(db_name), **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


def _needs_commits(request: pytest.FixtureRequest) -> bool:
    return bool(request.node.get_closest_marker("committed")) or bool(
        {"connect", "db_name"} & set(request.fixturenames)
    )


@pytest.fixture
def db(request: pytest.FixtureRequest, pg_cluster: Any) -> Iterator[psycopg.Connection[Any]]:
    """A connection as the owner. For a single-session test: a transaction in the shared
    database, rolled back afterwards, each statement in a savepoint. For a test that opens
    further sessions (fixture connect) or is marked committed: an autocommit connection to
    its fresh database."""
    if _needs_commits(request):
        yield request.getfixturevalue("connect")()
        return
    conn = StatementConnection.connect(conninfo(SHARED))
    try:
        with conn.transaction(force_rollback=True):
            yield conn
    finally:
        conn.close()


@pytest.fixture
def empty_database(pg_cluster: Any) -> Iterator[Callable[..., str]]:
    """Creates empty databases (no achievements-db) and drops them after the test."""
    created: list[str] = []

    def _create(owner: str | None = None) -> str:
        name = create_database(f"achievements_empty_{next(_database_numbers)}", owner=owner)
        created.append(name)
        return name

    yield _create
    drop_databases(created)
