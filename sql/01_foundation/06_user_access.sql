-- Who may ask about which user: the checks every per-user function runs first.

-- Raises AD005 when no user is given, and 42501 when the caller is subject to row level
-- security, asks about another user than its own, and holds no policy that shows every row
-- (service_roles_all). Returns the user, so that callers write
-- `who := achievements_private.readable_user(who)`. Runs with the caller's rights (it asks
-- whether row level security applies to the caller), so the read functions that call it do too.
CREATE FUNCTION achievements_private.readable_user(user_id achievements.user_ref)
RETURNS achievements.user_ref
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- achievements_private.no_user, written out: this function runs with the caller's rights.
    IF user_id IS NULL OR user_id::text = '' THEN
        RAISE EXCEPTION 'no user: user_id is NULL and the request carries no user claim'
            USING ERRCODE = 'AD005',
                  HINT = 'Pass a user id, or set request.jwt.claims (PostgREST, Supabase) or jwt.claims.user_id.';
    END IF;
    IF user_id IS DISTINCT FROM achievements.current_user_id()
       AND row_security_active('achievements.user_achievements')
       AND NOT EXISTS (
           SELECT 1
             FROM pg_policy AS p
            WHERE p.polrelid = 'achievements.user_achievements'::regclass
              AND p.polname = 'service_roles_all'
              AND EXISTS (SELECT 1 FROM unnest(p.polroles) AS r
                           WHERE r = 0 OR pg_has_role(current_user, r, 'USAGE')))
    THEN
        RAISE EXCEPTION 'permission denied: role % may read only its own progress', current_user
            USING ERRCODE = '42501',
                  HINT = 'Ask for the user of the request (leave user_id out), or call from a service role.';
    END IF;
    RETURN user_id;
END
$$;

-- The user of the request (current_user_id()), or AD005 naming the function `fn` that needs one.
CREATE FUNCTION achievements_private.require_user(fn text)
RETURNS achievements.user_ref
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who achievements.user_ref := achievements.current_user_id();
BEGIN
    IF who IS NULL THEN
        RAISE EXCEPTION '%: the request carries no user claim', fn USING ERRCODE = 'AD005',
            HINT = 'Set request.jwt.claims (PostgREST, Supabase) or jwt.claims.user_id to the user.';
    END IF;
    RETURN who;
END
$$;
