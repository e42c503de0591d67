-- Rollback of 0006_rewards: restores 0004. The new tables (rarity points, notification
-- templates, step leaderboards and their counters) and columns go with their data: badges
-- about badges become badges granted by call (no longer revocable), levels lose min_points,
-- awards lose featured, awarded_in and (levels) notified. Badges keep the points they have.
-- Notifications already written stay.
-- squawk-ignore-file ban-drop-function, ban-drop-column, ban-drop-table, ban-drop-constraint, constraint-missing-not-valid, require-concurrent-index-creation, require-concurrent-index-deletion
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '5min';
-- Functions are written in creation order, not in the order they call each other.
SET LOCAL check_function_bodies = off;

-- Refuses, changing nothing, while objects outside the package depend on what this rollback
-- drops (a view over user_levels selects its new columns too): the error lists them.
DO $rollback_guard$
DECLARE
    dependents text := (
        SELECT string_agg(DISTINCT format('%s (uses %s)', pg_describe_object(d.classid, d.objid, d.objsubid),
                                          pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)), '; ')
          FROM pg_depend AS d
         WHERE d.deptype IN ('n', 'a')
           AND NOT coalesce(achievements_private.object_schema(d.classid, d.objid)
                            = ANY (ARRAY[to_regnamespace('achievements'), to_regnamespace('achievements_private'),
                                         to_regnamespace('achievements_tracking')]::oid[]), false)
           AND ((d.refclassid = 'pg_class'::regclass
                 AND (d.refobjid IN ('achievements.rarity_points'::regclass, 'achievements.notification_templates'::regclass,
                                     'achievements.step_leaderboards'::regclass)
                      OR (d.refobjid, (SELECT a.attname FROM pg_attribute AS a
                                        WHERE a.attrelid = d.refobjid AND a.attnum = d.refobjsubid)) IN (
                          ('achievements.user_levels'::regclass, 'notified'), ('achievements.user_levels'::regclass, 'awarded_in'),
                          ('achievements.user_badges'::regclass, 'featured'), ('achievements.user_badges'::regclass, 'awarded_in'),
                          ('achievements.levels'::regclass, 'min_points'), ('achievements.levels'::regclass, 'link'),
                          ('achievements.levels'::regclass, 'notification_title'), ('achievements.levels'::regclass, 'notification_body'),
                          ('achievements.badges'::regclass, 'min_badges'), ('achievements.badges'::regclass, 'all_badges'),
                          ('achievements.badges'::regclass, 'badge_category'), ('achievements.badges'::regclass, 'min_points'),
                          ('achievements.badges'::regclass, 'points_by_rarity'), ('achievements.badges'::regclass, 'link'),
                          ('achievements.badges'::regclass, 'notification_title'), ('achievements.badges'::regclass, 'notification_body'))))
                OR (d.refclassid = 'pg_proc'::regclass AND d.refobjid IN (
                    'achievements.transaction_awards()'::regprocedure,
                    'achievements.transaction_awards(achievements.user_ref)'::regprocedure,
                    'achievements.notifications_page(achievements.user_ref,bigint,integer,boolean)'::regprocedure,
                    'achievements.delete_notification(bigint,achievements.user_ref)'::regprocedure,
                    'achievements.unread_count(achievements.user_ref)'::regprocedure,
                    'achievements.mark_all_read(achievements.user_ref)'::regprocedure,
                    'achievements.mark_read(bigint,achievements.user_ref)'::regprocedure,
                    'achievements.delete_notification(bigint)'::regprocedure,
                    'achievements.level_progress(achievements.user_ref,text)'::regprocedure,
                    'achievements.redeliver_notifications(integer)'::regprocedure,
                    'achievements.notify(achievements.user_ref,text,text,text,text,jsonb)'::regprocedure,
                    'achievements.badge_leaderboard(integer,timestamp with time zone)'::regprocedure,
                    'achievements.community_feed(integer,text,boolean,boolean,text)'::regprocedure,
                    'achievements.set_featured(achievements.user_ref,text,boolean)'::regprocedure,
                    'achievements.step_leaderboard(text,text,integer,timestamp with time zone)'::regprocedure))));
BEGIN
    IF dependents IS NOT NULL THEN
        RAISE EXCEPTION 'the rewards of 0006 cannot be removed: objects outside achievements-db depend on them: %', dependents
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop those objects first (or recreate them without the columns and functions of 0006).';
    END IF;
END
$rollback_guard$;

-- 0004's constraints allow revocable badges only with a step.
UPDATE achievements.badges SET revocable = false WHERE revocable AND step IS NULL;
DROP TRIGGER _000_validate ON achievements.levels;
DROP TABLE achievements_private.step_period_counts, achievements.step_leaderboards,
           achievements.notification_templates, achievements.rarity_points;

-- Functions: the definitions of 0004 back, the new ones gone.

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
    SELECT array_agg(t.user_id), array_agg(t.name), array_agg(t.count - s.delta), array_agg(t.count)
      INTO user_ids, names, old_counts, new_counts
      FROM tallied AS t
      JOIN steps AS s ON s.user_id = t.user_id AND s.name = t.name;
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
        SELECT r.id, r.name, r.level, r.required_count - coalesce(t.count, 0), r.priority
          FROM achievements.level_requirements AS r
          LEFT JOIN achievements.user_achievements AS t
                 ON t.user_id = who AND t.name = r.name
         WHERE r.level = level_name
           AND coalesce(t.count, 0) < r.required_count
         ORDER BY r.priority, r.name;
END
$function$;

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
     WHERE NOT EXISTS (SELECT 1
                         FROM achievements.level_requirements AS r2
                         LEFT JOIN achievements.user_achievements AS t
                                ON t.user_id = c.user_id AND t.name = r2.name
                        WHERE r2.level = r.level AND coalesce(t.count, 0) < r2.required_count)
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
        -- As in backfill_badge: a tally read that changed since the snapshot raises 40001.
        PERFORM FROM achievements.level_requirements AS r
          JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
         WHERE level_name IS NULL OR r.level = level_name
           FOR SHARE OF t;
    END IF;
    before := achievements_private.set_quiet('on');
    INSERT INTO achievements.user_levels (user_id, level)
    SELECT t.user_id, r.level
      FROM achievements.level_requirements AS r
      JOIN achievements.user_achievements AS t ON t.name = r.name AND t.count >= r.required_count
     WHERE level_name IS NULL OR r.level = level_name
     GROUP BY t.user_id, r.level
    HAVING count(*) = (SELECT count(*) FROM achievements.level_requirements AS r2 WHERE r2.level = r.level)
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
BEGIN
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
    ELSIF NEW.revocable AND NEW.step IS NULL THEN
        problem := 'is revocable but has no step and threshold';
        hint := 'Only threshold badges are taken back automatically; take any badge back with achievements.revoke_badge().';
    ELSIF NEW.active_until <= NEW.active_from THEN
        problem := format('active_until (%s) must be later than active_from (%s)', NEW.active_until, NEW.active_from);
        hint := 'The badge can be earned from active_from (inclusive) until active_until (exclusive).';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'badge %: %', coalesce(quote_literal(NEW.code), 'NULL'), problem
            USING ERRCODE = 'AD202', HINT = hint;
    END IF;
    RETURN NEW;
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
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION achievements_private.unaward_deleted_badge()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    DELETE FROM achievements.user_badges AS ub WHERE ub.badge = OLD.code;
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
    users  achievements.user_ref[];
    codes  text[];
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

    WITH awarded AS (
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT c.user_id, b.code, true
          FROM unnest(user_ids, names, old_counts, new_counts) AS c(user_id, name, old_count, new_count)
          JOIN achievements.badges AS b
            ON b.step = c.name AND b.threshold <= c.new_count AND b.threshold > c.old_count
         WHERE achievements_private.badge_in_season(b.active_from, b.active_until)
         ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        RETURNING user_id, badge
    )
    SELECT array_agg(user_id), array_agg(badge) INTO users, codes FROM awarded;
    PERFORM achievements_private.announce_badges(users, codes);
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
    IF n = 0 THEN
        RETURN false;
    END IF;
    PERFORM achievements_private.announce_badges(ARRAY[award_badge.user_id], ARRAY[b.code]);
    RETURN true;
END
$function$;
COMMENT ON FUNCTION achievements.award_badge(achievements.user_ref,text) IS
    'Awards a badge to a user; true when newly awarded, false when already held. Idempotent under concurrency; one notification.';

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
    IF b.step IS NULL AND b.level IS NULL THEN
        RETURN 0;
    END IF;
    -- Every user's lock first: the statements below then see every award and revocation
    -- committed before, and none can cross them (docs/locks.md).
    PERFORM achievements_private.lock_all_users();
    IF achievements_private.snapshot_per_transaction() THEN
        -- The transaction's snapshot may predate what the lock's previous holders committed: a
        -- tally it reads that changed since raises 40001 (the caller retries).
        PERFORM FROM achievements.user_achievements AS t
          WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold FOR SHARE;
    END IF;
    held := EXISTS (SELECT 1 FROM achievements_private.badge_holders AS h
                     WHERE h.badge = b.code GROUP BY h.badge HAVING sum(h.holders) <> 0);
    before := achievements_private.set_quiet('on');
    BEGIN
        IF held THEN
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT q.user_id, b.code, true
              FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                     WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                    UNION ALL
                    SELECT ul.user_id FROM achievements.user_levels AS ul
                     WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
             WHERE NOT EXISTS (SELECT 1 FROM achievements.user_badges AS ub
                                WHERE ub.user_id = q.user_id AND ub.badge = b.code)
             ORDER BY q.user_id;
        ELSE
            INSERT INTO achievements.user_badges (user_id, badge, notified)
            SELECT q.user_id, b.code, true
              FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                     WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                    UNION ALL
                    SELECT ul.user_id FROM achievements.user_levels AS ul
                     WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
             ORDER BY q.user_id;
        END IF;
        GET DIAGNOSTICS awarded = ROW_COUNT;
    EXCEPTION WHEN unique_violation THEN
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT q.user_id, b.code, true
          FROM (SELECT t.user_id FROM achievements.user_achievements AS t
                 WHERE b.step IS NOT NULL AND t.name = b.step AND t.count >= b.threshold
                UNION ALL
                SELECT ul.user_id FROM achievements.user_levels AS ul
                 WHERE b.level IS NOT NULL AND ul.level = b.level) AS q
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
    ), levels AS (
        SELECT r.level, count(*)::int AS requirements,
               count(*) FILTER (WHERE coalesce(t.count, 0) >= r.required_count)::int AS met,
               EXISTS (SELECT 1 FROM achievements.user_levels AS ul
                        WHERE ul.user_id = who AND ul.level = r.level) AS reached
          FROM achievements.level_requirements AS r
          LEFT JOIN tallies AS t ON t.name = r.name
         WHERE r.level IN (SELECT b.level FROM achievements.badges AS b WHERE b.level IS NOT NULL)
         GROUP BY r.level
    ), progress AS (
        SELECT b.*, h.earned_at AS held_at,
               CASE WHEN b.step IS NOT NULL THEN b.threshold
                    WHEN b.level IS NOT NULL THEN greatest(coalesce(l.requirements, 0), 1)
                    ELSE 1 END AS goal,
               CASE WHEN b.step IS NOT NULL THEN least(coalesce(t.count, 0), b.threshold)
                    WHEN b.level IS NOT NULL THEN
                         CASE WHEN l.reached THEN greatest(coalesce(l.requirements, 0), 1) ELSE coalesce(l.met, 0) END
                    ELSE 0 END AS done
          FROM achievements.badges AS b
          LEFT JOIN held AS h ON h.badge = b.code
          LEFT JOIN tallies AS t ON t.name = b.step
          LEFT JOIN levels AS l ON l.level = b.level
         WHERE NOT b.hidden OR h.earned_at IS NOT NULL
    )
    SELECT p.code, p.name, CASE WHEN p.held_at IS NOT NULL THEN p.goal ELSE p.done END, p.goal, p.held_at
      FROM progress AS p
     ORDER BY p.category NULLS LAST, p.step NULLS LAST, p.threshold NULLS LAST, p.level NULLS LAST, p.code;
END
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
        INSERT INTO achievements.notifications (user_id, kind, title, body, data)
        SELECT a.user_id, 'badge', 'Badge earned: ' || b.name, b.description,
               jsonb_build_object('badge', b.code, 'name', b.name, 'points', b.points,
                                  'rarity', b.rarity, 'icon', b.icon, 'category', b.category)
          FROM unnest(user_ids, codes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements.badges AS b ON b.code = a.badge
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
        INSERT INTO achievements.notifications (user_id, kind, title, body, data)
        SELECT a.user_id, 'level', 'Level reached: ' || l.name, l.description,
               jsonb_build_object('level', l.name)
          FROM unnest(user_ids, levels) WITH ORDINALITY AS a(user_id, level, ord)
          JOIN achievements.levels AS l ON l.name = a.level
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % level(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
    END;
END
$function$;

CREATE OR REPLACE FUNCTION achievements.mark_read(id bigint)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION achievements.mark_read(bigint) IS
    'Marks one of the current user''s notifications read; true when it was unread.';

CREATE OR REPLACE FUNCTION achievements.mark_all_read()
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    who achievements.user_ref := achievements_private.require_user('mark_all_read');
    n   int;
BEGIN
    UPDATE achievements.notifications AS x SET read_at = now()
     WHERE x.user_id = who AND x.read_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$function$;
COMMENT ON FUNCTION achievements.mark_all_read() IS
    'Marks every unread notification of the current user read; returns how many.';

CREATE OR REPLACE FUNCTION achievements.unread_count()
 RETURNS integer
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    who achievements.user_ref := achievements_private.require_user('unread_count');
BEGIN
    RETURN (SELECT count(*)::int FROM achievements.notifications AS n
             WHERE n.user_id = who AND n.read_at IS NULL);
END
$function$;
COMMENT ON FUNCTION achievements.unread_count() IS
    'Number of unread notifications of the current user.';

CREATE OR REPLACE FUNCTION achievements_private.catalog_problems(catalog jsonb)
 RETURNS SETOF text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    badge_keys constant text[] := ARRAY['name', 'description', 'icon', 'category', 'points', 'rarity',
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until'];
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
    FOR k IN SELECT x FROM (SELECT jsonb_object_keys(catalog) EXCEPT SELECT unnest(ARRAY['levels', 'badges', 'steps'])) AS u(x) ORDER BY 1 LOOP
        RETURN NEXT format('%s: unknown section (expected levels, badges or steps)', k);
    END LOOP;
    FOREACH k IN ARRAY ARRAY['levels', 'badges', 'steps'] LOOP
        IF catalog ? k AND jsonb_typeof(catalog -> k) <> 'object' THEN
            RETURN NEXT format('%s: expected a table of %s by name', k, k);
        END IF;
    END LOOP;

    FOR item IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(catalog -> 'levels') = 'object'
                                              THEN catalog -> 'levels' ELSE '{}' END) ORDER BY key LOOP
        path := 'levels.' || item.key;
        IF item.key = '' THEN
            RETURN NEXT 'levels: a level name must not be empty';
        END IF;
        IF jsonb_typeof(item.value) <> 'object' THEN
            RETURN NEXT format('%s: expected a table (description, requirements)', path);
            CONTINUE;
        END IF;
        FOR k IN SELECT x FROM (SELECT jsonb_object_keys(item.value) EXCEPT SELECT unnest(ARRAY['description', 'requirements'])) AS u(x) ORDER BY 1 LOOP
            RETURN NEXT format('%s.%s: unknown key (expected description, requirements)', path, k);
        END LOOP;
        IF jsonb_typeof(item.value -> 'description') NOT IN ('string', 'null') THEN
            RETURN NEXT format('%s.description: expected a string', path);
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
            want := CASE WHEN field.key IN ('points', 'threshold') THEN 'integer'
                         WHEN field.key IN ('hidden', 'client_grantable', 'revocable') THEN 'boolean'
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

CREATE OR REPLACE FUNCTION achievements_private.level_reached()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    users  achievements.user_ref[];
    levels text[];
    codes  text[];
BEGIN
    SELECT array_agg(l.user_id ORDER BY l.user_id, l.level), array_agg(l.level ORDER BY l.user_id, l.level)
      INTO users, levels
      FROM new_levels AS l;
    PERFORM achievements_private.announce_levels(users, levels);

    WITH awarded AS (
        INSERT INTO achievements.user_badges (user_id, badge, notified)
        SELECT l.user_id, b.code, true
          FROM new_levels AS l
          JOIN achievements.badges AS b ON b.level = l.level
         WHERE achievements_private.badge_in_season(b.active_from, b.active_until)
         ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        RETURNING user_id, badge
    )
    SELECT array_agg(user_id), array_agg(badge) INTO users, codes FROM awarded;
    PERFORM achievements_private.announce_badges(users, codes);
    RETURN NULL;
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
        'hidden', 'step', 'threshold', 'level', 'client_grantable', 'revocable', 'active_from', 'active_until'];
    defaults constant jsonb := '{"description": null, "icon": null, "category": null, "points": 0,
        "rarity": "common", "hidden": false, "step": null, "threshold": null, "level": null,
        "client_grantable": false, "revocable": false, "active_from": null, "active_until": null}'::jsonb;
    problems text[];
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
        -- Levels and their requirements.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'levels', '{}')) ORDER BY key LOOP
            SELECT to_jsonb(l) INTO old_row FROM achievements.levels AS l WHERE l.name = item.key;
            IF old_row IS NULL THEN
                INSERT INTO achievements.levels (name, description) VALUES (item.key, item.value ->> 'description');
                object := 'level'; name := item.key; action := 'create'; detail := '';
                RETURN NEXT;
            ELSIF old_row -> 'description' IS DISTINCT FROM coalesce(item.value -> 'description', 'null') THEN
                UPDATE achievements.levels AS l SET description = item.value ->> 'description' WHERE l.name = item.key;
                object := 'level'; name := item.key; action := 'update';
                detail := format('description: %s -> %s', old_row -> 'description', coalesce(item.value -> 'description', 'null'));
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
        END LOOP;

        -- Badges, each in its own subtransaction so that every definition error is collected.
        FOR item IN SELECT * FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) ORDER BY key LOOP
            BEGIN
                SELECT to_jsonb(b) - 'created_at' INTO old_row FROM achievements.badges AS b WHERE b.code = item.key;
                desired := jsonb_populate_record(NULL::achievements.badges,
                                                 defaults || item.value || jsonb_build_object('code', item.key));
                new_row := to_jsonb(desired) - 'created_at';
                IF old_row IS NULL THEN
                    INSERT INTO achievements.badges (code, name, description, icon, category, points, rarity, hidden,
                                                     step, threshold, level, client_grantable, revocable,
                                                     active_from, active_until)
                    VALUES (desired.code, desired.name, desired.description, desired.icon, desired.category,
                            desired.points, desired.rarity, desired.hidden, desired.step, desired.threshold,
                            desired.level, desired.client_grantable, desired.revocable,
                            desired.active_from, desired.active_until);
                    object := 'badge'; name := item.key; action := 'create';
                    detail := concat_ws(', ', CASE WHEN desired.step IS NOT NULL THEN format('step %s >= %s', desired.step, desired.threshold) END,
                                              CASE WHEN desired.level IS NOT NULL THEN format('level %s', desired.level) END,
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
                           active_until = desired.active_until
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
                        SELECT b.value ->> 'step' FROM jsonb_each(coalesce(catalog -> 'badges', '{}')) AS b) AS x
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
    'Requirements of a level the user has not met, by priority; required_count is what is still missing.';

DROP FUNCTION achievements.notifications_page(achievements.user_ref,bigint,integer,boolean);
DROP FUNCTION achievements.delete_notification(bigint,achievements.user_ref);
DROP FUNCTION achievements.unread_count(achievements.user_ref);
DROP FUNCTION achievements.mark_all_read(achievements.user_ref);
DROP FUNCTION achievements.mark_read(bigint,achievements.user_ref);
DROP FUNCTION achievements.delete_notification(bigint);
DROP FUNCTION achievements_private.render_level(text,text,text,integer);
DROP FUNCTION achievements_private.render_badge(text,text,text,text,text,text,integer,text);
DROP FUNCTION achievements_private.template_placeholders(text);
DROP FUNCTION achievements_private.template_defaults(text);
DROP FUNCTION achievements_private.feed_cursor(integer,timestamp with time zone,achievements.user_ref,text);
DROP FUNCTION achievements_private.badges_have_followers();
DROP FUNCTION achievements_private.rarity_rank(text);
DROP FUNCTION achievements.level_progress(achievements.user_ref,text);
DROP FUNCTION achievements.transaction_awards();
DROP FUNCTION achievements.transaction_awards(achievements.user_ref);
DROP FUNCTION achievements_private.badges_changed(achievements.user_ref[],text[],integer);
DROP FUNCTION achievements_private.award_levels_by_points(achievements.user_ref[],bigint[],bigint[]);
DROP FUNCTION achievements_private.badges_crossed(achievements.user_ref[],text[],integer);
DROP FUNCTION achievements.redeliver_notifications(integer);
DROP FUNCTION achievements.notify(achievements.user_ref,text,text,text,text,jsonb);
DROP FUNCTION achievements_private.notifications_page(achievements.user_ref,bigint,integer,boolean);
DROP FUNCTION achievements_private.delete_notification(bigint,achievements.user_ref);
DROP FUNCTION achievements_private.unread_count(achievements.user_ref);
DROP FUNCTION achievements_private.mark_all_read(achievements.user_ref);
DROP FUNCTION achievements_private.mark_read(bigint,achievements.user_ref);
DROP FUNCTION achievements_private.no_notification(bigint,achievements.user_ref);
DROP FUNCTION achievements_private.announce_revocations(achievements.user_ref[],text[]);
DROP FUNCTION achievements_private.badge_notification_fields(text,text[]);
DROP FUNCTION achievements_private.template_of(text);
DROP FUNCTION achievements_private.validate_notification_template();
DROP FUNCTION achievements_private.template_problem(text,text,text);
DROP FUNCTION achievements.badge_leaderboard(integer,timestamp with time zone);
DROP FUNCTION achievements.community_feed(integer,text,boolean,boolean,text);
DROP FUNCTION achievements.set_featured(achievements.user_ref,text,boolean);
DROP FUNCTION achievements_private.qualifying_users(achievements.badges);
DROP FUNCTION achievements_private.follows_badges(achievements.user_ref[],text[],integer);
DROP FUNCTION achievements_private.reprice_rarity();
DROP FUNCTION achievements.step_leaderboard(text,text,integer,timestamp with time zone);
DROP FUNCTION achievements_private.fill_step_periods();
DROP FUNCTION achievements_private.count_in_periods(achievements.user_ref[],text[],integer[],timestamp with time zone[]);
DROP FUNCTION achievements_private.level_progress(achievements.user_ref,text);
DROP FUNCTION achievements_private.validate_level();

DROP TRIGGER _100_rescore_on_points_change ON achievements.badges;
CREATE TRIGGER _100_rescore_on_points_change
    AFTER UPDATE OF points ON achievements.badges
    FOR EACH ROW WHEN (OLD.points IS DISTINCT FROM NEW.points)
    EXECUTE FUNCTION achievements_private.rescore_badge();
DROP INDEX achievements.user_scores_badges_rank_idx, achievements.user_badges_feed_idx,
           achievements.user_badges_unnotified_idx, achievements.user_levels_achieved_at_idx;
DROP INDEX achievements.notifications_unread_idx;
CREATE INDEX notifications_unread_idx ON achievements.notifications (user_id) WHERE read_at IS NULL;
COMMENT ON TABLE achievements.notifications IS
    'Outbox: one row per new badge (kind badge, data.badge) or level (kind level, data.level), written in the awarding transaction; pg_notify(''achievements'', {id, user_id, kind, badge|level}) fires at commit.';

ALTER TABLE achievements.user_badges DROP COLUMN featured, DROP COLUMN awarded_in;
ALTER TABLE achievements.user_levels DROP COLUMN notified, DROP COLUMN awarded_in;

ALTER TABLE achievements.levels
    DROP COLUMN min_points, DROP COLUMN link, DROP COLUMN notification_title, DROP COLUMN notification_body;
COMMENT ON TABLE achievements.levels IS
    'Levels a user reaches once every requirement in level_requirements is met.';

ALTER TABLE achievements.badges
    DROP CONSTRAINT badges_one_criterion,
    DROP CONSTRAINT badges_revocable_needs_criterion,
    DROP CONSTRAINT badges_category_of_badge_criteria,
    DROP COLUMN min_badges, DROP COLUMN all_badges, DROP COLUMN badge_category, DROP COLUMN min_points,
    DROP COLUMN points_by_rarity, DROP COLUMN link, DROP COLUMN notification_title, DROP COLUMN notification_body,
    ALTER COLUMN points SET DEFAULT 0,
    ADD CONSTRAINT badges_one_criterion CHECK (step IS NULL OR level IS NULL),
    ADD CONSTRAINT badges_revocable_needs_threshold CHECK (NOT revocable OR step IS NOT NULL);
COMMENT ON TABLE achievements.badges IS
    'Badge catalog. Criteria: step + threshold (tally reaches threshold), level (level reached), or none (granted by award_badge / claim_badge). active_from/active_until bound a seasonal window.';
COMMENT ON COLUMN achievements.badges.revocable IS 'Threshold badges only: taken back automatically when the tally falls below the threshold.';

DELETE FROM achievements_private.applied_migrations WHERE id = '0006_rewards';
