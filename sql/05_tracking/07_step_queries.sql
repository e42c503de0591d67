-- The SQL that counts one step of track() from its table: pieces of queries over a row read
-- under alias `rel`, the table's own name (so that the expressions given to track() may name
-- its columns bare or as table.column), then whole queries over a statement's transition
-- tables (old_rows, new_rows) and over the table itself. The generated functions of
-- 08_generated_functions.sql are built from them. Every name is quoted (%I, regclass); the
-- expressions are the table owner's SQL, and run as that role.
--
-- How the modes count, with a condition and a previous condition:
--   a row qualifies when its column is not NULL (count, toggle, distinct, sum, max) or TRUE
--   (boolean, toggle_boolean), when a column is given, and the condition holds, when one is;
--   count, boolean  (counters) one event per INSERT of a qualifying row, and per UPDATE whose new
--                   row qualifies and whose column changed (to another value, or to TRUE); with
--                   no column, per UPDATE from a row that did not qualify to one that does. With
--                   previous, only UPDATEs whose old row met previous and did not qualify, paired
--                   with the new row by primary key;
--   toggle, toggle_boolean, sum  (gauges) the user's qualifying rows, or the sum of their values;
--   distinct, max   the number of distinct non-NULL values, or the largest value, of the user's
--                   qualifying rows, recounted for the users a statement touches.

-- The SQL of the user of a row: its user column, cast (user_cast 'native') or parsed ('parse'),
-- or the expression given instead of a column, parsed ('expression'); else `claim`, the
-- request's user read once per statement.
CREATE FUNCTION achievements_private.tracked_user_sql(user_cast text, rel text, user_column text, claim text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN user_column IS NULL THEN claim
            WHEN user_cast = 'native' THEN format('%s.%I::achievements.user_ref', rel, user_column)
            WHEN user_cast = 'expression' THEN format('achievements.parse_user_id((%s)::text)', user_column)
            ELSE format('achievements.parse_user_id(%s.%I::text)', rel, user_column) END;

-- The SQL of whether a row qualifies for step `s` (see the top of this file); never NULL.
CREATE FUNCTION achievements_private.tracked_qualifies_sql(s achievements.tracked_steps, rel text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format('coalesce(%s, false)', coalesce(nullif(concat_ws(' AND ',
    CASE WHEN s.column_name IS NULL THEN NULL
         WHEN s.mode IN ('boolean', 'toggle_boolean') THEN format('%s.%I IS TRUE', rel, s.column_name)
         ELSE format('%s.%I IS NOT NULL', rel, s.column_name) END,
    CASE WHEN s.condition IS NOT NULL THEN format('(%s) IS TRUE', s.condition) END), ''), 'true'));

-- The SQL of a row's value for a distinct, sum or max step: the value expression, else the
-- column; for sum and max through integer_value(), which takes integers only. NULL for the
-- other modes.
CREATE FUNCTION achievements_private.tracked_value_sql(s achievements.tracked_steps, rel text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN s.mode = 'distinct'
            THEN coalesce('(' || s.value || ')', format('%s.%I', rel, s.column_name))
            WHEN s.mode IN ('sum', 'max')
            THEN format('achievements_tracking.integer_value(%s)',
                        coalesce('(' || s.value || ')', format('%s.%I', rel, s.column_name))) END;

-- The SQL of what a counter compares between the old and the new row of an UPDATE: the
-- column's value (count), whether it is TRUE (boolean), or, with no column, whether the row
-- qualifies. An event needs the new row to qualify and this to differ.
CREATE FUNCTION achievements_private.tracked_change_sql(s achievements.tracked_steps, rel text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN s.column_name IS NULL THEN achievements_private.tracked_qualifies_sql(s, rel)
            WHEN s.mode = 'boolean' THEN format('%s.%I IS TRUE', rel, s.column_name)
            ELSE format('to_jsonb(%s.%I)', rel, s.column_name) END;

-- The rows (u, c) that one statement of `op` adds to the tallies of step `s`, a counter or a
-- gauge of toggle, toggle_boolean or sum, from the transition tables: each user and the user's
-- net count, users whose net is 0 left out. NULL when the event cannot change the step (DELETE
-- of a counter, INSERT of a transition), for TRUNCATE, and for the steps that are recounted.
-- `keys` are the primary key columns of the table (for previous), `claim` the SQL of the
-- request's user. A counter's UPDATE pairs old and new rows by their position in the transition
-- tables, which PostgreSQL fills together, one old and one new row per updated row; with
-- previous, by primary key.
CREATE FUNCTION achievements_private.tracked_rows_sql(
    s achievements.tracked_steps, user_cast text, op text, rel text, keys text[], claim text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind     text := achievements_private.step_kind(s.mode, s.depends_on);
    who      text := achievements_private.tracked_user_sql(user_cast, rel, s.user_column, claim);
    qual     text := achievements_private.tracked_qualifies_sql(s, rel);
    weight   text := CASE WHEN s.mode = 'sum'
                          THEN format('coalesce(%s, 0)', achievements_private.tracked_value_sql(s, rel))
                          ELSE '1' END;
    key_list text;
    key_cols text;
BEGIN
    IF kind IN ('recount', 'streak') OR op = 'TRUNCATE' THEN
        RETURN NULL;
    END IF;
    IF kind = 'counter' THEN
        IF op = 'DELETE' OR (op = 'INSERT' AND s.previous IS NOT NULL) THEN
            RETURN NULL;
        ELSIF op = 'INSERT' THEN
            RETURN format(
                'SELECT f.u, count(*)::int AS c FROM (SELECT %s AS u FROM new_rows AS %s WHERE %s) AS f
                  WHERE f.u IS NOT NULL GROUP BY f.u', who, rel, qual);
        ELSIF s.previous IS NULL THEN
            RETURN format(
                'SELECT n.u, count(*)::int AS c
                   FROM (SELECT row_number() OVER () AS ord, %2$s AS c FROM old_rows AS %1$s) AS o
                   JOIN (SELECT row_number() OVER () AS ord, %3$s AS u, %4$s AS q, %2$s AS c
                           FROM new_rows AS %1$s) AS n USING (ord)
                  WHERE n.q AND n.u IS NOT NULL AND n.c IS DISTINCT FROM o.c
                  GROUP BY n.u',
                rel, achievements_private.tracked_change_sql(s, rel), who, qual);
        END IF;
        SELECT string_agg(format('%s.%I AS k%s', rel, k.col, k.n), ', ' ORDER BY k.n),
               string_agg(format('k%s', k.n), ', ' ORDER BY k.n)
          INTO key_cols, key_list
          FROM unnest(keys) WITH ORDINALITY AS k(col, n);
        RETURN format(
            'SELECT n.u, count(*)::int AS c
               FROM (SELECT %2$s, %4$s AS q, (%5$s) IS TRUE AS p FROM old_rows AS %1$s) AS o
               JOIN (SELECT %2$s, %3$s AS u, %4$s AS q FROM new_rows AS %1$s) AS n USING (%6$s)
              WHERE n.q AND NOT o.q AND o.p AND n.u IS NOT NULL
              GROUP BY n.u',
            rel, key_cols, who, qual, s.previous, key_list);
    END IF;
    -- Gauges: per user, what the new rows add minus what the old rows took.
    IF op = 'UPDATE' THEN
        RETURN format(
            'SELECT s.u, sum(s.w)::int AS c
               FROM (SELECT %2$s AS u, -(%4$s) AS w FROM old_rows AS %1$s WHERE %3$s
                     UNION ALL
                     SELECT %2$s, %4$s FROM new_rows AS %1$s WHERE %3$s) AS s
              WHERE s.u IS NOT NULL
              GROUP BY s.u
             HAVING sum(s.w) <> 0',
            rel, who, qual, weight);
    END IF;
    RETURN format(
        'SELECT f.u, %ssum(f.w)::int AS c FROM (SELECT %s AS u, %s AS w FROM %s AS %s WHERE %s) AS f
          WHERE f.u IS NOT NULL GROUP BY f.u HAVING sum(f.w) <> 0',
        CASE WHEN op = 'DELETE' THEN '-' ELSE '' END, who, weight,
        CASE WHEN op = 'DELETE' THEN 'old_rows' ELSE 'new_rows' END, rel, qual);
END
$$;

-- The users (u) whose tally of a step that depends on this table may change with one statement
-- of `op`: the users of every row it inserted, deleted or changed, read from `user_column` with
-- `user_cast` (any column of the row may matter to the step's condition). NULL for TRUNCATE.
CREATE FUNCTION achievements_private.tracked_touched_sql(user_cast text, op text, rel text, user_column text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE op
    WHEN 'INSERT' THEN format('SELECT %s AS u FROM new_rows AS %s',
                              achievements_private.tracked_user_sql(user_cast, rel, user_column, 'NULL::achievements.user_ref'), rel)
    WHEN 'DELETE' THEN format('SELECT %s AS u FROM old_rows AS %s',
                              achievements_private.tracked_user_sql(user_cast, rel, user_column, 'NULL::achievements.user_ref'), rel)
    WHEN 'UPDATE' THEN format('SELECT %1$s AS u FROM old_rows AS %2$s UNION ALL SELECT %1$s FROM new_rows AS %2$s',
                              achievements_private.tracked_user_sql(user_cast, rel, user_column, 'NULL::achievements.user_ref'), rel)
    END;

-- The users (u) whose tally of the recounted step `s` (distinct, max, or with depends_on) or
-- streak step one statement of `op` on its own table may change: the users of the rows that
-- qualify, inserted or deleted; for an UPDATE, the old and new users of the rows whose user,
-- qualification or value (a streak's time and zone) changed (paired by position, as counters are), so that an UPDATE of other columns recounts no
-- one. NULL for TRUNCATE.
CREATE FUNCTION achievements_private.tracked_changed_users_sql(
    s achievements.tracked_steps, user_cast text, op text, rel text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who   text := achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref');
    qual  text := achievements_private.tracked_qualifies_sql(s, rel);
    worth text := CASE WHEN s.mode = 'streak' THEN achievements_private.tracked_moment_sql(s)
                       ELSE coalesce(achievements_private.tracked_value_sql(s, rel), 'NULL::int') END;
BEGIN
    IF op IN ('INSERT', 'DELETE') THEN
        RETURN format('SELECT %s AS u FROM %s AS %s WHERE %s', who,
                      CASE WHEN op = 'INSERT' THEN 'new_rows' ELSE 'old_rows' END, rel, qual);
    ELSIF op = 'UPDATE' THEN
        RETURN format(
            'SELECT x.u
               FROM (SELECT row_number() OVER () AS ord, %2$s AS u, %3$s AS q, %4$s AS v FROM old_rows AS %1$s) AS o
               JOIN (SELECT row_number() OVER () AS ord, %2$s AS u, %3$s AS q, %4$s AS v FROM new_rows AS %1$s) AS n USING (ord)
              CROSS JOIN LATERAL (VALUES (o.u), (n.u)) AS x(u)
              WHERE (o.u, o.q, o.v) IS DISTINCT FROM (n.u, n.q, n.v)',
            rel, who, qual, worth);
    END IF;
    RETURN NULL;
END
$$;

-- The SQL that narrows a query of step `s` over its table to the users of `users` (the SQL of an
-- array of user ids), through the user column when it is of the user id type (so an index on it
-- serves), else through the user expression; '' without `users`.
CREATE FUNCTION achievements_private.tracked_users_filter_sql(
    s achievements.tracked_steps, user_cast text, rel text, users text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN users IS NULL THEN ''
            WHEN user_cast = 'native'
            THEN format(' AND %s.%I = ANY (%s::%s[])', rel, s.user_column, users,
                        format_type((SELECT t.typbasetype FROM pg_type AS t WHERE t.oid = 'achievements.user_ref'::regtype), NULL))
            ELSE format(' AND %s = ANY (%s)',
                        achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref'), users) END;

-- The query of the current tally of step `s` per user (u, c) from its table: the qualifying rows
-- (counters, toggle, toggle_boolean), the sum or the largest of their values (sum, max), the
-- number of distinct values (distinct). With `users` (the SQL of an array of user ids), only
-- for those users, through the user column when it is of the user id type (so an index on it
-- serves). NULL for a counter with previous (a transition leaves no trace in the rows) and for
-- a streak step (tracked_activity_sql).
CREATE FUNCTION achievements_private.tracked_recount_sql(
    s achievements.tracked_steps, user_cast text, rel text, users text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who text := achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref');
BEGIN
    IF s.previous IS NOT NULL OR s.mode = 'streak' THEN
        RETURN NULL;
    END IF;
    RETURN format(
        'SELECT f.u, %s::int AS c FROM (SELECT %s AS u, %s AS v FROM %s AS %s WHERE %s%s) AS f
          WHERE f.u IS NOT NULL GROUP BY f.u',
        CASE s.mode WHEN 'distinct' THEN 'count(DISTINCT f.v)' WHEN 'max' THEN 'coalesce(max(f.v), 0)'
                    WHEN 'sum' THEN 'coalesce(sum(f.v), 0)' ELSE 'count(*)' END,
        who, coalesce(achievements_private.tracked_value_sql(s, rel), 'NULL'),
        s.tbl, rel, achievements_private.tracked_qualifies_sql(s, rel),
        achievements_private.tracked_users_filter_sql(s, user_cast, rel, users));
END
$$;

-- The SQL of a streak step's moment of a row: its time (at, as timestamptz) and the zone of the
-- row (time_zone, as text; NULL for the user's zone).
CREATE FUNCTION achievements_private.tracked_moment_sql(s achievements.tracked_steps)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN format('ROW((%s)::timestamptz, (%s)::text)', s.at, coalesce(s.time_zone, 'NULL'));

-- The query of the activity of streak step `s` from its table: per qualifying row with a time,
-- its user (u), time (at) and zone (z: the row's, or NULL for the user's). With `users` (the
-- SQL of an array of user ids), only for those users (tracked_users_filter_sql).
CREATE FUNCTION achievements_private.tracked_activity_sql(
    s achievements.tracked_steps, user_cast text, rel text, users text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN format(
    'SELECT f.u, f.at, f.z FROM (SELECT %s AS u, (%s)::timestamptz AS at, (%s)::text AS z FROM %s AS %s WHERE %s%s) AS f
      WHERE f.u IS NOT NULL AND f.at IS NOT NULL',
    achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref'),
    s.at, coalesce(s.time_zone, 'NULL'), s.tbl, rel, achievements_private.tracked_qualifies_sql(s, rel),
    achievements_private.tracked_users_filter_sql(s, user_cast, rel, users));

-- The rows (u, step, at, z, sign) by which one statement of `op` changes the activity of streak
-- step `s`: its qualifying new rows (sign 1) and old rows (sign -1), each with its user, time and
-- row zone (NULL for the user's). NULL for TRUNCATE.
CREATE FUNCTION achievements_private.tracked_activity_change_sql(
    s achievements.tracked_steps, user_cast text, op text, rel text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    one text := format('SELECT %s AS u, %L::text AS step, (%s)::timestamptz AS at, (%s)::text AS z, %%s AS sign FROM %%s AS %s WHERE %s',
                       achievements_private.tracked_user_sql(user_cast, rel, s.user_column, 'NULL::achievements.user_ref'),
                       s.step, s.at, coalesce(s.time_zone, 'NULL'), rel, achievements_private.tracked_qualifies_sql(s, rel));
BEGIN
    RETURN CASE op
        WHEN 'INSERT' THEN format(one, 1, 'new_rows')
        WHEN 'DELETE' THEN format(one, -1, 'old_rows')
        WHEN 'UPDATE' THEN format(one, -1, 'old_rows') || ' UNION ALL ' || format(one, 1, 'new_rows')
        END;
END
$$;
