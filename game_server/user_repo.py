"""Postgres repository of the ``users`` table (the only module that writes it).

Guests have no username and no password; registering either inserts a full account or
converts a guest's row in place (same id, so its progress stays). Usernames arrive
lowercased (the CHECK in migration 003 refuses anything else), so the UNIQUE constraint is
case-insensitive.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

INSERT_GUEST = """
INSERT INTO users (id, display_name, is_guest) VALUES ($1, $2, true)
RETURNING id, display_name, is_guest, created_at"""
SELECT_USER = "SELECT id, display_name, is_guest, created_at FROM users WHERE id = $1"

ACCOUNT_COLUMNS = """id, username, display_name, is_guest, timezone, day_start_hour,
daily_goal_min, paper_mode, created_at"""
INSERT_ACCOUNT = f"""
INSERT INTO users (id, username, display_name, password_hash, timezone, is_guest)
VALUES ($1, $2, $3, $4, $5, false)
RETURNING {ACCOUNT_COLUMNS}"""
UPGRADE_GUEST = f"""
UPDATE users SET username = $2, display_name = coalesce($3, display_name),
       password_hash = $4, timezone = $5, is_guest = false
WHERE id = $1 AND is_guest
RETURNING {ACCOUNT_COLUMNS}"""
SELECT_ACCOUNT = f"SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1"
SELECT_CREDENTIALS = f"""
SELECT {ACCOUNT_COLUMNS}, password_hash FROM users WHERE username = $1 AND NOT is_guest"""
UPDATE_PASSWORD_HASH = "UPDATE users SET password_hash = $2 WHERE id = $1 AND NOT is_guest"


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    display_name: str
    is_guest: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Account:
    """A user with its account fields (username is None for a guest)."""

    id: uuid.UUID
    username: str | None
    display_name: str
    is_guest: bool
    timezone: str  # IANA name
    day_start_hour: int  # local hour (0..23) at which the user's day begins
    daily_goal_min: int  # focused minutes that make a day count for the streak
    paper_mode: bool
    created_at: datetime


class UsernameTaken(Exception):
    """Another account already has this username."""


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

    async def get_account(self, user_id: uuid.UUID) -> Account | None:
        row = await self._pool.fetchrow(SELECT_ACCOUNT, user_id)
        return Account(**dict(row)) if row else None

    async def create_account(self, username: str, display_name: str, password_hash: str,
                             timezone: str) -> Account:
        """A new full account; raises UsernameTaken."""
        try:
            row = await self._pool.fetchrow(INSERT_ACCOUNT, uuid.uuid4(), username,
                                            display_name, password_hash, timezone)
        except asyncpg.UniqueViolationError:
            raise UsernameTaken(username) from None
        return Account(**dict(row))

    async def upgrade_guest(self, user_id: uuid.UUID, username: str,
                            display_name: str | None, password_hash: str,
                            timezone: str) -> Account | None:
        """Turn guest ``user_id`` into a full account, keeping its id (and so its progress)
        and, when ``display_name`` is None, its display name. None when no such guest
        exists (unknown id or already registered); raises UsernameTaken."""
        try:
            row = await self._pool.fetchrow(UPGRADE_GUEST, user_id, username, display_name,
                                            password_hash, timezone)
        except asyncpg.UniqueViolationError:
            raise UsernameTaken(username) from None
        return Account(**dict(row)) if row else None

    async def credentials(self, username: str) -> tuple[Account, str] | None:
        """The account and its password hash for a lowercased username, if it exists."""
        row = await self._pool.fetchrow(SELECT_CREDENTIALS, username)
        if row is None:
            return None
        fields = dict(row)
        password_hash = fields.pop("password_hash")
        return Account(**fields), password_hash

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        """Replace the stored hash (a rehash with current parameters after a login)."""
        await self._pool.execute(UPDATE_PASSWORD_HASH, user_id, password_hash)
