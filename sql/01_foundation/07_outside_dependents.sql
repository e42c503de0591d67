-- What the application built on achievements-db: removing the package refuses while it exists.

-- The schema an object lives in, given its catalog (classid) and oid: a table's, function's,
-- type's or constraint's own schema; a column default's, trigger's, rule's or policy's table's
-- schema; a schema is its own. NULL for objects that live in no schema.
CREATE FUNCTION achievements_private.object_schema(classid oid, objid oid)
RETURNS oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE classid
        WHEN 'pg_namespace'::regclass THEN objid
        WHEN 'pg_class'::regclass THEN (SELECT c.relnamespace FROM pg_class AS c WHERE c.oid = objid)
        WHEN 'pg_proc'::regclass THEN (SELECT p.pronamespace FROM pg_proc AS p WHERE p.oid = objid)
        WHEN 'pg_type'::regclass THEN (SELECT t.typnamespace FROM pg_type AS t WHERE t.oid = objid)
        WHEN 'pg_constraint'::regclass THEN (SELECT c.connamespace FROM pg_constraint AS c WHERE c.oid = objid)
        WHEN 'pg_attrdef'::regclass THEN
            (SELECT c.relnamespace FROM pg_attrdef AS a JOIN pg_class AS c ON c.oid = a.adrelid WHERE a.oid = objid)
        WHEN 'pg_trigger'::regclass THEN
            (SELECT c.relnamespace FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid WHERE t.oid = objid)
        WHEN 'pg_rewrite'::regclass THEN
            (SELECT c.relnamespace FROM pg_rewrite AS r JOIN pg_class AS c ON c.oid = r.ev_class WHERE r.oid = objid)
        WHEN 'pg_policy'::regclass THEN
            (SELECT c.relnamespace FROM pg_policy AS p JOIN pg_class AS c ON c.oid = p.polrelid WHERE p.oid = objid)
        ELSE to_regnamespace((pg_identify_object(classid, objid, 0)).schema)::oid
    END
$$;

-- The objects outside the package's schemas (achievements, achievements_private,
-- achievements_tracking) that depend on an object inside them (a view over one of its tables, a
-- trigger running one of its trigger functions, a column of type achievements.user_ref), each
-- as "<object> (uses <object>)".
CREATE FUNCTION achievements_private.outside_dependents()
RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT format('%s (uses %s)', pg_describe_object(d.classid, d.objid, d.objsubid),
                           pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid))
      FROM pg_depend AS d,
           LATERAL (SELECT ARRAY[to_regnamespace('achievements'), to_regnamespace('achievements_private'),
                                   to_regnamespace('achievements_tracking')]::oid[] AS ours) AS o
     WHERE d.deptype IN ('n', 'a')
       AND achievements_private.object_schema(d.refclassid, d.refobjid) = ANY (o.ours)
       AND NOT coalesce(achievements_private.object_schema(d.classid, d.objid) = ANY (o.ours), false)
     ORDER BY 1
$$;
