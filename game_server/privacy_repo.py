"""Postgres side of a user's data rights: export every row about a user, and erase them.

Which tables hold rows about a user is read from the catalog on every call: each column
with a foreign key to ``users(id)`` (``pg_constraint``, same schema as ``users``), plus the
``users`` row itself. A table added by a later migration is therefore exported and erased
without touching this module. This is the one module that reads and deletes other
modules' tables, and only by that rule (``WHERE <user column> = $user``); it never inserts
or updates.

Export (``export``): ``{table: [row, ...]}`` with every user-keyed table present (empty
list when the user has no rows there). Values are JSON-safe: UUIDs, timestamps, dates and
decimals as strings, intervals as seconds, json/jsonb parsed. Left out on purpose:
``bytea`` columns (binary: token hashes, media chunks) and secrets -- a column named
``*_hash`` or containing ``password`` or ``secret`` -- each replaced by a boolean
``<name without _hash>_set`` (so ``users.password_hash`` becomes ``password_set``).

Erasure (``erase``), one transaction: the ``users`` row is locked, rows whose key to the
user is RESTRICT or NO ACTION (the schema said nothing; the user could not be deleted
otherwise) are deleted explicitly, then the ``users`` row is deleted and Postgres applies
each key's declared action: CASCADE removes the rows the user owns (refresh tokens, owned
rooms, sessions, progress, chat, ...), SET NULL keeps rows that belong to someone else
and merely name the user, without the name. Before commit every user-keyed column is
counted again; any row still naming the user aborts the transaction
(``ErasureIncomplete``). Today every key to users(id) is CASCADE (migrations 001-007).
Cascades reach other users' rows only through rooms the user owns: another member's
``boss_contributions`` and chat in such a room go with it; their focus sessions and
interruptions keep the row with ``room_id`` NULL.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

USERS = "users"

FIND_USER_COLUMNS = """
SELECT t.relname::text AS table_name, t.oid AS table_oid, a.attname::text AS column_name,
       c.confdeltype::text AS on_delete
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN LATERAL unnest(c.conkey, c.confkey) AS k(att, ref_att) ON true
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att
JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = k.ref_att
WHERE c.contype = 'f' AND c.conparentid = 0
  AND c.confrelid = 'users'::regclass AND r.attname = 'id'
  AND t.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'users'::regclass)
ORDER BY 1, 3"""
"""Every (table, column) whose foreign key references users(id); ``on_delete`` is
pg_constraint.confdeltype: a no action, r restrict, c cascade, n set null, d set default."""

SELECT_COLUMNS = """
SELECT a.attrelid AS table_oid, a.attname::text AS column_name, ty.typname::text AS type_name
FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum"""
USERS_OID = "SELECT 'users'::regclass::oid"
LOCK_USER = "SELECT username FROM users WHERE id = $1 FOR UPDATE"
OWNED_ROOMS = "SELECT id FROM rooms WHERE owner_id = $1 ORDER BY id"
DELETE_USER = "DELETE FROM users WHERE id = $1"


class ErasureIncomplete(Exception):
    """Rows about the user survived the deletes (a foreign key this module cannot clear);
    the transaction was rolled back."""


@dataclass(frozen=True, slots=True)
class UserTable:
    """A table holding rows about a user: the columns that reference ``users(id)`` (a row
    is about the user when any of them equals the user id), and those of them whose key
    is RESTRICT or NO ACTION (deleted explicitly by ``erase``)."""

    name: str
    oid: int
    user_columns: tuple[str, ...]
    blocking_columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Erasure:
    """What ``erase`` removed: the user's username (None for a guest), the rooms they
    owned (deleted with them), and rows per table counted just before the delete."""

    username: str | None
    owned_rooms: tuple[uuid.UUID, ...]
    rows: dict[str, int]


def quote(name: str) -> str:
    """An SQL identifier quoted for interpolation (catalog names only, never input)."""
    return '"' + name.replace('"', '""') + '"'


def is_secret(column: str) -> bool:
    """Columns whose value is never exported (only whether it is set)."""
    lowered = column.lower()
    return lowered.endswith("_hash") or "password" in lowered or "secret" in lowered


def json_safe(value: Any) -> Any:
    """A Postgres value as JSON: UUID/time/decimal as strings, interval as seconds."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, bytes | bytearray | memoryview):
        return None  # binary never leaves (only reachable inside arrays or records)
    return str(value)


def _where(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"{quote(c)} = $1" for c in columns)


class PrivacyRepo:
    """Export and erasure of one user's rows through one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    async def user_tables(conn: asyncpg.Connection) -> list[UserTable]:
        """``users`` first, then every table with a foreign key to users(id), by name."""
        by_table: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for row in await conn.fetch(FIND_USER_COLUMNS):
            by_table[row["table_name"]].append(row)
        tables = [UserTable(USERS, int(await conn.fetchval(USERS_OID)), ("id",))]
        for name, rows in sorted(by_table.items()):
            tables.append(UserTable(
                name, int(rows[0]["table_oid"]),
                tuple(dict.fromkeys(r["column_name"] for r in rows)),
                tuple(dict.fromkeys(r["column_name"] for r in rows
                                    if r["on_delete"] in ("a", "r")))))
        return tables

    async def export(self, user_id: uuid.UUID) -> dict[str, list[dict[str, Any]]] | None:
        """Every row about ``user_id`` by table (module docstring); None when the user
        does not exist. One repeatable-read snapshot, so the tables agree."""
        async with self._pool.acquire() as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            tables = await self.user_tables(conn)
            types: dict[int, list[tuple[str, str]]] = defaultdict(list)
            for row in await conn.fetch(SELECT_COLUMNS, [t.oid for t in tables]):
                types[int(row["table_oid"])].append((row["column_name"], row["type_name"]))
            out: dict[str, list[dict[str, Any]]] = {}
            for table in tables:
                out[table.name] = await self._rows(conn, table, types[table.oid], user_id)
        if not out[USERS]:
            return None
        return out

    @staticmethod
    async def _rows(conn: asyncpg.Connection, table: UserTable,
                    columns: list[tuple[str, str]],
                    user_id: uuid.UUID) -> list[dict[str, Any]]:
        select: list[str] = []
        parse_json: set[str] = set()
        for name, type_name in columns:
            if type_name == "bytea":
                continue
            if is_secret(name):
                flag = name[:-5] if name.lower().endswith("_hash") else name
                select.append(f"({quote(name)} IS NOT NULL) AS {quote(flag + '_set')}")
                continue
            select.append(quote(name))
            if type_name in ("json", "jsonb"):
                parse_json.add(name)
        if not select:
            return []
        rows = await conn.fetch(f"SELECT {', '.join(select)} FROM {quote(table.name)} "
                                f"WHERE {_where(table.user_columns)}", user_id)
        return [{k: orjson.loads(v) if k in parse_json and isinstance(v, str)
                 else json_safe(v) for k, v in row.items()} for row in rows]

    async def erase(self, user_id: uuid.UUID) -> Erasure | None:
        """Delete every row about ``user_id`` (module docstring) in one transaction; None
        when the user does not exist (already erased). Raises ErasureIncomplete (rolled
        back) if any user-keyed column still matches before commit."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(LOCK_USER, user_id)
            if row is None:
                return None
            tables = await self.user_tables(conn)
            owned = tuple(r["id"] for r in await conn.fetch(OWNED_ROOMS, user_id))
            counts = {t.name: int(await conn.fetchval(
                f"SELECT count(*) FROM {quote(t.name)} WHERE {_where(t.user_columns)}",
                user_id)) for t in tables}
            for table in tables:
                if table.blocking_columns:
                    await conn.execute(f"DELETE FROM {quote(table.name)} "
                                       f"WHERE {_where(table.blocking_columns)}", user_id)
            await conn.execute(DELETE_USER, user_id)
            left = await self.remaining(conn, tables, user_id)
            if left:
                raise ErasureIncomplete(f"rows left after erasure: {left}")
        return Erasure(row["username"], owned, counts)

    @staticmethod
    async def remaining(conn: asyncpg.Connection, tables: list[UserTable],
                        user_id: uuid.UUID) -> dict[str, int]:
        """Tables that still hold rows about ``user_id``, with their counts."""
        left: dict[str, int] = {}
        for table in tables:
            n = int(await conn.fetchval(f"SELECT count(*) FROM {quote(table.name)} "
                                        f"WHERE {_where(table.user_columns)}", user_id))
            if n:
                left[table.name] = n
        return left
