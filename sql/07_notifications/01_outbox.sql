-- The notification outbox: a row in the awarding transaction for every new badge and level,
-- announced with pg_notify('achievements', ...) at commit. SET LOCAL achievements.quiet = on
-- makes awards silent (backfills do it for themselves): no outbox row, no pg_notify.

CREATE TABLE achievements.notifications (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    achievements.user_ref NOT NULL,
    kind       text NOT NULL CHECK (kind <> ''),
    title      text NOT NULL,
    body       text,
    link       text,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
COMMENT ON TABLE achievements.notifications IS
    'Outbox: one row per new badge (kind badge, data.badge), level (kind level, data.level) or revoked badge (kind badge_revoked), written in the awarding transaction, and per achievements.notify() call (the application''s own kinds); pg_notify(''achievements'', {id, user_id, kind, badge|level}) fires at commit.';
CREATE INDEX notifications_user_idx ON achievements.notifications (user_id, id);
-- A user's unread notifications, newest first (notifications_page, unread_count).
CREATE INDEX notifications_unread_idx ON achievements.notifications (user_id, id) WHERE read_at IS NULL;

ALTER TABLE achievements.notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON achievements.notifications FOR SELECT
    USING (user_id = (SELECT achievements.current_user_id()));
SELECT achievements_private.create_service_policy('achievements.notifications');
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.notifications');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.notifications');

-- Whether awards are silent in this transaction: SET LOCAL achievements.quiet = on.
-- No SET search_path: it would stop the planner from inlining this into every award query,
-- and it is not SECURITY DEFINER; its body uses only pg_catalog functions.
CREATE FUNCTION achievements_private.quiet()
RETURNS boolean
LANGUAGE sql STABLE
RETURN lower(coalesce(current_setting('achievements.quiet', true), '')) IN ('on', 'true', 'yes', '1');

-- Sets achievements.quiet for the rest of the transaction and returns its value before, so
-- that a function can award silently and then put it back (set_quiet(before)). A function-level
-- SET of this custom setting would need a superuser on managed databases; a change made with
-- set_config is undone with the transaction or subtransaction that made it, like the rest.
CREATE FUNCTION achievements_private.set_quiet(quiet text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    before text := current_setting('achievements.quiet', true);
BEGIN
    PERFORM set_config('achievements.quiet', coalesce(quiet, ''), true);
    RETURN before;
END
$$;

-- Queues pg_notify('achievements', {"id", "user_id", "kind", "badge"|"level"}) for every row a
-- statement writes into the outbox, in id order, delivered at commit; the payload comes from the
-- statement's transition table, so the rows are not read back. Skips it (the outbox rows stay;
-- listeners catch up by reading them) when the NOTIFY queue is more than half full, because a
-- full queue makes COMMIT itself fail. An error here fails the insert, which the announcing
-- functions below catch.
CREATE FUNCTION achievements_private.publish()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_notification_queue_usage() > 0.5 THEN
        RAISE WARNING 'achievements: NOTIFY queue is % full; % notification(s) stay in achievements.notifications without pg_notify',
                      round(pg_notification_queue_usage() * 100) || '%', (SELECT count(*) FROM written);
        RETURN NULL;
    END IF;
    PERFORM pg_notify('achievements',
                      (jsonb_build_object('id', n.id, 'user_id', n.user_id, 'kind', n.kind)
                       || jsonb_strip_nulls(jsonb_build_object('badge', n.data -> 'badge', 'level', n.data -> 'level'))
                      )::text)
       FROM written AS n
      ORDER BY n.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER _100_publish
    AFTER INSERT ON achievements.notifications
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION achievements_private.publish();
