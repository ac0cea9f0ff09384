"""Binary websocket messages handled as they are parsed, without a wake-up per message.

aiohttp's websocket parser puts every message in the response's ``WebSocketDataQueue``;
the reading task then wakes (a future resolved, a task step) and takes it with
``ws.receive()``. At 30 frames/s per client that wake-up is most of the receive cost (py-spy
at 1,200 streaming clients: ~35 % of the server's core receiving, README "Relay
benchmark"). ``FeedQueue`` hands a binary message to ``on_binary(data) -> bool`` inside the
parser's callback instead, when it is safe: only while the reading task is idle (waiting in
``receive()`` with nothing queued), so messages of one connection are still handled in the
order they came. ``on_binary`` returns False for a message it does not take, which is then
queued as usual.

``LeanWebSocketResponse`` is ``web.WebSocketResponse`` with that queue; its ``_post_start``
mirrors aiohttp 3.14's (tests/test_fastpath.py pins the source).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp.helpers import DEFAULT_CHUNK_SIZE

BinaryHandler = Callable[[bytes], bool]
"""``on_binary(data)``: True when the message was handled (nothing left to do)."""


class FeedQueue(WebSocketDataQueue):
    """aiohttp's message queue, taking binary messages straight to ``on_binary`` while
    ``idle`` (set by the reader: it waits in ``receive()``), nothing is queued and no
    ``pending`` task (what a handled message left to await) runs: the reader awaits that
    before it handles the next message, so one connection's messages are handled one at a
    time, in order, as when the reader takes them all."""

    def __init__(self, protocol: Any, limit: int, *, loop: Any) -> None:
        super().__init__(protocol, limit, loop=loop)
        self.on_binary: BinaryHandler | None = None
        self.idle = False
        self.pending: asyncio.Future[Any] | None = None

    def feed_data(self, data: Any, size: int) -> None:
        handler = self.on_binary
        if handler is not None and self.idle and self.pending is None \
                and data[0] is WSMsgType.BINARY and not self._buffer and handler(data[1]):
            return
        super().feed_data(data, size)

    def run_pending(self, awaitable: Awaitable[Any]) -> None:
        """Run what a handled message left to await as ``pending`` (a task)."""
        task = self.pending = asyncio.ensure_future(awaitable)
        task.add_done_callback(self._pending_done)

    def _pending_done(self, task: asyncio.Future[Any]) -> None:
        if self.pending is task:
            self.pending = None


class LeanWebSocketResponse(web.WebSocketResponse):
    """``web.WebSocketResponse`` whose message queue is a ``FeedQueue`` (``feed``)."""

    feed: FeedQueue | None = None

    def _post_start(self, request: web.BaseRequest, protocol: str | None,
                    writer: Any) -> None:
        self._ws_protocol = protocol
        self._writer = writer
        self._reset_heartbeat()
        loop = self._loop
        assert loop is not None
        self.feed = self._reader = FeedQueue(request._protocol, DEFAULT_CHUNK_SIZE, loop=loop)
        self._parser = WebSocketReader(self._reader, self._max_msg_size,
                                       compress=bool(self._compress),
                                       decode_text=self._decode_text)
        cb = None if self._heartbeat is None else self._on_data_received
        request.protocol.set_parser(self._parser, data_received_cb=cb)
        request.protocol.keep_alive(False)
