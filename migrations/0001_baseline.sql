-- 0001_baseline: achievements-db 0.1.0, the first release. Every object as sql/ defined it at
-- that release (written by `python -m achievements_db.sources --migration`). Released
-- migrations are frozen (migrations/released.toml): changes come as new migrations.
-- Everything here is created, nothing existing is locked or rewritten, so squawk's rules about
-- locks on existing tables do not apply to this file:
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, constraint-missing-not-valid, adding-serial-primary-key-field

-- ==== sql/01_foundation/01_schemas.sql ====

-- The two schemas of achievements-db, and the record of what is installed.
--
--   achievements          the public API; everything in it is documented (README, docs/).
--   achievements_private  internals, which may change in any release. Only the owner and the
--                         service roles use it; who may call what: 99_finish/01_private_functions.sql.

-- Refuses a database that has achievements-db already (AD006): the single-file install never
-- runs over an install. Installs wait for each other on a transaction-scoped advisory lock
-- (docs/locks.md), so of two concurrent installs the second refuses with this error instead of
-- failing on a duplicate schema name.
DO $install_guard$
BEGIN
    PERFORM pg_advisory_xact_lock(1633838659, -1);
    IF to_regnamespace('achievements') IS NOT NULL THEN
        RAISE EXCEPTION 'achievements-db is already installed in database "%"', current_database()
            USING ERRCODE = 'AD006',
                  HINT = 'Upgrade with "achievements-db migrate"; sql/achievements.sql installs into a database that does not have it yet.';
    END IF;
END
$install_guard$;

CREATE SCHEMA achievements;
COMMENT ON SCHEMA achievements IS
    'achievements-db public API: levels, steps, tallies, tracking, badges, notifications. Everything here is documented (README, docs/).';

CREATE SCHEMA achievements_private;
COMMENT ON SCHEMA achievements_private IS
    'achievements-db internals: may change in any release; not for application use.';
REVOKE ALL ON SCHEMA achievements_private FROM PUBLIC;

-- What is installed, whichever way it was installed: every migration adds its own id here (and
-- the single-file install adds them all: 99_installed_migrations.sql), so that a database
-- installed with psql can later be upgraded by the CLI.
CREATE TABLE achievements_private.applied_migrations (
    id         text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE achievements_private.applied_migrations IS
    'The migrations this database has, however it was installed (CLI or sql/achievements.sql).';

-- ==== sql/01_foundation/02_install_options.sql ====

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

-- ==== sql/01_foundation/03_user_ref.sql ====

-- The type of every user id: the domain achievements.user_ref over the base type chosen at
-- install (uuid, bigint or text), and the parser that reads a user id from the text of a claim.
-- Both depend on that option, so they are the two objects built with EXECUTE; everything else
-- is written out.

DO $user_ref$
DECLARE
    id_type text := (SELECT o.user_id_type FROM achievements_private.install_options AS o);
BEGIN
    EXECUTE format('CREATE DOMAIN achievements.user_ref AS %s', id_type);

    -- parse_user_ref(raw): the text of a claim as a user id, or NULL when it is not one. Never
    -- raises (uuid: 8-4-4-4-12 or 32 hex digits; bigint: a 64-bit integer; text: non-empty).
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
$user_ref$;

COMMENT ON DOMAIN achievements.user_ref IS
    'The type of every user id in achievements-db; its base type (uuid, bigint or text) is chosen once, at install.';
COMMENT ON FUNCTION achievements_private.parse_user_ref(text) IS
    'The text of a claim or column as a user id; NULL when it is not one. Never raises.';

-- ==== sql/01_foundation/04_grant_helpers.sql ====

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

-- ==== sql/01_foundation/05_current_user_id.sql ====

-- The user of the current request: the "sub" claim that PostgREST and Supabase put in
-- request.jwt.claims, else request.jwt.claim.sub (PostgREST < 9), else jwt.claims.user_id.
-- NULL when none is set or the value is not a valid user id. Never raises.
CREATE FUNCTION achievements.current_user_id()
RETURNS achievements.user_ref
LANGUAGE sql STABLE PARALLEL SAFE
RETURN achievements_private.parse_user_ref(coalesce(
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub',
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('jwt.claims.user_id', true), '')));
COMMENT ON FUNCTION achievements.current_user_id() IS
    'The user of the current request, from request.jwt.claims->>sub (PostgREST, Supabase) or jwt.claims.user_id; NULL when unset or not a valid user id.';

-- ==== sql/01_foundation/06_user_access.sql ====

-- Who may ask about which user: the checks every per-user function runs first.

-- Raises AD005 when no user is given, and 42501 when the caller is subject to row level
-- security, asks about another user than its own, and holds no policy that shows every row
-- (service_roles_all). Returns the user, so that callers write
-- `who := achievements_private.readable_user(who)`. Runs with the caller's rights (it asks
-- whether row level security applies to the caller), so the read functions that call it do too.
CREATE FUNCTION achievements_private.readable_user(user_id achievements.user_ref)
RETURNS achievements.user_ref
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF user_id IS NULL THEN
        RAISE EXCEPTION 'no user: user_id is NULL and the request carries no user claim'
            USING ERRCODE = 'AD005',
                  HINT = 'Pass a user id, or set request.jwt.claims (PostgREST, Supabase) or jwt.claims.user_id.';
    END IF;
    IF user_id IS DISTINCT FROM achievements.current_user_id()
       AND row_security_active('achievements.user_achievements')
       AND NOT EXISTS (
           SELECT 1
             FROM pg_policy AS p
            WHERE p.polrelid = 'achievements.user_achievements'::regclass
              AND p.polname = 'service_roles_all'
              AND EXISTS (SELECT 1 FROM unnest(p.polroles) AS r
                           WHERE r = 0 OR pg_has_role(current_user, r, 'USAGE')))
    THEN
        RAISE EXCEPTION 'permission denied: role % may read only its own progress', current_user
            USING ERRCODE = '42501',
                  HINT = 'Ask for the user of the request (leave user_id out), or call from a service role.';
    END IF;
    RETURN user_id;
END
$$;

-- The user of the request (current_user_id()), or AD005 naming the function `fn` that needs one.
CREATE FUNCTION achievements_private.require_user(fn text)
RETURNS achievements.user_ref
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who achievements.user_ref := achievements.current_user_id();
BEGIN
    IF who IS NULL THEN
        RAISE EXCEPTION '%: the request carries no user claim', fn USING ERRCODE = 'AD005',
            HINT = 'Set request.jwt.claims (PostgREST, Supabase) or jwt.claims.user_id to the user.';
    END IF;
    RETURN who;
END
$$;

-- ==== sql/01_foundation/07_outside_dependents.sql ====

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

-- The objects outside the schemas achievements and achievements_private that depend on an
-- object inside them (a view over one of its tables, a trigger running one of its trigger
-- functions, a column of type achievements.user_ref), each as "<object> (uses <object>)".
CREATE FUNCTION achievements_private.outside_dependents()
RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT format('%s (uses %s)', pg_describe_object(d.classid, d.objid, d.objsubid),
                           pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid))
      FROM pg_depend AS d,
           LATERAL (SELECT ARRAY[to_regnamespace('achievements'), to_regnamespace('achievements_private')]::oid[] AS ours) AS o
     WHERE d.deptype IN ('n', 'a')
       AND achievements_private.object_schema(d.refclassid, d.refobjid) = ANY (o.ours)
       AND NOT coalesce(achievements_private.object_schema(d.classid, d.objid) = ANY (o.ours), false)
     ORDER BY 1
$$;

-- ==== sql/02_levels/levels.sql ====

-- Levels and the steps each one requires (the model of @pgpm/achievements).

CREATE TABLE achievements.levels (
    name        text PRIMARY KEY CHECK (name <> ''),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE achievements.levels IS
    'Levels a user reaches once every requirement in level_requirements is met.';

CREATE TABLE achievements.level_requirements (
    id             int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    level          text NOT NULL REFERENCES achievements.levels (name)
                       ON DELETE CASCADE ON UPDATE CASCADE,
    name           text NOT NULL CHECK (name <> ''),
    required_count int NOT NULL DEFAULT 1 CHECK (required_count > 0),
    priority       int NOT NULL DEFAULT 100,
    UNIQUE (level, name)
);
COMMENT ON TABLE achievements.level_requirements IS
    'Per level: the step (name) and how many of it (required_count) the level requires; priority orders them for display.';
COMMENT ON COLUMN achievements.level_requirements.name IS 'The step, as recorded in user_steps.name.';

-- "Which levels does this step count toward?" is asked on every tally change.
CREATE INDEX level_requirements_name_idx ON achievements.level_requirements (name, level);

SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.levels, achievements.level_requirements');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.levels, achievements.level_requirements');

-- Raises AD001 unless `level` is a row of achievements.levels.
CREATE FUNCTION achievements_private.assert_level(level text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM achievements.levels AS l WHERE l.name = assert_level.level) THEN
        RAISE EXCEPTION 'unknown level %', coalesce(quote_literal(level), 'NULL')
            USING ERRCODE = 'AD001',
                  HINT = 'Levels are the rows of achievements.levels: SELECT name FROM achievements.levels.';
    END IF;
END
$$;

-- ==== sql/03_steps/01_user_steps.sql ====

-- The step log: every change to a tally is a row here (a negative count is an undo). Rows
-- inserted by the application are folded into the tallies by a statement-level trigger; the
-- package's own functions log theirs in the child table recorded_steps together with the tally
-- (add_to_tallies), so they skip that trigger.

CREATE TABLE achievements.user_steps (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    achievements.user_ref NOT NULL,
    name       text NOT NULL CHECK (name <> ''),
    count      int NOT NULL DEFAULT 1 CHECK (count <> 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE achievements.user_steps IS
    'Append-only log of steps: a row with count n stands for n steps (negative: n undone). Inserting rows here records steps. Deleting rows prunes history and leaves tallies as they are.';
CREATE INDEX user_steps_user_idx ON achievements.user_steps (user_id, name, id);

-- The rows that record_step, undo_step and the functions track() generates log. Reading
-- user_steps shows them with the rest (tableoid tells them apart); inserting here does not fire
-- the user_steps trigger, because add_to_tallies writes these rows together with the tally.
-- Only the owner writes here; user_steps' row level security and grants govern every read.
CREATE TABLE achievements_private.recorded_steps () INHERITS (achievements.user_steps);
ALTER TABLE achievements_private.recorded_steps
    ALTER COLUMN id SET DEFAULT nextval('achievements.user_steps_id_seq'),
    ADD PRIMARY KEY (id);
CREATE INDEX recorded_steps_user_idx ON achievements_private.recorded_steps (user_id, name, id);
ALTER TABLE achievements_private.recorded_steps ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE achievements_private.recorded_steps IS
    'The part of the user_steps log written by record_step, undo_step and track(): read it through achievements.user_steps.';

-- Folds one statement's rows inserted into user_steps into the tallies: one delta per
-- (user, step), the statement's sum, through add_to_tallies (exact, deadlock-free, AD003).
CREATE FUNCTION achievements_private.tally_new_steps()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    user_ids achievements.user_ref[];
    names    text[];
    deltas   int[];
BEGIN
    SELECT array_agg(s.user_id), array_agg(s.name), array_agg(s.delta)
      INTO user_ids, names, deltas
      FROM (SELECT n.user_id, n.name, sum(n.count)::int AS delta
              FROM new_steps AS n
             GROUP BY n.user_id, n.name) AS s;
    IF user_ids IS NOT NULL THEN
        PERFORM achievements_private.add_to_tallies(user_ids, names, deltas, false);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_tally_new_steps
    AFTER INSERT ON achievements.user_steps
    REFERENCING NEW TABLE AS new_steps
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.tally_new_steps();

-- Refuses UPDATE on the append-only log (AD004), before any row changes.
CREATE FUNCTION achievements_private.refuse_step_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'achievements.user_steps is an append-only log; its rows cannot be updated'
        USING ERRCODE = 'AD004',
              HINT = 'Record a correction instead: achievements.undo_step() or a row with a negative count.';
END
$$;

CREATE TRIGGER _000_refuse_update
    BEFORE UPDATE ON achievements.user_steps
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.refuse_step_update();

-- Row level security: a role reads its own rows; service roles read (and log) every row.
ALTER TABLE achievements.user_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_steps FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_steps');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_steps');
SELECT achievements_private.grant_to_service_roles('SELECT, INSERT', 'TABLE achievements.user_steps');

-- ==== sql/03_steps/02_user_achievements.sql ====

-- The tallies: per user and step, the sum of that user's rows in user_steps, never below 0.
-- Written only by add_to_tallies.

-- fillfactor 75: every step updates a tally row, and a quarter of each page left free keeps the
-- new row version on its page (a HOT update: no new index entry, less WAL), for 25 % more space.
CREATE TABLE achievements.user_achievements (
    user_id    achievements.user_ref NOT NULL,
    name       text NOT NULL,
    count      int NOT NULL,
    first_at   timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, name)
) WITH (fillfactor = 75);
COMMENT ON TABLE achievements.user_achievements IS
    'Tally per user and step, written only by achievements-db: the sum of that user''s rows in user_steps, never below 0.';

ALTER TABLE achievements.user_achievements ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_achievements FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_achievements');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_achievements');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_achievements');

-- ==== sql/03_steps/03_add_to_tallies.sql ====

-- The one place that writes tallies and recorded_steps.

-- Adds one delta to the tally of each (user, step) given, creating tallies as needed, then hands
-- the changed tallies to tallies_changed (levels, badges: 09_reactions). The arrays hold one
-- element per (user, step), no pair twice. With log_steps, first logs the deltas in
-- recorded_steps: every caller but the user_steps trigger (whose rows are in the log already)
-- passes true, so a logged step and its tally are always written together. Returns the new
-- tally when given one pair, else NULL.
-- Guarantees: exact under concurrency (each delta is added to the latest committed tally under
-- its row lock); tallies are locked in (user_id, name) order, so concurrent calls cannot
-- deadlock on each other; raises AD003, undoing the whole statement, when a tally would go
-- below zero. One positive delta (record_step, a single-row insert) takes single-row
-- statements, planned once per session: an UPDATE of the existing tally, else a one-row upsert.
-- Callers: the user_steps trigger, record_step, undo_step and the functions track() generates.
-- No SET search_path (every name in it is qualified; only the owner can call it): its callers
-- pin it, and saving and restoring the setting would cost every step.
CREATE FUNCTION achievements_private.add_to_tallies(
    user_ids achievements.user_ref[], names text[], deltas int[], log_steps boolean)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    below      record;
    tally      int;
    old_counts int[];
    new_counts int[];
BEGIN
    -- One row by VALUES: an INSERT from unnest() would be planned again on every call.
    IF log_steps AND cardinality(user_ids) = 1 THEN
        INSERT INTO achievements_private.recorded_steps (user_id, name, count)
        VALUES (user_ids[1], names[1], deltas[1]);
    ELSIF log_steps THEN
        INSERT INTO achievements_private.recorded_steps (user_id, name, count)
        SELECT s.user_id, s.name, s.delta FROM unnest(user_ids, names, deltas) AS s(user_id, name, delta);
    END IF;
    IF cardinality(user_ids) = 1 AND deltas[1] > 0 THEN
        UPDATE achievements.user_achievements AS t
           SET count = t.count + deltas[1], updated_at = now()
         WHERE t.user_id = user_ids[1] AND t.name = names[1]
        RETURNING t.count INTO tally;
        IF NOT FOUND THEN
            -- A new tally, or one a concurrent transaction has just inserted: the upsert adds
            -- to it under its row lock.
            INSERT INTO achievements.user_achievements AS t (user_id, name, count)
            VALUES (user_ids[1], names[1], deltas[1])
            ON CONFLICT (user_id, name)
            DO UPDATE SET count = t.count + excluded.count, updated_at = now()
            RETURNING t.count INTO tally;
        END IF;
        PERFORM achievements_private.tallies_changed(user_ids, names, ARRAY[tally - deltas[1]], ARRAY[tally]);
        RETURN tally;
    END IF;
    -- The count before is the count after minus the delta, which the upsert adds under the
    -- row lock.
    WITH steps AS (
        SELECT s.user_id, s.name, s.delta
          FROM unnest(user_ids, names, deltas) AS s(user_id, name, delta)
    ), tallied AS (
        INSERT INTO achievements.user_achievements AS t (user_id, name, count)
        SELECT s.user_id, s.name, s.delta FROM steps AS s ORDER BY s.user_id, s.name
        ON CONFLICT (user_id, name)
        DO UPDATE SET count = t.count + excluded.count, updated_at = now()
        RETURNING t.user_id, t.name, t.count
    )
    SELECT array_agg(t.user_id), array_agg(t.name), array_agg(t.count - s.delta), array_agg(t.count)
      INTO user_ids, names, old_counts, new_counts
      FROM tallied AS t
      JOIN steps AS s ON s.user_id = t.user_id AND s.name = t.name;
    IF 0 > ANY (deltas) THEN
        SELECT c.user_id, c.name, c.count INTO below
          FROM unnest(user_ids, names, new_counts) AS c(user_id, name, count)
         WHERE c.count < 0
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'step "%" of user % would fall below zero (to %)', below.name, below.user_id, below.count
                USING ERRCODE = 'AD003',
                      HINT = 'Undo with achievements.undo_step(), which stops at zero, or insert smaller negative counts.';
        END IF;
    END IF;
    IF user_ids IS NOT NULL THEN
        PERFORM achievements_private.tallies_changed(user_ids, names, old_counts, new_counts);
    END IF;
    RETURN CASE WHEN cardinality(new_counts) = 1 THEN new_counts[1] END;
END
$$;

-- ==== sql/03_steps/04_record_step.sql ====

-- Recording and undoing steps by call (owner and service roles).

-- Records `count` steps of `step` for a user; returns the user's new tally of that step.
-- Logs the step and adds it to the tally in one call of add_to_tallies: exact under
-- concurrency. Raises AD002 for a count below 1 or an empty step, AD005 for a NULL user.
CREATE FUNCTION achievements.record_step(user_id achievements.user_ref, step text, count int DEFAULT 1)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF record_step.user_id IS NULL THEN
        RAISE EXCEPTION 'record_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who took the step.';
    END IF;
    IF record_step.count IS NULL OR record_step.count < 1 OR coalesce(step, '') = '' THEN
        RAISE EXCEPTION 'record_step: count must be a positive number and step a non-empty name (got count %, step %)',
                        coalesce(record_step.count::text, 'NULL'), coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'To take steps back, call achievements.undo_step(user_id, step, count).';
    END IF;
    RETURN achievements_private.add_to_tallies(ARRAY[record_step.user_id], ARRAY[step], ARRAY[record_step.count], true);
END
$$;
COMMENT ON FUNCTION achievements.record_step(achievements.user_ref, text, int) IS
    'Records count (default 1) steps for a user; returns the new tally. Exact under concurrency.';

-- Takes back up to `count` steps of `step`; a tally never goes below 0. Returns the new tally.
-- Locks the tally row first, so concurrent undos of one tally never take back more than it has.
-- Logs the amount actually taken back as a negative row (nothing when the tally is already 0).
-- Raises AD002 for a count below 1 or an empty step, AD005 for a NULL user.
CREATE FUNCTION achievements.undo_step(user_id achievements.user_ref, step text, count int DEFAULT 1)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    tally int;
    taken int;
BEGIN
    IF undo_step.user_id IS NULL THEN
        RAISE EXCEPTION 'undo_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user whose step is undone.';
    END IF;
    IF undo_step.count IS NULL OR undo_step.count < 1 OR coalesce(step, '') = '' THEN
        RAISE EXCEPTION 'undo_step: count must be a positive number and step a non-empty name (got count %, step %)',
                        coalesce(undo_step.count::text, 'NULL'), coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'count is how many steps to take back, e.g. achievements.undo_step(user_id, step, 1).';
    END IF;
    SELECT t.count INTO tally
      FROM achievements.user_achievements AS t
     WHERE t.user_id = undo_step.user_id AND t.name = step
       FOR UPDATE;
    taken := least(coalesce(tally, 0), undo_step.count);
    IF taken > 0 THEN
        PERFORM achievements_private.add_to_tallies(ARRAY[undo_step.user_id], ARRAY[step], ARRAY[-taken], true);
    END IF;
    RETURN coalesce(tally, 0) - taken;
END
$$;
COMMENT ON FUNCTION achievements.undo_step(achievements.user_ref, text, int) IS
    'Takes back up to count (default 1) steps for a user, never below 0; returns the new tally.';

REVOKE EXECUTE ON FUNCTION achievements.record_step(achievements.user_ref, text, int),
                           achievements.undo_step(achievements.user_ref, text, int) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.record_step(achievements.user_ref, text, int), achievements.undo_step(achievements.user_ref, text, int)');

-- ==== sql/03_steps/05_progress.sql ====

-- What a user still lacks for a level, from the tallies (the reads of @pgpm/achievements).
--
-- The public reads of per-user data are SQL functions that run with the caller's rights: they
-- first ask readable_user (as the caller) whether the caller may read that user, then call
-- their half in achievements_private, which reads as the owner. Their bodies are SQL-standard
-- (bound when created), so callers need no access to achievements_private.

-- The requirements of `level_name` that `who` has not met yet, by priority: required_count is
-- what is still missing. Raises AD001 for an unknown level.
CREATE FUNCTION achievements_private.steps_required(level_name text, who achievements.user_ref)
RETURNS TABLE (id int, name text, level text, required_count int, priority int)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM achievements_private.assert_level(level_name);
    RETURN QUERY
        SELECT r.id, r.name, r.level, r.required_count - coalesce(t.count, 0), r.priority
          FROM achievements.level_requirements AS r
          LEFT JOIN achievements.user_achievements AS t
                 ON t.user_id = who AND t.name = r.name
         WHERE r.level = level_name
           AND coalesce(t.count, 0) < r.required_count
         ORDER BY r.priority, r.name;
END
$$;

-- The requirements of `level_name` that the user has not met yet, by priority: required_count is
-- what is still missing. Raises AD005 without a user, 42501 when an application role asks about
-- another user, AD001 for an unknown level.
CREATE FUNCTION achievements.steps_required(
    level_name text,
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS TABLE (id int, name text, level text, required_count int, priority int)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.steps_required(level_name, achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.steps_required(text, achievements.user_ref) IS
    'Requirements of a level the user has not met, by priority; required_count is what is still missing.';

-- Whether the user meets every requirement of `level_name` (true for a level without
-- requirements). Same errors as steps_required.
CREATE FUNCTION achievements.user_achieved(
    level_name text,
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS boolean
LANGUAGE sql STABLE
RETURN NOT EXISTS (SELECT 1 FROM achievements.steps_required(level_name, user_id));
COMMENT ON FUNCTION achievements.user_achieved(text, achievements.user_ref) IS
    'Whether the user meets every requirement of the level.';

-- ==== sql/04_user_levels/01_user_levels.sql ====

-- Levels are awarded, not only computed: a user gets a row the moment their tallies first meet
-- every requirement of a level, whichever way the steps arrived. Awarded levels are kept: a
-- later undo, or a requirement added later, does not take them away.

CREATE TABLE achievements.user_levels (
    user_id     achievements.user_ref NOT NULL,
    level       text NOT NULL REFERENCES achievements.levels (name) ON DELETE CASCADE ON UPDATE CASCADE,
    achieved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, level)
);
COMMENT ON TABLE achievements.user_levels IS
    'Levels each user has reached, awarded once, at the moment the last requirement was met; kept when a step is undone later.';
CREATE INDEX user_levels_level_idx ON achievements.user_levels (level, achieved_at);

ALTER TABLE achievements.user_levels ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_levels FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_levels');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_levels');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_levels');

-- Takes the transaction-scoped locks that serialize level and badge checks of these users.
-- Without them, two transactions that each complete one of two requirements would each miss
-- the other's uncommitted tally and neither would award the level. Users are hashed into 256
-- lock buckets (keys 1..256 of class 1633838659, docs/locks.md), so a statement over 100,000
-- users takes at most 256 locks; buckets are locked in key order, so two statements cannot
-- deadlock on them. Two users in one bucket merely wait for each other.
CREATE FUNCTION achievements_private.lock_users(user_ids achievements.user_ref[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_advisory_xact_lock(1633838659, bucket)
      FROM (SELECT DISTINCT 1 + (hashtext(u::text) & 255) AS bucket FROM unnest(user_ids) AS u) AS buckets
     ORDER BY bucket;
$$;

-- ==== sql/04_user_levels/02_award_levels.sql ====

-- Awarding levels as tallies change (called by tallies_changed, 09_reactions).

-- Awards the levels that the changed tallies complete (the arrays are tallies_changed's: user,
-- step, count before and after of each changed tally). A tally completes a level when it rises
-- past one of the level's requirements (before < required_count <= after) and the user then
-- meets every other requirement too. Levels and requirements added later are caught up with
-- backfill_levels(), as badges are with backfill_badge().
-- Guarantees: once per user and level (primary key, ON CONFLICT DO NOTHING); none lost to
-- concurrent transactions under READ COMMITTED: the user's lock (lock_users) serializes the
-- checks, and the award query, run after it, takes a fresh snapshot that shows what a
-- transaction that held the lock before committed.
-- Generic plans: its queries read unnested arrays, for which PostgreSQL would otherwise plan
-- every one-tally call again. No SET search_path (every name in it is qualified): it runs only
-- under add_to_tallies, whose callers pin it, and only the owner can call it.
CREATE FUNCTION achievements_private.award_levels(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    candidates achievements.user_ref[];
BEGIN
    SELECT array_agg(DISTINCT c.user_id) INTO candidates
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
     WHERE EXISTS (SELECT 1 FROM achievements.level_requirements AS r
                    WHERE r.name = c.name
                      AND r.required_count > c.old_count AND r.required_count <= c.new_count);
    IF candidates IS NULL THEN
        RETURN;
    END IF;
    PERFORM achievements_private.lock_users(candidates);
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT DISTINCT c.user_id, r.level
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
      JOIN achievements.level_requirements AS r
        ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
     WHERE NOT EXISTS (SELECT 1
                         FROM achievements.level_requirements AS r2
                         LEFT JOIN achievements.user_achievements AS t
                                ON t.user_id = c.user_id AND t.name = r2.name
                        WHERE r2.level = r.level AND coalesce(t.count, 0) < r2.required_count)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
END
$$;

-- ==== sql/04_user_levels/03_backfill_levels.sql ====

-- Catching up levels that users already meet (a level or requirement added later).

-- Awards `level_name` (every level when NULL) to every user who already meets it, in one
-- set-based statement; returns how many levels were awarded. Idempotent. Silent, as
-- backfill_badge is: no notifications (achievements.quiet is on for the statement and put back
-- afterwards). Levels without requirements are never awarded (no step reaches them). Raises
-- AD001 for an unknown level. Owner and service roles.
CREATE FUNCTION achievements.backfill_levels(level_name text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    awarded int;
    before  text;
BEGIN
    IF level_name IS NOT NULL THEN
        PERFORM achievements_private.assert_level(level_name);
    END IF;
    before := achievements_private.set_quiet('on');
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT t.user_id, r.level
      FROM achievements.level_requirements AS r
      JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
     WHERE level_name IS NULL OR r.level = level_name
     GROUP BY t.user_id, r.level
    HAVING count(*) = (SELECT count(*) FROM achievements.level_requirements AS r2 WHERE r2.level = r.level)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS awarded = ROW_COUNT;
    PERFORM achievements_private.set_quiet(before);
    RETURN awarded;
END
$$;
COMMENT ON FUNCTION achievements.backfill_levels(text) IS
    'Awards a level (all when NULL) to every user who already meets it, silently; returns how many were awarded. Idempotent.';

REVOKE EXECUTE ON FUNCTION achievements.backfill_levels(text) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION achievements.backfill_levels(text)');

-- ==== sql/05_tracking/01_tracked_steps.sql ====

-- Tracking: steps counted straight from the application's own tables.
--
-- Four public trigger functions watch one column of a host table (05_trigger_functions.sql):
--   tg_achievement                 counter: +1 each time the column is set to a non-NULL value
--   tg_achievement_toggle          gauge:   the user's rows whose column is non-NULL
--   tg_achievement_boolean         counter: +1 each time the column becomes TRUE
--   tg_achievement_toggle_boolean  gauge:   the user's rows whose column is TRUE
-- achievements.track() wires a mode onto a table with statement-level triggers that run a
-- counting function generated for the table and step (06_generated_functions.sql, 07_track.sql)
-- and records it here.
--
-- SQLSTATEs: AD101 wrong trigger arguments, AD102 watched column missing, AD103 user column
-- missing, AD104 wrong column type, AD105 transition table missing, AD106 not an AFTER trigger,
-- AD107 bad track() argument, AD108 already tracked differently, AD109 gauge step shared.

-- What track() wired: one row per table and step, with the names of its triggers.
CREATE TABLE achievements.tracked_steps (
    tbl           regclass NOT NULL,
    step          text NOT NULL CHECK (step <> ''),
    column_name   text NOT NULL,
    mode          text NOT NULL CHECK (mode IN ('count', 'toggle', 'boolean', 'toggle_boolean')),
    user_column   text,
    trigger_names text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, step)
);
COMMENT ON TABLE achievements.tracked_steps IS
    'Tables and steps wired by achievements.track(); read it through achievements.tracked(), change it only through track() and untrack().';
SELECT achievements_private.grant_to_service_roles('SELECT, INSERT, DELETE', 'TABLE achievements.tracked_steps');

-- ==== sql/05_tracking/02_arguments.sql ====

-- Checking what a tracking trigger or track() is given, and reading a row's user.

-- The public trigger function of a mode: tg_achievement, tg_achievement_toggle,
-- tg_achievement_boolean or tg_achievement_toggle_boolean (for error messages).
CREATE FUNCTION achievements_private.tracking_function_name(mode text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE mode WHEN 'count' THEN 'tg_achievement'
                 WHEN 'toggle' THEN 'tg_achievement_toggle'
                 WHEN 'boolean' THEN 'tg_achievement_boolean'
                 ELSE 'tg_achievement_toggle_boolean' END;

-- Checks the arguments of a tracking trigger (or of track()) against the table and returns them
-- by name. `context` starts every message (it names the trigger or track() and the table).
-- user_cast tells how to read the user column: 'native' (its type is the user id type: cast),
-- 'parse' (text or another type: parsed, NULL when not a valid id), NULL (no user column).
-- Raises AD101 (argument count, empty step), AD102 (no such column), AD103 (no such user
-- column), AD104 (boolean mode on a non-boolean column; user column that cannot hold an id).
-- Read-only; runs with the caller's rights (track() calls it as its caller).
CREATE FUNCTION achievements_private.check_tracking_arguments(
    mode text, tbl oid, args text[], context text,
    OUT column_name text, OUT step text, OUT user_column text, OUT user_cast text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn         text := achievements_private.tracking_function_name(mode);
    first      int := coalesce(array_lower(args, 1), 0);  -- TG_ARGV is indexed from 0
    nargs      int := coalesce(cardinality(args), 0);
    col_type   oid;
    col_base   oid;
    user_type  oid;
    user_base  oid;
    user_kind  "char";
    id_type    oid;
    columns    text;
BEGIN
    IF nargs NOT IN (2, 3) THEN
        RAISE EXCEPTION '%: achievements.%() takes 2 or 3 arguments (column, step [, user_column]), got %',
                        context, fn, nargs
            USING ERRCODE = 'AD101',
                  HINT = format('Recreate the trigger with EXECUTE FUNCTION achievements.%s(''column'', ''step'') or (''column'', ''step'', ''user_column''), or use achievements.track().', fn);
    END IF;
    column_name := args[first];
    step := args[first + 1];
    user_column := CASE WHEN nargs = 3 THEN args[first + 2] END;
    IF coalesce(step, '') = '' THEN
        RAISE EXCEPTION '%: the step (second argument of achievements.%()) is empty', context, fn
            USING ERRCODE = 'AD101',
                  HINT = 'Name the step as it appears in achievements.level_requirements.name, e.g. ''post''.';
    END IF;

    -- One catalog query: both columns, their base types (through two levels of domains; deeper
    -- ones are resolved below), the category of the user column's type and the base type of
    -- achievements.user_ref.
    SELECT col.atttypid, CASE WHEN cb.typtype = 'd' THEN cb.typbasetype ELSE cb.oid END,
           usr.atttypid, CASE WHEN ub.typtype = 'd' THEN ub.typbasetype ELSE ub.oid END,
           ut.typcategory, id.typbasetype
      INTO col_type, col_base, user_type, user_base, user_kind, id_type
      FROM pg_type AS id
      LEFT JOIN pg_attribute AS col
             ON col.attrelid = tbl AND col.attname = column_name AND col.attnum > 0 AND NOT col.attisdropped
      LEFT JOIN pg_type AS ct ON ct.oid = col.atttypid
      LEFT JOIN pg_type AS cb ON cb.oid = CASE WHEN ct.typtype = 'd' THEN ct.typbasetype ELSE ct.oid END
      LEFT JOIN pg_attribute AS usr
             ON usr.attrelid = tbl AND usr.attname = user_column AND usr.attnum > 0 AND NOT usr.attisdropped
      LEFT JOIN pg_type AS ut ON ut.oid = usr.atttypid
      LEFT JOIN pg_type AS ub ON ub.oid = CASE WHEN ut.typtype = 'd' THEN ut.typbasetype ELSE ut.oid END
     WHERE id.oid = 'achievements.user_ref'::regtype;

    IF col_type IS NULL THEN
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
          FROM pg_attribute AS a WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped;
        RAISE EXCEPTION '%: column % does not exist in table %', context,
                        coalesce(quote_ident(column_name), 'NULL'), tbl::regclass
            USING ERRCODE = 'AD102',
                  HINT = format('The first argument is the watched column; table %s has: %s.', tbl::regclass, columns);
    END IF;
    IF mode IN ('boolean', 'toggle_boolean') AND col_base <> 'boolean'::regtype THEN
        -- Domains over domains: resolve the rest of the chain before refusing.
        WHILE (SELECT t.typtype FROM pg_type AS t WHERE t.oid = col_base) = 'd' LOOP
            col_base := (SELECT t.typbasetype FROM pg_type AS t WHERE t.oid = col_base);
        END LOOP;
    END IF;
    IF mode IN ('boolean', 'toggle_boolean') AND col_base <> 'boolean'::regtype THEN
        RAISE EXCEPTION '%: achievements.%() watches a boolean column, but % is %', context, fn,
                        quote_ident(column_name), format_type(col_type, NULL)
            USING ERRCODE = 'AD104',
                  HINT = 'Watch a boolean column, or count non-NULL values of any type with tg_achievement / tg_achievement_toggle (modes count / toggle).';
    END IF;

    IF nargs = 3 THEN
        IF user_type IS NULL THEN
            SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
              FROM pg_attribute AS a WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped;
            RAISE EXCEPTION '%: user column % does not exist in table %', context,
                            coalesce(quote_ident(user_column), 'NULL'), tbl::regclass
                USING ERRCODE = 'AD103',
                      HINT = format('The third argument is the column holding the user id; table %s has: %s. Leave it out to count for achievements.current_user_id().', tbl::regclass, columns);
        END IF;
        WHILE user_base <> id_type AND (SELECT t.typtype FROM pg_type AS t WHERE t.oid = user_base) = 'd' LOOP
            user_base := (SELECT t.typbasetype FROM pg_type AS t WHERE t.oid = user_base);
        END LOOP;
        user_cast := CASE
            WHEN user_base = id_type THEN 'native'
            WHEN id_type = 'bigint'::regtype AND user_base IN ('smallint'::regtype, 'integer'::regtype) THEN 'native'
            WHEN id_type = 'text'::regtype OR user_kind = 'S' THEN 'parse'
        END;
        IF user_cast IS NULL THEN
            RAISE EXCEPTION '%: user column % is %, which cannot hold a user id of type %', context,
                            quote_ident(user_column), format_type(user_type, NULL), format_type(id_type, NULL)
                USING ERRCODE = 'AD104',
                      HINT = format('Use a column of type %s (or text holding user ids); the user id type was chosen at install.', format_type(id_type, NULL));
        END IF;
    END IF;
END
$$;

-- The SQL expression that reads the user of a row (column `user_column` of `alias`) in the
-- statement-level queries; `claim` (by default $2), the request's user, when there is no user
-- column. Names are quoted (%I): no column name can break out of the expression.
CREATE FUNCTION achievements_private.row_user_sql(
    user_cast text, alias text, user_column text, claim text DEFAULT '$2')
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN user_column IS NULL THEN claim
            WHEN user_cast = 'native' THEN format('%s.%I::achievements.user_ref', alias, user_column)
            ELSE format('achievements_private.parse_user_ref(%s.%I::text)', alias, user_column) END;

-- ==== sql/05_tracking/03_counting_queries.sql ====

-- The set-based queries that count one statement from its transition tables.

-- The query that counts one statement of `op` from its transition tables (named old_table and
-- new_table): one row of two arrays, the users and each one's net count for the statement
-- (users whose net is 0 are left out; NULLs when there is nothing to log). `step_sql` and
-- `claim_sql` are SQL expressions for the step and the request's user: $1 and $2 for the
-- EXECUTE of the public trigger functions, a literal and a call where track() generates a
-- function. NULL when the event cannot change this mode (DELETE and TRUNCATE of a counter).
-- Counter UPDATEs pair old and new rows by their position in the transition tables, which
-- PostgreSQL fills together, one old and one new row per updated row. Every name is quoted.
CREATE FUNCTION achievements_private.counting_query(
    mode text, op text, column_name text, user_column text, user_cast text,
    old_table text, new_table text, step_sql text, claim_sql text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gauge boolean := mode IN ('toggle', 'toggle_boolean');
    qual  text := CASE WHEN mode IN ('boolean', 'toggle_boolean') THEN '%s IS TRUE' ELSE '%s IS NOT NULL' END;
    sel   text;
BEGIN
    IF op = 'TRUNCATE' THEN
        -- A gauge counts the rows of this table only: after TRUNCATE it is 0 for everyone.
        RETURN CASE WHEN gauge THEN format(
            'SELECT array_agg(x.user_id ORDER BY x.user_id), array_agg(-x.count ORDER BY x.user_id)
               FROM (SELECT t.user_id, t.count
                       FROM achievements.user_achievements AS t
                      WHERE t.name = %s AND t.count > 0
                      ORDER BY t.user_id
                        FOR UPDATE) AS x', step_sql) END;
    END IF;
    IF op = 'DELETE' AND NOT gauge THEN
        RETURN NULL;
    END IF;
    IF op = 'UPDATE' AND NOT gauge THEN
        -- Counter: the new value must qualify and differ from the old value of the same row.
        sel := format(
            'SELECT %s AS u
               FROM (SELECT row_number() OVER () AS ord, o.%I AS v FROM %I AS o) AS o
               JOIN (SELECT row_number() OVER () AS ord, n.%I AS v%s FROM %I AS n) AS n USING (ord)
              WHERE %s AND %s',
            achievements_private.row_user_sql(user_cast, 'n', CASE WHEN user_column IS NOT NULL THEN 'u' END, claim_sql),
            column_name, old_table,
            column_name, CASE WHEN user_column IS NOT NULL THEN format(', n.%I AS u', user_column) ELSE '' END,
            new_table,
            format(qual, 'n.v'),
            CASE WHEN mode = 'boolean' THEN 'o.v IS NOT TRUE'
                 ELSE 'to_jsonb(n.v) IS DISTINCT FROM to_jsonb(o.v)' END);
        sel := format('SELECT u, count(*)::int AS c FROM (%s) AS s WHERE u IS NOT NULL GROUP BY u', sel);
    ELSIF op = 'UPDATE' THEN
        -- Gauge: per user, qualifying rows after minus qualifying rows before.
        sel := format(
            'SELECT u, sum(d)::int AS c
               FROM (SELECT %s AS u, -1 AS d FROM %I AS o WHERE %s
                     UNION ALL
                     SELECT %s, 1 FROM %I AS n WHERE %s) AS s
              WHERE u IS NOT NULL
              GROUP BY u
             HAVING sum(d) <> 0',
            achievements_private.row_user_sql(user_cast, 'o', user_column, claim_sql),
            old_table, format(qual, format('o.%I', column_name)),
            achievements_private.row_user_sql(user_cast, 'n', user_column, claim_sql),
            new_table, format(qual, format('n.%I', column_name)));
    ELSE
        -- INSERT (every mode): +1 per qualifying new row; DELETE (gauges): -1 per qualifying old row.
        sel := format(
            'SELECT u, %scount(*)::int AS c
               FROM (SELECT %s AS u FROM %I AS r WHERE %s) AS s
              WHERE u IS NOT NULL
              GROUP BY u',
            CASE WHEN op = 'DELETE' THEN '-' ELSE '' END,
            achievements_private.row_user_sql(user_cast, 'r', user_column, claim_sql),
            CASE WHEN op = 'DELETE' THEN old_table ELSE new_table END,
            format(qual, format('r.%I', column_name)));
    END IF;
    -- Unordered: add_to_tallies orders its upsert itself.
    RETURN format('SELECT array_agg(x.u), array_agg(x.c) FROM (%s) AS x', sel);
END
$$;

-- Raises AD106 unless a tracking trigger runs AFTER the change. `context` names the trigger.
CREATE FUNCTION achievements_private.check_trigger_timing(mode text, trigger_when text, context text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF trigger_when <> 'AFTER' THEN
        RAISE EXCEPTION '%: achievements.%() must run AFTER the change, not %', context,
                        achievements_private.tracking_function_name(mode), trigger_when
            USING ERRCODE = 'AD106',
                  HINT = 'Recreate it as an AFTER trigger, or use achievements.track().';
    END IF;
END
$$;

-- The counting query (counting_query) of a statement-level trigger wired by hand, to be run with
-- EXECUTE ... USING step, request's user. Checks the trigger first: AD106 unless AFTER,
-- AD101-AD104 (check_tracking_arguments), AD105 when a needed transition table is missing.
CREATE FUNCTION achievements_private.statement_counting_query(
    mode text, tbl oid, trigger_name text, trigger_when text, op text, args text[])
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn        text := achievements_private.tracking_function_name(mode);
    context   text := format('trigger %I on table %s', trigger_name, tbl::regclass);
    gauge     boolean := mode IN ('toggle', 'toggle_boolean');
    w         record;
    old_table name;
    new_table name;
    needs     text;
BEGIN
    PERFORM achievements_private.check_trigger_timing(mode, trigger_when, context);
    w := achievements_private.check_tracking_arguments(mode, tbl, args, context);
    IF op = 'TRUNCATE' OR (op = 'DELETE' AND NOT gauge) THEN
        RETURN achievements_private.counting_query(mode, op, w.column_name, w.user_column, w.user_cast,
                                                   NULL, NULL, '$1', '$2');
    END IF;
    SELECT tg.tgoldtable, tg.tgnewtable INTO old_table, new_table
      FROM pg_trigger AS tg
     WHERE tg.tgrelid = tbl AND tg.tgname = trigger_name;
    IF (op IN ('UPDATE', 'DELETE') AND old_table IS NULL) OR (op IN ('INSERT', 'UPDATE') AND new_table IS NULL) THEN
        needs := CASE op WHEN 'INSERT' THEN 'REFERENCING NEW TABLE AS new_rows'
                         WHEN 'DELETE' THEN 'REFERENCING OLD TABLE AS old_rows'
                         ELSE 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows' END;
        RAISE EXCEPTION '%: a statement-level % trigger of achievements.%() needs %', context, op, fn, needs
            USING ERRCODE = 'AD105',
                  HINT = format('Create one trigger per event, e.g. CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION achievements.%s(...); or use FOR EACH ROW, or achievements.track().',
                                trigger_name, op, tbl::regclass, needs, fn);
    END IF;
    RETURN achievements_private.counting_query(mode, op, w.column_name, w.user_column, w.user_cast,
                                               old_table, new_table, '$1', '$2');
END
$$;

-- ==== sql/05_tracking/04_counting_rows.sql ====

-- Counting a changed row (row-level triggers) and a small statement (statement-level triggers
-- whose transition tables fit in a few jsonb values), with queries planned once per session.

-- Logs the counted steps into achievements.user_steps, one row per user (the statement-level
-- trigger on user_steps adds them to the tallies). Nothing when users is NULL.
CREATE FUNCTION achievements_private.log_counted_steps(step text, users achievements.user_ref[], counts int[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF users IS NOT NULL THEN
        INSERT INTO achievements.user_steps (user_id, name, count)
        SELECT s.user_id, step, s.count FROM unnest(users, counts) AS s(user_id, count);
    END IF;
END
$$;

-- The full check of a tracking trigger wired by hand: AD106 unless AFTER, then AD101-AD104
-- (check_tracking_arguments). Called when a row shows something odd, to raise the precise error.
CREATE FUNCTION achievements_private.check_tracking_trigger(
    mode text, tbl oid, trigger_name text, trigger_when text, args text[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    context text := format('trigger %I on table %s', trigger_name, tbl::regclass);
BEGIN
    PERFORM achievements_private.check_trigger_timing(mode, trigger_when, context);
    PERFORM achievements_private.check_tracking_arguments(mode, tbl, args, context);
END
$$;

-- Logs the steps of one changed row (row-level tracking triggers): at most one user_steps row
-- per user, none when nothing changes. Reads the columns from the rows as jsonb, so it works for
-- any table. Per row it checks only what the row itself shows (the keys and value types in the
-- jsonb); anything odd runs check_tracking_trigger, which raises the precise error
-- (AD101-AD104, AD106).
CREATE FUNCTION achievements_private.count_changed_row(
    mode text, tbl oid, trigger_name text, trigger_when text, op text, args text[],
    new_row jsonb, old_row jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    is_bool   boolean := mode IN ('boolean', 'toggle_boolean');
    first     int := coalesce(array_lower(args, 1), 0);
    nargs     int := coalesce(cardinality(args), 0);
    col       text := args[first];
    step      text := args[first + 1];
    user_col  text := args[first + 2];
    any_row   jsonb := coalesce(new_row, old_row);
    old_user  achievements.user_ref;
    new_user  achievements.user_ref;
    old_q     boolean;
    new_q     boolean;
    old_d     int := 0;
    new_d     int := 0;
BEGIN
    IF NOT coalesce(trigger_when = 'AFTER' AND nargs IN (2, 3) AND coalesce(step, '') <> ''
                    AND any_row ? col AND (nargs = 2 OR any_row ? user_col)
                    AND (NOT is_bool
                         OR (coalesce(jsonb_typeof(new_row -> col), 'null') IN ('boolean', 'null')
                             AND coalesce(jsonb_typeof(old_row -> col), 'null') IN ('boolean', 'null'))),
                    false) THEN
        PERFORM achievements_private.check_tracking_trigger(mode, tbl, trigger_name, trigger_when, args);
    END IF;
    IF nargs = 2 THEN
        old_user := achievements.current_user_id();
        new_user := old_user;
    ELSE
        old_user := achievements_private.parse_user_ref(old_row ->> user_col);
        new_user := achievements_private.parse_user_ref(new_row ->> user_col);
        IF (old_user IS NULL AND old_row ->> user_col IS NOT NULL)
           OR (new_user IS NULL AND new_row ->> user_col IS NOT NULL) THEN
            -- Not a user id: raises AD104 when the column's type cannot hold one; else the row
            -- simply has no user.
            PERFORM achievements_private.check_tracking_trigger(mode, tbl, trigger_name, trigger_when, args);
        END IF;
    END IF;
    old_q := CASE WHEN is_bool THEN (old_row ->> col)::boolean IS TRUE ELSE old_row ->> col IS NOT NULL END;
    new_q := CASE WHEN is_bool THEN (new_row ->> col)::boolean IS TRUE ELSE new_row ->> col IS NOT NULL END;

    IF mode IN ('toggle', 'toggle_boolean') THEN
        old_d := CASE WHEN old_q THEN -1 ELSE 0 END;
        new_d := CASE WHEN new_q THEN 1 ELSE 0 END;
    ELSIF op = 'INSERT' THEN
        new_d := CASE WHEN new_q THEN 1 ELSE 0 END;
    ELSIF op = 'UPDATE' THEN
        new_d := CASE WHEN new_q AND CASE WHEN is_bool THEN NOT old_q
                                          ELSE (new_row -> col) IS DISTINCT FROM (old_row -> col) END
                      THEN 1 ELSE 0 END;
    END IF;
    IF old_user IS NOT DISTINCT FROM new_user THEN
        new_d := new_d + old_d;
        old_d := 0;
    END IF;
    IF old_d <> 0 AND old_user IS NOT NULL OR new_d <> 0 AND new_user IS NOT NULL THEN
        INSERT INTO achievements.user_steps (user_id, name, count)
        SELECT v.u, step, v.d
          FROM (VALUES (old_user, old_d), (new_user, new_d)) AS v(u, d)
         WHERE v.u IS NOT NULL AND v.d <> 0
         ORDER BY v.u;
    END IF;
END
$$;

-- The largest statement, in rows, that count_small_statement counts for a statement-level
-- trigger: the setting achievements.tracking_small_statement (default 20; 0 turns the path off),
-- or 0 when the event is TRUNCATE or the trigger's transition tables are not named new_rows /
-- old_rows as the event needs (the public trigger functions read them by those names).
CREATE FUNCTION achievements_private.small_statement_limit(tbl oid, trigger_name text, op text)
RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    small     int := coalesce(nullif(current_setting('achievements.tracking_small_statement', true), '')::int, 20);
    old_table name;
    new_table name;
BEGIN
    IF small <= 0 OR op = 'TRUNCATE' THEN
        RETURN 0;
    END IF;
    SELECT tg.tgoldtable, tg.tgnewtable INTO old_table, new_table
      FROM pg_trigger AS tg
     WHERE tg.tgrelid = tbl AND tg.tgname = trigger_name;
    IF (op <> 'DELETE' AND new_table IS DISTINCT FROM 'new_rows')
       OR (op <> 'INSERT' AND old_table IS DISTINCT FROM 'old_rows') THEN
        RETURN 0;
    END IF;
    RETURN small;
END
$$;

-- Counts a small statement from its transition tables passed as jsonb arrays (rows in
-- transition-table order, at most small + 1 of each): the same rules and the same single
-- user_steps INSERT as the query of statement_counting_query, with queries planned once per
-- session. Returns false, counting nothing, when an array holds more than `small` rows (the
-- caller then counts with the set-based query). Checks what the rows show (keys, value types,
-- user ids); anything odd runs statement_counting_query's checks, which raise the precise error
-- (AD101-AD106).
CREATE FUNCTION achievements_private.count_small_statement(
    mode text, tbl oid, trigger_name text, trigger_when text, op text, args text[],
    small int, new_rows jsonb, old_rows jsonb)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    is_bool  boolean := mode IN ('boolean', 'toggle_boolean');
    gauge    boolean := mode IN ('toggle', 'toggle_boolean');
    first    int := coalesce(array_lower(args, 1), 0);
    nargs    int := coalesce(cardinality(args), 0);
    col      text := args[first];
    step     text := args[first + 1];
    user_col text := CASE WHEN nargs = 3 THEN args[first + 2] END;
    claim    achievements.user_ref;
    ok       boolean;
    users    achievements.user_ref[];
    counts   int[];
BEGIN
    IF coalesce(jsonb_array_length(new_rows), 0) > small OR coalesce(jsonb_array_length(old_rows), 0) > small THEN
        RETURN false;
    END IF;
    SELECT coalesce(bool_and(r.j ? col
                             AND (user_col IS NULL OR r.j ? user_col)
                             AND (NOT is_bool OR jsonb_typeof(r.j -> col) IN ('boolean', 'null'))
                             AND (user_col IS NULL OR r.j ->> user_col IS NULL
                                  OR achievements_private.parse_user_ref(r.j ->> user_col) IS NOT NULL)), true)
      INTO ok
      FROM jsonb_array_elements(coalesce(new_rows, '[]') || coalesce(old_rows, '[]')) AS r(j);
    IF NOT coalesce(ok AND trigger_when = 'AFTER' AND nargs IN (2, 3) AND step <> '', false) THEN
        PERFORM achievements_private.statement_counting_query(mode, tbl, trigger_name, trigger_when, op, args);
    END IF;
    IF nargs = 2 THEN
        claim := achievements.current_user_id();
    END IF;

    WITH o AS (SELECT e.ord, e.j FROM jsonb_array_elements(old_rows) WITH ORDINALITY AS e(j, ord)),
         n AS (SELECT e.ord, e.j FROM jsonb_array_elements(new_rows) WITH ORDINALITY AS e(j, ord)),
         pairs AS (
             SELECT o.j AS oj, n.j AS nj,
                    CASE WHEN user_col IS NULL THEN claim
                         ELSE achievements_private.parse_user_ref(o.j ->> user_col) END AS ou,
                    CASE WHEN user_col IS NULL THEN claim
                         ELSE achievements_private.parse_user_ref(n.j ->> user_col) END AS nu,
                    CASE WHEN is_bool THEN (o.j ->> col)::boolean IS TRUE
                         ELSE o.j ->> col IS NOT NULL END AS oq,
                    CASE WHEN is_bool THEN (n.j ->> col)::boolean IS TRUE
                         ELSE n.j ->> col IS NOT NULL END AS nq
               FROM o FULL JOIN n USING (ord)),
         deltas AS (
             SELECT p.ou AS u, -1 AS d FROM pairs AS p WHERE gauge AND p.oq
             UNION ALL
             SELECT p.nu, 1 FROM pairs AS p
              WHERE p.nq
                AND (gauge OR p.oj IS NULL
                     OR CASE WHEN is_bool THEN NOT p.oq
                             ELSE (p.nj -> col) IS DISTINCT FROM (p.oj -> col) END))
    SELECT array_agg(x.u ORDER BY x.u), array_agg(x.c ORDER BY x.u) INTO users, counts
      FROM (SELECT d.u, sum(d.d)::int AS c FROM deltas AS d
             WHERE d.u IS NOT NULL GROUP BY d.u HAVING sum(d.d) <> 0) AS x;
    PERFORM achievements_private.log_counted_steps(step, users, counts);
    RETURN true;
END
$$;

-- ==== sql/05_tracking/05_trigger_functions.sql ====

-- The four public tracking trigger functions, for triggers wired by hand (track() generates its
-- own, 06_generated_functions.sql). Arguments, as trigger arguments: (column, step
-- [, user_column]); without a user column the user is achievements.current_user_id(), and a row
-- without a user is not counted (nothing fails).
-- Each guarantees: the row or statement is counted exactly once, into user_steps (whose trigger
-- adds it to the tallies, exact under concurrency); at statement level one INSERT per statement
-- (none when it changes no tally) and tallies locked in user order, so statement-level triggers
-- cannot deadlock on each other; rows without a user are skipped. FOR EACH ROW, or FOR EACH
-- STATEMENT with transition tables: statements of up to achievements.tracking_small_statement
-- rows (default 20) whose transition tables are named new_rows / old_rows are counted by
-- count_small_statement, others by the query of statement_counting_query. Errors AD101-AD106
-- name the trigger and the table.
-- SECURITY DEFINER, so that roles writing the host table need no right on user_steps. EXECUTE
-- is revoked from PUBLIC (PostgreSQL checks it when a trigger is created): a trigger can log
-- steps for any user. The four bodies differ only in the mode they pass on.

-- tg_achievement (count): +1 for the row's user each time `column` is set to a non-NULL value (INSERT with a
-- value, UPDATE to another non-NULL value); DELETE and TRUNCATE count nothing.
CREATE FUNCTION achievements.tg_achievement()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    small    int;
    new_json jsonb;
    old_json jsonb;
    counting text;
    users    achievements.user_ref[];
    counts   int[];
BEGIN
    -- The counting query quotes every name (statement_counting_query):
    -- @plpgsql_check_options: security_warnings = false
    IF TG_LEVEL = 'ROW' THEN
        PERFORM achievements_private.count_changed_row('count', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
        RETURN NULL;
    END IF;
    small := achievements_private.small_statement_limit(TG_RELID, TG_NAME, TG_OP);
    IF small > 0 THEN
        IF TG_OP <> 'DELETE' THEN
            new_json := (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT * FROM new_rows LIMIT small + 1) AS r);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            old_json := (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT * FROM old_rows LIMIT small + 1) AS r);
        END IF;
        IF achievements_private.count_small_statement('count', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
                                                      small, new_json, old_json) THEN
            RETURN NULL;
        END IF;
    END IF;
    counting := achievements_private.statement_counting_query('count', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV);
    IF counting IS NOT NULL THEN
        EXECUTE counting INTO users, counts USING TG_ARGV[1], achievements.current_user_id();
        PERFORM achievements_private.log_counted_steps(TG_ARGV[1], users, counts);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION achievements.tg_achievement() IS
    'Trigger (column, step [, user_column]): +1 each time column is set to a non-NULL value. FOR EACH ROW, or FOR EACH STATEMENT with REFERENCING NEW TABLE AS new_rows [OLD TABLE AS old_rows].';

-- tg_achievement_toggle (toggle): gauge: the user's rows whose `column` is non-NULL (+1 from NULL to a value, -1 from a
-- value to NULL or when the row is deleted, moved with the user column; TRUNCATE sets it to 0,
-- so the step must be fed by this table only).
CREATE FUNCTION achievements.tg_achievement_toggle()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    small    int;
    new_json jsonb;
    old_json jsonb;
    counting text;
    users    achievements.user_ref[];
    counts   int[];
BEGIN
    -- The counting query quotes every name (statement_counting_query):
    -- @plpgsql_check_options: security_warnings = false
    IF TG_LEVEL = 'ROW' THEN
        PERFORM achievements_private.count_changed_row('toggle', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
        RETURN NULL;
    END IF;
    small := achievements_private.small_statement_limit(TG_RELID, TG_NAME, TG_OP);
    IF small > 0 THEN
        IF TG_OP <> 'DELETE' THEN
            new_json := (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT * FROM new_rows LIMIT small + 1) AS r);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            old_json := (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT * FROM old_rows LIMIT small + 1) AS r);
        END IF;
        IF achievements_private.count_small_statement('toggle', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
                                                      small, new_json, old_json) THEN
            RETURN NULL;
        END IF;
    END IF;
    counting := achievements_private.statement_counting_query('toggle', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV);
    IF counting IS NOT NULL THEN
        EXECUTE counting INTO users, counts USING TG_ARGV[1], achievements.current_user_id();
        PERFORM achievements_private.log_counted_steps(TG_ARGV[1], users, counts);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION achievements.tg_achievement_toggle() IS
    'Trigger (column, step [, user_column]): gauge of the user''s rows whose column is non-NULL. FOR EACH ROW, or FOR EACH STATEMENT with transition tables.';

-- tg_achievement_boolean (boolean): +1 each time boolean `column` becomes TRUE (INSERT as TRUE, UPDATE from FALSE or NULL
-- to TRUE).
CREATE FUNCTION achievements.tg_achievement_boolean()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    small    int;
    new_json jsonb;
    old_json jsonb;
    counting text;
    users    achievements.user_ref[];
    counts   int[];
BEGIN
    -- The counting query quotes every name (statement_counting_query):
    -- @plpgsql_check_options: security_warnings = false
    IF TG_LEVEL = 'ROW' THEN
        PERFORM achievements_private.count_changed_row('boolean', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
        RETURN NULL;
    END IF;
    small := achievements_private.small_statement_limit(TG_RELID, TG_NAME, TG_OP);
    IF small > 0 THEN
        IF TG_OP <> 'DELETE' THEN
            new_json := (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT * FROM new_rows LIMIT small + 1) AS r);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            old_json := (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT * FROM old_rows LIMIT small + 1) AS r);
        END IF;
        IF achievements_private.count_small_statement('boolean', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
                                                      small, new_json, old_json) THEN
            RETURN NULL;
        END IF;
    END IF;
    counting := achievements_private.statement_counting_query('boolean', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV);
    IF counting IS NOT NULL THEN
        EXECUTE counting INTO users, counts USING TG_ARGV[1], achievements.current_user_id();
        PERFORM achievements_private.log_counted_steps(TG_ARGV[1], users, counts);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION achievements.tg_achievement_boolean() IS
    'Trigger (column, step [, user_column]): +1 each time the boolean column becomes TRUE. FOR EACH ROW, or FOR EACH STATEMENT with transition tables.';

-- tg_achievement_toggle_boolean (toggle_boolean): gauge: the user's rows whose boolean `column` is TRUE.
CREATE FUNCTION achievements.tg_achievement_toggle_boolean()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    small    int;
    new_json jsonb;
    old_json jsonb;
    counting text;
    users    achievements.user_ref[];
    counts   int[];
BEGIN
    -- The counting query quotes every name (statement_counting_query):
    -- @plpgsql_check_options: security_warnings = false
    IF TG_LEVEL = 'ROW' THEN
        PERFORM achievements_private.count_changed_row('toggle_boolean', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
        RETURN NULL;
    END IF;
    small := achievements_private.small_statement_limit(TG_RELID, TG_NAME, TG_OP);
    IF small > 0 THEN
        IF TG_OP <> 'DELETE' THEN
            new_json := (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT * FROM new_rows LIMIT small + 1) AS r);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            old_json := (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT * FROM old_rows LIMIT small + 1) AS r);
        END IF;
        IF achievements_private.count_small_statement('toggle_boolean', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
                                                      small, new_json, old_json) THEN
            RETURN NULL;
        END IF;
    END IF;
    counting := achievements_private.statement_counting_query('toggle_boolean', TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV);
    IF counting IS NOT NULL THEN
        EXECUTE counting INTO users, counts USING TG_ARGV[1], achievements.current_user_id();
        PERFORM achievements_private.log_counted_steps(TG_ARGV[1], users, counts);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION achievements.tg_achievement_toggle_boolean() IS
    'Trigger (column, step [, user_column]): gauge of the user''s rows whose boolean column is TRUE. FOR EACH ROW, or FOR EACH STATEMENT with transition tables.';

REVOKE EXECUTE ON FUNCTION achievements.tg_achievement(), achievements.tg_achievement_toggle(),
                           achievements.tg_achievement_boolean(), achievements.tg_achievement_toggle_boolean()
    FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.tg_achievement(), achievements.tg_achievement_toggle(), achievements.tg_achievement_boolean(), achievements.tg_achievement_toggle_boolean()');

-- ==== sql/05_tracking/06_generated_functions.sql ====

-- The counting trigger functions that track() generates, one per table and step: the queries of
-- counting_query written in as static SQL, so PL/pgSQL plans them once per session, where the
-- public trigger functions must build and plan a query for every large statement.

-- The name of the counting function of a table and step:
-- achievements_private.track_<table oid>_<12 hex digits of md5(step)>.
CREATE FUNCTION achievements_private.counting_function_name(tbl oid, step text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format('track_%s_%s', tbl, left(md5(step), 12));

-- Creates (or replaces) the trigger function that counts `step` from table `tbl` in `mode`:
-- for INSERT and UPDATE (gauges: DELETE and TRUNCATE too) the query of counting_query, whose
-- counts it hands to add_to_tallies (logged in recorded_steps, no user_steps trigger). Owned by
-- the package owner and SECURITY DEFINER, so that roles writing the table need no right on the
-- log; EXECUTE only for the owner and the service roles. Checks the columns first
-- (AD102-AD104). Returns the function's name (in achievements_private).
CREATE FUNCTION achievements_private.create_counting_function(
    tbl regclass, step text, mode text, column_name text, user_column text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w        record;
    fn       text := achievements_private.counting_function_name(tbl, step);
    branches text := '';
    op       text;
    query    text;
BEGIN
    -- counting_query quotes every name (%I) and the body is passed as one literal (%L):
    -- @plpgsql_check_options: security_warnings = false
    w := achievements_private.check_tracking_arguments(
        mode, tbl, ARRAY[column_name, step] || CASE WHEN user_column IS NOT NULL THEN ARRAY[user_column] ELSE '{}'::text[] END,
        format('achievements.track() on table %s', tbl));
    FOREACH op IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] LOOP
        query := achievements_private.counting_query(mode, op, w.column_name, w.user_column, w.user_cast,
                                                     'old_rows', 'new_rows', quote_literal(step),
                                                     'achievements.current_user_id()');
        IF query IS NOT NULL THEN
            branches := branches || format(E'    %s TG_OP = %L THEN\n        SELECT * INTO users, counts FROM (%s) AS q;\n',
                                           CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END, op, query);
        END IF;
    END LOOP;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION achievements_private.%I()
         RETURNS trigger
         LANGUAGE plpgsql SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp
         AS %L',
        fn,
        format(E'DECLARE\n'
                 '    users  achievements.user_ref[];\n'
                 '    counts int[];\n'
                 'BEGIN\n'
                 '%s'
                 '    END IF;\n'
                 '    IF users IS NOT NULL THEN\n'
                 '        PERFORM achievements_private.add_to_tallies(\n'
                 '            users, array_fill(%L::text, ARRAY[cardinality(users)]), counts, true);\n'
                 '    END IF;\n'
                 '    RETURN NULL;\n'
                 'END\n',
               branches, step));
    EXECUTE format('COMMENT ON FUNCTION achievements_private.%I() IS %L', fn,
                   format('Generated by achievements.track(): counts step %L from table %s (mode %s, column %I, user column %s). Dropped by untrack().',
                          step, tbl, mode, column_name, coalesce(quote_ident(user_column), 'none')));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION achievements_private.%I() FROM PUBLIC', fn);
    PERFORM achievements_private.grant_to_service_roles('EXECUTE', format('FUNCTION achievements_private.%I()', fn));
    RETURN fn;
END
$$;

-- Drops the counting function of a table (by oid: it may be gone) and step, if it exists.
-- Fails, changing nothing, while a trigger still uses it.
CREATE FUNCTION achievements_private.drop_counting_function(tbl oid, step text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('DROP FUNCTION IF EXISTS achievements_private.%I()',
                   achievements_private.counting_function_name(tbl, step));
END
$$;

-- The name of a trigger of track(): achievements_<step>_<suffix>, shortened with a hash of the
-- step when it would not fit in 63 bytes, so that two steps never share a name on one table.
CREATE FUNCTION achievements_private.tracking_trigger_name(step text, suffix text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    name text := format('achievements_%s_%s', step, suffix);
    keep int := char_length(step);
BEGIN
    IF octet_length(name) <= 63 THEN
        RETURN name;
    END IF;
    LOOP
        name := format('achievements_%s_%s_%s', left(step, keep), left(md5(step), 8), suffix);
        EXIT WHEN octet_length(name) <= 63;
        keep := keep - 1;
    END LOOP;
    RETURN name;
END
$$;

-- Forgets the rows of tracked_steps whose table has been dropped, and drops their counting
-- functions (the table's triggers went with it). Runs as its caller: track() and untrack().
CREATE FUNCTION achievements_private.forget_dropped_tables()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone record;
BEGIN
    FOR gone IN DELETE FROM achievements.tracked_steps AS t
                 WHERE NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
                RETURNING t.tbl, t.step
    LOOP
        PERFORM achievements_private.drop_counting_function(gone.tbl, gone.step);
    END LOOP;
END
$$;

-- ==== sql/05_tracking/07_track.sql ====

-- Wiring tracking onto a table: track(), untrack(), tracked().

-- Wires `mode` onto table `tbl` for `step` with statement-level AFTER triggers, one per event:
-- achievements_<step>_ins and _upd, and for gauges also _del and _trunc. They run the counting
-- function generated for this table and step (create_counting_function), which counts exactly
-- as the public tg_achievement* functions do. Returns true when it created triggers, false when
-- `tbl` already tracks `step` with these arguments (then it changes nothing); after a DROP
-- TRIGGER by hand it recreates what is missing. For a gauge it first sets every user's tally of
-- `step` to the recount of the table (one user_steps row per user whose tally differs), holding
-- the table's trigger lock, so the gauge equals a recount from the start. Runs as its caller: it
-- needs the TRIGGER privilege on the table, SELECT on it for gauges, and EXECUTE on the trigger
-- functions (owner, service roles). Serialized per table by an advisory lock (docs/locks.md).
-- Raises AD107 for a bad mode, step or table, AD108 when the table tracks `step` with other
-- arguments, AD109 when a gauge step is tracked on another table too, and AD102-AD104 for
-- columns (check_tracking_arguments). Changes nothing on error.
CREATE FUNCTION achievements.track(
    tbl regclass, step text, column_name text, mode text DEFAULT 'count', user_column text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    fn       text;
    gauge    boolean;
    w        record;
    existing achievements.tracked_steps;
    other    achievements.tracked_steps;
    names    text[];
    missing  boolean;
    kind     "char";
BEGIN
    -- Every name in the SQL it runs is quoted (%I, regclass, row_user_sql):
    -- @plpgsql_check_options: security_warnings = false
    IF tbl IS NULL OR coalesce(step, '') = '' OR column_name IS NULL THEN
        RAISE EXCEPTION 'achievements.track(): table, step and column are required (got %, %, %)',
                        coalesce(tbl::text, 'NULL'), coalesce(quote_literal(step), 'NULL'),
                        coalesce(quote_literal(column_name), 'NULL')
            USING ERRCODE = 'AD107',
                  HINT = 'Call achievements.track(''posts'', ''post'', ''id'') to count a step per inserted row.';
    END IF;
    IF mode IS NULL OR mode NOT IN ('count', 'toggle', 'boolean', 'toggle_boolean') THEN
        RAISE EXCEPTION 'achievements.track(): unknown mode %', coalesce(quote_literal(mode), 'NULL')
            USING ERRCODE = 'AD107',
                  HINT = 'mode is one of count (default), toggle, boolean, toggle_boolean.';
    END IF;
    gauge := mode IN ('toggle', 'toggle_boolean');
    SELECT c.relkind INTO kind FROM pg_class AS c WHERE c.oid = tbl;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'achievements.track(): % is not a table', tbl
            USING ERRCODE = 'AD107',
                  HINT = 'Track the table the view or foreign table reads from.';
    END IF;
    IF gauge AND user_column IS NULL THEN
        RAISE EXCEPTION 'achievements.track(): mode % on table % needs a user column', mode, tbl
            USING ERRCODE = 'AD107',
                  HINT = 'A gauge counts each user''s rows, so it must know whose each row is: pass user_column, e.g. achievements.track(tbl, step, column, mode, ''user_id'').';
    END IF;
    w := achievements_private.check_tracking_arguments(mode, tbl, ARRAY[column_name, step] || CASE WHEN user_column IS NOT NULL THEN ARRAY[user_column] ELSE '{}'::text[] END,
                                      format('achievements.track() on table %s', tbl));

    PERFORM pg_advisory_xact_lock(1633838661, hashtext(tbl::oid::text));
    PERFORM achievements_private.forget_dropped_tables();

    SELECT * INTO existing FROM achievements.tracked_steps AS t WHERE t.tbl = track.tbl AND t.step = track.step;
    IF FOUND AND (existing.column_name, existing.mode, existing.user_column)
                 IS DISTINCT FROM (track.column_name, track.mode, track.user_column) THEN
        RAISE EXCEPTION 'achievements.track(): table % already tracks step % (column %, mode %, user column %)',
                        tbl, quote_literal(step), quote_ident(existing.column_name), existing.mode,
                        coalesce(quote_ident(existing.user_column), 'none')
            USING ERRCODE = 'AD108',
                  HINT = format('To change it, call achievements.untrack(%L, %L) first, then track() again.', tbl::text, step);
    END IF;
    SELECT * INTO other FROM achievements.tracked_steps AS t
     WHERE t.step = track.step AND t.tbl <> track.tbl
       AND (gauge OR t.mode IN ('toggle', 'toggle_boolean'))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'achievements.track(): step % is tracked on table % too; a gauge step (mode toggle or toggle_boolean) must come from one table only',
                        quote_literal(step), other.tbl
            USING ERRCODE = 'AD109',
                  HINT = 'Give this table its own step name (a level can require both steps).';
    END IF;

    names := ARRAY[achievements_private.tracking_trigger_name(step, 'ins'), achievements_private.tracking_trigger_name(step, 'upd')];
    IF gauge THEN
        names := names || achievements_private.tracking_trigger_name(step, 'del') || achievements_private.tracking_trigger_name(step, 'trunc');
    END IF;
    SELECT bool_or(NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = n))
      INTO missing FROM unnest(names) AS n;
    IF existing.tbl IS NOT NULL AND NOT missing THEN
        RETURN false;
    END IF;

    fn := achievements_private.create_counting_function(tbl, step, mode, column_name, user_column);
    -- (Re)create what is missing: after a DROP TRIGGER by hand, track() repairs.
    IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[1]) THEN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()', names[1], tbl, fn);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[2]) THEN
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()', names[2], tbl, fn);
    END IF;
    IF gauge THEN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[3]) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()', names[3], tbl, fn);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[4]) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s
                            FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()', names[4], tbl, fn);
        END IF;
        -- CREATE TRIGGER holds a lock that keeps writers out until commit, and this statement sees
        -- every row committed before it: set each user's gauge to the recount.
        EXECUTE format(
            'INSERT INTO achievements.user_steps (user_id, name, count)
             SELECT user_id, $1, diff
               FROM (SELECT user_id, coalesce(h.n, 0) - coalesce(t.count, 0) AS diff
                       FROM (SELECT u AS user_id, count(*)::int AS n
                               FROM (SELECT %s AS u FROM %s AS r WHERE %s) AS s
                              WHERE u IS NOT NULL
                              GROUP BY u) AS h
                       FULL JOIN (SELECT a.user_id, a.count FROM achievements.user_achievements AS a
                                   WHERE a.name = $1) AS t USING (user_id)) AS d
              WHERE diff <> 0
              ORDER BY user_id',
            achievements_private.row_user_sql(w.user_cast, 'r', user_column),
            tbl,
            format(CASE WHEN mode = 'toggle_boolean' THEN '%s IS TRUE' ELSE '%s IS NOT NULL' END,
                   format('r.%I', column_name)))
        USING step;
    END IF;
    IF existing.tbl IS NULL THEN
        INSERT INTO achievements.tracked_steps (tbl, step, column_name, mode, user_column, trigger_names)
        VALUES (tbl, step, column_name, mode, user_column, names);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION achievements.track(regclass, text, text, text, text) IS
    'Counts step from a table with statement-level triggers: mode count (default), toggle, boolean or toggle_boolean. Idempotent; gauges start from a recount.';

-- Removes the triggers track() created for `step` on `tbl` and its row in tracked_steps; the
-- tallies stay as they are. Returns false (and changes nothing) when `tbl` does not track
-- `step`. Runs as its caller, who must own the table (PostgreSQL lets only the owner drop
-- triggers; 42501 otherwise). Also forgets the rows of tables dropped since.
-- Serialized with track() by the same per-table advisory lock.
CREATE FUNCTION achievements.untrack(tbl regclass, step text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    names text[];
    n     text;
BEGIN
    IF tbl IS NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(1633838661, hashtext(tbl::oid::text));
    PERFORM achievements_private.forget_dropped_tables();
    DELETE FROM achievements.tracked_steps AS t
     WHERE t.tbl = untrack.tbl AND t.step = untrack.step
    RETURNING t.trigger_names INTO names;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    FOREACH n IN ARRAY names LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', n, tbl);
    END LOOP;
    PERFORM achievements_private.drop_counting_function(tbl, step);
    RETURN true;
END
$$;
COMMENT ON FUNCTION achievements.untrack(regclass, text) IS
    'Removes what track() created for a table and step; tallies stay. Returns false when it was not tracked.';

-- What track() has wired, by table and step (tables dropped since are left out).
CREATE FUNCTION achievements.tracked()
RETURNS TABLE (tbl regclass, step text, column_name text, mode text, user_column text, created_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tbl, t.step, t.column_name, t.mode, t.user_column, t.created_at
      FROM achievements.tracked_steps AS t
     WHERE EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
     ORDER BY t.tbl::text, t.step;
$$;
COMMENT ON FUNCTION achievements.tracked() IS
    'Lists what achievements.track() wired: table, step, column, mode, user column, when.';

REVOKE EXECUTE ON FUNCTION achievements.track(regclass, text, text, text, text),
                           achievements.untrack(regclass, text),
                           achievements.tracked() FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.track(regclass, text, text, text, text), achievements.untrack(regclass, text), achievements.tracked()');

-- ==== sql/06_badges/01_catalog.sql ====

-- The badge catalog: what can be earned, and by which criterion (a step's tally reaching a
-- threshold, a level reached, or none: granted by a call). Tiers are several badges on one step.

CREATE TABLE achievements.badges (
    code             text PRIMARY KEY CONSTRAINT badges_code_not_empty CHECK (code <> ''),
    name             text NOT NULL CONSTRAINT badges_name_not_empty CHECK (name <> ''),
    description      text,
    icon             text,
    category         text,
    points           int NOT NULL DEFAULT 0 CONSTRAINT badges_points_not_negative CHECK (points >= 0),
    rarity           text NOT NULL DEFAULT 'common' CONSTRAINT badges_rarity_known
                         CHECK (rarity IN ('common', 'uncommon', 'rare', 'epic', 'legendary')),
    hidden           boolean NOT NULL DEFAULT false,
    step             text CONSTRAINT badges_step_not_empty CHECK (step <> ''),
    threshold        int CONSTRAINT badges_threshold_positive CHECK (threshold >= 1),
    level            text CONSTRAINT badges_level_known REFERENCES achievements.levels (name)
                         ON UPDATE CASCADE ON DELETE RESTRICT,
    client_grantable boolean NOT NULL DEFAULT false,
    revocable        boolean NOT NULL DEFAULT false,
    active_from      timestamptz,
    active_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT badges_step_and_threshold_together CHECK ((step IS NULL) = (threshold IS NULL)),
    CONSTRAINT badges_one_criterion CHECK (step IS NULL OR level IS NULL),
    CONSTRAINT badges_revocable_needs_threshold CHECK (NOT revocable OR step IS NOT NULL),
    CONSTRAINT badges_window_order CHECK (active_until > active_from)
);
COMMENT ON TABLE achievements.badges IS
    'Badge catalog. Criteria: step + threshold (tally reaches threshold), level (level reached), or none (granted by award_badge / claim_badge). active_from/active_until bound a seasonal window.';
COMMENT ON COLUMN achievements.badges.hidden IS 'Secret until earned: application roles see the row only once they hold the badge.';
COMMENT ON COLUMN achievements.badges.client_grantable IS 'The user may grant it to themselves with achievements.claim_badge (e.g. a share button).';
COMMENT ON COLUMN achievements.badges.revocable IS 'Threshold badges only: taken back automatically when the tally falls below the threshold.';

-- "Which badges does this tally reach?" is asked on every tally change.
CREATE INDEX badges_step_threshold_idx ON achievements.badges (step, threshold) WHERE step IS NOT NULL;
CREATE INDEX badges_level_idx ON achievements.badges (level) WHERE level IS NOT NULL;

-- Refuses a bad badge definition with one clear message (SQLSTATE AD202) before the CHECK
-- constraints, which stay as the guarantee, would refuse it with a generic one.
CREATE FUNCTION achievements_private.validate_badge()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    hint    text;
BEGIN
    IF coalesce(NEW.code, '') = '' THEN
        problem := 'code must be a non-empty text';
        hint := 'Give every badge a stable code such as ''first_song''.';
    ELSIF coalesce(NEW.name, '') = '' THEN
        problem := 'name must be a non-empty text';
        hint := 'Give the badge the name users see, e.g. ''First song''.';
    ELSIF NEW.points IS NULL OR NEW.points < 0 THEN
        problem := format('points must be 0 or more (got %s)', coalesce(NEW.points::text, 'NULL'));
        hint := 'Use 0 for a badge that is worth no points.';
    ELSIF NEW.rarity IS NULL OR NEW.rarity NOT IN ('common', 'uncommon', 'rare', 'epic', 'legendary') THEN
        problem := format('unknown rarity %s', coalesce(quote_literal(NEW.rarity), 'NULL'));
        hint := 'Use one of common, uncommon, rare, epic, legendary.';
    ELSIF NEW.step IS NOT NULL AND NEW.level IS NOT NULL THEN
        problem := format('has both a step (%s) and a level (%s)', quote_literal(NEW.step), quote_literal(NEW.level));
        hint := 'A badge has one criterion: step + threshold, or level, or none (granted by a call). Make two badges.';
    ELSIF NEW.step = '' THEN
        problem := 'step must be a non-empty name';
        hint := 'Use the step name recorded in achievements.user_steps, or leave step NULL.';
    ELSIF NEW.threshold IS NOT NULL AND NEW.step IS NULL THEN
        problem := format('has a threshold (%s) but no step', NEW.threshold);
        hint := 'Set step to the step whose tally must reach the threshold, or leave threshold NULL.';
    ELSIF NEW.step IS NOT NULL AND NEW.threshold IS NULL THEN
        problem := format('has a step (%s) but no threshold', quote_literal(NEW.step));
        hint := 'Set threshold to the tally that earns the badge, e.g. 10.';
    ELSIF NEW.threshold < 1 THEN
        problem := format('threshold must be at least 1 (got %s)', NEW.threshold);
        hint := 'A badge for the first step has threshold 1.';
    ELSIF NEW.level IS NOT NULL AND NOT EXISTS (SELECT 1 FROM achievements.levels AS l WHERE l.name = NEW.level) THEN
        problem := format('unknown level %s', quote_literal(NEW.level));
        hint := 'Create the level first (achievements.levels), or fix its name: SELECT name FROM achievements.levels.';
    ELSIF NEW.revocable AND NEW.step IS NULL THEN
        problem := 'is revocable but has no step and threshold';
        hint := 'Only threshold badges are taken back automatically; take any badge back with achievements.revoke_badge().';
    ELSIF NEW.active_until <= NEW.active_from THEN
        problem := format('active_until (%s) must be later than active_from (%s)', NEW.active_until, NEW.active_from);
        hint := 'The badge can be earned from active_from (inclusive) until active_until (exclusive).';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'badge %: %', coalesce(quote_literal(NEW.code), 'NULL'), problem
            USING ERRCODE = 'AD202', HINT = hint;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER _000_validate
    BEFORE INSERT OR UPDATE ON achievements.badges
    FOR EACH ROW EXECUTE FUNCTION achievements_private.validate_badge();

ALTER TABLE achievements.badges ENABLE ROW LEVEL SECURITY;
SELECT achievements_private.create_service_policy('achievements.badges');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.badges');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.badges');
-- Its policy for application roles, visible (hidden badges only for their holders), reads
-- user_badges and is created with it: 02_user_badges.sql.

-- ==== sql/06_badges/02_user_badges.sql ====

-- The badges users hold: one row per user and badge, written only by the package's functions
-- and triggers (awards insert, revocations delete; 04_scores.sql keeps points and counters).

CREATE TABLE achievements.user_badges (
    user_id   achievements.user_ref NOT NULL,
    -- A badge of achievements.badges: kept by triggers rather than a foreign key, whose per-row
    -- check would double the cost of a backfill. Awards lock the badges they insert (FOR SHARE,
    -- count_badges), deleting a badge deletes its rows first (unaward_deleted_badge) and a new
    -- code is carried over (rename_badge).
    badge     text NOT NULL,
    earned_at timestamptz NOT NULL DEFAULT now(),
    notified  boolean NOT NULL DEFAULT false,
    is_public boolean NOT NULL DEFAULT true,
    PRIMARY KEY (user_id, badge)
);
COMMENT ON TABLE achievements.user_badges IS
    'Badges each user holds, one row per user and badge. Written only by achievements-db functions and triggers.';
COMMENT ON COLUMN achievements.user_badges.notified IS
    'true: the award is announced in achievements.notifications, or was awarded silently on purpose (backfill, achievements.quiet); false: no notification was written for it.';
COMMENT ON COLUMN achievements.user_badges.is_public IS
    'Whether others may see this badge in achievements.public_badges(); the user changes it with achievements.set_badge_public().';
-- leaderboard(since => ...) and user_rank(since => ...) read badges earned in a window. Rows
-- arrive in earned_at order, so a BRIN index finds a window at almost no cost per insert.
CREATE INDEX user_badges_earned_at_idx ON achievements.user_badges USING brin (earned_at);

ALTER TABLE achievements.user_badges ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_badges FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_badges');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_badges');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_badges');

-- The catalog as application roles see it: a hidden badge only once they hold it.
CREATE POLICY visible ON achievements.badges FOR SELECT
    USING (NOT hidden OR EXISTS (SELECT 1 FROM achievements.user_badges AS ub
                                  WHERE ub.badge = code AND ub.user_id = (SELECT achievements.current_user_id())));

-- ==== sql/06_badges/03_counters.sql ====

-- Counters that many transactions change at once, kept as append-only delta rows (no row is
-- updated, so no writer waits for another) and folded from time to time: the rank histogram,
-- the holders of each badge, the number of known users. Their readers sum the rows.

-- Append-only counters: each row is a change; the value is the sum. Ids from one sequence so
-- that one check decides when to compact all of them.
CREATE SEQUENCE achievements_private.counter_delta_id;

CREATE TABLE achievements_private.points_histogram (
    id     bigint PRIMARY KEY DEFAULT nextval('achievements_private.counter_delta_id'),
    points bigint NOT NULL CHECK (points > 0),
    users  bigint NOT NULL
);
COMMENT ON TABLE achievements_private.points_histogram IS
    'Number of users at each points value above 0, as delta rows: users at p = sum(users) WHERE points = p.';
CREATE INDEX points_histogram_points_idx ON achievements_private.points_histogram (points) INCLUDE (users);

CREATE TABLE achievements_private.badge_holders (
    id      bigint PRIMARY KEY DEFAULT nextval('achievements_private.counter_delta_id'),
    badge   text NOT NULL REFERENCES achievements.badges (code) ON UPDATE CASCADE ON DELETE CASCADE,
    holders bigint NOT NULL
);
COMMENT ON TABLE achievements_private.badge_holders IS
    'Holders per badge, as delta rows: holders of b = sum(holders) WHERE badge = b.';
CREATE INDEX badge_holders_badge_idx ON achievements_private.badge_holders (badge) INCLUDE (holders);

-- Every user with a tally or a badge awarded by call, once: badge_stats divides by their
-- number. Users are never removed from it.
CREATE TABLE achievements_private.known_users (
    user_id achievements.user_ref PRIMARY KEY
);
CREATE TABLE achievements_private.known_user_count (
    id    bigint PRIMARY KEY DEFAULT nextval('achievements_private.counter_delta_id'),
    users bigint NOT NULL
);
COMMENT ON TABLE achievements_private.known_user_count IS
    'Number of rows of known_users, as delta rows: sum(users).';

-- Folds the delta rows of every counter into one row per key. Exact under concurrency: it
-- deletes only rows its snapshot sees and re-inserts their sum in the same statement; rows of
-- transactions still running are left alone. One compaction at a time (transaction-scoped
-- advisory lock 1633838660/1, docs/locks.md): with wait = false it returns -1 at once when another one runs,
-- or when the transaction is not READ COMMITTED (where a concurrent fold could make it fail).
-- Returns the number of delta rows removed.
CREATE FUNCTION achievements_private.compact_counters(wait boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    points  bigint;
    holders bigint;
    users   bigint;
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(1633838660, 1);
    ELSIF current_setting('transaction_isolation') <> 'read committed'
          OR NOT pg_try_advisory_xact_lock(1633838660, 1) THEN
        RETURN -1::bigint;
    END IF;
    WITH gone AS (DELETE FROM achievements_private.points_histogram AS h RETURNING h.points, h.users),
         kept AS (INSERT INTO achievements_private.points_histogram (points, users)
                  SELECT g.points, sum(g.users) FROM gone AS g GROUP BY g.points HAVING sum(g.users) <> 0)
    SELECT count(*) INTO points FROM gone;
    WITH gone AS (DELETE FROM achievements_private.badge_holders AS h RETURNING h.badge, h.holders),
         kept AS (INSERT INTO achievements_private.badge_holders (badge, holders)
                  SELECT g.badge, sum(g.holders) FROM gone AS g GROUP BY g.badge HAVING sum(g.holders) <> 0)
    SELECT count(*) INTO holders FROM gone;
    WITH gone AS (DELETE FROM achievements_private.known_user_count AS c RETURNING c.users),
         kept AS (INSERT INTO achievements_private.known_user_count (users)
                  SELECT sum(g.users) FROM gone AS g HAVING sum(g.users) <> 0)
    SELECT count(*) INTO users FROM gone;
    RETURN points + holders + users;
END
$$;

-- Compacts the counters when delta ids first_id..last_id crossed a multiple of 1000, i.e.
-- about once per 1000 delta rows; never waits (see compact_counters).
CREATE FUNCTION achievements_private.maybe_compact(first_id bigint, last_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF last_id / 1000 > (first_id - 1) / 1000 THEN
        PERFORM achievements_private.compact_counters(false);
    END IF;
END
$$;

-- Folds the counter delta rows now (waits for a compaction in progress). Not needed for
-- correctness: writers compact about every 1000 changes. Run it after a big import if you like.
CREATE FUNCTION achievements.compact_counters()
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN achievements_private.compact_counters(true);
COMMENT ON FUNCTION achievements.compact_counters() IS
    'Folds the append-only counter rows (rank histogram, badge holders, user count); returns how many delta rows it removed. Optional maintenance.';

-- Registers users for badge_stats (known_users, once each: the primary key makes a concurrent
-- registration of the same user wait and then do nothing) and counts the newcomers.
CREATE FUNCTION achievements_private.register_users(user_ids achievements.user_ref[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    newcomers bigint;
    delta_id  bigint;
BEGIN
    WITH registered AS (
        INSERT INTO achievements_private.known_users (user_id)
        SELECT u FROM unnest(user_ids) AS u ORDER BY 1
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO newcomers FROM registered;
    IF newcomers > 0 THEN
        INSERT INTO achievements_private.known_user_count (users) VALUES (newcomers) RETURNING id INTO delta_id;
        PERFORM achievements_private.maybe_compact(delta_id, delta_id);
    END IF;
END
$$;

REVOKE EXECUTE ON FUNCTION achievements.compact_counters() FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION achievements.compact_counters()');

-- ==== sql/06_badges/04_scores.sql ====

-- Each user's points and badge count, kept in step with user_badges by a statement-level
-- trigger, whichever path wrote the rows; it also moves the counters of 03_counters.sql.

-- Points and badge count per user who holds or held a badge, kept by count_badges().
CREATE TABLE achievements.user_scores (
    user_id    achievements.user_ref PRIMARY KEY,
    points     bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    badges     int NOT NULL DEFAULT 0 CHECK (badges >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Points added (negative: taken) by the latest change: lets the trigger that made it learn
    -- the previous points from RETURNING and move the user in the rank histogram.
    last_change bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE achievements.user_scores IS
    'Per user: the sum of the points of the badges they hold, and how many they hold. Kept up to date by a trigger on user_badges.';
-- The leaderboard reads the top of this index.
CREATE INDEX user_scores_rank_idx ON achievements.user_scores (points DESC, user_id) WHERE badges > 0;

ALTER TABLE achievements.user_scores ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_scores FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_scores');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_scores');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_scores');

-- Keeps user_scores, the rank histogram and the badge holders in step with one statement's
-- inserted or deleted user_badges rows (transition table changed_badges), whichever path wrote
-- them. Exact under concurrency: scores are upserted (row lock per user, in user_id order, so
-- concurrent statements cannot deadlock on them); counters are appended, never updated. Locks
-- the badges it reads FOR SHARE first, so a concurrent change of their points or a delete waits
-- (see rescore_badge); a badge deleted or renamed meanwhile fails the statement with 40001.
-- A statement that changed no row returns at once; one that changed one row (an award by call,
-- a single write's crossing) takes a path of single-row statements, whose plans are cached:
-- the set-based statement below is costly to start even for one row (docs/bench.md).
CREATE FUNCTION achievements_private.count_badges()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
AS $$
DECLARE
    sign       int := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    pair_users achievements.user_ref[];  -- the statement's first two rows
    pair_codes text[];
    worth      bigint;
    score      bigint;
    codes      text[];
    locked     bigint;
    single     boolean;
    first_id   bigint;
    last_id    bigint;
BEGIN
    -- Statement triggers fire for statements that changed no row (most award attempts).
    SELECT array_agg(c.user_id), array_agg(c.badge) INTO pair_users, pair_codes
      FROM (SELECT c.user_id, c.badge FROM changed_badges AS c LIMIT 2) AS c;
    IF pair_users IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(pair_users) = 1 THEN
        -- One row: the same steps as below, one row each.
        SELECT b.points::bigint INTO worth FROM achievements.badges AS b WHERE b.code = pair_codes[1] FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'a badge being awarded or revoked was deleted or renamed by a concurrent transaction'
                USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
        END IF;
        IF sign > 0 THEN
            INSERT INTO achievements.user_scores AS s (user_id, points, badges, last_change)
            VALUES (pair_users[1], worth, 1, worth)
            ON CONFLICT (user_id) DO UPDATE
               SET points = s.points + excluded.points, badges = s.badges + 1,
                   last_change = excluded.points, updated_at = now()
            RETURNING s.points INTO score;
        ELSE
            UPDATE achievements.user_scores AS s
               SET points = s.points - worth, badges = s.badges - 1, last_change = -worth, updated_at = now()
             WHERE s.user_id = pair_users[1]
            RETURNING s.points INTO score;
        END IF;
        IF worth <> 0 THEN
            WITH moved AS (
                INSERT INTO achievements_private.points_histogram (points, users)
                SELECT m.points, m.users
                  FROM (VALUES (score - sign * worth, -1), (score, 1)) AS m(points, users)
                 WHERE m.points > 0
                RETURNING id
            )
            SELECT min(id) INTO first_id FROM moved;
        END IF;
        INSERT INTO achievements_private.badge_holders (badge, holders) VALUES (pair_codes[1], sign)
        RETURNING id INTO last_id;
        PERFORM achievements_private.maybe_compact(coalesce(first_id, last_id), last_id);
        RETURN NULL;
    END IF;
    -- Transition tables carry no statistics (the planner may assume one row), so nothing below
    -- joins two of them: the previous points come back from the upsert (last_change).
    -- The badges of the statement are locked FOR SHARE (a concurrent points change or delete
    -- waits for this transaction); one that vanished meanwhile fails the statement.
    codes := ARRAY(SELECT DISTINCT c.badge FROM changed_badges AS c);
    single := cardinality(codes) = 1;
    SELECT count(*) INTO locked
      FROM (SELECT b.code
              FROM achievements.badges AS b
             WHERE b.code = ANY (codes)
             ORDER BY b.code
               FOR SHARE) AS l;
    IF locked < cardinality(codes) THEN
        RAISE EXCEPTION 'a badge being awarded or revoked was deleted or renamed by a concurrent transaction'
            USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
    END IF;
    -- Lock order everywhere: badges, then scores in user_id order.
    IF sign < 0 THEN
        PERFORM 1 FROM achievements.user_scores AS s
         WHERE s.user_id IN (SELECT c.user_id FROM changed_badges AS c)
         ORDER BY s.user_id
           FOR UPDATE;
    END IF;
    WITH worth AS (
        SELECT b.code, b.points FROM achievements.badges AS b WHERE b.code = ANY (codes)
    ), per_user AS (
        -- worth has a handful of rows: a nested loop over it costs rows x badges at most.
        -- A statement of one badge (a backfill, most awards) has one row per user already.
        SELECT c.user_id, sign * w.points::bigint AS points, sign AS badges
          FROM changed_badges AS c
          JOIN worth AS w ON w.code = c.badge
         WHERE single
        UNION ALL
        SELECT c.user_id, sign * sum(w.points) AS points, sign * count(*)::int AS badges
          FROM changed_badges AS c
          JOIN worth AS w ON w.code = c.badge
         WHERE NOT single
         GROUP BY c.user_id
    ), inserted AS (
        INSERT INTO achievements.user_scores AS s (user_id, points, badges, last_change)
        SELECT p.user_id, p.points, p.badges, p.points FROM per_user AS p WHERE sign > 0 ORDER BY p.user_id
        ON CONFLICT (user_id) DO UPDATE
           SET points = s.points + excluded.points, badges = s.badges + excluded.badges,
               last_change = excluded.points, updated_at = now()
        RETURNING s.points, s.last_change
    ), deleted AS (
        -- A deleted badge was counted when it was inserted, so the row exists (and is locked
        -- in user_id order by the statement before this one).
        UPDATE achievements.user_scores AS s
           SET points = s.points + p.points, badges = s.badges + p.badges,
               last_change = p.points, updated_at = now()
          FROM per_user AS p
         WHERE sign < 0 AND s.user_id = p.user_id
        RETURNING s.points, s.last_change
    ), histogram AS (
        -- Users who moved from points - last_change to points: grouped by the move first
        -- (few groups), then by points value.
        INSERT INTO achievements_private.points_histogram (points, users)
        SELECT m.points, sum(m.users)
          FROM (SELECT u.points, u.last_change, count(*) AS n
                  FROM (SELECT * FROM inserted UNION ALL SELECT * FROM deleted) AS u
                 GROUP BY u.points, u.last_change) AS g
         CROSS JOIN LATERAL (VALUES (g.points - g.last_change, -g.n), (g.points, g.n)) AS m(points, users)
         WHERE m.points > 0
         GROUP BY m.points
        HAVING sum(m.users) <> 0
        RETURNING id
    ), holders AS (
        INSERT INTO achievements_private.badge_holders (badge, holders)
        SELECT c.badge, sign * count(*) FROM changed_badges AS c WHERE NOT single GROUP BY c.badge
        UNION ALL
        SELECT codes[1], sign * (SELECT count(*) FROM changed_badges) WHERE single
        RETURNING id
    )
    SELECT min(id), max(id) INTO first_id, last_id
      FROM (SELECT id FROM histogram UNION ALL SELECT id FROM holders) AS ids;
    IF last_id IS NOT NULL THEN
        PERFORM achievements_private.maybe_compact(first_id, last_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_count_badges_on_insert
    AFTER INSERT ON achievements.user_badges
    REFERENCING NEW TABLE AS changed_badges
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.count_badges();
CREATE TRIGGER _100_count_badges_on_delete
    AFTER DELETE ON achievements.user_badges
    REFERENCING OLD TABLE AS changed_badges
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.count_badges();

-- ==== sql/06_badges/05_catalog_changes.sql ====

-- Catalog changes that move what users hold: a deleted badge is taken from its holders, a
-- renamed one follows them, a re-priced one moves their points.

-- Deleting a badge takes it from its holders first, while its points are still known, so that
-- their scores drop; the foreign keys then remove its counters.
CREATE FUNCTION achievements_private.unaward_deleted_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM achievements.user_badges AS ub WHERE ub.badge = OLD.code;
    RETURN OLD;
END
$$;

CREATE TRIGGER _100_unaward_on_delete
    BEFORE DELETE ON achievements.badges
    FOR EACH ROW EXECUTE FUNCTION achievements_private.unaward_deleted_badge();

-- A badge whose code changes keeps its holders: their rows follow the new code.
CREATE FUNCTION achievements_private.rename_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE achievements.user_badges AS ub SET badge = NEW.code WHERE ub.badge = OLD.code;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_rename_on_code_change
    AFTER UPDATE OF code ON achievements.badges
    FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code)
    EXECUTE FUNCTION achievements_private.rename_badge();

-- A badge whose points change moves every holder's score by the difference (set-based; takes
-- the score row locks of all holders, so run catalog changes outside peak hours).
CREATE FUNCTION achievements_private.rescore_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    delta bigint := NEW.points::bigint - OLD.points;
BEGIN
    WITH scored AS (
        UPDATE achievements.user_scores AS s
           SET points = s.points + delta, last_change = delta, updated_at = now()
          FROM achievements.user_badges AS ub
         WHERE ub.badge IN (OLD.code, NEW.code) AND s.user_id = ub.user_id
        RETURNING s.points
    ), moves AS (
        SELECT s.points - delta AS points, -1 AS users FROM scored AS s WHERE s.points - delta > 0
        UNION ALL
        SELECT s.points, 1 FROM scored AS s WHERE s.points > 0
    )
    INSERT INTO achievements_private.points_histogram (points, users)
    SELECT m.points, sum(m.users) FROM moves AS m GROUP BY m.points HAVING sum(m.users) <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_rescore_on_points_change
    AFTER UPDATE OF points ON achievements.badges
    FOR EACH ROW WHEN (OLD.points IS DISTINCT FROM NEW.points)
    EXECUTE FUNCTION achievements_private.rescore_badge();

-- ==== sql/06_badges/06_award_badges.sql ====

-- Awarding badges as tallies change (called by tallies_changed, 09_reactions) and as levels are
-- reached (level_reached, 09_reactions).

-- Whether the badge can be earned at this moment (inside its seasonal window, if any).
-- Inlinable (no SET clause, not SECURITY DEFINER); uses only pg_catalog's now().
CREATE FUNCTION achievements_private.badge_in_season(active_from timestamptz, active_until timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
RETURN (active_from IS NULL OR active_from <= now()) AND (active_until IS NULL OR now() < active_until);

-- Changed tallies (the arrays of tallies_changed: user, step, count before and after): registers
-- the users of tallies that start from 0 for badge_stats, takes back the revocable badges whose
-- threshold a tally fell below, and awards the active threshold badges a tally rose to
-- (count before < threshold <= count after). Idempotent (primary key + ON CONFLICT DO NOTHING);
-- the tally row lock of the statement that changed the tally orders concurrent changes of one
-- tally, so each crossing is seen exactly once. A badge revoked by hand is not given back until
-- the tally crosses its threshold again. tallies_changed calls it only when a tally starts or
-- crosses a requirement or threshold.
-- No SET search_path, and generic plans, for the reasons given at award_levels.
CREATE FUNCTION achievements_private.award_badges(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    fallen boolean;
    risen  boolean;
    users  achievements.user_ref[];
    codes  text[];
BEGIN
    IF 0 = ANY (old_counts) THEN
        PERFORM achievements_private.register_users(
            ARRAY(SELECT DISTINCT c.user_id FROM unnest(user_ids, old_counts) AS c(user_id, old_count)
                   WHERE c.old_count = 0));
    END IF;
    -- Whether a tally fell below a revocable badge's threshold, or rose to any badge's.
    SELECT coalesce(bool_or(c.new_count < c.old_count), false), coalesce(bool_or(c.new_count > c.old_count), false)
      INTO fallen, risen
      FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
     WHERE EXISTS (SELECT 1 FROM achievements.badges AS b
                    WHERE b.step = c.name
                      AND b.threshold > least(c.old_count, c.new_count)
                      AND b.threshold <= greatest(c.old_count, c.new_count)
                      AND (b.revocable OR c.new_count > c.old_count));
    IF fallen THEN
        DELETE FROM achievements.user_badges AS ub
         USING unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count),
               achievements.badges AS b
         WHERE b.step = c.name AND b.threshold > c.new_count AND b.threshold <= c.old_count
           AND b.revocable
           AND ub.user_id = c.user_id AND ub.badge = b.code;
    END IF;
    IF NOT risen THEN
        RETURN;
    END IF;

    WITH awarded AS (
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT c.user_id, b.code, true
          FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
          JOIN achievements.badges AS b
            ON b.step = c.name AND b.threshold <= c.new_count AND b.threshold > c.old_count
         WHERE achievements_private.badge_in_season(b.active_from, b.active_until)
         ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        RETURNING user_id, badge
    )
    SELECT array_agg(user_id), array_agg(badge) INTO users, codes FROM awarded;
    PERFORM achievements_private.announce_badges(users, codes);
END
$$;

-- ==== sql/06_badges/07_award_by_call.sql ====

-- Awarding, claiming, revoking and backfilling badges by call, and what a user shows others.

-- The badge row, or AD201 (unknown badge). With active = true, also AD204 when the badge is
-- outside its seasonal window now.
CREATE FUNCTION achievements_private.get_badge(code text, active boolean)
RETURNS achievements.badges
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b achievements.badges;
BEGIN
    SELECT * INTO b FROM achievements.badges AS x WHERE x.code = get_badge.code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown badge %', coalesce(quote_literal(code), 'NULL')
            USING ERRCODE = 'AD201',
                  HINT = 'Badges are the rows of achievements.badges: SELECT code FROM achievements.badges.';
    END IF;
    IF active AND NOT achievements_private.badge_in_season(b.active_from, b.active_until) THEN
        RAISE EXCEPTION 'badge % can be earned only from % until %; it is now %', quote_literal(code),
                        coalesce(b.active_from::text, '-infinity'), coalesce(b.active_until::text, 'infinity'), now()
            USING ERRCODE = 'AD204',
                  HINT = 'Seasonal badges are earned only inside their window (achievements.badges.active_from / active_until).';
    END IF;
    RETURN b;
END
$$;

-- Awards the badge to the user; true when newly awarded, false when they already held it.
-- Idempotent and race-free: 100 calls or 20 concurrent sessions give one row and one
-- notification (primary key + ON CONFLICT DO NOTHING: a concurrent caller waits for the first
-- insert and then does nothing). Raises AD005 for a NULL user, AD201 for an unknown badge,
-- AD204 outside the badge's seasonal window. Owner and service roles.
CREATE FUNCTION achievements.award_badge(user_id achievements.user_ref, code text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    b achievements.badges;
    n int;
BEGIN
    IF award_badge.user_id IS NULL THEN
        RAISE EXCEPTION 'award_badge: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who earned the badge.';
    END IF;
    b := achievements_private.get_badge(award_badge.code, true);
    INSERT INTO achievements.user_badges (user_id, badge, notified)
    VALUES (award_badge.user_id, b.code, true)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN false;
    END IF;
    PERFORM achievements_private.register_users(ARRAY[award_badge.user_id]);
    PERFORM achievements_private.announce_badges(ARRAY[award_badge.user_id], ARRAY[b.code]);
    RETURN true;
END
$$;
COMMENT ON FUNCTION achievements.award_badge(achievements.user_ref, text) IS
    'Awards a badge to a user; true when newly awarded, false when already held. Idempotent under concurrency; one notification.';

-- The current user (current_user_id()) claims a client_grantable badge; true when newly
-- awarded. Same guarantees as award_badge. Raises AD005 without a user claim, AD201 for an
-- unknown badge (or a hidden one that cannot be claimed: its existence stays secret), AD203
-- for a badge that is not client_grantable, AD204 outside its seasonal window.
CREATE FUNCTION achievements.claim_badge(code text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who achievements.user_ref := achievements.current_user_id();
    b   achievements.badges;
BEGIN
    IF who IS NULL THEN
        RAISE EXCEPTION 'claim_badge: the request carries no user claim' USING ERRCODE = 'AD005',
            HINT = 'Set request.jwt.claims (PostgREST, Supabase) or jwt.claims.user_id to the user who claims the badge.';
    END IF;
    SELECT * INTO b FROM achievements.badges AS x WHERE x.code = claim_badge.code;
    IF NOT FOUND OR (b.hidden AND NOT b.client_grantable) THEN
        RAISE EXCEPTION 'unknown badge %', coalesce(quote_literal(code), 'NULL')
            USING ERRCODE = 'AD201',
                  HINT = 'Badges are the rows of achievements.badges you can read.';
    END IF;
    IF NOT b.client_grantable THEN
        RAISE EXCEPTION 'badge % cannot be claimed: it is earned, not granted on request', quote_literal(code)
            USING ERRCODE = 'AD203',
                  HINT = 'Only badges with client_grantable = true can be claimed; others are awarded by the application.';
    END IF;
    b := achievements_private.get_badge(b.code, true);
    RETURN achievements.award_badge(who, b.code);
END
$$;
COMMENT ON FUNCTION achievements.claim_badge(text) IS
    'The current user claims a client_grantable badge (e.g. a share button); true when newly awarded. Other badges are refused (AD203).';

-- Takes the badge from the user; true when they held it. Their points and the badge's holders
-- follow (trigger on user_badges). Sends no notification. Raises AD005 for a NULL user, AD201
-- for an unknown badge. Owner and service roles.
CREATE FUNCTION achievements.revoke_badge(user_id achievements.user_ref, code text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    b achievements.badges;
    n int;
BEGIN
    IF revoke_badge.user_id IS NULL THEN
        RAISE EXCEPTION 'revoke_badge: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who loses the badge.';
    END IF;
    b := achievements_private.get_badge(revoke_badge.code, false);
    DELETE FROM achievements.user_badges AS ub
     WHERE ub.user_id = revoke_badge.user_id AND ub.badge = b.code;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$$;
COMMENT ON FUNCTION achievements.revoke_badge(achievements.user_ref, text) IS
    'Takes a badge from a user; true when they held it. Points follow.';

-- Whether `who` holds the badge. Raises AD201 when the badge is not `known` (not in the catalog
-- as the caller sees it: a hidden badge exists only for its holders and the service roles).
CREATE FUNCTION achievements_private.has_badge(who achievements.user_ref, code text, known boolean)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT known THEN
        RAISE EXCEPTION 'unknown badge %', coalesce(quote_literal(code), 'NULL')
            USING ERRCODE = 'AD201',
                  HINT = 'Badges are the rows of achievements.badges: SELECT code FROM achievements.badges.';
    END IF;
    RETURN EXISTS (SELECT 1 FROM achievements.user_badges AS ub WHERE ub.user_id = who AND ub.badge = has_badge.code);
END
$$;

-- Whether the user holds the badge. Raises AD005 without a user, 42501 when an application role
-- asks about another user, AD201 for a badge the caller cannot see (unknown, or hidden and not
-- held).
CREATE FUNCTION achievements.has_badge(user_id achievements.user_ref, code text)
RETURNS boolean
LANGUAGE sql STABLE
RETURN achievements_private.has_badge(
    achievements_private.readable_user(user_id), code,
    EXISTS (SELECT 1 FROM achievements.badges AS b WHERE b.code = has_badge.code));
COMMENT ON FUNCTION achievements.has_badge(achievements.user_ref, text) IS
    'Whether the user holds the badge.';

-- Awards the badge to every user who already qualifies (tally >= threshold, or level reached),
-- in one set-based statement, silently: rows are marked notified = true and no notification
-- is written or sent. Returns how many users got it; 0 for a badge without criteria.
-- Idempotent; safe beside concurrent awards: the fast path is a plain INSERT (no per-row
-- ON CONFLICT check, about twice as fast), skipping current holders only when the holder
-- counter says there are any; a concurrent award of the same badge to the same user makes it
-- fail with unique_violation, and then the statement is redone with ON CONFLICT DO NOTHING.
-- Raises AD201 for an unknown badge, AD204 outside its seasonal window. Owner and service roles.
CREATE FUNCTION achievements.backfill_badge(code text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b       achievements.badges := achievements_private.get_badge(code, true);
    held    boolean;
    awarded int := 0;
    before  text;
BEGIN
    IF b.step IS NULL AND b.level IS NULL THEN
        RETURN 0;
    END IF;
    held := EXISTS (SELECT 1 FROM achievements_private.badge_holders AS h
                     WHERE h.badge = b.code GROUP BY h.badge HAVING sum(h.holders) <> 0);
    before := achievements_private.set_quiet('on');
    BEGIN
        IF held THEN
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT q.user_id, b.code, true
              FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                     WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                    UNION ALL
                    SELECT ul.user_id FROM achievements.user_levels AS ul
                     WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
             WHERE NOT EXISTS (SELECT 1 FROM achievements.user_badges AS ub
                                WHERE ub.user_id = q.user_id AND ub.badge = b.code)
             ORDER BY q.user_id;
        ELSE
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT q.user_id, b.code, true
              FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                     WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                    UNION ALL
                    SELECT ul.user_id FROM achievements.user_levels AS ul
                     WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
             ORDER BY q.user_id;
        END IF;
        GET DIAGNOSTICS awarded = ROW_COUNT;
    EXCEPTION WHEN unique_violation THEN
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT q.user_id, b.code, true
          FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                 WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                UNION ALL
                SELECT ul.user_id FROM achievements.user_levels AS ul
                 WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
         ORDER BY q.user_id
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS awarded = ROW_COUNT;
    END;
    PERFORM achievements_private.set_quiet(before);
    RETURN awarded;
END
$$;
COMMENT ON FUNCTION achievements.backfill_badge(text) IS
    'Awards a badge to every user who already qualifies, silently (notified = true, no notification); returns how many got it.';

-- The current user shows or hides one of their badges in public_badges(); true when they hold
-- it. Raises AD005 without a user claim.
CREATE FUNCTION achievements.set_badge_public(code text, is_public boolean)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    who achievements.user_ref := achievements.current_user_id();
    n   int;
BEGIN
    IF who IS NULL THEN
        RAISE EXCEPTION 'set_badge_public: the request carries no user claim' USING ERRCODE = 'AD005',
            HINT = 'Set request.jwt.claims (PostgREST, Supabase) or jwt.claims.user_id.';
    END IF;
    UPDATE achievements.user_badges AS ub SET is_public = coalesce(set_badge_public.is_public, true)
     WHERE ub.user_id = who AND ub.badge = set_badge_public.code;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$$;
COMMENT ON FUNCTION achievements.set_badge_public(text, boolean) IS
    'The current user shows (true) or hides (false) one of their badges from others; true when they hold it.';

REVOKE EXECUTE ON FUNCTION achievements.award_badge(achievements.user_ref, text),
                           achievements.revoke_badge(achievements.user_ref, text),
                           achievements.backfill_badge(text),
                           achievements.claim_badge(text),
                           achievements.set_badge_public(text, boolean) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.award_badge(achievements.user_ref, text), achievements.revoke_badge(achievements.user_ref, text), achievements.backfill_badge(text)');
SELECT achievements_private.grant_to_app_roles('EXECUTE',
    'FUNCTION achievements.claim_badge(text), achievements.set_badge_public(text, boolean)');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.claim_badge(text), achievements.set_badge_public(text, boolean)');

-- ==== sql/06_badges/08_reads.sql ====

-- Reads of badges: progress toward each badge, a user's badges page by page, points, the
-- leaderboard and ranks, per-badge statistics. Each read touches only the rows it returns (plus
-- the catalog): the leaderboard reads the top of an index, a rank sums the points histogram,
-- statistics sum the holder counters. None counts all users.
--
-- Row level security: a user reads their own progress, badges, points and rank (others raise
-- 42501, as in steps_required); others' public data only through leaderboard, badge_stats and
-- public_badges, which return nothing private.

-- Raises AD206 unless 1 <= lim <= 1000.
CREATE FUNCTION achievements_private.check_page_limit(lim int)
RETURNS int
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF lim IS NULL OR lim < 1 OR lim > 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000 (got %)', coalesce(lim::text, 'NULL')
            USING ERRCODE = 'AD206', HINT = 'Ask for at most 1000 rows at a time and page on.';
    END IF;
    RETURN lim;
END
$$;

-- One row per badge for `who`, for a progress screen: current/target ("5/10 songs"), earned_at
-- when held. Threshold badges: the tally (capped at the threshold) out of the threshold. Level
-- badges: the requirements met out of the requirements of the level. Badges without criteria:
-- 0 or 1 out of 1. A badge held counts as complete. Hidden badges appear only once earned.
-- Ordered by category, step, threshold, level, code.
CREATE FUNCTION achievements_private.badge_progress(who achievements.user_ref)
RETURNS TABLE (code text, name text, current int, target int, earned_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH held AS (
        SELECT ub.badge, ub.earned_at FROM achievements.user_badges AS ub WHERE ub.user_id = who
    ), tallies AS (
        SELECT t.name, t.count FROM achievements.user_achievements AS t WHERE t.user_id = who
    ), levels AS (
        SELECT r.level, count(*)::int AS requirements,
               count(*) FILTER (WHERE coalesce(t.count, 0) >= r.required_count)::int AS met,
               EXISTS (SELECT 1 FROM achievements.user_levels AS ul
                        WHERE ul.user_id = who AND ul.level = r.level) AS reached
          FROM achievements.level_requirements AS r
          LEFT JOIN tallies AS t ON t.name = r.name
         WHERE r.level IN (SELECT b.level FROM achievements.badges AS b WHERE b.level IS NOT NULL)
         GROUP BY r.level
    ), progress AS (
        SELECT b.*, h.earned_at AS held_at,
               CASE WHEN b.step IS NOT NULL THEN b.threshold
                    WHEN b.level IS NOT NULL THEN greatest(coalesce(l.requirements, 0), 1)
                    ELSE 1 END AS goal,
               CASE WHEN b.step IS NOT NULL THEN least(coalesce(t.count, 0), b.threshold)
                    WHEN b.level IS NOT NULL THEN
                         CASE WHEN l.reached THEN greatest(coalesce(l.requirements, 0), 1) ELSE coalesce(l.met, 0) END
                    ELSE 0 END AS done
          FROM achievements.badges AS b
          LEFT JOIN held AS h ON h.badge = b.code
          LEFT JOIN tallies AS t ON t.name = b.step
          LEFT JOIN levels AS l ON l.level = b.level
         WHERE NOT b.hidden OR h.earned_at IS NOT NULL
    )
    SELECT p.code, p.name, CASE WHEN p.held_at IS NOT NULL THEN p.goal ELSE p.done END, p.goal, p.held_at
      FROM progress AS p
     ORDER BY p.category NULLS LAST, p.step NULLS LAST, p.threshold NULLS LAST, p.level NULLS LAST, p.code;
END
$$;

-- The user's progress toward every badge they can see (achievements_private.badge_progress).
-- Raises AD005 without a user, 42501 when an application role asks about another user.
CREATE FUNCTION achievements.badge_progress(
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS TABLE (code text, name text, current int, target int, earned_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.badge_progress(achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.badge_progress(achievements.user_ref) IS
    'One row per badge: code, name, current, target ("5/10"), earned_at when held. Hidden badges only once earned.';

-- `who`'s badges, newest first, `lim` at a time (keyset pagination): `after` is the code of the
-- last badge of the previous page. Raises AD206 for a limit outside 1..1000 or an `after` the
-- user does not hold.
CREATE FUNCTION achievements_private.user_badges_page(who achievements.user_ref, after text, lim int)
RETURNS TABLE (badge text, name text, description text, icon text, category text, points int,
               rarity text, earned_at timestamptz, is_public boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n        int := achievements_private.check_page_limit(lim);
    after_at timestamptz;
BEGIN
    IF after IS NOT NULL THEN
        SELECT ub.earned_at INTO after_at
          FROM achievements.user_badges AS ub WHERE ub.user_id = who AND ub.badge = after;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'after: the user holds no badge %', quote_literal(after)
                USING ERRCODE = 'AD206',
                      HINT = 'Pass the code of the last badge of the previous page, or NULL for the first page.';
        END IF;
    END IF;
    RETURN QUERY
        SELECT ub.badge, b.name, b.description, b.icon, b.category, b.points, b.rarity, ub.earned_at, ub.is_public
          FROM achievements.user_badges AS ub
          JOIN achievements.badges AS b ON b.code = ub.badge
         WHERE ub.user_id = who
           AND (after IS NULL OR ub.earned_at < after_at OR (ub.earned_at = after_at AND ub.badge > after))
         ORDER BY ub.earned_at DESC, ub.badge
         LIMIT n;
END
$$;

-- The user's badges, newest first, `lim` at a time (keyset pagination): pass the code of the
-- last badge of a page as `after` to get the next page. Raises AD005 without a user, 42501 for
-- another user, AD206 for a limit outside 1..1000 or an `after` the user does not hold.
CREATE FUNCTION achievements.user_badges_page(
    user_id achievements.user_ref DEFAULT achievements.current_user_id(),
    after text DEFAULT NULL,
    lim int DEFAULT 20)
RETURNS TABLE (badge text, name text, description text, icon text, category text, points int,
               rarity text, earned_at timestamptz, is_public boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.user_badges_page(achievements_private.readable_user(user_id), after, lim);
END;
COMMENT ON FUNCTION achievements.user_badges_page(achievements.user_ref, text, int) IS
    'The user''s badges newest first, lim (default 20) at a time; after = code of the last badge of the previous page.';

-- The sum of the points of the badges `who` holds (0 without badges). One index lookup.
CREATE FUNCTION achievements_private.user_points(who achievements.user_ref)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0);

-- The sum of the points of the badges the user holds (0 without badges). Raises AD005 without a
-- user, 42501 when an application role asks about another user.
CREATE FUNCTION achievements.user_points(
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS bigint
LANGUAGE sql STABLE
RETURN achievements_private.user_points(achievements_private.readable_user(user_id));
COMMENT ON FUNCTION achievements.user_points(achievements.user_ref) IS
    'Points of the badges the user holds (0 without badges).';

-- Public: the top `lim` users by points (users holding at least one badge), ties sharing a
-- rank (1, 2, 2, 4), ties listed by user_id. Without `since`: reads the top of the
-- user_scores index. With `since`: only badges earned at or after `since` (and still held)
-- count; this aggregates the badges earned in the window, so its cost grows with the window.
-- Raises AD206 for a limit outside 1..1000.
CREATE FUNCTION achievements.leaderboard(lim int DEFAULT 10, since timestamptz DEFAULT NULL)
RETURNS TABLE (rank bigint, user_id achievements.user_ref, points bigint, badges int)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n int := achievements_private.check_page_limit(lim);
BEGIN
    IF since IS NULL THEN
        RETURN QUERY
            SELECT rank() OVER (ORDER BY top.points DESC), top.user_id, top.points, top.badges
              FROM (SELECT s.user_id, s.points, s.badges
                      FROM achievements.user_scores AS s
                     WHERE s.badges > 0
                     ORDER BY s.points DESC, s.user_id
                     LIMIT n) AS top
             ORDER BY top.points DESC, top.user_id;
    ELSE
        RETURN QUERY
            SELECT rank() OVER (ORDER BY w.points DESC), w.user_id, w.points, w.badges
              FROM (SELECT ub.user_id, sum(b.points)::bigint AS points, count(*)::int AS badges
                      FROM achievements.user_badges AS ub
                      JOIN achievements.badges AS b ON b.code = ub.badge
                     WHERE ub.earned_at >= since
                     GROUP BY ub.user_id) AS w
             ORDER BY w.points DESC, w.user_id
             LIMIT n;
    END IF;
END
$$;
COMMENT ON FUNCTION achievements.leaderboard(int, timestamptz) IS
    'Top lim users by points (ties share a rank); with since, only badges earned since then count.';

-- `who`'s rank as in leaderboard(): 1 + the number of users with more points (so users without
-- points share the last rank). All time: a sum over the points histogram, never the users
-- above. Since a time: over the badges earned since then.
CREATE FUNCTION achievements_private.user_rank(who achievements.user_ref, since timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mine bigint;
BEGIN
    IF since IS NULL THEN
        mine := achievements_private.user_points(who);
        RETURN 1 + (SELECT coalesce(sum(h.users), 0)::bigint
                      FROM achievements_private.points_histogram AS h WHERE h.points > mine);
    END IF;
    SELECT coalesce(sum(b.points), 0) INTO mine
      FROM achievements.user_badges AS ub
      JOIN achievements.badges AS b ON b.code = ub.badge
     WHERE ub.user_id = who AND ub.earned_at >= since;
    RETURN 1 + (SELECT count(*)
                  FROM (SELECT 1
                          FROM achievements.user_badges AS ub
                          JOIN achievements.badges AS b ON b.code = ub.badge
                         WHERE ub.earned_at >= since
                         GROUP BY ub.user_id
                        HAVING sum(b.points) > mine) AS above);
END
$$;

-- The user's rank as in leaderboard(): 1 + the number of users with more points (since a time:
-- points of badges earned since then). Raises AD005 without a user, 42501 when an application
-- role asks about another user.
CREATE FUNCTION achievements.user_rank(
    user_id achievements.user_ref DEFAULT achievements.current_user_id(),
    since timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql STABLE
RETURN achievements_private.user_rank(achievements_private.readable_user(user_id), since);
COMMENT ON FUNCTION achievements.user_rank(achievements.user_ref, timestamptz) IS
    'The user''s leaderboard rank: 1 + users with more points (since a time: points of badges earned since then).';

-- Holders per badge (sums of the counter rows), in one scan: badge_stats reads it.
CREATE FUNCTION achievements_private.badge_holder_counts()
RETURNS TABLE (badge text, holders bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.badge, sum(h.holders)::bigint FROM achievements_private.badge_holders AS h GROUP BY h.badge;
$$;

-- Users with any tally or a badge awarded by call (sum of the counter rows): badge_stats reads it.
CREATE FUNCTION achievements_private.known_user_total()
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(sum(c.users), 0)::bigint FROM achievements_private.known_user_count AS c);

-- Per badge the caller can see: its holders and their share of all users with any tally.
-- Reads counters kept by triggers, never counts users. security_invoker: the badges row level
-- security applies, so hidden badges appear only to those who hold them (and service roles).
CREATE VIEW achievements.badge_stats WITH (security_invoker = true) AS
SELECT b.code,
       coalesce(h.holders, 0) AS holders,
       CASE WHEN u.users > 0 THEN coalesce(h.holders, 0)::double precision / u.users ELSE 0 END AS share
  FROM achievements.badges AS b
  LEFT JOIN achievements_private.badge_holder_counts() AS h ON h.badge = b.code
 CROSS JOIN (SELECT achievements_private.known_user_total() AS users) AS u;
COMMENT ON VIEW achievements.badge_stats IS
    'Per badge: holders, and share (0 to 1) of all users with any tally. Kept incrementally; hidden badges only for their holders.';

-- Public: the badges a user shows to others (is_public), newest first. A hidden badge is
-- listed only to viewers who hold it too, so that it stays a secret to the others.
CREATE FUNCTION achievements.public_badges(user_id achievements.user_ref)
RETURNS TABLE (badge text, name text, icon text, category text, points int, rarity text, earned_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ub.badge, b.name, b.icon, b.category, b.points, b.rarity, ub.earned_at
      FROM achievements.user_badges AS ub
      JOIN achievements.badges AS b ON b.code = ub.badge
     WHERE ub.user_id = public_badges.user_id
       AND ub.is_public
       AND (NOT b.hidden
            OR EXISTS (SELECT 1 FROM achievements.user_badges AS mine
                        WHERE mine.user_id = achievements.current_user_id() AND mine.badge = b.code))
     ORDER BY ub.earned_at DESC, ub.badge;
$$;
COMMENT ON FUNCTION achievements.public_badges(achievements.user_ref) IS
    'The badges a user shows to others (is_public), newest first; hidden badges only to viewers who hold them.';

SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.badge_stats');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.badge_stats');

-- ==== sql/07_notifications/01_outbox.sql ====

-- The notification outbox: a row in the awarding transaction for every new badge and level,
-- announced with pg_notify('achievements', ...) at commit. SET LOCAL achievements.quiet = on
-- makes awards silent (backfills do it for themselves): no outbox row, no pg_notify.

CREATE TABLE achievements.notifications (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    achievements.user_ref NOT NULL,
    kind       text NOT NULL CHECK (kind <> ''),
    title      text NOT NULL,
    body       text,
    link       text,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
COMMENT ON TABLE achievements.notifications IS
    'Outbox: one row per new badge (kind badge, data.badge) or level (kind level, data.level), written in the awarding transaction; pg_notify(''achievements'', {id, user_id, kind, badge|level}) fires at commit.';
CREATE INDEX notifications_user_idx ON achievements.notifications (user_id, id);
CREATE INDEX notifications_unread_idx ON achievements.notifications (user_id) WHERE read_at IS NULL;

ALTER TABLE achievements.notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.notifications FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.notifications');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.notifications');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.notifications');

-- Whether awards are silent in this transaction: SET LOCAL achievements.quiet = on.
-- No SET search_path: it would stop the planner from inlining this into every award query,
-- and it is not SECURITY DEFINER; its body uses only pg_catalog functions.
CREATE FUNCTION achievements_private.quiet()
RETURNS boolean
LANGUAGE sql STABLE
RETURN lower(coalesce(current_setting('achievements.quiet', true), '')) IN ('on', 'true', 'yes', '1');

-- Sets achievements.quiet for the rest of the transaction and returns its value before, so
-- that a function can award silently and then put it back (set_quiet(before)). A function-level
-- SET of this custom setting would need a superuser on managed databases; a change made with
-- set_config is undone with the transaction or subtransaction that made it, like the rest.
CREATE FUNCTION achievements_private.set_quiet(quiet text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    before text := current_setting('achievements.quiet', true);
BEGIN
    PERFORM set_config('achievements.quiet', coalesce(quiet, ''), true);
    RETURN before;
END
$$;

-- Queues pg_notify('achievements', {"id", "user_id", "kind", "badge"|"level"}) for every row a
-- statement writes into the outbox, in id order, delivered at commit; the payload comes from the
-- statement's transition table, so the rows are not read back. Skips it (the outbox rows stay;
-- listeners catch up by reading them) when the NOTIFY queue is more than half full, because a
-- full queue makes COMMIT itself fail. An error here fails the insert, which the announcing
-- functions below catch.
CREATE FUNCTION achievements_private.publish()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_notification_queue_usage() > 0.5 THEN
        RAISE WARNING 'achievements: NOTIFY queue is % full; % notification(s) stay in achievements.notifications without pg_notify',
                      round(pg_notification_queue_usage() * 100) || '%', (SELECT count(*) FROM written);
        RETURN NULL;
    END IF;
    PERFORM pg_notify('achievements',
                      (jsonb_build_object('id', n.id, 'user_id', n.user_id, 'kind', n.kind)
                       || jsonb_strip_nulls(jsonb_build_object('badge', n.data -> 'badge', 'level', n.data -> 'level'))
                      )::text)
       FROM written AS n
      ORDER BY n.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_publish
    AFTER INSERT ON achievements.notifications
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.publish();

-- ==== sql/07_notifications/02_announce.sql ====

-- Writing the outbox rows of new badges and levels (published by the trigger of 01_outbox.sql).

-- Writes one 'badge' outbox row per newly awarded (user, badge) pair (published by the trigger
-- above), unless achievements.quiet is on. Never raises: any failure (e.g. a notification too
-- long for pg_notify) becomes a WARNING, marks those awards notified = false, and the awards
-- stand.
CREATE FUNCTION achievements_private.announce_badges(user_ids achievements.user_ref[], codes text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, data)
        SELECT a.user_id, 'badge', 'Badge earned: ' || b.name, b.description,
               jsonb_build_object('badge', b.code, 'name', b.name, 'points', b.points,
                                  'rarity', b.rarity, 'icon', b.icon, 'category', b.category)
          FROM unnest(user_ids, codes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements.badges AS b ON b.code = a.badge
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % badge award(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
        UPDATE achievements.user_badges AS ub SET notified = false
          FROM unnest(user_ids, codes) AS a(user_id, badge)
         WHERE ub.user_id = a.user_id AND ub.badge = a.badge;
    END;
END
$$;

-- Writes one 'level' outbox row per newly reached (user, level) (published by the trigger
-- above), unless achievements.quiet is on. Never raises (a failure becomes a WARNING; the
-- levels stand).
CREATE FUNCTION achievements_private.announce_levels(user_ids achievements.user_ref[], levels text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, data)
        SELECT a.user_id, 'level', 'Level reached: ' || l.name, l.description,
               jsonb_build_object('level', l.name)
          FROM unnest(user_ids, levels) WITH ORDINALITY AS a(user_id, level, ord)
          JOIN achievements.levels AS l ON l.name = a.level
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % level(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
    END;
END
$$;

-- ==== sql/07_notifications/03_inbox.sql ====

-- The current user reads and clears their notifications. The user is current_user_id(); these
-- functions never touch another user's rows.

-- Marks one of the current user's notifications read; true when it was unread, false when it
-- was read already. Raises AD205 when the current user has no notification with that id
-- (another user's id gives the same error), AD005 without a user claim.
CREATE FUNCTION achievements.mark_read(id bigint)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who     achievements.user_ref := achievements_private.require_user('mark_read');
    read_at timestamptz;
BEGIN
    SELECT n.read_at INTO read_at
      FROM achievements.notifications AS n
     WHERE n.id = mark_read.id AND n.user_id = who
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the current user has no notification %', coalesce(mark_read.id::text, 'NULL')
            USING ERRCODE = 'AD205',
                  HINT = 'Pass the id of one of your notifications: SELECT id FROM achievements.notifications.';
    END IF;
    IF read_at IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE achievements.notifications AS n SET read_at = now() WHERE n.id = mark_read.id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION achievements.mark_read(bigint) IS
    'Marks one of the current user''s notifications read; true when it was unread.';

-- Marks every unread notification of the current user read; returns how many. AD005 without
-- a user claim.
CREATE FUNCTION achievements.mark_all_read()
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who achievements.user_ref := achievements_private.require_user('mark_all_read');
    n   int;
BEGIN
    UPDATE achievements.notifications AS x SET read_at = now()
     WHERE x.user_id = who AND x.read_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION achievements.mark_all_read() IS
    'Marks every unread notification of the current user read; returns how many.';

-- The number of unread notifications of the current user (partial index on unread rows).
-- AD005 without a user claim.
CREATE FUNCTION achievements.unread_count()
RETURNS int
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who achievements.user_ref := achievements_private.require_user('unread_count');
BEGIN
    RETURN (SELECT count(*)::int FROM achievements.notifications AS n
             WHERE n.user_id = who AND n.read_at IS NULL);
END
$$;
COMMENT ON FUNCTION achievements.unread_count() IS
    'Number of unread notifications of the current user.';

REVOKE EXECUTE ON FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(),
                           achievements.unread_count() FROM PUBLIC;
SELECT achievements_private.grant_to_app_roles('EXECUTE',
    'FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(), achievements.unread_count()');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(), achievements.unread_count()');

-- ==== sql/08_catalog/apply_catalog.sql ====

-- The catalog: declare levels, their requirements and badges in one document (the CLI reads it
-- from a TOML file) and apply it: validated completely before anything changes, idempotent,
-- reporting every change it makes, with a dry run.
--
-- Document (JSON; every key optional):
--   {"levels": {"fan": {"description": "...",
--                       "requirements": {"song": 10, "video": 2}            -- step: count
--                                   or [{"step": "song", "count": 10, "priority": 1}, ...]}},
--    "badges": {"first_song": {"name": "First song", "description": ..., "icon": ...,
--                              "category": ..., "points": 10, "rarity": "rare",
--                              "hidden": false, "step": "song", "threshold": 1, "level": null,
--                              "client_grantable": false, "revocable": false,
--                              "active_from": "2026-12-01T00:00:00Z", "active_until": ...}}}
-- Declarative per object: a declared level with a requirements key gets exactly the
-- requirements listed (others of that level are deleted; without the key they stay); a
-- declared badge gets exactly the fields given, omitted ones take their defaults. Levels and
-- badges absent from the document are left alone (never deleted).

-- Checks the shape and the types of a catalog document; returns one line per problem,
-- naming its path (e.g. badges.first_song.points: expected an integer, got "ten").
CREATE FUNCTION achievements_private.catalog_problems(catalog jsonb)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    badge_keys constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until'];
    k       text;
    v       jsonb;
    item    record;
    field   record;
    req     record;
    want    text;
    path    text;
    steps   text[];
BEGIN
    IF jsonb_typeof(catalog) IS DISTINCT FROM 'object' THEN
        RETURN NEXT 'the catalog must be a table/object with "levels" and "badges"';
        RETURN;
    END IF;
    FOR k IN SELECT x FROM (SELECT jsonb_object_keys(catalog) EXCEPT SELECT unnest(ARRAY['levels', 'badges'])) AS u(x) ORDER BY 1 LOOP
        RETURN NEXT format('%s: unknown section (expected levels or badges)', k);
    END LOOP;
    FOREACH k IN ARRAY ARRAY['levels', 'badges'] LOOP
        IF catalog ? k AND jsonb_typeof(catalog -> k) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of %s by name', k, k);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'levels') = 'object'
                                              THEN catalog -> 'levels' ELSE '{}' END) ORDER BY key LOOP
        path := 'levels.' || item.key;
        IF item.key = '' THEN
            RETURN NEXT 'levels: a level name must not be empty';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (description, requirements)', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(ARRAY['description', 'requirements'])) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected description, requirements)', path, k);
        END LOOP;
        IF jsonb_typeof(item.value -> 'description') NOT IN ('string', 'null') THEN
            RETURN NEXT format('%s.description: expected a string', path);
        END IF;
        v := item.value -> 'requirements';
        IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
            CONTINUE;
        ELSIF jsonb_typeof(v) = 'object' THEN
            FOR req IN SELECT * FROM jsonb_each(v) ORDER BY key LOOP
                IF req.key = '' THEN
                    RETURN NEXT format('%s.requirements: a step name must not be empty', path);
                END IF;
                IF jsonb_typeof(req.value) <> 'number' OR req.value::text !~ '^[0-9]+$' OR req.value::numeric < 1
                   OR req.value::numeric > 2147483647 THEN
                    RETURN NEXT format('%s.requirements.%s: expected a whole number of at least 1, got %s', path, req.key, req.value);
                END IF;
            END LOOP;
        ELSIF jsonb_typeof(v) = 'array' THEN
            steps := '{}';
            FOR req IN SELECT * FROM jsonb_array_elements(v) WITH ORDINALITY AS e(value, n) LOOP
                want := format('%s.requirements[%s]', path, req.n);
                IF jsonb_typeof(req.value) <> 'object' THEN
                    RETURN NEXT format('%s: expected a table with step, count, priority', want);
                    CONTINUE;
                END IF;
                FOR k IN SELECT x FROM (SELECT jsonb_object_keys(req.value) EXCEPT SELECT unnest(ARRAY['step', 'count', 'priority'])) AS u(x) ORDER BY 1 LOOP
                    RETURN NEXT format('%s.%s: unknown key (expected step, count, priority)', want, k);
                END LOOP;
                IF jsonb_typeof(req.value -> 'step') IS DISTINCT FROM 'string' OR req.value ->> 'step' = '' THEN
                    RETURN NEXT format('%s.step: expected a non-empty string', want);
                ELSIF req.value ->> 'step' = ANY (steps) THEN
                    RETURN NEXT format('%s.step: step %s is listed twice', want, req.value -> 'step');
                ELSE
                    steps := steps || (req.value ->> 'step');
                END IF;
                IF req.value ? 'count' AND (jsonb_typeof(req.value -> 'count') <> 'number'
                   OR (req.value -> 'count')::text !~ '^[0-9]+$' OR (req.value ->> 'count')::numeric < 1
                   OR (req.value ->> 'count')::numeric > 2147483647) THEN
                    RETURN NEXT format('%s.count: expected a whole number of at least 1, got %s', want, req.value -> 'count');
                END IF;
                IF req.value ? 'priority' AND (jsonb_typeof(req.value -> 'priority') <> 'number'
                   OR (req.value -> 'priority')::text !~ '^-?[0-9]+$'
                   OR abs((req.value ->> 'priority')::numeric) > 2147483647) THEN
                    RETURN NEXT format('%s.priority: expected a whole number, got %s', want, req.value -> 'priority');
                END IF;
            END LOOP;
        ELSE
            RETURN NEXT format('%s.requirements: expected a table of step = count, or a list of {step, count, priority}', path);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'badges') = 'object'
                                              THEN catalog -> 'badges' ELSE '{}' END) ORDER BY key LOOP
        path := 'badges.' || item.key;
        IF item.key = '' THEN
            RETURN NEXT 'badges: a badge code must not be empty';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of badge fields', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(badge_keys)) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected one of %s)', path, k, array_to_string(badge_keys, ', '));
        END LOOP;
        IF NOT item.value ? 'name' THEN
            RETURN NEXT format('%s.name: missing (the name users see)', path);
        END IF;
        FOR field IN SELECT * FROM jsonb_each(item.value) WHERE key = ANY (badge_keys) ORDER BY key LOOP
            want := CASE WHEN field.key IN ('points', 'threshold') THEN 'integer'
                         WHEN field.key IN ('hidden', 'client_grantable', 'revocable') THEN 'boolean'
                         WHEN field.key IN ('active_from', 'active_until') THEN 'timestamp'
                         ELSE 'string' END;
            IF want = 'integer' AND (jsonb_typeof(field.value) <> 'number' OR field.value::text !~ '^-?[0-9]+$'
                                     OR abs(field.value::numeric) > 2147483647) THEN
                RETURN NEXT format('%s.%s: expected a whole number, got %s', path, field.key, field.value);
            ELSIF want = 'boolean' AND jsonb_typeof(field.value) <> 'boolean' THEN
                RETURN NEXT format('%s.%s: expected true or false, got %s', path, field.key, field.value);
            ELSIF want = 'string' AND jsonb_typeof(field.value) <> 'string' THEN
                RETURN NEXT format('%s.%s: expected a string, got %s', path, field.key, field.value);
            ELSIF want = 'timestamp' THEN
                IF jsonb_typeof(field.value) <> 'string' THEN
                    RETURN NEXT format('%s.%s: expected a date and time, got %s', path, field.key, field.value);
                ELSE
                    BEGIN
                        PERFORM (field.value #>> '{}')::timestamptz;
                    EXCEPTION WHEN OTHERS THEN
                        RETURN NEXT format('%s.%s: not a date and time: %s', path, field.key, field.value);
                    END;
                END IF;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

-- Applies a catalog document (see the top of this file) and returns one row per change:
-- object (level, requirement, badge), name, action (create, update, delete), detail.
-- Guarantees: validates everything first and changes nothing when anything is wrong
-- (raises AD207 listing every problem, one per line in DETAIL, including the definition errors
-- of achievements.badges); idempotent (a second run returns no rows); with dry_run = true it
-- applies in a subtransaction that it rolls back, so the report is exactly what a real run
-- would do. Takes an exclusive transaction-scoped advisory lock (1633838660/2, docs/locks.md),
-- so catalog applies run one at a time. Owner and service roles.
CREATE FUNCTION achievements.apply_catalog(catalog jsonb, dry_run boolean DEFAULT false)
RETURNS TABLE (object text, name text, action text, detail text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    badge_fields constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until'];
    defaults constant jsonb := '{"description": null, "icon": null, "category": null, "points": 0,
        "rarity": "common", "hidden": false, "step": null, "threshold": null, "level": null,
        "client_grantable": false, "revocable": false, "active_from": null, "active_until": null}'::jsonb;
    problems text[];
    item     record;
    req      record;
    old_row  jsonb;
    new_row  jsonb;
    desired  achievements.badges;
    changes  text[];
BEGIN
    PERFORM pg_advisory_xact_lock(1633838660, 2);
    problems := ARRAY(SELECT achievements_private.catalog_problems(catalog));
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'the catalog has % error(s); nothing was changed', cardinality(problems)
            USING ERRCODE = 'AD207', DETAIL = array_to_string(problems, E'\n'),
                  HINT = 'Fix each line of the detail and apply again.';
    END IF;

    BEGIN
        -- Levels and their requirements.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) ORDER BY key LOOP
            SELECT to_jsonb(l) INTO old_row FROM achievements.levels AS l WHERE l.name = item.key;
            IF old_row IS NULL THEN
                INSERT INTO achievements.levels (name, description) VALUES (item.key, item.value ->> 'description');
                object := 'level'; name := item.key; action := 'create'; detail := '';
                RETURN NEXT;
            ELSIF old_row -> 'description' IS DISTINCT FROM coalesce(item.value -> 'description', 'null') THEN
                UPDATE achievements.levels AS l SET description = item.value ->> 'description' WHERE l.name = item.key;
                object := 'level'; name := item.key; action := 'update';
                detail := format('description: %s -> %s', old_row -> 'description', coalesce(item.value -> 'description', 'null'));
                RETURN NEXT;
            END IF;
            FOR req IN
                WITH wanted AS (
                    SELECT e.key AS step, (e.value #>> '{}')::int AS required_count, 100 AS priority
                      FROM jsonb_each(CASE WHEN jsonb_typeof(item.value -> 'requirements') = 'object'
                                           THEN item.value -> 'requirements' ELSE '{}' END) AS e
                    UNION ALL
                    SELECT e ->> 'step', coalesce((e ->> 'count')::int, 1), coalesce((e ->> 'priority')::int, 100)
                      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(item.value -> 'requirements') = 'array'
                                                     THEN item.value -> 'requirements' ELSE '[]' END) AS e
                )
                SELECT coalesce(w.step, r.name) AS step, w.required_count AS want_count, w.priority AS want_priority,
                       r.id, r.required_count AS have_count, r.priority AS have_priority
                  FROM wanted AS w
                  FULL JOIN (SELECT * FROM achievements.level_requirements AS x WHERE x.level = item.key) AS r
                         ON r.name = w.step
                 WHERE item.value ? 'requirements'  -- absent: the level's requirements stay as they are
                 ORDER BY 1
            LOOP
                object := 'requirement'; name := item.key || '/' || req.step;
                IF req.id IS NULL THEN
                    INSERT INTO achievements.level_requirements (level, name, required_count, priority)
                    VALUES (item.key, req.step, req.want_count, req.want_priority);
                    action := 'create'; detail := format('required_count %s, priority %s', req.want_count, req.want_priority);
                    RETURN NEXT;
                ELSIF req.want_count IS NULL THEN
                    DELETE FROM achievements.level_requirements AS x WHERE x.id = req.id;
                    action := 'delete'; detail := format('required_count %s', req.have_count);
                    RETURN NEXT;
                ELSIF (req.want_count, req.want_priority) IS DISTINCT FROM (req.have_count, req.have_priority) THEN
                    UPDATE achievements.level_requirements AS x
                       SET required_count = req.want_count, priority = req.want_priority
                     WHERE x.id = req.id;
                    action := 'update';
                    detail := concat_ws('; ',
                        CASE WHEN req.want_count <> req.have_count THEN format('required_count: %s -> %s', req.have_count, req.want_count) END,
                        CASE WHEN req.want_priority <> req.have_priority THEN format('priority: %s -> %s', req.have_priority, req.want_priority) END);
                    RETURN NEXT;
                END IF;
            END LOOP;
        END LOOP;

        -- Badges, each in its own subtransaction so that every definition error is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) ORDER BY key LOOP
            BEGIN
                SELECT to_jsonb(b) - 'created_at' INTO old_row FROM achievements.badges AS b WHERE b.code = item.key;
                desired := jsonb_populate_record(NULL::achievements.badges,
                                                 defaults || item.value || jsonb_build_object('code', item.key));
                new_row := to_jsonb(desired) - 'created_at';
                IF old_row IS NULL THEN
                    INSERT INTO achievements.badges (code, name, description, icon, category, points, rarity, hidden,
                                                     step, threshold, level, client_grantable, revocable,
                                                     active_from, active_until)
                    VALUES (desired.code, desired.name, desired.description, desired.icon, desired.category,
                            desired.points, desired.rarity, desired.hidden, desired.step, desired.threshold,
                            desired.level, desired.client_grantable, desired.revocable,
                            desired.active_from, desired.active_until);
                    object := 'badge'; name := item.key; action := 'create';
                    detail := concat_ws(', ', CASE WHEN desired.step IS NOT NULL THEN format('step %s >= %s', desired.step, desired.threshold) END,
                                              CASE WHEN desired.level IS NOT NULL THEN format('level %s', desired.level) END,
                                              format('%s points', desired.points));
                    RETURN NEXT;
                ELSIF old_row IS DISTINCT FROM new_row THEN
                    changes := ARRAY(SELECT format('%s: %s -> %s', f2, old_row -> f2, new_row -> f2)
                                       FROM unnest(badge_fields) AS f2
                                      WHERE old_row -> f2 IS DISTINCT FROM new_row -> f2);
                    UPDATE achievements.badges AS b
                       SET name = desired.name, description = desired.description, icon = desired.icon,
                           category = desired.category, points = desired.points, rarity = desired.rarity,
                           hidden = desired.hidden, step = desired.step, threshold = desired.threshold,
                           level = desired.level, client_grantable = desired.client_grantable,
                           revocable = desired.revocable, active_from = desired.active_from,
                           active_until = desired.active_until
                     WHERE b.code = item.key;
                    object := 'badge'; name := item.key; action := 'update'; detail := array_to_string(changes, '; ');
                    RETURN NEXT;
                END IF;
            EXCEPTION WHEN SQLSTATE 'AD202' OR check_violation OR foreign_key_violation
                           OR invalid_text_representation OR datetime_field_overflow THEN
                problems := problems || format('badges.%s: %s', item.key, SQLERRM);
            END;
        END LOOP;

        IF cardinality(problems) > 0 THEN
            RAISE EXCEPTION 'the catalog has % error(s); nothing was changed', cardinality(problems)
                USING ERRCODE = 'AD207', DETAIL = array_to_string(problems, E'\n'),
                      HINT = 'Fix each line of the detail and apply again.';
        END IF;
        IF dry_run THEN
            RAISE EXCEPTION 'dry run' USING ERRCODE = 'AD299';
        END IF;
    EXCEPTION WHEN SQLSTATE 'AD299' THEN
        NULL;  -- dry run: every change above is rolled back; the rows returned stay.
    END;
END
$$;
COMMENT ON FUNCTION achievements.apply_catalog(jsonb, boolean) IS
    'Applies a catalog of levels, requirements and badges; returns the changes (object, name, action, detail). Validates all first (AD207), idempotent, dry_run rolls back.';

REVOKE EXECUTE ON FUNCTION achievements.apply_catalog(jsonb, boolean) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION achievements.apply_catalog(jsonb, boolean)');

-- ==== sql/09_reactions/01_tallies_changed.sql ====

-- Reactions: what follows from a changed tally or a new level, in the transaction of the step.

-- What the package does when tallies change: called by add_to_tallies once per statement that
-- changes any, under the tallies' row locks, with one array element per changed tally (its
-- user, step, count before and count after). Awards levels (award_levels), then badges
-- (award_badges). One query first asks whether any change crosses a requirement, and whether
-- any tally starts (from 0) or crosses a badge threshold (either way: revocable badges fall),
-- so that the changes that do neither (almost all) cost that query and no further call. One
-- tally is asked about with ANY over its one-element arrays; a statement's many are first
-- reduced to the range of counts per step, which may let through a statement that crosses
-- nothing (the award functions then find nothing), never the other way.
-- A call rather than triggers on user_achievements: a step pays for one pass over the changes.
-- No SET search_path (every name in it is qualified): only add_to_tallies calls it.
CREATE FUNCTION achievements_private.tallies_changed(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    any_level boolean;
    any_badge boolean;
BEGIN
    IF cardinality(user_ids) = 1 THEN
        SELECT EXISTS (SELECT 1 FROM achievements.level_requirements AS r
                        WHERE r.name = ANY (names)
                          AND r.required_count > ANY (old_counts)
                          AND r.required_count <= ANY (new_counts)),
               0 = ANY (old_counts)
               OR EXISTS (SELECT 1 FROM achievements.badges AS b
                           WHERE b.step = ANY (names)
                             AND (b.threshold > ANY (old_counts) OR b.threshold > ANY (new_counts))
                             AND (b.threshold <= ANY (old_counts) OR b.threshold <= ANY (new_counts)))
          INTO any_level, any_badge;
    ELSE
        WITH steps AS (
            SELECT c.name, min(least(c.old_count, c.new_count)) AS lo,
                   max(greatest(c.old_count, c.new_count)) AS hi, bool_or(c.old_count = 0) AS starts
              FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
             GROUP BY c.name
        )
        SELECT EXISTS (SELECT 1 FROM steps AS s
                         JOIN achievements.level_requirements AS r
                           ON r.name = s.name AND r.required_count > s.lo AND r.required_count <= s.hi),
               EXISTS (SELECT 1 FROM steps AS s WHERE s.starts)
               OR EXISTS (SELECT 1 FROM steps AS s
                            JOIN achievements.badges AS b
                              ON b.step = s.name AND b.threshold > s.lo AND b.threshold <= s.hi)
          INTO any_level, any_badge;
    END IF;
    IF any_level THEN
        PERFORM achievements_private.award_levels(user_ids, names, old_counts, new_counts);
    END IF;
    IF any_badge THEN
        PERFORM achievements_private.award_badges(user_ids, names, old_counts, new_counts);
    END IF;
END
$$;

-- ==== sql/09_reactions/02_level_reached.sql ====

-- Reactions to a level reached: its notification and its badges.

-- New levels (AFTER INSERT on user_levels): announces them, then awards the active badges of
-- those levels. Runs under the per-user lock that award_levels holds. Idempotent.
CREATE FUNCTION achievements_private.level_reached()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    users  achievements.user_ref[];
    levels text[];
    codes  text[];
BEGIN
    SELECT array_agg(l.user_id ORDER BY l.user_id, l.level), array_agg(l.level ORDER BY l.user_id, l.level)
      INTO users, levels
      FROM new_levels AS l;
    PERFORM achievements_private.announce_levels(users, levels);

    WITH awarded AS (
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT l.user_id, b.code, true
          FROM new_levels AS l
          JOIN achievements.badges AS b ON b.level = l.level
         WHERE achievements_private.badge_in_season(b.active_from, b.active_until)
         ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        RETURNING user_id, badge
    )
    SELECT array_agg(user_id), array_agg(badge) INTO users, codes FROM awarded;
    PERFORM achievements_private.announce_badges(users, codes);
    RETURN NULL;
END
$$;

CREATE TRIGGER _300_level_reached
    AFTER INSERT ON achievements.user_levels
    REFERENCING NEW TABLE AS new_levels
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.level_reached();

-- ==== sql/99_finish/01_private_functions.sql ====

-- Who may call what in achievements_private. Only the owner uses the schema, and the service
-- roles, which run track() and untrack() with their own rights. EXECUTE is revoked from PUBLIC
-- on every function here except those that public functions call with their caller's rights:
--   * the functions that current_user_id() (and so every row level security policy), the public
--     per-user reads and the badge_stats view call. Those public objects bind them when they are
--     created (SQL-standard bodies, a view); a role without USAGE on achievements_private cannot
--     name them, so it can call them only through the public API;
--   * for the service roles, the functions track() and untrack() call (their triggers run
--     counting functions created here, each granted as it is created).
-- The tables and sequences of achievements_private are granted to nobody.

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA achievements_private FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    achievements_private.parse_user_ref(text),
    achievements_private.readable_user(achievements.user_ref),
    achievements_private.steps_required(text, achievements.user_ref),
    achievements_private.badge_progress(achievements.user_ref),
    achievements_private.user_badges_page(achievements.user_ref, text, int),
    achievements_private.user_points(achievements.user_ref),
    achievements_private.user_rank(achievements.user_ref, timestamptz),
    achievements_private.has_badge(achievements.user_ref, text, boolean),
    achievements_private.badge_holder_counts(),
    achievements_private.known_user_total()
TO PUBLIC;

SELECT achievements_private.grant_to_service_roles('USAGE', 'SCHEMA achievements_private');
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION
    achievements_private.tracking_function_name(text),
    achievements_private.check_tracking_arguments(text, oid, text[], text),
    achievements_private.row_user_sql(text, text, text, text),
    achievements_private.tracking_trigger_name(text, text),
    achievements_private.forget_dropped_tables(),
    achievements_private.create_counting_function(regclass, text, text, text, text),
    achievements_private.drop_counting_function(oid, text)');

-- ==== sql/99_finish/02_installed_migrations.sql ====

-- The migrations these definitions correspond to: one row per file of migrations/, added here
-- with each new migration (a test keeps the two lists equal). A database installed from these
-- files is then at the newest migration, and `achievements-db migrate` adopts it.
INSERT INTO achievements_private.applied_migrations (id) VALUES
    ('0001_baseline');
