"""The Redis side of the game: timer and boss records, tick leases, due phase changes.

Owns the meta-hash fields ``timer``, ``timer_rev``, ``boss``, ``boss_tick``, the keys
``room:{id}:lease|fence|focus`` and the ``timers:due`` sorted set (see rooms.keys). The
rules themselves are pure (``rooms.rules``); this module only reads records and writes them
back through Lua scripts that guard the invariants:

- timer writes are compare-and-set on ``timer_rev``, so two owners' commands never
  interleave into a state neither meant;
- a due phase change is claimed by exactly one caller cluster-wide (``timer_claim.lua``);
- a room tick is applied only by the current lease holder under its fencing number, at most
  once per tick id, and only on the state it was computed from (``boss_apply.lua``): a
  paused or partitioned old owner cannot apply a tick twice or on top of a newer state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from rooms.keys import FOCUS_TTL_MS, LEASE_TTL_MS, KeySpace
from rooms.store import Member, RoomError, RoomNotFound, text

LUA_DIR = Path(__file__).resolve().parent / "lua"

LeaseStatus = Literal["acquired", "renewed", "held"]
ApplyStatus = Literal["ok", "not_owner", "stale", "conflict"]


class GameConflict(RoomError):
    """The timer changed between read and write (another command won); retry or report."""

    code = "conflict"


@dataclass(frozen=True, slots=True)
class Lease:
    """A held tick lease: ``value`` is ``node_id:fence`` as stored in Redis."""

    node_id: str
    fence: int

    @property
    def value(self) -> str:
        return f"{self.node_id}:{self.fence}"


@dataclass(frozen=True, slots=True)
class GameSnapshot:
    """One consistent read of a room's game state (records are decoded JSON or None)."""

    owner_id: str
    timer: dict[str, Any] | None
    timer_rev: str  # '' before the first timer command
    boss: dict[str, Any] | None
    boss_tick: str  # '' before the fight's first tick
    members: tuple[Member, ...]


class GameStore:
    """Timer, boss, leases and due phase changes of rooms under one ``KeySpace``."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace,
                 *, lease_ttl_ms: int = LEASE_TTL_MS) -> None:
        self._redis = redis
        self._keys = keys
        self.lease_ttl_ms = lease_ttl_ms
        script = self._script
        self._acquire, self._release = script("lease_acquire"), script("lease_release")
        self._write, self._claim = script("timer_write"), script("timer_claim")
        self._reschedule, self._apply = script("timer_reschedule"), script("boss_apply")
        self._attention = script("set_attention")

    def _script(self, name: str) -> Any:
        return self._redis.register_script((LUA_DIR / f"{name}.lua").read_text())

    # -- reads ----------------------------------------------------------------------------
    async def snapshot(self, room_id: str) -> GameSnapshot:
        """Owner, timer, boss and members in one round trip; raises RoomNotFound."""
        k = self._keys.room(room_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hmget(k.meta, "owner_id", "timer", "timer_rev", "boss", "boss_tick")
            pipe.hvals(k.members)
            (owner, timer, rev, boss, tick), members_raw = await pipe.execute()
        if owner is None:
            raise RoomNotFound(f"room {room_id} is not live")
        members = sorted((Member.from_json(r) for r in members_raw), key=lambda m: m.slot)
        return GameSnapshot(text(owner), _record(timer), text(rev or b""), _record(boss),
                            text(tick or b""), tuple(members))

    async def focus_totals(self, room_id: str) -> dict[str, int]:
        """The focus hash: ``<kind>:<set t0>:<phase>:<user_id>`` -> ms or count (rooms.keys)."""
        raw = await self._redis.hgetall(self._keys.room(room_id).focus)
        return {text(f): int(v) for f, v in raw.items()}

    async def add_focus_counts(self, room_id: str, counts: Mapping[str, int]) -> None:
        """Add ``counts`` (focus-hash field -> ms or count, see rooms.keys) in one
        round trip, keeping the hash's TTL."""
        if not counts:
            return
        key = self._keys.room(room_id).focus
        async with self._redis.pipeline(transaction=True) as pipe:
            for field, n in counts.items():
                pipe.hincrby(key, field, n)
            pipe.pexpire(key, FOCUS_TTL_MS)
            await pipe.execute()

    # -- timer ----------------------------------------------------------------------------
    async def write_timer(self, room_id: str, *, read_rev: str, timer: Mapping[str, Any] | None,
                          next_change_ms: int | None,
                          boss: Mapping[str, Any] | None | Literal["keep"] = "keep") -> str:
        """Compare-and-set the timer (and boss) against ``read_rev``; returns the new rev.

        Raises RoomNotFound, or GameConflict when the timer changed since it was read."""
        new_rev = str(int(read_rev or 0) + 1)
        k = self._keys.room(room_id)
        boss_arg = "=" if boss == "keep" else ("" if boss is None else _json(boss))
        status = text(await self._write(
            keys=[k.meta, self._keys.timers_due()],
            args=[room_id, read_rev, new_rev, "" if timer is None else _json(timer),
                  "" if next_change_ms is None else next_change_ms, boss_arg]))
        if status == "no_room":
            raise RoomNotFound(f"room {room_id} is not live")
        if status == "conflict":
            raise GameConflict("the timer changed meanwhile; try again")
        return new_rev

    async def due_rooms(self, now_ms: int, limit: int = 100) -> list[str]:
        """Rooms whose next phase change is due (candidates; claim each before acting)."""
        raw = await self._redis.zrangebyscore(self._keys.timers_due(), "-inf", now_ms,
                                              start=0, num=limit)
        return [text(r) for r in raw if isinstance(r, bytes | str)]

    async def next_due_ms(self) -> int | None:
        """The earliest scheduled phase change of any room, epoch ms."""
        first = await self._redis.zrange(self._keys.timers_due(), 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    async def claim_due(self, room_id: str, now_ms: int) -> int | None:
        """The due time (epoch ms) for exactly one caller per scheduled change that is due
        at ``now_ms``; None for everyone else."""
        due = await self._claim(keys=[self._keys.timers_due()], args=[room_id, now_ms])
        return None if not due else int(float(due))

    async def reschedule(self, room_id: str, *, rev: str, next_change_ms: int) -> bool:
        """After a claim: schedule the next change unless the timer moved past ``rev``."""
        k = self._keys.room(room_id)
        return bool(await self._reschedule(keys=[k.meta, self._keys.timers_due()],
                                           args=[room_id, rev, next_change_ms]))

    # -- lease and ticks ------------------------------------------------------------------
    async def acquire_lease(self, room_id: str, node_id: str) -> tuple[Lease | None, LeaseStatus]:
        """Take or renew the room's tick lease; (None, 'held') when another node has it."""
        k = self._keys.room(room_id)
        fence, status = await self._acquire(keys=[k.lease, k.fence],
                                            args=[node_id, self.lease_ttl_ms])
        st: LeaseStatus = text(status)  # type: ignore[assignment]
        return (Lease(node_id, int(fence)) if st != "held" else None), st

    async def release_lease(self, room_id: str, lease: Lease) -> bool:
        """Give the lease up if still held under ``lease.fence``."""
        k = self._keys.room(room_id)
        return bool(await self._release(keys=[k.lease], args=[lease.value]))

    async def lease_holder(self, room_id: str) -> str | None:
        """``node_id:fence`` of the current holder, or None."""
        raw = await self._redis.get(self._keys.room(room_id).lease)
        return None if raw is None else text(raw)

    async def apply_tick(self, room_id: str, lease: Lease, *, tick_id: int, read_tick: str,
                         read_rev: str, boss: Mapping[str, Any] | None,
                         focus_ms: Mapping[str, int]) -> ApplyStatus:
        """Write one tick's outcome if ``lease`` still holds and nothing moved since the
        read (see boss_apply.lua); ``focus_ms`` maps focus-hash fields to ms to add."""
        k = self._keys.room(room_id)
        args: list[Any] = [lease.value, tick_id, read_tick, read_rev,
                           "" if boss is None else _json(boss), FOCUS_TTL_MS]
        for field, ms in focus_ms.items():
            args += [field, int(ms)]
        status: ApplyStatus = text(await self._apply(  # type: ignore[assignment]
            keys=[k.lease, k.meta, k.focus], args=args))
        return status

    # -- attention ------------------------------------------------------------------------
    async def set_attention(self, room_id: str, *, slot: int, sid: str, attention: str,
                            since_ms: int) -> bool:
        """Store a member's attention in its record if ``sid`` still holds ``slot``."""
        k = self._keys.room(room_id)
        return bool(await self._attention(keys=[k.members],
                                          args=[slot, sid, attention, since_ms]))


def _json(value: Mapping[str, Any]) -> str:
    return orjson.dumps(value).decode()


def _record(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    value = orjson.loads(raw)
    return value if isinstance(value, dict) else None
