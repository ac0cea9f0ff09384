"""Ghost and replay handlers of StudyNamespace: ghosts in a live room (room owner only,
game_server.ghost_replay) and one socket watching a recording alone (game_server.replay_watch)."""

from __future__ import annotations

from typing import Any

from game_server.realtime_base import CommandError, Connection, NamespaceBase, ok
from game_server.schemas import Empty, GhostAdd, ReplayControl, ReplayWatch


class ReplayMixin(NamespaceBase):
    """``ghost_add`` / ``ghost_remove`` and ``replay_watch`` / ``replay_control`` /
    ``replay_stop``."""

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
