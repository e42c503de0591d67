-- Awarding, claiming, revoking and backfilling badges by call, and what a user shows others.

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
    IF active AND NOT achievements_private.badge_in_season(b.active_from, b.active_until) THEN
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
-- insert and then does nothing). Runs under the user's lock (lock_users), so it cannot cross an
-- automatic award or revocation of the user. Raises AD005 for no user, AD201 for an unknown
-- badge, AD204 outside the badge's seasonal window. Owner and service roles.
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
    IF achievements_private.no_user(award_badge.user_id) THEN
        RAISE EXCEPTION 'award_badge: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who earned the badge.';
    END IF;
    b := achievements_private.get_badge(award_badge.code, true);
    -- The lock order of every path (docs/locks.md): the user's lock, then their registration,
    -- then the badge and the score.
    PERFORM achievements_private.lock_users(ARRAY[award_badge.user_id]);
    PERFORM achievements_private.register_users(ARRAY[award_badge.user_id]);
    INSERT INTO achievements.user_badges (user_id, badge, notified)
    VALUES (award_badge.user_id, b.code, true)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
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
-- follow, and a 'badge_revoked' notification is written (trigger on user_badges: count_badges),
-- as are the badges about badges it took back. Runs under the user's lock. Raises
-- AD005 for no user, AD201 for an unknown badge. Owner and service roles.
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
    IF achievements_private.no_user(revoke_badge.user_id) THEN
        RAISE EXCEPTION 'revoke_badge: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who loses the badge.';
    END IF;
    b := achievements_private.get_badge(revoke_badge.code, false);
    PERFORM achievements_private.lock_users(ARRAY[revoke_badge.user_id]);
    DELETE FROM achievements.user_badges AS ub
     WHERE ub.user_id = revoke_badge.user_id AND ub.badge = b.code;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$$;
COMMENT ON FUNCTION achievements.revoke_badge(achievements.user_ref, text) IS
    'Takes a badge from a user; true when they held it. Points follow.';

-- Whether `who` holds the badge. Raises AD201 when the badge is not `known` (not in the catalog
-- as the caller sees it: a hidden badge exists only for its holders and the service roles).
CREATE FUNCTION achievements_private.has_badge(who achievements.user_ref, code text, known boolean)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT known THEN
        RAISE EXCEPTION 'unknown badge %', coalesce(quote_literal(code), 'NULL')
            USING ERRCODE = 'AD201',
                  HINT = 'Badges are the rows of achievements.badges: SELECT code FROM achievements.badges.';
    END IF;
    RETURN EXISTS (SELECT 1 FROM achievements.user_badges AS ub WHERE ub.user_id = who AND ub.badge = has_badge.code);
END
$$;

-- Whether the user holds the badge. Raises AD005 without a user, 42501 when an application role
-- asks about another user, AD201 for a badge the caller cannot see (unknown, or hidden and not
-- held).
CREATE FUNCTION achievements.has_badge(user_id achievements.user_ref, code text)
RETURNS boolean
LANGUAGE sql STABLE
RETURN achievements_private.has_badge(
    achievements_private.readable_user(user_id), code,
    EXISTS (SELECT 1 FROM achievements.badges AS b WHERE b.code = has_badge.code));
COMMENT ON FUNCTION achievements.has_badge(achievements.user_ref, text) IS
    'Whether the user holds the badge.';

-- The users who qualify for badge `b` now: whose tally of its step reaches its threshold, who
-- reached its level, or (badges about badges) whose badges that are not about badges meet its
-- min_badges, all_badges (every such badge of badge_category, at least one) or min_points.
-- Nobody for a badge without criteria. Inlinable into backfill_badge (no SET clause).
CREATE FUNCTION achievements_private.qualifying_users(b achievements.badges)
RETURNS SETOF achievements.user_ref
LANGUAGE sql STABLE
AS $$
    SELECT t.user_id FROM achievements.user_achievements AS t
     WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
    UNION ALL
    SELECT ul.user_id FROM achievements.user_levels AS ul
     WHERE b.level IS NOT NULL AND ul.level = b.level
    UNION ALL
    SELECT x.user_id
      FROM (SELECT ub.user_id, count(*) AS n, sum(o.points) AS p
              FROM achievements.user_badges AS ub
              JOIN achievements.badges AS o ON o.code = ub.badge
             WHERE (b.min_badges IS NOT NULL OR b.all_badges OR b.min_points IS NOT NULL)
               AND o.min_badges IS NULL AND NOT o.all_badges AND o.min_points IS NULL
               AND (b.badge_category IS NULL OR o.category = b.badge_category)
             GROUP BY ub.user_id) AS x
     WHERE CASE WHEN b.min_points IS NOT NULL THEN x.p >= b.min_points
                WHEN b.min_badges IS NOT NULL THEN x.n >= b.min_badges
                ELSE x.n = (SELECT count(*) FROM achievements.badges AS o
                             WHERE o.min_badges IS NULL AND NOT o.all_badges AND o.min_points IS NULL
                               AND (b.badge_category IS NULL OR o.category = b.badge_category)) END
$$;

-- Awards the badge to every user who already qualifies (qualifying_users: tally >= threshold,
-- level reached, or the badges and points a badge about badges counts), in one set-based
-- statement, silently: rows are marked notified = true and no notification is written or
-- sent. Returns how many users got it; 0 for a badge without criteria.
-- Idempotent; safe beside concurrent awards: the fast path is a plain INSERT (no per-row
-- ON CONFLICT check, about twice as fast), skipping current holders only when the holder
-- counter says there are any; a concurrent award of the same badge to the same user makes it
-- fail with unique_violation, and then the statement is redone with ON CONFLICT DO NOTHING.
-- Takes every user's lock, so a backfill and a revocation (an undo that drops a revocable
-- badge's tally) cannot cross; under REPEATABLE READ and SERIALIZABLE, 40001 when a tally it
-- reads changed since the transaction's snapshot. Raises AD201 for an unknown badge, AD204
-- outside its seasonal window. Owner and service roles.
CREATE FUNCTION achievements.backfill_badge(code text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b       achievements.badges := achievements_private.get_badge(code, true);
    held    boolean;
    awarded int := 0;
    before  text;
BEGIN
    IF b.step IS NULL AND b.level IS NULL AND b.min_badges IS NULL AND NOT b.all_badges AND b.min_points IS NULL THEN
        RETURN 0;
    END IF;
    -- Every user's lock first: the statements below then see every award and revocation
    -- committed before, and none can cross them (docs/locks.md).
    PERFORM achievements_private.lock_all_users();
    IF achievements_private.snapshot_per_transaction() THEN
        -- The transaction's snapshot may predate what the lock's previous holders committed: a
        -- tally or score it reads that changed since raises 40001 (the caller retries).
        PERFORM FROM achievements.user_achievements AS t
          WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold FOR SHARE;
        PERFORM FROM achievements.user_scores AS s
          WHERE (b.min_badges IS NOT NULL OR b.all_badges OR b.min_points IS NOT NULL) AND s.badges > 0 FOR SHARE;
    END IF;
    held := EXISTS (SELECT 1 FROM achievements_private.badge_holders AS h
                     WHERE h.badge = b.code GROUP BY h.badge HAVING sum(h.holders) <> 0);
    before := achievements_private.set_quiet('on');
    BEGIN
        IF held THEN
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT q.user_id, b.code, true
              FROM achievements_private.qualifying_users(b) AS q(user_id)
             WHERE NOT EXISTS (SELECT 1 FROM achievements.user_badges AS ub
                                WHERE ub.user_id = q.user_id AND ub.badge = b.code)
             ORDER BY q.user_id;
        ELSE
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT q.user_id, b.code, true
              FROM achievements_private.qualifying_users(b) AS q(user_id)
             ORDER BY q.user_id;
        END IF;
        GET DIAGNOSTICS awarded = ROW_COUNT;
    EXCEPTION WHEN unique_violation THEN
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT q.user_id, b.code, true
          FROM achievements_private.qualifying_users(b) AS q(user_id)
         ORDER BY q.user_id
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS awarded = ROW_COUNT;
    END;
    PERFORM achievements_private.set_quiet(before);
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

REVOKE EXECUTE ON FUNCTION achievements.award_badge(achievements.user_ref, text),
                           achievements.revoke_badge(achievements.user_ref, text),
                           achievements.backfill_badge(text),
                           achievements.claim_badge(text),
                           achievements.set_badge_public(text, boolean) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.award_badge(achievements.user_ref, text), achievements.revoke_badge(achievements.user_ref, text), achievements.backfill_badge(text)');
SELECT achievements_private.grant_to_app_roles('EXECUTE',
    'FUNCTION achievements.claim_badge(text), achievements.set_badge_public(text, boolean)');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.claim_badge(text), achievements.set_badge_public(text, boolean)');
