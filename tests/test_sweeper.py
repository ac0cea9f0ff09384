"""DropSweeper: due sweeps run, failures retry, and cancellation always ends the task."""

from __future__ import annotations

import asyncio

from game_server.sweeper import DropSweeper


async def test_sweeps_run_when_due() -> None:
    swept: list[str] = []

    async def sweep(room_id: str) -> None:
        swept.append(room_id)

    sweeper = DropSweeper(sweep)
    task = asyncio.create_task(sweeper.run())
    sweeper.schedule("late", 0.2)
    sweeper.schedule("early", 0.05)
    await asyncio.sleep(0.35)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert swept == ["early", "late"]


async def test_cancel_ends_the_task_even_as_a_sweep_is_scheduled() -> None:
    """Shutdown schedules sweeps (members drop) right before it cancels the task; a
    cancel landing as the wait completes must still end the task (on Python 3.11
    ``asyncio.wait_for`` can swallow exactly that cancel)."""

    async def sweep(room_id: str) -> None:
        return None

    for _ in range(200):
        sweeper = DropSweeper(sweep)
        sweeper.schedule("room", 60.0)
        task = asyncio.create_task(sweeper.run())
        await asyncio.sleep(0)  # the task now waits for the due time or a wake-up
        sweeper.schedule("room", 60.0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        assert done, "the sweeper ignored its cancellation"
