"""GameStore and its Lua scripts against real Redis: leases with fencing, ticks applied
once, compare-and-set timer writes, phase changes claimed exactly once."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from rooms.game_store import GameConflict, GameStore, Lease
from rooms.keys import KeySpace
from rooms.store import RoomMeta, RoomNotFound, RoomStore

ROOM = "5f8e3c1e-0000-4000-8000-0000000000aa"


async def make(redis: aioredis.Redis, prefix: str, ttl_ms: int = 3000) -> GameStore:
    rooms = RoomStore(redis, KeySpace(prefix), resume_window_ms=60_000, spectators_max=3)
    await rooms.ensure_room(RoomMeta(ROOM, "R", 5, "owner", "CODE2345", 1))
    return GameStore(redis, KeySpace(prefix), lease_ttl_ms=ttl_ms)


async def test_lease_acquire_renew_and_fence(redis: aioredis.Redis, redis_prefix: str) -> None:
    games = await make(redis, redis_prefix)
    a, status = await games.acquire_lease(ROOM, "node-a")
    assert status == "acquired" and a == Lease("node-a", 1)
    again, status = await games.acquire_lease(ROOM, "node-a")
    assert status == "renewed" and again == a
    other, status = await games.acquire_lease(ROOM, "node-b")
    assert status == "held" and other is None
    assert await games.lease_holder(ROOM) == "node-a:1"
    assert await games.release_lease(ROOM, a)
    assert not await games.release_lease(ROOM, a)  # already gone
    b, status = await games.acquire_lease(ROOM, "node-b")
    assert status == "acquired" and b == Lease("node-b", 2)  # the fence only grows


async def test_lease_expires_and_passes_on(redis: aioredis.Redis, redis_prefix: str) -> None:
    games = await make(redis, redis_prefix, ttl_ms=200)
    a, _ = await games.acquire_lease(ROOM, "node-a")
    assert a is not None
    await asyncio.sleep(0.3)
    b, status = await games.acquire_lease(ROOM, "node-b")
    assert status == "acquired" and b is not None and b.fence == a.fence + 1
    # the old owner wakes up: fenced off, and cannot release the new holder's lease
    assert await games.apply_tick(ROOM, a, tick_id=10, read_tick="", read_rev="",
                                  boss={"hp": 1}, focus_ms={}) == "not_owner"
    assert not await games.release_lease(ROOM, a)


async def test_tick_applies_once(redis: aioredis.Redis, redis_prefix: str) -> None:
    games = await make(redis, redis_prefix)
    await games.write_timer(ROOM, read_rev="", timer={"t0_ms": 1}, next_change_ms=None,
                            boss={"hp": 100.0})
    lease, _ = await games.acquire_lease(ROOM, "node-a")
    assert lease is not None
    snap = await games.snapshot(ROOM)
    assert snap.boss == {"hp": 100.0} and snap.boss_tick == "" and snap.timer_rev == "1"
    focus = {"f:1:0:u1": 1000, "p:1:0:u1": 1000}
    ok = await games.apply_tick(ROOM, lease, tick_id=100, read_tick="", read_rev="1",
                                boss={"hp": 99.0}, focus_ms=focus)
    assert ok == "ok"
    # the same tick id again (a retry, or a second node that computed it) is a no-op
    assert await games.apply_tick(ROOM, lease, tick_id=100, read_tick="", read_rev="1",
                                  boss={"hp": 98.0}, focus_ms=focus) == "stale"
    assert await games.apply_tick(ROOM, lease, tick_id=99, read_tick="100", read_rev="1",
                                  boss={"hp": 98.0}, focus_ms=focus) == "stale"
    # a tick computed from an older read of the boss is refused
    assert await games.apply_tick(ROOM, lease, tick_id=101, read_tick="", read_rev="1",
                                  boss={"hp": 98.0}, focus_ms=focus) == "conflict"
    assert await games.apply_tick(ROOM, lease, tick_id=101, read_tick="100", read_rev="0",
                                  boss={"hp": 98.0}, focus_ms=focus) == "conflict"
    snap = await games.snapshot(ROOM)
    assert snap.boss == {"hp": 99.0} and snap.boss_tick == "100"
    assert await games.focus_totals(ROOM) == focus


async def test_timer_write_is_compare_and_set(redis: aioredis.Redis,
                                              redis_prefix: str) -> None:
    games = await make(redis, redis_prefix)
    rev = await games.write_timer(ROOM, read_rev="", timer={"v": 1}, next_change_ms=5000,
                                  boss=None)
    with pytest.raises(GameConflict):
        await games.write_timer(ROOM, read_rev="", timer={"v": 2}, next_change_ms=None)
    # twenty writers that all read the same rev: exactly one wins
    results = await asyncio.gather(*(games.write_timer(ROOM, read_rev=rev, timer={"v": i},
                                                       next_change_ms=None)
                                     for i in range(20)), return_exceptions=True)
    assert sum(isinstance(r, str) for r in results) == 1
    assert sum(isinstance(r, GameConflict) for r in results) == 19
    with pytest.raises(RoomNotFound):
        await games.write_timer("no-such-room", read_rev="", timer=None, next_change_ms=None)


async def test_due_change_claimed_exactly_once(redis: aioredis.Redis,
                                               redis_prefix: str) -> None:
    games = await make(redis, redis_prefix)
    rev = await games.write_timer(ROOM, read_rev="", timer={"v": 1}, next_change_ms=5000)
    assert await games.due_rooms(4999) == []
    assert not await games.claim_due(ROOM, 4999)
    assert await games.next_due_ms() == 5000
    assert await games.due_rooms(5000) == [ROOM]
    claims = await asyncio.gather(*(games.claim_due(ROOM, 5000) for _ in range(20)))
    assert claims.count(5000) == 1 and claims.count(None) == 19
    assert await games.next_due_ms() is None
    # reschedule after the claim, unless a command moved the timer meanwhile
    assert await games.reschedule(ROOM, rev=rev, next_change_ms=9000)
    assert await games.next_due_ms() == 9000
    newer = await games.write_timer(ROOM, read_rev=rev, timer=None, next_change_ms=None)
    assert await games.next_due_ms() is None
    assert not await games.reschedule(ROOM, rev=rev, next_change_ms=12000)
    assert await games.next_due_ms() is None
    assert newer == str(int(rev) + 1)


async def test_attention_written_only_for_the_holding_sid(redis: aioredis.Redis,
                                                          redis_prefix: str) -> None:
    games = await make(redis, redis_prefix)
    rooms = RoomStore(redis, KeySpace(redis_prefix), resume_window_ms=60_000,
                      spectators_max=3)
    joined = await rooms.join_member(ROOM, user_id="u1", display_name="U", sid="s1",
                                     node_id="n", now_ms=1, resume_token=None)
    slot = joined.member.slot
    assert await games.set_attention(ROOM, slot=slot, sid="s1", attention="distracted",
                                     since_ms=1_700_000_000_123)
    assert not await games.set_attention(ROOM, slot=slot, sid="s-old", attention="focused",
                                         since_ms=2)
    assert not await games.set_attention(ROOM, slot=9, sid="s1", attention="focused",
                                         since_ms=2)
    (member,) = await rooms.members(ROOM)
    assert member.attention == "distracted"


async def test_a_returning_member_starts_idle(redis: aioredis.Redis, redis_prefix: str) -> None:
    """Attention is earned by a connection's own frames: a member who drops while focused
    and comes back is idle (deals no damage) until its new frames say otherwise."""
    games = await make(redis, redis_prefix)
    rooms = RoomStore(redis, KeySpace(redis_prefix), resume_window_ms=60_000,
                      spectators_max=3)
    first = await rooms.join_member(ROOM, user_id="u1", display_name="U", sid="s1",
                                    node_id="n", now_ms=1, resume_token=None)
    await games.set_attention(ROOM, slot=first.member.slot, sid="s1", attention="focused",
                              since_ms=5)
    await rooms.leave_member(ROOM, user_id="u1", sid="s1", now_ms=10, keep_slot=True)
    back = await rooms.join_member(ROOM, user_id="u1", display_name="U", sid="s2",
                                   node_id="n", now_ms=20,
                                   resume_token=first.member.resume_token)
    assert back.kind == "resumed" and back.member.attention == "idle"
