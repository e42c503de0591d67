"""Applies and rolls back the numbered migrations with yoyo, one transaction each.

Concurrent runs are serialized by a session advisory lock, so two `migrate` at once apply
every migration exactly once. yoyo's bookkeeping tables live in schema achievements_migrations.
The install options travel to the SQL as achievements.* settings; the SQL checks them. A
database installed with psql from sql/achievements.sql lists its migrations in
achievements_private.applied_migrations, and migrate adopts them.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from yoyo import read_migrations
from yoyo.backends import get_backend_class
from yoyo.connections import DatabaseURI
from yoyo.migrations import default_migration_table

from achievements_db.conninfo import Target, parse_conninfo
from achievements_db.database import as_target, connect, connect_timeout
from achievements_db.errors import AchievementsError
from achievements_db.resources import migrations_dir

BOOKKEEPING_SCHEMA = "achievements_migrations"
# pg_advisory_lock(MIGRATION_LOCK): held by one migrate/rollback at a time per database.
MIGRATION_LOCK = (1633838659, 0)

T = TypeVar("T")


@dataclass(frozen=True)
class MigrationStatus:
    """One migration and whether this database has it."""

    id: str
    applied: bool


@dataclass(frozen=True)
class InstallOptions:
    """Options chosen at first install (sql/01_foundation/02_install_options.sql)."""

    user_id_type: str | None = None
    app_roles: str | None = None
    service_roles: str | None = None

    def settings(self) -> dict[str, str]:
        chosen = {
            "achievements.user_id_type": self.user_id_type,
            "achievements.app_roles": self.app_roles,
            "achievements.service_roles": self.service_roles,
        }
        return {k: v for k, v in chosen.items() if v is not None}

    def pgoptions(self) -> str:
        """The options as libpq's `options` (or PGOPTIONS for psql): -c achievements.x=value."""
        return _options_string(self.settings())


def _options_string(settings: dict[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace(" ", "\\ ")

    return " ".join(f"-c {k}={escape(v)}" for k, v in settings.items())


def _yoyo_backend(target: Target, settings: dict[str, str]) -> Any:
    params = parse_conninfo(target.conninfo)
    port = params.pop("port", None)
    args = {**params, "schema": BOOKKEEPING_SCHEMA}
    for key in ("user", "password", "host", "dbname"):
        args.pop(key, None)
    if settings:
        args["options"] = (params.get("options", "") + " " + _options_string(settings)).strip()
    timeout = connect_timeout(target.conninfo)
    if timeout is not None:
        args["connect_timeout"] = str(timeout)
    uri = DatabaseURI(
        scheme="postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        hostname=params.get("host"),
        port=int(port) if port else None,
        database=params.get("dbname"),
        args=args,
    )
    backend = get_backend_class("postgresql+psycopg")(uri, default_migration_table)
    backend.init_database()
    return backend


@contextmanager
def _locked(target: Target) -> Iterator[psycopg.Connection[Any]]:
    """A connection holding the migration lock, with the bookkeeping schema in place. When this
    run created that schema and fails before any migration is recorded in it (a first migrate
    that fails), the schema is dropped again: the database is left as it was."""
    with connect(target) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK)
        try:
            row = conn.execute(
                "SELECT to_regnamespace(%s) IS NULL", (BOOKKEEPING_SCHEMA,)
            ).fetchone()
            created = bool(row and row[0])
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {BOOKKEEPING_SCHEMA}")
            try:
                yield conn
            except BaseException:
                if created:
                    _drop_unused_bookkeeping(conn)
                raise
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", MIGRATION_LOCK)


def _drop_unused_bookkeeping(conn: psycopg.Connection[Any]) -> None:
    """Drops the bookkeeping schema when no migration is recorded in it. Best effort: on a
    broken connection the error that broke the run is the one to report."""
    try:
        if not _records_migrations(conn):
            conn.execute(f"DROP SCHEMA {BOOKKEEPING_SCHEMA} CASCADE")
    except psycopg.Error:
        pass


def _records_migrations(conn: psycopg.Connection[Any]) -> bool:
    """Whether yoyo's table in the bookkeeping schema holds any migration."""
    table = f"{BOOKKEEPING_SCHEMA}._yoyo_migration"
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    if not (row and row[0]):
        return False
    row = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()
    return bool(row and row[0])


def _is_installed(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regnamespace('achievements_private') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _run(label: str, action: Callable[[], T]) -> T:
    """Runs a yoyo action with its result printing silenced; database errors become one line."""
    try:
        with redirect_stdout(io.StringIO()):
            return action()
    except psycopg.Error as exc:
        diag = getattr(exc, "diag", None)
        hint = f" (hint: {diag.message_hint})" if diag is not None and diag.message_hint else ""
        raise AchievementsError(f"{label} failed: {_first_line(exc)}{hint}") from None


def _adopt(conn: psycopg.Connection[Any], backend: Any, migrations: Any) -> list[str]:
    """Marks as applied in yoyo what the database says it has (installed with psql). Refuses a
    database that has migrations this package does not ship (a newer or a pre-release one)."""
    installed = {
        r[0]
        for r in conn.execute("SELECT id FROM achievements_private.applied_migrations").fetchall()
    }
    foreign = sorted(installed - {m.id for m in migrations})
    if foreign:
        raise AchievementsError(
            f"this database has achievements-db migrations this version does not ship: "
            f"{', '.join(foreign)}; it was installed by another version (upgrade the package, "
            "or roll back with the version that installed it)"
        )
    unknown = [m for m in migrations if m.id in installed and not backend.is_applied(m)]
    if unknown:
        backend.mark_migrations(unknown)
    return [m.id for m in unknown]


@contextmanager
def _yoyo(target: Target, settings: dict[str, str], conn: psycopg.Connection[Any]) -> Iterator[Any]:
    """A yoyo backend for `target` that knows every migration the database has (those of an
    install from sql/achievements.sql too: adopted), closed afterwards."""
    backend = _yoyo_backend(target, settings)
    try:
        if _is_installed(conn):
            _run(
                "adopting an install from sql/achievements.sql",
                lambda: _adopt(conn, backend, read_migrations(str(migrations_dir()))),
            )
        yield backend
    finally:
        backend.connection.close()


def _one_by_one(label: str, migrations: Any, step: Callable[[Any], object]) -> list[str]:
    """Runs step(migration) for each, in order, one transaction each; returns their ids.
    Stops at the first failure with AchievementsError naming `label` and the migration; the
    migrations before it stay applied."""
    done: list[str] = []
    for migration in migrations:
        _run(f"{label} {migration.id}", functools.partial(step, migration))
        done.append(migration.id)
    return done


def _upto(migrations: Any, until: str | None) -> Any:
    """The migrations up to and including `until` (all when None)."""
    if until is None:
        return migrations
    ids = [m.id for m in migrations]
    if until not in ids:
        raise AchievementsError(f"unknown migration {until!r}; this version ships {', '.join(ids)}")
    return migrations[: ids.index(until) + 1]


def migrate(
    database: Target | str, options: InstallOptions | None = None, until: str | None = None
) -> list[str]:
    """Applies every pending migration (up to and including `until`) to `database` (a
    connection string, URL or key=value, or a Target); returns their ids.

    Refuses (AchievementsError) install options that differ from those the database has.
    """
    target = as_target(database)
    options = options or InstallOptions()
    migrations = _upto(read_migrations(str(migrations_dir())), until)
    with _locked(target) as conn:
        if _is_installed(conn):
            _run(
                "checking install options",
                lambda: conn.execute(
                    "SELECT achievements_private.check_install_options(%s, %s, %s)",
                    (options.user_id_type, options.app_roles, options.service_roles),
                ),
            )
        with _yoyo(target, options.settings(), conn) as backend:
            return _one_by_one("migration", backend.to_apply(migrations), backend.apply_one)


Confirm = Callable[[dict[str, int]], bool]


def _row_counts(backend: Any) -> dict[str, int]:
    """The rows of every table of the package that holds data, by table name (ONLY: a child
    table's rows count once, in the child); not its own bookkeeping (install options, applied
    migrations)."""
    tables = backend.execute(
        "SELECT c.oid::regclass::text FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname IN ('achievements', 'achievements_private') AND c.relkind = 'r'"
        "   AND c.oid::regclass::text NOT IN ("
        "       'achievements_private.install_options', 'achievements_private.applied_migrations')"
        " ORDER BY 1"
    ).fetchall()
    return {
        name: backend.execute(f"SELECT count(*) FROM ONLY {name}").fetchone()[0]
        for (name,) in tables
    }


def rollback(
    database: Target | str,
    count: int | None = 1,
    *,
    confirm: bool | Confirm = False,
    untrack: bool = False,
) -> list[str]:
    """Rolls back the newest `count` applied migrations of `database` (a connection string or a
    Target; all migrations when `count` is None), all in one
    transaction: either every one of them is rolled back or none is. Returns their ids.

    When the rollback would delete rows (it counts, inside its transaction, the rows of every
    table of the package before and after), it goes on only if `confirm` is True or a
    function that, given {table: rows removed}, returns True; otherwise it changes nothing and
    raises AchievementsError listing them. With `untrack`, it first untracks every table that
    track() wired (their triggers go, their rows stay), so that removing the package is not
    blocked by them."""
    target = as_target(database)
    if count is not None and count < 1:
        raise AchievementsError(
            f"cannot roll back {count} migrations: count must be 1 or more (or all)"
        )
    migrations = read_migrations(str(migrations_dir()))
    with _locked(target) as conn, _yoyo(target, {}, conn) as backend:
        to_undo = list(backend.to_rollback(migrations))[:count]
        if not to_undo:
            return []
        with backend.transaction():
            before = _row_counts(backend)
            if untrack:
                _run(
                    "untracking the tables of track()",
                    lambda: backend.execute(
                        "SELECT achievements.untrack(tbl, step) FROM achievements.tracked()"
                    ),
                )
            for migration in to_undo:
                _run(
                    f"rollback of {migration.id}",
                    functools.partial(migration.process_steps, backend, "rollback"),
                )
                backend.unmark_one(migration, log=False)
                backend.log_migration(migration, "rollback")
            after = _row_counts(backend)
            removed = {t: n - after.get(t, 0) for t, n in before.items() if n > after.get(t, 0)}
            if removed and not (confirm is True or (callable(confirm) and confirm(removed))):
                lost = ", ".join(f"{n} from {t}" for t, n in removed.items())
                raise AchievementsError(
                    f"rolling back {', '.join(m.id for m in to_undo)} would delete rows ({lost}); "
                    "nothing was changed: confirm to go on (achievements-db rollback --yes)"
                )
        return [m.id for m in to_undo]


def status(database: Target | str) -> list[MigrationStatus]:
    """Every migration this package ships, in order, and whether `database` (a connection
    string or a Target) has it (applied by the CLI, or installed with psql from
    sql/achievements.sql)."""
    target = as_target(database)
    migrations = read_migrations(str(migrations_dir()))
    with connect(target) as conn:
        applied: set[str] = set()
        for table, column in (
            (f"{BOOKKEEPING_SCHEMA}._yoyo_migration", "migration_id"),
            ("achievements_private.applied_migrations", "id"),
        ):
            present = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            if present and present[0]:
                applied |= {r[0] for r in conn.execute(f"SELECT {column} FROM {table}")}
    return [MigrationStatus(id=m.id, applied=m.id in applied) for m in migrations]
