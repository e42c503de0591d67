-- 0006 badges: the badge catalog, the badges users hold, the notification outbox, and every
-- way a badge is awarded (a call, a claim, a tally reaching a threshold, a level reached, a
-- backfill) or taken back (a call, a revocable tally falling below its threshold).
--
-- Bookkeeping that reads must not recount follows user_badges itself: a statement-level
-- trigger on every INSERT and DELETE keeps each user's points and badge count
-- (achievements.user_scores), the number of users at each points value (the rank histogram)
-- and the holders of each badge. Counters that many transactions change at once are
-- append-only delta rows (no row is updated, so no writer waits for another), folded from time
-- to time by compact_counters().
--
-- Notifications: every new badge and level writes a row to achievements.notifications in the
-- same transaction and queues pg_notify('achievements', '{"id":..,"user_id":..,"kind":..}'),
-- delivered at commit. Writing them never undoes the award (see announce_badges).
-- Setting achievements.quiet = on (SET LOCAL achievements.quiet = on; backfills do it for
-- themselves) awards silently: no outbox row, no pg_notify.

-- ---------------------------------------------------------------------------------------------
-- Catalog
-- ---------------------------------------------------------------------------------------------

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
    step             text CONSTRAINT badges_step_not_empty CHECK (step <> ''),
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
    ELSIF NEW.step = '' THEN
        problem := 'step must be a non-empty name';
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

-- ---------------------------------------------------------------------------------------------
-- Badges held, scores, outbox
-- ---------------------------------------------------------------------------------------------

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
-- The leaderboard reads the top of this index.
CREATE INDEX user_scores_rank_idx ON achievements.user_scores (points DESC, user_id) WHERE badges > 0;

CREATE TABLE achievements.notifications (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    achievements.user_ref NOT NULL,
    kind       text NOT NULL CHECK (kind <> ''),
    title      text NOT NULL,
    body       text,
    link       text,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
COMMENT ON TABLE achievements.notifications IS
    'Outbox: one row per new badge (kind badge, data.badge) or level (kind level, data.level), written in the awarding transaction; pg_notify(''achievements'', {id, user_id, kind, badge|level}) fires at commit.';
CREATE INDEX notifications_user_idx ON achievements.notifications (user_id, id);
CREATE INDEX notifications_unread_idx ON achievements.notifications (user_id) WHERE read_at IS NULL;

-- Append-only counters: each row is a change; the value is the sum. Ids from one sequence so
-- that one check decides when to compact all of them.
CREATE SEQUENCE achievements_private.counter_delta_id;

CREATE TABLE achievements_private.points_histogram (
    id     bigint PRIMARY KEY DEFAULT nextval('achievements_private.counter_delta_id'),
    points bigint NOT NULL CHECK (points > 0),
    users  bigint NOT NULL
);
COMMENT ON TABLE achievements_private.points_histogram IS
    'Number of users at each points value above 0, as delta rows: users at p = sum(users) WHERE points = p.';
CREATE INDEX points_histogram_points_idx ON achievements_private.points_histogram (points) INCLUDE (users);

CREATE TABLE achievements_private.badge_holders (
    id      bigint PRIMARY KEY DEFAULT nextval('achievements_private.counter_delta_id'),
    badge   text NOT NULL REFERENCES achievements.badges (code) ON UPDATE CASCADE ON DELETE CASCADE,
    holders bigint NOT NULL
);
COMMENT ON TABLE achievements_private.badge_holders IS
    'Holders per badge, as delta rows: holders of b = sum(holders) WHERE badge = b.';
CREATE INDEX badge_holders_badge_idx ON achievements_private.badge_holders (badge) INCLUDE (holders);

-- Every user with a tally or a badge awarded by call, once: badge_stats divides by their
-- number. Users are never removed from it.
CREATE TABLE achievements_private.known_users (
    user_id achievements.user_ref PRIMARY KEY
);
CREATE TABLE achievements_private.known_user_count (
    id    bigint PRIMARY KEY DEFAULT nextval('achievements_private.counter_delta_id'),
    users bigint NOT NULL
);
COMMENT ON TABLE achievements_private.known_user_count IS
    'Number of rows of known_users, as delta rows: sum(users).';

-- Folds the delta rows of every counter into one row per key. Exact under concurrency: it
-- deletes only rows its snapshot sees and re-inserts their sum in the same statement; rows of
-- transactions still running are left alone. One compaction at a time (transaction-scoped
-- advisory lock 1633838660/1): with wait = false it returns -1 at once when another one runs,
-- or when the transaction is not READ COMMITTED (where a concurrent fold could make it fail).
-- Returns the number of delta rows removed.
CREATE FUNCTION achievements_private.compact_counters(wait boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed bigint := 0;
    n       bigint;
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(1633838660, 1);
    ELSIF current_setting('transaction_isolation') <> 'read committed'
          OR NOT pg_try_advisory_xact_lock(1633838660, 1) THEN
        RETURN -1;
    END IF;
    WITH gone AS (DELETE FROM achievements_private.points_histogram RETURNING points, users),
         kept AS (INSERT INTO achievements_private.points_histogram (points, users)
                  SELECT points, sum(users) FROM gone GROUP BY points HAVING sum(users) <> 0)
    SELECT count(*) INTO n FROM gone;
    removed := removed + n;
    WITH gone AS (DELETE FROM achievements_private.badge_holders RETURNING badge, holders),
         kept AS (INSERT INTO achievements_private.badge_holders (badge, holders)
                  SELECT badge, sum(holders) FROM gone GROUP BY badge HAVING sum(holders) <> 0)
    SELECT count(*) INTO n FROM gone;
    removed := removed + n;
    WITH gone AS (DELETE FROM achievements_private.known_user_count RETURNING users),
         kept AS (INSERT INTO achievements_private.known_user_count (users)
                  SELECT sum(users) FROM gone HAVING sum(users) <> 0)
    SELECT count(*) INTO n FROM gone;
    RETURN removed + n;
END
$$;

-- Compacts the counters when delta ids first_id..last_id crossed a multiple of 1000, i.e.
-- about once per 1000 delta rows; never waits (see compact_counters).
CREATE FUNCTION achievements_private.maybe_compact(first_id bigint, last_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF last_id / 1000 > (first_id - 1) / 1000 THEN
        PERFORM achievements_private.compact_counters(false);
    END IF;
END
$$;

-- Folds the counter delta rows now (waits for a compaction in progress). Not needed for
-- correctness: writers compact about every 1000 changes. Run it after a big import if you like.
CREATE FUNCTION achievements.compact_counters()
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN achievements_private.compact_counters(true);
COMMENT ON FUNCTION achievements.compact_counters() IS
    'Folds the append-only counter rows (rank histogram, badge holders, user count); returns how many delta rows it removed. Optional maintenance.';

-- Keeps user_scores, the rank histogram and the badge holders in step with one statement's
-- inserted or deleted user_badges rows (transition table changed_badges), whichever path wrote
-- them. Exact under concurrency: scores are upserted (row lock per user, in user_id order, so
-- concurrent statements cannot deadlock on them); counters are appended, never updated. Locks
-- the badges it reads FOR SHARE first, so a concurrent change of their points or a delete waits
-- (see rescore_badge); a badge deleted or renamed meanwhile fails the statement with 40001.
-- A statement that changed no row returns at once; one that changed one row (an award by call,
-- a single write's crossing) takes a path of single-row statements, whose plans are cached:
-- the set-based statement below costs about 100 us to start even for one row.
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
        SELECT b.points INTO worth FROM achievements.badges AS b WHERE b.code = pair_codes[1] FOR SHARE;
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
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_count_badges_on_insert
    AFTER INSERT ON achievements.user_badges
    REFERENCING NEW TABLE AS changed_badges
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.count_badges();
CREATE TRIGGER _100_count_badges_on_delete
    AFTER DELETE ON achievements.user_badges
    REFERENCING OLD TABLE AS changed_badges
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.count_badges();

-- Deleting a badge takes it from its holders first, while its points are still known, so that
-- their scores drop; the foreign keys then remove its counters.
CREATE FUNCTION achievements_private.unaward_deleted_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM achievements.user_badges AS ub WHERE ub.badge = OLD.code;
    RETURN OLD;
END
$$;

CREATE TRIGGER _100_unaward_on_delete
    BEFORE DELETE ON achievements.badges
    FOR EACH ROW EXECUTE FUNCTION achievements_private.unaward_deleted_badge();

-- A badge whose code changes keeps its holders: their rows follow the new code.
CREATE FUNCTION achievements_private.rename_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE achievements.user_badges AS ub SET badge = NEW.code WHERE ub.badge = OLD.code;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_rename_on_code_change
    AFTER UPDATE OF code ON achievements.badges
    FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code)
    EXECUTE FUNCTION achievements_private.rename_badge();

-- A badge whose points change moves every holder's score by the difference (set-based; takes
-- the score row locks of all holders, so run catalog changes outside peak hours).
CREATE FUNCTION achievements_private.rescore_badge()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    delta bigint := NEW.points - OLD.points;
BEGIN
    WITH scored AS (
        UPDATE achievements.user_scores AS s
           SET points = s.points + delta, last_change = delta, updated_at = now()
          FROM achievements.user_badges AS ub
         WHERE ub.badge IN (OLD.code, NEW.code) AND s.user_id = ub.user_id
        RETURNING s.points
    ), moves AS (
        SELECT s.points - delta AS points, -1 AS users FROM scored AS s WHERE s.points - delta > 0
        UNION ALL
        SELECT s.points, 1 FROM scored AS s WHERE s.points > 0
    )
    INSERT INTO achievements_private.points_histogram (points, users)
    SELECT m.points, sum(m.users) FROM moves AS m GROUP BY m.points HAVING sum(m.users) <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_rescore_on_points_change
    AFTER UPDATE OF points ON achievements.badges
    FOR EACH ROW WHEN (OLD.points IS DISTINCT FROM NEW.points)
    EXECUTE FUNCTION achievements_private.rescore_badge();

-- ---------------------------------------------------------------------------------------------
-- Announcing: outbox rows and pg_notify
-- ---------------------------------------------------------------------------------------------

-- Whether awards are silent in this transaction: SET LOCAL achievements.quiet = on.
-- No SET search_path: it would stop the planner from inlining this into every award query,
-- and it is not SECURITY DEFINER; its body uses only pg_catalog functions.
CREATE FUNCTION achievements_private.quiet()
RETURNS boolean
LANGUAGE sql STABLE
RETURN lower(coalesce(current_setting('achievements.quiet', true), '')) IN ('on', 'true', 'yes', '1');

-- Queues pg_notify('achievements', {"id", "user_id", "kind", "badge"|"level"}) for every row a
-- statement writes into the outbox, in id order, delivered at commit; the payload comes from the
-- statement's transition table, so the rows are not read back. Skips it (the outbox rows stay;
-- listeners catch up by reading them) when the NOTIFY queue is more than half full, because a
-- full queue makes COMMIT itself fail. An error here fails the insert, which the announcing
-- functions below catch.
CREATE FUNCTION achievements_private.publish()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_notification_queue_usage() > 0.5 THEN
        RAISE WARNING 'achievements: NOTIFY queue is % full; % notification(s) stay in achievements.notifications without pg_notify',
                      round(pg_notification_queue_usage() * 100) || '%', (SELECT count(*) FROM written);
        RETURN NULL;
    END IF;
    PERFORM pg_notify('achievements',
                      (jsonb_build_object('id', n.id, 'user_id', n.user_id, 'kind', n.kind)
                       || jsonb_strip_nulls(jsonb_build_object('badge', n.data -> 'badge', 'level', n.data -> 'level'))
                      )::text)
       FROM written AS n
      ORDER BY n.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_publish
    AFTER INSERT ON achievements.notifications
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.publish();

-- Writes one 'badge' outbox row per newly awarded (user, badge) pair (published by the trigger
-- above), unless achievements.quiet is on. Never raises: any failure (e.g. a notification too
-- long for pg_notify) becomes a WARNING, marks those awards notified = false, and the awards
-- stand.
CREATE FUNCTION achievements_private.announce_badges(user_ids achievements.user_ref[], codes text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, data)
        SELECT a.user_id, 'badge', 'Badge earned: ' || b.name, b.description,
               jsonb_build_object('badge', b.code, 'name', b.name, 'points', b.points,
                                  'rarity', b.rarity, 'icon', b.icon, 'category', b.category)
          FROM unnest(user_ids, codes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements.badges AS b ON b.code = a.badge
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % badge award(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
        UPDATE achievements.user_badges AS ub SET notified = false
          FROM unnest(user_ids, codes) AS a(user_id, badge)
         WHERE ub.user_id = a.user_id AND ub.badge = a.badge;
    END;
END
$$;

-- Writes one 'level' outbox row per newly reached (user, level) (published by the trigger
-- above), unless achievements.quiet is on. Never raises (a failure becomes a WARNING; the
-- levels stand).
CREATE FUNCTION achievements_private.announce_levels(user_ids achievements.user_ref[], levels text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, data)
        SELECT a.user_id, 'level', 'Level reached: ' || l.name, l.description,
               jsonb_build_object('level', l.name)
          FROM unnest(user_ids, levels) WITH ORDINALITY AS a(user_id, level, ord)
          JOIN achievements.levels AS l ON l.name = a.level
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % level(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
    END;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Automatic awarding
-- ---------------------------------------------------------------------------------------------

-- Registers users for badge_stats (known_users, once each: the primary key makes a concurrent
-- registration of the same user wait and then do nothing) and counts the newcomers.
CREATE FUNCTION achievements_private.register_users(user_ids achievements.user_ref[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    newcomers bigint;
    delta_id  bigint;
BEGIN
    WITH registered AS (
        INSERT INTO achievements_private.known_users (user_id)
        SELECT u FROM unnest(user_ids) AS u ORDER BY 1
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO newcomers FROM registered;
    IF newcomers > 0 THEN
        INSERT INTO achievements_private.known_user_count (users) VALUES (newcomers) RETURNING id INTO delta_id;
        PERFORM achievements_private.maybe_compact(delta_id, delta_id);
    END IF;
END
$$;

-- Whether the badge can be earned at this moment (inside its seasonal window, if any).
-- Inlinable (no SET clause, not SECURITY DEFINER); uses only pg_catalog's now().
CREATE FUNCTION achievements._badge_active(active_from timestamptz, active_until timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
RETURN (active_from IS NULL OR active_from <= now()) AND (active_until IS NULL OR now() < active_until);

-- Changed tallies (the arrays of tallies_changed: user, step, count before and after): registers
-- the users of tallies that start from 0 for badge_stats, takes back the revocable badges whose
-- threshold a tally fell below, and awards the active threshold badges a tally rose to
-- (count before < threshold <= count after). Idempotent (primary key + ON CONFLICT DO NOTHING);
-- the tally row lock of the statement that changed the tally orders concurrent changes of one
-- tally, so each crossing is seen exactly once. A badge revoked by hand is not given back until
-- the tally crosses its threshold again. tallies_changed calls it only when a tally starts or
-- crosses a requirement or threshold.
-- No SET search_path, and generic plans, for the reasons given at award_levels (0004).
CREATE FUNCTION achievements_private.award_badges(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    fallen boolean;
    risen  boolean;
    users  achievements.user_ref[];
    codes  text[];
BEGIN
    IF 0 = ANY (old_counts) THEN
        PERFORM achievements_private.register_users(
            ARRAY(SELECT DISTINCT c.user_id FROM unnest(user_ids, old_counts) AS c(user_id, old_count)
                   WHERE c.old_count = 0));
    END IF;
    -- Whether a tally fell below a revocable badge's threshold, or rose to any badge's.
    SELECT coalesce(bool_or(c.new_count < c.old_count), false), coalesce(bool_or(c.new_count > c.old_count), false)
      INTO fallen, risen
      FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
     WHERE EXISTS (SELECT 1 FROM achievements.badges AS b
                    WHERE b.step = c.name
                      AND b.threshold > least(c.old_count, c.new_count)
                      AND b.threshold <= greatest(c.old_count, c.new_count)
                      AND (b.revocable OR c.new_count > c.old_count));
    IF fallen THEN
        DELETE FROM achievements.user_badges AS ub
         USING unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count),
               achievements.badges AS b
         WHERE b.step = c.name AND b.threshold > c.new_count AND b.threshold <= c.old_count
           AND b.revocable
           AND ub.user_id = c.user_id AND ub.badge = b.code;
    END IF;
    IF NOT risen THEN
        RETURN;
    END IF;

    WITH awarded AS (
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT c.user_id, b.code, true
          FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
          JOIN achievements.badges AS b
            ON b.step = c.name AND b.threshold <= c.new_count AND b.threshold > c.old_count
         WHERE achievements._badge_active(b.active_from, b.active_until)
         ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        RETURNING user_id, badge
    )
    SELECT array_agg(user_id), array_agg(badge) INTO users, codes FROM awarded;
    PERFORM achievements_private.announce_badges(users, codes);
END
$$;

-- Changed tallies award levels (0004), then badges. One query first asks whether any change
-- crosses a requirement, and whether any tally starts (from 0) or crosses a badge threshold
-- (either way: revocable badges fall), so that the changes that do neither (almost all) cost
-- that query and no further call; one tally with ANY over its one-element arrays, a
-- statement's many by the range of counts per step, as in 0004.
CREATE OR REPLACE FUNCTION achievements_private.tallies_changed(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    any_level boolean;
    any_badge boolean;
BEGIN
    IF cardinality(user_ids) = 1 THEN
        SELECT EXISTS (SELECT 1 FROM achievements.level_requirements AS r
                        WHERE r.name = ANY (names)
                          AND r.required_count > ANY (old_counts)
                          AND r.required_count <= ANY (new_counts)),
               0 = ANY (old_counts)
               OR EXISTS (SELECT 1 FROM achievements.badges AS b
                           WHERE b.step = ANY (names)
                             AND (b.threshold > ANY (old_counts) OR b.threshold > ANY (new_counts))
                             AND (b.threshold <= ANY (old_counts) OR b.threshold <= ANY (new_counts)))
          INTO any_level, any_badge;
    ELSE
        WITH steps AS (
            SELECT c.name, min(least(c.old_count, c.new_count)) AS lo,
                   max(greatest(c.old_count, c.new_count)) AS hi, bool_or(c.old_count = 0) AS starts
              FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
             GROUP BY c.name
        )
        SELECT EXISTS (SELECT 1 FROM steps AS s
                         JOIN achievements.level_requirements AS r
                           ON r.name = s.name AND r.required_count > s.lo AND r.required_count <= s.hi),
               EXISTS (SELECT 1 FROM steps AS s WHERE s.starts)
               OR EXISTS (SELECT 1 FROM steps AS s
                            JOIN achievements.badges AS b
                              ON b.step = s.name AND b.threshold > s.lo AND b.threshold <= s.hi)
          INTO any_level, any_badge;
    END IF;
    IF any_level THEN
        PERFORM achievements_private.award_levels(user_ids, names, old_counts, new_counts);
    END IF;
    IF any_badge THEN
        PERFORM achievements_private.award_badges(user_ids, names, old_counts, new_counts);
    END IF;
END
$$;

-- New levels (AFTER INSERT on user_levels): announces them, then awards the active badges of
-- those levels. Runs under the per-user lock that award_levels holds. Idempotent.
CREATE FUNCTION achievements_private.level_reached()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    users  achievements.user_ref[];
    levels text[];
    codes  text[];
BEGIN
    SELECT array_agg(l.user_id ORDER BY l.user_id, l.level), array_agg(l.level ORDER BY l.user_id, l.level)
      INTO users, levels
      FROM new_levels AS l;
    PERFORM achievements_private.announce_levels(users, levels);

    WITH awarded AS (
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT l.user_id, b.code, true
          FROM new_levels AS l
          JOIN achievements.badges AS b ON b.level = l.level
         WHERE achievements._badge_active(b.active_from, b.active_until)
         ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        RETURNING user_id, badge
    )
    SELECT array_agg(user_id), array_agg(badge) INTO users, codes FROM awarded;
    PERFORM achievements_private.announce_badges(users, codes);
    RETURN NULL;
END
$$;

CREATE TRIGGER _300_level_reached
    AFTER INSERT ON achievements.user_levels
    REFERENCING NEW TABLE AS new_levels
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.level_reached();

-- backfill_levels (0004) awards silently, as backfill_badge does: no flood of notifications.
ALTER FUNCTION achievements.backfill_levels(text) SET achievements.quiet = 'on';

-- ---------------------------------------------------------------------------------------------
-- Awarding by call
-- ---------------------------------------------------------------------------------------------

-- The badge row, or AD201 (unknown badge). With active = true, also AD204 when the badge is
-- outside its seasonal window now.
CREATE FUNCTION achievements_private.get_badge(code text, active boolean)
RETURNS achievements.badges
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b achievements.badges;
BEGIN
    SELECT * INTO b FROM achievements.badges AS x WHERE x.code = get_badge.code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown badge %', coalesce(quote_literal(code), 'NULL')
            USING ERRCODE = 'AD201',
                  HINT = 'Badges are the rows of achievements.badges: SELECT code FROM achievements.badges.';
    END IF;
    IF active AND NOT achievements._badge_active(b.active_from, b.active_until) THEN
        RAISE EXCEPTION 'badge % can be earned only from % until %; it is now %', quote_literal(code),
                        coalesce(b.active_from::text, '-infinity'), coalesce(b.active_until::text, 'infinity'), now()
            USING ERRCODE = 'AD204',
                  HINT = 'Seasonal badges are earned only inside their window (achievements.badges.active_from / active_until).';
    END IF;
    RETURN b;
END
$$;

-- Awards the badge to the user; true when newly awarded, false when they already held it.
-- Idempotent and race-free: 100 calls or 20 concurrent sessions give one row and one
-- notification (primary key + ON CONFLICT DO NOTHING: a concurrent caller waits for the first
-- insert and then does nothing). Raises AD005 for a NULL user, AD201 for an unknown badge,
-- AD204 outside the badge's seasonal window. Owner and service roles.
CREATE FUNCTION achievements.award_badge(user_id achievements.user_ref, code text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    b achievements.badges;
    n int;
BEGIN
    IF award_badge.user_id IS NULL THEN
        RAISE EXCEPTION 'award_badge: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who earned the badge.';
    END IF;
    b := achievements_private.get_badge(award_badge.code, true);
    INSERT INTO achievements.user_badges (user_id, badge, notified)
    VALUES (award_badge.user_id, b.code, true)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN false;
    END IF;
    PERFORM achievements_private.register_users(ARRAY[award_badge.user_id]);
    PERFORM achievements_private.announce_badges(ARRAY[award_badge.user_id], ARRAY[b.code]);
    RETURN true;
END
$$;
COMMENT ON FUNCTION achievements.award_badge(achievements.user_ref, text) IS
    'Awards a badge to a user; true when newly awarded, false when already held. Idempotent under concurrency; one notification.';

-- The current user (current_user_id()) claims a client_grantable badge; true when newly
-- awarded. Same guarantees as award_badge. Raises AD005 without a user claim, AD201 for an
-- unknown badge (or a hidden one that cannot be claimed: its existence stays secret), AD203
-- for a badge that is not client_grantable, AD204 outside its seasonal window.
CREATE FUNCTION achievements.claim_badge(code text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who achievements.user_ref := achievements.current_user_id();
    b   achievements.badges;
BEGIN
    IF who IS NULL THEN
        RAISE EXCEPTION 'claim_badge: the request carries no user claim' USING ERRCODE = 'AD005',
            HINT = 'Set request.jwt.claims (PostgREST, Supabase) or jwt.claims.user_id to the user who claims the badge.';
    END IF;
    SELECT * INTO b FROM achievements.badges AS x WHERE x.code = claim_badge.code;
    IF NOT FOUND OR (b.hidden AND NOT b.client_grantable) THEN
        RAISE EXCEPTION 'unknown badge %', coalesce(quote_literal(code), 'NULL')
            USING ERRCODE = 'AD201',
                  HINT = 'Badges are the rows of achievements.badges you can read.';
    END IF;
    IF NOT b.client_grantable THEN
        RAISE EXCEPTION 'badge % cannot be claimed: it is earned, not granted on request', quote_literal(code)
            USING ERRCODE = 'AD203',
                  HINT = 'Only badges with client_grantable = true can be claimed; others are awarded by the application.';
    END IF;
    b := achievements_private.get_badge(b.code, true);
    RETURN achievements.award_badge(who, b.code);
END
$$;
COMMENT ON FUNCTION achievements.claim_badge(text) IS
    'The current user claims a client_grantable badge (e.g. a share button); true when newly awarded. Other badges are refused (AD203).';

-- Takes the badge from the user; true when they held it. Their points and the badge's holders
-- follow (trigger on user_badges). Sends no notification. Raises AD005 for a NULL user, AD201
-- for an unknown badge. Owner and service roles.
CREATE FUNCTION achievements.revoke_badge(user_id achievements.user_ref, code text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    b achievements.badges;
    n int;
BEGIN
    IF revoke_badge.user_id IS NULL THEN
        RAISE EXCEPTION 'revoke_badge: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who loses the badge.';
    END IF;
    b := achievements_private.get_badge(revoke_badge.code, false);
    DELETE FROM achievements.user_badges AS ub
     WHERE ub.user_id = revoke_badge.user_id AND ub.badge = b.code;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$$;
COMMENT ON FUNCTION achievements.revoke_badge(achievements.user_ref, text) IS
    'Takes a badge from a user; true when they held it. Points follow.';

-- Whether the user holds the badge. Raises AD201 for an unknown badge, AD005 without a user,
-- 42501 when an application role asks about another user.
CREATE FUNCTION achievements.has_badge(user_id achievements.user_ref, code text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    who achievements.user_ref := achievements._readable_user(has_badge.user_id);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM achievements.badges AS b WHERE b.code = has_badge.code) THEN
        RAISE EXCEPTION 'unknown badge %', coalesce(quote_literal(code), 'NULL')
            USING ERRCODE = 'AD201',
                  HINT = 'Badges are the rows of achievements.badges: SELECT code FROM achievements.badges.';
    END IF;
    RETURN EXISTS (SELECT 1 FROM achievements.user_badges AS ub WHERE ub.user_id = who AND ub.badge = has_badge.code);
END
$$;
COMMENT ON FUNCTION achievements.has_badge(achievements.user_ref, text) IS
    'Whether the user holds the badge.';

-- Awards the badge to every user who already qualifies (tally >= threshold, or level reached),
-- in one set-based statement, silently: rows are marked notified = true and no notification
-- is written or sent. Returns how many users got it; 0 for a badge without criteria.
-- Idempotent; safe beside concurrent awards: the fast path is a plain INSERT (no per-row
-- ON CONFLICT check, about twice as fast), skipping current holders only when the holder
-- counter says there are any; a concurrent award of the same badge to the same user makes it
-- fail with unique_violation, and then the statement is redone with ON CONFLICT DO NOTHING.
-- Raises AD201 for an unknown badge, AD204 outside its seasonal window. Owner and service roles.
CREATE FUNCTION achievements.backfill_badge(code text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET achievements.quiet = 'on'
AS $$
DECLARE
    b       achievements.badges := achievements_private.get_badge(code, true);
    held    boolean;
    awarded int := 0;
BEGIN
    IF b.step IS NULL AND b.level IS NULL THEN
        RETURN 0;
    END IF;
    held := EXISTS (SELECT 1 FROM achievements_private.badge_holders AS h
                     WHERE h.badge = b.code GROUP BY h.badge HAVING sum(h.holders) <> 0);
    BEGIN
        IF held THEN
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT q.user_id, b.code, true
              FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                     WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                    UNION ALL
                    SELECT ul.user_id FROM achievements.user_levels AS ul
                     WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
             WHERE NOT EXISTS (SELECT 1 FROM achievements.user_badges AS ub
                                WHERE ub.user_id = q.user_id AND ub.badge = b.code)
             ORDER BY q.user_id;
        ELSE
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT q.user_id, b.code, true
              FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                     WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                    UNION ALL
                    SELECT ul.user_id FROM achievements.user_levels AS ul
                     WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
             ORDER BY q.user_id;
        END IF;
        GET DIAGNOSTICS awarded = ROW_COUNT;
    EXCEPTION WHEN unique_violation THEN
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT q.user_id, b.code, true
          FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                 WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                UNION ALL
                SELECT ul.user_id FROM achievements.user_levels AS ul
                 WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
         ORDER BY q.user_id
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS awarded = ROW_COUNT;
    END;
    RETURN awarded;
END
$$;
COMMENT ON FUNCTION achievements.backfill_badge(text) IS
    'Awards a badge to every user who already qualifies, silently (notified = true, no notification); returns how many got it.';

-- The current user shows or hides one of their badges in public_badges(); true when they hold
-- it. Raises AD005 without a user claim.
CREATE FUNCTION achievements.set_badge_public(code text, is_public boolean)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    who achievements.user_ref := achievements.current_user_id();
    n   int;
BEGIN
    IF who IS NULL THEN
        RAISE EXCEPTION 'set_badge_public: the request carries no user claim' USING ERRCODE = 'AD005',
            HINT = 'Set request.jwt.claims (PostgREST, Supabase) or jwt.claims.user_id.';
    END IF;
    UPDATE achievements.user_badges AS ub SET is_public = coalesce(set_badge_public.is_public, true)
     WHERE ub.user_id = who AND ub.badge = set_badge_public.code;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$$;
COMMENT ON FUNCTION achievements.set_badge_public(text, boolean) IS
    'The current user shows (true) or hides (false) one of their badges from others; true when they hold it.';

-- ---------------------------------------------------------------------------------------------
-- Security
-- ---------------------------------------------------------------------------------------------

ALTER TABLE achievements.badges ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON achievements.badges FOR SELECT
    USING (NOT hidden OR EXISTS (SELECT 1 FROM achievements.user_badges AS ub
                                  WHERE ub.badge = code AND ub.user_id = (SELECT achievements.current_user_id())));
ALTER TABLE achievements.user_badges ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_badges FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
ALTER TABLE achievements.user_scores ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_scores FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
ALTER TABLE achievements.notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.notifications FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.badges');
SELECT achievements_private.create_service_policy('achievements.user_badges');
SELECT achievements_private.create_service_policy('achievements.user_scores');
SELECT achievements_private.create_service_policy('achievements.notifications');

SELECT achievements_private.grant_to_app_roles('SELECT',
    'TABLE achievements.badges, achievements.user_badges, achievements.user_scores, achievements.notifications');
SELECT achievements_private.grant_to_service_roles('SELECT',
    'TABLE achievements.badges, achievements.user_badges, achievements.user_scores, achievements.notifications');

REVOKE EXECUTE ON FUNCTION achievements.award_badge(achievements.user_ref, text),
                           achievements.revoke_badge(achievements.user_ref, text),
                           achievements.backfill_badge(text),
                           achievements.compact_counters(),
                           achievements.claim_badge(text),
                           achievements.set_badge_public(text, boolean) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.award_badge(achievements.user_ref, text), achievements.revoke_badge(achievements.user_ref, text), achievements.backfill_badge(text), achievements.compact_counters()');
SELECT achievements_private.grant_to_app_roles('EXECUTE',
    'FUNCTION achievements.claim_badge(text), achievements.set_badge_public(text, boolean)');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.claim_badge(text), achievements.set_badge_public(text, boolean)');

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0006_badges');
