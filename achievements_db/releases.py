"""Released migrations, frozen: migrations/released.toml lists each release, the migrations it
shipped and the SHA-256 of each of their files. A test fails when a released file changes, so a
change after a release must come as a new migration.

    python -m achievements_db.releases freeze 0.2.0   # record the migrations not yet released
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from achievements_db.resources import migrations_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MANIFEST = "released.toml"


@dataclass(frozen=True)
class Release:
    """One release: its version, date, and the SHA-256 of every migration file it shipped."""

    version: str
    date: str
    files: dict[str, str]

    @property
    def migrations(self) -> list[str]:
        """The ids of the migrations it shipped, in order."""
        return sorted(
            name.removesuffix(".sql") for name in self.files if not name.endswith(".rollback.sql")
        )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def releases() -> list[Release]:
    """Every release in migrations/released.toml, oldest first."""
    path = migrations_dir() / MANIFEST
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text())
    return [Release(r["version"], r["date"], dict(r["sha256"])) for r in data.get("release", [])]


def unreleased_files() -> list[Path]:
    """The migration files no release lists yet."""
    listed = {name for release in releases() for name in release.files}
    return sorted(p for p in migrations_dir().glob("*.sql") if p.name not in listed)


def freeze(version: str) -> Release:
    """Appends a release of every unreleased migration file to migrations/released.toml."""
    files = unreleased_files()
    if not files:
        raise SystemExit("nothing to release: every migration file is in a release already")
    if any(r.version == version for r in releases()):
        raise SystemExit(f"release {version} is recorded already")
    release = Release(version, dt.date.today().isoformat(), {p.name: sha256(p) for p in files})
    path = migrations_dir() / MANIFEST
    text = (
        path.read_text()
        if path.exists()
        else (
            "# Released migrations are frozen: tests/migrations/test_frozen.py fails when one\n"
            "# of these files changes. Written by `python -m achievements_db.releases freeze`.\n"
        )
    )
    lines = [
        f'\n[[release]]\nversion = "{release.version}"\ndate = "{release.date}"\n',
        "[release.sha256]\n",
    ]
    lines += [f'"{name}" = "{digest}"\n' for name, digest in release.files.items()]
    path.write_text(text + "".join(lines))
    return release


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "freeze":
        print("usage: python -m achievements_db.releases freeze VERSION", file=sys.stderr)
        return 2
    release = freeze(args[1])
    print(f"released {release.version}: {', '.join(release.migrations)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
