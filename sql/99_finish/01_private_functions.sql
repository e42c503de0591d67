-- Who may call what in achievements_private: the owner alone uses the schema. EXECUTE is
-- revoked from PUBLIC on every function here except those that public functions call with
-- their caller's rights: what current_user_id() (and so every row level security policy), the
-- public per-user reads, track(), untrack() and apply_catalog(), the badge_stats view and the
-- calls of achievements_tracking (for the owners of tracked tables) call. Those public
-- objects bind them when they are created (SQL-standard bodies, a view), and a role without
-- USAGE on achievements_private cannot name them: it can call them only through the public API.
-- The tables and sequences of achievements_private are granted to nobody.

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
