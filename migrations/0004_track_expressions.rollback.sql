-- Rollback of 0004_track_expressions: track() as 0003 had it (four modes, a column, no
-- expressions), its generated functions back in achievements_private and owned by the package
-- owner, without the schema achievements_tracking. Refuses, changing nothing, while a step uses
-- what 0004 added (untrack it first).
-- squawk-ignore-file ban-drop-function, ban-drop-column, ban-drop-constraint, constraint-missing-not-valid, adding-not-nullable-field, ban-drop-schema
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';

DO $guard$
DECLARE
    using_new text := (SELECT string_agg(format('%s %L', x.tbl, x.step), ', ' ORDER BY x.tbl::text, x.step)
                         FROM achievements.tracked_steps AS x
                        WHERE x.mode NOT IN ('count', 'toggle', 'boolean', 'toggle_boolean') OR x.column_name IS NULL
                           OR x.condition IS NOT NULL OR x.previous IS NOT NULL OR x.value IS NOT NULL
                           OR x.depends_on IS NOT NULL);
BEGIN
    IF using_new IS NOT NULL THEN
        RAISE EXCEPTION 'rolling back 0004_track_expressions: track() counts steps with what 0004 added (a condition, previous, a value, depends_on, or the modes distinct, sum, max): %', using_new
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Untrack those steps first: SELECT achievements.untrack(tbl, step) FROM achievements.tracked();';
    END IF;
END
$guard$;

-- tracked() returns the columns of 0003 again; drop_counting_function takes one argument.
DROP FUNCTION achievements.tracked();
DROP FUNCTION achievements_private.drop_counting_function(oid, boolean);


CREATE OR REPLACE FUNCTION achievements_private.outside_dependents()
 RETURNS SETOF text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT DISTINCT format('%s (uses %s)', pg_describe_object(d.classid, d.objid, d.objsubid),
                           pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid))
      FROM pg_depend AS d,
           LATERAL (SELECT ARRAY[to_regnamespace('achievements'), to_regnamespace('achievements_private')]::oid[] AS ours) AS o
     WHERE d.deptype IN ('n', 'a')
       AND achievements_private.object_schema(d.refclassid, d.refobjid) = ANY (o.ours)
       AND NOT coalesce(achievements_private.object_schema(d.classid, d.objid) = ANY (o.ours), false)
     ORDER BY 1
$function$;

CREATE OR REPLACE FUNCTION achievements.record_step(user_id achievements.user_ref, step text, count integer DEFAULT 1)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    IF achievements_private.no_user(record_step.user_id) THEN
        RAISE EXCEPTION 'record_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who took the step.';
    END IF;
    IF record_step.count IS NULL OR record_step.count < 1 OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'record_step: count must be a positive number and step a name of 1 to 200 characters (got count %, step %)',
                        coalesce(record_step.count::text, 'NULL'), coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'To take steps back, call achievements.undo_step(user_id, step, count).';
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.tracked_steps AS t
                WHERE t.step = record_step.step AND t.mode IN ('toggle', 'toggle_boolean')) THEN
        PERFORM achievements_private.refuse_tracked_gauge(step, 'record_step');
    END IF;
    RETURN achievements_private.add_to_tallies(ARRAY[record_step.user_id], ARRAY[step], ARRAY[record_step.count], true);
END
$function$;
COMMENT ON FUNCTION achievements.record_step(achievements.user_ref,text,integer) IS
    'Records count (default 1) steps for a user; returns the new tally. Exact under concurrency.';

CREATE OR REPLACE FUNCTION achievements.undo_step(user_id achievements.user_ref, step text, count integer DEFAULT 1)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    tally int;
    taken int;
BEGIN
    IF achievements_private.no_user(undo_step.user_id) THEN
        RAISE EXCEPTION 'undo_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user whose step is undone.';
    END IF;
    IF undo_step.count IS NULL OR undo_step.count < 1 OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'undo_step: count must be a positive number and step a name of 1 to 200 characters (got count %, step %)',
                        coalesce(undo_step.count::text, 'NULL'), coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'count is how many steps to take back, e.g. achievements.undo_step(user_id, step, 1).';
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.tracked_steps AS t
                WHERE t.step = undo_step.step AND t.mode IN ('toggle', 'toggle_boolean')) THEN
        PERFORM achievements_private.refuse_tracked_gauge(step, 'undo_step');
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
$function$;
COMMENT ON FUNCTION achievements.undo_step(achievements.user_ref,text,integer) IS
    'Takes back up to count (default 1) steps for a user, never below 0; returns the new tally.';

CREATE OR REPLACE FUNCTION achievements_private.check_tracking_arguments(mode text, tbl oid, args text[], context text, OUT column_name text, OUT step text, OUT user_column text, OUT user_cast text)
 RETURNS record
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
            WHEN user_base = id_type AND id_type <> 'text'::regtype THEN 'native'
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.forget_dropped_tables()
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    gone oid;
BEGIN
    FOR gone IN WITH forgotten AS (
                    DELETE FROM achievements.tracked_steps AS t
                     WHERE NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
                    RETURNING t.tbl)
                SELECT DISTINCT f.tbl::oid FROM forgotten AS f
    LOOP
        PERFORM achievements_private.drop_counting_function(gone);
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.tracked()
 RETURNS TABLE(tbl regclass, step text, column_name text, mode text, user_column text, created_at timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT t.tbl, t.step, t.column_name, t.mode, t.user_column, t.created_at
      FROM achievements.tracked_steps AS t
     WHERE EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.tbl)
     ORDER BY t.tbl::text, t.step;
$function$;
COMMENT ON FUNCTION achievements.tracked() IS
    'Lists what achievements.track() wired: table, step, column, mode, user column, when.';

CREATE OR REPLACE FUNCTION achievements_private.catalog_problems(catalog jsonb)
 RETURNS SETOF text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
                IF char_length(req.key) NOT BETWEEN 1 AND 200 THEN
                    RETURN NEXT format('%s.requirements: a step name must be 1 to 200 characters, got %s', path,
                                       quote_literal(left(req.key, 60)) || CASE WHEN char_length(req.key) > 60 THEN '...' ELSE '' END);
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
                IF jsonb_typeof(req.value -> 'step') IS DISTINCT FROM 'string'
                   OR char_length(req.value ->> 'step') NOT BETWEEN 1 AND 200 THEN
                    RETURN NEXT format('%s.step: expected a step name of 1 to 200 characters', want);
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
$function$;

CREATE OR REPLACE FUNCTION achievements.apply_catalog(catalog jsonb, dry_run boolean DEFAULT false)
 RETURNS TABLE(object text, name text, action text, detail text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    IF dry_run IS NULL THEN
        RAISE EXCEPTION 'apply_catalog: dry_run must be true or false, not NULL'
            USING ERRCODE = 'AD207', HINT = 'Pass dry_run => true to see the changes, false to make them.';
    END IF;
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
$function$;
COMMENT ON FUNCTION achievements.apply_catalog(jsonb,boolean) IS
    'Applies a catalog of levels, requirements and badges; returns the changes (object, name, action, detail). Validates all first (AD207), idempotent, dry_run rolls back.';

CREATE OR REPLACE FUNCTION achievements_private.refuse_tracked_gauge(step text, fn text)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    tbl regclass := (SELECT t.tbl FROM achievements.tracked_steps AS t
                      WHERE t.step = refuse_tracked_gauge.step AND t.mode IN ('toggle', 'toggle_boolean')
                      LIMIT 1);
BEGIN
    RAISE EXCEPTION '%: step % is a gauge that achievements.track() keeps equal to the rows of table %',
                    fn, quote_literal(step), tbl
        USING ERRCODE = 'AD110',
              HINT = format('Change the rows of %s instead; to set the gauge back to them, call achievements.recount(%L).', tbl, step);
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.recount_gauge(tbl regclass, step text, mode text, column_name text, user_column text, user_cast text)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    changed int;
BEGIN
    -- Every name in the SQL it runs is quoted (%I, regclass, row_user_sql); it writes only
    -- through EXECUTE, which the check does not count as a write:
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
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
        achievements_private.row_user_sql(user_cast, 'r', user_column),
        tbl,
        format(CASE WHEN mode = 'toggle_boolean' THEN '%s IS TRUE' ELSE '%s IS NOT NULL' END,
               format('r.%I', column_name)))
    USING step;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.track(tbl regclass, step text, column_name text, mode text, user_column text, caller name)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_variable
DECLARE
    gauge    boolean;
    w        record;
    existing achievements.tracked_steps;
    other    achievements.tracked_steps;
    missing  boolean;
    kind     "char";
BEGIN
    -- Every name in the SQL it runs is quoted (%I, regclass, row_user_sql):
    -- @plpgsql_check_options: security_warnings = false
    IF tbl IS NULL OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 OR column_name IS NULL THEN
        RAISE EXCEPTION 'achievements.track(): a table, a step of 1 to 200 characters and a column are required (got %, %, %)',
                        coalesce(tbl::text, 'NULL'),
                        coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL'),
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
    IF kind = 'p' THEN
        RAISE EXCEPTION 'achievements.track(): % is partitioned: writes addressed to one of its partitions, and TRUNCATE of one, do not fire the statement-level triggers of track() on it, so its counts could drift', tbl
            USING ERRCODE = 'AD107',
                  HINT = 'Count it with row-level triggers on it, which PostgreSQL copies to every partition, present and future: docs/tracking.md, "Partitioned tables", shows how and what they see.';
    END IF;
    IF kind IS DISTINCT FROM 'r' THEN
        RAISE EXCEPTION 'achievements.track(): % is not a table', tbl
            USING ERRCODE = 'AD107',
                  HINT = 'Track the table the view or foreign table reads from.';
    END IF;
    IF gauge AND user_column IS NULL THEN
        RAISE EXCEPTION 'achievements.track(): mode % on table % needs a user column', mode, tbl
            USING ERRCODE = 'AD107',
                  HINT = 'A gauge counts each user''s rows, so it must know whose each row is: pass user_column, e.g. achievements.track(tbl, step, column, mode, ''user_id'').';
    END IF;
    PERFORM achievements_private.check_table_owner(tbl, caller, 'track');
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

    SELECT bool_or(NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = t.trigger_name))
      INTO missing
      FROM achievements_private.tracking_triggers(gauge OR EXISTS (
               SELECT 1 FROM achievements.tracked_steps AS x
                WHERE x.tbl = track.tbl AND x.mode IN ('toggle', 'toggle_boolean'))) AS t;
    IF existing.tbl IS NOT NULL AND NOT missing THEN
        RETURN false;
    END IF;

    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    IF existing.tbl IS NULL THEN
        INSERT INTO achievements.tracked_steps (tbl, step, column_name, mode, user_column)
        VALUES (tbl, step, column_name, mode, user_column);
    END IF;
    PERFORM achievements_private.wire_table(tbl);
    IF gauge THEN
        -- The lock keeps writers out until commit, and the recount sees every row committed
        -- before it (after a repair too: the rows written while a trigger was missing).
        PERFORM achievements_private.recount_gauge(tbl, step, mode, column_name, user_column, w.user_cast);
    END IF;
    RETURN true;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.untrack(tbl regclass, step text, caller name)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_variable
BEGIN
    -- Every name is quoted (regclass):
    -- @plpgsql_check_options: security_warnings = false
    IF tbl IS NULL THEN
        RETURN false;
    END IF;
    PERFORM achievements_private.check_table_owner(tbl, caller, 'untrack');
    PERFORM pg_advisory_xact_lock(1633838661, hashtext(tbl::oid::text));
    PERFORM achievements_private.forget_dropped_tables();
    IF NOT EXISTS (SELECT 1 FROM achievements.tracked_steps AS t WHERE t.tbl = untrack.tbl AND t.step = untrack.step) THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    DELETE FROM achievements.tracked_steps AS t WHERE t.tbl = untrack.tbl AND t.step = untrack.step;
    PERFORM achievements_private.wire_table(tbl);
    RETURN true;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.recount(step text)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_variable
DECLARE
    t       achievements.tracked_steps;
    w       record;
    before  text;
    changed int;
BEGIN
    -- The table's name comes from regclass, which quotes it:
    -- @plpgsql_check_options: security_warnings = false
    SELECT * INTO t FROM achievements.tracked_steps AS x
     WHERE x.step = recount.step AND x.mode IN ('toggle', 'toggle_boolean')
       AND EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = x.tbl);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'achievements.recount(): step % is not a gauge kept by achievements.track()', coalesce(quote_literal(step), 'NULL')
            USING ERRCODE = 'AD111',
                  HINT = 'Gauges are the steps of SELECT step FROM achievements.tracked() WHERE mode IN (''toggle'', ''toggle_boolean'').';
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE MODE', t.tbl);
    w := achievements_private.check_tracking_arguments(
        t.mode, t.tbl, ARRAY[t.column_name, t.step, t.user_column], format('achievements.recount() of table %s', t.tbl));
    before := achievements_private.set_quiet('on');
    changed := achievements_private.recount_gauge(t.tbl, t.step, t.mode, t.column_name, t.user_column, w.user_cast);
    PERFORM achievements_private.set_quiet(before);
    RETURN changed;
END
$function$;
COMMENT ON FUNCTION achievements.recount(text) IS
    'Sets a gauge of track() back to the recount of its table, silently; returns how many tallies changed.';

CREATE OR REPLACE FUNCTION achievements_private.create_counting_function(tbl regclass)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    fn       text := achievements_private.counting_function_name(tbl);
    branches text := '';
    op       text;
    parts    text[];
    gauges   text[];
    body     text;
BEGIN
    -- counting_rows quotes every name (%I) and the body is passed as one literal (%L); it
    -- writes only through EXECUTE, which the check does not count as a write:
    -- @plpgsql_check_options: security_warnings = false, performance_warnings = false
    SELECT array_agg(t.step ORDER BY t.step) INTO gauges
      FROM achievements.tracked_steps AS t
     WHERE t.tbl = create_counting_function.tbl AND t.mode IN ('toggle', 'toggle_boolean');
    FOREACH op IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE'] LOOP
        SELECT array_agg(format('SELECT q.u, %L::text AS step, q.c FROM (%s) AS q', t.step, t.rows) ORDER BY t.step)
          INTO parts
          FROM (SELECT x.step,
                       achievements_private.counting_rows(
                           x.mode, op, x.column_name, x.user_column,
                           (achievements_private.check_tracking_arguments(
                                x.mode, x.tbl,
                                ARRAY[x.column_name, x.step] || CASE WHEN x.user_column IS NOT NULL THEN ARRAY[x.user_column] ELSE '{}'::text[] END,
                                format('achievements.track() on table %s', x.tbl))).user_cast,
                           'old_rows', 'new_rows', 'achievements.current_user_id()') AS rows
                  FROM achievements.tracked_steps AS x
                 WHERE x.tbl = create_counting_function.tbl) AS t
         WHERE t.rows IS NOT NULL;
        IF parts IS NOT NULL THEN
            branches := branches || format(
                E'    %s TG_OP = %L THEN\n'
                 '        SELECT array_agg(s.u), array_agg(s.step), array_agg(s.c) INTO users, steps, counts\n'
                 '          FROM (%s) AS s;\n',
                CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END, op,
                array_to_string(parts, E'\n                UNION ALL\n                '));
        END IF;
    END LOOP;
    IF gauges IS NOT NULL THEN
        branches := branches || format(
            E'    %s TG_OP = ''TRUNCATE'' THEN\n'
             '        SELECT * INTO users, steps, counts FROM (%s) AS q;\n',
            CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END,
            achievements_private.truncate_query(quote_literal(gauges::text) || '::text[]'));
    END IF;
    body := format(E'DECLARE\n'
                     '    users  achievements.user_ref[];\n'
                     '    steps  text[];\n'
                     '    counts int[];\n'
                     'BEGIN\n'
                     '%s'
                     '    END IF;\n'
                     '    IF users IS NOT NULL THEN\n'
                     '        PERFORM achievements_private.add_to_tallies(users, steps, counts, true);\n'
                     '    END IF;\n'
                     '    RETURN NULL;\n'
                     'END\n', branches);
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION achievements_private.%I()
         RETURNS trigger
         LANGUAGE plpgsql SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp
         AS %L', fn, body);
    EXECUTE format('COMMENT ON FUNCTION achievements_private.%I() IS %L', fn,
                   format('Generated by achievements.track(): counts the steps %s from table %s. Dropped by untrack() of its last step.',
                          (SELECT string_agg(quote_literal(t.step), ', ' ORDER BY t.step)
                             FROM achievements.tracked_steps AS t WHERE t.tbl = create_counting_function.tbl),
                          tbl));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION achievements_private.%I() FROM PUBLIC', fn);
    RETURN fn;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.wire_table(tbl regclass)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    tracked boolean;
    gauges  boolean;
    fn      text;
    t       record;
BEGIN
    -- Every name is quoted (%I, regclass):
    -- @plpgsql_check_options: security_warnings = false
    SELECT count(*) > 0, coalesce(bool_or(x.mode IN ('toggle', 'toggle_boolean')), false)
      INTO tracked, gauges
      FROM achievements.tracked_steps AS x WHERE x.tbl = wire_table.tbl;
    FOR t IN SELECT * FROM achievements_private.tracking_triggers(true) LOOP
        IF NOT (tracked AND (gauges OR t.event IN ('INSERT', 'UPDATE'))) THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', t.trigger_name, tbl);
        END IF;
    END LOOP;
    IF NOT tracked THEN
        PERFORM achievements_private.drop_counting_function(tbl);
        RETURN;
    END IF;
    fn := achievements_private.create_counting_function(tbl);
    FOR t IN SELECT * FROM achievements_private.tracking_triggers(gauges) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = t.trigger_name) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.%I()',
                           t.trigger_name, t.event, tbl, t.transition, fn);
        END IF;
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.drop_counting_function(tbl oid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    EXECUTE format('DROP FUNCTION IF EXISTS achievements_private.%I()',
                   achievements_private.counting_function_name(tbl));
END
$function$;

CREATE OR REPLACE FUNCTION achievements.track(tbl regclass, step text, column_name text, mode text DEFAULT 'count'::text, user_column text DEFAULT NULL::text)
 RETURNS boolean
 LANGUAGE sql
RETURN achievements_private.track(tbl, step, column_name, mode, user_column, CURRENT_USER);
COMMENT ON FUNCTION achievements.track(regclass,text,text,text,text) IS
    'Counts step from a table with statement-level triggers: mode count (default), toggle, boolean or toggle_boolean. Idempotent; gauges start from a recount. Only the table''s owner may call it.';

-- Rewire the tables tracked: the functions of achievements_tracking and their triggers go;
-- 0003's wire_table gives each its function in achievements_private and its triggers again.
DO $rewire$
DECLARE
    t   regclass;
    trg text;
    fn  regprocedure;
BEGIN
    DELETE FROM achievements.tracked_steps AS x WHERE NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = x.tbl);
    FOR t IN SELECT c.oid::regclass FROM pg_class AS c
              WHERE EXISTS (SELECT 1 FROM pg_trigger AS g WHERE g.tgrelid = c.oid AND g.tgname LIKE 'achievements\_track\_%') LOOP
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', t);
        FOREACH trg IN ARRAY ARRAY['achievements_track_ins', 'achievements_track_upd', 'achievements_track_del', 'achievements_track_trunc'] LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', trg, t);
        END LOOP;
    END LOOP;
    FOR fn IN SELECT p.oid FROM pg_proc AS p
               WHERE p.pronamespace = 'achievements_tracking'::regnamespace AND p.proname ~ '^track_[0-9]+(_rows)?$' LOOP
        EXECUTE format('DROP FUNCTION %s', fn);
    END LOOP;
    FOR t IN SELECT DISTINCT x.tbl FROM achievements.tracked_steps AS x ORDER BY 1 LOOP
        PERFORM achievements_private.wire_table(t);
    END LOOP;
END
$rewire$;

DROP FUNCTION achievements.track(regclass,text,text,text,text,text,text,text,regclass,text,boolean);
DROP FUNCTION achievements_private.step_user_cast(oid,text);
DROP FUNCTION achievements_private.primary_key_columns(oid);
DROP FUNCTION achievements_private.table_alias(oid);
DROP FUNCTION achievements_private.rows_function_name(oid);
DROP FUNCTION achievements_private.tracked_touched_sql(text,text,text,text);
DROP FUNCTION achievements_private.tracked_changed_users_sql(achievements.tracked_steps,text,text,text);
DROP FUNCTION achievements_private.tracked_change_sql(achievements.tracked_steps,text);
DROP FUNCTION achievements_private.tracked_value_sql(achievements.tracked_steps,text);
DROP FUNCTION achievements_private.tracked_qualifies_sql(achievements.tracked_steps,text);
DROP FUNCTION achievements_private.tracked_user_sql(text,text,text,text);
DROP FUNCTION achievements_tracking.integer_value(bigint);
DROP FUNCTION achievements_tracking.lock_steps(regclass,text[]);
DROP FUNCTION achievements_tracking.lock(regclass,achievements.user_ref[],text[]);
DROP FUNCTION achievements_tracking.add(regclass,achievements.user_ref[],text[],integer[]);
DROP FUNCTION achievements_private.step_kind(text,regclass);
DROP FUNCTION achievements.parse_user_id(text);
DROP FUNCTION achievements_private.apply_catalog(jsonb,boolean,name);
DROP FUNCTION achievements_private.qualify_catalog_tables(jsonb);
DROP FUNCTION achievements_private.qualified_table(text);
DROP FUNCTION achievements_private.track(regclass,text,text,text,text,text,text,text,regclass,text,boolean,name);
DROP FUNCTION achievements_private.check_step_expressions(achievements.tracked_steps);
DROP FUNCTION achievements_private.adopt_rows(achievements.tracked_steps,boolean);
DROP FUNCTION achievements_private.create_rows_function(regclass);
DROP FUNCTION achievements_private.give_to_table_owner(regprocedure,oid);
DROP FUNCTION achievements_private.tracked_recount_sql(achievements.tracked_steps,text,text,text);
DROP FUNCTION achievements_private.tracked_rows_sql(achievements.tracked_steps,text,text,text,text[],text);
DROP FUNCTION achievements_private.tracking_lock_steps(name,regclass,text[]);
DROP FUNCTION achievements_private.tracking_lock(name,regclass,achievements.user_ref[],text[]);
DROP FUNCTION achievements_private.tracking_add(name,regclass,achievements.user_ref[],text[],integer[]);
DROP FUNCTION achievements_private.check_tracking_caller(name,regclass,text[]);
DROP FUNCTION achievements_private.user_column_cast(oid,text,text);
DROP SCHEMA achievements_tracking;

-- tracked_steps as 0003 had it.
ALTER TABLE achievements.tracked_steps
    DROP COLUMN condition,
    DROP COLUMN previous,
    DROP COLUMN value,
    DROP COLUMN depends_on,
    DROP COLUMN depends_on_user_column;
ALTER TABLE achievements.tracked_steps DROP CONSTRAINT tracked_steps_mode_check;
ALTER TABLE achievements.tracked_steps ADD CONSTRAINT tracked_steps_mode_check
    CHECK (mode IN ('count', 'toggle', 'boolean', 'toggle_boolean'));
ALTER TABLE achievements.tracked_steps ALTER COLUMN column_name SET NOT NULL;

-- Privileges of 0003: track()'s half for PUBLIC (bound by the public function), the recount of
-- gauges the owner's, track() and tracked() for the owner and the service roles.
GRANT EXECUTE ON FUNCTION achievements_private.track(regclass, text, text, text, text, name) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION achievements_private.recount_gauge(regclass, text, text, text, text, text),
                           achievements_private.drop_counting_function(oid),
                           achievements.track(regclass, text, text, text, text),
                           achievements.tracked()
    FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.track(regclass, text, text, text, text), achievements.tracked()');

DELETE FROM achievements_private.applied_migrations WHERE id = '0004_track_expressions';
