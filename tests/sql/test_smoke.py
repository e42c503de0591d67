import uuid


def test_record_step_counts(db):
    user = uuid.uuid4()
    assert db.execute("SELECT achievements.record_step(%s, 'post')", (user,)).fetchone()[0] == 1
    assert db.execute("SELECT achievements.record_step(%s, 'post', 4)", (user,)).fetchone()[0] == 5
