"""RoomStore and its Lua scripts against real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from rooms.keys import KeySpace
from rooms.store import GhostConflict, RoomFull, RoomMeta, RoomNotFound, RoomStore

ROOM = "5f8e3c1e-0000-4000-8000-000000000001"


def make_store(redis: aioredis.Redis, prefix: str, window_ms: int = 60_000) -> RoomStore:
    return RoomStore(redis, KeySpace(prefix), resume_window_ms=window_ms, spectators_max=3)


async def live_room(store: RoomStore, capacity: int) -> None:
    await store.ensure_room(RoomMeta(ROOM, "R", capacity, "owner", "CODE2345", 1))


async def join(store: RoomStore, user: str, sid: str, now_ms: int = 1000,
               token: str | None = None):  # type: ignore[no-untyped-def]
    return await store.join_member(ROOM, user_id=user, display_name=user.upper(), sid=sid,
                                   node_id="n1", now_ms=now_ms, resume_token=token)


async def test_keys_share_the_room_hash_tag() -> None:
    keys = KeySpace("sv:").room(ROOM)
    assert all(f"{{{ROOM}}}" in k and k.startswith("sv:") for k in keys.all())


async def test_unknown_room(redis: aioredis.Redis, redis_prefix: str) -> None:
    store = make_store(redis, redis_prefix)
    with pytest.raises(RoomNotFound):
        await join(store, "u1", "s1")
    with pytest.raises(RoomNotFound):
        await store.join_spectator(ROOM, sid="s", user_id="u", display_name="U", node_id="n")


async def test_200_concurrent_joins_fill_exactly_capacity(redis: aioredis.Redis,
                                                          redis_prefix: str) -> None:
    store = make_store(redis, redis_prefix)
    await live_room(store, 25)
    results = await asyncio.gather(*(join(store, f"u{i}", f"s{i}") for i in range(200)),
                                   return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 25 and len(refused) == 175, {type(r) for r in refused}
    assert all(isinstance(r, RoomFull) for r in refused), {repr(r) for r in refused}
    assert sorted(r.member.slot for r in ok) == list(range(25))
    members = await store.members(ROOM)
    assert [m.slot for m in members] == list(range(25))
    assert len({m.user_id for m in members}) == 25


async def test_same_user_keeps_one_slot(redis: aioredis.Redis, redis_prefix: str) -> None:
    store = make_store(redis, redis_prefix)
    await live_room(store, 3)
    first = await join(store, "ann", "s1")
    again = await join(store, "ann", "s2")
    assert (first.kind, again.kind) == ("joined", "rejoined")
    assert again.member.slot == first.member.slot and again.replaced_sid == "s1"
    # the replaced socket's leave or drop must not touch the slot now held by s2
    assert await store.leave_member(ROOM, user_id="ann", sid="s1", now_ms=2000,
                                    keep_slot=False) is None
    assert (await store.members(ROOM))[0].sid == "s2"


async def test_drop_resume_and_expiry(redis: aioredis.Redis, redis_prefix: str) -> None:
    store = make_store(redis, redis_prefix, window_ms=60_000)
    await live_room(store, 2)
    ann = await join(store, "ann", "s1", now_ms=1_000)
    dropped = await store.leave_member(ROOM, user_id="ann", sid="s1", now_ms=2_000,
                                       keep_slot=True)
    assert dropped is not None and dropped.connected
    assert not (await store.members(ROOM))[0].connected
    # a second drop of the same socket is a no-op
    assert await store.leave_member(ROOM, user_id="ann", sid="s1", now_ms=2_500,
                                    keep_slot=True) is None
    # resume with the token inside the window: same slot, kind resumed, token rotated
    back = await join(store, "ann", "s3", now_ms=61_999, token=ann.member.resume_token)
    assert back.kind == "resumed" and back.member.slot == ann.member.slot
    assert back.replaced_sid is None and back.member.resume_token != ann.member.resume_token
    # drop again and let the window pass: the slot is freed by a sweep ...
    await store.leave_member(ROOM, user_id="ann", sid="s3", now_ms=70_000, keep_slot=True)
    assert await store.sweep(ROOM, 129_999) == []
    evicted = await store.sweep(ROOM, 130_000)
    assert [m.user_id for m in evicted] == ["ann"] and await store.members(ROOM) == []
    # ... or lazily by the next join when no sweep ran
    await join(store, "bob", "s4", now_ms=200_000)
    await store.leave_member(ROOM, user_id="bob", sid="s4", now_ms=200_000, keep_slot=True)
    await join(store, "cat", "s5", now_ms=200_001)
    late = await join(store, "dan", "s6", now_ms=260_000)
    assert [m.user_id for m in late.evicted] == ["bob"]
    assert {m.user_id for m in await store.members(ROOM)} == {"cat", "dan"}


async def test_stale_token_rejoins_without_resuming(redis: aioredis.Redis,
                                                    redis_prefix: str) -> None:
    store = make_store(redis, redis_prefix)
    await live_room(store, 2)
    first = await join(store, "ann", "s1")
    await store.leave_member(ROOM, user_id="ann", sid="s1", now_ms=1_500, keep_slot=True)
    again = await join(store, "ann", "s2", now_ms=2_000, token="wrong-token")
    assert again.kind == "rejoined" and again.member.slot == first.member.slot


async def test_spectators_are_capped(redis: aioredis.Redis, redis_prefix: str) -> None:
    store = make_store(redis, redis_prefix)
    await live_room(store, 2)
    for i in range(3):
        await store.join_spectator(ROOM, sid=f"w{i}", user_id=f"u{i}", display_name="W",
                                   node_id="n")
    with pytest.raises(RoomFull):
        await store.join_spectator(ROOM, sid="w9", user_id="u9", display_name="W",
                                   node_id="n")
    await store.join_spectator(ROOM, sid="w0", user_id="u0", display_name="W", node_id="n")
    assert await store.leave_spectator(ROOM, "w1")
    meta, members, spectators = await store.snapshot(ROOM)
    assert meta["capacity"] == "2" and members == [] and spectators == 2


ROOM_B = "5f8e3c1e-0000-4000-8000-000000000002"


async def test_a_user_is_a_member_of_one_room_at_a_time(redis: aioredis.Redis,
                                                       redis_prefix: str) -> None:
    """One live focus session per user: joining room B frees the user's slot in room A
    (connected or dropped), reports it, and leaves A's other members alone."""
    store = make_store(redis, redis_prefix, window_ms=1000)
    await live_room(store, 5)
    await store.ensure_room(RoomMeta(ROOM_B, "B", 5, "owner", "CODE2346", 1))
    await join(store, "u1", "s1")
    await join(store, "u2", "s2")
    moved = await store.join_member(ROOM_B, user_id="u1", display_name="U1", sid="s9",
                                    node_id="n1", now_ms=2000, resume_token=None)
    assert moved.kind == "joined" and moved.moved_from is not None
    other, before = moved.moved_from
    assert other == ROOM and before.sid == "s1" and before.connected
    assert [m.user_id for m in await store.members(ROOM)] == ["u2"]
    assert [m.user_id for m in await store.members(ROOM_B)] == ["u1"]
    # back to A from a dropped membership in B: B's slot goes without waiting for the window
    assert await store.leave_member(ROOM_B, user_id="u1", sid="s9", now_ms=2100,
                                    keep_slot=True) is not None
    back = await join(store, "u1", "s10", now_ms=2200)
    assert back.moved_from is not None and back.moved_from[0] == ROOM_B
    assert not back.moved_from[1].connected
    assert await store.members(ROOM_B) == []
    # rejoining the same room is no move; leaving for good clears the membership
    again = await join(store, "u1", "s11", now_ms=2300)
    assert again.moved_from is None and again.kind == "rejoined"
    await store.leave_member(ROOM, user_id="u1", sid="s11", now_ms=2400, keep_slot=False)
    assert await redis.get(KeySpace(redis_prefix).user_room("u1")) is None


async def test_a_stale_membership_does_not_block(redis: aioredis.Redis,
                                                 redis_prefix: str) -> None:
    """A slot freed by a sweep leaves the user's membership key behind; the next join
    elsewhere finds no slot there and proceeds."""
    store = make_store(redis, redis_prefix, window_ms=1000)
    await live_room(store, 5)
    await store.ensure_room(RoomMeta(ROOM_B, "B", 5, "owner", "CODE2346", 1))
    await join(store, "u1", "s1", now_ms=1000)
    await store.leave_member(ROOM, user_id="u1", sid="s1", now_ms=1000, keep_slot=True)
    assert [m.user_id for m in await store.sweep(ROOM, 5000)] == ["u1"]
    assert await redis.get(KeySpace(redis_prefix).user_room("u1")) == ROOM.encode()
    moved = await store.join_member(ROOM_B, user_id="u1", display_name="U1", sid="s2",
                                    node_id="n1", now_ms=5100, resume_token=None)
    assert moved.moved_from is None and moved.member.slot == 0
    assert await redis.get(KeySpace(redis_prefix).user_room("u1")) == ROOM_B.encode()


async def test_concurrent_joins_of_one_user_to_two_rooms_leave_one_slot(
        redis: aioredis.Redis, redis_prefix: str) -> None:
    store = make_store(redis, redis_prefix)
    await live_room(store, 5)
    await store.ensure_room(RoomMeta(ROOM_B, "B", 5, "owner", "CODE2346", 1))
    for round_ in range(10):
        await asyncio.gather(
            join(store, "u1", f"a{round_}"),
            store.join_member(ROOM_B, user_id="u1", display_name="U1", sid=f"b{round_}",
                              node_id="n1", now_ms=1000, resume_token=None),
            return_exceptions=True)
        held = [len(await store.members(r)) for r in (ROOM, ROOM_B)]
        assert sorted(held) == [0, 1], (round_, held)


async def test_ghosts_take_slots_once_and_are_tracked_per_recording(
        redis: aioredis.Redis, redis_prefix: str) -> None:
    store = make_store(redis, redis_prefix)
    await live_room(store, 3)
    await join(store, "u1", "s1")
    rec = "7d1c0b7e-0000-4000-8000-00000000000a"
    ghost = await store.join_ghost(ROOM, recording_id=rec, user_id="u9", display_name="G",
                                   node_id="n1", now_ms=5)
    assert (ghost.slot, ghost.kind, ghost.sid, ghost.attention) == (1, "ghost",
                                                                    f"ghost:{rec}", "idle")
    assert await store.ghost_rooms(rec) == [ROOM]
    ttl = await redis.pttl(KeySpace(redis_prefix).ghost_rooms(rec))
    assert 0 < ttl <= 6 * 3_600_000
    with pytest.raises(GhostConflict):
        await store.join_ghost(ROOM, recording_id=rec, user_id="u9", display_name="G",
                               node_id="n1", now_ms=6)
    # concurrent removals: exactly one gets the record
    gone = await asyncio.gather(*(store.leave_ghost(ROOM, rec) for _ in range(10)))
    assert [g.slot for g in gone if g is not None] == [1]
    assert await store.ghost_rooms(rec) == []
    assert [m.kind for m in await store.members(ROOM)] == ["live"]
