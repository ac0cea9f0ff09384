"""FeedQueue takes a binary message to its handler only when that keeps the connection's
order: the reader idle, nothing queued, no earlier message's work pending. aiohttp's own
(Cython) websocket parser feeds it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import WSMsgType
from aiohttp._websocket.reader import WebSocketReader

from game_server.ws_feed import FeedQueue


class _Protocol:
    _reading_paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True


def _masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


def _setup(take: bool = True) -> tuple[FeedQueue, WebSocketReader, list[bytes]]:
    queue = FeedQueue(_Protocol(), 2**16, loop=asyncio.get_running_loop())
    handled: list[bytes] = []

    def on_binary(data: bytes) -> bool:
        handled.append(data)
        return take

    queue.on_binary = on_binary
    return queue, WebSocketReader(queue, 2**16, compress=False, decode_text=True), handled


def _queued(queue: FeedQueue) -> list[Any]:
    return [item[0].data for item in queue._buffer]


async def test_binary_messages_go_to_the_handler_while_the_reader_is_idle() -> None:
    queue, reader, handled = _setup()
    queue.idle = True
    reader.feed_data(_masked(2, b"a") + _masked(2, b"b"))
    assert handled == [b"a", b"b"] and not queue._buffer


async def test_everything_is_queued_while_the_reader_is_busy() -> None:
    queue, reader, handled = _setup()
    reader.feed_data(_masked(2, b"a"))  # not idle
    assert handled == [] and _queued(queue) == [b"a"]


async def test_nothing_overtakes_a_queued_message() -> None:
    queue, reader, handled = _setup()
    queue.idle = True
    reader.feed_data(_masked(1, b"text") + _masked(2, b"after"))
    assert handled == [] and _queued(queue) == ["text", b"after"]
    msg = await queue.read()
    assert msg.type is WSMsgType.TEXT


async def test_nothing_overtakes_pending_work_and_declined_messages_are_queued() -> None:
    queue, reader, handled = _setup()
    queue.idle = True
    gate = asyncio.Event()
    queue.run_pending(gate.wait())
    reader.feed_data(_masked(2, b"later"))
    assert handled == [] and _queued(queue) == [b"later"]
    gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert queue.pending is None
    queue2, reader2, handled2 = _setup(take=False)
    queue2.idle = True
    reader2.feed_data(_masked(2, b"not a frame"))
    assert handled2 == [b"not a frame"] and _queued(queue2) == [b"not a frame"]
