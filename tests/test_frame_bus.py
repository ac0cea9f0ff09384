"""Cross-node frames (issue 7, game_server.frame_bus): two nodes on one Redis and one
Postgres; members of one room split across them see each other's frames through the room's
own channel; a node with no recipients of a room neither subscribes nor is published to;
stale batches are dropped; a single-node room publishes nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from avatars.frame import decode_batch, encode_batch
from game_server.config import Settings
from game_server.deps import DEPS
from game_server.frame_bus import FRAMES, message, parse_message
from tests.client import Api, SioClient
from tests.conftest import RunningServer, start_server
from tests.test_game_e2e import Streamer, member

pytestmark = pytest.mark.services


def slots_seen(client: SioClient) -> set[int]:
    return {slot for batch in client.of("frames") for slot, _ in decode_batch(batch)[1]}


async def until(check: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_message_format() -> None:
    data = message(FRAMES, "node-1", b"xyz")
    assert data == b"F\x06node-1xyz"
    assert parse_message(data) == (FRAMES, "node-1", b"xyz")
    for bad in (b"", b"F", b"F\x09abc"):
        with pytest.raises(ValueError):
            parse_message(bad)


async def test_a_room_split_across_two_nodes(
        server: RunningServer, api: Api, server_settings: dict[str, Any],
        sio_clients: list[SioClient]) -> None:
    other = await start_server(Settings(**server_settings))  # same Redis, Postgres, prefix
    try:
        one_bus, two_bus = server.app[DEPS].frame_bus, other.app[DEPS].frame_bus
        token, _ = await api.guest("Ann")
        room_id = await api.room(token)
        ann = SioClient()
        sio_clients.append(ann)
        await ann.connect(server.base_url, token)
        assert (await ann.call("room_join", {"room_id": room_id}))["ok"]
        # alone on node one: nobody to publish to
        await until(lambda: one_bus.open_rooms == 1)
        assert one_bus.peers(room_id) == frozenset()
        with Streamer(ann):
            await asyncio.sleep(0.5)
            assert one_bus.stats["bus_frames_published"] == 0

            bob, _, _ = await member(other.base_url, api, sio_clients, room_id, "Bob")
            spec, _, _ = await member(other.base_url, api, sio_clients, room_id, "Spec",
                                      "spectator")
            await until(lambda: one_bus.peers(room_id) == {other.app[DEPS].node_id})
            assert two_bus.peers(room_id) == {server.app[DEPS].node_id}
            with Streamer(bob):
                # Ann's frames (slot 0) reach Bob and the spectator on node two, Bob's
                # (slot 1) reach Ann on node one; nobody gets their own
                await bob.wait_for("frames", lambda _: 0 in slots_seen(bob), timeout=3)
                await ann.wait_for("frames", lambda _: 1 in slots_seen(ann), timeout=3)
                await spec.wait_for("frames", lambda _: slots_seen(spec) >= {0, 1}, timeout=3)
                await asyncio.sleep(1.0)
        assert 0 not in slots_seen(ann) and 1 not in slots_seen(bob)
        # ~30 fps streamed for >= 1 s: her frames kept crossing (latest wins per tick)
        ann_at_bob = sum(1 for b in bob.of("frames") for s, _ in decode_batch(b)[1] if s == 0)
        assert ann_at_bob >= 15, ann_at_bob
        stats = one_bus.stats
        assert stats["bus_batches_published"] <= stats["bus_frames_published"]
        assert two_bus.stats["bus_frames_received"] >= 15
        assert two_bus.stats["bus_frames_stale"] == 0

        # a batch older than frame_stale_ms is dropped, not relayed
        redis = server.app[DEPS].redis
        channel = server.app[DEPS].keys.room(room_id).frames_channel
        frame = next(f for b in bob.of("frames") for s, f in decode_batch(b)[1] if s == 0)
        n = len(bob.of("frames"))
        stale = encode_batch(time.time() * 1000 - 5000, [(7, frame)])
        await redis.publish(channel, message(FRAMES, "elsewhere", stale))
        await until(lambda: two_bus.stats["bus_frames_stale"] == 1)
        await asyncio.sleep(0.2)
        assert all(7 not in {s for s, _ in decode_batch(b)[1]} for b in bob.of("frames")[n:])

        # node two's last recipients leave: it unsubscribes, says bye, node one stops
        assert (await bob.call("room_leave"))["ok"]
        assert (await spec.call("room_leave"))["ok"]
        await until(lambda: two_bus.open_rooms == 0 and one_bus.peers(room_id) == frozenset())
        nodes_key = server.app[DEPS].keys.room(room_id).frame_nodes
        assert [m.decode() for m in await redis.zrange(nodes_key, 0, -1)] == \
            [server.app[DEPS].node_id]
        with Streamer(ann):
            published = one_bus.stats["bus_frames_published"]
            await asyncio.sleep(0.5)
            assert one_bus.stats["bus_frames_published"] == published
    finally:
        await other.stop()
