"""Node heartbeats and the reaper of dead nodes (issue 7).

Every node renews ``node:{<id>}:alive`` (PX ``ttl_s``) and its score in the ``nodes`` sorted
set every ``heartbeat_s``, and records in ``node:{<id>}:rooms`` each room where it holds
sockets (the relay tells it when it gets a room's first recipient or loses its last; the
write goes out at once, not at the next beat). A node that stops beating -- killed, frozen,
cut off -- has its alive key expire after ``ttl_s``.

Every node also runs the reaper every ``reap_s``: a node whose score is older than
``ttl_s`` and whose alive key is gone is dead. One reaper claims it (``node:{<id>}:reaping``,
SET NX), and in each of its rooms marks its still-connected live members dropped now
(``rooms.store.RoomStore.drop_node``, one Lua script: a member who already resumed on
another node has another node id and is untouched) and removes its spectators. Dropped
members keep their slots for the resume window like any dropped socket: their clients
reconnect to a live node and resume with their tokens; the others are swept when the
window ends (``on_dropped`` tells the room and schedules that sweep). The dead node's tick
leases need nothing: they expire within their TTL and a node with members of the room takes
the room over at its next tick (fenced, so no tick is applied twice).

A node that was only cut off (a network partition, a Redis outage, a frozen process) and
comes back after it was reaped finds out at its next beat: its entry in ``nodes`` is new
again (ZADD adds it: only the reaper removes it). Its members were marked dropped and its
room set deleted while its clients stayed connected to it, so its view and Redis disagree.
It calls ``on_reaped`` (the app tells every client to reconnect: they resume their kept
slots with their tokens, as after a drain) so Redis is again the one truth.

A clean shutdown removes the node's own entries (:meth:`NodePresence.close`): its sockets
were closed by then, so their members dropped through the normal path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from game_server.relay import FrameRelay
from game_server.task_guard import stop_if_cancelled
from rooms.keys import KeySpace
from rooms.store import Member, RoomStore, text

logger = logging.getLogger(__name__)

MembersDropped = Callable[[str, list[Member]], Awaitable[None]]
"""``on_dropped(room_id, members)``: a dead node's members of the room were marked dropped."""
Reaped = Callable[[], Awaitable[None]]
"""``on_reaped()``: this node was reaped while it was alive (module docstring)."""

ROOMS_TTL_S = 7 * 24 * 3600  # a node's room set outlives any node; refreshed every beat
REAP_CLAIM_MS = 60_000


class NodePresence:
    """This node's heartbeat and the cluster's reaper (module docstring)."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, store: RoomStore,
                 relay: FrameRelay, on_dropped: MembersDropped, *, node_id: str,
                 on_reaped: Reaped | None = None, heartbeat_s: float = 2.0,
                 ttl_s: float = 10.0, reap_s: float = 5.0,
                 clock_ms: Callable[[], float] = lambda: time.time() * 1000.0) -> None:
        if not heartbeat_s < ttl_s:
            raise ValueError("the heartbeat must be shorter than the node TTL")
        self._redis, self._keys, self._store = redis, keys, store
        self._on_dropped, self._on_reaped = on_dropped, on_reaped
        self.node_id = node_id
        self._beats = 0  # successful beats
        self.heartbeat_s, self.ttl_s, self.reap_s = heartbeat_s, ttl_s, reap_s
        self._clock_ms = clock_ms
        self._opened: set[str] = set()
        self._closed: set[str] = set()
        self._wake = asyncio.Event()
        self.stats: Counter[str] = Counter()
        relay.room_listeners.append(self.room_changed)

    def room_changed(self, room_id: str, opened: bool) -> None:
        """The relay's first recipient of ``room_id`` arrived here, or its last left (sync)."""
        (self._opened if opened else self._closed).add(room_id)
        (self._closed if opened else self._opened).discard(room_id)
        self._wake.set()

    # -- heartbeat --------------------------------------------------------------------------
    async def beat(self) -> bool:
        """Renew the heartbeat and write the room changes since the last beat. True when
        this node had been reaped since its last successful beat (module docstring)."""
        k, now = self._keys, int(self._clock_ms())
        opened, self._opened = self._opened, set()
        closed, self._closed = self._closed, set()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(k.node_alive(self.node_id), now, px=int(self.ttl_s * 1000))
                pipe.zadd(k.nodes(), {self.node_id: now})
                rooms = k.node_rooms(self.node_id)
                if opened:
                    pipe.sadd(rooms, *opened)
                if closed:
                    pipe.srem(rooms, *closed)
                pipe.expire(rooms, ROOMS_TTL_S)
                added = (await pipe.execute())[1]
        except BaseException:
            self._opened |= opened - self._closed  # write them with the next beat
            self._closed |= closed - self._opened
            raise
        self.stats["heartbeats"] += 1
        self._beats += 1
        if added and self._beats > 1:
            self.stats["reaped_while_alive"] += 1
            logger.warning("this node was reaped while alive; its clients reconnect",
                           extra={"node_id": self.node_id})
            return True
        return False

    async def run_heartbeat(self) -> None:
        """Beat every ``heartbeat_s``, and at once when the node's rooms change; cancelled
        on shutdown. A failed beat is logged and retried at the next one."""
        while True:
            stop_if_cancelled()
            self._wake.clear()
            try:
                if await self.beat() and self._on_reaped is not None:
                    await self._on_reaped()
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.stats["heartbeat_errors"] += 1
                logger.exception("heartbeat failed", extra={"node_id": self.node_id})
            try:
                async with asyncio.timeout(self.heartbeat_s):
                    await self._wake.wait()
            except TimeoutError:
                stop_if_cancelled()

    async def close(self) -> None:
        """Clean shutdown: this node is gone, nothing left to reap."""
        k = self._keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(k.node_alive(self.node_id), k.node_rooms(self.node_id))
            pipe.zrem(k.nodes(), self.node_id)
            await pipe.execute()

    # -- reaper -----------------------------------------------------------------------------
    async def run_reaper(self) -> None:
        """Reap dead nodes every ``reap_s``; cancelled on shutdown."""
        while True:
            stop_if_cancelled()
            await asyncio.sleep(self.reap_s)
            try:
                await self.reap()
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.stats["reap_errors"] += 1
                logger.exception("reaper pass failed", extra={"node_id": self.node_id})

    async def reap(self) -> list[str]:
        """One reaper pass: the dead nodes this node reaped (module docstring)."""
        k, now = self._keys, int(self._clock_ms())
        found: list[Any] = await self._redis.zrangebyscore(
            k.nodes(), "-inf", now - int(self.ttl_s * 1000))
        stale = [text(n) for n in found]
        reaped = []
        for node in stale:
            if node == self.node_id or await self._redis.exists(k.node_alive(node)):
                continue
            if not await self._redis.set(k.node_reaping(node), self.node_id, nx=True,
                                         px=REAP_CLAIM_MS):
                continue  # another node reaps it
            await self._reap_node(node, now)
            reaped.append(node)
        return reaped

    async def _reap_node(self, node: str, now: int) -> None:
        k = self._keys
        rooms = sorted(text(r) for r in await self._redis.smembers(k.node_rooms(node)))
        dropped = spectators = 0
        for room_id in rooms:
            members, specs = await self._store.drop_node(room_id, node, now)
            spectators += specs
            dropped += len(members)
            if members:
                await self._on_dropped(room_id, members)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(k.node_rooms(node))
            pipe.zrem(k.nodes(), node)
            await pipe.execute()
        self.stats["nodes_reaped"] += 1
        self.stats["members_dropped_by_reaper"] += dropped
        logger.warning("dead node reaped", extra={
            "node_id": self.node_id, "dead_node": node, "rooms": len(rooms),
            "members_dropped": dropped, "spectators_removed": spectators})
