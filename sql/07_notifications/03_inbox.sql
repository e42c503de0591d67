-- The current user reads and clears their notifications. The user is current_user_id(); these
-- functions never touch another user's rows.

-- Marks one of the current user's notifications read; true when it was unread, false when it
-- was read already. Raises AD205 when the current user has no notification with that id
-- (another user's id gives the same error), AD005 without a user claim.
CREATE FUNCTION achievements.mark_read(id bigint)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who     achievements.user_ref := achievements_private.require_user('mark_read');
    read_at timestamptz;
BEGIN
    SELECT n.read_at INTO read_at
      FROM achievements.notifications AS n
     WHERE n.id = mark_read.id AND n.user_id = who
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the current user has no notification %', coalesce(mark_read.id::text, 'NULL')
            USING ERRCODE = 'AD205',
                  HINT = 'Pass the id of one of your notifications: SELECT id FROM achievements.notifications.';
    END IF;
    IF read_at IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE achievements.notifications AS n SET read_at = now() WHERE n.id = mark_read.id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION achievements.mark_read(bigint) IS
    'Marks one of the current user''s notifications read; true when it was unread.';

-- Marks every unread notification of the current user read; returns how many. AD005 without
-- a user claim.
CREATE FUNCTION achievements.mark_all_read()
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who achievements.user_ref := achievements_private.require_user('mark_all_read');
    n   int;
BEGIN
    UPDATE achievements.notifications AS x SET read_at = now()
     WHERE x.user_id = who AND x.read_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION achievements.mark_all_read() IS
    'Marks every unread notification of the current user read; returns how many.';

-- The number of unread notifications of the current user (partial index on unread rows).
-- AD005 without a user claim.
CREATE FUNCTION achievements.unread_count()
RETURNS int
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who achievements.user_ref := achievements_private.require_user('unread_count');
BEGIN
    RETURN (SELECT count(*)::int FROM achievements.notifications AS n
             WHERE n.user_id = who AND n.read_at IS NULL);
END
$$;
COMMENT ON FUNCTION achievements.unread_count() IS
    'Number of unread notifications of the current user.';

REVOKE EXECUTE ON FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(),
                           achievements.unread_count() FROM PUBLIC;
SELECT achievements_private.grant_to_app_roles('EXECUTE',
    'FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(), achievements.unread_count()');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(), achievements.unread_count()');
