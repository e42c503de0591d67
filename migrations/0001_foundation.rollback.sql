-- Removes what 0001 created. Fails (and changes nothing) while later migrations are applied.
DROP FUNCTION achievements.current_user_id();
DROP FUNCTION achievements_private.create_service_policy(regclass);
DROP FUNCTION achievements_private.grant_to_service_roles(text, text);
DROP FUNCTION achievements_private.grant_to_app_roles(text, text);
DROP FUNCTION achievements_private.grant_to(text, text, text);
DROP FUNCTION achievements_private.role_list_sql(text[]);
DROP FUNCTION achievements_private.parse_user_ref(text);
DROP DOMAIN achievements.user_ref;
DROP FUNCTION achievements_private.check_install_options(text, text, text);
DROP FUNCTION achievements_private.parse_role_list(text, text);
DROP TABLE achievements_private.install_options;
DROP TABLE achievements_private.applied_migrations;
DROP SCHEMA achievements_private;
DROP SCHEMA achievements;
