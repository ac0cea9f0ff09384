"""A lean Socket.IO client for load tests: Engine.IO v4 + Socket.IO v5, msgpack parser.

python-socketio's client spends ~10x the CPU per message of what a load generator can
afford (a task per packet, logging, generic dispatch), so the benchmark speaks the protocol
directly over one ``aiohttp`` websocket to ``/socket.io/?EIO=4&transport=websocket``.

Wire shapes (python-engineio ``packet.py``/``async_socket.py``, python-socketio
``msgpack_packet.py``, checked against the server):
- Engine.IO packets travel as TEXT frames: ``0{"sid",...,"pingInterval","pingTimeout"}``
  (open, from the server), ``2`` ping (server) answered with ``3`` pong, ``1`` close.
- A Socket.IO packet is an Engine.IO MESSAGE whose payload is binary: it travels as a
  BINARY websocket frame holding just the msgpack map ``{"type", "nsp", "data", "id"?}``
  (no ``4`` prefix). Types: 0 CONNECT (client data ``{"token"}``; server data ``{"sid"}``),
  1 DISCONNECT, 2 EVENT (data ``[name, arg]``), 3 ACK (data ``[result]``), 4 CONNECT_ERROR
  (data ``{"message", "data"}``).

``emit_bytes`` pre-builds the msgpack envelope around a payload of a given length once, so
sending a 72-byte frame is one concatenation and one websocket write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

import aiohttp
import msgpack

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR = 0, 1, 2, 3, 4
NAMESPACE: Final = "/"
_MARK: Final = b"\xfe\xed\xfa\xce"


class SocketIOError(RuntimeError):
    """The server refused the connection or closed it; ``data`` is what it said."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.data = data


def engineio_url(base_url: str) -> str:
    """The websocket URL of a server given by its http(s) base URL."""
    return base_url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"


class LeanClient:
    """One Socket.IO connection on namespace ``/``.

    ``on_frames(payload)`` gets the bytes of each ``frames`` event (sync, must be quick);
    ``on_event(name, data)`` gets every other event. Both run on the reader task.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *,
                 on_frames: Callable[[bytes], None] | None = None,
                 on_event: Callable[[str, Any], None] | None = None,
                 deflate: bool = False) -> None:
        self.session = session
        self.deflate = deflate  # offer permessage-deflate, as browsers do
        self.url = engineio_url(base_url)
        self.on_frames = on_frames
        self.on_event = on_event
        self.sid: str | None = None
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._envelopes: dict[tuple[str, int], tuple[bytes, bytes]] = {}

    async def connect(self, auth: dict[str, Any] | None, timeout_s: float = 10.0) -> str:
        """Open the websocket, pass ``auth`` in CONNECT and wait for the answer; returns the
        Socket.IO sid. Raises SocketIOError (refused), TimeoutError, aiohttp.ClientError."""
        async with asyncio.timeout(timeout_s):
            ws = self._ws = await self.session.ws_connect(
                self.url, autoping=True, max_msg_size=1 << 20, compress=15 if self.deflate else 0)
            opened = await ws.receive()
            if opened.type != aiohttp.WSMsgType.TEXT or not str(opened.data).startswith("0"):
                raise SocketIOError(f"expected an Engine.IO open packet, got {opened.data!r}")
            packet: dict[str, Any] = {"type": CONNECT, "nsp": NAMESPACE}
            if auth is not None:
                packet["data"] = auth
            await ws.send_bytes(msgpack.packb(packet))
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    if msg.data == "2":
                        await ws.send_str("3")
                    continue
                if msg.type != aiohttp.WSMsgType.BINARY:
                    raise SocketIOError(f"connection closed during connect ({msg.type.name})")
                reply = msgpack.unpackb(msg.data)
                if reply.get("type") == CONNECT:
                    self.sid = str(reply["data"]["sid"])
                    break
                if reply.get("type") == CONNECT_ERROR:
                    data = reply.get("data")
                    text = data.get("message") if isinstance(data, dict) else data
                    raise SocketIOError(f"connect refused: {text}", data)
        self._reader = asyncio.create_task(self._read(ws), name=f"sio-reader-{self.sid}")
        return self.sid

    async def call(self, event: str, data: Any = None, timeout_s: float = 10.0) -> Any:
        """Emit ``event`` with an ack id and return the ack's first argument.
        Raises TimeoutError, SocketIOError if the connection closes meanwhile."""
        ack_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        try:
            await self._send({"type": EVENT, "nsp": NAMESPACE, "data": [event, data],
                              "id": ack_id})
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            self._acks.pop(ack_id, None)

    async def emit(self, event: str, data: Any = None) -> None:
        """Emit ``event`` without an ack (any msgpack-able ``data``)."""
        await self._send({"type": EVENT, "nsp": NAMESPACE, "data": [event, data]})

    async def emit_bytes(self, event: str, data: bytes) -> None:
        """Emit ``event`` with one ``bytes`` argument; the envelope is cached per length."""
        envelope = self._envelopes.get((event, len(data)))
        if envelope is None:
            mark = (_MARK * (len(data) // len(_MARK) + 1))[: len(data)]
            packed = msgpack.packb({"type": EVENT, "nsp": NAMESPACE, "data": [event, mark]})
            at = packed.index(mark)
            envelope = self._envelopes[(event, len(data))] = (packed[:at],
                                                              packed[at + len(data):])
        if self._ws is None:
            raise SocketIOError("not connected")
        await self._ws.send_bytes(envelope[0] + data + envelope[1])

    async def _send(self, packet: dict[str, Any]) -> None:
        if self._ws is None or self.closed.is_set():
            raise SocketIOError("not connected")
        await self._ws.send_bytes(msgpack.packb(packet))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        binary, text = aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT
        unpackb, on_frames = msgpack.unpackb, self.on_frames
        try:
            while True:
                msg = await ws.receive()
                if msg.type is binary:
                    packet = unpackb(msg.data)
                    kind = packet["type"]
                    if kind == EVENT:
                        name, *args = packet["data"]
                        if name == "frames" and on_frames is not None:
                            on_frames(args[0])
                        elif self.on_event is not None:
                            self.on_event(name, args[0] if args else None)
                    elif kind == ACK:
                        future = self._acks.pop(packet.get("id", -1), None)
                        if future is not None and not future.done():
                            future.set_result(packet["data"][0] if packet["data"] else None)
                    elif kind == DISCONNECT:
                        self.close_reason = "server disconnect"
                        break
                elif msg.type is text:
                    if msg.data == "2":
                        await ws.send_str("3")
                    elif msg.data.startswith("1"):
                        self.close_reason = "engine.io close"
                        break
                else:  # CLOSE, CLOSED, ERROR
                    self.close_reason = f"websocket {msg.type.name}"
                    break
        finally:
            self.closed.set()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(SocketIOError("connection closed"))

    async def close(self) -> None:
        """Send DISCONNECT, close the websocket and stop the reader (idempotent)."""
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.send_bytes(msgpack.packb({"type": DISCONNECT, "nsp": NAMESPACE}))
            with contextlib.suppress(Exception):
                await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.closed.set()
