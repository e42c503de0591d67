"""What each role can use is exactly the documented API (README, "What each role may use"):
every schema, function, table, view and sequence of the package that an application role and a
service role can name and use, compared with the list the README documents."""

from support.databases import APP_ROLE, SERVICE_ROLE

# What every role may call or read (application roles get it through PUBLIC by default).
APP_FUNCTIONS = {
    "current_user_id()",
    "parse_user_id(text)",
    "steps_required(text,achievements.user_ref)",
    "user_achieved(text,achievements.user_ref)",
    "badge_progress(achievements.user_ref)",
    "user_badges_page(achievements.user_ref,text,integer)",
    "user_points(achievements.user_ref)",
    "user_rank(achievements.user_ref,timestamp with time zone)",
    "has_badge(achievements.user_ref,text)",
    "leaderboard(integer,timestamp with time zone)",
    "public_badges(achievements.user_ref)",
    "claim_badge(text)",
    "set_badge_public(text,boolean)",
    "mark_read(bigint)",
    "mark_all_read()",
    "unread_count()",
    "set_time_zone(text,achievements.user_ref)",
    "streaks(achievements.user_ref)",
    "streak_leaderboard(text,text,integer)",
    "delete_notification(bigint)",
    # For a given user: an application role its own alone (42501 otherwise).
    "mark_read(bigint,achievements.user_ref)",
    "mark_all_read(achievements.user_ref)",
    "unread_count(achievements.user_ref)",
    "delete_notification(bigint,achievements.user_ref)",
    "notifications_page(achievements.user_ref,bigint,integer,boolean)",
    "level_progress(achievements.user_ref,text)",
    "transaction_awards()",
    "transaction_awards(achievements.user_ref)",
    "community_feed(integer,text,boolean,boolean,text)",
    "badge_leaderboard(integer,timestamp with time zone)",
    "step_leaderboard(text,text,integer,timestamp with time zone)",
}
APP_TABLES = {
    "levels": "SELECT",
    "level_requirements": "SELECT",
    "user_steps": "SELECT",
    "user_achievements": "SELECT",
    "user_levels": "SELECT",
    "badges": "SELECT",
    "user_badges": "SELECT",
    "user_scores": "SELECT",
    "notifications": "SELECT",
    "badge_stats": "SELECT",
    "user_time_zones": "SELECT",
    "streak_steps": "SELECT",
    "rarity_points": "SELECT",
    "notification_templates": "SELECT",
    "step_leaderboards": "SELECT",
}
# What the service roles may do besides.
SERVICE_FUNCTIONS = APP_FUNCTIONS | {
    "record_step(achievements.user_ref,text,integer)",
    "undo_step(achievements.user_ref,text,integer)",
    "backfill_levels(text)",
    "track(regclass,text,text,text,text,text,text,text,regclass,text,boolean,text,text,text,text)",
    "define_streak(text,text,text)",
    "grant_streak_freezes(achievements.user_ref,text,integer)",
    "untrack(regclass,text)",
    "tracked()",
    "recount(text)",
    "tg_achievement()",
    "tg_achievement_toggle()",
    "tg_achievement_boolean()",
    "tg_achievement_toggle_boolean()",
    "award_badge(achievements.user_ref,text)",
    "revoke_badge(achievements.user_ref,text)",
    "backfill_badge(text)",
    "compact_counters()",
    "apply_catalog(jsonb,boolean)",
    "notify(achievements.user_ref,text,text,text,text,jsonb)",
    "redeliver_notifications(integer)",
    "set_featured(achievements.user_ref,text,boolean)",
}
SERVICE_TABLES = {**APP_TABLES, "user_steps": "INSERT, SELECT"}

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def usable(db, role):
    """(schemas, functions, relations with their privileges) that `role` can name and use."""
    schemas = {
        r[0]
        for r in db.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('achievements', 'achievements_private', 'achievements_tracking')"
            "   AND has_schema_privilege(%s, oid, 'USAGE')",
            (role,),
        )
    }
    functions = {
        r[0]
        for r in db.execute(
            "SELECT regexp_replace(p.oid::regprocedure::text, '^achievements[.]', '')"
            "  FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace"
            " WHERE n.nspname = ANY(%s) AND has_function_privilege(%s, p.oid, 'EXECUTE')",
            (list(schemas), role),
        )
    }
    relations = {}
    for name, oid in db.execute(
        "SELECT c.relname, c.oid FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'S')",
        (list(schemas),),
    ):
        granted = [
            p
            for p in PRIVILEGES
            if db.execute("SELECT has_table_privilege(%s, %s::oid, %s)", (role, oid, p)).fetchone()[
                0
            ]
        ]
        usage = (
            db.execute(
                "SELECT has_sequence_privilege(%s, %s::oid, 'USAGE')", (role, oid)
            ).fetchone()[0]
            if db.execute("SELECT relkind = 'S' FROM pg_class WHERE oid = %s", (oid,)).fetchone()[0]
            else False
        )
        if granted or usage:
            relations[name] = ", ".join(sorted(granted + (["USAGE"] if usage else [])))
    return schemas, functions, relations


def test_an_application_role_uses_exactly_the_documented_api(db):
    for role in ("public", APP_ROLE):
        schemas, functions, relations = usable(db, role)
        assert schemas == {"achievements"}
        assert functions == APP_FUNCTIONS
        assert relations == APP_TABLES


def test_a_service_role_uses_exactly_the_documented_api(db):
    schemas, functions, relations = usable(db, SERVICE_ROLE)
    assert schemas == {"achievements"}
    assert functions == SERVICE_FUNCTIONS
    assert relations == SERVICE_TABLES
    # Counting functions that track() generates are the owner's alone.
    db.execute("CREATE TABLE posts (id int, author uuid, body text)")
    db.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
    assert usable(db, SERVICE_ROLE)[1] == SERVICE_FUNCTIONS


def test_internals_are_called_only_through_the_public_functions_that_bind_them(db):
    """EXECUTE on internals is revoked from PUBLIC but for those the public functions call with
    their caller's rights; nobody but the owner can name any of them."""
    public = {
        r[0]
        for r in db.execute(
            "SELECT replace(p.oid::regprocedure::text, 'achievements_private.', '')"
            "  FROM pg_proc AS p WHERE p.pronamespace = 'achievements_private'::regnamespace"
            "   AND has_function_privilege('public', p.oid, 'EXECUTE')"
        )
    }
    assert public == {
        "parse_user_ref(text)",
        "claims_sub(text)",
        "readable_user(achievements.user_ref)",
        "steps_required(text,achievements.user_ref)",
        "level_progress(achievements.user_ref,text)",
        "notifications_page(achievements.user_ref,bigint,integer,boolean)",
        "mark_read(bigint,achievements.user_ref)",
        "mark_all_read(achievements.user_ref)",
        "unread_count(achievements.user_ref)",
        "delete_notification(bigint,achievements.user_ref)",
        "badge_progress(achievements.user_ref)",
        "user_badges_page(achievements.user_ref,text,integer)",
        "user_points(achievements.user_ref)",
        "user_rank(achievements.user_ref,timestamp with time zone)",
        "has_badge(achievements.user_ref,text,boolean)",
        "badge_holder_counts()",
        "known_user_total()",
        "track(regclass,text,text,text,text,text,text,text,regclass,text,boolean,text,text,text,text,name)",
        "untrack(regclass,text,name)",
        "tracking_add(name,regclass,achievements.user_ref[],text[],integer[])",
        "tracking_lock(name,regclass,achievements.user_ref[],text[])",
        "tracking_lock_steps(name,regclass,text[])",
        "tracking_streaks(name,regclass,achievements.user_ref[],text[],achievements.user_ref[],text[],timestamp with time zone[],text[],integer[],boolean)",
        "define_streak(text,text,text)",
        "set_time_zone(achievements.user_ref,text)",
        "grant_streak_freezes(achievements.user_ref,text,integer)",
        "streaks(achievements.user_ref)",
        "apply_catalog(jsonb,boolean,name)",
        "qualify_catalog_tables(jsonb)",
    }
    for role in (APP_ROLE, SERVICE_ROLE):
        assert (
            db.execute(
                "SELECT has_schema_privilege(%s, 'achievements_private', 'USAGE')", (role,)
            ).fetchone()[0]
            is False
        )


def test_every_security_definer_function_pins_search_path(db):
    unpinned = db.execute(
        """SELECT p.oid::regprocedure::text
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('achievements', 'achievements_private', 'achievements_tracking')
              AND p.prosecdef
              AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')"""
    ).fetchall()
    assert unpinned == []
