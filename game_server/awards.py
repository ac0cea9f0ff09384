"""The award outbox: progress awards queued in a Redis stream, applied to Postgres once.

The node that claims a phase change (or applies a boss kill) does not write Postgres
itself: it appends the award to the ``awards`` stream (rooms.keys) and the game keeps
running whatever Postgres does. Every node runs one ``AwardOutbox.run`` consumer in the
``awarders`` group. An award is acknowledged only after its transaction commits; a failed
one stays pending and is retried (by this node first, and by any node once it has been idle
for ``reclaim_idle_ms``, so a dead node's awards are not lost). The transactions are keyed
(progress_repo), so at-least-once delivery gives exactly-once awards. After a phase award
the member gets ``reward`` on every socket it has.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from game_server.progress_repo import PhaseAward, ProgressRepo
from game_server.task_guard import stop_if_cancelled
from rooms.keys import KeySpace

logger = logging.getLogger(__name__)

GROUP = "awarders"
NotifyUser = Callable[[str, str, Any], Awaitable[None]]
"""``notify(user_id, event, data)``: send an event to every socket of a user."""


class AwardOutbox:
    """Producer and consumer of the awards stream for one node."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, repo: ProgressRepo,
                 notify: NotifyUser, *, node_id: str, retry_s: float = 2.0,
                 reclaim_idle_ms: int = 30_000, poll_s: float = 0.5) -> None:
        self._redis = redis
        self._stream = keys.awards_stream()
        self._repo = repo
        self._notify = notify
        self._consumer = node_id
        self._retry_s = retry_s
        self._reclaim_idle_ms = reclaim_idle_ms
        self._poll_s = poll_s
        self._wake = asyncio.Event()  # set by this node's enqueues
        self.stats: Counter[str] = Counter()

    async def enqueue_phases(self, awards: list[PhaseAward]) -> None:
        """Queue the awards of one finished focus phase (one entry per member)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for award in awards:
                pipe.xadd(self._stream, {"kind": "phase",
                                         "data": orjson.dumps(award.to_record())})
            await pipe.execute()
        self.stats["awards_queued"] += len(awards)
        self._wake.set()

    async def enqueue_kill(self, *, room_id: str, set_t0_ms: int, level: int, name: str,
                           damage_by_user: dict[str, float], xp_bonus: int,
                           killed_ms: int) -> None:
        """Queue the kill bonus of a defeated boss for its contributors."""
        data = {"room_id": room_id, "set_t0_ms": set_t0_ms, "level": level, "name": name,
                "damage_by_user": damage_by_user, "xp_bonus": xp_bonus,
                "killed_ms": killed_ms}
        await self._redis.xadd(self._stream, {"kind": "kill", "data": orjson.dumps(data)})
        self.stats["awards_queued"] += 1
        self._wake.set()

    async def run(self) -> None:
        """Consume until cancelled: own pending entries, then stale ones, then new ones."""
        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            try:
                entries = await self._read("0")  # this node's pending: retries first
                if not entries:
                    reclaimed: Any = await self._redis.xautoclaim(
                        self._stream, GROUP, self._consumer, self._reclaim_idle_ms,
                        start_id="0-0", count=10)
                    entries = reclaimed[1] if reclaimed else []
                if not entries:
                    self._wake.clear()
                    entries = await self._read(">")
                if not entries:  # no BLOCK: redis-py may lose a cancel inside one
                    try:  # asyncio.timeout, not 3.11's wait_for, which can eat a cancel
                        async with asyncio.timeout(self._poll_s):
                            await self._wake.wait()
                    except TimeoutError:
                        stop_if_cancelled()
                    continue
                for entry_id, fields in entries:
                    await self._handle_or_drop(entry_id, fields)
            except asyncio.CancelledError:
                raise
            except (asyncpg.PostgresError, OSError, TimeoutError,
                    asyncpg.InterfaceError) as exc:
                stop_if_cancelled()
                self.stats["awards_retried"] += 1
                logger.warning("award not applied; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(self._retry_s)
            except Exception:
                stop_if_cancelled()
                self.stats["awards_errors"] += 1
                logger.exception("award outbox pass failed")
                await asyncio.sleep(self._retry_s)

    async def _read(self, start: str) -> list[Any]:
        reply: Any = await self._redis.xreadgroup(
            GROUP, self._consumer, {self._stream: start}, count=10)
        if not reply:
            return []
        _, entries = reply[0]
        return [e for e in entries if e[1]]  # entries deleted meanwhile come back empty

    async def _handle_or_drop(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        """Apply one entry; Postgres and network errors propagate (retried later), any
        other error means the entry itself is bad: it is logged, counted and dropped so it
        cannot block the awards behind it."""
        try:
            await self._handle(entry_id, fields)
            return
        except (asyncpg.exceptions.DataError,
                asyncpg.exceptions.IntegrityConstraintViolationError) as exc:
            bad: Exception = exc  # deterministic (e.g. the user was deleted meanwhile)
        except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError):
            raise
        except Exception as exc:
            stop_if_cancelled()
            bad = exc
        self.stats["awards_poison"] += 1
        logger.error("award entry dropped", exc_info=bad, extra={"entry_id": str(entry_id)})
        await self._ack(entry_id)

    async def _handle(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        kind = fields.get(b"kind", fields.get("kind"))
        data = orjson.loads(fields.get(b"data", fields.get("data")) or b"null")
        if kind in (b"phase", "phase"):
            award = PhaseAward.from_record(data)
            reward = await self._repo.apply_phase(award)
            self.stats["awards_applied" if reward else "awards_duplicate"] += 1
            await self._ack(entry_id)
            if reward is not None:
                await self._notify(award.user_id, "reward", reward.to_wire())
        else:
            credited = await self._repo.apply_boss_kill(**data)
            self.stats["kills_applied"] += 1 if credited else 0
            await self._ack(entry_id)

    async def _ack(self, entry_id: Any) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, GROUP, entry_id)
            pipe.xdel(self._stream, entry_id)
            await pipe.execute()
