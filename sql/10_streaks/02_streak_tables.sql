-- What streaks are counted from: the streak steps, the activity recorded by call, the freezes
-- granted, and each user's streak as of the latest activity (the tally of a streak step is its
-- longest streak; the rest is here). All written by the package only, under the lock of the
-- user's tally of the step (docs/locks.md).

-- The steps counted as streaks, with their period and the first day of their weeks (ISO day:
-- 1 Monday ... 7 Sunday). Written by track(mode => 'streak') and define_streak().
CREATE TABLE achievements.streak_steps (
    step       text PRIMARY KEY CHECK (step <> ''),
    period     text NOT NULL CHECK (period IN ('day', 'week')),
    week_start int NOT NULL DEFAULT 1 CHECK (week_start BETWEEN 1 AND 7),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE achievements.streak_steps IS
    'Steps whose tally is the longest run of consecutive active days or weeks. Written by track(mode => ''streak'') and define_streak().';
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.streak_steps');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.streak_steps');

-- Activity recorded by record_step() on a streak step: one row per call, at its time.
CREATE TABLE achievements_private.streak_calls (
    step    text NOT NULL,
    user_id achievements.user_ref NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX streak_calls_user ON achievements_private.streak_calls (user_id, step);
COMMENT ON TABLE achievements_private.streak_calls IS
    'Activity of streak steps recorded by achievements.record_step(): one row per call.';

-- Freezes granted to a user for a streak step (grant_streak_freezes): each covers one missed
-- period of a streak, used when the user is next active in a period that ends after the grant.
CREATE TABLE achievements_private.streak_freezes (
    step       text NOT NULL,
    user_id    achievements.user_ref NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    freezes    int NOT NULL CHECK (freezes > 0)
);
CREATE INDEX streak_freezes_user ON achievements_private.streak_freezes (user_id, step);
COMMENT ON TABLE achievements_private.streak_freezes IS
    'Streak freezes granted by achievements.grant_streak_freezes(), one row per grant.';

-- Each user's streak of a step as of the user's latest active period: the longest run (also the
-- tally), the run that ends at the latest active period (its length and first period), and the
-- freezes the runs used. Whether that run is still alive depends on today: streaks() works it
-- out when read. One row per user with activity.
CREATE TABLE achievements_private.streak_states (
    step         text NOT NULL,
    user_id      achievements.user_ref NOT NULL,
    longest      int NOT NULL CHECK (longest > 0),
    run_length   int NOT NULL CHECK (run_length > 0),
    run_start    date NOT NULL,
    last_period  date NOT NULL,
    freezes_used int NOT NULL DEFAULT 0 CHECK (freezes_used >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, step)
) WITH (fillfactor = 80);
CREATE INDEX streak_states_longest ON achievements_private.streak_states (step, longest DESC, user_id);
CREATE INDEX streak_states_run ON achievements_private.streak_states (step, run_length DESC, user_id);
COMMENT ON TABLE achievements_private.streak_states IS
    'Each user''s streak of a streak step as of the latest active period; the current length is worked out when read (achievements.streaks()).';
