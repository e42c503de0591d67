"""Released migrations are frozen: their files are byte for byte what the release shipped."""

from achievements_db import __version__
from achievements_db.releases import releases, sha256, unreleased_files
from achievements_db.resources import migrations_dir


def test_released_migration_files_are_unchanged():
    assert releases(), "migrations/released.toml lists no release"
    for release in releases():
        for name, digest in release.files.items():
            path = migrations_dir() / name
            assert path.exists(), f"{name}, released in {release.version}, is gone"
            assert sha256(path) == digest, (
                f"{name} was released in {release.version} and must not change: "
                "put the change in a new migration"
            )


def test_every_release_ships_whole_migrations_and_the_package_knows_the_newest():
    for release in releases():
        for migration in release.migrations:
            assert f"{migration}.rollback.sql" in release.files, (release.version, migration)
    newest = releases()[-1].version
    assert __version__ == newest or unreleased_files(), (
        f"the package says {__version__} but the newest release is {newest}"
    )
