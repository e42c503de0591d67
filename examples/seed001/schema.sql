-- AI University (seed 001: a Flutter + Supabase app where users study lessons of AI providers
-- and answer a quiz per provider): the application's own tables, and nothing else. No trigger,
-- function or column here is written for achievements: the streaks, badges and leaderboards
-- are declared in catalog.toml, which tracks these tables.
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f examples/seed001/schema.sql

-- The providers whose courses the university offers ("correct on ALL providers" means these).
CREATE TABLE public.providers (
    id   text PRIMARY KEY,
    name text NOT NULL
);

-- One row per study session; a day with at least one is a study day (in the user's time zone).
CREATE TABLE public.study_sessions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL,
    provider_id text REFERENCES public.providers (id) ON DELETE SET NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    minutes     int NOT NULL DEFAULT 0 CHECK (minutes >= 0)
);
-- A streak is worked out from the user's sessions: an index on the user column keeps it fast.
CREATE INDEX study_sessions_user_idx ON public.study_sessions (user_id);

-- A user's latest quiz result per provider (the app upserts it: ON CONFLICT (user_id, provider_id)).
CREATE TABLE public.quiz_scores (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      uuid NOT NULL,
    provider_id  text NOT NULL REFERENCES public.providers (id) ON DELETE CASCADE,
    quiz_correct boolean NOT NULL,
    answered_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, provider_id)
);

INSERT INTO public.providers (id, name) VALUES
    ('openai', 'OpenAI'),
    ('anthropic', 'Anthropic'),
    ('google', 'Google DeepMind'),
    ('meta', 'Meta AI'),
    ('mistral', 'Mistral AI');
