"""Generated application activity as data: each write is an Op, applied as one ordinary SQL
statement on the application's own tables. The demo applies them; the end-to-end tests apply
the same ops and replay them through a model of their own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from achievements_db.client.acting import claims


@dataclass(frozen=True)
class Op:
    """One statement of the application.

    insert: `rows` into `table` (one statement, however many rows);
    update: set `changes` on the rows of `table` whose id is in `ids` (one statement);
    delete: the rows of `table` whose id is in `ids` (one statement);
    set_time_zone: `user` picks the time zone `zone` (achievements.set_time_zone, as the user).
    """

    kind: str
    table: str = ""
    rows: tuple[dict[str, Any], ...] = ()
    ids: tuple[int, ...] = ()
    changes: dict[str, Any] = field(default_factory=dict)
    user: UUID | None = None
    zone: str | None = None


def insert(table: str, *rows: dict[str, Any]) -> Op:
    return Op("insert", table, rows=rows)


def update(table: str, ids: Iterable[int], **changes: Any) -> Op:
    return Op("update", table, ids=tuple(ids), changes=changes)


def delete(table: str, ids: Iterable[int]) -> Op:
    return Op("delete", table, ids=tuple(ids))


def set_time_zone(user: UUID, zone: str) -> Op:
    return Op("set_time_zone", user=user, zone=zone)


def statements(op: Op) -> Iterator[tuple[sql.SQL | sql.Composed, list[Any]]]:
    """The SQL statement (with its parameters) that `op` is. set_time_zone is three: act as the
    user (request.jwt.claims, local to the transaction), call, stop acting as the user."""
    table = sql.Identifier(op.table)
    if op.kind == "insert":
        columns = list(op.rows[0])
        row = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
        yield (
            sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
                table,
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join([row] * len(op.rows)),
            ),
            [r[c] for r in op.rows for c in columns],
        )
    elif op.kind == "update":
        sets = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c in op.changes
        )
        yield (
            sql.SQL("UPDATE {} SET {} WHERE id = ANY ({})").format(table, sets, sql.Placeholder()),
            [*op.changes.values(), list(op.ids)],
        )
    elif op.kind == "delete":
        yield sql.SQL("DELETE FROM {} WHERE id = ANY (%s)").format(table), [list(op.ids)]
    elif op.kind == "set_time_zone":
        assert op.user is not None
        yield sql.SQL("SELECT set_config('request.jwt.claims', %s, true)"), [claims(op.user)]
        yield sql.SQL("SELECT achievements.set_time_zone(%s)"), [op.zone]
        yield sql.SQL("SELECT set_config('request.jwt.claims', '', true)"), []
    else:
        raise ValueError(f"unknown op kind {op.kind!r}")


def apply(conn: psycopg.Connection[Any], days: Iterable[list[Op]]) -> int:
    """Applies each day's ops in order, one transaction per day (pipelined: a day's statements
    go to the server together); returns the number of statements run."""
    run = 0
    for ops in days:
        with conn.transaction(), conn.pipeline():
            for op in ops:
                for query, params in statements(op):
                    conn.execute(query, params)
                    run += 1
    return run
