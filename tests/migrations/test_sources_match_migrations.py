"""A database built from sql/ (psql on sql/achievements.sql) and one built by running every
migration have identical catalogs, for each set of install options: a forgotten migration, or a
migration that defines something differently from sql/, fails here with the differing lines."""

import pytest

from achievements_db.migrator import InstallOptions, migrate
from support.catalog import differences, snapshot
from support.databases import APP_ROLE, SERVICE_ROLE, TEMPLATE_OPTIONS, conninfo, target
from support.install import psql_install

OPTION_SETS = [
    TEMPLATE_OPTIONS,
    InstallOptions(),
    InstallOptions(user_id_type="bigint", app_roles=APP_ROLE),
    InstallOptions(user_id_type="text", service_roles=f"{SERVICE_ROLE}, {APP_ROLE}"),
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=["template", "defaults", "bigint", "text"])
def test_sources_and_migrations_build_the_same_catalog(empty_database, options):
    by_migrations, by_sources = empty_database(), empty_database()
    migrate(target(by_migrations), options)
    installed = psql_install(by_sources, options)
    assert installed.returncode == 0, installed.stderr
    migrated, sourced = snapshot(conninfo(by_migrations)), snapshot(conninfo(by_sources))
    assert len(migrated["function"]) > 80 and len(migrated["relation"]) > 30
    assert differences(migrated, sourced) == []
