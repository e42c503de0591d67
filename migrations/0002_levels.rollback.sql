-- Removes what 0002 created, with the levels and requirements defined in it.
DROP TABLE achievements.level_requirements;
DROP TABLE achievements.levels;
