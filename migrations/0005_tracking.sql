-- 0005 tracking: count steps from the application's own tables.
--
-- Four trigger functions watch one column of a host table and log steps into
-- achievements.user_steps, where the one tally trigger (0003) folds them into the tallies and
-- awards levels (0004); the functions track() generates hand their counts to add_to_tallies
-- (0003), which logs them in recorded_steps and adds them to the tallies, saving a trigger per
-- statement:
--   tg_achievement                 counter: +1 each time the column is set to a non-NULL value
--   tg_achievement_toggle          gauge:   the user's rows whose column is non-NULL
--   tg_achievement_boolean         counter: +1 each time the column becomes TRUE
--   tg_achievement_toggle_boolean  gauge:   the user's rows whose column is TRUE
-- Arguments: (column, step [, user_column]). Without a user column the user is
-- achievements.current_user_id(); a row without a user is not counted (and nothing fails).
-- Each works FOR EACH ROW and FOR EACH STATEMENT (with transition tables); at statement level
-- the whole statement is counted in one set-based INSERT: one user_steps row per user.
--
-- achievements.track() wires a mode onto a table with statement-level triggers in one call and
-- records it in achievements.tracked_steps; untrack() removes it; tracked() lists it.
--
-- SQLSTATEs: AD101 wrong trigger arguments, AD102 watched column missing, AD103 user column
-- missing, AD104 wrong column type, AD105 transition table missing, AD106 not an AFTER trigger,
-- AD107 bad track() argument, AD108 already tracked differently, AD109 gauge step shared.

-- The user id parsed from text, NULL when it is not one (never raises). Public only because
-- the SQL that track() runs as its caller needs it; see achievements_private.parse_user_ref.
CREATE FUNCTION achievements._parse_user_ref(raw text)
RETURNS achievements.user_ref
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN achievements_private.parse_user_ref(raw);
COMMENT ON FUNCTION achievements._parse_user_ref(text) IS
    'Not API: text as a user id, NULL when it is not one.';

-- Checks the arguments of a tracking trigger (or of track()) against the table and returns them
-- by name. `context` starts every message (it names the trigger or track() and the table).
-- user_cast tells how to read the user column: 'native' (its type is the user id type: cast),
-- 'parse' (text or another type: parsed, NULL when not a valid id), NULL (no user column).
-- Raises AD101 (argument count, empty step), AD102 (no such column), AD103 (no such user
-- column), AD104 (boolean mode on a non-boolean column; user column that cannot hold an id).
-- Read-only; public only because track() runs as its caller.
CREATE FUNCTION achievements._tracking_check(
    mode text, tbl oid, args text[], context text,
    OUT column_name text, OUT step text, OUT user_column text, OUT user_cast text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn         text := CASE mode WHEN 'count' THEN 'tg_achievement'
                                 WHEN 'toggle' THEN 'tg_achievement_toggle'
                                 WHEN 'boolean' THEN 'tg_achievement_boolean'
                                 ELSE 'tg_achievement_toggle_boolean' END;
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
COMMENT ON FUNCTION achievements._tracking_check(text, oid, text[], text) IS
    'Not API: checks tracking trigger arguments against a table (used by the tg_achievement* functions and track()).';

-- The SQL expression that reads the user of a row (column `user_column` of `alias`) in the
-- statement-level queries; `claim` (by default $2), the request's user, when there is no user
-- column.
-- Not API: public only because track() runs as its caller.
CREATE FUNCTION achievements._tracking_user_expr(
    user_cast text, alias text, user_column text, claim text DEFAULT '$2')
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN user_column IS NULL THEN claim
            WHEN user_cast = 'native' THEN format('%s.%I::achievements.user_ref', alias, user_column)
            ELSE format('achievements._parse_user_ref(%s.%I::text)', alias, user_column) END;
COMMENT ON FUNCTION achievements._tracking_user_expr(text, text, text, text) IS
    'Not API: the SQL that reads a row''s user in tracking statements.';

-- The query that counts one statement of `op` from its transition tables (named old_table and
-- new_table): one row of two arrays, the users (in order) and each one's net count for the
-- statement (users whose net is 0 are left out; NULLs when there is nothing to log).
-- `step_sql` and `claim_sql` are SQL expressions for the step and the request's user: $1 and
-- $2 for statement_sql's EXECUTE, literals and a call where track() generates a function.
-- NULL when the event cannot change this mode (DELETE and TRUNCATE of a counter).
-- Counter UPDATEs pair old and new rows by their position in the transition tables, which
-- PostgreSQL fills together, one old and one new row per updated row.
CREATE FUNCTION achievements_private.counting_sql(
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
            achievements._tracking_user_expr(user_cast, 'n', CASE WHEN user_column IS NOT NULL THEN 'u' END, claim_sql),
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
            achievements._tracking_user_expr(user_cast, 'o', user_column, claim_sql),
            old_table, format(qual, format('o.%I', column_name)),
            achievements._tracking_user_expr(user_cast, 'n', user_column, claim_sql),
            new_table, format(qual, format('n.%I', column_name)));
    ELSE
        -- INSERT (every mode): +1 per qualifying new row; DELETE (gauges): -1 per qualifying old row.
        sel := format(
            'SELECT u, %scount(*)::int AS c
               FROM (SELECT %s AS u FROM %I AS r WHERE %s) AS s
              WHERE u IS NOT NULL
              GROUP BY u',
            CASE WHEN op = 'DELETE' THEN '-' ELSE '' END,
            achievements._tracking_user_expr(user_cast, 'r', user_column, claim_sql),
            CASE WHEN op = 'DELETE' THEN old_table ELSE new_table END,
            format(qual, format('r.%I', column_name)));
    END IF;
    -- Unordered: add_to_tallies orders its upsert itself.
    RETURN format('SELECT array_agg(x.u), array_agg(x.c) FROM (%s) AS x', sel);
END
$$;

-- The counting query (counting_sql) of a statement-level trigger wired by hand, to be run with
-- EXECUTE ... USING step, request's user. Checks the trigger first: AD101-AD104 (see
-- _tracking_check), AD105 when a needed transition table is missing, AD106 unless AFTER.
CREATE FUNCTION achievements_private.statement_sql(
    mode text, tbl oid, trigger_name text, trigger_when text, op text, args text[])
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn        text := CASE mode WHEN 'count' THEN 'tg_achievement'
                                WHEN 'toggle' THEN 'tg_achievement_toggle'
                                WHEN 'boolean' THEN 'tg_achievement_boolean'
                                ELSE 'tg_achievement_toggle_boolean' END;
    context   text := format('trigger %I on table %s', trigger_name, tbl::regclass);
    gauge     boolean := mode IN ('toggle', 'toggle_boolean');
    w         record;
    old_table text;
    new_table text;
BEGIN
    IF trigger_when <> 'AFTER' THEN
        RAISE EXCEPTION '%: achievements.%() must run AFTER the change, not %', context, fn, trigger_when
            USING ERRCODE = 'AD106',
                  HINT = 'Recreate it as an AFTER trigger, or use achievements.track().';
    END IF;
    w := achievements._tracking_check(mode, tbl, args, context);
    IF op = 'TRUNCATE' OR (op = 'DELETE' AND NOT gauge) THEN
        RETURN achievements_private.counting_sql(mode, op, w.column_name, w.user_column, w.user_cast,
                                                 NULL, NULL, '$1', '$2');
    END IF;
    SELECT tg.tgoldtable, tg.tgnewtable INTO old_table, new_table
      FROM pg_trigger AS tg
     WHERE tg.tgrelid = tbl AND tg.tgname = trigger_name;
    IF (op IN ('UPDATE', 'DELETE') AND old_table IS NULL) OR (op IN ('INSERT', 'UPDATE') AND new_table IS NULL) THEN
        RAISE EXCEPTION '%: a statement-level % trigger of achievements.%() needs %', context, op, fn,
                        CASE op WHEN 'INSERT' THEN 'REFERENCING NEW TABLE AS new_rows'
                                WHEN 'DELETE' THEN 'REFERENCING OLD TABLE AS old_rows'
                                ELSE 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows' END
            USING ERRCODE = 'AD105',
                  HINT = format('Create one trigger per event, e.g. CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION achievements.%s(...); or use FOR EACH ROW, or achievements.track().',
                                trigger_name, op, tbl::regclass,
                                CASE op WHEN 'INSERT' THEN 'REFERENCING NEW TABLE AS new_rows'
                                        WHEN 'DELETE' THEN 'REFERENCING OLD TABLE AS old_rows'
                                        ELSE 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows' END,
                                fn);
    END IF;

    RETURN achievements_private.counting_sql(mode, op, w.column_name, w.user_column, w.user_cast,
                                             old_table, new_table, '$1', '$2');
END
$$;

-- The full check of a row-level tracking trigger: AD106 unless AFTER, then _tracking_check.
CREATE FUNCTION achievements_private.check_row_trigger(
    mode text, tbl oid, trigger_name text, trigger_when text, args text[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    context text := format('trigger %I on table %s', trigger_name, tbl::regclass);
BEGIN
    IF trigger_when <> 'AFTER' THEN
        RAISE EXCEPTION '%: achievements.%() must run AFTER the change, not %', context,
                        CASE mode WHEN 'count' THEN 'tg_achievement'
                                  WHEN 'toggle' THEN 'tg_achievement_toggle'
                                  WHEN 'boolean' THEN 'tg_achievement_boolean'
                                  ELSE 'tg_achievement_toggle_boolean' END,
                        trigger_when
            USING ERRCODE = 'AD106',
                  HINT = 'Recreate it as an AFTER trigger, or use achievements.track().';
    END IF;
    PERFORM achievements._tracking_check(mode, tbl, args, context);
END
$$;

-- Logs the steps of one changed row (row-level tracking triggers): at most one user_steps row
-- per user, none when nothing changes. Reads the columns from the rows as jsonb, so it works for
-- any table. Same errors as statement_sql (AD101-AD104, AD106). Per row it checks only what the
-- row itself shows (the keys and value types in the jsonb); anything odd runs the full catalog
-- check of _tracking_check, which raises the precise error.
CREATE FUNCTION achievements_private.count_row(
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
        PERFORM achievements_private.check_row_trigger(mode, tbl, trigger_name, trigger_when, args);
    END IF;
    IF nargs = 2 THEN
        old_user := achievements.current_user_id();
        new_user := old_user;
    ELSE
        old_user := achievements._parse_user_ref(old_row ->> user_col);
        new_user := achievements._parse_user_ref(new_row ->> user_col);
        IF (old_user IS NULL AND old_row ->> user_col IS NOT NULL)
           OR (new_user IS NULL AND new_row ->> user_col IS NOT NULL) THEN
            -- Not a user id: raises AD104 when the column's type cannot hold one; else the row
            -- simply has no user.
            PERFORM achievements_private.check_row_trigger(mode, tbl, trigger_name, trigger_when, args);
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

-- Counts a small statement (at most achievements.tracking_small_statement rows, default 20)
-- from its transition tables passed as jsonb arrays (rows in transition-table order): the same
-- rules and the same single user_steps INSERT as the query of statement_sql, but with queries
-- planned once per session instead of a query built and planned for every statement. Checks
-- what the rows show (keys, value types, user ids); anything odd runs statement_sql's checks,
-- which raise the precise error (AD101-AD106).
CREATE FUNCTION achievements_private.count_rows(
    mode text, tbl oid, trigger_name text, trigger_when text, op text, args text[],
    new_rows jsonb, old_rows jsonb)
RETURNS void
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
    SELECT coalesce(bool_and(r.j ? col
                             AND (user_col IS NULL OR r.j ? user_col)
                             AND (NOT is_bool OR jsonb_typeof(r.j -> col) IN ('boolean', 'null'))
                             AND (user_col IS NULL OR r.j ->> user_col IS NULL
                                  OR achievements._parse_user_ref(r.j ->> user_col) IS NOT NULL)), true)
      INTO ok
      FROM jsonb_array_elements(coalesce(new_rows, '[]') || coalesce(old_rows, '[]')) AS r(j);
    IF NOT coalesce(ok AND trigger_when = 'AFTER' AND nargs IN (2, 3) AND step <> '', false) THEN
        PERFORM achievements_private.statement_sql(mode, tbl, trigger_name, trigger_when, op, args);
    END IF;
    IF nargs = 2 THEN
        claim := achievements.current_user_id();
    END IF;

    WITH o AS (SELECT e.ord, e.j FROM jsonb_array_elements(old_rows) WITH ORDINALITY AS e(j, ord)),
         n AS (SELECT e.ord, e.j FROM jsonb_array_elements(new_rows) WITH ORDINALITY AS e(j, ord)),
         pairs AS (
             SELECT o.j AS oj, n.j AS nj,
                    CASE WHEN user_col IS NULL THEN claim
                         ELSE achievements._parse_user_ref(o.j ->> user_col) END AS ou,
                    CASE WHEN user_col IS NULL THEN claim
                         ELSE achievements._parse_user_ref(n.j ->> user_col) END AS nu,
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
    IF users IS NOT NULL THEN
        INSERT INTO achievements.user_steps (user_id, name, count)
        SELECT s.user_id, step, s.count FROM unnest(users, counts) AS s(user_id, count);
    END IF;
END
$$;

-- The four trigger functions, one body with the mode filled in:
--   tg_achievement                 (count)   +1 for the row's user each time `column` is set to a
--                                   non-NULL value (INSERT with a value, UPDATE to another
--                                   non-NULL value); DELETE and TRUNCATE count nothing.
--   tg_achievement_toggle          (toggle)  gauge: the user's rows whose `column` is non-NULL
--                                   (+1 NULL to value, -1 value to NULL or row deleted, moved
--                                   with the user column; TRUNCATE sets it to 0, so the step must
--                                   be fed by this table only).
--   tg_achievement_boolean         (boolean) +1 each time boolean `column` becomes TRUE (INSERT as
--                                   TRUE, UPDATE from FALSE or NULL to TRUE).
--   tg_achievement_toggle_boolean  (toggle_boolean) gauge: the user's rows whose `column` is TRUE.
-- Each guarantees: the statement or row is counted exactly once, into user_steps (the tally
-- trigger does the rest, exact under concurrency); at statement level one INSERT per statement
-- (none when it changes no tally), tallies locked in user order (no deadlock between
-- statement-level triggers); rows without a user are skipped. Statements of up to
-- achievements.tracking_small_statement rows (default 20) whose transition tables are named
-- new_rows / old_rows are counted by count_rows, others by the query of statement_sql.
-- SECURITY DEFINER so that roles writing the host table need no right on user_steps; EXECUTE
-- is revoked from PUBLIC because it is checked when a trigger is created, and a trigger can log
-- steps for any user.
DO $tracking_functions$
DECLARE
    fn   text;
    mode text;
BEGIN
    FOR fn, mode IN SELECT * FROM (VALUES ('tg_achievement', 'count'),
                                          ('tg_achievement_toggle', 'toggle'),
                                          ('tg_achievement_boolean', 'boolean'),
                                          ('tg_achievement_toggle_boolean', 'toggle_boolean')) AS f
    LOOP
        EXECUTE format($create$
CREATE FUNCTION achievements.%I()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    mode      text := %L;
    small     int;
    old_table name;
    new_table name;
    old_json  jsonb;
    new_json  jsonb;
    rows      bigint := 0;
    statement text;
    users     achievements.user_ref[];
    counts    int[];
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        PERFORM achievements_private.count_row(mode, TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
        RETURN NULL;
    END IF;

    small := coalesce(nullif(current_setting('achievements.tracking_small_statement', true), '')::int, 20);
    IF small > 0 AND TG_OP <> 'TRUNCATE' THEN
        SELECT tg.tgoldtable, tg.tgnewtable INTO old_table, new_table
          FROM pg_trigger AS tg
         WHERE tg.tgrelid = TG_RELID AND tg.tgname = TG_NAME;
        IF TG_OP IN ('INSERT', 'UPDATE') AND new_table = 'new_rows' THEN
            SELECT jsonb_agg(to_jsonb(r)), count(*) INTO new_json, rows
              FROM (SELECT * FROM new_rows LIMIT small + 1) AS r;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') AND old_table = 'old_rows' THEN
            SELECT jsonb_agg(to_jsonb(r)), count(*) INTO old_json, rows
              FROM (SELECT * FROM old_rows LIMIT small + 1) AS r;
        END IF;
        IF rows <= small
           AND (TG_OP <> 'UPDATE' OR (old_table = 'old_rows' AND new_table = 'new_rows'))
           AND (TG_OP <> 'INSERT' OR new_table = 'new_rows')
           AND (TG_OP <> 'DELETE' OR old_table = 'old_rows') THEN
            PERFORM achievements_private.count_rows(mode, TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV,
                                                    new_json, old_json);
            RETURN NULL;
        END IF;
    END IF;

    statement := achievements_private.statement_sql(mode, TG_RELID, TG_NAME, TG_WHEN, TG_OP, TG_ARGV);
    IF statement IS NOT NULL THEN
        EXECUTE statement INTO users, counts USING TG_ARGV[1], achievements.current_user_id();
        IF users IS NOT NULL THEN
            INSERT INTO achievements.user_steps (user_id, name, count)
            SELECT s.user_id, TG_ARGV[1], s.count FROM unnest(users, counts) AS s(user_id, count);
        END IF;
    END IF;
    RETURN NULL;
END
$body$
$create$, fn, mode);
    END LOOP;
END
$tracking_functions$;

COMMENT ON FUNCTION achievements.tg_achievement() IS
    'Trigger (column, step [, user_column]): +1 each time column is set to a non-NULL value. FOR EACH ROW, or FOR EACH STATEMENT with REFERENCING NEW TABLE AS new_rows [OLD TABLE AS old_rows].';
COMMENT ON FUNCTION achievements.tg_achievement_toggle() IS
    'Trigger (column, step [, user_column]): gauge of the user''s rows whose column is non-NULL. FOR EACH ROW, or FOR EACH STATEMENT with transition tables.';
COMMENT ON FUNCTION achievements.tg_achievement_boolean() IS
    'Trigger (column, step [, user_column]): +1 each time the boolean column becomes TRUE. FOR EACH ROW, or FOR EACH STATEMENT with transition tables.';
COMMENT ON FUNCTION achievements.tg_achievement_toggle_boolean() IS
    'Trigger (column, step [, user_column]): gauge of the user''s rows whose boolean column is TRUE. FOR EACH ROW, or FOR EACH STATEMENT with transition tables.';

REVOKE EXECUTE ON FUNCTION achievements.tg_achievement(), achievements.tg_achievement_toggle(),
                           achievements.tg_achievement_boolean(), achievements.tg_achievement_toggle_boolean()
    FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.tg_achievement(), achievements.tg_achievement_toggle(), achievements.tg_achievement_boolean(), achievements.tg_achievement_toggle_boolean()');

-- The counting trigger function track() generates for a table and step: schema achievements,
-- because the service roles that call track() see no other schema of the package.
CREATE FUNCTION achievements._counting_function_name(tbl oid, step text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format('_count_%s_%s', tbl, left(md5(step), 12));
COMMENT ON FUNCTION achievements._counting_function_name(oid, text) IS
    'Not API: the name of the trigger function track() generates for a table and step.';

-- Creates (or replaces) the trigger function that counts `step` from table `tbl` in `mode`:
-- the queries of counting_sql for INSERT and UPDATE (gauges: DELETE and TRUNCATE too) as
-- static SQL with the columns and the step written in, so PL/pgSQL plans them once per session,
-- where the generic tg_achievement* functions must build and plan a query for every statement
-- (measured: docs/bench.md). Owned by the package owner and SECURITY DEFINER, like the generic
-- functions, so that roles writing the table need no right on the log; EXECUTE only for
-- the owner and the service roles. Checks the columns first (AD102-AD104). Returns the name.
-- Every name in the body is quoted and the body is passed as a quoted literal.
CREATE FUNCTION achievements._create_counting_function(
    tbl regclass, step text, mode text, column_name text, user_column text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w        record;
    fn       text := achievements._counting_function_name(tbl, step);
    branches text := '';
    op       text;
    query    text;
BEGIN
    w := achievements._tracking_check(mode, tbl,
                                      ARRAY[column_name, step] || CASE WHEN user_column IS NOT NULL THEN ARRAY[user_column] ELSE '{}'::text[] END,
                                      format('achievements.track() on table %s', tbl));
    FOREACH op IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] LOOP
        query := achievements_private.counting_sql(mode, op, w.column_name, w.user_column, w.user_cast,
                                                   'old_rows', 'new_rows', quote_literal(step),
                                                   'achievements.current_user_id()');
        IF query IS NOT NULL THEN
            branches := branches || format(E'    %s TG_OP = %L THEN\n        SELECT * INTO users, counts FROM (%s) AS q;\n',
                                           CASE WHEN branches = '' THEN 'IF' ELSE 'ELSIF' END, op, query);
        END IF;
    END LOOP;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION achievements.%I()
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
    EXECUTE format('COMMENT ON FUNCTION achievements.%I() IS %L', fn,
                   format('Generated by achievements.track(): counts step %L from table %s (mode %s, column %I, user column %s). Dropped by untrack().',
                          step, tbl, mode, column_name, coalesce(quote_ident(user_column), 'none')));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION achievements.%I() FROM PUBLIC', fn);
    PERFORM achievements_private.grant_to_service_roles('EXECUTE', format('FUNCTION achievements.%I()', fn));
    RETURN fn;
END
$$;
COMMENT ON FUNCTION achievements._create_counting_function(regclass, text, text, text, text) IS
    'Not API: generates the counting trigger function of track().';

-- Drops the function _create_counting_function made for a table (by oid: it may be gone) and
-- step, if it exists. Fails, changing nothing, while a trigger still uses it.
CREATE FUNCTION achievements._drop_counting_function(tbl oid, step text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('DROP FUNCTION IF EXISTS achievements.%I()', achievements._counting_function_name(tbl, step));
END
$$;
COMMENT ON FUNCTION achievements._drop_counting_function(oid, text) IS
    'Not API: drops the counting trigger function of track() for a table and step.';

REVOKE EXECUTE ON FUNCTION achievements._create_counting_function(regclass, text, text, text, text),
                           achievements._drop_counting_function(oid, text) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements._create_counting_function(regclass, text, text, text, text), achievements._drop_counting_function(oid, text)');

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

-- The name of a trigger of track(): achievements_<step>_<suffix>, shortened with a hash of the
-- step when it would not fit in 63 bytes, so that two steps never share a name on one table.
CREATE FUNCTION achievements._tracking_trigger_name(step text, suffix text)
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
COMMENT ON FUNCTION achievements._tracking_trigger_name(text, text) IS
    'Not API: the name track() gives a trigger of a step.';

-- Forgets the rows of tracked_steps whose table has been dropped, and drops their generated
-- functions (the table's triggers went with it). Runs as its caller: track() and untrack().
CREATE FUNCTION achievements._forget_dropped_tables()
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
        PERFORM achievements._drop_counting_function(gone.tbl, gone.step);
    END LOOP;
END
$$;
COMMENT ON FUNCTION achievements._forget_dropped_tables() IS
    'Not API: forgets what track() wired on tables dropped since, with their generated functions.';

REVOKE EXECUTE ON FUNCTION achievements._forget_dropped_tables() FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION achievements._forget_dropped_tables()');

-- Wires `mode` onto table `tbl` for `step` with statement-level AFTER triggers, one per event:
-- achievements_<step>_ins and _upd, and for gauges also _del and _trunc. They run a trigger
-- function generated for this table and step (_create_counting_function), which counts exactly
-- as the generic tg_achievement* functions do, with its queries planned once per session. Returns true when it
-- created triggers, false when `tbl` already tracks `step` with these arguments (then it changes
-- nothing). For a gauge it first sets every user's tally of `step` to the recount of the table
-- (one user_steps row per user whose tally differs), holding the table's trigger lock, so the
-- gauge equals a recount from the start. Runs as its caller: it needs the TRIGGER privilege on
-- the table, SELECT on it for gauges, and EXECUTE on the trigger functions (owner, service roles).
-- Serialized per table by an advisory lock. Raises AD107 for a bad mode, step or table, AD108
-- when the table tracks `step` with other arguments, AD109 when a gauge step is tracked on
-- another table too, and AD102-AD104 for columns (see _tracking_check). Changes nothing on error.
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
    w := achievements._tracking_check(mode, tbl, ARRAY[column_name, step] || CASE WHEN user_column IS NOT NULL THEN ARRAY[user_column] ELSE '{}'::text[] END,
                                      format('achievements.track() on table %s', tbl));

    PERFORM pg_advisory_xact_lock(1633838660, hashtext(tbl::oid::text));
    PERFORM achievements._forget_dropped_tables();

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

    names := ARRAY[achievements._tracking_trigger_name(step, 'ins'), achievements._tracking_trigger_name(step, 'upd')];
    IF gauge THEN
        names := names || achievements._tracking_trigger_name(step, 'del') || achievements._tracking_trigger_name(step, 'trunc');
    END IF;
    SELECT bool_or(NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = n))
      INTO missing FROM unnest(names) AS n;
    IF existing.tbl IS NOT NULL AND NOT missing THEN
        RETURN false;
    END IF;

    fn := achievements._create_counting_function(tbl, step, mode, column_name, user_column);
    -- (Re)create what is missing: after a DROP TRIGGER by hand, track() repairs.
    IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[1]) THEN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION achievements.%I()', names[1], tbl, fn);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[2]) THEN
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION achievements.%I()', names[2], tbl, fn);
    END IF;
    IF gauge THEN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[3]) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION achievements.%I()', names[3], tbl, fn);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_trigger AS tg WHERE tg.tgrelid = tbl AND tg.tgname = names[4]) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s
                            FOR EACH STATEMENT EXECUTE FUNCTION achievements.%I()', names[4], tbl, fn);
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
            achievements._tracking_user_expr(w.user_cast, 'r', user_column),
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
    PERFORM pg_advisory_xact_lock(1633838660, hashtext(tbl::oid::text));
    PERFORM achievements._forget_dropped_tables();
    DELETE FROM achievements.tracked_steps AS t
     WHERE t.tbl = untrack.tbl AND t.step = untrack.step
    RETURNING t.trigger_names INTO names;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    FOREACH n IN ARRAY names LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', n, tbl);
    END LOOP;
    PERFORM achievements._drop_counting_function(tbl, step);
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

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0005_tracking');
