"""One rule on every path: with text user ids, the empty text is no user, as NULL is. Before,
'' was a user for track() and large statements but no user for row-level triggers, small
statements and claims."""

import itertools
import json

import psycopg
import pytest

from achievements_db import migrate
from achievements_db.migrator import InstallOptions
from support.databases import conninfo, create_database, drop_databases, target
from support.tracking import wire

_tables = itertools.count()


@pytest.fixture(scope="module")
def text_database(pg_cluster):
    name = create_database("achievements_text_users")
    migrate(target(name), InstallOptions(user_id_type="text"))
    yield name
    drop_databases([name])


@pytest.fixture
def conn(text_database):
    with psycopg.connect(conninfo(text_database)) as conn:
        yield conn
        conn.rollback()


def tallies(conn, step):
    return dict(
        conn.execute(
            "SELECT user_id, count FROM achievements.user_achievements WHERE name = %s", (step,)
        ).fetchall()
    )


@pytest.mark.parametrize("level", ["row", "statement", "statement_built", "track"])
@pytest.mark.parametrize("mode", ["count", "toggle"])
@pytest.mark.parametrize("rows", [1, 50])
def test_a_row_whose_user_column_is_empty_counts_for_no_one(conn, level, mode, rows):
    table, step = f"items_{next(_tables)}", f"step_{next(_tables)}"
    conn.execute(f"CREATE TABLE {table} (id int, user_id text, val text)")
    wire(conn, mode, level, table=table, step=step)
    conn.execute(
        f"INSERT INTO {table} SELECT g, CASE WHEN g % 2 = 0 THEN '' ELSE 'ann' END, 'x'"
        f" FROM generate_series(1, {rows}) AS g"
    )
    conn.execute(f"UPDATE {table} SET val = 'y'")
    conn.execute(f"DELETE FROM {table}")
    ann = (rows + 1) // 2  # the odd rows are ann's
    # count: each of ann's rows set, then changed; toggle: up with the inserts, down to 0.
    assert tallies(conn, step) == {"ann": 2 * ann if mode == "count" else 0}
    assert (
        conn.execute("SELECT count(*) FROM achievements.user_steps WHERE user_id = ''").fetchone()[
            0
        ]
        == 0
    )


def test_an_empty_claim_is_no_user(conn):
    conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": ""}),))
    assert conn.execute("SELECT achievements.current_user_id()").fetchone()[0] is None
    conn.execute("CREATE TABLE posts (id int, body text)")
    conn.execute("SELECT achievements.track('posts', 'post', 'body')")
    conn.execute("INSERT INTO posts SELECT g, 'x' FROM generate_series(1, 50) AS g")
    assert tallies(conn, "post") == {}


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT achievements.record_step('', 'post')",
        "SELECT achievements.undo_step('', 'post')",
        "SELECT achievements.award_badge('', 'gift')",
        "SELECT achievements.revoke_badge('', 'gift')",
        "INSERT INTO achievements.user_steps (user_id, name) VALUES ('ann', 'post'), ('', 'post')",
    ],
)
def test_an_empty_user_id_given_to_a_function_or_the_log_is_refused_as_no_user(conn, statement):
    conn.execute("INSERT INTO achievements.badges (code, name) VALUES ('gift', 'Gift')")
    with pytest.raises(psycopg.Error) as err:
        conn.execute(statement)
    assert err.value.sqlstate == "AD005"
    assert err.value.diag.message_hint
