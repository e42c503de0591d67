-- Tracking: steps counted straight from the application's own tables.
--
-- Four public trigger functions watch one column of a host table (05_trigger_functions.sql):
--   tg_achievement                 counter: +1 each time the column is set to a non-NULL value
--   tg_achievement_toggle          gauge:   the user's rows whose column is non-NULL
--   tg_achievement_boolean         counter: +1 each time the column becomes TRUE
--   tg_achievement_toggle_boolean  gauge:   the user's rows whose column is TRUE
-- achievements.track() records each table and step here, and wires the table with
-- statement-level triggers that run one counting function generated for all of the table's
-- steps (06_generated_functions.sql, 07_track.sql).
--
-- SQLSTATEs: AD101 wrong trigger arguments, AD102 watched column missing, AD103 user column
-- missing, AD104 wrong column type, AD105 transition table missing, AD106 not an AFTER trigger,
-- AD107 bad track() argument, AD108 already tracked differently, AD109 gauge step shared, AD110
-- record_step or undo_step on a gauge of track(), AD111 recount() of a step that is no gauge.

-- What track() wired: one row per table and step.
CREATE TABLE achievements.tracked_steps (
    tbl           regclass NOT NULL,
    step          text NOT NULL CHECK (step <> ''),
    column_name   text NOT NULL,
    mode          text NOT NULL CHECK (mode IN ('count', 'toggle', 'boolean', 'toggle_boolean')),
    user_column   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, step)
);
COMMENT ON TABLE achievements.tracked_steps IS
    'Tables and steps wired by achievements.track(); read it through achievements.tracked(), change it only through track() and untrack().';
