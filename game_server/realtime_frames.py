"""The frame hot path and attention of StudyNamespace: ``frame`` (validated, rate-limited,
fed to the member's attention tracker, offered to the relay), bad-frame violations, and the
background tasks that publish attention changes, poll idle trackers and flush insight counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

import msgpack

from avatars.attention import AttentionChange
from avatars.frame import FLAG_FACE, check_frame
from game_server.realtime_base import Connection, NamespaceBase, now_ms
from game_server.task_guard import stop_if_cancelled

logger = logging.getLogger(__name__)


class FramesMixin(NamespaceBase):
    """Frames in, attention out. Attention changes wait in ``_attention_pending`` (latest
    wins per socket) for :meth:`run_attention_publisher`."""

    # sid -> (room_id, slot, attention, since_ms) waiting for run_attention_publisher
    _attention_pending: dict[str, tuple[str, int, str, int]]
    _attention_wake: asyncio.Event

    # -- frames (hot path) -------------------------------------------------------------
    async def on_frame(self, sid: str, data: Any = None) -> None:
        """``frame`` through python-socketio's normal dispatch (no fast path installed)."""
        pending = self.take_frame(sid, data)
        if pending is not None:
            await pending

    def take_frame(self, sid: str, data: Any = None) -> Awaitable[None] | None:
        """The ``frame`` handler proper, sync (game_server.fastpath calls it per inbound
        frame): validate, rate-limit, feed the member's attention tracker and offer the
        frame to the relay. Returns what is left to await (a violation's error event or an
        attention change's publish), if anything; the frame is relayed first."""
        conn = self.connections.get(sid)
        if conn is None or conn.slot is None:
            self.stats["frames_dropped_not_member"] += 1
            return None
        if isinstance(data, msgpack.ExtType):  # notepack.io encodes Node buffers as ext 0
            data = data.data if data.code == 0 else None
        if not isinstance(data, bytes):
            return self._violation(conn, "type")
        reason = check_frame(data)
        if reason is not None:
            return self._violation(conn, reason)
        if not conn.frames.take(time.monotonic()):
            return self._violation(conn, "rate")
        room_id = conn.room_id
        assert room_id is not None and conn.tracker is not None
        at = now_ms()
        change = conn.tracker.observe(data, at)
        self.recorder.frame(sid, data, at)
        if data[1] & FLAG_FACE:
            self.relay.offer_member(room_id, conn.slot, data)
        else:  # face lost: the avatar freezes on its last face
            self.stats["frames_face_lost"] += 1
        if change is not None:
            self._attention_changed(conn, change)
        return None

    # -- attention ------------------------------------------------------------------------
    def _attention_changed(self, conn: Connection, change: AttentionChange) -> None:
        """Queue the change for the publisher task (sync: the frame path never waits on
        Redis). Latest wins per connection: only the newest state of a member is written."""
        if conn.room_id is None or conn.slot is None:
            return
        self.recorder.attention(conn.sid, change.attention, change.since_ms, change.cause)
        self._attention_pending[conn.sid] = (conn.room_id, conn.slot, change.attention,
                                             change.since_ms)
        self._attention_wake.set()

    async def run_attention_publisher(self) -> None:
        """Write queued attention changes to Redis and broadcast them; cancelled on
        shutdown. A failed publish is logged and dropped (the next change supersedes it)."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            await self._attention_wake.wait()
            self._attention_wake.clear()
            pending, self._attention_pending = self._attention_pending, {}
            for sid, (room_id, slot, attention, since_ms) in pending.items():
                try:
                    await self.game.publish_attention(room_id, slot=slot, sid=sid,
                                                      attention=attention, since_ms=since_ms)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    stop_if_cancelled()
                    self.stats["attention_publish_errors"] += 1
                    logger.exception("attention publish failed", extra={"sid": sid})

    async def run_attention_poll(self) -> None:
        """Advance every member's attention without frames (no frames for 5 s = no_face),
        and record finished interruptions; cancelled on shutdown."""
        period = 1.0 / self.settings.attention_poll_hz
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            await asyncio.sleep(period)
            at = now_ms()
            for conn in list(self.connections.values()):
                tracker = conn.tracker
                if tracker is None:
                    continue
                try:
                    change = tracker.poll(at)
                    if change is not None:
                        self._attention_changed(conn, change)
                    done = tracker.take_interruptions()
                    if done:
                        self._record_interruptions(conn, conn.room_id, done)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    stop_if_cancelled()
                    logger.exception("attention poll failed", extra={"sid": conn.sid})

    async def run_insights_flush(self) -> None:
        """Every ``insights_flush_s``: credit each local member's blinks, cognitive-load ms
        and finished automatic interruptions since the last flush to its room's running
        focus phase (GameService.add_phase_counts; dropped during breaks and pauses), one
        Redis round trip per room. At most one period of counts is missing from a phase's
        award (the award is made when the phase ends). Cancelled on shutdown."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            await asyncio.sleep(self.settings.insights_flush_s)
            await self.flush_insights()

    async def flush_insights(self) -> None:
        """One pass of run_insights_flush (also called as a member leaves its room)."""
        at = now_ms()
        by_room: dict[str, dict[str, dict[str, int]]] = {}
        for conn in list(self.connections.values()):
            tracker = conn.tracker
            if tracker is None or conn.room_id is None:
                continue
            st = tracker.stats(at)
            counts = {"b": st.blinks - conn.flushed_blinks,
                      "l": st.load_ms - conn.flushed_load_ms,
                      "i": conn.interruptions_unflushed}
            conn.flushed_blinks, conn.flushed_load_ms = st.blinks, st.load_ms
            conn.interruptions_unflushed = 0
            if any(v > 0 for v in counts.values()):
                room = by_room.setdefault(conn.room_id, {})
                mine = room.setdefault(conn.user_id, {})
                for k, v in counts.items():
                    mine[k] = mine.get(k, 0) + max(0, v)
        for room_id, counts_by_user in by_room.items():
            try:
                await self.game.add_phase_counts(room_id, counts_by_user)
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.stats["insights_flush_errors"] += 1
                logger.exception("insights flush failed", extra={"room_id": room_id})

    async def _violation(self, conn: Connection, reason: str) -> None:
        self.stats[f"frames_dropped_{reason}"] += 1
        now_s = time.monotonic()
        score = conn.violations.add(now_s)
        s = self.settings
        if now_s - conn.last_log_s >= s.bad_input_log_interval_s:
            conn.last_log_s = now_s
            logger.warning("bad frames", extra={"sid": conn.sid, "reason": reason,
                                                "room_id": conn.room_id, "score": score})
        if score >= s.frame_violations_max:
            self.stats["clients_cut_off"] += 1
            await self.emit("error", {"code": "bad_request",
                                      "message": "too many invalid frames; disconnecting"},
                            to=conn.sid)
            await self.disconnect(conn.sid)
        elif now_s - conn.last_error_s >= 1.0:
            conn.last_error_s = now_s
            await self.emit("error", {"code": "bad_request" if reason != "rate"
                                      else "rate_limited",
                                      "message": f"frame dropped: {reason}"}, to=conn.sid)
