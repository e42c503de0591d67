-- Recording and undoing steps by call (owner and service roles).

-- Raises AD110: `step` is a gauge that track() keeps equal to the rows of a table, which a
-- recorded or undone step would make drift (the table's next DELETE could then fail with AD003).
CREATE FUNCTION achievements_private.refuse_tracked_gauge(step text, fn text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbl regclass := (SELECT t.tbl FROM achievements.tracked_steps AS t
                      WHERE t.step = refuse_tracked_gauge.step AND t.mode NOT IN ('count', 'boolean')
                      LIMIT 1);
BEGIN
    RAISE EXCEPTION '%: step % is a gauge that achievements.track() keeps equal to the rows of table %',
                    fn, quote_literal(step), tbl
        USING ERRCODE = 'AD110',
              HINT = format('Change the rows of %s instead; to set the gauge back to them, call achievements.recount(%L).', tbl, step);
END
$$;

-- Records `count` steps of `step` for a user; returns the user's new tally of that step.
-- Logs the step and adds it to the tally in one call of add_to_tallies: exact under
-- concurrency. On a streak step (sql/10_streaks/) it records activity now, whatever the count,
-- and returns the longest streak. Raises AD002 for a count below 1 or a step that is not a name of 1 to 200
-- characters, AD005 for no user, AD007 past the largest tally, AD110 for a gauge that track()
-- keeps.
CREATE FUNCTION achievements.record_step(user_id achievements.user_ref, step text, count int DEFAULT 1)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF achievements_private.no_user(record_step.user_id) THEN
        RAISE EXCEPTION 'record_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user who took the step.';
    END IF;
    IF record_step.count IS NULL OR record_step.count < 1 OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'record_step: count must be a positive number and step a name of 1 to 200 characters (got count %, step %)',
                        coalesce(record_step.count::text, 'NULL'), coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'To take steps back, call achievements.undo_step(user_id, step, count).';
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = record_step.step) THEN
        RETURN achievements_private.record_streak(record_step.user_id, step);
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.tracked_steps AS t
                WHERE t.step = record_step.step AND t.mode NOT IN ('count', 'boolean')) THEN
        PERFORM achievements_private.refuse_tracked_gauge(step, 'record_step');
    END IF;
    RETURN achievements_private.add_to_tallies(ARRAY[record_step.user_id], ARRAY[step], ARRAY[record_step.count], true);
END
$$;
COMMENT ON FUNCTION achievements.record_step(achievements.user_ref, text, int) IS
    'Records count (default 1) steps for a user; returns the new tally. Exact under concurrency.';

-- Takes back up to `count` steps of `step`; a tally never goes below 0. Returns the new tally.
-- Locks the tally row first, so concurrent undos of one tally never take back more than it has.
-- Logs the amount actually taken back as a negative row (nothing when the tally is already 0).
-- Raises AD002 for a count below 1 or a step that is not a name of 1 to 200 characters, AD005
-- for no user, AD110 for a gauge that track() keeps, AD303 for a streak step.
CREATE FUNCTION achievements.undo_step(user_id achievements.user_ref, step text, count int DEFAULT 1)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    tally int;
    taken int;
BEGIN
    IF achievements_private.no_user(undo_step.user_id) THEN
        RAISE EXCEPTION 'undo_step: user_id is NULL' USING ERRCODE = 'AD005',
            HINT = 'Pass the id of the user whose step is undone.';
    END IF;
    IF undo_step.count IS NULL OR undo_step.count < 1 OR coalesce(char_length(step), 0) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'undo_step: count must be a positive number and step a name of 1 to 200 characters (got count %, step %)',
                        coalesce(undo_step.count::text, 'NULL'), coalesce(quote_literal(left(step, 60)) || CASE WHEN char_length(step) > 60 THEN '...' ELSE '' END, 'NULL')
            USING ERRCODE = 'AD002',
                  HINT = 'count is how many steps to take back, e.g. achievements.undo_step(user_id, step, 1).';
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.streak_steps AS ss WHERE ss.step = undo_step.step) THEN
        RAISE EXCEPTION 'undo_step: step % is a streak step, whose tally is the longest streak of the user''s activity', quote_literal(step)
            USING ERRCODE = 'AD303',
                  HINT = 'Delete the rows of the activity instead (the streak is worked out again); recorded calls are not undone.';
    END IF;
    IF EXISTS (SELECT 1 FROM achievements.tracked_steps AS t
                WHERE t.step = undo_step.step AND t.mode NOT IN ('count', 'boolean')) THEN
        PERFORM achievements_private.refuse_tracked_gauge(step, 'undo_step');
    END IF;
    SELECT t.count INTO tally
      FROM achievements.user_achievements AS t
     WHERE t.user_id = undo_step.user_id AND t.name = step
       FOR UPDATE;
    taken := least(coalesce(tally, 0), undo_step.count);
    IF taken > 0 THEN
        PERFORM achievements_private.add_to_tallies(ARRAY[undo_step.user_id], ARRAY[step], ARRAY[-taken], true);
    END IF;
    RETURN coalesce(tally, 0) - taken;
END
$$;
COMMENT ON FUNCTION achievements.undo_step(achievements.user_ref, text, int) IS
    'Takes back up to count (default 1) steps for a user, never below 0; returns the new tally.';

REVOKE EXECUTE ON FUNCTION achievements.record_step(achievements.user_ref, text, int),
                           achievements.undo_step(achievements.user_ref, text, int) FROM PUBLIC;
SELECT achievements_private.grant_to_service_roles('EXECUTE',
    'FUNCTION achievements.record_step(achievements.user_ref, text, int), achievements.undo_step(achievements.user_ref, text, int)');
