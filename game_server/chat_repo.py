"""Postgres repository of the ``chat_messages`` table (the only module that touches it).

A message is ``{id, room_id, user_id, display_name, text, sent_ms}``; ``display_name`` is
the author's current name (joined from ``users``), ``sent_ms`` the database clock at insert
in epoch ms (rounded down; rows keep microseconds, so order is exact). History is read
newest first by the keyset ``(sent_at, id)`` (index ``chat_messages_room_time_idx``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INSERT = """
WITH m AS (
    INSERT INTO chat_messages (id, room_id, user_id, text)
    VALUES ($1, $2, $3, $4)
    RETURNING id, room_id, user_id, text, sent_at
)
SELECT m.id, m.room_id, m.user_id, u.display_name, m.text, m.sent_at
FROM m JOIN users u ON u.id = m.user_id"""

_SELECT = """
SELECT m.id, m.room_id, m.user_id, u.display_name, m.text, m.sent_at
FROM chat_messages m JOIN users u ON u.id = m.user_id
WHERE m.room_id = $1"""
PAGE = _SELECT + """
ORDER BY m.sent_at DESC, m.id DESC LIMIT $2"""
PAGE_BEFORE_TIME = _SELECT + """ AND m.sent_at < $3
ORDER BY m.sent_at DESC, m.id DESC LIMIT $2"""
PAGE_BEFORE_MESSAGE = _SELECT + """
  AND (m.sent_at, m.id) < (SELECT sent_at, id FROM chat_messages WHERE id = $3 AND room_id = $1)
ORDER BY m.sent_at DESC, m.id DESC LIMIT $2"""
MESSAGE_IN_ROOM = "SELECT 1 FROM chat_messages WHERE id = $1 AND room_id = $2"


class ChatAuthorMissing(Exception):
    """The room or the author no longer exists (deleted since the socket joined)."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One stored message; ``sent_ms`` is epoch ms."""

    id: uuid.UUID
    room_id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    text: str
    sent_ms: int

    def wire(self) -> dict[str, Any]:
        """The ``chat_message`` event payload: ``{id, user_id, display_name, text,
        sent_ms}`` with string ids."""
        return {"id": str(self.id), "user_id": str(self.user_id),
                "display_name": self.display_name, "text": self.text, "sent_ms": self.sent_ms}


def epoch_ms(at: datetime) -> int:
    """Epoch ms of a timestamptz, rounded down (exact integer arithmetic, no float)."""
    return (at - EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _message(row: asyncpg.Record) -> ChatMessage:
    return ChatMessage(row["id"], row["room_id"], row["user_id"], row["display_name"],
                       row["text"], epoch_ms(row["sent_at"]))


class ChatRepo:
    """Stores room chat and pages through it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, room_id: uuid.UUID, user_id: uuid.UUID, text: str) -> ChatMessage:
        """Store one message (``text`` already checked: 1..4000 chars). Raises
        ChatAuthorMissing when the room or the user is gone."""
        try:
            row = await self._pool.fetchrow(INSERT, uuid.uuid4(), room_id, user_id, text)
        except asyncpg.ForeignKeyViolationError:
            raise ChatAuthorMissing("the room or the user no longer exists") from None
        assert row is not None
        return _message(row)

    async def page(self, room_id: uuid.UUID, limit: int, *,
                   before_ms: int | None = None,
                   before_id: uuid.UUID | None = None) -> list[ChatMessage]:
        """Up to ``limit`` messages of the room, newest first, strictly older than the
        message ``before_id`` (of this room) or sent before epoch ms ``before_ms``; neither
        gives the newest. An unknown ``before_id`` gives an empty list."""
        if before_id is not None:
            rows = await self._pool.fetch(PAGE_BEFORE_MESSAGE, room_id, limit, before_id)
        elif before_ms is not None:
            rows = await self._pool.fetch(PAGE_BEFORE_TIME, room_id, limit,
                                          from_epoch_ms(before_ms))
        else:
            rows = await self._pool.fetch(PAGE, room_id, limit)
        return [_message(r) for r in rows]

    async def has_message(self, room_id: uuid.UUID, message_id: uuid.UUID) -> bool:
        """Whether ``message_id`` is a message of ``room_id``."""
        return await self._pool.fetchval(MESSAGE_IN_ROOM, message_id, room_id) is not None

    async def latest(self, room_id: uuid.UUID, count: int) -> list[ChatMessage]:
        """The last ``count`` messages of the room, oldest first (RoomState ``messages``)."""
        if count <= 0:
            return []
        return list(reversed(await self.page(room_id, count)))
