"""Drafts the next migration from the difference between sql/ and migrations/.

    python tests/support/draft_migration.py 0002_what_it_does

Starts a throwaway cluster, builds one database by running the migrations before it and one from
sql/achievements.sql, and writes migrations/0002_what_it_does.sql and its .rollback.sql:
functions that are new, changed or gone are written out (CREATE OR REPLACE with the definition
of sql/ forward, the released one back, in install order), and every other difference (tables,
grants, policies, ...) is listed in a comment to write by hand. Read and finish both files: the
tests compare the result with sql/ (tests/migrations/test_sources_match_migrations.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from achievements_db.migrator import InstallOptions, migrate  # noqa: E402
from support.catalog import differences, snapshot  # noqa: E402
from support.databases import (  # noqa: E402
    APP_ROLE,
    CLUSTER,
    SERVICE_ROLE,
    admin,
    conninfo,
    create_database,
    target,
)
from support.install import psql_install  # noqa: E402

FUNCTIONS = """
    SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid),
           obj_description(p.oid, 'pg_proc'), coalesce(p.proacl::text, 'default')
      FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
     WHERE n.nspname IN ('achievements', 'achievements_private', 'achievements_tracking')
     ORDER BY p.prosqlbody IS NOT NULL, p.oid
"""


def functions(conninfo: str) -> tuple[dict[str, tuple[str, str | None]], dict[str, str]]:
    """Every function of the package, in creation order (SQL-standard bodies last: they bind
    the functions they call when they are created): signature -> (definition, comment),
    and signature -> its privileges."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(FUNCTIONS).fetchall()
    return {sig: (body, comment) for sig, body, comment, _ in rows}, {r[0]: r[3] for r in rows}


def _define(sig: str, body: str, comment: str | None) -> str:
    text = body.rstrip() + ";\n"
    if comment is not None:
        literal = comment.replace("'", "''")
        text += f"COMMENT ON FUNCTION {sig} IS\n    '{literal}';\n"
    return text + "\n"


def draft(
    name: str,
    released: dict[str, tuple[str, str | None]],
    current: dict[str, tuple[str, str | None]],
    by_hand: list[str],
) -> tuple[str, str]:
    changed = [s for s in current if s in released and current[s] != released[s]]
    added = [s for s in current if s not in released]
    removed = [s for s in released if s not in current]
    timeouts = "SET LOCAL lock_timeout = '10s';\nSET LOCAL statement_timeout = '5min';\n\n"
    forward = [f"-- {name}: TODO say what this migration does.\n", timeouts]
    forward += [_define(s, *current[s]) for s in current if s in changed or s in added]
    forward += [f"DROP FUNCTION {s};\n" for s in reversed(removed)]
    back = [f"-- Rollback of {name}: TODO say what it restores.\n", timeouts]
    back += [_define(s, *released[s]) for s in released if s in changed or s in removed]
    back += [f"DROP FUNCTION {s};\n" for s in reversed(added)]
    if by_hand:
        note = "\n-- TODO by hand (catalog lines only sql/ has: +, only the migrations have: -):\n"
        note += "".join(f"--   {line[:200]}\n" for line in by_hand)
        forward.append(note)
        back.append(note)
    forward.append(
        f"\nINSERT INTO achievements_private.applied_migrations (id) VALUES ('{name}');\n"
    )
    back.append(f"\nDELETE FROM achievements_private.applied_migrations WHERE id = '{name}';\n")
    return "".join(forward), "".join(back)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    name = argv[0]
    root = Path(__file__).resolve().parents[2]
    CLUSTER.start()
    try:
        with admin() as conn:
            conn.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN")
            conn.execute(f"CREATE ROLE {SERVICE_ROLE} NOLOGIN")
        options = InstallOptions(app_roles=APP_ROLE, service_roles=SERVICE_ROLE)
        create_database("by_migrations")
        create_database("by_sources")
        earlier = sorted(
            f.name.removesuffix(".sql")
            for f in (root / "migrations").glob("*.sql")
            if not f.name.endswith(".rollback.sql") and f.name < f"{name}.sql"
        )
        migrate(target("by_migrations"), options, until=earlier[-1])
        installed = psql_install("by_sources", options)
        if installed.returncode != 0:
            print(installed.stderr, file=sys.stderr)
            return 1
        (released, old_acl), (current, new_acl) = (
            functions(conninfo("by_migrations")),
            functions(conninfo("by_sources")),
        )
        by_hand = [
            line
            for line in differences(
                snapshot(conninfo("by_migrations")), snapshot(conninfo("by_sources"))
            )
            if not line.startswith("function ") and not line.startswith("applied ")
        ]
        by_hand += [
            f"privileges of {sig}: {old_acl.get(sig, 'none')} -> {acl}"
            for sig, acl in new_acl.items()
            if old_acl.get(sig) != acl
        ]
        forward, back = draft(name, released, current, by_hand)
    finally:
        CLUSTER.stop()
    (root / "migrations" / f"{name}.sql").write_text(forward)
    (root / "migrations" / f"{name}.rollback.sql").write_text(back)
    print(f"wrote migrations/{name}.sql and .rollback.sql; finish them by hand")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
