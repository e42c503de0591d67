-- The tallies: per user and step, the sum of that user's rows in user_steps, never below 0.
-- Written only by add_to_tallies.

-- fillfactor 75: every step updates a tally row, and a quarter of each page left free keeps the
-- new row version on its page (a HOT update: no new index entry, less WAL), for 25 % more space.
CREATE TABLE achievements.user_achievements (
    user_id    achievements.user_ref NOT NULL,
    name       text NOT NULL,
    count      int NOT NULL,
    first_at   timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, name)
) WITH (fillfactor = 75);
COMMENT ON TABLE achievements.user_achievements IS
    'Tally per user and step, written only by achievements-db: the sum of that user''s rows in user_steps, never below 0.';

ALTER TABLE achievements.user_achievements ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.user_achievements FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.user_achievements');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.user_achievements');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.user_achievements');

-- Locks the tallies of these (user, step) pairs FOR UPDATE, in (user, step) order, creating the
-- missing ones at 0, and returns them: the first rank of the lock order (docs/locks.md) for the
-- paths that work a tally out again (recounted and streak steps). Under REPEATABLE READ and
-- SERIALIZABLE a tally changed since the transaction's snapshot raises 40001.
CREATE FUNCTION achievements_private.lock_tallies(user_ids achievements.user_ref[], steps text[])
RETURNS TABLE (user_id achievements.user_ref, step text, count int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO achievements.user_achievements (user_id, name, count)
    SELECT p.u, p.s, 0 FROM unnest(user_ids, steps) AS p(u, s) ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN QUERY
        SELECT t.user_id, t.name, t.count
          FROM achievements.user_achievements AS t
          JOIN unnest(user_ids, steps) AS p(u, s) ON t.user_id = p.u AND t.name = p.s
         ORDER BY t.user_id, t.name
           FOR UPDATE OF t;
END
$$;
