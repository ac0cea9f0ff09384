"""Socket.IO's Redis manager with a capped listener reconnect backoff (issue 7).

python-socketio's ``AsyncRedisManager`` retries a lost Redis subscription after 1, 2, 4 ...
up to 60 s, so after a Redis blip of a minute a node could miss every cross-node control
event (joins, timer, boss, chat) for another minute. This subclass retries after
:data:`RETRY_DELAYS_S` (1 s, then every 2 s). It overrides one private method of
python-socketio 5.18 (pinned in pyproject.toml; tests/test_sio_manager.py trips if the
method goes away).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import socketio

RETRY_DELAYS_S = (1.0, 2.0)
"""Seconds before each retry; the last repeats."""


def retry_delays() -> Iterator[float]:
    """1.0, 2.0, 2.0, ... (s): the listener's waits between reconnect attempts."""
    yield from RETRY_DELAYS_S
    while True:
        yield RETRY_DELAYS_S[-1]


class CappedRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """``AsyncRedisManager`` whose listener retries within :data:`RETRY_DELAYS_S`."""

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        delays = retry_delays()
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    delays = retry_delays()
                async for message in self.pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = next(delays)
                self._get_logger().error(
                    "Cannot receive from redis... retrying in %s secs", delay,
                    extra={"redis_exception": str(exc)})
                subscribed = False
                await asyncio.sleep(delay)
