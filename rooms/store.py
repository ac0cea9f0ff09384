"""The Redis room store: live room state, members, slots, spectators.

Owns the key families ``room:{id}:meta|members|users|spectators``, ``user:{id}:room`` and
``ghost:{recording id}:rooms`` (see rooms.keys). Every
change that must be atomic (slot allocation under concurrent joins, leave vs. reconnect
races) is one Lua script from ``rooms/lua``; Lua guards the invariants and returns a
status, Python turns statuses into exceptions and decides policy.

Member record (JSON in the members hash; ms values are strings because Lua's cjson prints
large numbers in exponent form): ``{slot, user_id, display_name, kind, sid, node_id,
connected (0|1), joined_ms, dropped_ms, resume_token, attention}``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from rooms.keys import GHOST_ROOMS_TTL_MS, KeySpace

LUA_DIR = Path(__file__).resolve().parent / "lua"

JoinKind = Literal["joined", "resumed", "rejoined"]


class RoomError(Exception):
    """Base of the store's refusals; ``code`` is the wire error code."""

    code = "bad_request"


class RoomNotFound(RoomError):
    code = "not_found"


class RoomFull(RoomError):
    code = "room_full"


class GhostConflict(RoomError):
    """The recording is a ghost of the room already."""

    code = "conflict"


GHOST_SID_PREFIX = "ghost:"
"""A ghost member's ``sid`` is this prefix + its recording id (no socket has such a sid),
so sid-guarded writes such as ``set_attention`` work for ghosts unchanged."""


def ghost_sid(recording_id: str) -> str:
    return GHOST_SID_PREFIX + recording_id


def ghost_recording_id(member: Member) -> str | None:
    """The recording a ghost member replays; None for a live member."""
    if member.kind != "ghost" or not member.sid.startswith(GHOST_SID_PREFIX):
        return None
    return member.sid[len(GHOST_SID_PREFIX):]


@dataclass(frozen=True, slots=True)
class RoomMeta:
    """The durable facts of a room, mirrored into its Redis meta hash."""

    room_id: str
    name: str
    capacity: int
    owner_id: str
    invite_code: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Member:
    """One slot's occupant as stored in Redis."""

    slot: int
    user_id: str
    display_name: str
    kind: str
    sid: str
    node_id: str
    connected: bool
    joined_ms: int
    dropped_ms: int
    resume_token: str
    attention: str

    @classmethod
    def from_json(cls, raw: bytes | str) -> Member:
        d = orjson.loads(raw)
        return cls(int(d["slot"]), d["user_id"], d["display_name"], d.get("kind", "live"),
                   d["sid"], d["node_id"], d["connected"] == 1, int(d["joined_ms"]),
                   int(d["dropped_ms"]), d["resume_token"], d.get("attention", "idle"))

    def public(self) -> dict[str, Any]:
        """The member as RoomState lists it (no sid, node or token)."""
        return {"slot": self.slot, "user_id": self.user_id,
                "display_name": self.display_name, "kind": self.kind,
                "attention": self.attention, "connected": self.connected}


@dataclass(frozen=True, slots=True)
class JoinResult:
    """Outcome of a member join: the slot, how it was obtained, whom it replaced, the
    members the join's expiry pass evicted, and ``moved_from``: (room id, member record as
    it was) when the user held a slot in another room, freed by this join."""

    member: Member
    kind: JoinKind
    replaced_sid: str | None
    evicted: tuple[Member, ...]
    moved_from: tuple[str, Member] | None = None


class RoomStore:
    """Live room state in Redis under one ``KeySpace``."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, *, resume_window_ms: int,
                 spectators_max: int) -> None:
        self._redis = redis
        self._keys = keys
        self._resume_window_ms = resume_window_ms
        self._spectators_max = spectators_max
        lib = (LUA_DIR / "_lib.lua").read_text()
        self._join = self._script("join_member.lua", lib)
        self._leave = self._script("leave_member.lua")
        self._sweep = self._script("sweep_members.lua", lib)
        self._spectate = self._script("join_spectator.lua")
        self._join_ghost = self._script("join_ghost.lua")
        self._leave_ghost = self._script("leave_ghost.lua")
        self._drop_node = self._script("drop_node.lua")

    def _script(self, name: str, prefix: str = "") -> Any:
        return self._redis.register_script(prefix + (LUA_DIR / name).read_text())

    async def ensure_room(self, meta: RoomMeta) -> None:
        """Mirror a durable room into Redis (idempotent; values come from Postgres)."""
        await self._redis.hset(self._keys.room(meta.room_id).meta, mapping={
            "name": meta.name, "capacity": meta.capacity, "owner_id": meta.owner_id,
            "invite_code": meta.invite_code, "created_ms": meta.created_ms})

    async def room_exists(self, room_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.room(room_id).meta))

    async def join_member(self, room_id: str, *, user_id: str, display_name: str, sid: str,
                          node_id: str, now_ms: int, resume_token: str | None) -> JoinResult:
        """Take (or take back) the user's slot. Raises RoomNotFound when the room is not in
        Redis (the caller loads it from Postgres and retries) and RoomFull at capacity.

        A user is a member of one room at a time (one live focus session per user): a slot
        the user holds in another room, connected or dropped, is freed by this join and
        reported in ``moved_from`` (the newest join wins, as it does within one room)."""
        k = self._keys.room(room_id)
        released = ""
        moved: tuple[str, Member] | None = None
        for _ in range(4):
            reply = await self._join(
                keys=[k.meta, k.members, k.users, self._keys.user_room(user_id)],
                args=[user_id, display_name, sid, node_id, now_ms, self._resume_window_ms,
                      secrets.token_urlsafe(18), resume_token or "", released, room_id])
            if text(reply[0]) != "busy":
                break
            released = text(reply[1])
            held = await self._member_of(released, user_id)
            if held is not None:
                before = await self.leave_member(released, user_id=user_id, sid=held.sid,
                                                 now_ms=now_ms, keep_slot=False)
                if before is not None:
                    moved = (released, before)
        else:
            raise RoomError("the user's membership changed concurrently; retry")
        status = text(reply[0])
        if status == "no_room":
            raise RoomNotFound(f"room {room_id} is not live")
        if status == "room_full":
            raise RoomFull("the room is full")
        kind: JoinKind = text(reply[2])  # type: ignore[assignment]
        replaced = text(reply[3]) or None
        return JoinResult(Member.from_json(reply[4]), kind, replaced,
                          tuple(Member.from_json(r) for r in reply[5:]), moved)

    async def _member_of(self, room_id: str, user_id: str) -> Member | None:
        """The user's member record in ``room_id``, if it holds a slot there."""
        k = self._keys.room(room_id)
        slot = await self._redis.hget(k.users, user_id)
        if slot is None:
            return None
        raw = await self._redis.hget(k.members, slot)
        return None if raw is None else Member.from_json(raw)

    async def leave_member(self, room_id: str, *, user_id: str, sid: str, now_ms: int,
                           keep_slot: bool) -> Member | None:
        """Free the slot (``keep_slot=False``) or mark it dropped for the resume window.
        Returns the member as it was, or None if ``sid`` no longer holds the slot."""
        k = self._keys.room(room_id)
        raw = await self._leave(keys=[k.members, k.users, self._keys.user_room(user_id)],
                                args=[user_id, sid, "drop" if keep_slot else "leave", now_ms,
                                      room_id])
        return Member.from_json(raw) if raw else None

    async def join_ghost(self, room_id: str, *, recording_id: str, user_id: str,
                         display_name: str, node_id: str, now_ms: int) -> Member:
        """Add a recording as a ghost member (kind ``ghost``, sid ``ghost:<recording_id>``,
        connected, attention ``idle``) in the lowest free slot. Ghosts are not in the users
        hash, so the recording's user keeps (or may take) a live slot anywhere. Raises
        RoomNotFound, RoomFull at capacity (ghosts count), GhostConflict when the recording
        is a ghost of the room already."""
        k = self._keys.room(room_id)
        status, raw = await self._join_ghost(keys=[k.meta, k.members],
                                             args=[recording_id, user_id, display_name,
                                                   node_id, now_ms])
        st = text(status)
        if st == "no_room":
            raise RoomNotFound(f"room {room_id} is not live")
        if st == "room_full":
            raise RoomFull("the room is full")
        if st == "conflict":
            raise GhostConflict("this recording is a ghost of the room already")
        rooms = self._keys.ghost_rooms(recording_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(rooms, room_id)
            pipe.pexpire(rooms, GHOST_ROOMS_TTL_MS)
            await pipe.execute()
        return Member.from_json(raw)

    async def leave_ghost(self, room_id: str, recording_id: str) -> Member | None:
        """Free a ghost's slot; returns its record as it was, or None when the room has no
        such ghost (exactly one caller gets the record)."""
        raw = await self._leave_ghost(keys=[self._keys.room(room_id).members],
                                      args=[recording_id])
        await self._redis.srem(self._keys.ghost_rooms(recording_id), room_id)
        return Member.from_json(raw) if raw else None

    async def ghost_rooms(self, recording_id: str) -> list[str]:
        """The rooms where ``recording_id`` may be a ghost member (a superset)."""
        return sorted(text(r) for r in await self._redis.smembers(
            self._keys.ghost_rooms(recording_id)))

    async def drop_node(self, room_id: str, node_id: str, now_ms: int
                        ) -> tuple[list[Member], int]:
        """A dead node's sockets are gone: its live members still marked connected drop
        now (slots kept for the resume window, then swept) and its spectators are removed.
        Returns (the dropped members as they were, spectators removed)."""
        k = self._keys.room(room_id)
        raw = await self._drop_node(keys=[k.members, k.spectators], args=[node_id, now_ms])
        return [Member.from_json(r) for r in raw[1:]], int(raw[0])

    async def sweep(self, room_id: str, now_ms: int) -> list[Member]:
        """Free slots whose resume window has passed; returns the evicted members."""
        k = self._keys.room(room_id)
        raw = await self._sweep(keys=[k.members, k.users],
                                args=[now_ms, self._resume_window_ms])
        return [Member.from_json(r) for r in raw]

    async def join_spectator(self, room_id: str, *, sid: str, user_id: str,
                             display_name: str, node_id: str) -> None:
        """Add a spectator; raises RoomNotFound or RoomFull (spectator cap)."""
        k = self._keys.room(room_id)
        record = orjson.dumps({"user_id": user_id, "display_name": display_name,
                               "node_id": node_id})
        status = text(await self._spectate(keys=[k.meta, k.spectators],
                                            args=[sid, record, self._spectators_max]))
        if status == "no_room":
            raise RoomNotFound(f"room {room_id} is not live")
        if status == "room_full":
            raise RoomFull("the room has too many spectators")

    async def leave_spectator(self, room_id: str, sid: str) -> bool:
        return bool(await self._redis.hdel(self._keys.room(room_id).spectators, sid))

    async def spectator_count(self, room_id: str) -> int:
        """Spectators of the room, on every node."""
        return int(await self._redis.hlen(self._keys.room(room_id).spectators))

    async def members(self, room_id: str) -> list[Member]:
        raw = await self._redis.hvals(self._keys.room(room_id).members)
        return sorted((Member.from_json(r) for r in raw), key=lambda m: m.slot)

    async def snapshot(self, room_id: str) -> tuple[dict[str, str], list[Member], int]:
        """Meta hash, members by slot and spectator count, read in one round trip."""
        k = self._keys.room(room_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(k.meta)
            pipe.hvals(k.members)
            pipe.hlen(k.spectators)
            meta_raw, members_raw, spectators = await pipe.execute()
        if not meta_raw:
            raise RoomNotFound(f"room {room_id} is not live")
        meta = {text(a): text(b) for a, b in meta_raw.items()}
        members = sorted((Member.from_json(r) for r in members_raw), key=lambda m: m.slot)
        return meta, members, int(spectators)


def text(value: bytes | str) -> str:
    """A Redis reply value as str (clients may return bytes or str)."""
    return value.decode() if isinstance(value, bytes) else value
