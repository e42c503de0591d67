"""Where the SQL lives: inside the installed wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"achievements-db is missing its {name}/ directory (looked in {installed})"
    )


def migrations_dir() -> Path:
    """The directory of numbered migrations (NNNN_name.sql with NNNN_name.rollback.sql)."""
    return _data_dir("migrations")


def sql_dir() -> Path:
    """The directory holding the single-file install, achievements.sql."""
    return _data_dir("sql")


def examples_dir() -> Path:
    """The reference applications (examples/NAME: schema.sql, catalog.toml, README.md)."""
    return _data_dir("examples")
