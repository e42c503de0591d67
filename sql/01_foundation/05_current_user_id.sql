-- The user of the current request.

-- The "sub" member of a JSON text of claims, as text; NULL when the text is not a JSON object
-- with one (malformed JSON included). Never raises. PARALLEL RESTRICTED: the exception block is
-- a subtransaction, which parallel workers cannot start.
CREATE FUNCTION achievements_private.claims_sub(claims text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN claims::jsonb ->> 'sub';
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END
$$;

-- The user of the current request: the "sub" claim that PostgREST and Supabase put in
-- request.jwt.claims, else request.jwt.claim.sub (PostgREST < 9), else jwt.claims.user_id.
-- NULL when none is set, the claims are not valid JSON, or the value is not a valid user id
-- (the empty text included). Never raises.
CREATE FUNCTION achievements.current_user_id()
RETURNS achievements.user_ref
LANGUAGE sql STABLE PARALLEL RESTRICTED
RETURN achievements_private.parse_user_ref(coalesce(
    achievements_private.claims_sub(nullif(current_setting('request.jwt.claims', true), '')),
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('jwt.claims.user_id', true), '')));
COMMENT ON FUNCTION achievements.current_user_id() IS
    'The user of the current request, from request.jwt.claims->>sub (PostgREST, Supabase) or jwt.claims.user_id; NULL when unset or not a valid user id.';
