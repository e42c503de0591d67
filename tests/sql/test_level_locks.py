"""Level awarding in one bulk statement for many users stays within the server's lock table:
lock_users maps users onto at most 1024 advisory lock keys."""


def test_one_statement_brings_30000_users_to_a_level(db):
    db.execute("INSERT INTO achievements.levels (name) VALUES ('regular')")
    db.execute("INSERT INTO achievements.level_requirements (level, name, required_count)"
               " VALUES ('regular', 'visit', 3)")
    # One lock per user ran out of shared memory (max_locks_per_transaction) near 10,000 users.
    db.execute("INSERT INTO achievements.user_steps (user_id, name, count)"
               " SELECT md5(g::text)::uuid, 'visit', 3 FROM generate_series(1, 30000) AS g")
    assert db.execute("SELECT count(*) FROM achievements.user_levels"
                      " WHERE level = 'regular'").fetchone()[0] == 30000


def test_lock_users_takes_at_most_1024_keys_in_order_never_key_0(db):
    with db.transaction():
        db.execute("SELECT achievements_private.lock_users(array_agg(md5(g::text)::uuid"
                   "::achievements.user_ref)) FROM generate_series(1, 5000) AS g")
        keys = [r[0] for r in db.execute(
            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = 1633838659"
            " AND pid = pg_backend_pid() ORDER BY objid")]
    assert 1000 <= len(keys) <= 1024
    assert min(keys) >= 1 and max(keys) <= 1024
