-- The one place that writes tallies and recorded_steps.

-- Raises AD007: the tally of `name` of `user_id` (now `count`; NULL when not read yet) would pass
-- the largest integer by adding `delta`. Returns int only so that it can stand in an
-- arithmetic expression; it never returns. VOLATILE, so that the planner never evaluates it
-- ahead of the CASE branch that calls it.
CREATE FUNCTION achievements_private.tally_overflow(user_id achievements.user_ref, name text, count bigint, delta bigint)
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- VOLATILE on purpose (see above):
    -- @plpgsql_check_options: performance_warnings = false
    RAISE EXCEPTION 'the tally of step % of user % would pass 2147483647 (%)', quote_literal(name), user_id,
                    CASE WHEN count IS NULL THEN format('one statement adds %s', delta)
                         ELSE format('it is %s, adding %s', count, delta) END
        USING ERRCODE = 'AD007',
              HINT = 'Tallies count steps as integers up to 2147483647: record smaller counts, or count this quantity in a coarser unit.';
END
$$;

-- Adds one delta to the tally of each (user, step) given, creating tallies as needed, then hands
-- the changed tallies to tallies_changed (levels, badges: 09_reactions). The arrays hold one
-- element per (user, step), no pair twice. With log_steps, first logs the deltas in
-- recorded_steps: every caller but the user_steps trigger (whose rows are in the log already)
-- passes true, so a logged step and its tally are always written together. Returns the new
-- tally when given one pair, else NULL.
-- Guarantees: exact under concurrency (each delta is added to the latest committed tally under
-- its row lock); tallies are locked in (user_id, name) order, so concurrent calls cannot
-- deadlock on each other; raises AD003, undoing the whole statement, when a tally would go
-- below zero, and AD007 when it would pass 2147483647. With log_steps, also adds the deltas to
-- the counters of the declared leaderboards of their steps (count_in_periods, at now(), the
-- time of their log rows), after the tallies, under their locks.
-- One positive delta (record_step, a single-row insert) takes single-row
-- statements, planned once per session: an UPDATE of the existing tally, else a one-row upsert.
-- Callers: the user_steps trigger, record_step, undo_step and the functions track() generates.
-- No SET search_path (every name in it is qualified; only the owner can call it): its callers
-- pin it, and saving and restoring the setting would cost every step.
CREATE FUNCTION achievements_private.add_to_tallies(
    user_ids achievements.user_ref[], names text[], deltas int[], log_steps boolean)
RETURNS int
LANGUAGE plpgsql
AS $$
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
$$;
