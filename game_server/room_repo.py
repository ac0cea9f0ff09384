"""Postgres repository of the ``rooms`` table (the only module that writes it).

Invite codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), about
40 bits: enough that guessing one is impractical at the API's request rates.
"""

from __future__ import annotations

import secrets
import uuid
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


@dataclass(frozen=True, slots=True)
class Room:
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    capacity: int
    is_public: bool
    invite_code: str
    created_at: datetime


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


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
