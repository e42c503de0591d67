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
