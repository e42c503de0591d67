-- Reactions to changed badges: badges about badges, and levels reached by points. Whatever path
-- awarded or revoked a badge (a tally, a level, a call, a backfill, another badge about
-- badges), count_badges hands the statement's rows here (through follows_badges), under the
-- users' locks every such path holds, so two transactions that each bring a user one of the
-- last badges of a category are serialized: the second sees the first's badge and awards the
-- badge about them, once.
--
-- What badges about badges count: the badges that are not about badges themselves (no
-- min_badges, all_badges or min_points), with their points. A badge about badges therefore
-- never counts itself nor another of its kind, so they form no cycle: awarding or revoking one
-- changes nothing they count. Levels reached by points count every point (user_points), badges
-- about badges included; levels are never taken back, so that is a chain that ends, not a
-- cycle.

-- The badges about badges that the changed rows (user, badge: one element per row; sign 1 for
-- awards, -1 for revocations) make the users cross: awarded when the user meets the criterion
-- after the statement and did not before (an active badge only), revoked (revocable ones only)
-- when the user met it before and does not after. "All badges" are those of the catalog now:
-- a badge being deleted from the catalog (achievements.deleting_badge) counts for neither side.
-- Crossing, as for thresholds: a badge about badges revoked by hand is not handed back by the
-- next badge; backfill_badge awards it to everyone who qualifies.
CREATE FUNCTION achievements_private.badges_crossed(user_ids achievements.user_ref[], codes text[], sign int)
RETURNS TABLE (user_id achievements.user_ref, code text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    WITH deleting AS (
        SELECT nullif(current_setting('achievements.deleting_badge', true), '') AS code
    ), changed AS (
        SELECT c.user_id, b.code, b.category, b.points::bigint AS points
          FROM unnest(user_ids, codes) AS c(user_id, code)
          JOIN achievements.badges AS b ON b.code = c.code
         WHERE b.min_badges IS NULL AND NOT b.all_badges AND b.min_points IS NULL
    ), counted AS (
        -- Every badge that counts and is held after the statement, and the statement's rows.
        SELECT ub.user_id, b.code, b.category, b.points::bigint AS points, true AS held
          FROM (SELECT DISTINCT ch.user_id FROM changed AS ch) AS m
          JOIN achievements.user_badges AS ub ON ub.user_id = m.user_id
          JOIN achievements.badges AS b ON b.code = ub.badge
         WHERE b.min_badges IS NULL AND NOT b.all_badges AND b.min_points IS NULL
        UNION ALL
        SELECT ch.user_id, ch.code, ch.category, ch.points, false FROM changed AS ch
    ), per_category AS (
        SELECT x.user_id, x.category,
               count(*) FILTER (WHERE x.held) AS held,
               count(*) FILTER (WHERE NOT x.held) AS moved,
               count(*) FILTER (WHERE x.held AND x.code IS DISTINCT FROM d.code) AS held_kept,
               count(*) FILTER (WHERE NOT x.held AND x.code IS DISTINCT FROM d.code) AS moved_kept,
               coalesce(sum(x.points) FILTER (WHERE x.held), 0) AS held_points,
               coalesce(sum(x.points) FILTER (WHERE NOT x.held), 0) AS moved_points
          FROM counted AS x CROSS JOIN deleting AS d
         GROUP BY x.user_id, x.category
    ), about AS (
        SELECT b.code, b.badge_category, b.all_badges, b.min_points, b.revocable, b.active_from, b.active_until,
               CASE WHEN b.all_badges THEN (SELECT count(*) FROM achievements.badges AS o
                                             WHERE o.min_badges IS NULL AND NOT o.all_badges AND o.min_points IS NULL
                                               AND (b.badge_category IS NULL OR o.category = b.badge_category)
                                               AND o.code IS DISTINCT FROM d.code)
                    WHEN b.min_badges IS NOT NULL THEN b.min_badges::bigint
                    ELSE b.min_points::bigint END AS target
          FROM achievements.badges AS b CROSS JOIN deleting AS d
         WHERE b.min_badges IS NOT NULL OR b.all_badges OR b.min_points IS NOT NULL
    ), measured AS (
        SELECT p.user_id, a.code, a.target, a.revocable, a.active_from, a.active_until,
               sum(CASE WHEN a.min_points IS NOT NULL THEN p.held_points WHEN a.all_badges THEN p.held_kept
                        ELSE p.held END) AS now,
               sum(CASE WHEN a.min_points IS NOT NULL THEN p.moved_points WHEN a.all_badges THEN p.moved_kept
                        ELSE p.moved END) AS moved
          FROM per_category AS p
          JOIN about AS a ON a.badge_category IS NULL OR a.badge_category = p.category
         GROUP BY p.user_id, a.code, a.target, a.revocable, a.active_from, a.active_until
    )
    SELECT m.user_id, m.code
      FROM measured AS m
     WHERE m.target > 0 AND m.moved > 0
       AND CASE WHEN sign > 0
                THEN m.now >= m.target AND m.now - m.moved < m.target
                     AND achievements_private.badge_in_season(m.active_from, m.active_until)
                ELSE m.revocable AND m.now < m.target AND m.now + m.moved >= m.target END
     ORDER BY 1, 2
$$;

-- Awards the levels with min_points that users' points crossed (points before < min_points <=
-- points after; one element per user) when the user meets every step requirement of the level
-- too. Under REPEATABLE READ and SERIALIZABLE, a requirement's tally created since the
-- transaction's snapshot raises 40001 (as in award_levels). Once per user and level.
CREATE FUNCTION achievements_private.award_levels_by_points(
    user_ids achievements.user_ref[], befores bigint[], afters bigint[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.snapshot_per_transaction() THEN
        BEGIN
            INSERT INTO achievements.user_achievements (user_id, name, count)
            SELECT DISTINCT p.user_id, r.name, 0
              FROM unnest(user_ids, befores, afters) AS p(user_id, before, after)
              JOIN achievements.levels AS l ON l.min_points > p.before AND l.min_points <= p.after
              JOIN achievements.level_requirements AS r ON r.level = l.name
             ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
            RAISE EXCEPTION USING ERRCODE = 'AD000';
        EXCEPTION WHEN SQLSTATE 'AD000' THEN
            NULL;
        END;
    END IF;
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT p.user_id, l.name
      FROM unnest(user_ids, befores, afters) AS p(user_id, before, after)
      JOIN achievements.levels AS l ON l.min_points > p.before AND l.min_points <= p.after
     WHERE NOT EXISTS (SELECT 1
                         FROM achievements.level_requirements AS r
                         LEFT JOIN achievements.user_achievements AS t ON t.user_id = p.user_id AND t.name = r.name
                        WHERE r.level = l.name AND coalesce(t.count, 0) < r.required_count)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
END
$$;

-- What follows the changed rows of one statement (user, badge: one element per row; sign 1
-- for awards, -1 for revocations), called by follows_badges under the users' locks, before
-- anything else changes these users' badges:
--   1. for awards, the users' points before and after the rows (user_scores, which count_badges
--      has moved), while nothing else has moved them yet;
--   2. the badges about badges the rows make the users cross (badges_crossed), awarded or
--      revoked; those come back here in turn, and change nothing these count;
--   3. for awards, the levels whose min_points the points of step 1 crossed
--      (award_levels_by_points); the points that steps 2 and 3 add are the next windows, which
--      their own calls check.
-- Each evaluation reads the state the rows left, so no crossing is missed or seen twice by one
-- of them (a repeated award is ON CONFLICT DO NOTHING).
CREATE FUNCTION achievements_private.badges_changed(user_ids achievements.user_ref[], codes text[], sign int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    users   achievements.user_ref[];
    crossed text[];
    scored  achievements.user_ref[];
    befores bigint[];
    afters  bigint[];
BEGIN
    IF sign > 0 AND EXISTS (SELECT 1 FROM achievements.levels AS l WHERE l.min_points IS NOT NULL) THEN
        SELECT array_agg(s.user_id ORDER BY s.user_id), array_agg(s.points - m.points ORDER BY s.user_id),
               array_agg(s.points ORDER BY s.user_id)
          INTO scored, befores, afters
          FROM (SELECT c.user_id, sum(b.points)::bigint AS points
                  FROM unnest(user_ids, codes) AS c(user_id, code)
                  JOIN achievements.badges AS b ON b.code = c.code
                 GROUP BY c.user_id) AS m
          JOIN achievements.user_scores AS s ON s.user_id = m.user_id
         WHERE m.points > 0
           AND EXISTS (SELECT 1 FROM achievements.levels AS l
                        WHERE l.min_points > s.points - m.points AND l.min_points <= s.points);
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.badges AS b
                WHERE b.min_badges IS NOT NULL OR b.all_badges OR b.min_points IS NOT NULL)
       AND EXISTS (SELECT 1 FROM achievements.badges AS b
                    WHERE b.code = ANY (codes)
                      AND b.min_badges IS NULL AND NOT b.all_badges AND b.min_points IS NULL) THEN
        SELECT array_agg(x.user_id), array_agg(x.code) INTO users, crossed
          FROM achievements_private.badges_crossed(user_ids, codes, sign) AS x;
        IF users IS NOT NULL AND sign > 0 THEN
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT x.user_id, x.code, true FROM unnest(users, crossed) AS x(user_id, code)
             ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
        ELSIF users IS NOT NULL THEN
            DELETE FROM achievements.user_badges AS ub
             USING unnest(users, crossed) AS x(user_id, code)
             WHERE ub.user_id = x.user_id AND ub.badge = x.code;
        END IF;
    END IF;
    IF scored IS NOT NULL THEN
        PERFORM achievements_private.award_levels_by_points(scored, befores, afters);
    END IF;
END
$$;
