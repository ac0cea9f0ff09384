"""A drop whose Redis bookkeeping fails is retried until it lands (game_server.realtime
PendingDrop): with the server's Redis pool exhausted for longer than its 5 s wait, a member's
socket drops; once connections are free again the member is marked dropped and the room
hears it, instead of the member staying "connected" with nobody behind it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from game_server.config import Settings
from game_server.deps import DEPS
from tests.client import Api, SioClient
from tests.conftest import start_server

pytestmark = pytest.mark.services

POOL = 4
HOLD_S = 8.0  # the pool stays taken at most this long (its wait for a connection: 5 s)


async def test_a_failed_drop_is_retried_until_it_lands(
        server_settings: dict[str, Any], sio_clients: list[SioClient]) -> None:
    node = await start_server(Settings(**server_settings, redis_max_connections=POOL))
    api = Api(node.base_url)
    try:
        token, _ = await api.guest("Ann")
        room_id = await api.room(token)
        ann = SioClient()
        sio_clients.append(ann)
        await ann.connect(node.base_url, token)
        ack = await ann.call("room_join", {"room_id": room_id})
        assert ack["ok"]
        watcher_token, _ = await api.guest("Bob")
        bob = SioClient()
        sio_clients.append(bob)
        await bob.connect(node.base_url, watcher_token)
        assert (await bob.call("room_join", {"room_id": room_id}))["ok"]

        deps = node.app[DEPS]
        pool = deps.redis.connection_pool
        held = []  # take every free connection (the frame bus keeps one for its pub/sub)
        while True:
            try:
                async with asyncio.timeout(1):
                    held.append(await pool.get_connection())
            except TimeoutError:
                break
        assert held
        dropped_at = time.monotonic()
        await ann.close()
        # the drop's bookkeeping waits for a connection, gives up after 5 s, is deferred
        async with asyncio.timeout(10):
            while deps.namespace.stats["drops_deferred"] < 1:
                await asyncio.sleep(0.1)
        assert not [d for d in bob.of("member_state") if d["slot"] == ack["slot"]
                    and d["connected"] is False]
        assert time.monotonic() - dropped_at < HOLD_S
        for conn in held:
            await pool.release(conn)
        state = await bob.wait_for("member_state", lambda d: d["slot"] == ack["slot"]
                                   and d["connected"] is False, timeout=6)
        assert state["connected"] is False
        assert time.monotonic() - dropped_at < HOLD_S + 5
        async with asyncio.timeout(2):  # counted once its emit has returned
            while deps.namespace.stats["drops_recovered"] < 1:
                await asyncio.sleep(0.05)
        status, room = await api.call("GET", f"/api/rooms/{room_id}", token=watcher_token)
        ann_record = next(m for m in room["members"] if m["slot"] == ack["slot"])
        assert ann_record["connected"] is False  # its slot waits out the resume window
    finally:
        await api.close()
        await node.stop()
