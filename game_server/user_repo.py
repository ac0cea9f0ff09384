"""Postgres repository of the ``users`` table (the only module that writes it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

INSERT_GUEST = """
INSERT INTO users (id, display_name, is_guest) VALUES ($1, $2, true)
RETURNING id, display_name, is_guest, created_at"""
SELECT_USER = "SELECT id, display_name, is_guest, created_at FROM users WHERE id = $1"


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    display_name: str
    is_guest: bool
    created_at: datetime


class UserRepo:
    """Reads and writes users through one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_guest(self, display_name: str) -> User:
        row = await self._pool.fetchrow(INSERT_GUEST, uuid.uuid4(), display_name)
        return User(**dict(row))

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = await self._pool.fetchrow(SELECT_USER, user_id)
        return User(**dict(row)) if row else None
