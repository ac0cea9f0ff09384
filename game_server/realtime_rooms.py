"""Room membership handlers of StudyNamespace: ``room_join`` (member or spectator, a resume
with a token, taking over the user's other socket), ``room_leave``, leaving on a drop, and the
reaper's and sweeper's callbacks (game_server.node_presence, game_server.sweeper)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from avatars.attention import AttentionTracker
from game_server.realtime_base import (
    CommandError,
    Connection,
    NamespaceBase,
    member_event,
    now_ms,
    ok,
    sio_room,
)
from game_server.schemas import Empty, RoomJoin
from game_server.task_guard import stop_if_cancelled
from rooms.store import Member

logger = logging.getLogger(__name__)


class RoomsMixin(NamespaceBase):
    """Joining and leaving rooms; the room's Socket.IO room, relay recipients, game presence
    and recorder follow each membership."""

    async def on_room_join(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._command(sid, data, RoomJoin, self._join)

    async def on_room_leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def run(conn: Connection, p: Empty) -> dict[str, Any]:
            if conn.room_id is None:
                raise CommandError("conflict", "not in a room")
            await self._exit_room(conn, keep_slot=False)
            return ok()
        return await self._command(sid, data, Empty, run)

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
        await self.emit("member_joined", member_event(member), room=sio_room(room_id),
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
