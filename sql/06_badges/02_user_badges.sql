-- The badges users hold: one row per user and badge, written only by the package's functions
-- and triggers (awards insert, revocations delete; 04_scores.sql keeps points and counters).

CREATE TABLE achievements.user_badges (
    user_id   achievements.user_ref NOT NULL,
    -- A badge of achievements.badges: kept by triggers rather than a foreign key, whose per-row
    -- check would double the cost of a backfill. Awards lock the badges they insert (FOR SHARE,
    -- count_badges), deleting a badge deletes its rows first (unaward_deleted_badge) and a new
    -- code is carried over (rename_badge).
    badge     text NOT NULL,
    earned_at timestamptz NOT NULL DEFAULT now(),
    notified  boolean NOT NULL DEFAULT false,
    is_public boolean NOT NULL DEFAULT true,
    PRIMARY KEY (user_id, badge)
);
COMMENT ON TABLE achievements.user_badges IS
    'Badges each user holds, one row per user and badge. Written only by achievements-db functions and triggers.';
COMMENT ON COLUMN achievements.user_badges.notified IS
    'true: the award is announced in achievements.notifications, or was awarded silently on purpose (backfill, achievements.quiet); false: no notification was written for it.';
COMMENT ON COLUMN achievements.user_badges.is_public IS
    'Whether others may see this badge in achievements.public_badges(); the user changes it with achievements.set_badge_public().';
-- leaderboard(since => ...) and user_rank(since => ...) read badges earned in a window. Rows
-- arrive in earned_at order, so a BRIN index finds a window at almost no cost per insert.
CREATE INDEX user_badges_earned_at_idx ON achievements.user_badges USING brin (earned_at);

ALTER TABLE achievements.user_badges ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_badges FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_badges');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_badges');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_badges');

-- The catalog as application roles see it: a hidden badge only once they hold it.
CREATE POLICY visible ON achievements.badges FOR SELECT
    USING (NOT hidden OR EXISTS (SELECT 1 FROM achievements.user_badges AS ub
                                  WHERE ub.badge = code AND ub.user_id = (SELECT achievements.current_user_id())));
