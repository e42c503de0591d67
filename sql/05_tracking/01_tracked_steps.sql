-- Tracking: steps counted straight from the application's own tables.
--
-- Four public trigger functions watch one column of a host table (05_trigger_functions.sql):
--   tg_achievement                 counter: +1 each time the column is set to a non-NULL value
--   tg_achievement_toggle          gauge:   the user's rows whose column is non-NULL
--   tg_achievement_boolean         counter: +1 each time the column becomes TRUE
--   tg_achievement_toggle_boolean  gauge:   the user's rows whose column is TRUE
-- achievements.track() records each table and step here and wires the table with statement-level
-- triggers that run one counting function generated for all of the table's steps, owned by the
-- table's owner (06_calls.sql, 07_step_queries.sql, 08_generated_functions.sql, 09_track.sql).
-- Besides the four modes of the trigger functions, track() counts distinct values ('distinct'),
-- sums ('sum') and maximums ('max') of an expression, under a condition and, for counters, a
-- transition (previous), and keeps a step whose condition reads another table in step with it
-- (depends_on); and streaks ('streak': the time of each row, at, in the user's calendar,
-- sql/10_streaks/).
--
-- SQLSTATEs: AD101 wrong trigger arguments, AD102 watched column missing, AD103 user column
-- missing, AD104 wrong column type, AD105 transition table missing, AD106 not an AFTER trigger,
-- AD107 bad track() argument, AD108 already tracked differently, AD109 gauge step shared, AD110
-- record_step or undo_step on a gauge of track(), AD111 recount() of a step that is no gauge,
-- AD112 an expression given to track() that is not valid for its table, AD113 a negative value
-- of a sum or max step; AD301-AD303 streaks (sql/10_streaks/).

-- What track() wired: one row per table and step. Counters (count, boolean) count events;
-- every other mode is a gauge, the state of the table's rows now: toggle and toggle_boolean
-- (qualifying rows) and sum add up per row, distinct and max, and any step with depends_on, are
-- recounted for the users a statement touches; a streak step is worked out again for them from
-- the times (at) of their rows, in their time zone or the row's (time_zone).
CREATE TABLE achievements.tracked_steps (
    tbl                    regclass NOT NULL,
    step                   text NOT NULL CHECK (step <> ''),
    column_name            text,
    mode                   text NOT NULL CHECK (mode IN ('count', 'toggle', 'boolean', 'toggle_boolean',
                                                         'distinct', 'sum', 'max', 'streak')),
    user_column            text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    condition              text,
    previous               text,
    value                  text,
    depends_on             regclass,
    depends_on_user_column text,
    at                     text,
    time_zone              text,
    PRIMARY KEY (tbl, step)
);
COMMENT ON TABLE achievements.tracked_steps IS
    'Tables and steps wired by achievements.track(); read it through achievements.tracked(), change it only through track() and untrack().';

-- The kind of a tracked step: 'counter' (count, boolean: events), 'gauge' (toggle,
-- toggle_boolean, sum: a sum over the table's rows, kept by adding each statement's difference),
-- 'recount' (distinct, max, and any step that depends on another table: recounted from the
-- table for the users a statement touches) or 'streak' (worked out again from the times of the
-- rows of the users a statement touches: sql/10_streaks/).
CREATE FUNCTION achievements_private.step_kind(mode text, depends_on regclass)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN mode IN ('count', 'boolean') THEN 'counter'
            WHEN mode = 'streak' THEN 'streak'
            WHEN mode IN ('distinct', 'max') OR depends_on IS NOT NULL THEN 'recount'
            ELSE 'gauge' END;
