-- Levels are awarded, not only computed: a user gets a row the moment their tallies first meet
-- every requirement of a level, whichever way the steps arrived. Awarded levels are kept: a
-- later undo, or a requirement added later, does not take them away.

CREATE TABLE achievements.user_levels (
    user_id     achievements.user_ref NOT NULL,
    level       text NOT NULL REFERENCES achievements.levels (name) ON DELETE CASCADE ON UPDATE CASCADE,
    achieved_at timestamptz NOT NULL DEFAULT now(),
    -- false: the level's notification failed to be written (redeliver_notifications).
    notified    boolean NOT NULL DEFAULT true,
    -- The transaction that awarded the level (transaction_awards).
    awarded_in  xid8 DEFAULT pg_current_xact_id(),
    PRIMARY KEY (user_id, level)
);
COMMENT ON TABLE achievements.user_levels IS
    'Levels each user has reached, awarded once, at the moment the last requirement was met; kept when a step is undone later.';
COMMENT ON COLUMN achievements.user_levels.notified IS
    'false: the level stands but its notification could not be written; achievements.redeliver_notifications() writes it.';
COMMENT ON COLUMN achievements.user_levels.awarded_in IS
    'The id of the transaction that awarded the level (NULL for levels awarded before 0006): achievements.transaction_awards() reads it.';
CREATE INDEX user_levels_level_idx ON achievements.user_levels (level, achieved_at);
-- The levels of the current transaction (transaction_awards): achieved_at = now().
CREATE INDEX user_levels_achieved_at_idx ON achievements.user_levels USING brin (achieved_at);
CREATE INDEX user_levels_unnotified_idx ON achievements.user_levels (user_id, level) WHERE NOT notified;

ALTER TABLE achievements.user_levels ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_levels FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_levels');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_levels');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_levels');

-- Whether this transaction reads every statement from one snapshot, taken at its first
-- statement (REPEATABLE READ, SERIALIZABLE), rather than from a fresh one per statement.
CREATE FUNCTION achievements_private.snapshot_per_transaction()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted');

-- Takes the transaction-scoped locks under which everything about these users but their tallies
-- changes: their registration, levels, badges and scores (docs/locks.md). Without them, two
-- transactions that each complete one of two requirements would each miss the other's
-- uncommitted tally and neither would award the level. Users are hashed into 256 lock buckets
-- (keys 1..256 of class 1633838659), so a statement over 100,000 users takes at most 256 locks;
-- buckets are locked in key order, so two statements cannot deadlock on them. Two users in one
-- bucket merely wait for each other. Under READ COMMITTED the statements that follow see what
-- the lock's previous holders committed. Under REPEATABLE READ and SERIALIZABLE they would
-- read the older snapshot of the transaction: then it also locks the users' tallies and scores
-- (their points and badges) FOR SHARE, which raises 40001 (the caller retries) when one changed
-- since that snapshot.
CREATE FUNCTION achievements_private.lock_users(user_ids achievements.user_ref[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1633838659, b.bucket)
       FROM (SELECT DISTINCT 1 + (hashtext(u::text) & 255) AS bucket FROM unnest(user_ids) AS u) AS b
      ORDER BY b.bucket;
    IF achievements_private.snapshot_per_transaction() THEN
        PERFORM FROM achievements.user_achievements AS t WHERE t.user_id = ANY (user_ids) FOR SHARE;
        PERFORM FROM achievements.user_scores AS s WHERE s.user_id = ANY (user_ids) FOR SHARE;
    END IF;
END
$$;

-- Takes every user's lock (all 256 buckets, in key order): for what may touch any user, a
-- backfill or a change of the badge catalog.
CREATE FUNCTION achievements_private.lock_all_users()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_advisory_xact_lock(1633838659, bucket) FROM generate_series(1, 256) AS bucket ORDER BY bucket;
$$;

-- Before a catalog row that users' rows point to changes or goes (a level here, a badge in
-- 06_badges/05_catalog_changes.sql), takes every user's lock (lock_all_users). Such a change
-- cascades to the users' rows (user_levels, user_badges, their scores) and an award locks the
-- catalog row it points to: both then take the users first, then the catalog row, and cannot
-- deadlock (docs/locks.md).
CREATE FUNCTION achievements_private.lock_users_for_catalog_change()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM achievements_private.lock_all_users();
    RETURN NULL;
END
$$;

CREATE TRIGGER _050_lock_users
    BEFORE UPDATE OR DELETE ON achievements.levels
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.lock_users_for_catalog_change();
