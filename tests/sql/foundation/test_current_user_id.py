"""current_user_id() reads the request's user from JWT claim settings."""

import json
import uuid

import pytest


def current(db):
    return db.execute("SELECT achievements.current_user_id()").fetchone()[0]


def setting(db, name, value):
    db.execute("SELECT set_config(%s, %s, false)", (name, value))


def test_null_without_claims(db):
    assert current(db) is None


def test_reads_sub_from_request_jwt_claims(db):
    user = uuid.uuid4()
    setting(db, "request.jwt.claims", json.dumps({"sub": str(user), "role": "authenticated"}))
    assert current(db) == user


def test_reads_legacy_postgrest_claim(db):
    user = uuid.uuid4()
    setting(db, "request.jwt.claim.sub", str(user))
    assert current(db) == user


def test_reads_jwt_claims_user_id(db):
    user = uuid.uuid4()
    setting(db, "jwt.claims.user_id", str(user))
    assert current(db) == user


def test_request_jwt_claims_wins_over_jwt_claims_user_id(db):
    first, second = uuid.uuid4(), uuid.uuid4()
    setting(db, "request.jwt.claims", json.dumps({"sub": str(first)}))
    setting(db, "jwt.claims.user_id", str(second))
    assert current(db) == first


@pytest.mark.parametrize("raw", ["not-a-uuid", "12345", "", "  ", "{0a0a}"])
def test_a_value_that_is_not_a_user_id_gives_null(db, raw):
    setting(db, "request.jwt.claims", json.dumps({"sub": raw}))
    assert current(db) is None
    setting(db, "request.jwt.claims", "")
    setting(db, "jwt.claims.user_id", raw)
    assert current(db) is None


def test_claims_without_sub_fall_through(db):
    user = uuid.uuid4()
    setting(db, "request.jwt.claims", json.dumps({"role": "anon"}))
    setting(db, "jwt.claims.user_id", str(user))
    assert current(db) == user


@pytest.mark.parametrize("claims", ["{not json", '{"sub": ', "[1, 2]", '"just a string"', "42"])
def test_malformed_claims_are_no_user_and_never_an_error(db, claims):
    """Before, claims that were not JSON raised 22P02 from current_user_id() and failed every
    tracked write and row level security read of the request."""
    setting(db, "request.jwt.claims", claims)
    assert current(db) is None
    user = uuid.uuid4()
    setting(db, "jwt.claims.user_id", str(user))  # the next source still answers
    assert current(db) == user


def test_a_tracked_write_with_malformed_claims_goes_through_and_counts_for_no_one(db):
    db.execute("CREATE TABLE posts (id int PRIMARY KEY, body text)")
    db.execute("SELECT achievements.track('posts', 'post', 'body')")  # the user is the claim's
    setting(db, "request.jwt.claims", "{not json")
    db.execute("INSERT INTO posts VALUES (1, 'x')")
    db.execute("INSERT INTO posts SELECT g, 'x' FROM generate_series(2, 200) AS g")
    assert db.execute("SELECT count(*) FROM posts").fetchone()[0] == 200
    assert db.execute("SELECT count(*) FROM achievements.user_achievements").fetchone()[0] == 0
    user = uuid.uuid4()
    setting(db, "request.jwt.claims", json.dumps({"sub": str(user)}))
    db.execute("INSERT INTO posts VALUES (201, 'x')")
    assert db.execute("SELECT count FROM achievements.user_achievements").fetchone()[0] == 1
