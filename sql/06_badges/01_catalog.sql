-- The badge catalog: what can be earned, and by which criterion (a step's tally reaching a
-- threshold, a level reached, the user's other badges or points, or none: granted by a call).
-- Tiers are several badges on one step.

-- Points by rarity: the points of every badge that gives none of its own (points_by_rarity).
-- A rarity without a row is worth 0 points; the catalog ([rarity_points]) writes the rows.
CREATE TABLE achievements.rarity_points (
    rarity text PRIMARY KEY CONSTRAINT rarity_points_rarity_known
               CHECK (rarity IN ('common', 'uncommon', 'rare', 'epic', 'legendary')),
    points int NOT NULL CONSTRAINT rarity_points_points_not_negative CHECK (points >= 0)
);
COMMENT ON TABLE achievements.rarity_points IS
    'Default points per rarity (a rarity without a row: 0): a badge declared without points (points_by_rarity) is worth its rarity''s points, and follows them when they change. Change them with apply_catalog ([rarity_points]).';
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.rarity_points');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.rarity_points');

-- The order of rarities, 1 (common) to 5 (legendary); NULL for anything else. Inlinable.
CREATE FUNCTION achievements_private.rarity_rank(rarity text)
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_position(ARRAY['common', 'uncommon', 'rare', 'epic', 'legendary'], rarity);

CREATE TABLE achievements.badges (
    code             text PRIMARY KEY CONSTRAINT badges_code_not_empty CHECK (code <> ''),
    name             text NOT NULL CONSTRAINT badges_name_not_empty CHECK (name <> ''),
    description      text,
    icon             text,
    category         text,
    -- Left out (NULL): the points of the badge's rarity (points_by_rarity).
    points           int NOT NULL CONSTRAINT badges_points_not_negative CHECK (points >= 0),
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
    -- Badges about badges: at least min_badges badges, or all_badges (every badge), of
    -- badge_category (any category when NULL); or at least min_points points. They count the
    -- badges that are not about badges themselves (09_reactions/03_badges_changed.sql).
    min_badges       int CONSTRAINT badges_min_badges_positive CHECK (min_badges >= 1),
    all_badges       boolean NOT NULL DEFAULT false,
    badge_category   text,
    min_points       int CONSTRAINT badges_min_points_positive CHECK (min_points >= 1),
    -- true: points are the rarity's (achievements.rarity_points), and follow them.
    points_by_rarity boolean NOT NULL DEFAULT false,
    -- The notification of the award: a link, and templates of its title and body (NULL: the
    -- templates of achievements.notification_templates, kind badge).
    link               text,
    notification_title text,
    notification_body  text,
    CONSTRAINT badges_step_and_threshold_together CHECK ((step IS NULL) = (threshold IS NULL)),
    CONSTRAINT badges_one_criterion
        CHECK (num_nonnulls(step, level, min_badges, min_points) + CASE WHEN all_badges THEN 1 ELSE 0 END <= 1),
    CONSTRAINT badges_revocable_needs_criterion
        CHECK (NOT revocable OR step IS NOT NULL OR min_badges IS NOT NULL OR all_badges OR min_points IS NOT NULL),
    CONSTRAINT badges_window_order CHECK (active_until > active_from),
    CONSTRAINT badges_category_of_badge_criteria CHECK (badge_category IS NULL OR min_badges IS NOT NULL OR all_badges)
);
COMMENT ON TABLE achievements.badges IS
    'Badge catalog. Criteria: step + threshold (tally reaches threshold), level (level reached), min_badges / all_badges [of badge_category] or min_points (the user''s other badges), or none (granted by award_badge / claim_badge). active_from/active_until bound a seasonal window.';
COMMENT ON COLUMN achievements.badges.hidden IS 'Secret until earned: application roles see the row only once they hold the badge.';
COMMENT ON COLUMN achievements.badges.client_grantable IS 'The user may grant it to themselves with achievements.claim_badge (e.g. a share button).';
COMMENT ON COLUMN achievements.badges.revocable IS 'Threshold badges and badges about badges: taken back automatically when the tally falls below the threshold, or the badges or points they count fall below what they need.';
COMMENT ON COLUMN achievements.badges.min_badges IS 'Earned on holding at least this many badges (of badge_category, if given) that are not about badges themselves.';
COMMENT ON COLUMN achievements.badges.all_badges IS 'Earned on holding every badge (of badge_category, if given) that is not about badges, as the catalog is at the time.';
COMMENT ON COLUMN achievements.badges.min_points IS 'Earned when the points of the badges the user holds that are not about badges reach this.';
COMMENT ON COLUMN achievements.badges.points_by_rarity IS 'true: the badge is worth the points of its rarity (achievements.rarity_points) and follows them; set when points is left out.';

-- "Which badges does this tally reach?" is asked on every tally change.
CREATE INDEX badges_step_threshold_idx ON achievements.badges (step, threshold) WHERE step IS NOT NULL;
CREATE INDEX badges_level_idx ON achievements.badges (level) WHERE level IS NOT NULL;
-- "Are there badges about badges?" is asked on every change of a user's badges.
CREATE INDEX badges_about_badges_idx ON achievements.badges (code)
    WHERE min_badges IS NOT NULL OR all_badges OR min_points IS NOT NULL;

-- Refuses a bad badge definition with one clear message (SQLSTATE AD202) before the CHECK
-- constraints, which stay as the guarantee, would refuse it with a generic one. Gives a badge
-- without points (NULL) its rarity's points and marks it points_by_rarity; a badge marked so
-- keeps its rarity's points (an UPDATE that sets other points refuses: AD202).
CREATE FUNCTION achievements_private.validate_badge()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    hint    text;
    by_rarity int;
    criteria  int;
BEGIN
    IF NEW.points IS NULL THEN
        NEW.points_by_rarity := true;
    END IF;
    IF NEW.points_by_rarity THEN
        SELECT r.points INTO by_rarity FROM achievements.rarity_points AS r WHERE r.rarity = NEW.rarity;
        IF TG_OP = 'UPDATE' AND OLD.points_by_rarity AND NEW.points IS NOT NULL
           AND NEW.points IS DISTINCT FROM OLD.points AND NEW.points IS DISTINCT FROM coalesce(by_rarity, 0) THEN
            RAISE EXCEPTION 'badge %: its points follow its rarity (points_by_rarity); they cannot be set to %',
                            quote_literal(NEW.code), NEW.points
                USING ERRCODE = 'AD202',
                      HINT = 'Set points_by_rarity = false together with points to give the badge points of its own, or change achievements.rarity_points.';
        END IF;
        NEW.points := coalesce(by_rarity, 0);
    END IF;
    criteria := num_nonnulls(NEW.step, NEW.level, NEW.min_badges, NEW.min_points)
                + CASE WHEN NEW.all_badges THEN 1 ELSE 0 END;
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
    ELSIF criteria > 1 THEN
        problem := 'has more than one criterion (' || concat_ws(', ', CASE WHEN NEW.step IS NOT NULL THEN 'step' END,
                                                             CASE WHEN NEW.level IS NOT NULL THEN 'level' END,
                                                             CASE WHEN NEW.min_badges IS NOT NULL THEN 'min_badges' END,
                                                             CASE WHEN NEW.all_badges THEN 'all_badges' END,
                                                             CASE WHEN NEW.min_points IS NOT NULL THEN 'min_points' END) || ')';
        hint := 'A badge has one criterion: step + threshold, level, min_badges, all_badges, min_points, or none (granted by a call). Make two badges.';
    ELSIF NEW.min_badges < 1 THEN
        problem := format('min_badges must be at least 1 (got %s)', NEW.min_badges);
        hint := 'min_badges = 10 is earned on holding 10 badges (of badge_category, if given).';
    ELSIF NEW.min_points < 1 THEN
        problem := format('min_points must be at least 1 (got %s)', NEW.min_points);
        hint := 'min_points = 1000 is earned when the user''s badges are worth 1000 points.';
    ELSIF NEW.all_badges IS NULL THEN
        problem := 'all_badges must be true or false';
        hint := 'all_badges = true is earned on holding every badge (of badge_category, if given).';
    ELSIF NEW.badge_category IS NOT NULL AND NEW.min_badges IS NULL AND NOT NEW.all_badges THEN
        problem := format('has a badge_category (%s) but neither min_badges nor all_badges', quote_literal(NEW.badge_category));
        hint := 'badge_category narrows min_badges or all_badges to the badges of one category; the badge''s own category is category.';
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
    ELSIF NEW.revocable AND NEW.step IS NULL AND NEW.min_badges IS NULL AND NOT NEW.all_badges AND NEW.min_points IS NULL THEN
        problem := 'is revocable but has no step and threshold';
        hint := 'Only threshold badges and badges about badges are taken back automatically; take any badge back with achievements.revoke_badge().';
    ELSIF NEW.active_until <= NEW.active_from THEN
        problem := format('active_until (%s) must be later than active_from (%s)', NEW.active_until, NEW.active_from);
        hint := 'The badge can be earned from active_from (inclusive) until active_until (exclusive).';
    ELSE
        problem := coalesce(achievements_private.template_problem('link', NEW.link, 'badge'),
                            achievements_private.template_problem('notification_title', NEW.notification_title, 'badge'),
                            achievements_private.template_problem('notification_body', NEW.notification_body, 'badge'));
        hint := 'Badge templates may use ' || achievements_private.template_placeholders('badge') || '.';
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

-- A rarity whose points change (a row written, changed or deleted: 0) moves the points of every
-- badge that follows it (points_by_rarity); the badges' own triggers then take every user's
-- lock and move the holders' scores (05_catalog_changes.sql).
CREATE FUNCTION achievements_private.reprice_rarity()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    of_rarity  text := CASE WHEN TG_OP = 'DELETE' THEN OLD.rarity ELSE NEW.rarity END;
    new_points int := CASE WHEN TG_OP = 'DELETE' THEN 0 ELSE NEW.points END;
BEGIN
    UPDATE achievements.badges AS b SET points = new_points
     WHERE b.rarity = of_rarity AND b.points_by_rarity AND b.points <> new_points;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_reprice_badges
    AFTER INSERT OR UPDATE OR DELETE ON achievements.rarity_points
    FOR EACH ROW EXECUTE FUNCTION achievements_private.reprice_rarity();
