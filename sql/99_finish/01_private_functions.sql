-- Who may call what in achievements_private. Only the owner uses the schema, and the service
-- roles, which run track() and untrack() with their own rights. EXECUTE is revoked from PUBLIC
-- on every function here except those that public functions call with their caller's rights:
--   * the functions that current_user_id() (and so every row level security policy), the public
--     per-user reads and the badge_stats view call. Those public objects bind them when they are
--     created (SQL-standard bodies, a view); a role without USAGE on achievements_private cannot
--     name them, so it can call them only through the public API;
--   * for the service roles, the functions track() and untrack() call (their triggers run
--     counting functions created here, each granted as it is created).
-- The tables and sequences of achievements_private are granted to nobody.

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA achievements_private FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    achievements_private.parse_user_ref(text),
    achievements_private.readable_user(achievements.user_ref),
    achievements_private.steps_required(text, achievements.user_ref),
    achievements_private.badge_progress(achievements.user_ref),
    achievements_private.user_badges_page(achievements.user_ref, text, int),
    achievements_private.user_points(achievements.user_ref),
    achievements_private.user_rank(achievements.user_ref, timestamptz),
    achievements_private.has_badge(achievements.user_ref, text, boolean),
    achievements_private.badge_holder_counts(),
    achievements_private.known_user_total()
TO PUBLIC;

SELECT achievements_private.grant_to_service_roles('USAGE', 'SCHEMA achievements_private');
SELECT achievements_private.grant_to_service_roles('EXECUTE', 'FUNCTION
    achievements_private.tracking_function_name(text),
    achievements_private.check_tracking_arguments(text, oid, text[], text),
    achievements_private.row_user_sql(text, text, text, text),
    achievements_private.tracking_trigger_name(text, text),
    achievements_private.forget_dropped_tables(),
    achievements_private.create_counting_function(regclass, text, text, text, text),
    achievements_private.drop_counting_function(oid, text)');
