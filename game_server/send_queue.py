"""``SendQueue``: the per-connection packet queue of the lean engine.io websocket loop.

engine.io gives every socket an ``asyncio.Queue`` of outgoing packets. An idle
``asyncio.Queue`` holds three deques (items, getters, putters) and an ``Event`` with a
fourth: about 3 KB per connection before anything is queued (tracemalloc, 2,000 idle
clients, ``loadtests/idle_memory.py``). A socket's queue is nearly always empty, has one
consumer (the websocket writer) and is unbounded, so this queue keeps its items in a list
and creates a waiter future only while someone waits: about 100 bytes when idle.

It implements the part of ``asyncio.Queue``'s interface engine.io 4.x uses on a socket's
queue (``put``, ``put_nowait``, ``get``, ``get_nowait``, ``empty``, ``qsize``, ``task_done``,
``join``), with the same semantics, plus ``on_put``: a callback run after each put when no
``get`` is waiting, which the lean loop uses to start its writer only when there is
something to write (no writer task per idle connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class SendQueue:
    """An unbounded FIFO with ``asyncio.Queue``'s semantics for the calls engine.io makes.

    ``on_put``: ``() -> None`` run after an item is put while no ``get()`` waits for it.
    ``task_done()`` raises ``ValueError`` when called more often than items were put, as
    ``asyncio.Queue`` does; ``get_nowait()`` raises ``asyncio.QueueEmpty`` when empty.
    """

    __slots__ = ("_items", "_unfinished", "_getters", "_joiners", "on_put")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._unfinished = 0
        self._getters: list[asyncio.Future[None]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self.on_put: Callable[[], None] | None = None

    def qsize(self) -> int:
        """Items queued (not yet taken by a get)."""
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        """Append ``item``; wakes one waiting ``get`` or else runs ``on_put``."""
        self._items.append(item)
        self._unfinished += 1
        if not self._wake_getter() and self.on_put is not None:
            self.on_put()

    async def put(self, item: Any) -> None:
        """``put_nowait`` (the queue is unbounded, so it never waits)."""
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        """The oldest item; ``asyncio.QueueEmpty`` when there is none."""
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        """The oldest item, waiting for one if needed (cancellable)."""
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._getters:
                    self._getters.remove(waiter)
                if self._items and not waiter.cancelled():
                    self._wake_getter()  # pass on the item we were woken for
                raise
            if not self._getters:
                self._getters = None
        return self._items.pop(0)

    def _wake_getter(self) -> bool:
        """Wake the oldest waiting ``get``; False if none waits."""
        getters = self._getters
        while getters:
            waiter = getters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return True
        return False

    def task_done(self) -> None:
        """Mark one taken item processed; ``join()`` returns once all are."""
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners:
            joiners, self._joiners = self._joiners, None
            for waiter in joiners:
                if not waiter.done():
                    waiter.set_result(None)

    async def join(self) -> None:
        """Wait until every item put has been marked done."""
        if self._unfinished:
            waiter = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(waiter)
            await waiter
