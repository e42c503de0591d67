-- 0001 foundation: the public and private schemas, the install options, the user id
-- domain chosen once at install, the grant helpers and current_user_id().
--
-- Install options are read from settings, so that the CLI and psql set them the same way:
--   achievements.user_id_type   uuid (default) | bigint | text
--   achievements.app_roles      comma-separated roles that read their own rows (default PUBLIC)
--   achievements.service_roles  comma-separated trusted roles that record steps for any user
--                               and read every row (default: none; the owner always can)
-- e.g.  PGOPTIONS='-c achievements.user_id_type=bigint' psql -f sql/achievements.sql

DO $install_guard$
BEGIN
    IF to_regnamespace('achievements') IS NOT NULL THEN
        RAISE EXCEPTION 'achievements-db is already installed in database "%"', current_database()
            USING ERRCODE = 'AD006',
                  HINT = 'Upgrade with "achievements-db migrate"; sql/achievements.sql installs into a database that does not have it yet.';
    END IF;
END
$install_guard$;

CREATE SCHEMA achievements;
COMMENT ON SCHEMA achievements IS
    'achievements-db public API: levels, steps, tallies, badges. Everything here is documented in the README; objects whose name starts with _ are not API.';

CREATE SCHEMA achievements_private;
COMMENT ON SCHEMA achievements_private IS
    'achievements-db internals: may change in any release; application roles have no access.';
REVOKE ALL ON SCHEMA achievements_private FROM PUBLIC;

-- One row: the options this database was installed with. Written once, here.
CREATE TABLE achievements_private.install_options (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    user_id_type  text NOT NULL CHECK (user_id_type IN ('uuid', 'bigint', 'text')),
    app_roles     text[] NOT NULL,
    service_roles text[] NOT NULL
);

-- What is installed, whichever way it was installed: every migration adds its own id here, so
-- a database installed from sql/achievements.sql can later be upgraded by the CLI.
CREATE TABLE achievements_private.applied_migrations (
    id         text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Parses a comma-separated role list, e.g. 'anon, authenticated'; PUBLIC stands for every role.
-- Guarantees: every returned role exists (or is PUBLIC); raises AD006 naming a missing role.
CREATE FUNCTION achievements_private.parse_role_list(raw text, option_name text)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roles text[];
    r     text;
BEGIN
    SELECT coalesce(array_agg(CASE WHEN upper(btrim(item)) = 'PUBLIC' THEN 'PUBLIC' ELSE btrim(item) END
                              ORDER BY ord), '{}')
      INTO roles
      FROM unnest(string_to_array(raw, ',')) WITH ORDINALITY AS u(item, ord)
     WHERE btrim(item) <> '';
    FOREACH r IN ARRAY roles LOOP
        IF r <> 'PUBLIC' AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            RAISE EXCEPTION 'role "%" named in % does not exist', r, option_name
                USING ERRCODE = 'AD006',
                      HINT = 'Create the role first (CREATE ROLE ...), or install with other roles (--app-roles / --service-roles).';
        END IF;
    END LOOP;
    RETURN roles;
END
$$;

DO $options$
DECLARE
    id_type text := lower(btrim(coalesce(nullif(current_setting('achievements.user_id_type', true), ''), 'uuid')));
BEGIN
    IF id_type NOT IN ('uuid', 'bigint', 'text') THEN
        RAISE EXCEPTION 'unsupported user id type "%"', id_type
            USING ERRCODE = 'AD006',
                  HINT = 'Choose uuid (the default), bigint or text.';
    END IF;
    INSERT INTO achievements_private.install_options (user_id_type, app_roles, service_roles)
    VALUES (id_type,
            achievements_private.parse_role_list(
                coalesce(current_setting('achievements.app_roles', true), 'PUBLIC'), 'achievements.app_roles'),
            achievements_private.parse_role_list(
                coalesce(current_setting('achievements.service_roles', true), ''), 'achievements.service_roles'));

    EXECUTE format('CREATE DOMAIN achievements.user_ref AS %s', id_type);

    -- parse_user_ref: the text of a claim as a user id, or NULL when it is not one. Never raises.
    EXECUTE format($f$
        CREATE FUNCTION achievements_private.parse_user_ref(raw text)
        RETURNS achievements.user_ref
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN %s
    $f$, CASE id_type
        WHEN 'uuid' THEN
            $e$(CASE WHEN btrim(raw) ~* '^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$'
                     THEN btrim(raw)::uuid END)::achievements.user_ref$e$
        WHEN 'bigint' THEN
            $e$(CASE WHEN btrim(raw) ~ '^[-+]?[0-9]{1,19}$'
                     THEN CASE WHEN btrim(raw)::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
                               THEN btrim(raw)::bigint END END)::achievements.user_ref$e$
        ELSE
            $e$nullif(raw, '')::achievements.user_ref$e$
        END);
END
$options$;

-- Raises AD006 when an option given to a later migrate differs from the one this database was
-- installed with (NULL: not given). The user id type and the roles are chosen once, at install.
CREATE FUNCTION achievements_private.check_install_options(
    user_id_type text, app_roles text, service_roles text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    installed achievements_private.install_options;
BEGIN
    SELECT * INTO installed FROM achievements_private.install_options;
    IF user_id_type IS NOT NULL AND lower(btrim(user_id_type)) IS DISTINCT FROM installed.user_id_type THEN
        RAISE EXCEPTION 'this database was installed with user id type %; it cannot change to %',
                        installed.user_id_type, user_id_type
            USING ERRCODE = 'AD006',
                  HINT = 'The user id type is chosen once, at first install: leave out --user-id-type, or install into a new database.';
    END IF;
    IF app_roles IS NOT NULL
       AND achievements_private.parse_role_list(app_roles, 'achievements.app_roles') IS DISTINCT FROM installed.app_roles THEN
        RAISE EXCEPTION 'this database was installed with app roles %; they cannot change to %',
                        installed.app_roles, app_roles
            USING ERRCODE = 'AD006', HINT = 'Leave out --app-roles; grant further roles by hand.';
    END IF;
    IF service_roles IS NOT NULL
       AND achievements_private.parse_role_list(service_roles, 'achievements.service_roles') IS DISTINCT FROM installed.service_roles THEN
        RAISE EXCEPTION 'this database was installed with service roles %; they cannot change to %',
                        installed.service_roles, service_roles
            USING ERRCODE = 'AD006', HINT = 'Leave out --service-roles; grant further roles by hand.';
    END IF;
END
$$;

COMMENT ON DOMAIN achievements.user_ref IS
    'The type of every user id in achievements-db; its base type (uuid, bigint or text) is chosen once, at install.';

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
CREATE FUNCTION achievements_private.grant_to(roles text, privileges text, object text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
    IF roles IS NOT NULL THEN
        EXECUTE format('CREATE POLICY service_roles_all ON %s TO %s USING (true) WITH CHECK (true)',
                       tbl, roles);
    END IF;
END
$$;

-- The user of the current request: the "sub" claim that PostgREST and Supabase put in
-- request.jwt.claims, else request.jwt.claim.sub (PostgREST < 9), else jwt.claims.user_id.
-- NULL when none is set or the value is not a valid user id.
CREATE FUNCTION achievements.current_user_id()
RETURNS achievements.user_ref
LANGUAGE sql STABLE PARALLEL SAFE
RETURN achievements_private.parse_user_ref(coalesce(
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub',
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('jwt.claims.user_id', true), '')));

COMMENT ON FUNCTION achievements.current_user_id() IS
    'The user of the current request, from request.jwt.claims->>sub (PostgREST, Supabase) or jwt.claims.user_id; NULL when unset or not a valid user id.';

SELECT achievements_private.grant_to_app_roles('USAGE', 'SCHEMA achievements');
SELECT achievements_private.grant_to_service_roles('USAGE', 'SCHEMA achievements');

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0001_foundation');
