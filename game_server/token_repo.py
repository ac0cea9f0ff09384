"""Postgres repository of ``refresh_tokens``: rotation with reuse detection (RFC 9700 4.14).

A refresh token is ``secrets.token_urlsafe(32)`` (256 random bits); only its SHA-256 is
stored, so a leaked table holds nothing a client can present. Every login starts a
*family* (``family_id``); each successful refresh marks the presented token ``used_at``,
links it to its successor (``replaced_by``) and issues the successor in the same family.
Presenting a token that was already used means two parties hold the chain (the client and
a thief, or a replayed request), so the whole family is revoked: the newest token stops
working too, and the user must log in again. Rotation takes a row lock (``FOR UPDATE``),
so of two concurrent refreshes with one token exactly one succeeds and the other is
treated as reuse.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

INSERT_TOKEN = """
INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)"""
SELECT_FOR_UPDATE = """
SELECT id, user_id, family_id, expires_at, used_at, revoked_at
FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE"""
MARK_USED = "UPDATE refresh_tokens SET used_at = $2, replaced_by = $3 WHERE id = $1"
REVOKE_FAMILY = """
UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL"""
SELECT_OWNER = "SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1"
DELETE_EXPIRED = "DELETE FROM refresh_tokens WHERE user_id = $1 AND expires_at < $2"


def new_token() -> str:
    """An opaque refresh token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """SHA-256 of the token text: what the table stores and looks up."""
    return hashlib.sha256(token.encode()).digest()


class RotateStatus(enum.Enum):
    ROTATED = "rotated"
    UNKNOWN = "unknown"  # never issued, or purged after expiry
    EXPIRED = "expired"
    REVOKED = "revoked"  # its family was revoked (logout or earlier reuse)
    REUSED = "reused"  # already used: the family is revoked now


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # the only copy of the secret: give it to the client, never store it
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Rotation:
    status: RotateStatus
    user_id: uuid.UUID | None = None
    issued: IssuedToken | None = None  # the successor, when ROTATED


class RefreshTokenRepo:
    """Issues, rotates and revokes refresh tokens through one pool."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: int) -> None:
        self._pool = pool
        self.ttl_s = ttl_s

    async def issue(self, user_id: uuid.UUID, now: datetime) -> IssuedToken:
        """The first token of a new family (a login or registration). Also purges this
        user's expired tokens, which keeps the table bounded by live sessions."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(DELETE_EXPIRED, user_id, now)
            return await self._insert(conn, user_id, uuid.uuid4(), now)

    async def rotate(self, token: str, now: datetime) -> Rotation:
        """Spend ``token`` for a successor in its family; see RotateStatus for refusals.
        A REUSED answer has revoked the family (committed) before returning."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(SELECT_FOR_UPDATE, token_hash(token))
            if row is None:
                return Rotation(RotateStatus.UNKNOWN)
            user_id: uuid.UUID = row["user_id"]
            if row["revoked_at"] is not None:
                return Rotation(RotateStatus.REVOKED, user_id)
            if row["used_at"] is not None:
                await conn.execute(REVOKE_FAMILY, row["family_id"], now)
                return Rotation(RotateStatus.REUSED, user_id)
            if row["expires_at"] <= now:
                return Rotation(RotateStatus.EXPIRED, user_id)
            issued = await self._insert(conn, user_id, row["family_id"], now)
            await conn.execute(MARK_USED, row["id"], now, issued.id)
            return Rotation(RotateStatus.ROTATED, user_id, issued)

    async def revoke_family(self, token: str, user_id: uuid.UUID, now: datetime) -> bool:
        """Revoke the family of ``token`` if it belongs to ``user_id`` (logout); False when
        the token is unknown or someone else's (nothing changes then)."""
        row = await self._pool.fetchrow(SELECT_OWNER, token_hash(token))
        if row is None or row["user_id"] != user_id:
            return False
        await self._pool.execute(REVOKE_FAMILY, row["family_id"], now)
        return True

    async def _insert(self, conn: asyncpg.Connection, user_id: uuid.UUID,
                      family_id: uuid.UUID, now: datetime) -> IssuedToken:
        token, token_id = new_token(), uuid.uuid4()
        expires_at = now + timedelta(seconds=self.ttl_s)
        await conn.execute(INSERT_TOKEN, token_id, user_id, family_id, token_hash(token),
                           now, expires_at)
        return IssuedToken(token, token_id, user_id, family_id, expires_at)
