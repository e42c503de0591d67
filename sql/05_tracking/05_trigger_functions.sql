-- The four public tracking trigger functions, for triggers wired by hand (track() generates its
-- own, 08_generated_functions.sql). Arguments, as trigger arguments: (column, step
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
