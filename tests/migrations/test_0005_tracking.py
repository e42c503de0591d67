"""0005 rolls back cleanly (after untracking) and applies again; its rollback refuses while a
table is still tracked, changing nothing."""

import pytest
from conftest import target

from achievements_db.errors import AchievementsError
from achievements_db.migrator import migrate, rollback, status


def test_rollback_and_reapply(db, db_name):
    ids = [s.id for s in status(target(db_name))]
    later = ids[ids.index("0005_tracking") + 1:]
    db.execute("CREATE TABLE posts (id int, author uuid, body text)")
    db.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
    with pytest.raises(AchievementsError, match="rollback of 0005_tracking failed"):
        rollback(target(db_name), count=len(later) + 1)
    # The later migrations rolled back, one transaction each; 0005 refused and stayed.
    assert [s.id for s in status(target(db_name)) if s.applied][-1] == "0005_tracking"
    assert db.execute("SELECT count(*) FROM achievements.tracked()").fetchone()[0] == 1

    db.execute("SELECT achievements.untrack(tbl, step) FROM achievements.tracked()")
    assert rollback(target(db_name)) == ["0005_tracking"]
    assert db.execute("SELECT to_regprocedure('achievements.track(regclass,text,text,text,text)')"
                      ).fetchone()[0] is None
    assert db.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE '%tracking%'"
                      " OR proname LIKE 'tg_achievement%'").fetchone()[0] == 0

    assert migrate(target(db_name)) == ["0005_tracking", *later]
    db.execute("SELECT achievements.track('posts', 'post', 'body', 'count', 'author')")
    db.execute("INSERT INTO posts VALUES (1, gen_random_uuid(), 'x')")
    assert db.execute("SELECT sum(count) FROM achievements.user_achievements").fetchone()[0] == 1
