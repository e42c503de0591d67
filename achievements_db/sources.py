"""The SQL sources: sql/, one folder per concept, the current definition of every object.

sql/achievements.sql is the psql entry point: it includes every other file under sql/ with
``\\ir``, in name order, inside one transaction. :func:`install_script` expands it into one script
for a driver without psql (the tests install from it). ``python -m achievements_db.sources``
prints it; with ``--migration`` it prints the included files alone, without a transaction of
their own, which is how the body of migrations/0001_baseline.sql was written for 0.1.0.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from achievements_db.resources import sql_dir

ENTRY_POINT = "achievements.sql"
_INCLUDE = re.compile(r"^\\ir\s+(\S+)\s*$")
_META = re.compile(r"^\\")


def source_files() -> list[Path]:
    """Every file under sql/ but the entry point, in name order (the order they install in)."""
    root = sql_dir()
    return sorted(p for p in root.rglob("*.sql") if p != root / ENTRY_POINT)


def included_files() -> list[Path]:
    """The files sql/achievements.sql includes, in its order."""
    root = sql_dir()
    lines = (root / ENTRY_POINT).read_text().splitlines()
    return [root / m.group(1) for m in map(_INCLUDE.match, lines) if m]


def _section(path: Path) -> str:
    name = path.relative_to(sql_dir()).as_posix()
    return f"-- ==== sql/{name} ====\n\n{path.read_text().rstrip()}\n"


def install_script() -> str:
    """sql/achievements.sql with every ``\\ir`` replaced by the file it names and the other psql
    meta-commands left out: one script, one transaction."""
    root = sql_dir()
    parts: list[str] = []
    for line in (root / ENTRY_POINT).read_text().splitlines():
        include = _INCLUDE.match(line)
        if include:
            parts.append(_section(root / include.group(1)))
        elif not _META.match(line):
            parts.append(line + "\n")
    return "".join(parts)


def migration_body() -> str:
    """The included files one after the other, without a transaction of their own (a migration
    runs in the migrator's)."""
    return "\n".join(_section(path) for path in included_files())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sys.stdout.write(migration_body() if "--migration" in args else install_script())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
