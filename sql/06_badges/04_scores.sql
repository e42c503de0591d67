-- Each user's points and badge count, kept in step with user_badges by a statement-level
-- trigger, whichever path wrote the rows; it also moves the counters of 03_counters.sql.

-- Points and badge count per user who holds or held a badge, kept by count_badges().
CREATE TABLE achievements.user_scores (
    user_id    achievements.user_ref PRIMARY KEY,
    points     bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    badges     int NOT NULL DEFAULT 0 CHECK (badges >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Points added (negative: taken) by the latest change: lets the trigger that made it learn
    -- the previous points from RETURNING and move the user in the rank histogram.
    last_change bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE achievements.user_scores IS
    'Per user: the sum of the points of the badges they hold, and how many they hold. Kept up to date by a trigger on user_badges.';
-- The leaderboard reads the top of this index, the badge leaderboard the top of the next.
CREATE INDEX user_scores_rank_idx ON achievements.user_scores (points DESC, user_id) WHERE badges > 0;
CREATE INDEX user_scores_badges_rank_idx ON achievements.user_scores (badges DESC, user_id) WHERE badges > 0;

ALTER TABLE achievements.user_scores ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_scores FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_scores');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_scores');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_scores');

-- Keeps user_scores, the rank histogram and the badge holders in step with one statement's
-- inserted or deleted user_badges rows (transition table changed_badges), whichever path wrote
-- them. Exact under concurrency: scores are upserted (row lock per user, in user_id order, so
-- concurrent statements cannot deadlock on them); counters are appended, never updated. Locks
-- the badges it reads FOR SHARE first, so a concurrent change of their points or a delete waits
-- (see rescore_badge); a badge deleted or renamed meanwhile fails the statement with 40001.
-- A statement that changed no row returns at once; one that changed one row (an award by call,
-- a single write's crossing) takes a path of single-row statements, whose plans are cached:
-- the set-based statement below is costly to start even for one row (docs/bench.md).
-- Then, whichever path wrote the rows (follows_badges): announces the awards
-- (announce_badges) or revocations (announce_revocations; not for a badge deleted from the
-- catalog), and hands the changed rows to badges_changed when the catalog has badges about
-- badges or levels reached by points. Runs under the users' locks that every path writing
-- user_badges holds (docs/locks.md).
CREATE FUNCTION achievements_private.count_badges()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
AS $$
DECLARE
    sign       int := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    pair_users achievements.user_ref[];  -- the statement's first two rows
    pair_codes text[];
    worth      bigint;
    score      bigint;
    codes      text[];
    locked     bigint;
    single     boolean;
    first_id   bigint;
    last_id    bigint;
BEGIN
    -- Statement triggers fire for statements that changed no row (most award attempts).
    SELECT array_agg(c.user_id), array_agg(c.badge) INTO pair_users, pair_codes
      FROM (SELECT c.user_id, c.badge FROM changed_badges AS c LIMIT 2) AS c;
    IF pair_users IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(pair_users) = 1 THEN
        -- One row: the same steps as below, one row each.
        SELECT b.points::bigint INTO worth FROM achievements.badges AS b WHERE b.code = pair_codes[1] FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'a badge being awarded or revoked was deleted or renamed by a concurrent transaction'
                USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
        END IF;
        IF sign > 0 THEN
            INSERT INTO achievements.user_scores AS s (user_id, points, badges, last_change)
            VALUES (pair_users[1], worth, 1, worth)
            ON CONFLICT (user_id) DO UPDATE
               SET points = s.points + excluded.points, badges = s.badges + 1,
                   last_change = excluded.points, updated_at = now()
            RETURNING s.points INTO score;
        ELSE
            UPDATE achievements.user_scores AS s
               SET points = s.points - worth, badges = s.badges - 1, last_change = -worth, updated_at = now()
             WHERE s.user_id = pair_users[1]
            RETURNING s.points INTO score;
        END IF;
        IF worth <> 0 THEN
            WITH moved AS (
                INSERT INTO achievements_private.points_histogram (points, users)
                SELECT m.points, m.users
                  FROM (VALUES (score - sign * worth, -1), (score, 1)) AS m(points, users)
                 WHERE m.points > 0
                RETURNING id
            )
            SELECT min(id) INTO first_id FROM moved;
        END IF;
        INSERT INTO achievements_private.badge_holders (badge, holders) VALUES (pair_codes[1], sign)
        RETURNING id INTO last_id;
        PERFORM achievements_private.maybe_compact(coalesce(first_id, last_id), last_id);
        PERFORM achievements_private.follows_badges(pair_users, pair_codes, sign);
        RETURN NULL;
    END IF;
    -- Transition tables carry no statistics (the planner may assume one row), so nothing below
    -- joins two of them: the previous points come back from the upsert (last_change).
    -- The badges of the statement are locked FOR SHARE (a concurrent points change or delete
    -- waits for this transaction); one that vanished meanwhile fails the statement.
    codes := ARRAY(SELECT DISTINCT c.badge FROM changed_badges AS c);
    single := cardinality(codes) = 1;
    SELECT count(*) INTO locked
      FROM (SELECT b.code
              FROM achievements.badges AS b
             WHERE b.code = ANY (codes)
             ORDER BY b.code
               FOR SHARE) AS l;
    IF locked < cardinality(codes) THEN
        RAISE EXCEPTION 'a badge being awarded or revoked was deleted or renamed by a concurrent transaction'
            USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
    END IF;
    -- Lock order everywhere: badges, then scores in user_id order.
    IF sign < 0 THEN
        PERFORM 1 FROM achievements.user_scores AS s
         WHERE s.user_id IN (SELECT c.user_id FROM changed_badges AS c)
         ORDER BY s.user_id
           FOR UPDATE;
    END IF;
    WITH worth AS (
        SELECT b.code, b.points FROM achievements.badges AS b WHERE b.code = ANY (codes)
    ), per_user AS (
        -- worth has a handful of rows: a nested loop over it costs rows x badges at most.
        -- A statement of one badge (a backfill, most awards) has one row per user already.
        SELECT c.user_id, sign * w.points::bigint AS points, sign AS badges
          FROM changed_badges AS c
          JOIN worth AS w ON w.code = c.badge
         WHERE single
        UNION ALL
        SELECT c.user_id, sign * sum(w.points) AS points, sign * count(*)::int AS badges
          FROM changed_badges AS c
          JOIN worth AS w ON w.code = c.badge
         WHERE NOT single
         GROUP BY c.user_id
    ), inserted AS (
        INSERT INTO achievements.user_scores AS s (user_id, points, badges, last_change)
        SELECT p.user_id, p.points, p.badges, p.points FROM per_user AS p WHERE sign > 0 ORDER BY p.user_id
        ON CONFLICT (user_id) DO UPDATE
           SET points = s.points + excluded.points, badges = s.badges + excluded.badges,
               last_change = excluded.points, updated_at = now()
        RETURNING s.points, s.last_change
    ), deleted AS (
        -- A deleted badge was counted when it was inserted, so the row exists (and is locked
        -- in user_id order by the statement before this one).
        UPDATE achievements.user_scores AS s
           SET points = s.points + p.points, badges = s.badges + p.badges,
               last_change = p.points, updated_at = now()
          FROM per_user AS p
         WHERE sign < 0 AND s.user_id = p.user_id
        RETURNING s.points, s.last_change
    ), histogram AS (
        -- Users who moved from points - last_change to points: grouped by the move first
        -- (few groups), then by points value.
        INSERT INTO achievements_private.points_histogram (points, users)
        SELECT m.points, sum(m.users)
          FROM (SELECT u.points, u.last_change, count(*) AS n
                  FROM (SELECT * FROM inserted UNION ALL SELECT * FROM deleted) AS u
                 GROUP BY u.points, u.last_change) AS g
         CROSS JOIN LATERAL (VALUES (g.points - g.last_change, -g.n), (g.points, g.n)) AS m(points, users)
         WHERE m.points > 0
         GROUP BY m.points
        HAVING sum(m.users) <> 0
        RETURNING id
    ), holders AS (
        INSERT INTO achievements_private.badge_holders (badge, holders)
        SELECT c.badge, sign * count(*) FROM changed_badges AS c WHERE NOT single GROUP BY c.badge
        UNION ALL
        SELECT codes[1], sign * (SELECT count(*) FROM changed_badges) WHERE single
        RETURNING id
    )
    SELECT min(id), max(id) INTO first_id, last_id
      FROM (SELECT id FROM histogram UNION ALL SELECT id FROM holders) AS ids;
    IF last_id IS NOT NULL THEN
        PERFORM achievements_private.maybe_compact(first_id, last_id);
    END IF;
    -- A silent statement (a backfill) of a catalog without followers needs no list of its rows.
    IF NOT (achievements_private.quiet() AND sign > 0) OR achievements_private.badges_have_followers() THEN
        SELECT array_agg(c.user_id ORDER BY c.user_id, c.badge), array_agg(c.badge ORDER BY c.user_id, c.badge)
          INTO pair_users, pair_codes
          FROM changed_badges AS c;
        PERFORM achievements_private.follows_badges(pair_users, pair_codes, sign);
    END IF;
    RETURN NULL;
END
$$;

-- What follows one statement's awarded (sign 1) or revoked (sign -1) badges, given as one
-- element per row: their notifications (announce_badges, announce_revocations; none when
-- achievements.quiet is on, nor for the badge being deleted from the catalog), then
-- badges_changed when the catalog has badges about badges or levels reached by points.
-- Called by count_badges only, under the users' locks. No SET search_path (every name in it is
-- qualified or pg_catalog's): count_badges pins it, and saving and restoring the setting would
-- cost every award.
CREATE FUNCTION achievements_private.follows_badges(user_ids achievements.user_ref[], codes text[], sign int)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF sign > 0 THEN
        PERFORM achievements_private.announce_badges(user_ids, codes);
    ELSIF coalesce(current_setting('achievements.deleting_badge', true), '') = '' THEN
        PERFORM achievements_private.announce_revocations(user_ids, codes);
    ELSIF NOT current_setting('achievements.deleting_badge', true) = ALL (codes) THEN
        -- What a deleted badge takes with it (a badge about badges) is announced; itself not.
        PERFORM achievements_private.announce_revocations(
            ARRAY(SELECT c.user_id FROM unnest(user_ids, codes) AS c(user_id, code)
                   WHERE c.code <> current_setting('achievements.deleting_badge', true)),
            ARRAY(SELECT c.code FROM unnest(user_ids, codes) AS c(user_id, code)
                   WHERE c.code <> current_setting('achievements.deleting_badge', true)));
    END IF;
    IF achievements_private.badges_have_followers() THEN
        PERFORM achievements_private.badges_changed(user_ids, codes, sign);
    END IF;
END
$$;

-- Whether anything follows a change of a user's badges besides their score: a badge about
-- badges (min_badges, all_badges, min_points) or a level reached by points. Two probes of
-- partial indexes of the catalog. Inlinable (no SET clause): its callers' cached plans hold it.
CREATE FUNCTION achievements_private.badges_have_followers()
RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM achievements.badges AS b
                WHERE b.min_badges IS NOT NULL OR b.all_badges OR b.min_points IS NOT NULL)
    OR EXISTS (SELECT 1 FROM achievements.levels AS l WHERE l.min_points IS NOT NULL);

CREATE TRIGGER _100_count_badges_on_insert
    AFTER INSERT ON achievements.user_badges
    REFERENCING NEW TABLE AS changed_badges
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.count_badges();
CREATE TRIGGER _100_count_badges_on_delete
    AFTER DELETE ON achievements.user_badges
    REFERENCING OLD TABLE AS changed_badges
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.count_badges();
