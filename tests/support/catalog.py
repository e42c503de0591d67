"""A textual snapshot of everything achievements-db defines in a database: two snapshots are
equal when the two databases hold the same objects with the same definitions, privileges and
comments. Privileges are compared as they take effect: an object never granted (no ACL) and
one whose ACL grants exactly the defaults are the same, and the order of an ACL's items does
not count."""

from __future__ import annotations

import psycopg

SCHEMAS = ("achievements", "achievements_private", "achievements_tracking")

QUERIES = {
    "schema": """
        SELECT nspname || ' owner=' || pg_get_userbyid(nspowner) || ' acl=' || (SELECT array_agg(i::text ORDER BY i::text) FROM unnest(coalesce(nspacl, acldefault('n', nspowner))) AS i)::text
               || ' comment=' || coalesce(obj_description(oid, 'pg_namespace'), '')
          FROM pg_namespace WHERE nspname = ANY(%(schemas)s)""",
    "relation": """
        SELECT n.nspname || '.' || c.relname || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity::text
               || ' force_rls=' || c.relforcerowsecurity::text || ' options=' || coalesce(c.reloptions::text, '')
               || ' owner=' || pg_get_userbyid(c.relowner) || ' acl=' || (SELECT array_agg(i::text ORDER BY i::text) FROM unnest(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) AS i)::text
               || ' inherits=' || coalesce((SELECT string_agg(i.inhparent::regclass::text, ',')
                                              FROM pg_inherits AS i WHERE i.inhrelid = c.oid), '')
               || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "view": """
        SELECT schemaname || '.' || viewname || ' ' || definition
          FROM pg_views WHERE schemaname = ANY(%(schemas)s)""",
    "column": """
        SELECT c.table_schema || '.' || c.table_name || '.' || c.column_name || ' '
               || row_number() OVER (PARTITION BY c.table_schema, c.table_name ORDER BY c.ordinal_position)
               || ' ' || c.data_type || ' ' || coalesce(c.domain_name, '') || ' null=' || c.is_nullable
               || ' default=' || coalesce(c.column_default, '') || ' identity=' || c.is_identity
               || ' generated=' || c.is_generated
               || ' comment=' || coalesce(col_description((c.table_schema || '.' || quote_ident(c.table_name))::regclass,
                                                          c.ordinal_position::int), '')
          FROM information_schema.columns AS c WHERE c.table_schema = ANY(%(schemas)s)""",
    "column privilege": """
        SELECT a.attrelid::regclass::text || '.' || a.attname || ' ' || (SELECT array_agg(i::text ORDER BY i::text) FROM unnest(a.attacl) AS i)::text
          FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND a.attacl IS NOT NULL""",
    "constraint": """
        SELECT conrelid::regclass::text || coalesce(contypid::regtype::text, '') || ' ' || conname
               || ' ' || pg_get_constraintdef(c.oid)
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = ANY(%(schemas)s)
           -- PostgreSQL 18 catalogs a column's NOT NULL as a constraint, named as it was made;
           -- the columns' nullability is compared above, as on 15 to 17.
           AND NOT (c.contype = 'n' AND c.conrelid <> 0)""",
    "index": "SELECT indexdef FROM pg_indexes WHERE schemaname = ANY(%(schemas)s)",
    "function": """
        SELECT pg_get_functiondef(p.oid) || ' owner=' || pg_get_userbyid(p.proowner)
               || ' acl=' || (SELECT array_agg(i::text ORDER BY i::text) FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) AS i)::text
               || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "type": """
        SELECT t.typname || ' ' || t.typtype::text || ' base=' || t.typbasetype::regtype::text ||
               ' owner=' || pg_get_userbyid(t.typowner) || ' acl=' || (SELECT array_agg(i::text ORDER BY i::text) FROM unnest(coalesce(t.typacl, acldefault('T', t.typowner))) AS i)::text ||
               ' comment=' || coalesce(obj_description(t.oid, 'pg_type'), '')
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('d', 'e', 'c')
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)""",
    "trigger": """
        SELECT pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
               || ' comment=' || coalesce(obj_description(t.oid, 'pg_trigger'), '')
          FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND NOT t.tgisinternal""",
    "policy": """
        SELECT schemaname || '.' || tablename || ' ' || policyname || ' ' || permissive || ' ' ||
               roles::text || ' ' || cmd || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
          FROM pg_policies WHERE schemaname = ANY(%(schemas)s)""",
    "sequence": """
        SELECT schemaname || '.' || sequencename || ' ' || data_type::text || ' ' || increment_by
               || ' owned_by=' || coalesce((SELECT d.refobjid::regclass::text || '.' || d.refobjsubid
                                              FROM pg_depend AS d
                                             WHERE d.objid = (schemaname || '.' || sequencename)::regclass
                                               AND d.classid = 'pg_class'::regclass
                                               AND d.refclassid = 'pg_class'::regclass
                                               AND d.deptype IN ('a', 'i')), '')
          FROM pg_sequences WHERE schemaname = ANY(%(schemas)s)""",
    "default privilege": """
        SELECT coalesce(n.nspname, '') || ' ' || d.defaclobjtype::text || ' ' || (SELECT array_agg(i::text ORDER BY i::text) FROM unnest(d.defaclacl) AS i)::text
          FROM pg_default_acl AS d LEFT JOIN pg_namespace AS n ON n.oid = d.defaclnamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "install options": """
        SELECT user_id_type || ' ' || app_roles::text || ' ' || service_roles::text
          FROM achievements_private.install_options""",
    "applied migrations": "SELECT id FROM achievements_private.applied_migrations",
}


def snapshot(conninfo: str) -> dict[str, list[str]]:
    """Every kind of object above, each as a sorted list of lines."""
    with psycopg.connect(conninfo) as conn:
        installed = conn.execute(
            "SELECT to_regclass('achievements_private.install_options') IS NOT NULL"
        ).fetchone()
        data_kinds = {"install options", "applied migrations"}
        return {
            kind: sorted(r[0] for r in conn.execute(query, {"schemas": list(SCHEMAS)}).fetchall())
            for kind, query in QUERIES.items()
            if (installed and installed[0]) or kind not in data_kinds
        }


def differences(left: dict[str, list[str]], right: dict[str, list[str]]) -> list[str]:
    """The lines only one side has, kind by kind, marked - (left only) and + (right only): what a
    migration author needs to see to make the two sides agree."""
    lines: list[str] = []
    for kind in sorted(set(left) | set(right)):
        mine, theirs = set(left.get(kind, [])), set(right.get(kind, []))
        lines += [f"{kind} - {line}" for line in sorted(mine - theirs)]
        lines += [f"{kind} + {line}" for line in sorted(theirs - mine)]
    return lines
