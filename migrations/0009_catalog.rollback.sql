-- Removes what 0009 created (the catalog it applied stays).
DROP FUNCTION achievements.apply_catalog(jsonb, boolean);
DROP FUNCTION achievements_private.catalog_problems(jsonb);
