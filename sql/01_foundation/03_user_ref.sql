-- The type of every user id: the domain achievements.user_ref over the base type chosen at
-- install (uuid, bigint or text), and the parser that reads a user id from the text of a claim.
-- Both depend on that option, so they are the two objects built with EXECUTE; everything else
-- is written out.

DO $user_ref$
DECLARE
    id_type text := (SELECT o.user_id_type FROM achievements_private.install_options AS o);
BEGIN
    EXECUTE format('CREATE DOMAIN achievements.user_ref AS %s', id_type);

    -- parse_user_ref(raw): the text of a claim as a user id, or NULL when it is not one. Never
    -- raises (uuid: 8-4-4-4-12 or 32 hex digits; bigint: a 64-bit integer; text: non-empty).
    EXECUTE format($f$
        CREATE FUNCTION achievements_private.parse_user_ref(raw text)
        RETURNS achievements.user_ref
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN %s
    $f$, CASE id_type
        WHEN 'uuid' THEN
            $e$(CASE WHEN btrim(raw) ~* '^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$'
                     THEN btrim(raw)::uuid END)::achievements.user_ref$e$
        WHEN 'bigint' THEN
            $e$(CASE WHEN btrim(raw) ~ '^[-+]?[0-9]{1,19}$'
                     THEN CASE WHEN btrim(raw)::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
                               THEN btrim(raw)::bigint END END)::achievements.user_ref$e$
        ELSE
            $e$nullif(raw, '')::achievements.user_ref$e$
        END);
END
$user_ref$;

COMMENT ON DOMAIN achievements.user_ref IS
    'The type of every user id in achievements-db; its base type (uuid, bigint or text) is chosen once, at install.';
COMMENT ON FUNCTION achievements_private.parse_user_ref(text) IS
    'The text of a claim or column as a user id; NULL when it is not one. Never raises.';

-- Whether `user_id` names no user: NULL, or the empty text (with the text user id type). The one
-- rule of every path: a claim, a user column and an argument that is empty count for no one.
CREATE FUNCTION achievements_private.no_user(user_id achievements.user_ref)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN user_id IS NULL OR user_id::text = '';

-- The text `raw` as a user id of the installed type, or NULL when it is not one (the empty text
-- included); never raises. Public: what current_user_id() applies to a claim, for any text.
CREATE FUNCTION achievements.parse_user_id(raw text)
RETURNS achievements.user_ref
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN achievements_private.parse_user_ref(raw);
COMMENT ON FUNCTION achievements.parse_user_id(text) IS
    'Text as a user id of the installed type (uuid, bigint or text); NULL when it is not a valid one. Never raises.';
