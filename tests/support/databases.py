"""The test session's PostgreSQL cluster, its roles, and connection strings to its databases."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import make_conninfo

from achievements_db.conninfo import Target
from achievements_db.migrator import InstallOptions
from support.cluster import new_cluster

CLUSTER = new_cluster()
# Roles the template is installed with: a trusted service role and a plain application role.
SERVICE_ROLE = "achievements_service"
APP_ROLE = "achievements_app"
TEMPLATE_OPTIONS = InstallOptions(service_roles=SERVICE_ROLE)
TEMPLATE = "achievements_template"
SHARED = "achievements_shared"


def conninfo(dbname: str, **extra: object) -> str:
    """A connection string to a database of the test cluster, as its superuser by default."""
    params: dict[str, object] = {"host": CLUSTER.host, "port": CLUSTER.port, "user": CLUSTER.user}
    params.update(extra)
    return make_conninfo(dbname=dbname, **params)  # type: ignore[arg-type]


def target(dbname: str, **extra: object) -> Target:
    """A migrator Target for a database of the test cluster."""
    return Target(conninfo(dbname, **extra), f"test database {dbname}")


def admin() -> psycopg.Connection:
    """An autocommit superuser connection to the cluster's postgres database."""
    return psycopg.connect(conninfo("postgres"), autocommit=True)


def create_database(name: str, template: str = "template0", owner: str | None = None) -> str:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        owned = f' OWNER "{owner}"' if owner else ""
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{owned}')
    return name


def drop_databases(names: list[str]) -> None:
    with admin() as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
