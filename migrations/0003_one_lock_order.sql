-- 0003_one_lock_order: one lock order for every write path, and the edge cases that counted
-- wrong or answered badly.
--   * A table tracked for several steps gets one counting function (track_<table oid>) and one
--     set of triggers (achievements_track_ins/_upd/_del/_trunc): a statement's steps go through
--     one add_to_tallies call. The tables already tracked are rewired here; tracked_steps loses
--     its trigger_names column.
--   * Every path takes its locks in one order (docs/locks.md): tallies, then the users' lock
--     buckets, all at once, then badge rows, then per-user rows. award_badge, revoke_badge,
--     backfill_badge, backfill_levels and changes of levels and badges (new triggers on both)
--     take the user locks; tallies_changed takes them once for every award. Under REPEATABLE
--     READ and SERIALIZABLE, a tally that changed (or was created) since the transaction's
--     snapshot makes an award or a backfill raise 40001 instead of missing it.
--   * Step names are 1 to 200 characters (user_steps, level_requirements, badges.step), with
--     constraint names that say so; a tally that would pass 2^31 - 1 raises AD007 naming the
--     user and the step; malformed request.jwt.claims is no user instead of an error; the empty
--     text user id is no user on every path; track() refuses partitioned tables;
--     apply_catalog(dry_run => NULL) raises AD207.
-- It changes functions, triggers and constraints: rather than queue behind a long transaction
-- (while every statement of the application queues behind it), it gives up and changes nothing.
-- The changes of constraints and columns below run in the migration's one transaction, which
-- holds its locks to the end whatever the form, so squawk's advice for online changes does
-- not apply:
-- squawk-ignore-file ban-drop-function, ban-drop-column, renaming-column, renaming-object, ban-drop-constraint, constraint-missing-not-valid, adding-not-nullable-field
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';

-- Names longer than the new bound would make the constraints below fail: say which and how to
-- fix them instead.
DO $long_names$
DECLARE
    found text;
BEGIN
    SELECT string_agg(format('%s %L', w.what, left(w.name, 60) || '...'), ', ') INTO found
      FROM (SELECT DISTINCT 'step' AS what, s.name FROM achievements.user_steps AS s WHERE char_length(s.name) > 200
            UNION SELECT 'level requirement', r.name FROM achievements.level_requirements AS r WHERE char_length(r.name) > 200
            UNION SELECT 'badge step', b.step FROM achievements.badges AS b WHERE char_length(b.step) > 200
            LIMIT 10) AS w;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'achievements-db 0003: step names are now at most 200 characters, and these are longer: %', found
            USING ERRCODE = 'AD002',
                  HINT = 'Rename those steps (in user_steps, user_achievements, level_requirements and badges) to at most 200 characters, then migrate again.';
    END IF;
END
$long_names$;

CREATE OR REPLACE FUNCTION achievements_private.no_user(user_id achievements.user_ref)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN ((user_id IS NULL) OR ((user_id)::text = ''::text));

CREATE OR REPLACE FUNCTION achievements_private.claims_sub(claims text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL RESTRICTED
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    RETURN claims::jsonb ->> 'sub';
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.current_user_id()
 RETURNS achievements.user_ref
 LANGUAGE sql
 STABLE PARALLEL RESTRICTED
RETURN achievements_private.parse_user_ref(COALESCE(achievements_private.claims_sub(NULLIF(current_setting('request.jwt.claims'::text, true), ''::text)), NULLIF(current_setting('request.jwt.claim.sub'::text, true), ''::text), NULLIF(current_setting('jwt.claims.user_id'::text, true), ''::text)));
COMMENT ON FUNCTION achievements.current_user_id() IS
    'The user of the current request, from request.jwt.claims->>sub (PostgREST, Supabase) or jwt.claims.user_id; NULL when unset or not a valid user id.';

CREATE OR REPLACE FUNCTION achievements_private.readable_user(user_id achievements.user_ref)
 RETURNS achievements.user_ref
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    -- achievements_private.no_user, written out: this function runs with the caller's rights.
    IF user_id IS NULL OR user_id::text = '' THEN
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.tally_new_steps()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    user_ids achievements.user_ref[];
    names    text[];
    deltas   int[];
BEGIN
    SELECT array_agg(s.user_id), array_agg(s.name), array_agg(s.delta)
      INTO user_ids, names, deltas
      FROM (SELECT n.user_id, n.name,
                   CASE WHEN sum(n.count) > 2147483647
                        THEN achievements_private.tally_overflow(n.user_id, n.name, NULL, sum(n.count))
                        ELSE sum(n.count)::int END AS delta
              FROM new_steps AS n
             GROUP BY n.user_id, n.name) AS s;
    IF '' = ANY (user_ids::text[]) THEN
        RAISE EXCEPTION 'achievements.user_steps: a row has no user (user_id is the empty text)'
            USING ERRCODE = 'AD005',
                  HINT = 'Log steps for a user: the empty text is no user id, as NULL is not.';
    END IF;
    IF user_ids IS NOT NULL THEN
        PERFORM achievements_private.add_to_tallies(user_ids, names, deltas, false);
    END IF;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.tally_overflow(user_id achievements.user_ref, name text, count bigint, delta bigint)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    -- VOLATILE on purpose (see above):
    -- @plpgsql_check_options: performance_warnings = false
    RAISE EXCEPTION 'the tally of step % of user % would pass 2147483647 (%)', quote_literal(name), user_id,
                    CASE WHEN count IS NULL THEN format('one statement adds %s', delta)
                         ELSE format('it is %s, adding %s', count, delta) END
        USING ERRCODE = 'AD007',
              HINT = 'Tallies count steps as integers up to 2147483647: record smaller counts, or count this quantity in a coarser unit.';
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.add_to_tallies(user_ids achievements.user_ref[], names text[], deltas integer[], log_steps boolean)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
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
           SET count = CASE WHEN t.count::bigint + deltas[1] > 2147483647
                            THEN achievements_private.tally_overflow(t.user_id, t.name, t.count, deltas[1])
                            ELSE t.count + deltas[1] END,
               updated_at = now()
         WHERE t.user_id = user_ids[1] AND t.name = names[1]
        RETURNING t.count INTO tally;
        IF NOT FOUND THEN
            -- A new tally, or one a concurrent transaction has just inserted: the upsert adds
            -- to it under its row lock.
            INSERT INTO achievements.user_achievements AS t (user_id, name, count)
            VALUES (user_ids[1], names[1], deltas[1])
            ON CONFLICT (user_id, name)
            DO UPDATE SET count = CASE WHEN t.count::bigint + excluded.count > 2147483647
                                       THEN achievements_private.tally_overflow(t.user_id, t.name, t.count, excluded.count)
                                       ELSE t.count + excluded.count END,
                          updated_at = now()
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
        DO UPDATE SET count = CASE WHEN t.count::bigint + excluded.count > 2147483647
                                   THEN achievements_private.tally_overflow(t.user_id, t.name, t.count, excluded.count)
                                   ELSE t.count + excluded.count END,
                      updated_at = now()
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

CREATE OR REPLACE FUNCTION achievements_private.snapshot_per_transaction()
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN (current_setting('transaction_isolation'::text) <> ALL (ARRAY['read committed'::text, 'read uncommitted'::text]));

CREATE OR REPLACE FUNCTION achievements_private.lock_users(user_ids achievements.user_ref[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(1633838659, b.bucket)
       FROM (SELECT DISTINCT 1 + (hashtext(u::text) & 255) AS bucket FROM unnest(user_ids) AS u) AS b
      ORDER BY b.bucket;
    IF achievements_private.snapshot_per_transaction() THEN
        PERFORM FROM achievements.user_achievements AS t WHERE t.user_id = ANY (user_ids) FOR SHARE;
    END IF;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.lock_all_users()
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT pg_advisory_xact_lock(1633838659, bucket) FROM generate_series(1, 256) AS bucket ORDER BY bucket;
$function$;

CREATE OR REPLACE FUNCTION achievements_private.lock_users_for_catalog_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM achievements_private.lock_all_users();
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.award_levels(user_ids achievements.user_ref[], names text[], old_counts integer[], new_counts integer[])
 RETURNS void
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    IF achievements_private.snapshot_per_transaction() THEN
        -- A requirement's tally created since the transaction's snapshot is invisible to the
        -- check below (lock_users catches the ones changed): inserting it then raises 40001.
        -- Rolled back either way.
        BEGIN
            INSERT INTO achievements.user_achievements (user_id, name, count)
            SELECT DISTINCT c.user_id, r2.name, 0
              FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
              JOIN achievements.level_requirements AS r
                ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
              JOIN achievements.level_requirements AS r2 ON r2.level = r.level
             ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
            RAISE EXCEPTION USING ERRCODE = 'AD000';
        EXCEPTION WHEN SQLSTATE 'AD000' THEN
            NULL;
        END;
    END IF;
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
$function$;

CREATE OR REPLACE FUNCTION achievements.backfill_levels(level_name text DEFAULT NULL::text)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    awarded int;
    before  text;
BEGIN
    IF level_name IS NOT NULL THEN
        PERFORM achievements_private.assert_level(level_name);
    END IF;
    PERFORM achievements_private.lock_all_users();
    IF achievements_private.snapshot_per_transaction() THEN
        -- As in backfill_badge: a tally read that changed since the snapshot raises 40001.
        PERFORM FROM achievements.level_requirements AS r
          JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
         WHERE level_name IS NULL OR r.level = level_name
           FOR SHARE OF t;
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
$function$;
COMMENT ON FUNCTION achievements.backfill_levels(text) IS
    'Awards a level (all when NULL) to every user who already meets it, silently; returns how many were awarded. Idempotent.';

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

CREATE OR REPLACE FUNCTION achievements_private.counting_rows(mode text, op text, column_name text, user_column text, user_cast text, old_table text, new_table text, claim_sql text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    gauge boolean := mode IN ('toggle', 'toggle_boolean');
    qual  text := CASE WHEN mode IN ('boolean', 'toggle_boolean') THEN '%s IS TRUE' ELSE '%s IS NOT NULL' END;
    sel   text;
BEGIN
    IF op = 'TRUNCATE' OR (op = 'DELETE' AND NOT gauge) THEN
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
        RETURN format('SELECT u, count(*)::int AS c FROM (%s) AS s WHERE u IS NOT NULL GROUP BY u', sel);
    ELSIF op = 'UPDATE' THEN
        -- Gauge: per user, qualifying rows after minus qualifying rows before.
        RETURN format(
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
    END IF;
    -- INSERT (every mode): +1 per qualifying new row; DELETE (gauges): -1 per qualifying old row.
    RETURN format(
        'SELECT u, %scount(*)::int AS c
           FROM (SELECT %s AS u FROM %I AS r WHERE %s) AS s
          WHERE u IS NOT NULL
          GROUP BY u',
        CASE WHEN op = 'DELETE' THEN '-' ELSE '' END,
        achievements_private.row_user_sql(user_cast, 'r', user_column, claim_sql),
        CASE WHEN op = 'DELETE' THEN old_table ELSE new_table END,
        format(qual, format('r.%I', column_name)));
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.truncate_query(steps_sql text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN format('SELECT array_agg(x.user_id ORDER BY x.user_id, x.name), array_agg(x.name ORDER BY x.user_id, x.name),
            array_agg(-x.count ORDER BY x.user_id, x.name)
       FROM (SELECT t.user_id, t.name, t.count
               FROM achievements.user_achievements AS t
              WHERE t.name = ANY (%s) AND t.count > 0
              ORDER BY t.user_id, t.name
                FOR UPDATE) AS x'::text, steps_sql);

CREATE OR REPLACE FUNCTION achievements_private.counting_query(mode text, op text, column_name text, user_column text, user_cast text, old_table text, new_table text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    rows text := achievements_private.counting_rows(mode, op, column_name, user_column, user_cast,
                                                    old_table, new_table, '$2');
BEGIN
    IF op = 'TRUNCATE' THEN
        RETURN CASE WHEN mode IN ('toggle', 'toggle_boolean')
                    THEN format('SELECT x.users, x.counts FROM (%s) AS x(users, steps, counts)',
                                achievements_private.truncate_query('ARRAY[$1]')) END;
    END IF;
    -- Unordered: add_to_tallies orders its upsert itself.
    RETURN CASE WHEN rows IS NOT NULL
                THEN format('SELECT array_agg(x.u), array_agg(x.c) FROM (%s) AS x', rows) END;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.statement_counting_query(mode text, tbl oid, trigger_name text, trigger_when text, op text, args text[])
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
                                                   NULL, NULL);
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
                                               old_table, new_table);
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.counting_function_name(tbl oid)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN format('track_%s'::text, tbl);

CREATE OR REPLACE FUNCTION achievements_private.tracking_triggers(gauges boolean)
 RETURNS TABLE(trigger_name text, event text, transition text)
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT t.trigger_name, t.event, t.transition
      FROM (VALUES ('achievements_track_ins', 'INSERT', 'REFERENCING NEW TABLE AS new_rows', false),
                   ('achievements_track_upd', 'UPDATE', 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows', false),
                   ('achievements_track_del', 'DELETE', 'REFERENCING OLD TABLE AS old_rows', true),
                   ('achievements_track_trunc', 'TRUNCATE', '', true)) AS t(trigger_name, event, transition, gauge_only)
     WHERE gauges OR NOT t.gauge_only
$function$;

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

CREATE OR REPLACE FUNCTION achievements_private.check_table_owner(tbl regclass, caller name, fn text)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    owner  name;
    schema oid;
    grants text[] := '{}'::text[];
BEGIN
    SELECT pg_get_userbyid(c.relowner), c.relnamespace INTO owner, schema FROM pg_class AS c WHERE c.oid = tbl;
    IF NOT pg_has_role(caller, owner, 'USAGE') THEN
        RAISE EXCEPTION 'achievements.%(): only the owner of table % (role %) may change how it is counted; % is not', fn, tbl, owner, caller
            USING ERRCODE = '42501',
                  HINT = format('Call it as %I, or as a member of that role.', owner);
    END IF;
    IF NOT pg_has_role(owner, 'USAGE') THEN
        grants := grants || format('GRANT %I TO %I', owner, current_user);
    END IF;
    -- A member of the owner role has its USAGE too.
    IF NOT has_schema_privilege(schema, 'USAGE') AND NOT has_schema_privilege(owner, schema, 'USAGE') THEN
        grants := grants || format('GRANT USAGE ON SCHEMA %s TO %I', schema::regnamespace, current_user);
    END IF;
    IF cardinality(grants) > 0 THEN
        RAISE EXCEPTION 'achievements.%(): the owner of achievements-db, %, needs the privileges of the owner of table %, %, to wire its triggers', fn, current_user, tbl, owner
            USING ERRCODE = '42501',
                  HINT = array_to_string(grants, '; ') || ', or track tables that role owns.';
    END IF;
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

CREATE OR REPLACE FUNCTION achievements_private.validate_badge()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    ELSIF char_length(NEW.step) NOT BETWEEN 1 AND 200 THEN
        problem := 'step must be a name of 1 to 200 characters';
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.award_badges(user_ids achievements.user_ref[], names text[], old_counts integer[], new_counts integer[])
 RETURNS void
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    fallen boolean;
    risen  boolean;
    users  achievements.user_ref[];
    codes  text[];
BEGIN
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
$function$;

CREATE OR REPLACE FUNCTION achievements.award_badge(user_id achievements.user_ref, code text)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    b achievements.badges;
    n int;
BEGIN
    IF achievements_private.no_user(award_badge.user_id) THEN
        RAISE EXCEPTION 'award_badge: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who earned the badge.';
    END IF;
    b := achievements_private.get_badge(award_badge.code, true);
    -- The lock order of every path (docs/locks.md): the user's lock, then their registration,
    -- then the badge and the score.
    PERFORM achievements_private.lock_users(ARRAY[award_badge.user_id]);
    PERFORM achievements_private.register_users(ARRAY[award_badge.user_id]);
    INSERT INTO achievements.user_badges (user_id, badge, notified)
    VALUES (award_badge.user_id, b.code, true)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN false;
    END IF;
    PERFORM achievements_private.announce_badges(ARRAY[award_badge.user_id], ARRAY[b.code]);
    RETURN true;
END
$function$;
COMMENT ON FUNCTION achievements.award_badge(achievements.user_ref,text) IS
    'Awards a badge to a user; true when newly awarded, false when already held. Idempotent under concurrency; one notification.';

CREATE OR REPLACE FUNCTION achievements.revoke_badge(user_id achievements.user_ref, code text)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    b achievements.badges;
    n int;
BEGIN
    IF achievements_private.no_user(revoke_badge.user_id) THEN
        RAISE EXCEPTION 'revoke_badge: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who loses the badge.';
    END IF;
    b := achievements_private.get_badge(revoke_badge.code, false);
    PERFORM achievements_private.lock_users(ARRAY[revoke_badge.user_id]);
    DELETE FROM achievements.user_badges AS ub
     WHERE ub.user_id = revoke_badge.user_id AND ub.badge = b.code;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$function$;
COMMENT ON FUNCTION achievements.revoke_badge(achievements.user_ref,text) IS
    'Takes a badge from a user; true when they held it. Points follow.';

CREATE OR REPLACE FUNCTION achievements.backfill_badge(code text)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    b       achievements.badges := achievements_private.get_badge(code, true);
    held    boolean;
    awarded int := 0;
    before  text;
BEGIN
    IF b.step IS NULL AND b.level IS NULL THEN
        RETURN 0;
    END IF;
    -- Every user's lock first: the statements below then see every award and revocation
    -- committed before, and none can cross them (docs/locks.md).
    PERFORM achievements_private.lock_all_users();
    IF achievements_private.snapshot_per_transaction() THEN
        -- The transaction's snapshot may predate what the lock's previous holders committed: a
        -- tally it reads that changed since raises 40001 (the caller retries).
        PERFORM FROM achievements.user_achievements AS t
          WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold FOR SHARE;
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
$function$;
COMMENT ON FUNCTION achievements.backfill_badge(text) IS
    'Awards a badge to every user who already qualifies, silently (notified = true, no notification); returns how many got it.';

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

CREATE OR REPLACE FUNCTION achievements_private.tallies_changed(user_ids achievements.user_ref[], names text[], old_counts integer[], new_counts integer[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
    IF NOT (any_level OR any_badge) THEN
        RETURN;
    END IF;
    -- Registering these users and every award and revocation that follows run under their
    -- bucket locks, taken once, in key order, after the tallies' row locks (docs/locks.md).
    PERFORM achievements_private.lock_users(user_ids);
    IF 0 = ANY (old_counts) THEN
        PERFORM achievements_private.register_users(
            ARRAY(SELECT DISTINCT c.user_id FROM unnest(user_ids, old_counts) AS c(user_id, old_count)
                   WHERE c.old_count = 0));
    END IF;
    IF any_level THEN
        PERFORM achievements_private.award_levels(user_ids, names, old_counts, new_counts);
    END IF;
    IF any_badge THEN
        PERFORM achievements_private.award_badges(user_ids, names, old_counts, new_counts);
    END IF;
END
$function$;

-- Rewire the tables already tracked: drop each step's triggers and counting function, then
-- give each table its one function and set of triggers. The lock keeps the table's writers out
-- until commit, as track() does.
DO $rewire$
DECLARE
    t   record;
    n   text;
    tbl regclass;
BEGIN
    FOR t IN SELECT x.tbl::oid AS oid, x.step, x.trigger_names,
                    EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = x.tbl) AS present
               FROM achievements.tracked_steps AS x ORDER BY x.tbl, x.step LOOP
        IF t.present THEN
            EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', t.oid::regclass);
            FOREACH n IN ARRAY t.trigger_names LOOP
                EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', n, t.oid::regclass);
            END LOOP;
        ELSE
            DELETE FROM achievements.tracked_steps AS x WHERE x.tbl = t.oid AND x.step = t.step;
        END IF;
        EXECUTE format('DROP FUNCTION IF EXISTS achievements_private.%I()',
                       achievements_private.counting_function_name(t.oid, t.step));
    END LOOP;
    ALTER TABLE achievements.tracked_steps DROP COLUMN trigger_names;
    FOR tbl IN SELECT DISTINCT x.tbl FROM achievements.tracked_steps AS x LOOP
        PERFORM achievements_private.wire_table(tbl);
    END LOOP;
END
$rewire$;
COMMENT ON TABLE achievements.tracked_steps IS
    'Tables and steps wired by achievements.track(); read it through achievements.tracked(), change it only through track() and untrack().';

DROP FUNCTION achievements_private.check_table_owner(regclass,name,text,boolean);
DROP FUNCTION achievements_private.tracking_trigger_name(text,text);
DROP FUNCTION achievements_private.drop_counting_function(oid,text);
DROP FUNCTION achievements_private.create_counting_function(regclass,text,text,text,text);
DROP FUNCTION achievements_private.counting_function_name(oid,text);
DROP FUNCTION achievements_private.counting_query(text,text,text,text,text,text,text,text,text);

-- Names of 1 to 200 characters, constraints named for what they check (each new check scans
-- its table once; the names were checked above).
ALTER TABLE achievements.user_steps RENAME CONSTRAINT user_steps_count_check TO user_steps_count_not_zero;
ALTER TABLE achievements.user_steps DROP CONSTRAINT user_steps_name_check;
ALTER TABLE achievements.user_steps ADD CONSTRAINT user_steps_name_of_1_to_200_characters
    CHECK (char_length(name) BETWEEN 1 AND 200);
ALTER TABLE achievements.level_requirements DROP CONSTRAINT level_requirements_name_check;
ALTER TABLE achievements.level_requirements ADD CONSTRAINT level_requirements_name_of_1_to_200_characters
    CHECK (char_length(name) BETWEEN 1 AND 200);
ALTER TABLE achievements.badges DROP CONSTRAINT badges_step_not_empty;
ALTER TABLE achievements.badges ADD CONSTRAINT badges_step_of_1_to_200_characters
    CHECK (char_length(step) BETWEEN 1 AND 200);

-- Catalog changes of levels and badges lock the users first (docs/locks.md).
CREATE TRIGGER _050_lock_users BEFORE UPDATE OR DELETE ON achievements.levels
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.lock_users_for_catalog_change();
CREATE TRIGGER _050_lock_users BEFORE UPDATE OR DELETE ON achievements.badges
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.lock_users_for_catalog_change();

-- Privileges: the new internals are the owner's, but for claims_sub, which current_user_id()
-- calls with its caller's rights.
REVOKE EXECUTE ON FUNCTION achievements_private.no_user(achievements.user_ref),
                           achievements_private.tally_overflow(achievements.user_ref, text, bigint, bigint),
                           achievements_private.snapshot_per_transaction(),
                           achievements_private.lock_all_users(),
                           achievements_private.counting_rows(text, text, text, text, text, text, text, text),
                           achievements_private.truncate_query(text),
                           achievements_private.counting_query(text, text, text, text, text, text, text),
                           achievements_private.counting_function_name(oid),
                           achievements_private.tracking_triggers(boolean),
                           achievements_private.create_counting_function(regclass),
                           achievements_private.wire_table(regclass),
                           achievements_private.drop_counting_function(oid),
                           achievements_private.check_table_owner(regclass, name, text),
                           achievements_private.lock_users_for_catalog_change() FROM PUBLIC;

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0003_one_lock_order');
