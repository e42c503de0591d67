-- Community reads: a feed of recent public awards across users, featured awards, and the
-- leaderboard by badge count (besides the points leaderboard of 08_reads.sql). Each reads the
-- top of an index: the feed, per badge of the catalog, its newest public awards
-- (user_badges_feed_idx); the badge leaderboard the top of user_scores_badges_rank_idx.

-- An admin features (or unfeatures) one of a user's badges in the community feed; true when the
-- user holds it. Runs under the user's lock (docs/locks.md). Raises AD005 for no user, AD201
-- for an unknown badge, AD206 for a NULL featured. Owner and service roles.
CREATE FUNCTION achievements.set_featured(user_id achievements.user_ref, code text, featured boolean)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    b achievements.badges;
    n int;
BEGIN
    IF achievements_private.no_user(set_featured.user_id) THEN
        RAISE EXCEPTION 'set_featured: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user whose badge to feature.';
    END IF;
    IF set_featured.featured IS NULL THEN
        RAISE EXCEPTION 'set_featured: featured must be true or false, not NULL' USING ERRCODE = 'AD206',
            HINT = 'Pass true to feature the badge, false to stop featuring it.';
    END IF;
    b := achievements_private.get_badge(set_featured.code, false);
    PERFORM achievements_private.lock_users(ARRAY[set_featured.user_id]);
    UPDATE achievements.user_badges AS ub SET featured = set_featured.featured
     WHERE ub.user_id = set_featured.user_id AND ub.badge = b.code;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$$;
COMMENT ON FUNCTION achievements.set_featured(achievements.user_ref, text, boolean) IS
    'Features (true) or unfeatures (false) one of a user''s badges in the community feed; true when the user holds it.';

-- The keyset of a feed row as an opaque cursor: [rarity rank or 0, earned_at in microseconds
-- since the epoch, user id, badge], a JSON array. Inlinable (no SET clause, not SECURITY
-- DEFINER; pg_catalog functions only): a SET made each row's cursor cost 0.1 ms.
CREATE FUNCTION achievements_private.feed_cursor(rank int, earned_at timestamptz, user_id achievements.user_ref, badge text)
RETURNS text
LANGUAGE sql IMMUTABLE
RETURN jsonb_build_array(rank, ((extract(epoch FROM earned_at) * 1000000)::numeric)::bigint, user_id::text, badge)::text;

-- Public: recent public awards across users, newest first (with rarest_first: by rarity,
-- legendary first, then newest first), `lim` at a time; `after` is the cursor of the last row
-- of the previous page. Only awards their holders show (is_public); a hidden badge only to
-- viewers who hold it too (as public_badges); with featured_only the featured awards alone;
-- with min_rarity those of that rarity or rarer. Reads, per badge of the catalog, the newest
-- `lim` public awards from an index, backwards (user_badges_feed_idx; featured ones from
-- user_badges_featured_idx): its cost grows with the catalog, not with the users. Raises AD206
-- for a limit outside 1..1000, a cursor that is not one, a NULL flag, or an unknown rarity.
CREATE FUNCTION achievements.community_feed(
    lim int DEFAULT 20,
    after text DEFAULT NULL,
    rarest_first boolean DEFAULT false,
    featured_only boolean DEFAULT false,
    min_rarity text DEFAULT NULL)
RETURNS TABLE (user_id achievements.user_ref, badge text, name text, icon text, category text, points int,
               rarity text, earned_at timestamptz, featured boolean, cursor text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n         int := achievements_private.check_page_limit(lim);
    viewer    achievements.user_ref := achievements.current_user_id();
    min_rank  int := coalesce(achievements_private.rarity_rank(min_rarity), 1);
    c_rank    int;
    c_at      timestamptz;
    c_user    achievements.user_ref;
    c_badge   text;
    parsed    jsonb;
BEGIN
    IF rarest_first IS NULL OR featured_only IS NULL THEN
        RAISE EXCEPTION 'community_feed: rarest_first and featured_only must be true or false, not NULL'
            USING ERRCODE = 'AD206', HINT = 'Leave them out for the newest public awards.';
    END IF;
    IF min_rarity IS NOT NULL AND achievements_private.rarity_rank(min_rarity) IS NULL THEN
        RAISE EXCEPTION 'community_feed: unknown rarity %', quote_literal(min_rarity)
            USING ERRCODE = 'AD206', HINT = 'Use one of common, uncommon, rare, epic, legendary.';
    END IF;
    IF after IS NOT NULL THEN
        BEGIN
            parsed := after::jsonb;
            c_rank := (parsed ->> 0)::int;
            c_at := 'epoch'::timestamptz + (parsed ->> 1)::bigint * interval '1 microsecond';
            c_user := achievements_private.parse_user_ref(parsed ->> 2);
            c_badge := parsed ->> 3;
        EXCEPTION WHEN OTHERS THEN
            c_user := NULL;
        END;
        IF c_user IS NULL OR c_at IS NULL OR c_badge IS NULL OR c_rank IS NULL OR jsonb_array_length(parsed) <> 4 THEN
            RAISE EXCEPTION 'community_feed: after is not a cursor of the feed: %', left(after, 100)
                USING ERRCODE = 'AD206', HINT = 'Pass the cursor column of the last row of the previous page, or NULL for the first page.';
        END IF;
    END IF;
    IF featured_only THEN
        RETURN QUERY
            SELECT f.user_id, f.code, f.name, f.icon, f.category, f.points, f.rarity, f.earned_at, true,
                   achievements_private.feed_cursor(f.rank, f.earned_at, f.user_id, f.code)
              FROM (SELECT ub.user_id, b.code, b.name, b.icon, b.category, b.points, b.rarity, ub.earned_at,
                           CASE WHEN rarest_first THEN achievements_private.rarity_rank(b.rarity) ELSE 0 END AS rank
                      FROM achievements.user_badges AS ub
                      JOIN achievements.badges AS b ON b.code = ub.badge
                     WHERE ub.featured AND ub.is_public
                       AND achievements_private.rarity_rank(b.rarity) >= min_rank
                       AND (NOT b.hidden OR EXISTS (SELECT 1 FROM achievements.user_badges AS mine
                                                     WHERE mine.user_id = viewer AND mine.badge = b.code))) AS f
             WHERE after IS NULL OR (f.rank, f.earned_at, f.user_id, f.code) < (c_rank, c_at, c_user, c_badge)
             ORDER BY f.rank DESC, f.earned_at DESC, f.user_id DESC, f.code DESC
             LIMIT n;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT f.user_id, f.code, f.name, f.icon, f.category, f.points, f.rarity, f.earned_at, f.featured,
               achievements_private.feed_cursor(f.rank, f.earned_at, f.user_id, f.code)
          FROM (SELECT ub.user_id, b.code, b.name, b.icon, b.category, b.points, b.rarity, ub.earned_at,
                       ub.featured, b.rank
                  FROM (SELECT y.*,
                               -- The newest earned_at a badge's next page may hold: an index bound.
                               CASE WHEN after IS NULL OR y.rank < c_rank THEN 'infinity'::timestamptz
                                    ELSE c_at END AS bound
                          FROM (SELECT x.*,
                                       CASE WHEN rarest_first THEN achievements_private.rarity_rank(x.rarity)
                                            ELSE 0 END AS rank
                                  FROM achievements.badges AS x
                                 WHERE achievements_private.rarity_rank(x.rarity) >= min_rank
                                   AND (NOT x.hidden
                                        OR EXISTS (SELECT 1 FROM achievements.user_badges AS mine
                                                    WHERE mine.user_id = viewer AND mine.badge = x.code))) AS y
                         WHERE after IS NULL OR y.rank <= c_rank) AS b
                 CROSS JOIN LATERAL (
                       SELECT u.user_id, u.earned_at, u.featured
                         FROM achievements.user_badges AS u
                        WHERE u.badge = b.code AND u.is_public AND u.earned_at <= b.bound
                          AND (after IS NULL OR b.rank < c_rank
                               OR (u.earned_at, u.user_id, b.code) < (c_at, c_user, c_badge))
                        ORDER BY u.earned_at DESC, u.user_id DESC
                        LIMIT n) AS ub) AS f
         ORDER BY f.rank DESC, f.earned_at DESC, f.user_id DESC, f.code DESC
         LIMIT n;
END
$$;
COMMENT ON FUNCTION achievements.community_feed(int, text, boolean, boolean, text) IS
    'Recent public awards across users, newest (or rarest) first, lim at a time; after = cursor of the last row; featured_only, min_rarity. Hidden badges only to their holders.';

-- Public: the top `lim` users by number of badges held (users holding at least one), ties
-- sharing a rank (1, 2, 2, 4), ties listed by user_id. Without `since`: the top of the
-- user_scores index on badges. With `since`: only badges earned at or after `since` (and still
-- held) count; this aggregates the badges earned in the window. Raises AD206 for a limit
-- outside 1..1000.
CREATE FUNCTION achievements.badge_leaderboard(lim int DEFAULT 10, since timestamptz DEFAULT NULL)
RETURNS TABLE (rank bigint, user_id achievements.user_ref, badges int, points bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n int := achievements_private.check_page_limit(lim);
BEGIN
    IF since IS NULL THEN
        RETURN QUERY
            SELECT rank() OVER (ORDER BY top.badges DESC), top.user_id, top.badges, top.points
              FROM (SELECT s.user_id, s.badges, s.points
                      FROM achievements.user_scores AS s
                     WHERE s.badges > 0
                     ORDER BY s.badges DESC, s.user_id
                     LIMIT n) AS top
             ORDER BY top.badges DESC, top.user_id;
    ELSE
        RETURN QUERY
            SELECT rank() OVER (ORDER BY w.badges DESC), w.user_id, w.badges, w.points
              FROM (SELECT ub.user_id, count(*)::int AS badges, sum(b.points)::bigint AS points
                      FROM achievements.user_badges AS ub
                      JOIN achievements.badges AS b ON b.code = ub.badge
                     WHERE ub.earned_at >= since
                     GROUP BY ub.user_id) AS w
             ORDER BY w.badges DESC, w.user_id
             LIMIT n;
    END IF;
END
$$;
COMMENT ON FUNCTION achievements.badge_leaderboard(int, timestamptz) IS
    'Top lim users by number of badges held (ties share a rank); with since, only badges earned since then count.';

REVOKE EXECUTE ON FUNCTION achievements.set_featured(achievements.user_ref, text, boolean) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.set_featured(achievements.user_ref, text, boolean)');
