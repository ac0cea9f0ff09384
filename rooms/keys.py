"""Every Redis key the server uses, built from one configured prefix.

Keys of one room share the ``{room_id}`` hash tag, so a Lua script may touch all of them
on Redis Cluster too. TTLs live here beside the keys they govern.

Key families (all under ``prefix``):

| key | type | owner module | contents |
|---|---|---|---|
| ``room:{<id>}:meta`` | hash | rooms.store | name, capacity, owner_id, invite_code, created_ms |
| ``room:{<id>}:members`` | hash | rooms.store | slot -> member record (JSON) |
| ``room:{<id>}:users`` | hash | rooms.store | user_id -> slot |
| ``room:{<id>}:spectators`` | hash | rooms.store | sid -> spectator record (JSON) |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """The keys of one room, in the order the Lua scripts take them as KEYS."""

    meta: str
    members: str
    users: str
    spectators: str

    def all(self) -> list[str]:
        return [self.meta, self.members, self.users, self.spectators]


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Builds keys under ``prefix`` (e.g. ``"sv:"``; tests use a unique one each)."""

    prefix: str

    def room(self, room_id: str) -> RoomKeys:
        base = f"{self.prefix}room:{{{room_id}}}"
        return RoomKeys(f"{base}:meta", f"{base}:members", f"{base}:users",
                        f"{base}:spectators")

    def pattern(self) -> str:
        """A SCAN pattern matching every key of this key space."""
        return f"{self.prefix}*"
