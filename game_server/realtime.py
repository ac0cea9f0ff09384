"""Socket.IO handlers (namespace ``/``): connect, time sync, rooms, avatar frames, chat.

Commands answer through the ack, ``{ok: true, ...}`` or ``{ok: false, error: {code,
message}}`` (DESIGN.md section 3); they are validated by one pydantic model each and never
raise into python-socketio. ``frame`` is the hot path: one dict lookup, one struct check,
a token bucket and a dict store; bad frames are dropped and counted, and a client whose
violation score reaches ``frame_violations_max`` gets an ``error`` and is disconnected.

:class:`StudyNamespace` holds the connection lifecycle (connect, disconnect, drop retries,
drain); its handlers come from mixins, one module each: game_server.realtime_rooms (join,
leave, spectate, resume, takeover, drops), realtime_game (timer, chat, interruptions),
realtime_replay (ghosts, replay watching), realtime_frames (frames, attention); the shared
record, helpers and typed base class live in game_server.realtime_base and are re-exported
here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import socketio

from game_server.auth import AuthError, TokenIssuer
from game_server.config import Settings
from game_server.game import GameService
from game_server.ghost_replay import GhostReplay
from game_server.interruption_repo import InterruptionWriter
from game_server.limits import TokenBucket
from game_server.realtime_base import (
    CommandError,
    Connection,
    NamespaceBase,
    fail,
    now_ms,
    ok,
    sio_room,
    user_room,
)
from game_server.realtime_frames import FramesMixin
from game_server.realtime_game import CLOCK_SKEW_MS, GameMixin
from game_server.realtime_replay import ReplayMixin
from game_server.realtime_rooms import RoomsMixin
from game_server.recorder import Recorder
from game_server.relay import FrameRelay
from game_server.replay_watch import ReplayWatcher
from game_server.room_service import RoomService
from game_server.schemas import TimeSync
from game_server.sweeper import DropSweeper
from game_server.task_guard import stop_if_cancelled
from game_server.user_repo import UserRepo

__all__ = [
    "CLOCK_SKEW_MS", "COMMAND_BURST", "COMMAND_RATE_PER_S", "DRAIN_JITTER_MS", "DROP_RETRY_S",
    "CommandError", "Connection", "NamespaceBase", "PendingDrop", "StudyNamespace", "fail",
    "now_ms", "ok", "sio_room", "user_room",
]

logger = logging.getLogger(__name__)

DRAIN_JITTER_MS = 1000
"""A draining node spreads its clients' reconnects over this many ms."""
DROP_RETRY_S = 2.0
"""s between retries of drop bookkeeping that failed (see PendingDrop)."""
COMMAND_RATE_PER_S = 20.0
COMMAND_BURST = 40


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


class StudyNamespace(RoomsMixin, GameMixin, ReplayMixin, FramesMixin, NamespaceBase):
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

    async def on_time_sync(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def run(conn: Connection, p: TimeSync) -> dict[str, Any]:
            return ok(client_ms=p.client_ms, server_ms=time.time() * 1000.0)
        return await self._command(sid, data, TimeSync, run)
