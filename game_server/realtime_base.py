"""Shared pieces of the Socket.IO namespace (game_server.realtime): the per-socket record, the
ack helpers, the Socket.IO room names and :class:`NamespaceBase`.

StudyNamespace is assembled from handler mixins (game_server.realtime_rooms, realtime_game,
realtime_replay, realtime_frames), each a subclass of NamespaceBase: it declares, typed, the
attributes StudyNamespace.__init__ sets and holds the helpers more than one mixin calls
(the command wrapper, room announcements, closing a member's attention tracker).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from pydantic import BaseModel, ValidationError

from avatars.attention import AttentionConfig, AttentionTracker
from game_server.auth import TokenIssuer
from game_server.config import Settings
from game_server.game import GameService
from game_server.ghost_replay import GhostReplay
from game_server.interruption_repo import InterruptionRow, InterruptionWriter
from game_server.limits import TokenBucket, ViolationScore
from game_server.recorder import Recorder
from game_server.relay import FrameRelay
from game_server.replay_watch import ReplayWatcher
from game_server.room_service import RoomService
from game_server.sweeper import DropSweeper
from game_server.task_guard import stop_if_cancelled
from game_server.user_repo import UserRepo
from rooms.store import Member, RoomError

logger = logging.getLogger(__name__)


def now_ms() -> int:
    """Wall-clock time in ms since the Unix epoch (the unit of every ``*_ms`` on the wire)."""
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


class CommandError(Exception):
    """A command refused: answered as ``{ok: false, error: {code, message}}`` (code: e.g.
    ``conflict``, ``forbidden``, ``bad_request``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def ok(**payload: Any) -> dict[str, Any]:
    """A successful ack: ``{ok: true, **payload}``."""
    return {"ok": True, **payload}


def fail(code: str, message: str) -> dict[str, Any]:
    """A refused ack: ``{ok: false, error: {code, message}}``."""
    return {"ok": False, "error": {"code": code, "message": message}}


def member_event(member: Member) -> dict[str, Any]:
    """The ``member_joined`` / ``member_left`` payload: ``{slot, user_id, display_name,
    kind}``."""
    return {"slot": member.slot, "user_id": member.user_id,
            "display_name": member.display_name, "kind": member.kind}


class NamespaceBase(socketio.AsyncNamespace):  # type: ignore[misc]
    """The state and shared helpers of StudyNamespace's handler mixins. The attributes are
    declared here for the type checker only: StudyNamespace.__init__ (game_server.realtime)
    sets every one of them."""

    settings: Settings
    issuer: TokenIssuer
    rooms: RoomService
    relay: FrameRelay
    sweeper: DropSweeper
    game: GameService
    interruptions: InterruptionWriter
    users: UserRepo
    recorder: Recorder  # ghost recording of members' focus phases
    replay: GhostReplay  # ghost members (game_server.ghost_replay)
    watcher: ReplayWatcher  # one socket watching a recording alone
    attention_config: AttentionConfig
    node_id: str
    connections: dict[str, Connection]
    stats: Counter[str]

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

    @staticmethod
    def _room_of(conn: Connection) -> str:
        if conn.room_id is None:
            raise CommandError("conflict", "join a room first")
        return conn.room_id

    # -- room announcements ----------------------------------------------------------------
    async def _announce_spectators(self, room_id: str) -> None:
        """``spectators {count}`` to the room: someone started or stopped watching."""
        await self.emit("spectators", {"count": await self.rooms.store.spectator_count(room_id)},
                        room=sio_room(room_id))

    async def _announce_left(self, room_id: str, member: Member) -> None:
        self.relay.clear_slot(room_id, member.slot)
        await self.emit("member_left", member_event(member), room=sio_room(room_id))

    # -- a member's attention tracker ------------------------------------------------------
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
