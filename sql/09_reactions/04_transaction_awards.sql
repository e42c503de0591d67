-- What the caller's own transaction awarded: the badges and levels whose rows it wrote
-- (awarded_in, the id of the awarding transaction), for an application that shows a toast after
-- an event. Other sessions' transactions have other ids, so no award of theirs shows, however
-- they interleave; an award rolled back (with a savepoint) or revoked since is gone. Every award
-- of a transaction was made at now(), its start: the BRIN indexes on earned_at and achieved_at
-- find them (or, given a user, the user's rows), and awarded_in picks the transaction's.

-- The badges and levels the current transaction awarded, and still holds: kind ('badge' or
-- 'level'), user, code, name, description, icon, rarity and points (badges), awarded_at; only
-- those of `user_id`. Runs with the caller's rights: row level security shows an application
-- role its own awards only (service roles and the owner see every user's). Empty in a
-- transaction that wrote nothing (no transaction id assigned). Levels first, then badges by
-- code. A string body (not SQL-standard): it compares
-- user ids, which a SQL-standard body would store cast to the base type chosen at install.
CREATE FUNCTION achievements.transaction_awards(user_id achievements.user_ref)
RETURNS TABLE (kind text, user_id achievements.user_ref, code text, name text, description text, icon text,
               rarity text, points int, awarded_at timestamptz)
LANGUAGE sql STABLE
AS $$
    SELECT a.kind, a.user_id, a.code, a.name, a.description, a.icon, a.rarity, a.points, a.awarded_at
      FROM (SELECT 'badge' AS kind, ub.user_id, ub.badge AS code, b.name, b.description, b.icon, b.rarity, b.points,
                   ub.earned_at AS awarded_at
              FROM achievements.user_badges AS ub
              JOIN achievements.badges AS b ON b.code = ub.badge
             WHERE ub.earned_at = now() AND ub.awarded_in = pg_current_xact_id_if_assigned()
               AND ub.user_id = transaction_awards.user_id
            UNION ALL
            SELECT 'level' AS kind, ul.user_id, ul.level AS code, l.name, l.description, NULL::text AS icon,
                   NULL::text AS rarity, NULL::int AS points, ul.achieved_at AS awarded_at
              FROM achievements.user_levels AS ul
              JOIN achievements.levels AS l ON l.name = ul.level
             WHERE ul.achieved_at = now() AND ul.awarded_in = pg_current_xact_id_if_assigned()
               AND ul.user_id = transaction_awards.user_id) AS a
     ORDER BY a.awarded_at, a.kind DESC, a.code
$$;
COMMENT ON FUNCTION achievements.transaction_awards(achievements.user_ref) IS
    'The badges and levels the current transaction awarded to a user (kind, code, name, ...), for a toast; an application role sees its own only.';

-- The same for every user the caller may see (an application role: its own), ordered by user.
CREATE FUNCTION achievements.transaction_awards()
RETURNS TABLE (kind text, user_id achievements.user_ref, code text, name text, description text, icon text,
               rarity text, points int, awarded_at timestamptz)
LANGUAGE sql STABLE
AS $$
    SELECT a.kind, a.user_id, a.code, a.name, a.description, a.icon, a.rarity, a.points, a.awarded_at
      FROM (SELECT 'badge' AS kind, ub.user_id, ub.badge AS code, b.name, b.description, b.icon, b.rarity, b.points,
                   ub.earned_at AS awarded_at
              FROM achievements.user_badges AS ub
              JOIN achievements.badges AS b ON b.code = ub.badge
             WHERE ub.earned_at = now() AND ub.awarded_in = pg_current_xact_id_if_assigned()
            UNION ALL
            SELECT 'level' AS kind, ul.user_id, ul.level AS code, l.name, l.description, NULL::text AS icon,
                   NULL::text AS rarity, NULL::int AS points, ul.achieved_at AS awarded_at
              FROM achievements.user_levels AS ul
              JOIN achievements.levels AS l ON l.name = ul.level
             WHERE ul.achieved_at = now() AND ul.awarded_in = pg_current_xact_id_if_assigned()) AS a
     ORDER BY a.user_id, a.awarded_at, a.kind DESC, a.code
$$;
COMMENT ON FUNCTION achievements.transaction_awards() IS
    'The badges and levels the current transaction awarded to every user the caller may see, for a toast; an application role sees its own only.';
