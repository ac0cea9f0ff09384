"""Postgres repository of the ``rooms`` table (the only module that writes it).

Invite codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), about
40 bits: enough that guessing one is impractical at the API's request rates (the join
endpoint is also rate-limited per user). Codes are stored upper case; ``normalize_code``
makes lookups case-insensitive and ignores whitespace.

The lobby reads public rooms newest first by the keyset ``(created_at, id)`` (partial index
``rooms_public_created_idx``, migration 006).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_LENGTH = 8

INSERT_ROOM = """
INSERT INTO rooms (id, owner_id, name, capacity, is_public, invite_code)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, owner_id, name, capacity, is_public, invite_code, created_at"""
SELECT_ROOM = """
SELECT id, owner_id, name, capacity, is_public, invite_code, created_at
FROM rooms WHERE id = $1"""
SELECT_BY_CODE = """
SELECT id, owner_id, name, capacity, is_public, invite_code, created_at
FROM rooms WHERE invite_code = $1"""
ROTATE_CODE = """
UPDATE rooms SET invite_code = $2 WHERE id = $1
RETURNING id, owner_id, name, capacity, is_public, invite_code, created_at"""
_PUBLIC = """
SELECT r.id, r.owner_id, r.name, r.capacity, r.is_public, r.invite_code, r.created_at,
       u.display_name AS owner_name
FROM rooms r JOIN users u ON u.id = r.owner_id
WHERE r.is_public"""
PUBLIC_NEWEST = _PUBLIC + """
ORDER BY r.created_at DESC, r.id DESC LIMIT $1"""
PUBLIC_NEWEST_BEFORE = _PUBLIC + """ AND (r.created_at, r.id) < ($2, $3)
  AND r.id <> ALL($4::uuid[])
ORDER BY r.created_at DESC, r.id DESC LIMIT $1"""
PUBLIC_NEWEST_EXCEPT = _PUBLIC + """ AND r.id <> ALL($2::uuid[])
ORDER BY r.created_at DESC, r.id DESC LIMIT $1"""


@dataclass(frozen=True, slots=True)
class Room:
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    capacity: int
    is_public: bool
    invite_code: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LobbyRoom:
    """A public room as the lobby lists it: the room and its owner's display name."""

    room: Room
    owner_name: str


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def normalize_code(raw: str) -> str | None:
    """An invite code as stored (whitespace removed, upper case), or None when it cannot
    be one (wrong length or characters outside ``INVITE_ALPHABET``)."""
    code = "".join(raw.split()).upper()
    if len(code) != INVITE_LENGTH or any(c not in INVITE_ALPHABET for c in code):
        return None
    return code


def _lobby_room(row: asyncpg.Record) -> LobbyRoom:
    d = dict(row)
    owner_name = d.pop("owner_name")
    return LobbyRoom(Room(**d), owner_name)


class RoomRepo:
    """Durable rooms: the system of record behind Redis' live room state."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, owner_id: uuid.UUID, name: str, capacity: int,
                     is_public: bool) -> Room:
        """Insert a room with a fresh invite code (retried on the rare code collision)."""
        for _ in range(5):
            try:
                row = await self._pool.fetchrow(INSERT_ROOM, uuid.uuid4(), owner_id, name,
                                                capacity, is_public, new_invite_code())
                return Room(**dict(row))
            except asyncpg.UniqueViolationError:
                continue
        raise RuntimeError("could not allocate a unique invite code")

    async def get(self, room_id: uuid.UUID) -> Room | None:
        row = await self._pool.fetchrow(SELECT_ROOM, room_id)
        return Room(**dict(row)) if row else None

    async def by_invite_code(self, raw_code: str) -> Room | None:
        """The room of an invite code (case-insensitive, whitespace ignored), or None."""
        code = normalize_code(raw_code)
        if code is None:
            return None
        row = await self._pool.fetchrow(SELECT_BY_CODE, code)
        return Room(**dict(row)) if row else None

    async def rotate_invite_code(self, room_id: uuid.UUID) -> Room | None:
        """Give the room a fresh invite code (the old one stops resolving at once); None
        when the room does not exist. Retried on the rare code collision."""
        for _ in range(5):
            try:
                row = await self._pool.fetchrow(ROTATE_CODE, room_id, new_invite_code())
                return Room(**dict(row)) if row else None
            except asyncpg.UniqueViolationError:
                continue
        raise RuntimeError("could not allocate a unique invite code")

    async def public_newest(self, limit: int) -> list[LobbyRoom]:
        """The ``limit`` newest public rooms, newest first (ties by id, descending)."""
        return [_lobby_room(r) for r in await self._pool.fetch(PUBLIC_NEWEST, limit)]

    async def public_older(self, limit: int, *, before: tuple[datetime, uuid.UUID] | None,
                           exclude: Sequence[uuid.UUID]) -> list[LobbyRoom]:
        """Up to ``limit`` public rooms newest first, strictly after ``before`` (a
        ``(created_at, id)`` keyset position) in that order, leaving out ``exclude``."""
        if before is None:
            rows = await self._pool.fetch(PUBLIC_NEWEST_EXCEPT, limit, list(exclude))
        else:
            rows = await self._pool.fetch(PUBLIC_NEWEST_BEFORE, limit, before[0], before[1],
                                          list(exclude))
        return [_lobby_room(r) for r in rows]
