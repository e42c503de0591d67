-- The step log: every change to a tally is a row here (a negative count is an undo). Rows
-- inserted by the application are folded into the tallies by a statement-level trigger; the
-- package's own functions log theirs in the child table recorded_steps together with the tally
-- (add_to_tallies), so they skip that trigger.

CREATE TABLE achievements.user_steps (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    achievements.user_ref NOT NULL,
    name       text NOT NULL CONSTRAINT user_steps_name_of_1_to_200_characters
                   CHECK (char_length(name) BETWEEN 1 AND 200),
    count      int NOT NULL DEFAULT 1 CONSTRAINT user_steps_count_not_zero CHECK (count <> 0),
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
-- (user, step), the statement's sum, through add_to_tallies (exact, deadlock-free, AD003,
-- AD007); then into the counters of the declared leaderboards of their steps, by each row's
-- created_at (count_in_periods). A row whose user is the empty text (text user ids) names no user: AD005, as for
-- record_step.
CREATE FUNCTION achievements_private.tally_new_steps()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    user_ids achievements.user_ref[];
    names    text[];
    deltas   int[];
    created  timestamptz[];
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
        -- Counted by the time of each row, under the tallies' locks add_to_tallies took.
        IF EXISTS (SELECT 1 FROM achievements.step_leaderboards AS l WHERE l.step = ANY (names)) THEN
            SELECT array_agg(n.user_id), array_agg(n.name), array_agg(n.count), array_agg(n.created_at)
              INTO user_ids, names, deltas, created
              FROM (SELECT n.user_id, n.name, n.created_at, sum(n.count)::int AS count
                      FROM new_steps AS n
                     GROUP BY n.user_id, n.name, n.created_at) AS n;
            PERFORM achievements_private.count_in_periods(user_ids, names, deltas, created);
        END IF;
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
