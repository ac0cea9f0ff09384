"""The avatar frame relay of one node: latest-value-wins per member, one batch per tick.

Frames never touch Redis or Postgres. Each room with recipients on this node keeps the
latest unsent frame of each slot; every tick (default 30 Hz) each recipient gets one
``frames`` batch (DESIGN.md section 4) holding the others' new frames -- a member never
receives its own, spectators receive all. A newer frame replaces an unsent older one, so a
slow tick or a slow client never builds a backlog of stale faces; replaced frames are
counted (``frames_superseded``), not queued.

Sends per tick are one per recipient instead of (room size - 1) per inbound frame, which is
where a naive per-frame relay loses (DESIGN.md section 7).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from avatars.frame import encode_batch
from game_server.metrics import LATENCY_BUCKETS_S, Histogram

logger = logging.getLogger(__name__)

SendBatch = Callable[[str, bytes], Awaitable[None]]
RoomListener = Callable[[str, bool], None]
"""``listener(room_id, opened)``: the room got its first recipient here, or lost its last."""
MemberFrameListener = Callable[[str, int, bytes], None]
"""``listener(room_id, slot, frame)``: a frame of a member connected to this node."""


@dataclass(slots=True)
class RoomFrames:
    """One room's relay state on this node."""

    latest: dict[int, bytes] = field(default_factory=dict)  # slot -> newest unsent frame
    arrived: dict[int, float] = field(default_factory=dict)  # slot -> its arrival, epoch ms
    recipients: dict[str, int | None] = field(default_factory=dict)  # sid -> own slot


class FrameRelay:
    """Latest-wins frame buffers and the tick task that flushes them.

    ``send(sid, payload)`` delivers one batch to one local client. ``offer`` is sync and
    O(1) (called per inbound frame); ``flush`` builds and sends every pending batch.
    """

    def __init__(self, send: SendBatch, *, tick_hz: float,
                 clock_ms: Callable[[], float] = lambda: time.time() * 1000.0) -> None:
        self._send = send
        self._period_s = 1.0 / tick_hz
        self._clock_ms = clock_ms
        self._rooms: dict[str, RoomFrames] = {}
        self._dirty: set[str] = set()
        self.stats: Counter[str] = Counter()
        self.latency = Histogram(LATENCY_BUCKETS_S)
        """s from a frame's arrival here to the tick that sends it (relay wait only)."""
        # set by game_server.frame_bus and node_presence; sync, must not block
        self.room_listeners: list[RoomListener] = []
        self.member_frame_listener: MemberFrameListener | None = None

    def add_recipient(self, room_id: str, sid: str, slot: int | None) -> None:
        """Route the room's batches to ``sid``; ``slot`` is its own (None: spectator)."""
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = RoomFrames()
            for listener in self.room_listeners:
                listener(room_id, True)
        room.recipients[sid] = slot

    def remove_recipient(self, room_id: str, sid: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        slot = room.recipients.pop(sid, None)
        if slot is not None:
            room.latest.pop(slot, None)
            room.arrived.pop(slot, None)
        if not room.recipients:
            del self._rooms[room_id]
            self._dirty.discard(room_id)
            for listener in self.room_listeners:
                listener(room_id, False)

    def clear_slot(self, room_id: str, slot: int) -> None:
        """Forget an unsent frame of ``slot`` (its member left or froze)."""
        room = self._rooms.get(room_id)
        if room is not None:
            room.latest.pop(slot, None)
            room.arrived.pop(slot, None)

    def offer(self, room_id: str, slot: int, frame: bytes) -> None:
        """Keep ``frame`` as the newest of ``slot``; replaces (and counts) an unsent one."""
        room = self._rooms.get(room_id)
        if room is None:
            self.stats["frames_no_room"] += 1
            return
        if slot in room.latest:
            self.stats["frames_superseded"] += 1
        room.latest[slot] = frame
        room.arrived[slot] = self._clock_ms()
        self.stats["frames_in"] += 1
        self._dirty.add(room_id)

    def offer_member(self, room_id: str, slot: int, frame: bytes) -> None:
        """:meth:`offer` a frame of a member connected to this node, and hand it to the
        member frame listener (other nodes' recipients of the room)."""
        self.offer(room_id, slot, frame)
        if self.member_frame_listener is not None:
            self.member_frame_listener(room_id, slot, frame)

    def take_batches(self, server_ms: float) -> list[tuple[str, bytes]]:
        """Drain pending frames into ``(sid, batch)`` pairs; pure bookkeeping, no I/O."""
        out: list[tuple[str, bytes]] = []
        dirty, self._dirty = self._dirty, set()
        for room_id in dirty:
            room = self._rooms.get(room_id)
            if room is None or not room.latest:
                continue
            pending, room.latest = room.latest, {}
            arrived, room.arrived = room.arrived, {}
            for at in arrived.values():
                self.latency.observe((server_ms - at) / 1000)
            entries = sorted(pending.items())
            full: bytes | None = None
            for sid, own in room.recipients.items():
                if own is None or own not in pending:
                    if full is None:
                        full = encode_batch(server_ms, entries)
                    out.append((sid, full))
                    continue
                others = [e for e in entries if e[0] != own]
                if others:
                    out.append((sid, encode_batch(server_ms, others)))
        return out

    async def flush(self) -> int:
        """Send every pending batch; returns how many were sent."""
        batches = self.take_batches(self._clock_ms())
        for sid, payload in batches:
            try:
                await self._send(sid, payload)
            except Exception:  # one bad socket must not stop the tick
                self.stats["send_errors"] += 1
                logger.exception("frames send failed", extra={"sid": sid})
        self.stats["batches_out"] += len(batches)
        return len(batches)

    async def run(self) -> None:
        """Tick forever at ``tick_hz`` without drift; cancelled on shutdown."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            next_tick += self._period_s
            delay = next_tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:  # overloaded: skip the missed ticks instead of bursting
                self.stats["ticks_late"] += 1
                next_tick = loop.time()
            await self.flush()
