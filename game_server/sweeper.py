"""Frees the slots of dropped members once their resume window has passed.

A node that sees a member drop schedules a sweep of that room for when the window ends;
the sweep (a Lua script) removes only members still disconnected past their window, so a
member who resumed meanwhile is untouched and sweeping twice is harmless. Joins also evict
lazily, which covers rooms whose dropping node died before its sweep ran.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable

from game_server.task_guard import stop_if_cancelled

logger = logging.getLogger(__name__)

SweepRoom = Callable[[str], Awaitable[None]]


class DropSweeper:
    """A heap of (due time, room) served by one task; ``schedule`` is sync and cheap."""

    def __init__(self, sweep_room: SweepRoom) -> None:
        self._sweep_room = sweep_room
        self._heap: list[tuple[float, str]] = []
        self._wake = asyncio.Event()

    def schedule(self, room_id: str, delay_s: float) -> None:
        heapq.heappush(self._heap, (time.monotonic() + delay_s, room_id))
        self._wake.set()

    async def run(self) -> None:
        """Serve due sweeps until cancelled; a failed sweep is logged and retried later."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            self._wake.clear()
            if not self._heap:
                await self._wake.wait()
                continue
            due, room_id = self._heap[0]
            delay = due - time.monotonic()
            if delay > 0:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancel that lands as the wait completes, and shutdown would hang here
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            heapq.heappop(self._heap)
            try:
                await self._sweep_room(room_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                logger.exception("sweep failed; retrying in 5 s", extra={"room_id": room_id})
                self.schedule(room_id, 5.0)
