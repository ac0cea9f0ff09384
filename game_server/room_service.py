"""Room use cases over the durable repo (Postgres) and the live store (Redis).

Postgres is the system of record for a room's existence; Redis holds it while it is live.
A room missing from Redis (first join, or Redis restarted) is loaded from Postgres and
mirrored before the join is retried.
"""

from __future__ import annotations

import uuid
from typing import Any

from game_server.room_repo import Room, RoomRepo
from rooms.store import JoinResult, Member, RoomMeta, RoomNotFound, RoomStore

IDLE_TIMER: dict[str, Any] = {
    "phase": "idle", "cycle": 0, "cycles": 0, "phase_started_ms": None,
    "phase_ends_ms": None, "paused_at_ms": None, "durations": None,
}


def room_meta(room: Room) -> RoomMeta:
    return RoomMeta(str(room.id), room.name, room.capacity, str(room.owner_id),
                    room.invite_code, int(room.created_at.timestamp() * 1000))


class RoomService:
    """Creates rooms, admits members and spectators, and reads RoomState."""

    def __init__(self, repo: RoomRepo, store: RoomStore) -> None:
        self.repo = repo
        self.store = store

    async def create(self, owner_id: uuid.UUID, name: str, capacity: int,
                     is_public: bool) -> Room:
        room = await self.repo.create(owner_id, name, capacity, is_public)
        await self.store.ensure_room(room_meta(room))
        return room

    async def _make_live(self, room_id: str) -> None:
        room = await self.repo.get(uuid.UUID(room_id))
        if room is None:
            raise RoomNotFound("no such room")
        await self.store.ensure_room(room_meta(room))

    async def join_member(self, room_id: str, **kwargs: Any) -> JoinResult:
        """RoomStore.join_member, loading the room from Postgres if it is not live."""
        try:
            return await self.store.join_member(room_id, **kwargs)
        except RoomNotFound:
            await self._make_live(room_id)
            return await self.store.join_member(room_id, **kwargs)

    async def join_spectator(self, room_id: str, **kwargs: Any) -> None:
        try:
            await self.store.join_spectator(room_id, **kwargs)
        except RoomNotFound:
            await self._make_live(room_id)
            await self.store.join_spectator(room_id, **kwargs)

    async def state(self, room_id: str, now_ms: int) -> dict[str, Any]:
        """RoomState of DESIGN.md section 3; raises RoomNotFound."""
        meta, members, spectators = await self.store.snapshot(room_id)
        return {
            "room_id": room_id, "name": meta["name"], "capacity": int(meta["capacity"]),
            "owner_id": meta["owner_id"], "members": [m.public() for m in members],
            "spectators": spectators, "timer": IDLE_TIMER, "boss": None, "server_ms": now_ms,
        }

    async def live_members(self, room_id: str) -> list[Member]:
        return await self.store.members(room_id)
