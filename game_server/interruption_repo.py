"""Postgres repository of the ``interruptions`` table, and the writer that feeds it.

Automatic interruptions come from the distraction guard (``avatars.attention``) on the node
that holds the member's socket. They are written off the frame path by one background task
through a bounded queue: when Postgres is down the writer retries the same row every
``retry_s`` (order kept, nothing lost while the queue has room); when the queue is full new
rows are dropped and counted. The idempotency key makes a retried insert land once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from game_server.task_guard import stop_if_cancelled

logger = logging.getLogger(__name__)

INSERT = """
INSERT INTO interruptions (id, user_id, room_id, kind, source, started_at, ended_at,
                           idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (idempotency_key) DO NOTHING"""


@dataclass(frozen=True, slots=True)
class InterruptionRow:
    """One interruption; times are epoch ms; ``source`` is ``auto`` or ``self``."""

    user_id: str
    room_id: str | None
    kind: str
    source: str
    started_ms: int
    ended_ms: int

    @property
    def idempotency_key(self) -> str:
        return f"{self.source}:{self.user_id}:{self.room_id}:{self.kind}:{self.started_ms}"


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class InterruptionRepo:
    """Writes and reads interruptions through one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(self, row: InterruptionRow) -> None:
        """Insert once (a repeated row is ignored). Raises asyncpg errors."""
        await self._pool.execute(
            INSERT, uuid.uuid4(), uuid.UUID(row.user_id),
            None if row.room_id is None else uuid.UUID(row.room_id), row.kind, row.source,
            _ts(row.started_ms), _ts(row.ended_ms), row.idempotency_key)

    async def log_self_reported(self, *, user_id: str, room_id: str | None,
                                kind: str, description: str | None, started_ms: int,
                                ended_ms: int) -> LoggedInterruption:
        """Store a self-reported interruption now (the member waits for its id). Logging the
        same (room, type, start) again updates its end and description instead of adding a
        row. It is linked to the user's focus session spanning it when that session is
        already written (one logged during a break after the phase), else matched by time
        later. Raises asyncpg errors."""
        row = InterruptionRow(user_id, room_id, kind, "self", started_ms, ended_ms)
        got = await self._pool.fetchrow(
            INSERT_SELF, uuid.uuid4(), uuid.UUID(user_id),
            None if room_id is None else uuid.UUID(room_id), kind, description,
            _ts(started_ms), _ts(ended_ms), row.idempotency_key)
        assert got is not None
        session = got["session_id"]
        return LoggedInterruption(str(got["id"]), kind, description, started_ms, ended_ms,
                                  None if session is None else str(session))


INSERT_SELF = """
WITH s AS (
    SELECT id FROM focus_sessions
    WHERE user_id = $2 AND started_at <= $6 AND ended_at >= $7
    ORDER BY started_at DESC LIMIT 1)
INSERT INTO interruptions (id, user_id, room_id, kind, source, started_at, ended_at,
                           description, idempotency_key, session_id)
VALUES ($1, $2, $3, $4, 'self', $6, $7, $5, $8, (SELECT id FROM s))
ON CONFLICT (idempotency_key) DO UPDATE
    SET description = EXCLUDED.description, ended_at = EXCLUDED.ended_at
RETURNING id, session_id"""


@dataclass(frozen=True, slots=True)
class LoggedInterruption:
    """A stored self-reported interruption (epoch ms; ``duration_s`` computed here)."""

    id: str
    type: str
    description: str | None
    started_ms: int
    ended_ms: int
    session_id: str | None

    @property
    def duration_s(self) -> float:
        return (self.ended_ms - self.started_ms) / 1000

    def to_wire(self) -> dict[str, object]:
        return {"id": self.id, "type": self.type, "description": self.description,
                "started_ms": self.started_ms, "ended_ms": self.ended_ms,
                "duration_s": self.duration_s, "session_id": self.session_id}


class InterruptionWriter:
    """A bounded queue of rows and the task that writes them (``run``, cancelled on
    shutdown; ``drain`` flushes what is queued within a deadline)."""

    def __init__(self, repo: InterruptionRepo, *, max_queue: int = 10_000,
                 retry_s: float = 2.0) -> None:
        self.repo = repo
        self._queue: asyncio.Queue[InterruptionRow] = asyncio.Queue(max_queue)
        self._retry_s = retry_s
        self.stats: Counter[str] = Counter()

    def submit(self, row: InterruptionRow) -> None:
        """Queue a row (sync, never blocks); a full queue drops and counts it."""
        if row.ended_ms <= row.started_ms:
            self.stats["interruptions_empty"] += 1
            return
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self.stats["interruptions_dropped"] += 1

    async def run(self) -> None:
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            row = await self._queue.get()
            await self._write(row)

    async def _write(self, row: InterruptionRow) -> None:
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            try:
                await self.repo.insert(row)
                self.stats["interruptions_written"] += 1
                return
            except asyncpg.IntegrityConstraintViolationError:
                # the row can never land (its user or room was deleted meanwhile): drop it
                # rather than block every later row behind it
                self.stats["interruptions_rejected"] += 1
                logger.warning("interruption rejected by the schema; dropped",
                               extra={"user_id": row.user_id, "room_id": row.room_id})
                return
            except (asyncpg.PostgresError, OSError, TimeoutError):
                self.stats["interruptions_retried"] += 1
                logger.warning("interruption write failed; retrying",
                               extra={"user_id": row.user_id, "room_id": row.room_id})
                await asyncio.sleep(self._retry_s)

    async def drain(self, timeout_s: float) -> None:
        """Write what is queued (shutdown), giving up after ``timeout_s``."""
        async def flush() -> None:
            while not self._queue.empty():
                await self._write(self._queue.get_nowait())
        try:
            await asyncio.wait_for(flush(), timeout_s)
        except TimeoutError:
            logger.warning("interruptions left unwritten at shutdown",
                           extra={"count": self._queue.qsize()})
