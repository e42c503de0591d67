-- The notification centre: a user's notifications page by page, read, cleared and deleted, by
-- the request's user (current_user_id()) or, for a backend without JWTs, by a service role for
-- a given user; the application's own notifications (notify); and awards whose notification
-- failed, delivered again (redeliver_notifications).
--
-- Each action has a private half taking the user it acts on; the public functions pass it the
-- request's user (require_user) or a user the caller may act for (readable_user: its own, or
-- any for service roles and the owner; 42501 otherwise). None touches another user's rows.

-- Raises AD205: `who` has no notification `id` (another user's id gives the same error).
CREATE FUNCTION achievements_private.no_notification(id bigint, who achievements.user_ref)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF who IS NOT DISTINCT FROM achievements.current_user_id() THEN
        RAISE EXCEPTION 'the current user has no notification %', coalesce(id::text, 'NULL')
            USING ERRCODE = 'AD205',
                  HINT = 'Pass the id of one of your notifications: SELECT id FROM achievements.notifications.';
    END IF;
    RAISE EXCEPTION 'user % has no notification %', who, coalesce(id::text, 'NULL')
        USING ERRCODE = 'AD205',
              HINT = 'Pass the id of one of that user''s notifications: achievements.notifications_page(user_id).';
END
$$;

-- Marks notification `id` of `who` read; true when it was unread, false when it was read
-- already. Raises AD205 when `who` has no such notification.
CREATE FUNCTION achievements_private.mark_read(id bigint, who achievements.user_ref)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    read_at timestamptz;
BEGIN
    SELECT n.read_at INTO read_at
      FROM achievements.notifications AS n
     WHERE n.id = mark_read.id AND n.user_id = who
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM achievements_private.no_notification(mark_read.id, who);
    END IF;
    IF read_at IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE achievements.notifications AS n SET read_at = now() WHERE n.id = mark_read.id;
    RETURN true;
END
$$;

-- Marks every unread notification of `who` read; returns how many.
CREATE FUNCTION achievements_private.mark_all_read(who achievements.user_ref)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int;
BEGIN
    UPDATE achievements.notifications AS x SET read_at = now()
     WHERE x.user_id = who AND x.read_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The number of unread notifications of `who` (partial index on unread rows).
CREATE FUNCTION achievements_private.unread_count(who achievements.user_ref)
RETURNS int
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*)::int FROM achievements.notifications AS n WHERE n.user_id = who AND n.read_at IS NULL
$$;

-- Deletes notification `id` of `who`; true. Raises AD205 when `who` has no such notification.
CREATE FUNCTION achievements_private.delete_notification(id bigint, who achievements.user_ref)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM achievements.notifications AS n WHERE n.id = delete_notification.id AND n.user_id = who;
    IF NOT FOUND THEN
        PERFORM achievements_private.no_notification(delete_notification.id, who);
    END IF;
    RETURN true;
END
$$;

-- `who`'s notifications, newest first, `lim` at a time (keyset pagination on id: `before` is the
-- id of the last notification of the previous page; any id works), only the unread ones when
-- `unread_only`. Reads the index on (user_id, id), or its partial twin of unread rows, from
-- `before` down (a bound the index finds, whatever the plan), so a page costs the same at any
-- depth. Raises
-- AD206 for a limit outside 1..1000 or a NULL unread_only.
CREATE FUNCTION achievements_private.notifications_page(who achievements.user_ref, before bigint, lim int, unread_only boolean)
RETURNS TABLE (id bigint, kind text, title text, body text, link text, data jsonb, created_at timestamptz,
               read_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n int := achievements_private.check_page_limit(lim);
BEGIN
    IF unread_only IS NULL THEN
        RAISE EXCEPTION 'unread_only must be true or false, not NULL'
            USING ERRCODE = 'AD206', HINT = 'Pass unread_only => true for the unread notifications alone.';
    END IF;
    IF unread_only THEN
        RETURN QUERY
            SELECT x.id, x.kind, x.title, x.body, x.link, x.data, x.created_at, x.read_at
              FROM achievements.notifications AS x
             WHERE x.user_id = who AND x.read_at IS NULL AND x.id < coalesce(before, 9223372036854775807)
             ORDER BY x.id DESC
             LIMIT n;
    ELSE
        RETURN QUERY
            SELECT x.id, x.kind, x.title, x.body, x.link, x.data, x.created_at, x.read_at
              FROM achievements.notifications AS x
             WHERE x.user_id = who AND x.id < coalesce(before, 9223372036854775807)
             ORDER BY x.id DESC
             LIMIT n;
    END IF;
END
$$;

-- Marks one of the current user's notifications read; true when it was unread, false when it
-- was read already. Raises AD205 when the current user has no notification with that id
-- (another user's id gives the same error), AD005 without a user claim.
CREATE FUNCTION achievements.mark_read(id bigint)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN achievements_private.mark_read(id, achievements_private.require_user('mark_read'));
COMMENT ON FUNCTION achievements.mark_read(bigint) IS
    'Marks one of the current user''s notifications read; true when it was unread.';

-- Marks every unread notification of the current user read; returns how many. AD005 without
-- a user claim.
CREATE FUNCTION achievements.mark_all_read()
RETURNS int
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN achievements_private.mark_all_read(achievements_private.require_user('mark_all_read'));
COMMENT ON FUNCTION achievements.mark_all_read() IS
    'Marks every unread notification of the current user read; returns how many.';

-- The number of unread notifications of the current user (partial index on unread rows).
-- AD005 without a user claim.
CREATE FUNCTION achievements.unread_count()
RETURNS int
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN achievements_private.unread_count(achievements_private.require_user('unread_count'));
COMMENT ON FUNCTION achievements.unread_count() IS
    'Number of unread notifications of the current user.';

-- Deletes one of the current user's notifications; true. Raises AD205 when the current user
-- has no notification with that id, AD005 without a user claim.
CREATE FUNCTION achievements.delete_notification(id bigint)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN achievements_private.delete_notification(id, achievements_private.require_user('delete_notification'));
COMMENT ON FUNCTION achievements.delete_notification(bigint) IS
    'Deletes one of the current user''s notifications; true. AD205 when there is no such notification.';

-- The same four for a given user: the request's own (any role), or any user for service roles
-- and the owner (a backend without JWTs). Raise AD005 without a user, 42501 when an application
-- role names another user, and AD205 as above.
CREATE FUNCTION achievements.mark_read(id bigint, user_id achievements.user_ref)
RETURNS boolean
LANGUAGE sql
BEGIN ATOMIC
    SELECT achievements_private.mark_read(id, achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.mark_read(bigint, achievements.user_ref) IS
    'Marks one of the user''s notifications read; true when it was unread. Service roles: any user.';

-- Marks every unread notification of the user read; returns how many (see mark_read above).
CREATE FUNCTION achievements.mark_all_read(user_id achievements.user_ref)
RETURNS int
LANGUAGE sql
BEGIN ATOMIC
    SELECT achievements_private.mark_all_read(achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.mark_all_read(achievements.user_ref) IS
    'Marks every unread notification of the user read; returns how many. Service roles: any user.';

-- The number of unread notifications of the user (see mark_read above).
CREATE FUNCTION achievements.unread_count(user_id achievements.user_ref)
RETURNS int
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT achievements_private.unread_count(achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.unread_count(achievements.user_ref) IS
    'Number of unread notifications of the user. Service roles: any user.';

-- Deletes one of the user's notifications; true (see mark_read above).
CREATE FUNCTION achievements.delete_notification(id bigint, user_id achievements.user_ref)
RETURNS boolean
LANGUAGE sql
BEGIN ATOMIC
    SELECT achievements_private.delete_notification(id, achievements_private.readable_user(user_id));
END;
COMMENT ON FUNCTION achievements.delete_notification(bigint, achievements.user_ref) IS
    'Deletes one of the user''s notifications; true. Service roles: any user.';

-- The user's notifications, newest first, `lim` (default 20) at a time: pass the id of the
-- last one of a page as `before` for the next; `unread_only` for the unread ones alone. Raises
-- AD005 without a user, 42501 when an application role asks about another user, AD206 for a
-- limit outside 1..1000.
CREATE FUNCTION achievements.notifications_page(
    user_id achievements.user_ref DEFAULT achievements.current_user_id(),
    before bigint DEFAULT NULL,
    lim int DEFAULT 20,
    unread_only boolean DEFAULT false)
RETURNS TABLE (id bigint, kind text, title text, body text, link text, data jsonb, created_at timestamptz,
               read_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM achievements_private.notifications_page(achievements_private.readable_user(user_id), before, lim,
                                                          unread_only);
END;
COMMENT ON FUNCTION achievements.notifications_page(achievements.user_ref, bigint, int, boolean) IS
    'The user''s notifications newest first, lim (default 20) at a time; before = id of the last one of the previous page; unread_only.';

-- Writes a notification of the application's own `kind` for a user into the outbox, in the
-- caller's transaction, announced by pg_notify at commit like the package's own (whatever
-- achievements.quiet says: it is asked for). Returns its id. Raises AD005 for no user, AD208
-- for a kind that is not 1 to 100 characters or is one of the package's (badge, level,
-- badge_revoked), an empty title, or data that is not a JSON object (NULL: {}). Owner and
-- service roles.
CREATE FUNCTION achievements.notify(
    user_id achievements.user_ref, kind text, title text, body text DEFAULT NULL, link text DEFAULT NULL,
    data jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    hint    text;
    written bigint;
BEGIN
    IF achievements_private.no_user(notify.user_id) THEN
        RAISE EXCEPTION 'notify: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user to notify.';
    END IF;
    IF coalesce(char_length(notify.kind), 0) NOT BETWEEN 1 AND 100 THEN
        problem := 'kind must be a name of 1 to 100 characters';
        hint := 'Name the kind of notification, e.g. ''collaboration_added''.';
    ELSIF notify.kind IN ('badge', 'level', 'badge_revoked') THEN
        problem := format('kind %s is the package''s own', quote_literal(notify.kind));
        hint := 'Badges, levels and revocations are notified by the package; give your notification a kind of its own.';
    ELSIF coalesce(notify.title, '') = '' THEN
        problem := 'title must be a non-empty text';
        hint := 'Give the notification the title users see.';
    ELSIF notify.data IS NOT NULL AND jsonb_typeof(notify.data) <> 'object' THEN
        problem := format('data must be a JSON object (got %s)', jsonb_typeof(notify.data));
        hint := 'Pass data as an object, e.g. {"song_id": 123}, or leave it out.';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'notify: %', problem USING ERRCODE = 'AD208', HINT = hint;
    END IF;
    INSERT INTO achievements.notifications (user_id, kind, title, body, link, data)
    VALUES (notify.user_id, notify.kind, notify.title, notify.body, notify.link, coalesce(notify.data, '{}'))
    RETURNING id INTO written;
    RETURN written;
END
$$;
COMMENT ON FUNCTION achievements.notify(achievements.user_ref, text, text, text, text, jsonb) IS
    'Writes a notification of the application''s own kind to a user (outbox and pg_notify at commit); returns its id.';

-- Writes the notifications of up to `lim` awards whose notification failed (user_badges and
-- user_levels with notified = false, oldest first), as the award would have: badge and level
-- rows from the templates, pg_notify at commit. Takes those users' locks first (docs/locks.md)
-- and writes only what is still undelivered then, so two concurrent calls deliver each award
-- once. Returns one row per award: kind, user, badge or level code, and whether it is delivered
-- now (false: it failed again, with a WARNING; it stays undelivered). Ignores
-- achievements.quiet (delivering is what it is asked for). Raises AD206 for a limit outside
-- 1..1000. Owner and service roles.
CREATE FUNCTION achievements.redeliver_notifications(lim int DEFAULT 100)
RETURNS TABLE (kind text, user_id achievements.user_ref, code text, delivered boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n       int := achievements_private.check_page_limit(lim);
    quiet   text;
    users   achievements.user_ref[];
    bcodes  text[];
    busers  achievements.user_ref[];
    lcodes  text[];
    lusers  achievements.user_ref[];
BEGIN
    SELECT array_agg(p.user_id) INTO users
      FROM (SELECT u.user_id
              FROM (SELECT ub.user_id, ub.earned_at AS at FROM achievements.user_badges AS ub WHERE NOT ub.notified
                    UNION ALL
                    SELECT ul.user_id, ul.achieved_at FROM achievements.user_levels AS ul WHERE NOT ul.notified) AS u
             ORDER BY u.at
             LIMIT n) AS p;
    IF users IS NULL THEN
        RETURN;
    END IF;
    PERFORM achievements_private.lock_users(users);
    WITH pending AS (
        SELECT 'badge' AS kind, ub.user_id, ub.badge AS code, ub.earned_at AS at
          FROM achievements.user_badges AS ub WHERE NOT ub.notified AND ub.user_id = ANY (users)
        UNION ALL
        SELECT 'level', ul.user_id, ul.level, ul.achieved_at
          FROM achievements.user_levels AS ul WHERE NOT ul.notified AND ul.user_id = ANY (users)
        ORDER BY at, user_id, code
        LIMIT n
    )
    SELECT array_agg(p.user_id ORDER BY p.at, p.user_id, p.code) FILTER (WHERE p.kind = 'badge'),
           array_agg(p.code ORDER BY p.at, p.user_id, p.code) FILTER (WHERE p.kind = 'badge'),
           array_agg(p.user_id ORDER BY p.at, p.user_id, p.code) FILTER (WHERE p.kind = 'level'),
           array_agg(p.code ORDER BY p.at, p.user_id, p.code) FILTER (WHERE p.kind = 'level')
      INTO busers, bcodes, lusers, lcodes
      FROM pending AS p;
    quiet := achievements_private.set_quiet('off');
    -- Marked delivered first; the announcing functions mark them undelivered again on failure.
    IF busers IS NOT NULL THEN
        UPDATE achievements.user_badges AS ub SET notified = true
          FROM unnest(busers, bcodes) AS a(user_id, badge)
         WHERE ub.user_id = a.user_id AND ub.badge = a.badge;
        PERFORM achievements_private.announce_badges(busers, bcodes);
    END IF;
    IF lusers IS NOT NULL THEN
        UPDATE achievements.user_levels AS ul SET notified = true
          FROM unnest(lusers, lcodes) AS a(user_id, level)
         WHERE ul.user_id = a.user_id AND ul.level = a.level;
        PERFORM achievements_private.announce_levels(lusers, lcodes);
    END IF;
    PERFORM achievements_private.set_quiet(quiet);
    RETURN QUERY
        SELECT 'badge', a.user_id, a.badge, ub.notified
          FROM unnest(busers, bcodes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements.user_badges AS ub ON ub.user_id = a.user_id AND ub.badge = a.badge
        UNION ALL
        SELECT 'level', a.user_id, a.level, ul.notified
          FROM unnest(lusers, lcodes) WITH ORDINALITY AS a(user_id, level, ord)
          JOIN achievements.user_levels AS ul ON ul.user_id = a.user_id AND ul.level = a.level;
END
$$;
COMMENT ON FUNCTION achievements.redeliver_notifications(int) IS
    'Writes the notifications of awards whose notification failed (notified = false), up to lim (default 100); one row per award, delivered or not.';

REVOKE EXECUTE ON FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(),
                           achievements.unread_count(), achievements.delete_notification(bigint),
                           achievements.notify(achievements.user_ref, text, text, text, text, jsonb),
                           achievements.redeliver_notifications(int) FROM PUBLIC;
SELECT achievements_private.grant_to_app_roles('EXECUTE',
    'FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(), achievements.unread_count(), achievements.delete_notification(bigint)');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.mark_read(bigint), achievements.mark_all_read(), achievements.unread_count(), achievements.delete_notification(bigint)');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.notify(achievements.user_ref, text, text, text, text, jsonb), achievements.redeliver_notifications(int)');
