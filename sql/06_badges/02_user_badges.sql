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
    -- Highlighted in the community feed by an admin (achievements.set_featured).
    featured   boolean NOT NULL DEFAULT false,
    -- The transaction that awarded the badge (transaction_awards).
    awarded_in xid8 DEFAULT pg_current_xact_id(),
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
-- The community feed reads, per badge of the catalog, its newest public awards (a backward
-- scan). Ascending, so that a backfill's awards, inserted in user_id order, append to their
-- badge's range (PostgreSQL splits pages after monotonically increasing insertions): a
-- descending user_id made a backfill a quarter slower, this a tenth (docs/bench.md).
CREATE INDEX user_badges_feed_idx ON achievements.user_badges (badge, earned_at, user_id) WHERE is_public;
-- Featured awards are few: the feed of featured awards reads them all, newest first.
CREATE INDEX user_badges_featured_idx ON achievements.user_badges (earned_at, user_id, badge)
    WHERE featured AND is_public;
-- Awards whose notification failed (redeliver_notifications). The awards of the current
-- transaction (transaction_awards) are found by earned_at = now() (the BRIN index above) or by
-- user: a b-tree on awarded_in would cost every award an index entry (a fifth of a backfill).
CREATE INDEX user_badges_unnotified_idx ON achievements.user_badges (user_id, badge) WHERE NOT notified;
COMMENT ON COLUMN achievements.user_badges.featured IS
    'Highlighted in achievements.community_feed(); an admin sets it with achievements.set_featured().';
COMMENT ON COLUMN achievements.user_badges.awarded_in IS
    'The id of the transaction that awarded the badge (NULL for badges awarded before 0006): achievements.transaction_awards() reads it.';

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
