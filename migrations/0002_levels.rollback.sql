-- Removes what 0002 created, with the levels and requirements defined in it.
DELETE FROM achievements_private.applied_migrations WHERE id = '0002_levels';
DROP TABLE achievements.level_requirements;
DROP TABLE achievements.levels;
