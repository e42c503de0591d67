-- The badge catalog: what can be earned, and by which criterion (a step's tally reaching a
-- threshold, a level reached, or none: granted by a call). Tiers are several badges on one step.

CREATE TABLE achievements.badges (
    code             text PRIMARY KEY CONSTRAINT badges_code_not_empty CHECK (code <> ''),
    name             text NOT NULL CONSTRAINT badges_name_not_empty CHECK (name <> ''),
    description      text,
    icon             text,
    category         text,
    points           int NOT NULL DEFAULT 0 CONSTRAINT badges_points_not_negative CHECK (points >= 0),
    rarity           text NOT NULL DEFAULT 'common' CONSTRAINT badges_rarity_known
                         CHECK (rarity IN ('common', 'uncommon', 'rare', 'epic', 'legendary')),
    hidden           boolean NOT NULL DEFAULT false,
    step             text CONSTRAINT badges_step_of_1_to_200_characters CHECK (char_length(step) BETWEEN 1 AND 200),
    threshold        int CONSTRAINT badges_threshold_positive CHECK (threshold >= 1),
    level            text CONSTRAINT badges_level_known REFERENCES achievements.levels (name)
                         ON UPDATE CASCADE ON DELETE RESTRICT,
    client_grantable boolean NOT NULL DEFAULT false,
    revocable        boolean NOT NULL DEFAULT false,
    active_from      timestamptz,
    active_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT badges_step_and_threshold_together CHECK ((step IS NULL) = (threshold IS NULL)),
    CONSTRAINT badges_one_criterion CHECK (step IS NULL OR level IS NULL),
    CONSTRAINT badges_revocable_needs_threshold CHECK (NOT revocable OR step IS NOT NULL),
    CONSTRAINT badges_window_order CHECK (active_until > active_from)
);
COMMENT ON TABLE achievements.badges IS
    'Badge catalog. Criteria: step + threshold (tally reaches threshold), level (level reached), or none (granted by award_badge / claim_badge). active_from/active_until bound a seasonal window.';
COMMENT ON COLUMN achievements.badges.hidden IS 'Secret until earned: application roles see the row only once they hold the badge.';
COMMENT ON COLUMN achievements.badges.client_grantable IS 'The user may grant it to themselves with achievements.claim_badge (e.g. a share button).';
COMMENT ON COLUMN achievements.badges.revocable IS 'Threshold badges only: taken back automatically when the tally falls below the threshold.';

-- "Which badges does this tally reach?" is asked on every tally change.
CREATE INDEX badges_step_threshold_idx ON achievements.badges (step, threshold) WHERE step IS NOT NULL;
CREATE INDEX badges_level_idx ON achievements.badges (level) WHERE level IS NOT NULL;

-- Refuses a bad badge definition with one clear message (SQLSTATE AD202) before the CHECK
-- constraints, which stay as the guarantee, would refuse it with a generic one.
CREATE FUNCTION achievements_private.validate_badge()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    hint    text;
BEGIN
    IF coalesce(NEW.code, '') = '' THEN
        problem := 'code must be a non-empty text';
        hint := 'Give every badge a stable code such as ''first_song''.';
    ELSIF coalesce(NEW.name, '') = '' THEN
        problem := 'name must be a non-empty text';
        hint := 'Give the badge the name users see, e.g. ''First song''.';
    ELSIF NEW.points IS NULL OR NEW.points < 0 THEN
        problem := format('points must be 0 or more (got %s)', coalesce(NEW.points::text, 'NULL'));
        hint := 'Use 0 for a badge that is worth no points.';
    ELSIF NEW.rarity IS NULL OR NEW.rarity NOT IN ('common', 'uncommon', 'rare', 'epic', 'legendary') THEN
        problem := format('unknown rarity %s', coalesce(quote_literal(NEW.rarity), 'NULL'));
        hint := 'Use one of common, uncommon, rare, epic, legendary.';
    ELSIF NEW.step IS NOT NULL AND NEW.level IS NOT NULL THEN
        problem := format('has both a step (%s) and a level (%s)', quote_literal(NEW.step), quote_literal(NEW.level));
        hint := 'A badge has one criterion: step + threshold, or level, or none (granted by a call). Make two badges.';
    ELSIF char_length(NEW.step) NOT BETWEEN 1 AND 200 THEN
        problem := 'step must be a name of 1 to 200 characters';
        hint := 'Use the step name recorded in achievements.user_steps, or leave step NULL.';
    ELSIF NEW.threshold IS NOT NULL AND NEW.step IS NULL THEN
        problem := format('has a threshold (%s) but no step', NEW.threshold);
        hint := 'Set step to the step whose tally must reach the threshold, or leave threshold NULL.';
    ELSIF NEW.step IS NOT NULL AND NEW.threshold IS NULL THEN
        problem := format('has a step (%s) but no threshold', quote_literal(NEW.step));
        hint := 'Set threshold to the tally that earns the badge, e.g. 10.';
    ELSIF NEW.threshold < 1 THEN
        problem := format('threshold must be at least 1 (got %s)', NEW.threshold);
        hint := 'A badge for the first step has threshold 1.';
    ELSIF NEW.level IS NOT NULL AND NOT EXISTS (SELECT 1 FROM achievements.levels AS l WHERE l.name = NEW.level) THEN
        problem := format('unknown level %s', quote_literal(NEW.level));
        hint := 'Create the level first (achievements.levels), or fix its name: SELECT name FROM achievements.levels.';
    ELSIF NEW.revocable AND NEW.step IS NULL THEN
        problem := 'is revocable but has no step and threshold';
        hint := 'Only threshold badges are taken back automatically; take any badge back with achievements.revoke_badge().';
    ELSIF NEW.active_until <= NEW.active_from THEN
        problem := format('active_until (%s) must be later than active_from (%s)', NEW.active_until, NEW.active_from);
        hint := 'The badge can be earned from active_from (inclusive) until active_until (exclusive).';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'badge %: %', coalesce(quote_literal(NEW.code), 'NULL'), problem
            USING ERRCODE = 'AD202', HINT = hint;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER _000_validate
    BEFORE INSERT OR UPDATE ON achievements.badges
    FOR EACH ROW EXECUTE FUNCTION achievements_private.validate_badge();

ALTER TABLE achievements.badges ENABLE ROW LEVEL SECURITY;
SELECT achievements_private.create_service_policy('achievements.badges');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.badges');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.badges');
-- Its policy for application roles, visible (hidden badges only for their holders), reads
-- user_badges and is created with it: 02_user_badges.sql.
