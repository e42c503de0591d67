-- 0004 user_levels: levels are awarded, not only computed. A user gets a row the moment their
-- tallies first meet every requirement of a level, whichever way the steps arrived.
-- Awarded levels are kept: a later undo, or a requirement added later, does not take them away.

CREATE TABLE achievements.user_levels (
    user_id     achievements.user_ref NOT NULL,
    level       text NOT NULL REFERENCES achievements.levels (name) ON DELETE CASCADE ON UPDATE CASCADE,
    achieved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, level)
);
COMMENT ON TABLE achievements.user_levels IS
    'Levels each user has reached, awarded once, at the moment the last requirement was met; kept when a step is undone later.';
CREATE INDEX user_levels_level_idx ON achievements.user_levels (level, achieved_at);

-- Takes the transaction-scoped locks that serialize level and badge checks of these users.
-- Without them, two transactions that each complete one of two requirements would each miss
-- the other's uncommitted tally and neither would award the level. Users are hashed into 256
-- lock buckets, so a statement over 100,000 users takes at most 256 locks (the shared lock
-- table holds max_locks_per_transaction x max_connections); buckets are locked in key order,
-- so two statements cannot deadlock on them. Two users in one bucket merely wait for each other.
-- Bucket keys are 1..256: key 0 of this class is the migrator's session lock (MIGRATION_LOCK),
-- which a migration that records steps must not wait for.
CREATE FUNCTION achievements_private.lock_users(user_ids achievements.user_ref[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_advisory_xact_lock(1633838659, bucket)
      FROM (SELECT DISTINCT 1 + (hashtext(u::text) & 255) AS bucket FROM unnest(user_ids) AS u) AS buckets
     ORDER BY bucket;
$$;

-- Awards the levels that the changed tallies complete (the arrays are tallies_changed's: user,
-- step, count before and after of each changed tally). A tally completes a level when it rises
-- past one of the level's requirements (before < required_count <= after) and the user then
-- meets every other requirement too. Levels and requirements added later are caught up with
-- backfill_levels(), as badges are with backfill_badge().
-- Guarantees: once per user and level (primary key, ON CONFLICT DO NOTHING); none lost to
-- concurrent transactions under READ COMMITTED: the user's lock serializes the checks, and the
-- award query, run after it, takes a fresh snapshot that shows what a transaction that held
-- the lock before committed. tallies_changed calls it only when a change may award something.
-- No SET search_path (every name in it is qualified): it runs only under add_to_tallies, whose
-- callers pin it, and only the owner can call it.
-- Generic plans (plan_cache_mode): its queries read the unnested arrays. A custom plan sees the
-- array's length and a generic one guesses 100 rows, so for the one-tally calls of single-row
-- writes PostgreSQL keeps choosing custom plans, and plans every query again on every call:
-- pinning generic plans here and on the awarding functions of 0006 took a new user's first
-- tracked insert from 578 to 440 us (DO loop, a commit per call). The generic plans cost
-- nothing measurable on statements of 100,000 and 600,000 rows: their joins are index probes
-- of the small catalog either way.
CREATE FUNCTION achievements_private.award_levels(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    candidates achievements.user_ref[];
BEGIN
    SELECT array_agg(DISTINCT c.user_id) INTO candidates
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
     WHERE EXISTS (SELECT 1 FROM achievements.level_requirements AS r
                    WHERE r.name = c.name
                      AND r.required_count > c.old_count AND r.required_count <= c.new_count);
    IF candidates IS NULL THEN
        RETURN;
    END IF;
    PERFORM achievements_private.lock_users(candidates);
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT DISTINCT c.user_id, r.level
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
      JOIN achievements.level_requirements AS r
        ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
     WHERE NOT EXISTS (SELECT 1
                         FROM achievements.level_requirements AS r2
                         LEFT JOIN achievements.user_achievements AS t
                                ON t.user_id = c.user_id AND t.name = r2.name
                        WHERE r2.level = r.level AND coalesce(t.count, 0) < r2.required_count)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
END
$$;

-- Changed tallies award levels (0006 adds badges). Asks first whether any change crosses a
-- requirement, so that the changes that cross none (almost all) cost one query and no further
-- call. One tally (record_step, a single-row insert) is asked about with ANY over its
-- one-element arrays (measured fastest). A statement's many are first reduced to the range of
-- counts per step, one pass, and that range is probed: it may let a statement through that
-- crosses nothing (award_levels then finds no candidate), never the other way. (ANY over a
-- long array makes every custom plan estimate each element: 14-24 ms of planning for 10,000
-- tallies; joining each tally to the requirements: 15 ms; the range: about 3 ms.)
CREATE OR REPLACE FUNCTION achievements_private.tallies_changed(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF cardinality(user_ids) = 1 THEN
        IF NOT EXISTS (SELECT 1 FROM achievements.level_requirements AS r
                        WHERE r.name = ANY (names)
                          AND r.required_count > ANY (old_counts)
                          AND r.required_count <= ANY (new_counts)) THEN
            RETURN;
        END IF;
    ELSIF NOT EXISTS (SELECT 1
                        FROM (SELECT c.name, min(c.old_count) AS lo, max(c.new_count) AS hi
                                FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
                               GROUP BY c.name) AS s
                        JOIN achievements.level_requirements AS r
                          ON r.name = s.name AND r.required_count > s.lo AND r.required_count <= s.hi) THEN
        RETURN;
    END IF;
    PERFORM achievements_private.award_levels(user_ids, names, old_counts, new_counts);
END
$$;

-- Awards `level_name` (every level when NULL) to every user who already meets it, in one
-- set-based statement; returns how many levels were awarded. Idempotent. Levels without
-- requirements are never awarded (no step reaches them). Raises AD001 for an unknown level.
CREATE FUNCTION achievements.backfill_levels(level_name text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    awarded int;
BEGIN
    IF level_name IS NOT NULL THEN
        PERFORM achievements._assert_level(level_name);
    END IF;
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT t.user_id, r.level
      FROM achievements.level_requirements AS r
      JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
     WHERE level_name IS NULL OR r.level = level_name
     GROUP BY t.user_id, r.level
    HAVING count(*) = (SELECT count(*) FROM achievements.level_requirements AS r2 WHERE r2.level = r.level)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS awarded = ROW_COUNT;
    RETURN awarded;
END
$$;
COMMENT ON FUNCTION achievements.backfill_levels(text) IS
    'Awards a level (all when NULL) to every user who already meets it; returns how many were awarded. Idempotent.';

ALTER TABLE achievements.user_levels ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_levels FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_levels');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_levels');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_levels');
REVOKE EXECUTE ON FUNCTION achievements.backfill_levels(text) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION achievements.backfill_levels(text)');

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0004_user_levels');
