"""The migration files themselves: names, numbering, rollbacks, and the list sql/ keeps of them."""

import re

from achievements_db.resources import migrations_dir, sql_dir

NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def forward_files():
    return sorted(p for p in migrations_dir().glob("*.sql") if not p.name.endswith(".rollback.sql"))


def test_names_are_lower_case_numbered_and_sortable():
    for path in migrations_dir().glob("*.sql"):
        stem = path.name.removesuffix(".rollback.sql").removesuffix(".sql") + ".sql"
        assert NAME.match(stem), f"{path.name} is not NNNN_lower_case_name[.rollback].sql"


def test_numbers_start_at_one_without_gaps_or_repeats():
    numbers = [int(NAME.match(p.name).group(1)) for p in forward_files()]
    assert numbers == list(range(1, len(numbers) + 1))


def test_every_migration_has_a_rollback_and_no_rollback_is_orphaned():
    forward = {p.name.removesuffix(".sql") for p in forward_files()}
    rollbacks = {
        p.name.removesuffix(".rollback.sql") for p in migrations_dir().glob("*.rollback.sql")
    }
    assert forward == rollbacks


def test_every_migration_and_rollback_starts_with_a_comment_saying_what_it_does():
    for path in migrations_dir().glob("*.sql"):
        assert path.read_text().startswith("-- "), path.name


def test_the_sources_list_every_migration_as_installed():
    listed = re.findall(
        r"\('(\d{4}_[a-z0-9_]+)'\)",
        (sql_dir() / "99_finish" / "02_installed_migrations.sql").read_text(),
    )
    assert listed == [p.name.removesuffix(".sql") for p in forward_files()]
