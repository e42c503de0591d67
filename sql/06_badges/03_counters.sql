-- Counters that many transactions change at once, kept as append-only delta rows (no row is
-- updated, so no writer waits for another) and folded from time to time: the rank histogram,
-- the holders of each badge, the number of known users. Their readers sum the rows.

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
-- advisory lock 1633838660/1, docs/locks.md): with wait = false it returns -1 at once when another one runs,
-- or when the transaction is not READ COMMITTED (where a concurrent fold could make it fail).
-- Returns the number of delta rows removed.
CREATE FUNCTION achievements_private.compact_counters(wait boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    points  bigint;
    holders bigint;
    users   bigint;
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(1633838660, 1);
    ELSIF current_setting('transaction_isolation') <> 'read committed'
          OR NOT pg_try_advisory_xact_lock(1633838660, 1) THEN
        RETURN -1::bigint;
    END IF;
    WITH gone AS (DELETE FROM achievements_private.points_histogram AS h RETURNING h.points, h.users),
         kept AS (INSERT INTO achievements_private.points_histogram (points, users)
                  SELECT g.points, sum(g.users) FROM gone AS g GROUP BY g.points HAVING sum(g.users) <> 0)
    SELECT count(*) INTO points FROM gone;
    WITH gone AS (DELETE FROM achievements_private.badge_holders AS h RETURNING h.badge, h.holders),
         kept AS (INSERT INTO achievements_private.badge_holders (badge, holders)
                  SELECT g.badge, sum(g.holders) FROM gone AS g GROUP BY g.badge HAVING sum(g.holders) <> 0)
    SELECT count(*) INTO holders FROM gone;
    WITH gone AS (DELETE FROM achievements_private.known_user_count AS c RETURNING c.users),
         kept AS (INSERT INTO achievements_private.known_user_count (users)
                  SELECT sum(g.users) FROM gone AS g HAVING sum(g.users) <> 0)
    SELECT count(*) INTO users FROM gone;
    RETURN points + holders + users;
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

REVOKE EXECUTE ON FUNCTION achievements.compact_counters() FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION achievements.compact_counters()');
