-- 0006_rewards: badges about badges, points by rarity, levels from points, the notification
-- centre, community reads and the awards of the current transaction (issue 16).
--   * Badges gain criteria over the user's other badges and points: min_badges and all_badges
--     (of badge_category, or the whole catalog) and min_points, awarded and (revocable ones)
--     revoked by a trigger on user_badges whatever path changed them; points_by_rarity and
--     achievements.rarity_points give badges their rarity's points.
--   * Levels may require min_points (the user's points): awarded when the points reach them.
--   * Notifications: templates per kind (achievements.notification_templates) and per badge and
--     level (link, notification_title, notification_body); a notification on revocation;
--     notify() for the application's own kinds; a page of a user's notifications, deleting one,
--     and every action for a given user (service roles); redeliver_notifications() for awards
--     whose notification failed (user_levels.notified is new).
--   * Community reads: community_feed(), set_featured() (user_badges.featured),
--     badge_leaderboard(), step_leaderboard() over declared periods (step_leaderboards).
--   * transaction_awards(): the awards of the current transaction (awarded_in).
-- The new tables start empty (every rarity worth 0 points; the package's templates, which are
-- what it wrote by hand before): nothing counted so far changes, no award moves.
-- It changes functions and constraints, adds columns and indexes: rather than queue behind a
-- long transaction, it gives up and changes nothing. Each migration is one transaction (yoyo),
-- where indexes cannot be built CONCURRENTLY; the new indexes of user_badges take seconds at a
-- million awards. The two CHECK constraints replaced are checked at once on the small catalog.
-- achievements_private.step_period_counts.starts is the wall-clock start of a period in its
-- leaderboard's time zone: a timestamp without one, on purpose. points loses its default:
-- left out, a badge takes its rarity's points.
-- squawk-ignore-file prefer-timestamp-tz, ban-drop-default, require-concurrent-index-creation, require-concurrent-index-deletion, constraint-missing-not-valid, ban-drop-constraint, adding-field-with-default, adding-not-nullable-field
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';
-- Functions are written in creation order, not in the order they call each other.
SET LOCAL check_function_bodies = off;

-- Points by rarity.
CREATE TABLE achievements.rarity_points (
    rarity text PRIMARY KEY CONSTRAINT rarity_points_rarity_known
               CHECK (rarity IN ('common', 'uncommon', 'rare', 'epic', 'legendary')),
    points int NOT NULL CONSTRAINT rarity_points_points_not_negative CHECK (points >= 0)
);
COMMENT ON TABLE achievements.rarity_points IS
    'Default points per rarity (a rarity without a row: 0): a badge declared without points (points_by_rarity) is worth its rarity''s points, and follows them when they change. Change them with apply_catalog ([rarity_points]).';
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.rarity_points');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.rarity_points');

-- Badges about badges, points by rarity, notification fields.
ALTER TABLE achievements.badges
    ALTER COLUMN points DROP DEFAULT,
    ADD COLUMN min_badges int CONSTRAINT badges_min_badges_positive CHECK (min_badges >= 1),
    ADD COLUMN all_badges boolean NOT NULL DEFAULT false,
    ADD COLUMN badge_category text,
    ADD COLUMN min_points int CONSTRAINT badges_min_points_positive CHECK (min_points >= 1),
    ADD COLUMN points_by_rarity boolean NOT NULL DEFAULT false,
    ADD COLUMN link text,
    ADD COLUMN notification_title text,
    ADD COLUMN notification_body text,
    DROP CONSTRAINT badges_one_criterion,
    ADD CONSTRAINT badges_one_criterion
        CHECK (num_nonnulls(step, level, min_badges, min_points) + CASE WHEN all_badges THEN 1 ELSE 0 END <= 1),
    DROP CONSTRAINT badges_revocable_needs_threshold,
    ADD CONSTRAINT badges_revocable_needs_criterion
        CHECK (NOT revocable OR step IS NOT NULL OR min_badges IS NOT NULL OR all_badges OR min_points IS NOT NULL),
    ADD CONSTRAINT badges_category_of_badge_criteria CHECK (badge_category IS NULL OR min_badges IS NOT NULL OR all_badges);
COMMENT ON TABLE achievements.badges IS
    'Badge catalog. Criteria: step + threshold (tally reaches threshold), level (level reached), min_badges / all_badges [of badge_category] or min_points (the user''s other badges), or none (granted by award_badge / claim_badge). active_from/active_until bound a seasonal window.';
COMMENT ON COLUMN achievements.badges.revocable IS 'Threshold badges and badges about badges: taken back automatically when the tally falls below the threshold, or the badges or points they count fall below what they need.';
COMMENT ON COLUMN achievements.badges.min_badges IS 'Earned on holding at least this many badges (of badge_category, if given) that are not about badges themselves.';
COMMENT ON COLUMN achievements.badges.all_badges IS 'Earned on holding every badge (of badge_category, if given) that is not about badges, as the catalog is at the time.';
COMMENT ON COLUMN achievements.badges.min_points IS 'Earned when the points of the badges the user holds that are not about badges reach this.';
COMMENT ON COLUMN achievements.badges.points_by_rarity IS 'true: the badge is worth the points of its rarity (achievements.rarity_points) and follows them; set when points is left out.';
CREATE INDEX badges_about_badges_idx ON achievements.badges (code)
    WHERE min_badges IS NOT NULL OR all_badges OR min_points IS NOT NULL;

-- Levels reached by points; their notification fields.
ALTER TABLE achievements.levels
    ADD COLUMN min_points int CONSTRAINT levels_min_points_positive CHECK (min_points >= 1),
    ADD COLUMN link text,
    ADD COLUMN notification_title text,
    ADD COLUMN notification_body text;
COMMENT ON TABLE achievements.levels IS
    'Levels a user reaches once every requirement in level_requirements is met (and, with min_points, once their points reach it).';
COMMENT ON COLUMN achievements.levels.min_points IS
    'NULL, or the points (achievements.user_points) the level requires besides its step requirements; a level with min_points and no requirements is reached by points alone.';
COMMENT ON COLUMN achievements.levels.link IS
    'The link of the level''s notification (NULL: the link of the level template); may use {level}, {name}, {user_id}.';
CREATE INDEX levels_min_points_idx ON achievements.levels (min_points) WHERE min_points IS NOT NULL;

-- The awarding transaction, delivery and featuring of awards. awarded_in gets its default after
-- the column is added, so that the rows there stay NULL and the table is not rewritten.
ALTER TABLE achievements.user_levels
    ADD COLUMN notified boolean NOT NULL DEFAULT true,
    ADD COLUMN awarded_in xid8;
ALTER TABLE achievements.user_levels ALTER COLUMN awarded_in SET DEFAULT pg_current_xact_id();
COMMENT ON COLUMN achievements.user_levels.notified IS
    'false: the level stands but its notification could not be written; achievements.redeliver_notifications() writes it.';
COMMENT ON COLUMN achievements.user_levels.awarded_in IS
    'The id of the transaction that awarded the level (NULL for levels awarded before 0006): achievements.transaction_awards() reads it.';
CREATE INDEX user_levels_achieved_at_idx ON achievements.user_levels USING brin (achieved_at);
CREATE INDEX user_levels_unnotified_idx ON achievements.user_levels (user_id, level) WHERE NOT notified;

ALTER TABLE achievements.user_badges
    ADD COLUMN featured boolean NOT NULL DEFAULT false,
    ADD COLUMN awarded_in xid8;
ALTER TABLE achievements.user_badges ALTER COLUMN awarded_in SET DEFAULT pg_current_xact_id();
COMMENT ON COLUMN achievements.user_badges.featured IS
    'Highlighted in achievements.community_feed(); an admin sets it with achievements.set_featured().';
COMMENT ON COLUMN achievements.user_badges.awarded_in IS
    'The id of the transaction that awarded the badge (NULL for badges awarded before 0006): achievements.transaction_awards() reads it.';
CREATE INDEX user_badges_feed_idx ON achievements.user_badges (badge, earned_at, user_id) WHERE is_public;
CREATE INDEX user_badges_featured_idx ON achievements.user_badges (earned_at, user_id, badge)
    WHERE featured AND is_public;
CREATE INDEX user_badges_unnotified_idx ON achievements.user_badges (user_id, badge) WHERE NOT notified;

CREATE INDEX user_scores_badges_rank_idx ON achievements.user_scores (badges DESC, user_id) WHERE badges > 0;

-- The notification centre: unread notifications newest first.
DROP INDEX achievements.notifications_unread_idx;
CREATE INDEX notifications_unread_idx ON achievements.notifications (user_id, id) WHERE read_at IS NULL;
COMMENT ON TABLE achievements.notifications IS
    'Outbox: one row per new badge (kind badge, data.badge), level (kind level, data.level) or revoked badge (kind badge_revoked), written in the awarding transaction, and per achievements.notify() call (the application''s own kinds); pg_notify(''achievements'', {id, user_id, kind, badge|level}) fires at commit.';

CREATE TABLE achievements.notification_templates (
    kind  text PRIMARY KEY
              CONSTRAINT notification_templates_kind_known CHECK (kind IN ('badge', 'level', 'badge_revoked')),
    title text NOT NULL CONSTRAINT notification_templates_title_not_empty CHECK (title <> ''),
    body  text,
    link  text
);
COMMENT ON TABLE achievements.notification_templates IS
    'Title, body and link templates of the notifications the package writes (kinds badge, level, badge_revoked); badges and levels may override them. Change them with apply_catalog ([notifications]).';
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.notification_templates');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.notification_templates');

-- Leaderboards of a step over calendar periods.
CREATE TABLE achievements.step_leaderboards (
    step       text NOT NULL CONSTRAINT step_leaderboards_step_of_1_to_200_characters
                   CHECK (char_length(step) BETWEEN 1 AND 200),
    period     text NOT NULL CONSTRAINT step_leaderboards_period_known CHECK (period IN ('day', 'week', 'month')),
    time_zone  text NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (step, period)
);
COMMENT ON TABLE achievements.step_leaderboards IS
    'Steps counted per calendar period (day, week, month, starting in time_zone) for achievements.step_leaderboard(). Declare them with apply_catalog ([leaderboards]).';
SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.step_leaderboards');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.step_leaderboards');
CREATE TABLE achievements_private.step_period_counts (
    step    text NOT NULL,
    period  text NOT NULL,
    starts  timestamp NOT NULL,
    user_id achievements.user_ref NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (step, period, starts, user_id),
    FOREIGN KEY (step, period) REFERENCES achievements.step_leaderboards (step, period)
        ON DELETE CASCADE ON UPDATE CASCADE
);
COMMENT ON TABLE achievements_private.step_period_counts IS
    'Steps per user and calendar period of each declared leaderboard (step_leaderboards): the sum of the log rows created in the period.';
CREATE INDEX step_period_counts_rank_idx
    ON achievements_private.step_period_counts (step, period, starts, count DESC, user_id);

-- Functions: new and changed definitions (sql/ has each in its file).

CREATE OR REPLACE FUNCTION achievements_private.validate_level()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    problem text;
    hint    text;
BEGIN
    IF NEW.min_points < 1 THEN
        problem := format('min_points must be at least 1 (got %s)', NEW.min_points);
        hint := 'Leave min_points NULL for a level reached by steps alone.';
    ELSE
        problem := coalesce(achievements_private.template_problem('link', NEW.link, 'level'),
                            achievements_private.template_problem('notification_title', NEW.notification_title, 'level'),
                            achievements_private.template_problem('notification_body', NEW.notification_body, 'level'));
        hint := 'Level templates may use ' || achievements_private.template_placeholders('level') || '.';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'level %: %', coalesce(quote_literal(NEW.name), 'NULL'), problem
            USING ERRCODE = 'AD209', HINT = hint;
    END IF;
    RETURN NEW;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.tally_new_steps()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    user_ids achievements.user_ref[];
    names    text[];
    deltas   int[];
    created  timestamptz[];
BEGIN
    SELECT array_agg(s.user_id), array_agg(s.name), array_agg(s.delta)
      INTO user_ids, names, deltas
      FROM (SELECT n.user_id, n.name,
                   CASE WHEN sum(n.count) > 2147483647
                        THEN achievements_private.tally_overflow(n.user_id, n.name, NULL, sum(n.count))
                        ELSE sum(n.count)::int END AS delta
              FROM new_steps AS n
             GROUP BY n.user_id, n.name) AS s;
    IF '' = ANY (user_ids::text[]) THEN
        RAISE EXCEPTION 'achievements.user_steps: a row has no user (user_id is the empty text)'
            USING ERRCODE = 'AD005',
                  HINT = 'Log steps for a user: the empty text is no user id, as NULL is not.';
    END IF;
    IF user_ids IS NOT NULL THEN
        PERFORM achievements_private.add_to_tallies(user_ids, names, deltas, false);
        -- Counted by the time of each row, under the tallies' locks add_to_tallies took.
        IF EXISTS (SELECT 1 FROM achievements.step_leaderboards AS l WHERE l.step = ANY (names)) THEN
            SELECT array_agg(n.user_id), array_agg(n.name), array_agg(n.count), array_agg(n.created_at)
              INTO user_ids, names, deltas, created
              FROM (SELECT n.user_id, n.name, n.created_at, sum(n.count)::int AS count
                      FROM new_steps AS n
                     GROUP BY n.user_id, n.name, n.created_at) AS n;
            PERFORM achievements_private.count_in_periods(user_ids, names, deltas, created);
        END IF;
    END IF;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.add_to_tallies(user_ids achievements.user_ref[], names text[], deltas integer[], log_steps boolean)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    below      record;
    tally      int;
    old_counts int[];
    new_counts int[];
    moved      int[];
BEGIN
    -- One row by VALUES: an INSERT from unnest() would be planned again on every call.
    IF log_steps AND cardinality(user_ids) = 1 THEN
        INSERT INTO achievements_private.recorded_steps (user_id, name, count)
        VALUES (user_ids[1], names[1], deltas[1]);
    ELSIF log_steps THEN
        INSERT INTO achievements_private.recorded_steps (user_id, name, count)
        SELECT s.user_id, s.name, s.delta FROM unnest(user_ids, names, deltas) AS s(user_id, name, delta);
    END IF;
    IF cardinality(user_ids) = 1 AND deltas[1] > 0 THEN
        UPDATE achievements.user_achievements AS t
           SET count = CASE WHEN t.count::bigint + deltas[1] > 2147483647
                            THEN achievements_private.tally_overflow(t.user_id, t.name, t.count, deltas[1])
                            ELSE t.count + deltas[1] END,
               updated_at = now()
         WHERE t.user_id = user_ids[1] AND t.name = names[1]
        RETURNING t.count INTO tally;
        IF NOT FOUND THEN
            -- A new tally, or one a concurrent transaction has just inserted: the upsert adds
            -- to it under its row lock.
            INSERT INTO achievements.user_achievements AS t (user_id, name, count)
            VALUES (user_ids[1], names[1], deltas[1])
            ON CONFLICT (user_id, name)
            DO UPDATE SET count = CASE WHEN t.count::bigint + excluded.count > 2147483647
                                       THEN achievements_private.tally_overflow(t.user_id, t.name, t.count, excluded.count)
                                       ELSE t.count + excluded.count END,
                          updated_at = now()
            RETURNING t.count INTO tally;
        END IF;
        IF log_steps AND EXISTS (SELECT 1 FROM achievements.step_leaderboards AS l WHERE l.step = names[1]) THEN
            PERFORM achievements_private.count_in_periods(user_ids, names, deltas, ARRAY[now()]);
        END IF;
        PERFORM achievements_private.tallies_changed(user_ids, names, ARRAY[tally - deltas[1]], ARRAY[tally]);
        RETURN tally;
    END IF;
    -- The count before is the count after minus the delta, which the upsert adds under the
    -- row lock.
    WITH steps AS (
        SELECT s.user_id, s.name, s.delta
          FROM unnest(user_ids, names, deltas) AS s(user_id, name, delta)
    ), tallied AS (
        INSERT INTO achievements.user_achievements AS t (user_id, name, count)
        SELECT s.user_id, s.name, s.delta FROM steps AS s ORDER BY s.user_id, s.name
        ON CONFLICT (user_id, name)
        DO UPDATE SET count = CASE WHEN t.count::bigint + excluded.count > 2147483647
                                   THEN achievements_private.tally_overflow(t.user_id, t.name, t.count, excluded.count)
                                   ELSE t.count + excluded.count END,
                      updated_at = now()
        RETURNING t.user_id, t.name, t.count
    )
    SELECT array_agg(t.user_id), array_agg(t.name), array_agg(t.count - s.delta), array_agg(t.count),
           array_agg(s.delta)
      INTO user_ids, names, old_counts, new_counts, moved
      FROM tallied AS t
      JOIN steps AS s ON s.user_id = t.user_id AND s.name = t.name;
    IF log_steps AND EXISTS (SELECT 1 FROM achievements.step_leaderboards AS l WHERE l.step = ANY (names)) THEN
        PERFORM achievements_private.count_in_periods(user_ids, names, moved,
                                                      array_fill(now(), ARRAY[cardinality(user_ids)]));
    END IF;
    IF 0 > ANY (deltas) THEN
        SELECT c.user_id, c.name, c.count INTO below
          FROM unnest(user_ids, names, new_counts) AS c(user_id, name, count)
         WHERE c.count < 0
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'step "%" of user % would fall below zero (to %)', below.name, below.user_id, below.count
                USING ERRCODE = 'AD003',
                      HINT = 'Undo with achievements.undo_step(), which stops at zero, or insert smaller negative counts.';
        END IF;
    END IF;
    IF user_ids IS NOT NULL THEN
        PERFORM achievements_private.tallies_changed(user_ids, names, old_counts, new_counts);
    END IF;
    RETURN CASE WHEN cardinality(new_counts) = 1 THEN new_counts[1] END;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.steps_required(level_name text, who achievements.user_ref)
 RETURNS TABLE(id integer, name text, level text, required_count integer, priority integer)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    PERFORM achievements_private.assert_level(level_name);
    RETURN QUERY
        SELECT NULL::int, 'points', l.name,
               (l.min_points - coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0))::int,
               0
          FROM achievements.levels AS l
         WHERE l.name = level_name AND l.min_points IS NOT NULL
           AND coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0) < l.min_points;
    RETURN QUERY
        SELECT r.id, r.name, r.level, r.required_count - coalesce(t.count, 0), r.priority
          FROM achievements.level_requirements AS r
          LEFT JOIN achievements.user_achievements AS t
                 ON t.user_id = who AND t.name = r.name
         WHERE r.level = level_name
           AND coalesce(t.count, 0) < r.required_count
         ORDER BY r.priority, r.name;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.level_progress(who achievements.user_ref, level_name text)
 RETURNS TABLE(level text, requirement text, kind text, current bigint, target bigint, achieved_at timestamp with time zone)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    IF level_name IS NOT NULL THEN
        PERFORM achievements_private.assert_level(level_name);
    END IF;
    RETURN QUERY
        WITH mine AS (
            SELECT coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0) AS points
        ), parts AS (
            SELECT l.name AS level, l.min_points AS order_points, 'points' AS requirement, 'points' AS kind,
                   m.points AS have, l.min_points::bigint AS need, 0 AS priority
              FROM achievements.levels AS l CROSS JOIN mine AS m
             WHERE l.min_points IS NOT NULL AND (level_name IS NULL OR l.name = level_name)
            UNION ALL
            SELECT r.level, l.min_points, r.name, 'step', coalesce(t.count, 0)::bigint, r.required_count::bigint, r.priority
              FROM achievements.level_requirements AS r
              JOIN achievements.levels AS l ON l.name = r.level
              LEFT JOIN achievements.user_achievements AS t ON t.user_id = who AND t.name = r.name
             WHERE level_name IS NULL OR r.level = level_name
        )
        SELECT p.level, p.requirement, p.kind,
               CASE WHEN ul.achieved_at IS NOT NULL THEN p.need ELSE least(p.have, p.need) END,
               p.need, ul.achieved_at
          FROM parts AS p
          LEFT JOIN achievements.user_levels AS ul ON ul.user_id = who AND ul.level = p.level
         ORDER BY p.order_points NULLS LAST, p.level, p.kind, p.priority, p.requirement;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.count_in_periods(user_ids achievements.user_ref[], names text[], counts integer[], created timestamp with time zone[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    INSERT INTO achievements_private.step_period_counts AS c (step, period, starts, user_id, count)
    SELECT l.step, l.period, date_trunc(l.period, x.at AT TIME ZONE l.time_zone), x.user_id, sum(x.count)
      FROM unnest(user_ids, names, counts, created) AS x(user_id, name, count, at)
      JOIN achievements.step_leaderboards AS l ON l.step = x.name
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (step, period, starts, user_id) DO UPDATE SET count = c.count + excluded.count;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.fill_step_periods()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.step, NEW.period, NEW.time_zone) IS NOT DISTINCT FROM (OLD.step, OLD.period, OLD.time_zone) THEN
        RETURN NULL;
    END IF;
    BEGIN
        PERFORM now() AT TIME ZONE NEW.time_zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'leaderboard of step % by %: unknown time zone %', quote_literal(NEW.step), NEW.period,
                        quote_literal(NEW.time_zone)
            USING ERRCODE = 'AD210', HINT = 'Use a name of pg_timezone_names, e.g. ''UTC'' or ''Europe/Berlin''.';
    END;
    IF achievements_private.snapshot_per_transaction() THEN
        RAISE EXCEPTION 'leaderboard of step % by %: declare leaderboards in a READ COMMITTED transaction',
                        quote_literal(NEW.step), NEW.period
            USING ERRCODE = 'AD210',
                  HINT = 'Its counters are filled from the log after a lock on it; an older snapshot would miss steps.';
    END IF;
    LOCK TABLE achievements.user_steps IN SHARE MODE;
    DELETE FROM achievements_private.step_period_counts AS c WHERE c.step = NEW.step AND c.period = NEW.period;
    INSERT INTO achievements_private.step_period_counts (step, period, starts, user_id, count)
    SELECT NEW.step, NEW.period, date_trunc(NEW.period, s.created_at AT TIME ZONE NEW.time_zone), s.user_id, sum(s.count)
      FROM achievements.user_steps AS s
     WHERE s.name = NEW.step
     GROUP BY 3, 4
     ORDER BY 3, 4;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.step_leaderboard(step text, period text DEFAULT 'week'::text, lim integer DEFAULT 10, at timestamp with time zone DEFAULT now())
 RETURNS TABLE(rank bigint, user_id achievements.user_ref, count bigint)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    n     int := achievements_private.check_page_limit(lim);
    board achievements.step_leaderboards;
BEGIN
    SELECT * INTO board FROM achievements.step_leaderboards AS l
     WHERE l.step = step_leaderboard.step AND l.period = step_leaderboard.period;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'step % has no leaderboard by %', coalesce(quote_literal(step), 'NULL'), coalesce(period, 'NULL')
            USING ERRCODE = 'AD210',
                  HINT = 'Declare it in the catalog, e.g. [leaderboards.song] periods = ["week"]; SELECT * FROM achievements.step_leaderboards lists them.';
    END IF;
    RETURN QUERY
        SELECT rank() OVER (ORDER BY top.count DESC), top.user_id, top.count
          FROM (SELECT c.user_id, c.count
                  FROM achievements_private.step_period_counts AS c
                 WHERE c.step = board.step AND c.period = board.period
                   AND c.starts = date_trunc(board.period, coalesce(at, now()) AT TIME ZONE board.time_zone)
                   AND c.count > 0
                 ORDER BY c.count DESC, c.user_id
                 LIMIT n) AS top
         ORDER BY top.count DESC, top.user_id;
END
$function$;
COMMENT ON FUNCTION achievements.step_leaderboard(text,text,integer,timestamp with time zone) IS
    'Top lim users of a step in the day, week or month containing at (default now), by steps logged in it; ties share a rank. Needs a declared leaderboard (step_leaderboards).';

CREATE OR REPLACE FUNCTION achievements_private.lock_users(user_ids achievements.user_ref[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(1633838659, b.bucket)
       FROM (SELECT DISTINCT 1 + (hashtext(u::text) & 255) AS bucket FROM unnest(user_ids) AS u) AS b
      ORDER BY b.bucket;
    IF achievements_private.snapshot_per_transaction() THEN
        PERFORM FROM achievements.user_achievements AS t WHERE t.user_id = ANY (user_ids) FOR SHARE;
        PERFORM FROM achievements.user_scores AS s WHERE s.user_id = ANY (user_ids) FOR SHARE;
    END IF;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.award_levels(user_ids achievements.user_ref[], names text[], old_counts integer[], new_counts integer[])
 RETURNS void
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    IF achievements_private.snapshot_per_transaction() THEN
        -- A requirement's tally created since the transaction's snapshot is invisible to the
        -- check below (lock_users catches the ones changed): inserting it then raises 40001.
        -- Rolled back either way.
        BEGIN
            INSERT INTO achievements.user_achievements (user_id, name, count)
            SELECT DISTINCT c.user_id, r2.name, 0
              FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
              JOIN achievements.level_requirements AS r
                ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
              JOIN achievements.level_requirements AS r2 ON r2.level = r.level
             ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
            -- Likewise the score of a user whose points such a level needs.
            INSERT INTO achievements.user_scores (user_id)
            SELECT DISTINCT c.user_id
              FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
              JOIN achievements.level_requirements AS r
                ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
              JOIN achievements.levels AS l ON l.name = r.level AND l.min_points IS NOT NULL
             ORDER BY 1
            ON CONFLICT DO NOTHING;
            RAISE EXCEPTION USING ERRCODE = 'AD000';
        EXCEPTION WHEN SQLSTATE 'AD000' THEN
            NULL;
        END;
    END IF;
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT DISTINCT c.user_id, r.level
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
      JOIN achievements.level_requirements AS r
        ON r.name = c.name AND r.required_count > c.old_count AND r.required_count <= c.new_count
      JOIN achievements.levels AS l ON l.name = r.level
     WHERE NOT EXISTS (SELECT 1
                         FROM achievements.level_requirements AS r2
                         LEFT JOIN achievements.user_achievements AS t
                                ON t.user_id = c.user_id AND t.name = r2.name
                        WHERE r2.level = r.level AND coalesce(t.count, 0) < r2.required_count)
       AND (l.min_points IS NULL
            OR l.min_points <= coalesce((SELECT s.points FROM achievements.user_scores AS s
                                          WHERE s.user_id = c.user_id), 0))
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.backfill_levels(level_name text DEFAULT NULL::text)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    awarded int;
    before  text;
BEGIN
    IF level_name IS NOT NULL THEN
        PERFORM achievements_private.assert_level(level_name);
    END IF;
    PERFORM achievements_private.lock_all_users();
    IF achievements_private.snapshot_per_transaction() THEN
        -- As in backfill_badge: a tally or score read that changed since the snapshot raises 40001.
        PERFORM FROM achievements.level_requirements AS r
          JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
         WHERE level_name IS NULL OR r.level = level_name
           FOR SHARE OF t;
        PERFORM FROM achievements.levels AS l
          JOIN achievements.user_scores AS s ON s.points >= l.min_points
         WHERE (level_name IS NULL OR l.name = level_name) AND l.min_points IS NOT NULL
           FOR SHARE OF s;
    END IF;
    before := achievements_private.set_quiet('on');
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT q.user_id, q.level
      FROM (SELECT t.user_id, r.level
              FROM achievements.level_requirements AS r
              JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
             WHERE level_name IS NULL OR r.level = level_name
             GROUP BY t.user_id, r.level
            HAVING count(*) = (SELECT count(*) FROM achievements.level_requirements AS r2 WHERE r2.level = r.level)
            UNION ALL
            -- Levels reached by points alone.
            SELECT s.user_id, l.name
              FROM achievements.levels AS l
              JOIN achievements.user_scores AS s ON s.points >= l.min_points
             WHERE (level_name IS NULL OR l.name = level_name) AND l.min_points IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM achievements.level_requirements AS r3 WHERE r3.level = l.name)) AS q
      JOIN achievements.levels AS l ON l.name = q.level
     WHERE l.min_points IS NULL
        OR l.min_points <= coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = q.user_id), 0)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS awarded = ROW_COUNT;
    PERFORM achievements_private.set_quiet(before);
    RETURN awarded;
END
$function$;
COMMENT ON FUNCTION achievements.backfill_levels(text) IS
    'Awards a level (all when NULL) to every user who already meets it, silently; returns how many were awarded. Idempotent.';

CREATE OR REPLACE FUNCTION achievements_private.validate_badge()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    problem text;
    hint    text;
    by_rarity int;
    criteria  int;
BEGIN
    IF NEW.points IS NULL THEN
        NEW.points_by_rarity := true;
    END IF;
    IF NEW.points_by_rarity THEN
        SELECT r.points INTO by_rarity FROM achievements.rarity_points AS r WHERE r.rarity = NEW.rarity;
        IF TG_OP = 'UPDATE' AND OLD.points_by_rarity AND NEW.points IS NOT NULL
           AND NEW.points IS DISTINCT FROM OLD.points AND NEW.points IS DISTINCT FROM coalesce(by_rarity, 0) THEN
            RAISE EXCEPTION 'badge %: its points follow its rarity (points_by_rarity); they cannot be set to %',
                            quote_literal(NEW.code), NEW.points
                USING ERRCODE = 'AD202',
                      HINT = 'Set points_by_rarity = false together with points to give the badge points of its own, or change achievements.rarity_points.';
        END IF;
        NEW.points := coalesce(by_rarity, 0);
    END IF;
    criteria := num_nonnulls(NEW.step, NEW.level, NEW.min_badges, NEW.min_points)
                + CASE WHEN NEW.all_badges THEN 1 ELSE 0 END;
    IF coalesce(NEW.code, '') = '' THEN
        problem := 'code must be a non-empty text';
        hint := 'Give every badge a stable code such as ''first_song''.';
    ELSIF coalesce(NEW.name, '') = '' THEN
        problem := 'name must be a non-empty text';
        hint := 'Give the badge the name users see, e.g. ''First song''.';
    ELSIF NEW.points IS NULL OR NEW.points < 0 THEN
        problem := format('points must be 0 or more (got %s)', coalesce(NEW.points::text, 'NULL'));
        hint := 'Use 0 for a badge that is worth no points.';
    ELSIF NEW.rarity IS NULL OR NEW.rarity NOT IN ('common', 'uncommon', 'rare', 'epic', 'legendary') THEN
        problem := format('unknown rarity %s', coalesce(quote_literal(NEW.rarity), 'NULL'));
        hint := 'Use one of common, uncommon, rare, epic, legendary.';
    ELSIF NEW.step IS NOT NULL AND NEW.level IS NOT NULL THEN
        problem := format('has both a step (%s) and a level (%s)', quote_literal(NEW.step), quote_literal(NEW.level));
        hint := 'A badge has one criterion: step + threshold, or level, or none (granted by a call). Make two badges.';
    ELSIF criteria > 1 THEN
        problem := 'has more than one criterion (' || concat_ws(', ', CASE WHEN NEW.step IS NOT NULL THEN 'step' END,
                                                             CASE WHEN NEW.level IS NOT NULL THEN 'level' END,
                                                             CASE WHEN NEW.min_badges IS NOT NULL THEN 'min_badges' END,
                                                             CASE WHEN NEW.all_badges THEN 'all_badges' END,
                                                             CASE WHEN NEW.min_points IS NOT NULL THEN 'min_points' END) || ')';
        hint := 'A badge has one criterion: step + threshold, level, min_badges, all_badges, min_points, or none (granted by a call). Make two badges.';
    ELSIF NEW.min_badges < 1 THEN
        problem := format('min_badges must be at least 1 (got %s)', NEW.min_badges);
        hint := 'min_badges = 10 is earned on holding 10 badges (of badge_category, if given).';
    ELSIF NEW.min_points < 1 THEN
        problem := format('min_points must be at least 1 (got %s)', NEW.min_points);
        hint := 'min_points = 1000 is earned when the user''s badges are worth 1000 points.';
    ELSIF NEW.all_badges IS NULL THEN
        problem := 'all_badges must be true or false';
        hint := 'all_badges = true is earned on holding every badge (of badge_category, if given).';
    ELSIF NEW.badge_category IS NOT NULL AND NEW.min_badges IS NULL AND NOT NEW.all_badges THEN
        problem := format('has a badge_category (%s) but neither min_badges nor all_badges', quote_literal(NEW.badge_category));
        hint := 'badge_category narrows min_badges or all_badges to the badges of one category; the badge''s own category is category.';
    ELSIF char_length(NEW.step) NOT BETWEEN 1 AND 200 THEN
        problem := 'step must be a name of 1 to 200 characters';
        hint := 'Use the step name recorded in achievements.user_steps, or leave step NULL.';
    ELSIF NEW.threshold IS NOT NULL AND NEW.step IS NULL THEN
        problem := format('has a threshold (%s) but no step', NEW.threshold);
        hint := 'Set step to the step whose tally must reach the threshold, or leave threshold NULL.';
    ELSIF NEW.step IS NOT NULL AND NEW.threshold IS NULL THEN
        problem := format('has a step (%s) but no threshold', quote_literal(NEW.step));
        hint := 'Set threshold to the tally that earns the badge, e.g. 10.';
    ELSIF NEW.threshold < 1 THEN
        problem := format('threshold must be at least 1 (got %s)', NEW.threshold);
        hint := 'A badge for the first step has threshold 1.';
    ELSIF NEW.level IS NOT NULL AND NOT EXISTS (SELECT 1 FROM achievements.levels AS l WHERE l.name = NEW.level) THEN
        problem := format('unknown level %s', quote_literal(NEW.level));
        hint := 'Create the level first (achievements.levels), or fix its name: SELECT name FROM achievements.levels.';
    ELSIF NEW.revocable AND NEW.step IS NULL AND NEW.min_badges IS NULL AND NOT NEW.all_badges AND NEW.min_points IS NULL THEN
        problem := 'is revocable but has no step and threshold';
        hint := 'Only threshold badges and badges about badges are taken back automatically; take any badge back with achievements.revoke_badge().';
    ELSIF NEW.active_until <= NEW.active_from THEN
        problem := format('active_until (%s) must be later than active_from (%s)', NEW.active_until, NEW.active_from);
        hint := 'The badge can be earned from active_from (inclusive) until active_until (exclusive).';
    ELSE
        problem := coalesce(achievements_private.template_problem('link', NEW.link, 'badge'),
                            achievements_private.template_problem('notification_title', NEW.notification_title, 'badge'),
                            achievements_private.template_problem('notification_body', NEW.notification_body, 'badge'));
        hint := 'Badge templates may use ' || achievements_private.template_placeholders('badge') || '.';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'badge %: %', coalesce(quote_literal(NEW.code), 'NULL'), problem
            USING ERRCODE = 'AD202', HINT = hint;
    END IF;
    RETURN NEW;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.reprice_rarity()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    of_rarity  text := CASE WHEN TG_OP = 'DELETE' THEN OLD.rarity ELSE NEW.rarity END;
    new_points int := CASE WHEN TG_OP = 'DELETE' THEN 0 ELSE NEW.points END;
BEGIN
    UPDATE achievements.badges AS b SET points = new_points
     WHERE b.rarity = of_rarity AND b.points_by_rarity AND b.points <> new_points;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.count_badges()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET work_mem TO '64MB'
AS $function$
DECLARE
    sign       int := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    pair_users achievements.user_ref[];  -- the statement's first two rows
    pair_codes text[];
    worth      bigint;
    score      bigint;
    codes      text[];
    locked     bigint;
    single     boolean;
    first_id   bigint;
    last_id    bigint;
BEGIN
    -- Statement triggers fire for statements that changed no row (most award attempts).
    SELECT array_agg(c.user_id), array_agg(c.badge) INTO pair_users, pair_codes
      FROM (SELECT c.user_id, c.badge FROM changed_badges AS c LIMIT 2) AS c;
    IF pair_users IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(pair_users) = 1 THEN
        -- One row: the same steps as below, one row each.
        SELECT b.points::bigint INTO worth FROM achievements.badges AS b WHERE b.code = pair_codes[1] FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'a badge being awarded or revoked was deleted or renamed by a concurrent transaction'
                USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
        END IF;
        IF sign > 0 THEN
            INSERT INTO achievements.user_scores AS s (user_id, points, badges, last_change)
            VALUES (pair_users[1], worth, 1, worth)
            ON CONFLICT (user_id) DO UPDATE
               SET points = s.points + excluded.points, badges = s.badges + 1,
                   last_change = excluded.points, updated_at = now()
            RETURNING s.points INTO score;
        ELSE
            UPDATE achievements.user_scores AS s
               SET points = s.points - worth, badges = s.badges - 1, last_change = -worth, updated_at = now()
             WHERE s.user_id = pair_users[1]
            RETURNING s.points INTO score;
        END IF;
        IF worth <> 0 THEN
            WITH moved AS (
                INSERT INTO achievements_private.points_histogram (points, users)
                SELECT m.points, m.users
                  FROM (VALUES (score - sign * worth, -1), (score, 1)) AS m(points, users)
                 WHERE m.points > 0
                RETURNING id
            )
            SELECT min(id) INTO first_id FROM moved;
        END IF;
        INSERT INTO achievements_private.badge_holders (badge, holders) VALUES (pair_codes[1], sign)
        RETURNING id INTO last_id;
        PERFORM achievements_private.maybe_compact(coalesce(first_id, last_id), last_id);
        PERFORM achievements_private.follows_badges(pair_users, pair_codes, sign);
        RETURN NULL;
    END IF;
    -- Transition tables carry no statistics (the planner may assume one row), so nothing below
    -- joins two of them: the previous points come back from the upsert (last_change).
    -- The badges of the statement are locked FOR SHARE (a concurrent points change or delete
    -- waits for this transaction); one that vanished meanwhile fails the statement.
    codes := ARRAY(SELECT DISTINCT c.badge FROM changed_badges AS c);
    single := cardinality(codes) = 1;
    SELECT count(*) INTO locked
      FROM (SELECT b.code
              FROM achievements.badges AS b
             WHERE b.code = ANY (codes)
             ORDER BY b.code
               FOR SHARE) AS l;
    IF locked < cardinality(codes) THEN
        RAISE EXCEPTION 'a badge being awarded or revoked was deleted or renamed by a concurrent transaction'
            USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
    END IF;
    -- Lock order everywhere: badges, then scores in user_id order.
    IF sign < 0 THEN
        PERFORM 1 FROM achievements.user_scores AS s
         WHERE s.user_id IN (SELECT c.user_id FROM changed_badges AS c)
         ORDER BY s.user_id
           FOR UPDATE;
    END IF;
    WITH worth AS (
        SELECT b.code, b.points FROM achievements.badges AS b WHERE b.code = ANY (codes)
    ), per_user AS (
        -- worth has a handful of rows: a nested loop over it costs rows x badges at most.
        -- A statement of one badge (a backfill, most awards) has one row per user already.
        SELECT c.user_id, sign * w.points::bigint AS points, sign AS badges
          FROM changed_badges AS c
          JOIN worth AS w ON w.code = c.badge
         WHERE single
        UNION ALL
        SELECT c.user_id, sign * sum(w.points) AS points, sign * count(*)::int AS badges
          FROM changed_badges AS c
          JOIN worth AS w ON w.code = c.badge
         WHERE NOT single
         GROUP BY c.user_id
    ), inserted AS (
        INSERT INTO achievements.user_scores AS s (user_id, points, badges, last_change)
        SELECT p.user_id, p.points, p.badges, p.points FROM per_user AS p WHERE sign > 0 ORDER BY p.user_id
        ON CONFLICT (user_id) DO UPDATE
           SET points = s.points + excluded.points, badges = s.badges + excluded.badges,
               last_change = excluded.points, updated_at = now()
        RETURNING s.points, s.last_change
    ), deleted AS (
        -- A deleted badge was counted when it was inserted, so the row exists (and is locked
        -- in user_id order by the statement before this one).
        UPDATE achievements.user_scores AS s
           SET points = s.points + p.points, badges = s.badges + p.badges,
               last_change = p.points, updated_at = now()
          FROM per_user AS p
         WHERE sign < 0 AND s.user_id = p.user_id
        RETURNING s.points, s.last_change
    ), histogram AS (
        -- Users who moved from points - last_change to points: grouped by the move first
        -- (few groups), then by points value.
        INSERT INTO achievements_private.points_histogram (points, users)
        SELECT m.points, sum(m.users)
          FROM (SELECT u.points, u.last_change, count(*) AS n
                  FROM (SELECT * FROM inserted UNION ALL SELECT * FROM deleted) AS u
                 GROUP BY u.points, u.last_change) AS g
         CROSS JOIN LATERAL (VALUES (g.points - g.last_change, -g.n), (g.points, g.n)) AS m(points, users)
         WHERE m.points > 0
         GROUP BY m.points
        HAVING sum(m.users) <> 0
        RETURNING id
    ), holders AS (
        INSERT INTO achievements_private.badge_holders (badge, holders)
        SELECT c.badge, sign * count(*) FROM changed_badges AS c WHERE NOT single GROUP BY c.badge
        UNION ALL
        SELECT codes[1], sign * (SELECT count(*) FROM changed_badges) WHERE single
        RETURNING id
    )
    SELECT min(id), max(id) INTO first_id, last_id
      FROM (SELECT id FROM histogram UNION ALL SELECT id FROM holders) AS ids;
    IF last_id IS NOT NULL THEN
        PERFORM achievements_private.maybe_compact(first_id, last_id);
    END IF;
    -- A silent statement (a backfill) of a catalog without followers needs no list of its rows.
    IF NOT (achievements_private.quiet() AND sign > 0) OR achievements_private.badges_have_followers() THEN
        SELECT array_agg(c.user_id ORDER BY c.user_id, c.badge), array_agg(c.badge ORDER BY c.user_id, c.badge)
          INTO pair_users, pair_codes
          FROM changed_badges AS c;
        PERFORM achievements_private.follows_badges(pair_users, pair_codes, sign);
    END IF;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.follows_badges(user_ids achievements.user_ref[], codes text[], sign integer)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF sign > 0 THEN
        PERFORM achievements_private.announce_badges(user_ids, codes);
    ELSIF coalesce(current_setting('achievements.deleting_badge', true), '') = '' THEN
        PERFORM achievements_private.announce_revocations(user_ids, codes);
    ELSIF NOT current_setting('achievements.deleting_badge', true) = ALL (codes) THEN
        -- What a deleted badge takes with it (a badge about badges) is announced; itself not.
        PERFORM achievements_private.announce_revocations(
            ARRAY(SELECT c.user_id FROM unnest(user_ids, codes) AS c(user_id, code)
                   WHERE c.code <> current_setting('achievements.deleting_badge', true)),
            ARRAY(SELECT c.code FROM unnest(user_ids, codes) AS c(user_id, code)
                   WHERE c.code <> current_setting('achievements.deleting_badge', true)));
    END IF;
    IF achievements_private.badges_have_followers() THEN
        PERFORM achievements_private.badges_changed(user_ids, codes, sign);
    END IF;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.unaward_deleted_badge()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM set_config('achievements.deleting_badge', OLD.code, true);
    DELETE FROM achievements.user_badges AS ub WHERE ub.badge = OLD.code;
    PERFORM set_config('achievements.deleting_badge', '', true);
    RETURN OLD;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.award_badges(user_ids achievements.user_ref[], names text[], old_counts integer[], new_counts integer[])
 RETURNS void
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    fallen boolean;
    risen  boolean;
BEGIN
    -- Whether a tally fell below a revocable badge's threshold, or rose to any badge's.
    SELECT coalesce(bool_or(c.new_count < c.old_count), false), coalesce(bool_or(c.new_count > c.old_count), false)
      INTO fallen, risen
      FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
     WHERE EXISTS (SELECT 1 FROM achievements.badges AS b
                    WHERE b.step = c.name
                      AND b.threshold > least(c.old_count, c.new_count)
                      AND b.threshold <= greatest(c.old_count, c.new_count)
                      AND (b.revocable OR c.new_count > c.old_count));
    IF fallen THEN
        DELETE FROM achievements.user_badges AS ub
         USING unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count),
               achievements.badges AS b
         WHERE b.step = c.name AND b.threshold > c.new_count AND b.threshold <= c.old_count
           AND b.revocable
           AND ub.user_id = c.user_id AND ub.badge = b.code;
    END IF;
    IF NOT risen THEN
        RETURN;
    END IF;

    -- Announced by the trigger that counts the rows (count_badges).
    INSERT INTO achievements.user_badges (user_id, badge, notified)
    SELECT c.user_id, b.code, true
      FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
      JOIN achievements.badges AS b
        ON b.step = c.name AND b.threshold <= c.new_count AND b.threshold > c.old_count
     WHERE achievements_private.badge_in_season(b.active_from, b.active_until)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.award_badge(user_id achievements.user_ref, code text)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION achievements.award_badge(achievements.user_ref,text) IS
    'Awards a badge to a user; true when newly awarded, false when already held. Idempotent under concurrency; one notification.';

CREATE OR REPLACE FUNCTION achievements_private.qualifying_users(b achievements.badges)
 RETURNS SETOF achievements.user_ref
 LANGUAGE sql
 STABLE
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION achievements.backfill_badge(code text)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION achievements.backfill_badge(text) IS
    'Awards a badge to every user who already qualifies, silently (notified = true, no notification); returns how many got it.';

CREATE OR REPLACE FUNCTION achievements_private.badge_progress(who achievements.user_ref)
 RETURNS TABLE(code text, name text, current integer, target integer, earned_at timestamp with time zone)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH held AS (
        SELECT ub.badge, ub.earned_at FROM achievements.user_badges AS ub WHERE ub.user_id = who
    ), tallies AS (
        SELECT t.name, t.count FROM achievements.user_achievements AS t WHERE t.user_id = who
    ), mine AS (
        SELECT coalesce((SELECT s.points FROM achievements.user_scores AS s WHERE s.user_id = who), 0) AS points
    ), levels AS (
        SELECT l.name AS level,
               (SELECT count(*) FROM achievements.level_requirements AS r WHERE r.level = l.name)::int
               + CASE WHEN l.min_points IS NOT NULL THEN 1 ELSE 0 END AS requirements,
               (SELECT count(*) FROM achievements.level_requirements AS r LEFT JOIN tallies AS t ON t.name = r.name
                 WHERE r.level = l.name AND coalesce(t.count, 0) >= r.required_count)::int
               + CASE WHEN l.min_points <= m.points THEN 1 ELSE 0 END AS met,
               EXISTS (SELECT 1 FROM achievements.user_levels AS ul
                        WHERE ul.user_id = who AND ul.level = l.name) AS reached
          FROM achievements.levels AS l CROSS JOIN mine AS m
         WHERE l.name IN (SELECT b.level FROM achievements.badges AS b WHERE b.level IS NOT NULL)
    ), counted AS (
        -- The badges held that badges about badges count.
        SELECT o.category, o.points
          FROM held AS h JOIN achievements.badges AS o ON o.code = h.badge
         WHERE o.min_badges IS NULL AND NOT o.all_badges AND o.min_points IS NULL
    ), progress AS (
        SELECT b.*, h.earned_at AS held_at,
               CASE WHEN b.step IS NOT NULL THEN b.threshold
                    WHEN b.level IS NOT NULL THEN greatest(coalesce(l.requirements, 0), 1)
                    WHEN b.min_badges IS NOT NULL THEN b.min_badges
                    WHEN b.min_points IS NOT NULL THEN b.min_points
                    WHEN b.all_badges THEN
                         greatest((SELECT count(*) FROM achievements.badges AS o
                                    WHERE o.min_badges IS NULL AND NOT o.all_badges AND o.min_points IS NULL
                                      AND (b.badge_category IS NULL OR o.category = b.badge_category))::int, 1)
                    ELSE 1 END AS goal,
               CASE WHEN b.step IS NOT NULL THEN least(coalesce(t.count, 0), b.threshold)
                    WHEN b.level IS NOT NULL THEN
                         CASE WHEN l.reached THEN greatest(coalesce(l.requirements, 0), 1) ELSE coalesce(l.met, 0) END
                    WHEN b.min_points IS NOT NULL THEN
                         least((SELECT coalesce(sum(c.points), 0) FROM counted AS c), b.min_points)::int
                    WHEN b.min_badges IS NOT NULL OR b.all_badges THEN
                         (SELECT count(*) FROM counted AS c
                           WHERE b.badge_category IS NULL OR c.category = b.badge_category)::int
                    ELSE 0 END AS done
          FROM achievements.badges AS b
          LEFT JOIN held AS h ON h.badge = b.code
          LEFT JOIN tallies AS t ON t.name = b.step
          LEFT JOIN levels AS l ON l.level = b.level
         WHERE NOT b.hidden OR h.earned_at IS NOT NULL
    )
    SELECT p.code, p.name, CASE WHEN p.held_at IS NOT NULL THEN p.goal ELSE least(p.done, p.goal) END, p.goal, p.held_at
      FROM progress AS p
     ORDER BY p.category NULLS LAST, p.step NULLS LAST, p.threshold NULLS LAST, p.level NULLS LAST, p.code;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.set_featured(user_id achievements.user_ref, code text, featured boolean)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION achievements.set_featured(achievements.user_ref,text,boolean) IS
    'Features (true) or unfeatures (false) one of a user''s badges in the community feed; true when the user holds it.';

CREATE OR REPLACE FUNCTION achievements.community_feed(lim integer DEFAULT 20, after text DEFAULT NULL::text, rarest_first boolean DEFAULT false, featured_only boolean DEFAULT false, min_rarity text DEFAULT NULL::text)
 RETURNS TABLE(user_id achievements.user_ref, badge text, name text, icon text, category text, points integer, rarity text, earned_at timestamp with time zone, featured boolean, cursor text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION achievements.community_feed(integer,text,boolean,boolean,text) IS
    'Recent public awards across users, newest (or rarest) first, lim at a time; after = cursor of the last row; featured_only, min_rarity. Hidden badges only to their holders.';

CREATE OR REPLACE FUNCTION achievements.badge_leaderboard(lim integer DEFAULT 10, since timestamp with time zone DEFAULT NULL::timestamp with time zone)
 RETURNS TABLE(rank bigint, user_id achievements.user_ref, badges integer, points bigint)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION achievements.badge_leaderboard(integer,timestamp with time zone) IS
    'Top lim users by number of badges held (ties share a rank); with since, only badges earned since then count.';

CREATE OR REPLACE FUNCTION achievements_private.template_problem(field text, template text, kind text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT format('%s: unknown placeholder %s', field, m[1])
      FROM regexp_matches(template, '[{][^{}]*[}]', 'g') AS m
     WHERE strpos(achievements_private.template_placeholders(kind), m[1]) = 0
     LIMIT 1
$function$;

CREATE OR REPLACE FUNCTION achievements_private.validate_notification_template()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    problem text := coalesce(achievements_private.template_problem('title', NEW.title, NEW.kind),
                             achievements_private.template_problem('body', NEW.body, NEW.kind),
                             achievements_private.template_problem('link', NEW.link, NEW.kind));
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'notification template %: %', quote_literal(NEW.kind), problem
            USING ERRCODE = 'AD208',
                  HINT = format('Templates of kind %s may use %s.', NEW.kind, achievements_private.template_placeholders(NEW.kind));
    END IF;
    RETURN NEW;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.template_of(kind text)
 RETURNS TABLE(title text, body text, link text)
 LANGUAGE sql
 STABLE
AS $function$
    SELECT coalesce(t.title, d ->> 'title'), CASE WHEN t.kind IS NULL THEN d ->> 'body' ELSE t.body END,
           CASE WHEN t.kind IS NULL THEN d ->> 'link' ELSE t.link END
      FROM achievements_private.template_defaults(kind) AS d
      LEFT JOIN achievements.notification_templates AS t ON t.kind = template_of.kind
$function$;

CREATE OR REPLACE FUNCTION achievements_private.badge_notification_fields(kind text, codes text[])
 RETURNS TABLE(code text, title text, body text, link text, data jsonb)
 LANGUAGE sql
 STABLE
AS $function$
    SELECT b.code,
           coalesce(achievements_private.render_badge(
                        CASE WHEN kind = 'badge' THEN coalesce(b.notification_title, t.title) ELSE t.title END,
                        b.code, b.name, b.description, b.icon, b.category, b.points, b.rarity),
                    b.name),
           achievements_private.render_badge(
               CASE WHEN kind = 'badge' THEN coalesce(b.notification_body, t.body) ELSE t.body END,
               b.code, b.name, b.description, b.icon, b.category, b.points, b.rarity),
           achievements_private.render_badge(coalesce(b.link, t.link),
                                             b.code, b.name, b.description, b.icon, b.category, b.points, b.rarity),
           jsonb_build_object('badge', b.code, 'name', b.name, 'points', b.points,
                              'rarity', b.rarity, 'icon', b.icon, 'category', b.category)
      FROM achievements.badges AS b
     CROSS JOIN achievements_private.template_of(badge_notification_fields.kind) AS t
     WHERE b.code = ANY (codes)
$function$;

CREATE OR REPLACE FUNCTION achievements_private.announce_badges(user_ids achievements.user_ref[], codes text[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, link, data)
        SELECT a.user_id, 'badge', replace(f.title, '{user_id}', a.user_id::text),
               replace(f.body, '{user_id}', a.user_id::text), replace(f.link, '{user_id}', a.user_id::text), f.data
          FROM unnest(user_ids, codes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements_private.badge_notification_fields('badge', codes) AS f ON f.code = a.badge
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % badge award(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
        UPDATE achievements.user_badges AS ub SET notified = false
          FROM unnest(user_ids, codes) AS a(user_id, badge)
         WHERE ub.user_id = a.user_id AND ub.badge = a.badge;
    END;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.announce_revocations(user_ids achievements.user_ref[], codes text[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, link, data)
        SELECT a.user_id, 'badge_revoked', replace(f.title, '{user_id}', a.user_id::text),
               replace(f.body, '{user_id}', a.user_id::text), replace(f.link, '{user_id}', a.user_id::text), f.data
          FROM unnest(user_ids, codes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements_private.badge_notification_fields('badge_revoked', codes) AS f ON f.code = a.badge
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % badge revocation(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
    END;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.announce_levels(user_ids achievements.user_ref[], levels text[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, link, data)
        SELECT a.user_id, 'level', replace(f.title, '{user_id}', a.user_id::text),
               replace(f.body, '{user_id}', a.user_id::text), replace(f.link, '{user_id}', a.user_id::text),
               jsonb_build_object('level', f.name)
          FROM unnest(user_ids, levels) WITH ORDINALITY AS a(user_id, level, ord)
          JOIN (SELECT l.name,
                       coalesce(achievements_private.render_level(coalesce(l.notification_title, t.title),
                                                                  l.name, l.description, l.min_points), l.name) AS title,
                       achievements_private.render_level(coalesce(l.notification_body, t.body),
                                                         l.name, l.description, l.min_points) AS body,
                       achievements_private.render_level(coalesce(l.link, t.link),
                                                         l.name, l.description, l.min_points) AS link
                  FROM achievements.levels AS l
                 CROSS JOIN achievements_private.template_of('level') AS t
                 WHERE l.name = ANY (levels)) AS f ON f.name = a.level
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % level(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
        UPDATE achievements.user_levels AS ul SET notified = false
          FROM unnest(user_ids, levels) AS a(user_id, level)
         WHERE ul.user_id = a.user_id AND ul.level = a.level;
    END;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.no_notification(id bigint, who achievements.user_ref)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.mark_read(id bigint, who achievements.user_ref)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.mark_all_read(who achievements.user_ref)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    n int;
BEGIN
    UPDATE achievements.notifications AS x SET read_at = now()
     WHERE x.user_id = who AND x.read_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.unread_count(who achievements.user_ref)
 RETURNS integer
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT count(*)::int FROM achievements.notifications AS n WHERE n.user_id = who AND n.read_at IS NULL
$function$;

CREATE OR REPLACE FUNCTION achievements_private.delete_notification(id bigint, who achievements.user_ref)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    DELETE FROM achievements.notifications AS n WHERE n.id = delete_notification.id AND n.user_id = who;
    IF NOT FOUND THEN
        PERFORM achievements_private.no_notification(delete_notification.id, who);
    END IF;
    RETURN true;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.notifications_page(who achievements.user_ref, before bigint, lim integer, unread_only boolean)
 RETURNS TABLE(id bigint, kind text, title text, body text, link text, data jsonb, created_at timestamp with time zone, read_at timestamp with time zone)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION achievements.notify(user_id achievements.user_ref, kind text, title text, body text DEFAULT NULL::text, link text DEFAULT NULL::text, data jsonb DEFAULT '{}'::jsonb)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION achievements.notify(achievements.user_ref,text,text,text,text,jsonb) IS
    'Writes a notification of the application''s own kind to a user (outbox and pg_notify at commit); returns its id.';

CREATE OR REPLACE FUNCTION achievements.redeliver_notifications(lim integer DEFAULT 100)
 RETURNS TABLE(kind text, user_id achievements.user_ref, code text, delivered boolean)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION achievements.redeliver_notifications(integer) IS
    'Writes the notifications of awards whose notification failed (notified = false), up to lim (default 100); one row per award, delivered or not.';

CREATE OR REPLACE FUNCTION achievements_private.catalog_problems(catalog jsonb)
 RETURNS SETOF text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    badge_keys constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until',
        'min_badges', 'all_badges', 'badge_category', 'min_points', 'link', 'notification_title',
        'notification_body'];
    level_keys constant text[] := ARRAY['description', 'requirements', 'min_points', 'link', 'notification_title',
        'notification_body'];
    sections constant text[] := ARRAY['levels', 'badges', 'steps', 'rarity_points', 'notifications', 'leaderboards'];
    step_keys constant text[] := ARRAY['table', 'user_column', 'mode', 'column', 'condition', 'previous',
        'value', 'depends_on', 'depends_on_user_column', 'backfill', 'at', 'period', 'week_start', 'time_zone'];
    k       text;
    v       jsonb;
    item    record;
    field   record;
    req     record;
    want    text;
    path    text;
    steps   text[];
BEGIN
    IF jsonb_typeof(catalog) IS DISTINCT FROM 'object' THEN
        RETURN NEXT 'the catalog must be a table/object with "levels" and "badges"';
        RETURN;
    END IF;
    FOR k IN SELECT x FROM (SELECT jsonb_object_keys(catalog) EXCEPT SELECT unnest(sections)) AS u(x) ORDER BY 1 LOOP
        RETURN NEXT format('%s: unknown section (expected levels, badges, steps, rarity_points, notifications or leaderboards)', k);
    END LOOP;
    FOREACH k IN ARRAY sections LOOP
        IF catalog ? k AND jsonb_typeof(catalog -> k) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of %s by name', k, k);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'rarity_points') = 'object'
                                              THEN catalog -> 'rarity_points' ELSE '{}' END) ORDER BY key LOOP
        IF achievements_private.rarity_rank(item.key) IS NULL THEN
            RETURN NEXT format('rarity_points.%s: unknown rarity (expected common, uncommon, rare, epic or legendary)', item.key);
        ELSIF jsonb_typeof(item.value) <> 'number' OR item.value::text !~ '^[0-9]+$' OR item.value::numeric > 2147483647 THEN
            RETURN NEXT format('rarity_points.%s: expected a whole number of 0 or more, got %s', item.key, item.value);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'notifications') = 'object'
                                              THEN catalog -> 'notifications' ELSE '{}' END) ORDER BY key LOOP
        path := 'notifications.' || item.key;
        IF item.key NOT IN ('badge', 'level', 'badge_revoked') THEN
            RETURN NEXT format('%s: unknown kind (expected badge, level or badge_revoked)', path);
        ELSIF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (title, body, link)', path);
        ELSE
            FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(ARRAY['title', 'body', 'link'])) AS u(x) ORDER BY 1 LOOP
                RETURN NEXT format('%s.%s: unknown key (expected title, body, link)', path, k);
            END LOOP;
            FOR field IN SELECT * FROM jsonb_each(item.value) WHERE key IN ('title', 'body', 'link') ORDER BY key LOOP
                IF jsonb_typeof(field.value) <> 'string' OR (field.key = 'title' AND field.value #>> '{}' = '') THEN
                    RETURN NEXT format('%s.%s: expected a%s string, got %s', path, field.key,
                                       CASE WHEN field.key = 'title' THEN ' non-empty' ELSE '' END, field.value);
                ELSE
                    want := achievements_private.template_problem(field.key, field.value #>> '{}', item.key);
                    IF want IS NOT NULL THEN
                        RETURN NEXT format('%s.%s (templates of %s may use %s)', path, want, item.key,
                                           achievements_private.template_placeholders(item.key));
                    END IF;
                END IF;
            END LOOP;
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'leaderboards') = 'object'
                                              THEN catalog -> 'leaderboards' ELSE '{}' END) ORDER BY key LOOP
        path := 'leaderboards.' || item.key;
        IF char_length(item.key) NOT BETWEEN 1 AND 200 THEN
            RETURN NEXT 'leaderboards: a step name must be 1 to 200 characters';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (periods, time_zone)', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(ARRAY['periods', 'time_zone'])) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected periods, time_zone)', path, k);
        END LOOP;
        v := item.value -> 'periods';
        IF jsonb_typeof(v) IS DISTINCT FROM 'array' OR jsonb_array_length(v) = 0
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) AS e WHERE e NOT IN ('"day"', '"week"', '"month"'))
           OR (SELECT count(DISTINCT e) <> count(*) FROM jsonb_array_elements(v) AS e) THEN
            RETURN NEXT format('%s.periods: expected a list of distinct periods among "day", "week", "month", got %s',
                               path, coalesce(v::text, 'nothing'));
        END IF;
        IF item.value ? 'time_zone' THEN
            IF jsonb_typeof(item.value -> 'time_zone') <> 'string' THEN
                RETURN NEXT format('%s.time_zone: expected a string, got %s', path, item.value -> 'time_zone');
            ELSE
                BEGIN
                    PERFORM now() AT TIME ZONE (item.value ->> 'time_zone');
                EXCEPTION WHEN invalid_parameter_value THEN
                    RETURN NEXT format('%s.time_zone: unknown time zone %s', path, item.value -> 'time_zone');
                END;
            END IF;
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'levels') = 'object'
                                              THEN catalog -> 'levels' ELSE '{}' END) ORDER BY key LOOP
        path := 'levels.' || item.key;
        IF item.key = '' THEN
            RETURN NEXT 'levels: a level name must not be empty';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (%s)', path, array_to_string(level_keys, ', '));
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(level_keys)) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected %s)', path, k, array_to_string(level_keys, ', '));
        END LOOP;
        FOREACH k IN ARRAY ARRAY['description', 'link', 'notification_title', 'notification_body'] LOOP
            IF jsonb_typeof(item.value -> k) NOT IN ('string', 'null') THEN
                RETURN NEXT format('%s.%s: expected a string', path, k);
            END IF;
        END LOOP;
        IF item.value ? 'min_points' AND (jsonb_typeof(item.value -> 'min_points') <> 'number'
           OR (item.value -> 'min_points')::text !~ '^-?[0-9]+$' OR abs((item.value ->> 'min_points')::numeric) > 2147483647) THEN
            RETURN NEXT format('%s.min_points: expected a whole number, got %s', path, item.value -> 'min_points');
        END IF;
        v := item.value -> 'requirements';
        IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
            CONTINUE;
        ELSIF jsonb_typeof(v) = 'object' THEN
            FOR req IN SELECT * FROM jsonb_each(v) ORDER BY key LOOP
                IF char_length(req.key) NOT BETWEEN 1 AND 200 THEN
                    RETURN NEXT format('%s.requirements: a step name must be 1 to 200 characters, got %s', path,
                                       quote_literal(left(req.key, 60)) || CASE WHEN char_length(req.key) > 60 THEN '...' ELSE '' END);
                END IF;
                IF jsonb_typeof(req.value) <> 'number' OR req.value::text !~ '^[0-9]+$' OR req.value::numeric < 1
                   OR req.value::numeric > 2147483647 THEN
                    RETURN NEXT format('%s.requirements.%s: expected a whole number of at least 1, got %s', path, req.key, req.value);
                END IF;
            END LOOP;
        ELSIF jsonb_typeof(v) = 'array' THEN
            steps := '{}';
            FOR req IN SELECT * FROM jsonb_array_elements(v) WITH ORDINALITY AS e(value, n) LOOP
                want := format('%s.requirements[%s]', path, req.n);
                IF jsonb_typeof(req.value) <> 'object' THEN
                    RETURN NEXT format('%s: expected a table with step, count, priority', want);
                    CONTINUE;
                END IF;
                FOR k IN SELECT x FROM (SELECT jsonb_object_keys(req.value) EXCEPT SELECT unnest(ARRAY['step', 'count', 'priority'])) AS u(x) ORDER BY 1 LOOP
                    RETURN NEXT format('%s.%s: unknown key (expected step, count, priority)', want, k);
                END LOOP;
                IF jsonb_typeof(req.value -> 'step') IS DISTINCT FROM 'string'
                   OR char_length(req.value ->> 'step') NOT BETWEEN 1 AND 200 THEN
                    RETURN NEXT format('%s.step: expected a step name of 1 to 200 characters', want);
                ELSIF req.value ->> 'step' = ANY (steps) THEN
                    RETURN NEXT format('%s.step: step %s is listed twice', want, req.value -> 'step');
                ELSE
                    steps := steps || (req.value ->> 'step');
                END IF;
                IF req.value ? 'count' AND (jsonb_typeof(req.value -> 'count') <> 'number'
                   OR (req.value -> 'count')::text !~ '^[0-9]+$' OR (req.value ->> 'count')::numeric < 1
                   OR (req.value ->> 'count')::numeric > 2147483647) THEN
                    RETURN NEXT format('%s.count: expected a whole number of at least 1, got %s', want, req.value -> 'count');
                END IF;
                IF req.value ? 'priority' AND (jsonb_typeof(req.value -> 'priority') <> 'number'
                   OR (req.value -> 'priority')::text !~ '^-?[0-9]+$'
                   OR abs((req.value ->> 'priority')::numeric) > 2147483647) THEN
                    RETURN NEXT format('%s.priority: expected a whole number, got %s', want, req.value -> 'priority');
                END IF;
            END LOOP;
        ELSE
            RETURN NEXT format('%s.requirements: expected a table of step = count, or a list of {step, count, priority}', path);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'badges') = 'object'
                                              THEN catalog -> 'badges' ELSE '{}' END) ORDER BY key LOOP
        path := 'badges.' || item.key;
        IF item.key = '' THEN
            RETURN NEXT 'badges: a badge code must not be empty';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of badge fields', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(badge_keys)) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected one of %s)', path, k, array_to_string(badge_keys, ', '));
        END LOOP;
        IF NOT item.value ? 'name' THEN
            RETURN NEXT format('%s.name: missing (the name users see)', path);
        END IF;
        FOR field IN SELECT * FROM jsonb_each(item.value) WHERE key = ANY (badge_keys) ORDER BY key LOOP
            want := CASE WHEN field.key IN ('points', 'threshold', 'min_badges', 'min_points') THEN 'integer'
                         WHEN field.key IN ('hidden', 'client_grantable', 'revocable', 'all_badges') THEN 'boolean'
                         WHEN field.key IN ('active_from', 'active_until') THEN 'timestamp'
                         ELSE 'string' END;
            IF want = 'integer' AND (jsonb_typeof(field.value) <> 'number' OR field.value::text !~ '^-?[0-9]+$'
                                     OR abs(field.value::numeric) > 2147483647) THEN
                RETURN NEXT format('%s.%s: expected a whole number, got %s', path, field.key, field.value);
            ELSIF want = 'boolean' AND jsonb_typeof(field.value) <> 'boolean' THEN
                RETURN NEXT format('%s.%s: expected true or false, got %s', path, field.key, field.value);
            ELSIF want = 'string' AND jsonb_typeof(field.value) <> 'string' THEN
                RETURN NEXT format('%s.%s: expected a string, got %s', path, field.key, field.value);
            ELSIF want = 'timestamp' THEN
                IF jsonb_typeof(field.value) <> 'string' THEN
                    RETURN NEXT format('%s.%s: expected a date and time, got %s', path, field.key, field.value);
                ELSE
                    BEGIN
                        PERFORM (field.value #>> '{}')::timestamptz;
                    EXCEPTION WHEN OTHERS THEN
                        RETURN NEXT format('%s.%s: not a date and time: %s', path, field.key, field.value);
                    END;
                END IF;
            END IF;
        END LOOP;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'steps') = 'object'
                                              THEN catalog -> 'steps' ELSE '{}' END) ORDER BY key LOOP
        path := 'steps.' || item.key;
        IF char_length(item.key) NOT BETWEEN 1 AND 200 THEN
            RETURN NEXT 'steps: a step name must be 1 to 200 characters';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of the arguments of track()', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(step_keys)) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected one of %s)', path, k, array_to_string(step_keys, ', '));
        END LOOP;
        FOR field IN SELECT * FROM jsonb_each(item.value) WHERE key = ANY (step_keys) ORDER BY key LOOP
            IF field.key = 'backfill' AND jsonb_typeof(field.value) <> 'boolean' THEN
                RETURN NEXT format('%s.backfill: expected true or false, got %s', path, field.value);
            ELSIF field.key <> 'backfill' AND jsonb_typeof(field.value) <> 'string' THEN
                RETURN NEXT format('%s.%s: expected a string, got %s', path, field.key, field.value);
            ELSIF field.key IN ('table', 'depends_on') AND achievements_private.qualified_table(field.value #>> '{}') IS NULL THEN
                RETURN NEXT format('%s.%s: no table %s', path, field.key, field.value);
            END IF;
        END LOOP;
        IF NOT item.value ? 'table' AND item.value ->> 'mode' IS DISTINCT FROM 'streak' THEN
            RETURN NEXT format('%s.table: missing (the table the step is counted from)', path);
        END IF;
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.apply_catalog(catalog jsonb, dry_run boolean, caller name)
 RETURNS TABLE(object text, name text, action text, detail text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    badge_fields constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until',
        'min_badges', 'all_badges', 'badge_category', 'min_points', 'points_by_rarity', 'link', 'notification_title',
        'notification_body'];
    level_fields constant text[] := ARRAY['description', 'min_points', 'link', 'notification_title', 'notification_body'];
    defaults constant jsonb := '{"description": null, "icon": null, "category": null, "points": null,
        "rarity": "common", "hidden": false, "step": null, "threshold": null, "level": null,
        "client_grantable": false, "revocable": false, "active_from": null, "active_until": null,
        "min_badges": null, "all_badges": false, "badge_category": null, "min_points": null, "link": null,
        "notification_title": null, "notification_body": null}'::jsonb;
    problems text[];
    wanted   jsonb;
    item     record;
    req      record;
    old_row  jsonb;
    new_row  jsonb;
    desired  achievements.badges;
    changes  text[];
    have     achievements.tracked_steps;
    want     achievements.tracked_steps;
    backfill boolean;
    warning  text;
BEGIN
    IF dry_run IS NULL THEN
        RAISE EXCEPTION 'apply_catalog: dry_run must be true or false, not NULL'
            USING ERRCODE = 'AD207', HINT = 'Pass dry_run => true to see the changes, false to make them.';
    END IF;
    PERFORM pg_advisory_xact_lock(1633838660, 2);
    problems := ARRAY(SELECT achievements_private.catalog_problems(catalog));
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'the catalog has % error(s); nothing was changed', cardinality(problems)
            USING ERRCODE = 'AD207', DETAIL = array_to_string(problems, E'\n'),
                  HINT = 'Fix each line of the detail and apply again.';
    END IF;

    BEGIN
        -- Leaderboards first: declaring one locks the step log (rank 1 of docs/locks.md), before
        -- the users' locks that a change of rarities, levels or badges takes.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'leaderboards', '{}')) ORDER BY key LOOP
            BEGIN
                FOR req IN
                    SELECT coalesce(w.period, l.period) AS period, w.period IS NOT NULL AS want, l.period IS NOT NULL AS have,
                           l.time_zone AS have_zone, coalesce(item.value ->> 'time_zone', 'UTC') AS want_zone
                      FROM (SELECT e #>> '{}' AS period FROM jsonb_array_elements(item.value -> 'periods') AS e) AS w
                      FULL JOIN (SELECT * FROM achievements.step_leaderboards AS x WHERE x.step = item.key) AS l
                             ON l.period = w.period
                     ORDER BY array_position(ARRAY['day', 'week', 'month'], coalesce(w.period, l.period))
                LOOP
                    object := 'leaderboard'; name := item.key || '/' || req.period;
                    IF req.want AND NOT req.have THEN
                        INSERT INTO achievements.step_leaderboards (step, period, time_zone)
                        VALUES (item.key, req.period, req.want_zone);
                        action := 'create'; detail := 'time zone ' || req.want_zone;
                        RETURN NEXT;
                    ELSIF req.have AND NOT req.want THEN
                        DELETE FROM achievements.step_leaderboards AS x WHERE x.step = item.key AND x.period = req.period;
                        action := 'delete'; detail := 'time zone ' || req.have_zone;
                        RETURN NEXT;
                    ELSIF req.have_zone IS DISTINCT FROM req.want_zone THEN
                        UPDATE achievements.step_leaderboards AS x SET time_zone = req.want_zone
                         WHERE x.step = item.key AND x.period = req.period;
                        action := 'update'; detail := format('time_zone: %s -> %s', req.have_zone, req.want_zone);
                        RETURN NEXT;
                    END IF;
                END LOOP;
            EXCEPTION WHEN SQLSTATE 'AD210' THEN
                problems := problems || format('leaderboards.%s: %s', item.key, SQLERRM);
            END;
        END LOOP;

        -- Points by rarity (a change moves the badges that follow it, and their holders' scores).
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'rarity_points', '{}'))
                     ORDER BY achievements_private.rarity_rank(key) LOOP
            old_row := coalesce((SELECT to_jsonb(r.points) FROM achievements.rarity_points AS r WHERE r.rarity = item.key),
                                '0');
            IF old_row IS DISTINCT FROM item.value THEN
                INSERT INTO achievements.rarity_points AS r (rarity, points) VALUES (item.key, (item.value #>> '{}')::int)
                ON CONFLICT (rarity) DO UPDATE SET points = excluded.points;
                object := 'rarity'; name := item.key; action := 'update';
                detail := format('points: %s -> %s', old_row, item.value);
                RETURN NEXT;
            END IF;
        END LOOP;

        -- Notification templates.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'notifications', '{}')) ORDER BY key LOOP
            SELECT to_jsonb(t) INTO old_row FROM achievements_private.template_of(item.key) AS t;
            new_row := achievements_private.template_defaults(item.key) || item.value;
            IF old_row IS DISTINCT FROM new_row THEN
                INSERT INTO achievements.notification_templates AS t (kind, title, body, link)
                VALUES (item.key, new_row ->> 'title', new_row ->> 'body', new_row ->> 'link')
                ON CONFLICT (kind) DO UPDATE SET title = excluded.title, body = excluded.body, link = excluded.link;
                object := 'notification'; name := item.key; action := 'update';
                detail := array_to_string(ARRAY(SELECT format('%s: %s -> %s', f, old_row -> f, new_row -> f)
                                                  FROM unnest(ARRAY['title', 'body', 'link']) AS f
                                                 WHERE old_row -> f IS DISTINCT FROM new_row -> f), '; ');
                RETURN NEXT;
            END IF;
        END LOOP;

        -- Levels and their requirements, each in its own subtransaction so that every definition
        -- error is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) ORDER BY key LOOP
          BEGIN
            SELECT to_jsonb(l) INTO old_row FROM achievements.levels AS l WHERE l.name = item.key;
            wanted := (SELECT jsonb_object_agg(f, coalesce(item.value -> f, 'null')) FROM unnest(level_fields) AS f);
            IF old_row IS NULL THEN
                INSERT INTO achievements.levels (name, description, min_points, link, notification_title, notification_body)
                VALUES (item.key, wanted ->> 'description', (wanted ->> 'min_points')::int, wanted ->> 'link',
                        wanted ->> 'notification_title', wanted ->> 'notification_body');
                object := 'level'; name := item.key; action := 'create';
                detail := coalesce('min_points ' || (wanted ->> 'min_points'), '');
                RETURN NEXT;
            ELSIF EXISTS (SELECT 1 FROM unnest(level_fields) AS f WHERE old_row -> f IS DISTINCT FROM wanted -> f) THEN
                UPDATE achievements.levels AS l
                   SET description = wanted ->> 'description', min_points = (wanted ->> 'min_points')::int,
                       link = wanted ->> 'link', notification_title = wanted ->> 'notification_title',
                       notification_body = wanted ->> 'notification_body'
                 WHERE l.name = item.key;
                object := 'level'; name := item.key; action := 'update';
                detail := array_to_string(ARRAY(SELECT format('%s: %s -> %s', f, old_row -> f, wanted -> f)
                                                  FROM unnest(level_fields) AS f
                                                 WHERE old_row -> f IS DISTINCT FROM wanted -> f), '; ');
                RETURN NEXT;
            END IF;
            FOR req IN
                WITH wanted AS (
                    SELECT e.key AS step, (e.value #>> '{}')::int AS required_count, 100 AS priority
                      FROM jsonb_each(CASE WHEN jsonb_typeof(item.value -> 'requirements') = 'object'
                                           THEN item.value -> 'requirements' ELSE '{}' END) AS e
                    UNION ALL
                    SELECT e ->> 'step', coalesce((e ->> 'count')::int, 1), coalesce((e ->> 'priority')::int, 100)
                      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(item.value -> 'requirements') = 'array'
                                                     THEN item.value -> 'requirements' ELSE '[]' END) AS e
                )
                SELECT coalesce(w.step, r.name) AS step, w.required_count AS want_count, w.priority AS want_priority,
                       r.id, r.required_count AS have_count, r.priority AS have_priority
                  FROM wanted AS w
                  FULL JOIN (SELECT * FROM achievements.level_requirements AS x WHERE x.level = item.key) AS r
                         ON r.name = w.step
                 WHERE item.value ? 'requirements'  -- absent: the level's requirements stay as they are
                 ORDER BY 1
            LOOP
                object := 'requirement'; name := item.key || '/' || req.step;
                IF req.id IS NULL THEN
                    INSERT INTO achievements.level_requirements (level, name, required_count, priority)
                    VALUES (item.key, req.step, req.want_count, req.want_priority);
                    action := 'create'; detail := format('required_count %s, priority %s', req.want_count, req.want_priority);
                    RETURN NEXT;
                ELSIF req.want_count IS NULL THEN
                    DELETE FROM achievements.level_requirements AS x WHERE x.id = req.id;
                    action := 'delete'; detail := format('required_count %s', req.have_count);
                    RETURN NEXT;
                ELSIF (req.want_count, req.want_priority) IS DISTINCT FROM (req.have_count, req.have_priority) THEN
                    UPDATE achievements.level_requirements AS x
                       SET required_count = req.want_count, priority = req.want_priority
                     WHERE x.id = req.id;
                    action := 'update';
                    detail := concat_ws('; ',
                        CASE WHEN req.want_count <> req.have_count THEN format('required_count: %s -> %s', req.have_count, req.want_count) END,
                        CASE WHEN req.want_priority <> req.have_priority THEN format('priority: %s -> %s', req.have_priority, req.want_priority) END);
                    RETURN NEXT;
                END IF;
            END LOOP;
          EXCEPTION WHEN SQLSTATE 'AD209' OR check_violation THEN
            problems := problems || format('levels.%s: %s', item.key, SQLERRM);
          END;
        END LOOP;

        -- Badges, each in its own subtransaction so that every definition error is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) ORDER BY key LOOP
            BEGIN
                SELECT to_jsonb(b) - 'created_at' INTO old_row FROM achievements.badges AS b WHERE b.code = item.key;
                desired := jsonb_populate_record(NULL::achievements.badges,
                                                 defaults || item.value || jsonb_build_object('code', item.key));
                -- Without points, the rarity's (and the badge follows them).
                desired.points_by_rarity := NOT item.value ? 'points';
                IF desired.points_by_rarity THEN
                    desired.points := coalesce((SELECT r.points FROM achievements.rarity_points AS r WHERE r.rarity = desired.rarity), 0);
                END IF;
                new_row := to_jsonb(desired) - 'created_at';
                IF old_row IS NULL THEN
                    INSERT INTO achievements.badges (code, name, description, icon, category, points, rarity, hidden,
                                                     step, threshold, level, client_grantable, revocable,
                                                     active_from, active_until, min_badges, all_badges, badge_category,
                                                     min_points, points_by_rarity, link, notification_title,
                                                     notification_body)
                    VALUES (desired.code, desired.name, desired.description, desired.icon, desired.category,
                            desired.points, desired.rarity, desired.hidden, desired.step, desired.threshold,
                            desired.level, desired.client_grantable, desired.revocable,
                            desired.active_from, desired.active_until, desired.min_badges, desired.all_badges,
                            desired.badge_category, desired.min_points, desired.points_by_rarity, desired.link,
                            desired.notification_title, desired.notification_body);
                    object := 'badge'; name := item.key; action := 'create';
                    detail := concat_ws(', ', CASE WHEN desired.step IS NOT NULL THEN format('step %s >= %s', desired.step, desired.threshold) END,
                                              CASE WHEN desired.level IS NOT NULL THEN format('level %s', desired.level) END,
                                              CASE WHEN desired.min_badges IS NOT NULL THEN format('%s badges%s', desired.min_badges, ' of ' || desired.badge_category) END,
                                              CASE WHEN desired.all_badges THEN 'all badges' || coalesce(' of ' || desired.badge_category, '') END,
                                              CASE WHEN desired.min_points IS NOT NULL THEN format('%s points earned', desired.min_points) END,
                                              format('%s points', desired.points));
                    RETURN NEXT;
                ELSIF old_row IS DISTINCT FROM new_row THEN
                    changes := ARRAY(SELECT format('%s: %s -> %s', f2, old_row -> f2, new_row -> f2)
                                       FROM unnest(badge_fields) AS f2
                                      WHERE old_row -> f2 IS DISTINCT FROM new_row -> f2);
                    UPDATE achievements.badges AS b
                       SET name = desired.name, description = desired.description, icon = desired.icon,
                           category = desired.category, points = desired.points, rarity = desired.rarity,
                           hidden = desired.hidden, step = desired.step, threshold = desired.threshold,
                           level = desired.level, client_grantable = desired.client_grantable,
                           revocable = desired.revocable, active_from = desired.active_from,
                           active_until = desired.active_until, min_badges = desired.min_badges,
                           all_badges = desired.all_badges, badge_category = desired.badge_category,
                           min_points = desired.min_points, points_by_rarity = desired.points_by_rarity,
                           link = desired.link, notification_title = desired.notification_title,
                           notification_body = desired.notification_body
                     WHERE b.code = item.key;
                    object := 'badge'; name := item.key; action := 'update'; detail := array_to_string(changes, '; ');
                    RETURN NEXT;
                END IF;
            EXCEPTION WHEN SQLSTATE 'AD202' OR check_violation OR foreign_key_violation
                           OR invalid_text_representation OR datetime_field_overflow THEN
                problems := problems || format('badges.%s: %s', item.key, SQLERRM);
            END;
        END LOOP;

        -- Steps, last, each in its own subtransaction so that every error of track() is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'steps', '{}')) ORDER BY key LOOP
            BEGIN
                want := ROW((item.value ->> 'table')::regclass, item.key, item.value ->> 'column',
                            coalesce(item.value ->> 'mode', 'count'), item.value ->> 'user_column', now(),
                            item.value ->> 'condition', item.value ->> 'previous', item.value ->> 'value',
                            (item.value ->> 'depends_on')::regclass,
                            coalesce(item.value ->> 'depends_on_user_column',
                                     CASE WHEN item.value ? 'depends_on' THEN item.value ->> 'user_column' END),
                            item.value ->> 'at', item.value ->> 'time_zone'
                            )::achievements.tracked_steps;
                backfill := coalesce((item.value -> 'backfill')::boolean, true);
                IF want.tbl IS NULL THEN
                    -- A streak step without a table: its activity comes from record_step().
                    IF achievements_private.define_streak(want.step, coalesce(item.value ->> 'period', 'day'),
                                                          coalesce(item.value ->> 'week_start', 'monday')) THEN
                        object := 'step'; name := item.key; action := 'create';
                        detail := format('streak of %s, recorded by record_step()', coalesce(item.value ->> 'period', 'day'));
                        RETURN NEXT;
                    END IF;
                    CONTINUE;
                END IF;
                IF want.mode = 'streak' THEN
                    want.at := coalesce(want.at, quote_ident(want.column_name));
                END IF;
                SELECT * INTO have FROM achievements.tracked_steps AS t WHERE t.tbl = want.tbl AND t.step = want.step;
                changes := ARRAY(SELECT format('%s: %s -> %s', f.k, f.o, f.n)
                                   FROM (VALUES ('column', have.column_name, want.column_name),
                                                ('mode', have.mode, want.mode),
                                                ('user_column', have.user_column, want.user_column),
                                                ('condition', have.condition, want.condition),
                                                ('previous', have.previous, want.previous),
                                                ('value', have.value, want.value),
                                                ('depends_on', have.depends_on::text, want.depends_on::text),
                                                ('depends_on_user_column', have.depends_on_user_column, want.depends_on_user_column),
                                                ('at', have.at, want.at), ('time_zone', have.time_zone, want.time_zone))
                                        AS f(k, o, n)
                                  WHERE have.tbl IS NOT NULL AND f.o IS DISTINCT FROM f.n);
                object := 'step'; name := item.key;
                IF have.tbl IS NULL THEN
                    PERFORM achievements_private.track(want.tbl, want.step, want.column_name, want.mode, want.user_column,
                                                       want.condition, want.previous, want.value, want.depends_on,
                                                       want.depends_on_user_column, backfill, want.at,
                                                       item.value ->> 'period', item.value ->> 'week_start', want.time_zone,
                                                       caller);
                    action := 'create';
                    detail := concat_ws(', ', format('table %s', want.tbl), format('mode %s', want.mode),
                                        'column ' || want.column_name, 'condition ' || want.condition,
                                        'previous ' || want.previous, 'value ' || want.value,
                                        'depends on ' || want.depends_on::text, 'at ' || want.at,
                                        'period ' || (item.value ->> 'period'));
                    RETURN NEXT;
                ELSIF cardinality(changes) > 0 THEN
                    -- Tracked again: a counter keeps its tally and counts from now on (its rows
                    -- were counted already); a gauge is recounted.
                    PERFORM achievements_private.untrack(want.tbl, want.step, caller);
                    PERFORM achievements_private.track(want.tbl, want.step, want.column_name, want.mode, want.user_column,
                                                       want.condition, want.previous, want.value, want.depends_on,
                                                       want.depends_on_user_column,
                                                       achievements_private.step_kind(want.mode, want.depends_on) <> 'counter',
                                                       want.at, item.value ->> 'period', item.value ->> 'week_start',
                                                       want.time_zone, caller);
                    action := 'update'; detail := array_to_string(changes, '; ');
                    RETURN NEXT;
                END IF;
            EXCEPTION WHEN SQLSTATE 'AD102' OR SQLSTATE 'AD103' OR SQLSTATE 'AD104' OR SQLSTATE 'AD107'
                           OR SQLSTATE 'AD108' OR SQLSTATE 'AD109' OR SQLSTATE 'AD112' OR SQLSTATE 'AD302'
                           OR insufficient_privilege THEN
                problems := problems || format('steps.%s: %s', item.key, SQLERRM);
            END;
        END LOOP;

        IF cardinality(problems) > 0 THEN
            RAISE EXCEPTION 'the catalog has % error(s); nothing was changed', cardinality(problems)
                USING ERRCODE = 'AD207', DETAIL = array_to_string(problems, E'\n'),
                      HINT = 'Fix each line of the detail and apply again.';
        END IF;
        IF dry_run THEN
            -- The steps the document names that nothing counts: a misspelt step never awards.
            FOR warning IN
                SELECT DISTINCT x.step
                  FROM (SELECT e.key AS step
                          FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) AS l,
                               jsonb_each(CASE WHEN jsonb_typeof(l.value -> 'requirements') = 'object'
                                               THEN l.value -> 'requirements' ELSE '{}' END) AS e
                        UNION ALL
                        SELECT e ->> 'step'
                          FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) AS l,
                               jsonb_array_elements(CASE WHEN jsonb_typeof(l.value -> 'requirements') = 'array'
                                                         THEN l.value -> 'requirements' ELSE '[]' END) AS e
                        UNION ALL
                        SELECT b.value ->> 'step' FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) AS b
                        UNION ALL
                        SELECT b.key FROM jsonb_each(coalesce(catalog -> 'leaderboards', '{}')) AS b) AS x
                 WHERE x.step IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM achievements.tracked_steps AS t WHERE t.step = x.step)
                   AND NOT EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = x.step)
                   AND NOT EXISTS (SELECT 1 FROM achievements.user_achievements AS a WHERE a.name = x.step)
                 ORDER BY 1
            LOOP
                object := 'step'; name := warning; action := 'warning';
                detail := 'nothing tracks or records this step: check its spelling, track it ([steps]), or record it with record_step()';
                RETURN NEXT;
            END LOOP;
            RAISE EXCEPTION 'dry run' USING ERRCODE = 'AD299';
        END IF;
    EXCEPTION WHEN SQLSTATE 'AD299' THEN
        NULL;  -- dry run: every change above is rolled back; the rows returned stay.
    END;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.level_reached()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    users  achievements.user_ref[];
    levels text[];
BEGIN
    SELECT array_agg(l.user_id ORDER BY l.user_id, l.level), array_agg(l.level ORDER BY l.user_id, l.level)
      INTO users, levels
      FROM new_levels AS l;
    PERFORM achievements_private.announce_levels(users, levels);

    -- Announced by the trigger that counts the rows (count_badges).
    INSERT INTO achievements.user_badges (user_id, badge, notified)
    SELECT l.user_id, b.code, true
      FROM new_levels AS l
      JOIN achievements.badges AS b ON b.level = l.level
     WHERE achievements_private.badge_in_season(b.active_from, b.active_until)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.badges_crossed(user_ids achievements.user_ref[], codes text[], sign integer)
 RETURNS TABLE(user_id achievements.user_ref, code text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.award_levels_by_points(user_ids achievements.user_ref[], befores bigint[], afters bigint[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION achievements_private.badges_changed(user_ids achievements.user_ref[], codes text[], sign integer)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION achievements.transaction_awards(user_id achievements.user_ref)
 RETURNS TABLE(kind text, user_id achievements.user_ref, code text, name text, description text, icon text, rarity text, points integer, awarded_at timestamp with time zone)
 LANGUAGE sql
 STABLE
AS $function$
    SELECT a.kind, a.user_id, a.code, a.name, a.description, a.icon, a.rarity, a.points, a.awarded_at
      FROM (SELECT 'badge' AS kind, ub.user_id, ub.badge AS code, b.name, b.description, b.icon, b.rarity, b.points,
                   ub.earned_at AS awarded_at
              FROM achievements.user_badges AS ub
              JOIN achievements.badges AS b ON b.code = ub.badge
             WHERE ub.earned_at = now() AND ub.awarded_in = pg_current_xact_id_if_assigned()
               AND ub.user_id = transaction_awards.user_id
            UNION ALL
            SELECT 'level' AS kind, ul.user_id, ul.level AS code, l.name, l.description, NULL::text AS icon,
                   NULL::text AS rarity, NULL::int AS points, ul.achieved_at AS awarded_at
              FROM achievements.user_levels AS ul
              JOIN achievements.levels AS l ON l.name = ul.level
             WHERE ul.achieved_at = now() AND ul.awarded_in = pg_current_xact_id_if_assigned()
               AND ul.user_id = transaction_awards.user_id) AS a
     ORDER BY a.awarded_at, a.kind DESC, a.code
$function$;
COMMENT ON FUNCTION achievements.transaction_awards(achievements.user_ref) IS
    'The badges and levels the current transaction awarded to a user (kind, code, name, ...), for a toast; an application role sees its own only.';

CREATE OR REPLACE FUNCTION achievements.transaction_awards()
 RETURNS TABLE(kind text, user_id achievements.user_ref, code text, name text, description text, icon text, rarity text, points integer, awarded_at timestamp with time zone)
 LANGUAGE sql
 STABLE
AS $function$
    SELECT a.kind, a.user_id, a.code, a.name, a.description, a.icon, a.rarity, a.points, a.awarded_at
      FROM (SELECT 'badge' AS kind, ub.user_id, ub.badge AS code, b.name, b.description, b.icon, b.rarity, b.points,
                   ub.earned_at AS awarded_at
              FROM achievements.user_badges AS ub
              JOIN achievements.badges AS b ON b.code = ub.badge
             WHERE ub.earned_at = now() AND ub.awarded_in = pg_current_xact_id_if_assigned()
            UNION ALL
            SELECT 'level' AS kind, ul.user_id, ul.level AS code, l.name, l.description, NULL::text AS icon,
                   NULL::text AS rarity, NULL::int AS points, ul.achieved_at AS awarded_at
              FROM achievements.user_levels AS ul
              JOIN achievements.levels AS l ON l.name = ul.level
             WHERE ul.achieved_at = now() AND ul.awarded_in = pg_current_xact_id_if_assigned()) AS a
     ORDER BY a.user_id, a.awarded_at, a.kind DESC, a.code
$function$;
COMMENT ON FUNCTION achievements.transaction_awards() IS
    'The badges and levels the current transaction awarded to every user the caller may see, for a toast; an application role sees its own only.';

CREATE OR REPLACE FUNCTION achievements.steps_required(level_name text, user_id achievements.user_ref DEFAULT achievements.current_user_id())
 RETURNS TABLE(id integer, name text, level text, required_count integer, priority integer)
 LANGUAGE sql
 STABLE
BEGIN ATOMIC
 SELECT steps_required.id,
     steps_required.name,
     steps_required.level,
     steps_required.required_count,
     steps_required.priority
    FROM achievements_private.steps_required(steps_required.level_name, achievements_private.readable_user(steps_required.user_id)) steps_required(id, name, level, required_count, priority);
END;
COMMENT ON FUNCTION achievements.steps_required(text,achievements.user_ref) IS
    'Requirements of a level the user has not met, by priority; required_count is what is still missing (points not reached yet: a row named points with id NULL).';

CREATE OR REPLACE FUNCTION achievements.level_progress(user_id achievements.user_ref DEFAULT achievements.current_user_id(), level_name text DEFAULT NULL::text)
 RETURNS TABLE(level text, requirement text, kind text, current bigint, target bigint, achieved_at timestamp with time zone)
 LANGUAGE sql
 STABLE
BEGIN ATOMIC
 SELECT level_progress.level,
     level_progress.requirement,
     level_progress.kind,
     level_progress.current,
     level_progress.target,
     level_progress.achieved_at
    FROM achievements_private.level_progress(achievements_private.readable_user(level_progress.user_id), level_progress.level_name) level_progress(level, requirement, kind, current, target, achieved_at);
END;
COMMENT ON FUNCTION achievements.level_progress(achievements.user_ref,text) IS
    'Per level and requirement: kind (points or step), current out of target ("1,200 / 2,000 points"), achieved_at once reached.';

CREATE OR REPLACE FUNCTION achievements_private.rarity_rank(rarity text)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN array_position(ARRAY['common'::text, 'uncommon'::text, 'rare'::text, 'epic'::text, 'legendary'::text], rarity);

CREATE OR REPLACE FUNCTION achievements_private.badges_have_followers()
 RETURNS boolean
 LANGUAGE sql
 STABLE
RETURN ((EXISTS (SELECT 1 FROM achievements.badges b WHERE ((b.min_badges IS NOT NULL) OR b.all_badges OR (b.min_points IS NOT NULL)))) OR (EXISTS (SELECT 1 FROM achievements.levels l WHERE (l.min_points IS NOT NULL))));

CREATE OR REPLACE FUNCTION achievements_private.feed_cursor(rank integer, earned_at timestamp with time zone, user_id achievements.user_ref, badge text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
RETURN (jsonb_build_array(rank, ((EXTRACT(epoch FROM earned_at) * (1000000)::numeric))::bigint, (user_id)::text, badge))::text;

CREATE OR REPLACE FUNCTION achievements_private.template_defaults(kind text)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE
RETURN CASE kind WHEN 'badge'::text THEN '{"body": "{description}", "link": null, "title": "Badge earned: {name}"}'::jsonb WHEN 'level'::text THEN '{"body": "{description}", "link": null, "title": "Level reached: {name}"}'::jsonb WHEN 'badge_revoked'::text THEN '{"body": null, "link": null, "title": "Badge revoked: {name}"}'::jsonb ELSE NULL::jsonb END;

CREATE OR REPLACE FUNCTION achievements_private.template_placeholders(kind text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN CASE WHEN (kind = 'level'::text) THEN '{level}, {name}, {description}, {min_points}, {user_id}'::text ELSE '{code}, {name}, {description}, {icon}, {category}, {points}, {rarity}, {user_id}'::text END;

CREATE OR REPLACE FUNCTION achievements_private.render_badge(template text, code text, name text, description text, icon text, category text, points integer, rarity text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
RETURN NULLIF(replace(replace(replace(replace(replace(replace(replace(template, '{code}'::text, COALESCE(code, ''::text)), '{name}'::text, COALESCE(name, ''::text)), '{description}'::text, COALESCE(description, ''::text)), '{icon}'::text, COALESCE(icon, ''::text)), '{category}'::text, COALESCE(category, ''::text)), '{points}'::text, COALESCE((points)::text, ''::text)), '{rarity}'::text, COALESCE(rarity, ''::text)), ''::text);

CREATE OR REPLACE FUNCTION achievements_private.render_level(template text, level text, description text, min_points integer)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
RETURN NULLIF(replace(replace(replace(replace(template, '{level}'::text, COALESCE(level, ''::text)), '{name}'::text, COALESCE(level, ''::text)), '{description}'::text, COALESCE(description, ''::text)), '{min_points}'::text, COALESCE((min_points)::text, ''::text)), ''::text);

CREATE OR REPLACE FUNCTION achievements.mark_read(id bigint)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN achievements_private.mark_read(id, achievements_private.require_user('mark_read'::text));
COMMENT ON FUNCTION achievements.mark_read(bigint) IS
    'Marks one of the current user''s notifications read; true when it was unread.';

CREATE OR REPLACE FUNCTION achievements.mark_all_read()
 RETURNS integer
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN achievements_private.mark_all_read(achievements_private.require_user('mark_all_read'::text));
COMMENT ON FUNCTION achievements.mark_all_read() IS
    'Marks every unread notification of the current user read; returns how many.';

CREATE OR REPLACE FUNCTION achievements.unread_count()
 RETURNS integer
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN achievements_private.unread_count(achievements_private.require_user('unread_count'::text));
COMMENT ON FUNCTION achievements.unread_count() IS
    'Number of unread notifications of the current user.';

CREATE OR REPLACE FUNCTION achievements.delete_notification(id bigint)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN achievements_private.delete_notification(id, achievements_private.require_user('delete_notification'::text));
COMMENT ON FUNCTION achievements.delete_notification(bigint) IS
    'Deletes one of the current user''s notifications; true. AD205 when there is no such notification.';

CREATE OR REPLACE FUNCTION achievements.mark_read(id bigint, user_id achievements.user_ref)
 RETURNS boolean
 LANGUAGE sql
BEGIN ATOMIC
 SELECT achievements_private.mark_read(id, achievements_private.readable_user(user_id)) AS mark_read;
END;
COMMENT ON FUNCTION achievements.mark_read(bigint,achievements.user_ref) IS
    'Marks one of the user''s notifications read; true when it was unread. Service roles: any user.';

CREATE OR REPLACE FUNCTION achievements.mark_all_read(user_id achievements.user_ref)
 RETURNS integer
 LANGUAGE sql
BEGIN ATOMIC
 SELECT achievements_private.mark_all_read(achievements_private.readable_user(user_id)) AS mark_all_read;
END;
COMMENT ON FUNCTION achievements.mark_all_read(achievements.user_ref) IS
    'Marks every unread notification of the user read; returns how many. Service roles: any user.';

CREATE OR REPLACE FUNCTION achievements.unread_count(user_id achievements.user_ref)
 RETURNS integer
 LANGUAGE sql
 STABLE
BEGIN ATOMIC
 SELECT achievements_private.unread_count(achievements_private.readable_user(user_id)) AS unread_count;
END;
COMMENT ON FUNCTION achievements.unread_count(achievements.user_ref) IS
    'Number of unread notifications of the user. Service roles: any user.';

CREATE OR REPLACE FUNCTION achievements.delete_notification(id bigint, user_id achievements.user_ref)
 RETURNS boolean
 LANGUAGE sql
BEGIN ATOMIC
 SELECT achievements_private.delete_notification(id, achievements_private.readable_user(user_id)) AS delete_notification;
END;
COMMENT ON FUNCTION achievements.delete_notification(bigint,achievements.user_ref) IS
    'Deletes one of the user''s notifications; true. Service roles: any user.';

CREATE OR REPLACE FUNCTION achievements.notifications_page(user_id achievements.user_ref DEFAULT achievements.current_user_id(), before bigint DEFAULT NULL::bigint, lim integer DEFAULT 20, unread_only boolean DEFAULT false)
 RETURNS TABLE(id bigint, kind text, title text, body text, link text, data jsonb, created_at timestamp with time zone, read_at timestamp with time zone)
 LANGUAGE sql
 STABLE
BEGIN ATOMIC
 SELECT notifications_page.id,
     notifications_page.kind,
     notifications_page.title,
     notifications_page.body,
     notifications_page.link,
     notifications_page.data,
     notifications_page.created_at,
     notifications_page.read_at
    FROM achievements_private.notifications_page(achievements_private.readable_user(notifications_page.user_id), notifications_page.before, notifications_page.lim, notifications_page.unread_only) notifications_page(id, kind, title, body, link, data, created_at, read_at);
END;
COMMENT ON FUNCTION achievements.notifications_page(achievements.user_ref,bigint,integer,boolean) IS
    'The user''s notifications newest first, lim (default 20) at a time; before = id of the last one of the previous page; unread_only.';

CREATE TRIGGER _000_validate
    BEFORE INSERT OR UPDATE ON achievements.levels
    FOR EACH ROW EXECUTE FUNCTION achievements_private.validate_level();
CREATE TRIGGER _000_validate
    BEFORE INSERT OR UPDATE ON achievements.notification_templates
    FOR EACH ROW EXECUTE FUNCTION achievements_private.validate_notification_template();
CREATE TRIGGER _100_reprice_badges
    AFTER INSERT OR UPDATE OR DELETE ON achievements.rarity_points
    FOR EACH ROW EXECUTE FUNCTION achievements_private.reprice_rarity();
-- A badge that follows its rarity gets its points from a trigger: re-price its holders whenever
-- its points differ, not only when an UPDATE names the column.
DROP TRIGGER _100_rescore_on_points_change ON achievements.badges;
CREATE TRIGGER _100_rescore_on_points_change
    AFTER UPDATE ON achievements.badges
    FOR EACH ROW WHEN (OLD.points IS DISTINCT FROM NEW.points)
    EXECUTE FUNCTION achievements_private.rescore_badge();
CREATE TRIGGER _100_fill_step_periods
    AFTER INSERT OR UPDATE ON achievements.step_leaderboards
    FOR EACH ROW EXECUTE FUNCTION achievements_private.fill_step_periods();

-- Who may call what (sql/*/ next to each function, and 99_finish/01_private_functions.sql).
REVOKE EXECUTE ON FUNCTION achievements.delete_notification(bigint),
                           achievements.notify(achievements.user_ref, text, text, text, text, jsonb),
                           achievements.redeliver_notifications(int),
                           achievements.set_featured(achievements.user_ref, text, boolean) FROM PUBLIC;
SELECT achievements_private.grant_to_app_roles('EXECUTE', 'FUNCTION achievements.delete_notification(bigint)');
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.delete_notification(bigint), achievements.notify(achievements.user_ref, text, text, text, text, jsonb), achievements.redeliver_notifications(int), achievements.set_featured(achievements.user_ref, text, boolean)');
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA achievements_private FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    achievements_private.parse_user_ref(text),
    achievements_private.claims_sub(text),
    achievements_private.readable_user(achievements.user_ref),
    achievements_private.steps_required(text, achievements.user_ref),
    achievements_private.level_progress(achievements.user_ref, text),
    achievements_private.badge_progress(achievements.user_ref),
    achievements_private.user_badges_page(achievements.user_ref, text, int),
    achievements_private.user_points(achievements.user_ref),
    achievements_private.user_rank(achievements.user_ref, timestamptz),
    achievements_private.has_badge(achievements.user_ref, text, boolean),
    achievements_private.badge_holder_counts(),
    achievements_private.known_user_total(),
    achievements_private.track(regclass, text, text, text, text, text, text, text, regclass, text, boolean, text, text, text, text, name),
    achievements_private.untrack(regclass, text, name),
    achievements_private.tracking_add(name, regclass, achievements.user_ref[], text[], int[]),
    achievements_private.tracking_lock(name, regclass, achievements.user_ref[], text[]),
    achievements_private.tracking_lock_steps(name, regclass, text[]),
    achievements_private.tracking_streaks(name, regclass, achievements.user_ref[], text[], achievements.user_ref[], text[], timestamptz[], text[], int[], boolean),
    achievements_private.define_streak(text, text, text),
    achievements_private.set_time_zone(achievements.user_ref, text),
    achievements_private.grant_streak_freezes(achievements.user_ref, text, int),
    achievements_private.streaks(achievements.user_ref),
    achievements_private.notifications_page(achievements.user_ref, bigint, int, boolean),
    achievements_private.mark_read(bigint, achievements.user_ref),
    achievements_private.mark_all_read(achievements.user_ref),
    achievements_private.unread_count(achievements.user_ref),
    achievements_private.delete_notification(bigint, achievements.user_ref),
    achievements_private.qualify_catalog_tables(jsonb),
    achievements_private.apply_catalog(jsonb, boolean, name)
TO PUBLIC;

INSERT INTO achievements_private.applied_migrations (id) VALUES ('0006_rewards');
