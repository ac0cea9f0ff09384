"""Frames never wait on Redis (issue 7): with the server's Redis frozen (SIGSTOP, 5 s), a
member's frames keep reaching the others at once -- none later than 200 ms after the
server sent its batch -- and the server carries on when Redis comes back."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from avatars.frame import decode_batch
from game_server.config import Settings
from game_server.engines import EmbeddedRedis
from tests.client import Api, SioClient
from tests.conftest import start_server
from tests.test_game_e2e import Streamer

PAUSE_S = 5.0


async def test_frames_flow_while_redis_is_frozen(
        server_settings: dict[str, Any], sio_clients: list[SioClient], tmp_path: Path) -> None:
    engine = EmbeddedRedis(tmp_path / "own-redis")  # ours alone: we freeze it
    await asyncio.to_thread(engine.start)
    node = None
    try:
        server_settings.update(redis_url=engine.url)
        node = await start_server(Settings(**server_settings))
        api = Api(node.base_url)
        try:
            token, _ = await api.guest("Ann")
            room_id = await api.room(token)
            ann = SioClient()
            sio_clients.append(ann)
            await ann.connect(node.base_url, token)
            assert (await ann.call("room_join", {"room_id": room_id}))["ok"]
            bob_token, _ = await api.guest("Bob")
        finally:
            await api.close()
        bob = SioClient()
        sio_clients.append(bob)
        arrivals: list[tuple[float, float]] = []  # (received epoch ms, batch server ms)

        async def on_frames(data: Any) -> None:
            server_ms, entries = decode_batch(data)
            if any(slot == 0 for slot, _ in entries):
                arrivals.append((time.time() * 1000, server_ms))

        bob.sio.on("frames", on_frames)
        await bob.connect(node.base_url, bob_token)
        assert (await bob.call("room_join", {"room_id": room_id}))["ok"]
        pid = engine._process.pid if engine._process is not None else None
        assert pid is not None
        with Streamer(ann):
            await asyncio.sleep(1.0)
            os.kill(pid, signal.SIGSTOP)
            frozen_at = time.time() * 1000
            try:
                await asyncio.sleep(PAUSE_S)
            finally:
                os.kill(pid, signal.SIGCONT)
            thawed_at = time.time() * 1000
            await asyncio.sleep(1.0)
        during = [(r, s) for r, s in arrivals if frozen_at + 100 <= r <= thawed_at]
        # Ann streams 30 fps; the relay sends every tick: frames kept coming, none stale
        assert len(during) >= 10 * PAUSE_S, len(during)
        lag = max(r - s for r, s in during)
        assert lag < 200, lag
        # and the server is whole again: a command that needs Redis answers
        ack = await bob.call("time_sync", {"client_ms": 1})
        assert ack["ok"]
        status = await bob.call("room_leave")
        assert status["ok"], status
    finally:
        if node is not None:
            await node.stop()
        await asyncio.to_thread(engine.stop)
