"""SendQueue keeps asyncio.Queue's semantics for the calls engine.io makes."""

from __future__ import annotations

import asyncio

import pytest

from game_server.send_queue import SendQueue


async def test_fifo_without_waiting() -> None:
    q = SendQueue()
    assert q.empty() and q.qsize() == 0
    for i in range(5):
        await q.put(i)
    assert q.qsize() == 5 and not q.empty()
    assert [q.get_nowait() for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()


async def test_get_waits_for_a_put_and_on_put_runs_only_when_nobody_waits() -> None:
    q = SendQueue()
    woken: list[int] = []
    q.on_put = lambda: woken.append(q.qsize())
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.put_nowait("x")  # a get waits: it takes it, on_put is not called
    assert await getter == "x" and woken == []
    q.put_nowait("y")
    assert woken == [1] and q.get_nowait() == "y"


async def test_several_getters_are_served_in_order() -> None:
    q = SendQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    for item in "abc":
        q.put_nowait(item)
    assert await asyncio.gather(*getters) == ["a", "b", "c"]


async def test_a_cancelled_getter_passes_its_item_on() -> None:
    q = SendQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.put_nowait("item")  # wakes first...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "item"
    assert first.cancelled()


async def test_join_waits_for_task_done_of_every_item() -> None:
    q = SendQueue()
    await q.join()  # nothing put: returns at once
    q.put_nowait(1)
    q.put_nowait(2)
    joined = asyncio.create_task(q.join())
    q.get_nowait()
    q.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    q.get_nowait()
    q.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        q.task_done()
