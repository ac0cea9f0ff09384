"""Cross-node avatar frames (issue 7): per-room Redis pub/sub channels with room affinity.

Socket.IO's Redis manager sends every emit to every node, so frames never go through it.
Instead each room has its own channel (``room:{<id>}:frames``, rooms.keys) that only the
nodes with recipients of that room (members or spectators connected there) subscribe to,
and a presence sorted set (``room:{<id>}:nodes``: node id scored by the epoch ms its entry
expires) saying which nodes those are.

- A node opens a room when the relay gets its first recipient there (``FrameRelay``'s room
  listener): it subscribes, adds itself to the presence set, reads the other nodes of the
  room (its *peers*) and publishes a hello so they learn of it at once. It closes the room
  with its last recipient: unsubscribe, leave the set, publish a bye. Entries are renewed
  every ``presence_ttl_ms / 3`` (peers re-read at the same time), so a node that died
  without a bye stops being a peer within ``presence_ttl_ms``.
- The frames of members connected here (``FrameRelay.offer_member``) are kept per room
  latest-value-wins, only while the room has peers; every relay tick one message per room
  carries them all (an ``avatars.frame`` batch: one publish per room per tick, whatever the
  room's size), in one pipeline. A single-node room publishes nothing.
- Received batches from other nodes go into the local relay (``FrameRelay.offer``), which
  sends them to this node's recipients on its next tick like local frames; ghosts' frames
  are not published (every node replays its ghosts itself, game_server.ghost_replay).

Frames never wait on Redis: the relay tick does not await the bus; while a publish is in
flight (a slow or paused Redis) new frames replace the unsent ones instead of queueing,
and a received batch older than ``stale_ms`` (its ``server_ms`` against this node's clock;
nodes are assumed NTP-synced) is dropped and counted, not relayed.

Wire format of a channel message: u8 kind (``F`` frames, ``H`` hello, ``B`` bye), u8
length of the sender's node id, the node id (ASCII), then for ``F`` a frames batch
(DESIGN.md section 4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from avatars.frame import FrameError, decode_batch, encode_batch
from game_server.relay import FrameRelay
from game_server.task_guard import stop_if_cancelled
from rooms.keys import KeySpace
from rooms.store import text

logger = logging.getLogger(__name__)

FRAMES, HELLO, BYE = b"F", b"H", b"B"
RENEW_REPLIES = 4  # replies of FrameBus._renew's commands
LISTEN_POLL_S = 0.05  # the listener's read timeout: subscription changes wait at most this


def message(kind: bytes, node_id: str, payload: bytes = b"") -> bytes:
    """One channel message (module docstring)."""
    raw = node_id.encode()
    return kind + bytes([len(raw)]) + raw + payload


def parse_message(data: bytes) -> tuple[bytes, str, bytes]:
    """(kind, sender node id, payload); raises ValueError on a malformed message."""
    if len(data) < 2 or len(data) < 2 + data[1]:
        raise ValueError("short frame bus message")
    end = 2 + data[1]
    return data[:1], data[2:end].decode(), data[end:]


class FrameBus:
    """The cross-node frame channels of one node (module docstring). ``clock_ms``: epoch ms
    (the batches' ``server_ms``)."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, relay: FrameRelay, *,
                 node_id: str, tick_hz: float, stale_ms: int = 200,
                 presence_ttl_ms: int = 30_000,
                 clock_ms: Callable[[], float] = lambda: time.time() * 1000.0) -> None:
        if len(node_id.encode()) > 255:
            raise ValueError("node id longer than 255 bytes")
        self._redis, self._keys, self._relay = redis, keys, relay
        self.node_id = node_id
        self._period_s = 1.0 / tick_hz
        self.stale_ms, self.presence_ttl_ms = stale_ms, presence_ttl_ms
        self._clock_ms = clock_ms
        self._open: set[str] = set()  # rooms subscribed (applied by the listener)
        self._peers: dict[str, set[str]] = {}  # room -> other nodes with recipients there
        self._out: dict[str, dict[int, bytes]] = {}  # room -> slot -> newest unsent frame
        self._ops: list[tuple[str, bool]] = []  # (room, open?) waiting for the listener
        self._channels: dict[bytes, str] = {}  # channel name -> room id
        self._wake = asyncio.Event()  # ops are waiting for the listener
        self.stats: Counter[str] = Counter()
        relay.room_listeners.append(self.room_changed)
        relay.member_frame_listener = self.outbound

    # -- sync hooks (the relay calls them) ---------------------------------------------------
    def room_changed(self, room_id: str, opened: bool) -> None:
        """The relay's first recipient of ``room_id`` arrived (``opened``) or its last left."""
        self._ops.append((room_id, opened))
        self._wake.set()
        if not opened:
            self._peers.pop(room_id, None)
            self._out.pop(room_id, None)

    def outbound(self, room_id: str, slot: int, frame: bytes) -> None:
        """A frame of a member connected here: kept for the room's peers, latest wins."""
        if not self._peers.get(room_id):
            return
        pending = self._out.setdefault(room_id, {})
        if slot in pending:
            self.stats["bus_frames_superseded"] += 1
        pending[slot] = frame

    @property
    def open_rooms(self) -> int:
        """Rooms whose frame channel this node subscribes to."""
        return len(self._open)

    def peers(self, room_id: str) -> frozenset[str]:
        """The other nodes known to have recipients in ``room_id``."""
        return frozenset(self._peers.get(room_id, ()))

    # -- tasks ------------------------------------------------------------------------------
    async def run_publisher(self) -> None:
        """One pipeline of publishes per relay tick; a tick that finds the previous one
        still in flight leaves its frames pending (latest wins). Cancelled on shutdown."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            next_tick += self._period_s
            delay = next_tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_tick = loop.time()
            if not self._out:
                continue
            out, self._out = self._out, {}
            server_ms = self._clock_ms()
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for room_id, pending in out.items():
                        batch = encode_batch(server_ms, sorted(pending.items()))
                        pipe.publish(self._keys.room(room_id).frames_channel,
                                     message(FRAMES, self.node_id, batch))
                    await pipe.execute()
                self.stats["bus_batches_published"] += len(out)
                self.stats["bus_frames_published"] += sum(len(p) for p in out.values())
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.stats["bus_publish_errors"] += 1
                logger.exception("frame bus publish failed", extra={"node_id": self.node_id})

    async def run_listener(self) -> None:
        """Apply subscription changes and relay received batches; cancelled on shutdown.
        A Redis error is logged and the listener starts over (subscriptions restored)."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                resubscribe = list(self._open)
                self._open.clear()
                self._ops[:0] = [(r, True) for r in resubscribe]
                while True:
                    stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
                    await self._apply_ops(pubsub)
                    if not self._open:  # nothing subscribed: nothing to read
                        self._wake.clear()
                        if not self._ops:
                            await self._wake.wait()
                        continue
                    msg = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=LISTEN_POLL_S)
                    if msg is not None and msg.get("type") == "message":
                        self._receive(msg["channel"], msg["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.stats["bus_listener_errors"] += 1
                logger.exception("frame bus listener failed; restarting",
                                 extra={"node_id": self.node_id})
                await asyncio.sleep(1.0)
            finally:
                try:
                    await asyncio.wait_for(pubsub.aclose(), 2)  # type: ignore[no-untyped-call]
                except Exception:  # closing a broken connection may fail too
                    pass

    async def run_presence(self) -> None:
        """Renew this node's presence in its rooms and re-read their peers every
        ``presence_ttl_ms / 3``; cancelled on shutdown."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            await asyncio.sleep(self.presence_ttl_ms / 3000)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.stats["bus_presence_errors"] += 1
                logger.exception("frame bus presence refresh failed",
                                 extra={"node_id": self.node_id})

    async def refresh(self) -> None:
        """One presence renewal and peer read for every open room (one pipeline)."""
        rooms = sorted(self._open)
        if not rooms:
            return
        now = int(self._clock_ms())
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id in rooms:
                self._renew(pipe, room_id, now)
            replies = await pipe.execute()
        for i, room_id in enumerate(rooms):
            self._set_peers(room_id, replies[RENEW_REPLIES * i + RENEW_REPLIES - 1])

    def _renew(self, pipe: Any, room_id: str, now: int) -> None:
        """Queue on ``pipe`` the renewal of this node's presence in ``room_id``; the last of
        its ``RENEW_REPLIES`` replies is the room's nodes."""
        key = self._keys.room(room_id).frame_nodes
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {self.node_id: now + self.presence_ttl_ms})
        pipe.pexpire(key, self.presence_ttl_ms)
        pipe.zrange(key, 0, -1)

    def _set_peers(self, room_id: str, nodes: list[Any]) -> None:
        if room_id in self._open:
            self._peers[room_id] = {text(n) for n in nodes} - {self.node_id}

    async def close(self) -> None:
        """Shutdown: leave every room's presence set and say bye (best effort)."""
        rooms, self._open = sorted(self._open), set()
        for room_id in rooms:
            await self._leave(room_id)

    # -- internals ------------------------------------------------------------------------
    async def _apply_ops(self, pubsub: Any) -> None:
        while self._ops:
            room_id, opened = self._ops.pop(0)
            channel = self._keys.room(room_id).frames_channel
            if opened and room_id not in self._open:
                await pubsub.subscribe(channel)
                self._channels[channel.encode()] = room_id
                self._open.add(room_id)
                await self._enter(room_id)
            elif not opened and room_id in self._open:
                await pubsub.unsubscribe(channel)
                self._channels.pop(channel.encode(), None)
                self._open.discard(room_id)
                await self._leave(room_id)

    async def _enter(self, room_id: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            self._renew(pipe, room_id, int(self._clock_ms()))
            pipe.publish(self._keys.room(room_id).frames_channel, message(HELLO, self.node_id))
            replies = await pipe.execute()
        self._set_peers(room_id, replies[RENEW_REPLIES - 1])
        self.stats["bus_rooms_opened"] += 1

    async def _leave(self, room_id: str) -> None:
        k = self._keys.room(room_id)
        self._peers.pop(room_id, None)
        self._out.pop(room_id, None)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(k.frame_nodes, self.node_id)
            pipe.publish(k.frames_channel, message(BYE, self.node_id))
            await pipe.execute()
        self.stats["bus_rooms_closed"] += 1

    def _receive(self, channel: bytes | str, data: bytes) -> None:
        room_id = self._channels.get(channel if isinstance(channel, bytes)
                                     else channel.encode())
        if room_id is None or room_id not in self._open:
            return
        try:
            kind, sender, payload = parse_message(data)
        except (ValueError, UnicodeDecodeError):
            self.stats["bus_bad_messages"] += 1
            return
        if sender == self.node_id:
            return
        if kind == HELLO:
            self._peers.setdefault(room_id, set()).add(sender)
        elif kind == BYE:
            self._peers.get(room_id, set()).discard(sender)
        elif kind == FRAMES:
            try:
                server_ms, entries = decode_batch(payload)
            except FrameError:
                self.stats["bus_bad_messages"] += 1
                return
            if self._clock_ms() - server_ms > self.stale_ms:
                self.stats["bus_frames_stale"] += len(entries)
                return
            for slot, frame in entries:
                self._relay.offer(room_id, slot, frame)
            self.stats["bus_frames_received"] += len(entries)
