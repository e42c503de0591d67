-- The set-based queries that count one statement from its transition tables.

-- The rows (u, c) that count one statement of `op` from its transition tables (named old_table
-- and new_table): each user and the user's net count for the statement, users whose net is 0
-- left out. `claim_sql` is the SQL expression of the request's user ($2 for the EXECUTE of the
-- public trigger functions, a call where track() generates a function). NULL when the event
-- cannot change this mode (DELETE of a counter) and for TRUNCATE (see truncate_query).
-- Counter UPDATEs pair old and new rows by their position in the transition tables, which
-- PostgreSQL fills together, one old and one new row per updated row. Every name is quoted.
CREATE FUNCTION achievements_private.counting_rows(
    mode text, op text, column_name text, user_column text, user_cast text,
    old_table text, new_table text, claim_sql text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;

-- The query that takes every gauge among `steps` back to 0 after a TRUNCATE of its table (a
-- gauge counts the rows of this table only): one row of three arrays, users, steps and the
-- negated tallies, the tallies locked in (user, step) order. `steps_sql` is an SQL expression
-- of a text array (a literal, or $1).
CREATE FUNCTION achievements_private.truncate_query(steps_sql text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format(
    'SELECT array_agg(x.user_id ORDER BY x.user_id, x.name), array_agg(x.name ORDER BY x.user_id, x.name),
            array_agg(-x.count ORDER BY x.user_id, x.name)
       FROM (SELECT t.user_id, t.name, t.count
               FROM achievements.user_achievements AS t
              WHERE t.name = ANY (%s) AND t.count > 0
              ORDER BY t.user_id, t.name
                FOR UPDATE) AS x', steps_sql);

-- The query that counts one statement of a trigger wired by hand (counting_rows): one row of two
-- arrays, the users and their net counts (NULLs when there is nothing to log); for TRUNCATE of
-- a gauge, the truncate_query of its step ($1). NULL when the event cannot change this mode.
CREATE FUNCTION achievements_private.counting_query(
    mode text, op text, column_name text, user_column text, user_cast text,
    old_table text, new_table text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;
