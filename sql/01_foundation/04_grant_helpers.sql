-- Grants and policies for the roles chosen at install (app_roles, service_roles). Every file
-- grants its own objects with these helpers, next to their definitions.

-- The roles as a GRANT/POLICY role list ("PUBLIC", quoted names); NULL for an empty array.
CREATE FUNCTION achievements_private.role_list_sql(roles text[])
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(CASE WHEN r = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ')
      FROM unnest(roles) AS r
$$;

-- Runs GRANT privileges ON object TO roles (a role_list_sql list); nothing when roles is NULL.
-- `privileges` and `object` are SQL written by this package's own install files (e.g. 'SELECT',
-- 'TABLE achievements.levels'), never user input; `roles` comes from role_list_sql, which
-- quotes every name.
CREATE FUNCTION achievements_private.grant_to(roles text, privileges text, object text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- No user input reaches the EXECUTE below (see above):
    -- @plpgsql_check_options: security_warnings = false
    IF roles IS NOT NULL THEN
        EXECUTE format('GRANT %s ON %s TO %s', privileges, object, roles);
    END IF;
END
$$;

-- Runs GRANT privileges ON object TO every application role chosen at install.
CREATE FUNCTION achievements_private.grant_to_app_roles(privileges text, object text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT achievements_private.grant_to(achievements_private.role_list_sql(app_roles), privileges, object)
      FROM achievements_private.install_options
$$;

-- Runs GRANT privileges ON object TO every service role chosen at install (none by default).
CREATE FUNCTION achievements_private.grant_to_service_roles(privileges text, object text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT achievements_private.grant_to(achievements_private.role_list_sql(service_roles), privileges, object)
      FROM achievements_private.install_options
$$;

-- Gives the service roles every row of a per-user table through a policy named service_roles_all.
-- Creates nothing when no service role was chosen at install.
CREATE FUNCTION achievements_private.create_service_policy(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roles text := (SELECT achievements_private.role_list_sql(service_roles)
                     FROM achievements_private.install_options);
BEGIN
    -- role_list_sql quotes every role name:
    -- @plpgsql_check_options: security_warnings = false
    IF roles IS NOT NULL THEN
        EXECUTE format('CREATE POLICY service_roles_all ON %s TO %s USING (true) WITH CHECK (true)',
                       tbl, roles);
    END IF;
END
$$;

SELECT achievements_private.grant_to_app_roles('USAGE', 'SCHEMA achievements');
SELECT achievements_private.grant_to_service_roles('USAGE', 'SCHEMA achievements');
