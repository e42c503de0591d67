-- Reactions: what follows from a changed tally or a new level, in the transaction of the step.

-- What the package does when tallies change: called by add_to_tallies once per statement that
-- changes any, under the tallies' row locks, with one array element per changed tally (its
-- user, step, count before and count after). Takes the users' bucket locks (lock_users),
-- registers the users whose tallies start, awards levels (award_levels), then badges
-- (award_badges). One query first asks whether any change crosses a requirement, and whether
-- any tally starts (from 0) or crosses a badge threshold (either way: revocable badges fall),
-- so that the changes that do neither (almost all) cost that query and no further call. One
-- tally is asked about with ANY over its one-element arrays; a statement's many are first
-- reduced to the range of counts per step, which may let through a statement that crosses
-- nothing (the award functions then find nothing), never the other way.
-- A call rather than triggers on user_achievements: a step pays for one pass over the changes.
-- No SET search_path (every name in it is qualified): only add_to_tallies calls it.
CREATE FUNCTION achievements_private.tallies_changed(
    user_ids achievements.user_ref[], names text[], old_counts int[], new_counts int[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    any_level boolean;
    any_badge boolean;
BEGIN
    IF cardinality(user_ids) = 1 THEN
        SELECT EXISTS (SELECT 1 FROM achievements.level_requirements AS r
                        WHERE r.name = ANY (names)
                          AND r.required_count > ANY (old_counts)
                          AND r.required_count <= ANY (new_counts)),
               0 = ANY (old_counts)
               OR EXISTS (SELECT 1 FROM achievements.badges AS b
                           WHERE b.step = ANY (names)
                             AND (b.threshold > ANY (old_counts) OR b.threshold > ANY (new_counts))
                             AND (b.threshold <= ANY (old_counts) OR b.threshold <= ANY (new_counts)))
          INTO any_level, any_badge;
    ELSE
        WITH steps AS (
            SELECT c.name, min(least(c.old_count, c.new_count)) AS lo,
                   max(greatest(c.old_count, c.new_count)) AS hi, bool_or(c.old_count = 0) AS starts
              FROM unnest(names, old_counts, new_counts) AS c(name, old_count, new_count)
             GROUP BY c.name
        )
        SELECT EXISTS (SELECT 1 FROM steps AS s
                         JOIN achievements.level_requirements AS r
                           ON r.name = s.name AND r.required_count > s.lo AND r.required_count <= s.hi),
               EXISTS (SELECT 1 FROM steps AS s WHERE s.starts)
               OR EXISTS (SELECT 1 FROM steps AS s
                            JOIN achievements.badges AS b
                              ON b.step = s.name AND b.threshold > s.lo AND b.threshold <= s.hi)
          INTO any_level, any_badge;
    END IF;
    IF NOT (any_level OR any_badge) THEN
        RETURN;
    END IF;
    -- Registering these users and every award and revocation that follows run under their
    -- bucket locks, taken once, in key order, after the tallies' row locks (docs/locks.md).
    PERFORM achievements_private.lock_users(user_ids);
    IF 0 = ANY (old_counts) THEN
        PERFORM achievements_private.register_users(
            ARRAY(SELECT DISTINCT c.user_id FROM unnest(user_ids, old_counts) AS c(user_id, old_count)
                   WHERE c.old_count = 0));
    END IF;
    IF any_level THEN
        PERFORM achievements_private.award_levels(user_ids, names, old_counts, new_counts);
    END IF;
    IF any_badge THEN
        PERFORM achievements_private.award_badges(user_ids, names, old_counts, new_counts);
    END IF;
END
$$;
