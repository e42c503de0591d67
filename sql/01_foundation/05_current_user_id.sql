-- The user of the current request: the "sub" claim that PostgREST and Supabase put in
-- request.jwt.claims, else request.jwt.claim.sub (PostgREST < 9), else jwt.claims.user_id.
-- NULL when none is set or the value is not a valid user id. Never raises.
CREATE FUNCTION achievements.current_user_id()
RETURNS achievements.user_ref
LANGUAGE sql STABLE PARALLEL SAFE
RETURN achievements_private.parse_user_ref(coalesce(
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub',
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('jwt.claims.user_id', true), '')));
COMMENT ON FUNCTION achievements.current_user_id() IS
    'The user of the current request, from request.jwt.claims->>sub (PostgREST, Supabase) or jwt.claims.user_id; NULL when unset or not a valid user id.';
