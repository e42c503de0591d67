-- 0003 steps: the step log (user_steps), the per-user tallies (user_achievements), the one
-- path that keeps them in step, and the functions that record, undo and read progress.
--
-- Every change to a tally is a row in user_steps, and one function, add_to_tallies, writes the
-- tallies. Rows inserted into user_steps are folded in by its statement-level trigger;
-- record_step(), undo_step() and the tracking triggers log their rows in the child table
-- recorded_steps and call add_to_tallies themselves. A negative count is an undo.

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

-- The rows that the package's own functions log (record_step, undo_step, the functions track()
-- generates) live in a child table of user_steps: reading user_steps shows them with the rest
-- (tableoid tells them apart), but inserting them does not fire the user_steps trigger, because
-- add_to_tallies writes them together with the tally and saves the trigger's work on every
-- step (measured: docs/bench.md). Only the owner can write here; user_steps' row level
-- security and grants govern every read through user_steps.
CREATE TABLE achievements_private.recorded_steps () INHERITS (achievements.user_steps);
ALTER TABLE achievements_private.recorded_steps
    ALTER COLUMN id SET DEFAULT nextval('achievements.user_steps_id_seq'),
    ADD PRIMARY KEY (id);
CREATE INDEX recorded_steps_user_idx ON achievements_private.recorded_steps (user_id, name, id);
ALTER TABLE achievements_private.recorded_steps ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE achievements_private.recorded_steps IS
    'The part of the user_steps log written by record_step, undo_step and track(): read it through achievements.user_steps.';

CREATE TABLE achievements.user_achievements (
    user_id    achievements.user_ref NOT NULL,
    name       text NOT NULL,
    count      int NOT NULL,
    first_at   timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, name)
) WITH (fillfactor = 75);
-- Every step updates a tally row. A quarter of each page left free lets the new row version
-- stay on its page (a HOT update): no new primary key entry and less WAL per step. Measured:
-- a 10,000-tally upsert 110 -> 69 ms (docs/bench.md), for 25 % more space.
COMMENT ON TABLE achievements.user_achievements IS
    'Tally per user and step, written only by achievements-db: the sum of that user''s rows in user_steps, never below 0.';

-- What the package does when tallies change, called once per statement that changes any, with
-- one array element per changed tally: its user, step, count before and count after the
-- statement. Runs inside add_to_tallies, under the tallies' row locks. Nothing yet: 0004
-- (levels) and 0006 (badges) replace it. A call rather than triggers on user_achievements: a
-- step then pays for one pass over the changes, not for four statement-level triggers that
-- each read the transition tables again (measured: docs/bench.md). No SET search_path: only
-- add_to_tallies calls it, under callers that pin it.
CREATE FUNCTION achievements_private.tallies_changed(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
END
$$;

-- Adds one delta to the tally of each (user, step) given, creating tallies as needed, then hands
-- the changed tallies to tallies_changed (levels, badges). The arrays hold one element per
-- (user, step), no pair twice. With log_steps, first logs the deltas in recorded_steps: every
-- caller but the user_steps trigger (whose rows are in the log already) passes true, so a
-- logged step and its tally are always written together. Returns the new tally when given
-- one pair, else NULL.
-- Guarantees: exact under concurrency (each delta is added to the latest committed tally under
-- its row lock); tallies are locked in (user_id, name) order, so concurrent calls cannot
-- deadlock on each other; raises AD003, undoing the whole statement, when a tally would go
-- below zero. One positive delta (record_step, a single-row insert) takes single-row
-- statements: a plain UPDATE of an existing tally (same row lock, fewer executor nodes), else
-- a one-row upsert, both planned once per session. The one place that writes tallies and
-- recorded_steps: called by the user_steps trigger and by record_step, undo_step and the
-- functions track() generates. No SET search_path (every name in it is qualified; only the
-- owner can call it): callers pin it, and the GUC save and restore would cost every step.
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
    -- One row by VALUES: an INSERT from unnest() is planned again on every call (PL/pgSQL keeps
    -- custom plans for it), which costs a single step about 5 us.
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

-- Refuses UPDATE on the append-only log, before any row changes.
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
ALTER TABLE achievements.user_achievements ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_steps FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
CREATE POLICY own_rows ON achievements.user_achievements FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_steps');
SELECT achievements_private.create_service_policy('achievements.user_achievements');

SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_steps, achievements.user_achievements');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_steps, achievements.user_achievements');
SELECT achievements_private.grant_to_service_roles('INSERT', 'TABLE achievements.user_steps');

-- Raises AD005 when no user is given, and 42501 when the caller is subject to row level
-- security, asks about another user than its own, and holds no policy that shows every row.
-- Returns the user, so that callers can write `who := achievements._readable_user(who)`.
-- Not API: public only because SECURITY INVOKER functions of every role call it.
CREATE FUNCTION achievements._readable_user(user_id achievements.user_ref)
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
             FROM pg_policy p
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

-- Records `count` steps of `step` for a user; returns the user's new tally of that step.
-- Logs the step and adds it to the tally in one call of add_to_tallies: exact under concurrency
-- (see there). Raises AD002 for a count below 1 or an empty
-- step, AD005 for a NULL user. Callable by the owner and the service roles.
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

-- Raises AD001 unless `level` is a row of achievements.levels.
CREATE FUNCTION achievements._assert_level(level text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM achievements.levels AS l WHERE l.name = _assert_level.level) THEN
        RAISE EXCEPTION 'unknown level %', coalesce(quote_literal(level), 'NULL')
            USING ERRCODE = 'AD001',
                  HINT = 'Levels are the rows of achievements.levels: SELECT name FROM achievements.levels.';
    END IF;
END
$$;

-- The requirements of `level_name` that the user has not met yet, by priority: required_count is
-- what is still missing. Raises AD001 for an unknown level, AD005 without a user, 42501 when an
-- application role asks about another user.
CREATE FUNCTION achievements.steps_required(
    level_name text,
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS TABLE (id int, name text, level text, required_count int, priority int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    who achievements.user_ref := achievements._readable_user(steps_required.user_id);
BEGIN
    PERFORM achievements._assert_level(level_name);
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
COMMENT ON FUNCTION achievements.steps_required(text, achievements.user_ref) IS
    'Requirements of a level the user has not met, by priority; required_count is what is still missing.';

-- Whether the user meets every requirement of `level_name` (true for a level without requirements).
-- Same errors as steps_required.
CREATE FUNCTION achievements.user_achieved(
    level_name text,
    user_id achievements.user_ref DEFAULT achievements.current_user_id())
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN NOT EXISTS (SELECT 1 FROM achievements.steps_required(level_name, user_id));
COMMENT ON FUNCTION achievements.user_achieved(text, achievements.user_ref) IS
    'Whether the user meets every requirement of the level.';

REVOKE EXECUTE ON FUNCTION achievements.record_step(achievements.user_ref, text, int),
                           achievements.undo_step(achievements.user_ref, text, int) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.record_step(achievements.user_ref, text, int), achievements.undo_step(achievements.user_ref, text, int)');

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0003_steps');
