-- Removes what 0009 created (the catalog it applied stays).
DELETE FROM achievements_private.applied_migrations WHERE id = '0009_catalog';
DROP FUNCTION achievements.apply_catalog(jsonb, boolean);
DROP FUNCTION achievements_private.catalog_problems(jsonb);
