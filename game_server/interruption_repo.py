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


class InterruptionWriter:
    """A bounded queue of rows and the task that writes them (``run``, cancelled on
    shutdown; ``drain`` flushes what is queued within a deadline)."""

    def __init__(self, repo: InterruptionRepo, *, max_queue: int = 10_000,
                 retry_s: float = 2.0) -> None:
        self._repo = repo
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
            row = await self._queue.get()
            await self._write(row)

    async def _write(self, row: InterruptionRow) -> None:
        while True:
            try:
                await self._repo.insert(row)
                self.stats["interruptions_written"] += 1
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
