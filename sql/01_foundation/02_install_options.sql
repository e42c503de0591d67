-- The install options, chosen once at first install and read from settings, so that the CLI
-- (migrate --user-id-type ...) and psql (PGOPTIONS='-c achievements.user_id_type=bigint') set
-- them the same way:
--   achievements.user_id_type   uuid (default) | bigint | text
--   achievements.app_roles      comma-separated roles that read their own rows (default PUBLIC)
--   achievements.service_roles  comma-separated trusted roles that record steps for any user
--                               and read every row (default: none; the owner always can)

-- One row: the options this database was installed with. Written once, below.
CREATE TABLE achievements_private.install_options (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    user_id_type  text NOT NULL CHECK (user_id_type IN ('uuid', 'bigint', 'text')),
    app_roles     text[] NOT NULL,
    service_roles text[] NOT NULL
);
COMMENT ON TABLE achievements_private.install_options IS
    'The install options this database was installed with (one row, written at install).';

-- The user id type named by `raw` (NULL or empty: uuid), in lower case. Raises AD006 for a type
-- other than uuid, bigint and text.
CREATE FUNCTION achievements_private.parse_user_id_type(raw text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id_type text := lower(btrim(coalesce(nullif(raw, ''), 'uuid')));
BEGIN
    IF id_type NOT IN ('uuid', 'bigint', 'text') THEN
        RAISE EXCEPTION 'unsupported user id type "%"', id_type
            USING ERRCODE = 'AD006',
                  HINT = 'Choose uuid (the default), bigint or text.';
    END IF;
    RETURN id_type;
END
$$;

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

INSERT INTO achievements_private.install_options (user_id_type, app_roles, service_roles)
VALUES (achievements_private.parse_user_id_type(current_setting('achievements.user_id_type', true)),
        achievements_private.parse_role_list(
            coalesce(current_setting('achievements.app_roles', true), 'PUBLIC'), 'achievements.app_roles'),
        achievements_private.parse_role_list(
            coalesce(current_setting('achievements.service_roles', true), ''), 'achievements.service_roles'));
