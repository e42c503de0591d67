"""Test fixtures: one real PostgreSQL cluster per session, a template database migrated once
with achievements-db's own migrator, and a fresh database cloned from it for every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count

import _cluster
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pytest_postgresql import factories

from achievements_db.database import Target
from achievements_db.migrator import InstallOptions, migrate

CLUSTER = _cluster.new_cluster()
# Roles the template is installed with: a trusted service role and a plain application role.
SERVICE_ROLE = "achievements_service"
APP_ROLE = "achievements_app"
TEMPLATE_OPTIONS = InstallOptions(service_roles=SERVICE_ROLE)


def conninfo(dbname: str, **extra: object) -> str:
    return make_conninfo(host=CLUSTER.host, port=CLUSTER.port, user=CLUSTER.user, dbname=dbname,
                         **extra)


def _migrate_template(host: str, port: int, user: str, dbname: str, **_: object) -> None:
    migrate(Target(conninfo(dbname), f"template {dbname}"), TEMPLATE_OPTIONS)


_template_server = factories.postgresql_noproc(
    host=CLUSTER.host, port=CLUSTER.port, user=CLUSTER.user, dbname="achievements_test",
    load=[_migrate_template],
)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[_cluster.Cluster]:
    CLUSTER.start()
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {SERVICE_ROLE} NOLOGIN")
        conn.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN")
    yield CLUSTER
    CLUSTER.stop()


@pytest.fixture(scope="session")
def postgresql_server(pg_cluster: _cluster.Cluster, request: pytest.FixtureRequest):
    """The template database, migrated once per session (after the cluster is up)."""
    return request.getfixturevalue("_template_server")


postgresql = factories.postgresql("postgresql_server")


@pytest.fixture
def db_name(postgresql: psycopg.Connection) -> str:
    """The name of this test's fresh database, cloned from the migrated template."""
    return postgresql.info.dbname


@pytest.fixture
def connect(db_name: str) -> Iterator[Callable[..., psycopg.Connection]]:
    """Opens further autocommit connections to this test's database; closes them afterwards."""
    opened: list[psycopg.Connection] = []

    def _connect(**kwargs: object) -> psycopg.Connection:
        kwargs.setdefault("autocommit", True)
        conn = psycopg.connect(conninfo(db_name), **kwargs)  # type: ignore[arg-type]
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


@pytest.fixture
def db(connect: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    """An autocommit connection, as the owner, to this test's fresh database."""
    return connect()


_database_numbers = count()


@pytest.fixture
def empty_database(pg_cluster: _cluster.Cluster) -> Iterator[Callable[[], str]]:
    """Creates empty databases (no achievements-db) and drops them after the test."""
    created: list[str] = []

    def _create() -> str:
        name = f"achievements_empty_{next(_database_numbers)}"
        with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        created.append(name)
        return name

    yield _create
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        for name in created:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def target(dbname: str) -> Target:
    """A migrator Target for a database of the test cluster."""
    return Target(conninfo(dbname), f"test database {dbname}")
