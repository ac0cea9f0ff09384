"""Socket.IO handlers (namespace ``/``): connect, time sync, rooms, avatar frames.

Commands answer through the ack, ``{ok: true, ...}`` or ``{ok: false, error: {code,
message}}`` (DESIGN.md section 3); they are validated by one pydantic model each and never
raise into python-socketio. ``frame`` is the hot path: one dict lookup, one struct check,
a token bucket and a dict store; bad frames are dropped and counted, and a client whose
violation score reaches ``frame_violations_max`` gets an ``error`` and is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack
import socketio
from pydantic import BaseModel, ValidationError

from avatars.attention import AttentionChange, AttentionTracker
from avatars.frame import FLAG_FACE, check_frame
from game_server.auth import AuthError, TokenIssuer
from game_server.config import Settings
from game_server.game import GameService
from game_server.interruption_repo import InterruptionRow, InterruptionWriter
from game_server.limits import TokenBucket, ViolationScore
from game_server.relay import FrameRelay
from game_server.room_service import RoomService
from game_server.schemas import Empty, RoomJoin, TimerStart, TimeSync
from game_server.sweeper import DropSweeper
from rooms.rules.timer import MS_PER_MINUTE, TimerError, TimerPlan
from rooms.store import Member, RoomError

logger = logging.getLogger(__name__)

COMMAND_RATE_PER_S = 20.0
COMMAND_BURST = 40


def now_ms() -> int:
    return int(time.time() * 1000)


def user_room(user_id: str) -> str:
    """The Socket.IO room of every socket of one user (rewards, logout)."""
    return f"user:{user_id}"


def sio_room(room_id: str) -> str:
    """The Socket.IO room carrying a study room's control events (all nodes)."""
    return f"room:{room_id}"


@dataclass(slots=True)
class Connection:
    """What this node knows of one connected socket."""

    sid: str
    user_id: str
    display_name: str
    frames: TokenBucket
    commands: TokenBucket
    violations: ViolationScore = field(default_factory=ViolationScore)
    room_id: str | None = None
    slot: int | None = None  # None while not a member (spectator or lobby)
    tracker: AttentionTracker | None = None  # a member's attention, fed by its frames
    last_error_s: float = 0.0
    last_log_s: float = 0.0


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def ok(**payload: Any) -> dict[str, Any]:
    return {"ok": True, **payload}


def fail(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


class StudyNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Event handlers of one node; state beyond this node lives in Redis."""

    def __init__(self, *, settings: Settings, issuer: TokenIssuer, rooms: RoomService,
                 relay: FrameRelay, sweeper: DropSweeper, game: GameService,
                 interruptions: InterruptionWriter, node_id: str) -> None:
        super().__init__("/")
        self.game = game
        self.interruptions = interruptions
        self.attention_config = settings.attention_config()
        # sid -> (room_id, slot, attention, since_ms) waiting for run_attention_publisher
        self._attention_pending: dict[str, tuple[str, int, str, int]] = {}
        self._attention_wake = asyncio.Event()
        self.settings = settings
        self.issuer = issuer
        self.rooms = rooms
        self.relay = relay
        self.sweeper = sweeper
        self.node_id = node_id
        self.connections: dict[str, Connection] = {}
        self.stats: Counter[str] = Counter()

    # -- lifecycle ---------------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            identity = self.issuer.verify(token)
        except AuthError as exc:
            # the client's connect_error gets {message, data: {code}}
            raise socketio.exceptions.ConnectionRefusedError(
                str(exc), {"code": "unauthorized"}) from None
        s = self.settings
        await self.enter_room(sid, user_room(str(identity.user_id)))
        self.connections[sid] = Connection(
            sid, str(identity.user_id), identity.display_name,
            frames=TokenBucket(s.frame_rate_max, s.frame_burst),
            commands=TokenBucket(COMMAND_RATE_PER_S, COMMAND_BURST))

    async def on_disconnect(self, sid: str, *reason: Any) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None or conn.room_id is None:
            return
        try:
            await self._exit_room(conn, keep_slot=True)
        except Exception:
            logger.exception("drop bookkeeping failed", extra={"sid": sid,
                                                               "room_id": conn.room_id})

    async def disconnect_all(self) -> None:
        """Close every socket of this node (shutdown): members keep their slots for the
        resume window, so they can resume here after a restart or on another node."""
        for sid in list(self.connections):
            await self.disconnect(sid)

    # -- commands ----------------------------------------------------------------------
    async def _command(self, sid: str, data: Any, model: type[BaseModel],
                       run: Callable[[Connection, Any], Awaitable[dict[str, Any]]]
                       ) -> dict[str, Any]:
        conn = self.connections.get(sid)
        if conn is None:
            return fail("unauthorized", "not connected")
        if not conn.commands.take(time.monotonic()):
            self.stats["commands_rate_limited"] += 1
            return fail("rate_limited", "too many commands; slow down")
        try:
            payload = model.model_validate({} if data is None else data)
            return await run(conn, payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            return fail("bad_request", f"{where}: {first['msg']}")
        except CommandError as exc:
            return fail(exc.code, str(exc))
        except RoomError as exc:
            return fail(exc.code, str(exc))
        except Exception:
            logger.exception("command failed", extra={"sid": sid})
            return fail("internal", "the server could not complete the command")

    async def on_time_sync(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def run(conn: Connection, p: TimeSync) -> dict[str, Any]:
            return ok(client_ms=p.client_ms, server_ms=time.time() * 1000.0)
        return await self._command(sid, data, TimeSync, run)

    async def on_room_join(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._command(sid, data, RoomJoin, self._join)

    async def on_room_leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def run(conn: Connection, p: Empty) -> dict[str, Any]:
            if conn.room_id is None:
                raise CommandError("conflict", "not in a room")
            await self._exit_room(conn, keep_slot=False)
            return ok()
        return await self._command(sid, data, Empty, run)

    # -- timer (room owner only) -----------------------------------------------------------
    async def on_timer_start(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def run(conn: Connection, p: TimerStart) -> dict[str, Any]:
            choices = self.settings.timer_focus_choices_min
            if choices and p.focus_min not in choices:
                raise CommandError("bad_request", "focus_min must be one of "
                                   + ", ".join(f"{c:g}" for c in choices))
            focus, short, long_ = (round(m * MS_PER_MINUTE) for m in
                                   (p.focus_min, p.break_min, p.long_break_min))
            try:
                plan = TimerPlan(focus, short, long_, p.cycles)
            except TimerError as exc:
                raise CommandError(exc.code, str(exc)) from None
            return ok(timer=await self.game.timer_command(self._room_of(conn), conn.user_id,
                                                          "start", plan))
        return await self._command(sid, data, TimerStart, run)

    async def on_timer_pause(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._timer(sid, data, "pause")

    async def on_timer_resume(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._timer(sid, data, "resume")

    async def on_timer_skip(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._timer(sid, data, "skip")

    async def on_timer_stop(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._timer(sid, data, "stop")

    async def _timer(self, sid: str, data: Any,
                     action: Literal["pause", "resume", "skip", "stop"]) -> dict[str, Any]:
        async def run(conn: Connection, p: Empty) -> dict[str, Any]:
            return ok(timer=await self.game.timer_command(self._room_of(conn), conn.user_id,
                                                          action))
        return await self._command(sid, data, Empty, run)

    @staticmethod
    def _room_of(conn: Connection) -> str:
        if conn.room_id is None:
            raise CommandError("conflict", "join a room first")
        return conn.room_id

    async def _state(self, room_id: str) -> dict[str, Any]:
        """RoomState with the game's timer and boss."""
        state = await self.rooms.state(room_id, now_ms())
        view = await self.game.room_view(room_id)
        state["timer"], state["boss"] = view.timer, view.boss
        return state

    async def _join(self, conn: Connection, p: RoomJoin) -> dict[str, Any]:
        room_id = str(p.room_id)
        if conn.room_id is not None:
            await self._exit_room(conn, keep_slot=False)
        if p.role == "spectator":
            await self.rooms.join_spectator(room_id, sid=conn.sid, user_id=conn.user_id,
                                            display_name=conn.display_name,
                                            node_id=self.node_id)
            conn.room_id, conn.slot = room_id, None
            await self.enter_room(conn.sid, sio_room(room_id))
            self.relay.add_recipient(room_id, conn.sid, None)
            state = await self._state(room_id)
            await self.emit("room_state", state, to=conn.sid)
            return ok(room=state, slot=None, resume_token=None)

        result = await self.rooms.join_member(
            room_id, user_id=conn.user_id, display_name=conn.display_name, sid=conn.sid,
            node_id=self.node_id, now_ms=now_ms(), resume_token=p.resume_token)
        member = result.member
        if result.replaced_sid is not None:  # same user, another live socket: take over
            await self._kick_replaced(room_id, result.replaced_sid)
        conn.room_id, conn.slot = room_id, member.slot
        conn.tracker = AttentionTracker(self.attention_config, paper_mode=p.paper_mode,
                                        now_ms=now_ms())
        self.game.member_arrived(room_id)
        await self.enter_room(conn.sid, sio_room(room_id))
        self.relay.add_recipient(room_id, conn.sid, member.slot)
        for gone in result.evicted:
            await self._announce_left(room_id, gone)
        await self.emit("member_joined", _member_event(member), room=sio_room(room_id),
                        skip_sid=conn.sid)
        state = await self._state(room_id)
        await self.emit("room_state", state, to=conn.sid)
        logger.info("member joined", extra={"room_id": room_id, "slot": member.slot,
                                            "sid": conn.sid, "join_kind": result.kind})
        return ok(room=state, slot=member.slot, resume_token=member.resume_token,
                  resumed=result.kind == "resumed")

    async def _kick_replaced(self, room_id: str, old_sid: str) -> None:
        old = self.connections.get(old_sid)
        if old is not None:  # on this node: detach before the disconnect handler runs
            self.relay.remove_recipient(room_id, old_sid)
            if old.slot is not None:
                self.game.member_departed(room_id)
                self._close_tracker(old)
            old.room_id = old.slot = None
        await self.emit("error", {"code": "conflict",
                                  "message": "you joined this room from another connection"},
                        to=old_sid)
        await self.disconnect(old_sid)

    async def _exit_room(self, conn: Connection, *, keep_slot: bool) -> None:
        room_id, slot = conn.room_id, conn.slot
        assert room_id is not None
        conn.room_id = conn.slot = None
        self.relay.remove_recipient(room_id, conn.sid)
        if not keep_slot:  # a dropped socket has already left its Socket.IO rooms
            await self.leave_room(conn.sid, sio_room(room_id))
        if slot is None:
            await self.rooms.store.leave_spectator(room_id, conn.sid)
            return
        self.game.member_departed(room_id)
        self._close_tracker(conn, room_id)
        before = await self.rooms.store.leave_member(
            room_id, user_id=conn.user_id, sid=conn.sid, now_ms=now_ms(), keep_slot=keep_slot)
        if before is None:
            return  # replaced by a newer connection of the same user
        if keep_slot:
            self.sweeper.schedule(room_id, self.settings.resume_window_s + 0.25)
            await self.emit("member_state", {"slot": slot, "attention": before.attention,
                                             "since_ms": now_ms(), "connected": False},
                            room=sio_room(room_id))
        else:
            await self._announce_left(room_id, before)

    async def _announce_left(self, room_id: str, member: Member) -> None:
        self.relay.clear_slot(room_id, member.slot)
        await self.emit("member_left", _member_event(member), room=sio_room(room_id))

    async def sweep_room(self, room_id: str) -> None:
        """DropSweeper callback: free expired slots and tell the room."""
        for gone in await self.rooms.store.sweep(room_id, now_ms()):
            await self._announce_left(room_id, gone)

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
        change = conn.tracker.observe(data, now_ms())
        if data[1] & FLAG_FACE:
            self.relay.offer(room_id, conn.slot, data)
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
        self._attention_pending[conn.sid] = (conn.room_id, conn.slot, change.attention,
                                             change.since_ms)
        self._attention_wake.set()

    async def run_attention_publisher(self) -> None:
        """Write queued attention changes to Redis and broadcast them; cancelled on
        shutdown. A failed publish is logged and dropped (the next change supersedes it)."""
        while True:
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
                    self.stats["attention_publish_errors"] += 1
                    logger.exception("attention publish failed", extra={"sid": sid})

    def _record_interruptions(self, conn: Connection, room_id: str | None,
                              rows: list[Any]) -> None:
        for it in rows:
            self.interruptions.submit(InterruptionRow(conn.user_id, room_id, it.kind, "auto",
                                                      it.started_ms, it.ended_ms))

    def _close_tracker(self, conn: Connection, room_id: str | None = None) -> None:
        """The member left its slot: end an open distracted stretch and record it."""
        tracker, conn.tracker = conn.tracker, None
        if tracker is not None:
            self._record_interruptions(conn, room_id or conn.room_id,
                                       tracker.close(now_ms()))

    async def run_attention_poll(self) -> None:
        """Advance every member's attention without frames (no frames for 5 s = no_face),
        and record finished interruptions; cancelled on shutdown."""
        period = 1.0 / self.settings.attention_poll_hz
        while True:
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
                    logger.exception("attention poll failed", extra={"sid": conn.sid})

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


def _member_event(member: Member) -> dict[str, Any]:
    return {"slot": member.slot, "user_id": member.user_id,
            "display_name": member.display_name, "kind": member.kind}
