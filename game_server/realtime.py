"""Socket.IO handlers (namespace ``/``): connect, time sync, rooms, avatar frames, chat.

Commands answer through the ack, ``{ok: true, ...}`` or ``{ok: false, error: {code,
message}}`` (DESIGN.md section 3); they are validated by one pydantic model each and never
raise into python-socketio. ``frame`` is the hot path: one dict lookup, one struct check,
a token bucket and a dict store; bad frames are dropped and counted, and a client whose
violation score reaches ``frame_violations_max`` gets an ``error`` and is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
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
from game_server.ghost_replay import GhostReplay
from game_server.interruption_repo import InterruptionRow, InterruptionWriter
from game_server.limits import TokenBucket, ViolationScore
from game_server.recorder import Recorder
from game_server.relay import FrameRelay
from game_server.replay_watch import ReplayWatcher
from game_server.room_service import ChatRejected, RoomService
from game_server.schemas import (
    ChatSend,
    Empty,
    GhostAdd,
    InterruptionLog,
    ReplayControl,
    ReplayWatch,
    RoomJoin,
    TimerStart,
    TimeSync,
)
from game_server.sweeper import DropSweeper
from game_server.task_guard import stop_if_cancelled
from game_server.user_repo import UserRepo
from rooms.rules.timer import MS_PER_MINUTE, TimerError, TimerPlan
from rooms.store import Member, RoomError

logger = logging.getLogger(__name__)

DRAIN_JITTER_MS = 1000
DROP_RETRY_S = 2.0
"""s between retries of drop bookkeeping that failed (see PendingDrop)."""
"""A draining node spreads its clients' reconnects over this many ms."""

CLOCK_SKEW_MS = 5_000
"""Slack for a client clock ahead of the server's when checking an interruption's span."""
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
    # insight counters already credited to the room's focus phase (run_insights_flush)
    flushed_blinks: int = 0
    flushed_load_ms: int = 0
    interruptions_unflushed: int = 0


@dataclass(slots=True)
class PendingDrop:
    """A dropped socket whose Redis bookkeeping failed (a store error, an exhausted pool):
    retried by :meth:`StudyNamespace.run_drop_retries` until it lands, so the member is not
    left marked connected with nobody behind it. ``slot`` None: a spectator."""

    room_id: str
    user_id: str
    sid: str
    slot: int | None
    attempts: int = 0


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
                 interruptions: InterruptionWriter, users: UserRepo, recorder: Recorder,
                 replay: GhostReplay, node_id: str) -> None:
        super().__init__("/")
        self.replay = replay  # ghost members (game_server.ghost_replay)
        # one socket watching a recording alone (game_server.replay_watch)
        self.watcher = ReplayWatcher(replay.repo, self._send_to)
        self.recorder = recorder  # ghost recording of members' focus phases
        self.users = users
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
        self._pending_drops: list[PendingDrop] = []  # see run_drop_retries
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
        await self.watcher.stop(sid)
        conn = self.connections.pop(sid, None)
        if conn is None or conn.room_id is None:
            return
        room_id, slot = conn.room_id, conn.slot
        try:
            await self._exit_room(conn, keep_slot=True)
        except Exception:
            stop_if_cancelled()
            self.stats["drops_deferred"] += 1
            self._pending_drops.append(PendingDrop(room_id, conn.user_id, sid, slot))
            logger.exception("drop bookkeeping failed; retrying",
                             extra={"sid": sid, "room_id": room_id})

    async def run_drop_retries(self) -> None:
        """Every ``DROP_RETRY_S``: finish the drops whose bookkeeping failed (mark the member
        dropped, tell the room, schedule its sweep; or remove the spectator), until each
        lands; cancelled on shutdown."""
        while True:
            stop_if_cancelled()
            await asyncio.sleep(DROP_RETRY_S)
            pending, self._pending_drops = self._pending_drops, []
            for drop in pending:
                try:
                    await self._finish_drop(drop)
                    self.stats["drops_recovered"] += 1
                except asyncio.CancelledError:
                    self._pending_drops.append(drop)
                    raise
                except Exception:
                    stop_if_cancelled()
                    drop.attempts += 1
                    self._pending_drops.append(drop)
                    if drop.attempts in (1, 10, 100):
                        logger.warning("drop bookkeeping still failing", extra={
                            "sid": drop.sid, "room_id": drop.room_id,
                            "attempts": drop.attempts})

    async def _finish_drop(self, drop: PendingDrop) -> None:
        if drop.slot is None:
            await self.rooms.store.leave_spectator(drop.room_id, drop.sid)
            await self._announce_spectators(drop.room_id)
            return
        before = await self.rooms.store.leave_member(
            drop.room_id, user_id=drop.user_id, sid=drop.sid, now_ms=now_ms(), keep_slot=True)
        if before is None:
            return  # gone already, or resumed by a newer connection
        self.sweeper.schedule(drop.room_id, self.settings.resume_window_s + 0.25)
        await self.emit("member_state", {"slot": drop.slot, "attention": before.attention,
                                         "since_ms": now_ms(), "connected": False},
                        room=sio_room(drop.room_id))

    async def disconnect_all(self, reason: str = "shutdown") -> None:
        """Drain this node: tell every socket to reconnect (``server_shutdown {reason,
        retry_in_ms}``, jittered over ``DRAIN_JITTER_MS`` so a node's clients do not land
        on the others at once; a server-side disconnect is not retried by socket.io clients
        on their own), then close it. Members keep their slots for the resume window, so
        they resume with their tokens on another node, or here. ``reason``: "shutdown"
        (SIGTERM) or "node_reaped" (this node was reaped while alive, see node_presence)."""
        sids = list(self.connections)
        for sid in sids:
            with contextlib.suppress(Exception):  # a socket closing meanwhile
                await self.emit("server_shutdown", {"reason": reason,
                                              "retry_in_ms": secrets.randbelow(DRAIN_JITTER_MS)},
                                to=sid)
        for sid in sids:
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
            stop_if_cancelled()
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
            room_id = self._room_of(conn)
            timer = await self.game.timer_command(room_id, conn.user_id, "start", plan)
            self.replay.poke(room_id)  # waiting ghosts start with the phase
            return ok(timer=timer)
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
            room_id = self._room_of(conn)
            timer = await self.game.timer_command(room_id, conn.user_id, action)
            self.replay.poke(room_id)  # ghosts hold or leave at once
            return ok(timer=timer)
        return await self._command(sid, data, Empty, run)

    # -- ghosts (room owner only) -----------------------------------------------------------
    async def on_ghost_add(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``ghost_add {recording_id}`` -> ack ``{ok, ghost: {slot, recording_id, user_id,
        display_name}}``; the room gets ``member_joined {slot, user_id, display_name, kind:
        "ghost"}``. Errors: ``forbidden`` (not the room's owner, or the recording is not
        visible to the caller), ``not_found`` (no such recording), ``conflict`` (already a
        ghost here, still recording, not in a room), ``room_full``. See
        game_server.ghost_replay."""
        async def run(conn: Connection, p: GhostAdd) -> dict[str, Any]:
            room_id = self._room_of(conn)
            member = await self.replay.add(room_id, conn.user_id, p.recording_id)
            return ok(ghost={"slot": member.slot, "recording_id": str(p.recording_id),
                             "user_id": member.user_id, "display_name": member.display_name})
        return await self._command(sid, data, GhostAdd, run)

    async def on_ghost_remove(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``ghost_remove {recording_id}`` -> ack ``{ok, ghost: {slot, recording_id,
        user_id, display_name}}``; frees the slot and the room gets ``member_left`` (kind
        ``ghost``). Errors: ``forbidden`` (not the owner), ``not_found`` (no such ghost)."""
        async def run(conn: Connection, p: GhostAdd) -> dict[str, Any]:
            room_id = self._room_of(conn)
            member = await self.replay.remove(room_id, conn.user_id, p.recording_id)
            return ok(ghost={"slot": member.slot, "recording_id": str(p.recording_id),
                             "user_id": member.user_id, "display_name": member.display_name})
        return await self._command(sid, data, GhostAdd, run)

    # -- replay watching (outside live rooms) ------------------------------------------------
    async def _send_to(self, sid: str, event: str, data: Any) -> None:
        await self.emit(event, data, to=sid)

    async def on_replay_watch(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``replay_watch {recording_id, speed?: 1, whole_room?: false}`` (speed 0.5..8) ->
        ack ``{ok, replay: {recording_id, duration_ms, speed, position_ms, paused,
        whole_room, slot: 0, user_id, display_name, members: [{slot, recording_id, user_id,
        display_name}]}}``; then ``frames``, ``member_state``, ``replay_event`` and
        ``replay_ended`` to this socket only (game_server.replay_watch; ``whole_room``: every
        member's recording of the room's phase, one slot each). Replaces this socket's
        running replay. Errors: ``conflict`` (a member of a live room, or still recording),
        ``forbidden`` (a recording not visible to the caller), ``not_found`` (no such
        recording), ``bad_request``."""
        async def run(conn: Connection, p: ReplayWatch) -> dict[str, Any]:
            if conn.slot is not None:
                raise CommandError("conflict", "a room member cannot watch a replay")
            state = await self.watcher.watch(conn.sid, conn.user_id, p.recording_id,
                                             p.speed, p.whole_room)
            return ok(replay=state)
        return await self._command(sid, data, ReplayWatch, run)

    async def on_replay_control(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``replay_control {paused?, speed?, seek_ms?}`` -> ack ``{ok, replay}`` (the state
        as in ``replay_watch``); a seek re-sends ``member_state`` at the new position.
        Errors: ``conflict`` (no replay running), ``bad_request``."""
        async def run(conn: Connection, p: ReplayControl) -> dict[str, Any]:
            state = await self.watcher.control(conn.sid, paused=p.paused, speed=p.speed,
                                               seek_ms=p.seek_ms)
            return ok(replay=state)
        return await self._command(sid, data, ReplayControl, run)

    async def on_replay_stop(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``replay_stop {}`` -> ack ``{ok}``: the replay ends (no ``replay_ended``).
        Errors: ``conflict`` (no replay running)."""
        async def run(conn: Connection, p: Empty) -> dict[str, Any]:
            if not await self.watcher.stop(conn.sid):
                raise CommandError("conflict", "no replay running")
            return ok()
        return await self._command(sid, data, Empty, run)

    # -- chat (members only) ----------------------------------------------------------------
    async def on_chat_send(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``chat_send {text}`` -> ack ``{ok, message}``; the room (but the sender's socket)
        gets ``chat_message {id, user_id, display_name, text, sent_ms}``. Members only
        (``forbidden`` for spectators and sockets outside a room); ``bad_request`` for an
        empty, too long or control-character text; ``rate_limited`` past
        ``chat_per_user_per_10s`` messages per user per 10 s window."""
        async def run(conn: Connection, p: ChatSend) -> dict[str, Any]:
            room_id = conn.room_id
            if room_id is None or conn.slot is None:
                raise CommandError("forbidden", "only a room's members can chat")
            s = self.settings
            try:
                message = await self.rooms.send_chat(
                    room_id, conn.user_id, p.text, max_chars=s.chat_max_chars,
                    per_10s=s.chat_per_user_per_10s)
            except ChatRejected as exc:
                raise CommandError(exc.code, str(exc)) from None
            payload = message.wire()
            await self.emit("chat_message", payload, room=sio_room(room_id), skip_sid=conn.sid)
            return ok(message=payload)
        return await self._command(sid, data, ChatSend, run)

    # -- self-reported interruptions (members only) --------------------------------------
    async def on_interruption_log(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``interruption_log {type, description?, started_ms, ended_ms}`` -> ack
        ``{ok, interruption: {id, type, description, started_ms, ended_ms, duration_s,
        session_id}}``. The span must lie in the member's focus phase: the running one (up
        to now, plus ``CLOCK_SKEW_MS`` for the client's clock) or, during a break, the one
        just before it. Errors: ``forbidden`` (not a member), ``conflict`` (no focus phase
        to log against), ``bad_request`` (type, order, span outside the phase)."""
        async def run(conn: Connection, p: InterruptionLog) -> dict[str, Any]:
            room_id = conn.room_id
            if room_id is None or conn.slot is None:
                raise CommandError("forbidden", "only a room's members log interruptions")
            window = await self.game.focus_window(room_id)
            if window is None:
                raise CommandError("conflict", "no focus phase to log an interruption in")
            start, end = window
            if p.started_ms < start - CLOCK_SKEW_MS or p.ended_ms > end + CLOCK_SKEW_MS:
                raise CommandError("bad_request", "the interruption must lie within the focus "
                                   f"phase ({start}..{end} ms)")
            logged = await self.interruptions.repo.log_self_reported(
                user_id=conn.user_id, room_id=room_id, kind=p.type,
                description=p.description, started_ms=max(p.started_ms, start),
                ended_ms=min(p.ended_ms, end))
            return ok(interruption=logged.to_wire())
        return await self._command(sid, data, InterruptionLog, run)

    @staticmethod
    def _room_of(conn: Connection) -> str:
        if conn.room_id is None:
            raise CommandError("conflict", "join a room first")
        return conn.room_id

    async def _state(self, room_id: str) -> dict[str, Any]:
        """RoomState with the game's timer and boss, ``messages``: the room's last
        ``chat_history`` chat messages, oldest first, and ``ghosts``: the ghost race
        (game_server.ghost_replay.GhostReplay.race)."""
        state = await self.rooms.state(room_id, now_ms())
        view = await self.game.room_view(room_id)
        state["timer"], state["boss"] = view.timer, view.boss
        state["messages"] = await self.rooms.recent_chat(room_id, self.settings.chat_history)
        if any(m["kind"] == "ghost" and not self.replay.knows(room_id, m["slot"])
               for m in state["members"]):
            try:  # ghosts added on another node (or before a restart): replay them here too
                await self.replay.discover(room_id, await self.rooms.store.members(room_id))
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                logger.exception("ghost discovery failed", extra={"room_id": room_id})
        state["ghosts"] = await self.replay.race(room_id)
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
            await self._announce_spectators(room_id)
            return ok(room=state, slot=None, resume_token=None)

        await self.watcher.stop(conn.sid)  # a member's frames are the room's, not a replay's
        account = await self.users.get_account(uuid.UUID(conn.user_id))
        if account is None:  # deleted since its access token was issued
            raise CommandError("unauthorized", "this account no longer exists")
        conn.display_name = account.display_name  # renames apply before the token refresh
        paper_mode = account.paper_mode if p.paper_mode is None else p.paper_mode
        result = await self.rooms.join_member(
            room_id, user_id=conn.user_id, display_name=conn.display_name, sid=conn.sid,
            node_id=self.node_id, now_ms=now_ms(), resume_token=p.resume_token)
        member = result.member
        if result.replaced_sid is not None:  # same user, another live socket: take over
            await self._kick_replaced(room_id, result.replaced_sid)
        conn.room_id, conn.slot = room_id, member.slot
        conn.tracker = AttentionTracker(self.attention_config, paper_mode=paper_mode,
                                        now_ms=now_ms())
        conn.flushed_blinks = conn.flushed_load_ms = conn.interruptions_unflushed = 0
        await self.recorder.join(conn.sid, user_id=conn.user_id, room_id=room_id,
                                 attention=conn.tracker.attention)
        self.game.member_arrived(room_id)
        await self.enter_room(conn.sid, sio_room(room_id))
        self.relay.add_recipient(room_id, conn.sid, member.slot)
        for gone in result.evicted:
            await self._announce_left(room_id, gone)
        if result.moved_from is not None:  # one room per user: the older membership ends
            other_room, old = result.moved_from
            await self._announce_left(other_room, old)
            if old.connected and old.sid != conn.sid:
                await self._kick_replaced(other_room, old.sid,
                                          "you joined another room from another connection")
        await self.emit("member_joined", _member_event(member), room=sio_room(room_id),
                        skip_sid=conn.sid)
        state = await self._state(room_id)
        await self.emit("room_state", state, to=conn.sid)
        logger.info("member joined", extra={"room_id": room_id, "slot": member.slot,
                                            "sid": conn.sid, "join_kind": result.kind})
        return ok(room=state, slot=member.slot, resume_token=member.resume_token,
                  resumed=result.kind == "resumed")

    async def _kick_replaced(self, room_id: str, old_sid: str,
                             message: str = "you joined this room from another connection"
                             ) -> None:
        old = self.connections.get(old_sid)
        if old is not None:  # on this node: detach before the disconnect handler runs
            self.relay.remove_recipient(room_id, old_sid)
            if old.slot is not None:
                self.game.member_departed(room_id)
                self._close_tracker(old)
            old.room_id = old.slot = None
        await self.emit("error", {"code": "conflict", "message": message}, to=old_sid)
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
            await self._announce_spectators(room_id)
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

    async def _announce_spectators(self, room_id: str) -> None:
        """``spectators {count}`` to the room: someone started or stopped watching."""
        await self.emit("spectators", {"count": await self.rooms.store.spectator_count(room_id)},
                        room=sio_room(room_id))

    async def _announce_left(self, room_id: str, member: Member) -> None:
        self.relay.clear_slot(room_id, member.slot)
        await self.emit("member_left", _member_event(member), room=sio_room(room_id))

    async def members_dropped(self, room_id: str, members: list[Member]) -> None:
        """The reaper dropped a dead node's members (game_server.node_presence): tell the
        room they are disconnected, as for a dropped socket, and sweep their slots when the
        resume window ends."""
        for m in members:
            self.relay.clear_slot(room_id, m.slot)
            await self.emit("member_state", {"slot": m.slot, "attention": m.attention,
                                             "since_ms": now_ms(), "connected": False},
                            room=sio_room(room_id))
        self.sweeper.schedule(room_id, self.settings.resume_window_s + 0.25)

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

    def _record_interruptions(self, conn: Connection, room_id: str | None,
                              rows: list[Any]) -> None:
        for it in rows:
            conn.interruptions_unflushed += 1
            self.interruptions.submit(InterruptionRow(conn.user_id, room_id, it.kind, "auto",
                                                      it.started_ms, it.ended_ms))

    def _close_tracker(self, conn: Connection, room_id: str | None = None) -> None:
        """The member left its slot: end an open distracted stretch and record it."""
        tracker, conn.tracker = conn.tracker, None
        self.recorder.leave(conn.sid, now_ms())  # the member's ghost take ends here
        if tracker is not None:
            self._record_interruptions(conn, room_id or conn.room_id,
                                       tracker.close(now_ms()))

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


def _member_event(member: Member) -> dict[str, Any]:
    return {"slot": member.slot, "user_id": member.user_id,
            "display_name": member.display_name, "kind": member.kind}
