"""Who may call what in achievements_private (sql/99_finish/01_private_functions.sql)."""

from support.databases import APP_ROLE, SERVICE_ROLE

# Called with the caller's rights by current_user_id() and the public reads, which bind them
# when they are created: executable by every role, nameable only by those with USAGE.
BOUND = {
    "parse_user_ref(text)",
    "readable_user(achievements.user_ref)",
    "steps_required(text,achievements.user_ref)",
    "badge_progress(achievements.user_ref)",
    "user_badges_page(achievements.user_ref,text,integer)",
    "user_points(achievements.user_ref)",
    "user_rank(achievements.user_ref,timestamp with time zone)",
    "has_badge(achievements.user_ref,text,boolean)",
    "badge_holder_counts()",
    "known_user_total()",
}
# What track() and untrack() call with a service role's rights.
TRACKING = {
    "tracking_function_name(text)",
    "check_tracking_arguments(text,oid,text[],text)",
    "row_user_sql(text,text,text,text)",
    "tracking_trigger_name(text,text)",
    "forget_dropped_tables()",
    "create_counting_function(regclass,text,text,text,text)",
    "drop_counting_function(oid,text)",
}


def executable(db, role):
    rows = db.execute(
        "SELECT replace(p.oid::regprocedure::text, 'achievements_private.', '')"
        "  FROM pg_proc AS p WHERE p.pronamespace = 'achievements_private'::regnamespace"
        "   AND has_function_privilege(%s, p.oid, 'EXECUTE')",
        (role,),
    ).fetchall()
    return {r[0] for r in rows}


def test_application_roles_cannot_use_the_private_schema(db):
    assert (
        db.execute(
            "SELECT has_schema_privilege(%s, 'achievements_private', 'USAGE')", (APP_ROLE,)
        ).fetchone()[0]
        is False
    )
    assert executable(db, "public") == BOUND
    assert executable(db, APP_ROLE) == BOUND


def test_service_roles_use_it_for_track_and_untrack_only(db):
    assert (
        db.execute(
            "SELECT has_schema_privilege(%s, 'achievements_private', 'USAGE')", (SERVICE_ROLE,)
        ).fetchone()[0]
        is True
    )
    assert executable(db, SERVICE_ROLE) == BOUND | TRACKING
    db.execute("CREATE TABLE posts (id int, author uuid, body text)")
    db.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
    generated = db.execute(
        "SELECT achievements_private.counting_function_name('posts'::regclass, 'post') || '()'"
    ).fetchone()[0]
    assert executable(db, SERVICE_ROLE) == BOUND | TRACKING | {generated}
    assert executable(db, "public") == BOUND


def test_no_table_or_sequence_of_the_private_schema_is_granted(db):
    granted = db.execute(
        "SELECT c.relname FROM pg_class AS c WHERE c.relnamespace = 'achievements_private'::regnamespace"
        "   AND (has_table_privilege(%s, c.oid, 'SELECT') OR has_table_privilege(%s, c.oid, 'SELECT'))"
        "   AND c.relkind IN ('r', 'p', 'v', 'S')",
        (APP_ROLE, SERVICE_ROLE),
    ).fetchall()
    assert granted == []


def test_every_security_definer_function_pins_search_path(db):
    unpinned = db.execute(
        """SELECT p.oid::regprocedure::text
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('achievements', 'achievements_private')
              AND p.prosecdef
              AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')"""
    ).fetchall()
    assert unpinned == []
