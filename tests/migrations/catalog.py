"""A textual snapshot of everything achievements-db defines in a database."""

import psycopg

SCHEMAS = ("achievements", "achievements_private")

QUERIES = {
    "schema": """
        SELECT nspname || ' acl=' || coalesce(nspacl::text, '') || ' comment=' ||
               coalesce(obj_description(oid, 'pg_namespace'), '')
          FROM pg_namespace WHERE nspname = ANY(%(schemas)s)""",
    "relation": """
        SELECT n.nspname || '.' || c.relname || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity::text
               || ' acl=' || coalesce(c.relacl::text, '') || ' comment=' ||
               coalesce(obj_description(c.oid, 'pg_class'), '')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "column": """
        SELECT table_schema || '.' || table_name || '.' || column_name || ' ' || ordinal_position
               || ' ' || data_type || ' ' || coalesce(domain_name, '') || ' null=' || is_nullable
               || ' default=' || coalesce(column_default, '') || ' identity=' || is_identity
          FROM information_schema.columns WHERE table_schema = ANY(%(schemas)s)""",
    "constraint": """
        SELECT conrelid::regclass::text || coalesce(contypid::regtype::text, '') || ' ' || conname
               || ' ' || pg_get_constraintdef(c.oid)
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "index": "SELECT indexdef FROM pg_indexes WHERE schemaname = ANY(%(schemas)s)",
    "function": """
        SELECT pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '') ||
               ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "type": """
        SELECT t.typname || ' ' || t.typtype::text || ' base=' || t.typbasetype::regtype::text ||
               ' comment=' || coalesce(obj_description(t.oid, 'pg_type'), '')
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('d', 'e', 'c')
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)""",
    "trigger": """
        SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND NOT t.tgisinternal""",
    "policy": """
        SELECT schemaname || '.' || tablename || ' ' || policyname || ' ' || permissive || ' ' ||
               roles::text || ' ' || cmd || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
          FROM pg_policies WHERE schemaname = ANY(%(schemas)s)""",
    "sequence": """
        SELECT schemaname || '.' || sequencename || ' ' || data_type::text || ' ' || increment_by
          FROM pg_sequences WHERE schemaname = ANY(%(schemas)s)""",
    "install options": """
        SELECT user_id_type || ' ' || app_roles::text || ' ' || service_roles::text
          FROM achievements_private.install_options""",
}


def snapshot(conninfo: str) -> dict[str, list[str]]:
    with psycopg.connect(conninfo) as conn:
        installed = conn.execute(
            "SELECT to_regclass('achievements_private.install_options') IS NOT NULL"
        ).fetchone()[0]
        return {
            kind: sorted(r[0] for r in conn.execute(query, {"schemas": list(SCHEMAS)}).fetchall())
            for kind, query in QUERIES.items()
            if installed or kind != "install options"
        }
