"""The Socket.IO Redis listener's reconnect backoff is capped at 2 s (issue 7)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import pytest
import socketio

from game_server.sio_manager import CappedRedisManager, retry_delays
from loadtests.procs import free_port


def test_delays_are_one_then_two_seconds_forever() -> None:
    assert list(itertools.islice(retry_delays(), 6)) == [1.0, 2.0, 2.0, 2.0, 2.0, 2.0]


def test_the_overridden_method_still_exists_upstream() -> None:
    # tripwire: python-socketio must still have the private method this class replaces
    assert callable(getattr(socketio.AsyncRedisManager, "_redis_listen_with_retries", None))


async def test_retries_keep_within_two_seconds_while_redis_is_down(
        caplog: pytest.LogCaptureFixture) -> None:
    manager = CappedRedisManager(f"redis://127.0.0.1:{free_port()}/0", channel="t")
    attempts: list[float] = []

    async def listen() -> None:
        async for _ in manager._redis_listen_with_retries():
            pass

    real_connect = manager._redis_connect

    def counting_connect() -> None:
        attempts.append(time.monotonic())
        real_connect()

    manager._redis_connect = counting_connect
    task = asyncio.create_task(listen())
    with caplog.at_level(logging.ERROR):
        await asyncio.sleep(5.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert len(attempts) >= 4, attempts  # at 0, 1, 3, 5 s (upstream: 0, 1, 3, 7 s)
    assert all(g < 2.6 for g in gaps), gaps
