"""Background loops stop when cancelled even if a library swallowed the CancelledError, and
the shutdown's cancel gives up on a stuck task after its timeout."""

from __future__ import annotations

import asyncio
import logging

import pytest

from game_server.app import cancel
from game_server.task_guard import stop_if_cancelled


async def swallowing_call() -> None:
    """What redis-py sometimes does: a cancel inside the call is lost."""
    try:
        await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        pass


async def test_a_lost_cancel_still_stops_a_guarded_loop() -> None:
    passes = 0

    async def loop() -> None:
        nonlocal passes
        while True:
            stop_if_cancelled()
            passes += 1
            await swallowing_call()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.wait({task}, timeout=1)
    assert task.done() and task.cancelled()
    assert passes == 1


def test_outside_a_task_or_not_cancelled_it_does_nothing() -> None:
    stop_if_cancelled()


async def test_cancel_waits_a_bounded_time_for_a_stuck_task(
        caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stuck() -> None:
        while not release.is_set():  # ignores every cancel
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                pass

    task = asyncio.create_task(stuck(), name="stuck-task")
    await asyncio.sleep(0.03)  # running: a cancel lands inside its sleep
    loop = asyncio.get_running_loop()
    began = loop.time()
    with caplog.at_level(logging.WARNING, logger="game_server.app"):
        await cancel(task, timeout_s=0.2)
    assert 0.2 <= loop.time() - began < 1.0
    assert "stuck-task" in caplog.text and "still running" in caplog.text
    release.set()
    await task

    quick = asyncio.create_task(asyncio.sleep(10))
    began = loop.time()
    await cancel(quick)
    assert quick.cancelled() and loop.time() - began < 0.1
