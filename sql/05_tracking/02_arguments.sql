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

-- How to read the user column `user_column` of `tbl` as a user id: 'native' (its type is the uuid
-- or bigint user id type, or a smaller integer with bigint: cast), 'parse' (text, or any type
-- with the text user id type: parsed, NULL when not a valid id, the empty text included);
-- 'expression' when `user_column` names no column and is not a plain name (letters, digits,
-- _): an SQL expression over the row (track() only: its value is parsed, and it is checked with
-- the step's other expressions). Raises AD103 when a plain name names no column, AD104 when
-- its type cannot hold a user id. `context` starts every message.
CREATE FUNCTION achievements_private.user_column_cast(tbl oid, user_column text, context text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    user_type oid;
    user_base oid;
    user_kind "char";
    id_type   oid := (SELECT t.typbasetype FROM pg_type AS t WHERE t.oid = 'achievements.user_ref'::regtype);
    columns   text;
    cast_kind text;
BEGIN
    SELECT a.atttypid, a.atttypid, t.typcategory INTO user_type, user_base, user_kind
      FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid
     WHERE a.attrelid = tbl AND a.attname = user_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF user_type IS NULL AND user_column !~ '^[A-Za-z_][A-Za-z0-9_$]*$' THEN
        RETURN 'expression';  -- not a column's name, nor a plain name: an expression
    END IF;
    IF user_type IS NULL THEN
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
          FROM pg_attribute AS a WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped;
        RAISE EXCEPTION '%: user column % does not exist in table %', context,
                        coalesce(quote_ident(user_column), 'NULL'), tbl::regclass
            USING ERRCODE = 'AD103',
                  HINT = format('The user column holds the user id; table %s has: %s. Leave it out to count for achievements.current_user_id().', tbl::regclass, columns);
    END IF;
    WHILE user_base <> id_type AND (SELECT t.typtype FROM pg_type AS t WHERE t.oid = user_base) = 'd' LOOP
        user_base := (SELECT t.typbasetype FROM pg_type AS t WHERE t.oid = user_base);
    END LOOP;
    cast_kind := CASE
        WHEN user_base = id_type AND id_type <> 'text'::regtype THEN 'native'
        WHEN id_type = 'bigint'::regtype AND user_base IN ('smallint'::regtype, 'integer'::regtype) THEN 'native'
        WHEN id_type = 'text'::regtype OR user_kind = 'S' THEN 'parse'
    END;
    IF cast_kind IS NULL THEN
        RAISE EXCEPTION '%: user column % is %, which cannot hold a user id of type %', context,
                        quote_ident(user_column), format_type(user_type, NULL), format_type(id_type, NULL)
            USING ERRCODE = 'AD104',
                  HINT = format('Use a column of type %s (or text holding user ids); the user id type was chosen at install.', format_type(id_type, NULL));
    END IF;
    RETURN cast_kind;
END
$$;

-- Checks the arguments of a tracking trigger (or of track()) against the table and returns them
-- by name. `context` starts every message (it names the trigger or track() and the table).
-- user_cast tells how to read the user column: 'native' (its type is the uuid or bigint user id
-- type: cast), 'parse' (text, or any type with the text user id type: parsed, NULL when not a
-- valid id, the empty text included), NULL (no user column).
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

    -- The watched column's type and its base type (through two levels of domains; deeper ones
    -- are resolved below).
    SELECT col.atttypid, CASE WHEN cb.typtype = 'd' THEN cb.typbasetype ELSE cb.oid END
      INTO col_type, col_base
      FROM pg_attribute AS col
      JOIN pg_type AS ct ON ct.oid = col.atttypid
      JOIN pg_type AS cb ON cb.oid = CASE WHEN ct.typtype = 'd' THEN ct.typbasetype ELSE ct.oid END
     WHERE col.attrelid = tbl AND col.attname = column_name AND col.attnum > 0 AND NOT col.attisdropped;

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
        user_cast := achievements_private.user_column_cast(tbl, user_column, context);
        IF user_cast = 'expression' THEN  -- the trigger functions read a column
            RAISE EXCEPTION '%: user column % does not exist in table %', context, quote_ident(user_column), tbl::regclass
                USING ERRCODE = 'AD103',
                      HINT = 'The third argument is the name of the column holding the user id.';
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
