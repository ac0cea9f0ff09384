"""Lean fast paths for the two hot Socket.IO messages: inbound ``frame``, outbound ``frames``.

At 30 frames/s per member, python-socketio's generic machinery costs more than the relay
itself (profile at 300 clients: ~16 % of a core in engine.io's websocket loop, which wraps
every inbound message in ``ensure_future`` + ``wait_for``; ~26 % in socket.io's event
dispatch; ~12 % emitting batches through the manager and the engine.io writer task). The
wire protocol stays byte-for-byte the same (DESIGN.md sections 3 and 4); only the server's
route through it is shorter:

- ``LeanEngineServer`` swaps engine.io's aiohttp websocket driver (per server instance) for
  ``LeanWebSocket``, whose loop (``serve_websocket``) awaits ``ws.receive()`` directly. Dead
  clients are still cut off after ``ping_interval + ping_timeout`` s of silence, by one
  re-armed timer per connection (``WsLink``) instead of a timeout per message; the
  ping-timeout check on sends and in engine.io's service task is untouched.
- While that loop waits in ``ws.receive()`` with nothing queued, a binary message is handled
  as aiohttp's parser produces it (``game_server.ws_feed.FeedQueue``, ``_feeder``): no future
  and no task wake-up per inbound frame (relay_bench 1,300 clients: 99 -> 88 % of a core).
- ``FastServer`` recognises ``frame`` events right after the msgpack decode and calls the
  namespace's plain callable ``on_frame(sid, data) -> Awaitable | None``, after the same
  sid mapping and connected-namespace check python-socketio makes. Everything else (acks,
  other events, connects, binary attachments, unknown shapes) takes the normal path.
- ``FrameSender.send(sid, payload)`` encodes the ``frames`` packet by concatenation (once
  per distinct payload) and writes it straight to the websocket when nothing else is
  pending for that client; otherwise it queues it behind the pending packets, so events
  of one client are never reordered and a slow socket never blocks the relay tick.

Relies on internals of python-engineio 4.15 and python-socketio 5.18 (the
``_async['websocket']`` driver slot, ``AsyncSocket`` fields, ``_handle_eio_message``, the
manager's sid maps); ``tests/test_fastpath.py`` pins them and fails loudly when they change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import engineio
import msgpack
import socketio
from aiohttp import WSMsgType, web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio.msgpack_packet import MsgPackPacket

from game_server.send_queue import SendQueue
from game_server.ws_feed import FeedQueue, LeanWebSocketResponse

logger = logging.getLogger(__name__)

FRAME_EVENT: Final = "frame"
FRAMES_EVENT: Final = "frames"
EVENT: Final = 2  # socket.io packet type

# on_frame(sid, data): None when done, or an awaitable (e.g. a violation to report)
FrameHandler = Callable[[str, Any], Awaitable[Any] | None]
# fast_message(eio_sid, data): True handled, False not ours, or an awaitable to finish it
FastMessage = Callable[[str, Any], Awaitable[Any] | bool]


class WsLink:
    """Per-websocket state of the lean loop: the on-demand writer and the watchdog.

    ``last_rx`` (loop time, s) is bumped per inbound message; the timer fires at most once
    per ``limit_s`` (re-arming itself from ``last_rx``). Once the client has been silent
    for ``limit_s`` it aborts the transport, which ends ``ws.receive()`` like a dropped
    connection (a dead peer cannot stall a close handshake). Once engine.io has closed the
    socket (ping timeout, server disconnect) while the client keeps talking, it stops the
    writer, whose websocket close then ends the loop, as engine.io's own writer does.

    The writer (``_drain``) is a task that exists only while the socket's queue has
    packets: ``wake`` (the queue's ``on_put``) starts it, it sends what is queued and ends
    when the queue is empty, so an idle connection holds no writer task. After it took the
    ``None`` stop signal it closes the websocket and ``wake`` does nothing any more.
    """

    __slots__ = ("sock", "ws", "transport", "writer", "stopped", "last_rx", "limit_s",
                 "expired", "_loop", "_timer")

    def __init__(self, sock: Any, ws: web.WebSocketResponse,
                 transport: asyncio.Transport | None, limit_s: float) -> None:
        self.sock, self.ws, self.transport, self.limit_s = sock, ws, transport, limit_s
        self.writer: asyncio.Task[None] | None = None  # running only while there is work
        self.stopped = False  # the writer took the stop signal and closed the websocket
        self.expired = False
        self._loop = asyncio.get_running_loop()
        self.last_rx = self._loop.time()
        self._timer = self._loop.call_at(self.last_rx + limit_s, self._check)

    def _check(self) -> None:
        deadline = self.last_rx + self.limit_s
        if self._loop.time() < deadline:
            if self.sock.closed:
                self.sock.queue.put_nowait(None)
            else:
                self._timer = self._loop.call_at(deadline, self._check)
            return
        self.expired = True
        if self.transport is not None:
            self.transport.abort()

    def stop(self) -> None:
        self._timer.cancel()

    def wake(self) -> None:
        """Start the writer unless it runs or has stopped (the queue's ``on_put``)."""
        if self.writer is None and not self.stopped:
            self.writer = self._loop.create_task(_drain(self))

    def writable(self) -> bool:
        """Whether a write now can neither overtake queued packets nor wait for drain."""
        t = self.transport
        return self.writer is None and not self.stopped and t is not None \
            and not t.is_closing() and not t.get_write_buffer_size() \
            and self.sock.queue.empty()


async def _drain(link: WsLink) -> None:
    """engine.io's websocket writer, run on demand: sends the socket's queued packets in
    order until the queue is empty (then ends) or it takes ``None`` (put by
    ``serve_websocket`` or the watchdog: then it closes the websocket)."""
    queue, ws = link.sock.queue, link.ws
    stop = False
    try:
        while not stop and not queue.empty():
            packets = []
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:
                    stop = True  # send what came before it, then close
                    break
                packets.append(pkt)
            for pkt in packets:
                data = pkt.encode()
                if isinstance(data, str):
                    await ws.send_str(data)
                else:
                    await ws.send_bytes(data)
    except Exception:
        stop = True
    finally:
        link.writer = None
    if stop:
        link.stopped = True
        await ws.close()


async def serve_websocket(sock: Any, ws: LeanWebSocketResponse,
                          transport: asyncio.Transport | None) -> None:
    """Run one engine.io websocket connection (a prepared ``ws``) until it ends.

    Same contract as ``AsyncSocket._websocket_handler`` for a direct websocket connect:
    packets from the socket's queue go out through a writer task started while there are
    any, binary messages go to the ``message`` handler (``frame`` events through
    ``server.fast_message`` when set, as they are parsed when the loop is idle), text
    packets (pong, close, text messages) through ``sock.receive``. Ends on close, error,
    an oversized message or ``ping_interval + ping_timeout`` s of silence, then closes the
    socket with reason ``TRANSPORT_CLOSE`` (its disconnect handler runs once).
    """
    server = sock.server
    sid = sock.sid
    sock.connected = sock.upgraded = True
    link = WsLink(sock, ws, transport, server.ping_interval + server.ping_timeout)
    links: dict[str, WsLink] = getattr(server, "links", {})
    links[sid] = link
    queue: SendQueue = sock.queue  # LeanEngineServer.create_queue
    queue.on_put = link.wake
    if not queue.empty():  # the OPEN packet (and what followed) was queued before us
        link.wake()
    fast: FastMessage | None = getattr(server, "fast_message", None)
    max_size = server.max_http_buffer_size
    binary, text = WSMsgType.BINARY, WSMsgType.TEXT
    loop = asyncio.get_running_loop()
    feed = ws.feed
    assert feed is not None  # made by prepare()
    take = feed.on_binary = _feeder(server, sid, link, fast, feed, loop) \
        if fast is not None else None
    try:
        while True:
            feed.idle = True  # a frame may be handled as it is parsed (take)
            msg = await ws.receive()
            feed.idle = False
            if feed.pending is not None:  # what an earlier frame left (a violation, say)
                await feed.pending  # never raises (_logged)
            link.last_rx = loop.time()
            kind, data = msg.type, msg.data
            if kind is binary:
                if len(data) > max_size:
                    break
                if take is None or not take(data):
                    try:
                        await server._trigger_event("message", sid, data,
                                                    run_async=server.async_handlers)
                    except Exception:  # as engine.io does: log, keep the connection
                        server.logger.exception("message async handler error")
            elif kind is text:
                if len(data) > max_size:
                    break
                try:
                    await sock.receive(eio_packet.Packet(encoded_packet=data))
                except engineio.exceptions.UnknownPacketError:
                    pass
                except engineio.exceptions.SocketIsClosedError:
                    break
                except Exception:
                    server.logger.exception("Unknown receive error")
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                break
    finally:
        feed.on_binary, feed.idle = None, False
        link.stop()
        links.pop(sid, None)
        if link.expired:
            logger.info("websocket silent too long, closed", extra={"sid": sid})
        queue.put_nowait(None)  # wakes the writer: it sends what is queued, then closes
        queue.on_put = None
        if link.writer is not None:
            try:
                await link.writer
            except Exception:
                logger.exception("websocket writer failed", extra={"sid": sid})
        await sock.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


# what a connection's environ keeps once its websocket is open (python-socketio hands it to
# connect handlers and keeps it for the connection's lifetime; ours read none of it)
ENVIRON_KEPT: Final = frozenset({
    "REQUEST_METHOD", "QUERY_STRING", "RAW_URI", "REMOTE_ADDR", "HTTP_ORIGIN",
    "HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR", "wsgi.url_scheme"})


def trim_environ(environ: dict[str, Any]) -> None:
    """Drop, in place, every environ key but ``ENVIRON_KEPT``: the other request headers
    and the ``aiohttp.request`` reference. Saves ~1.3 KB per connection (20-odd entries of
    a dict engine.io builds per request and python-socketio keeps per connection; cleared
    and refilled, as deleting keys would not shrink the dict's table)."""
    kept = {key: environ[key] for key in ENVIRON_KEPT if key in environ}
    environ.clear()
    environ.update(kept)


async def _logged(server: Any, done: Awaitable[Any]) -> None:
    try:
        await done
    except Exception:  # as engine.io does: log, keep the connection
        server.logger.exception("message async handler error")


def _feeder(server: Any, sid: str, link: WsLink, fast: FastMessage, feed: FeedQueue,
            loop: asyncio.AbstractEventLoop) -> Callable[[bytes], bool]:
    """One connection's ``take(data) -> bool``, its ``FeedQueue.on_binary`` and its loop's
    first try at a binary message: a ``frame`` event handled by ``fast_message``; False
    for anything else (an oversized message, other events), which then takes the normal
    path. What is left to await (a violation's error event) runs as ``feed.pending``,
    which the loop awaits before its next message."""
    max_size = server.max_http_buffer_size

    def on_binary(data: bytes) -> bool:
        if len(data) > max_size:
            return False
        link.last_rx = loop.time()
        try:
            done = fast(sid, data)
        except Exception:  # as engine.io does: log, keep the connection
            server.logger.exception("message async handler error")
            return True
        if done is False:
            return False
        if done is not True:
            feed.run_pending(_logged(server, done))
        return True

    return on_binary


class LeanWebSocket:
    """engine.io aiohttp websocket driver running ``serve_websocket``; a socket that is
    upgrading from long-polling keeps engine.io's own handler (its handshake differs)."""

    def __init__(self, handler: Callable[[Any], Awaitable[None]], server: Any) -> None:
        self.handler, self.server = handler, server

    async def __call__(self, environ: dict[str, Any]) -> web.StreamResponse:
        sock = self.handler.__self__  # type: ignore[attr-defined]
        if sock.connected:
            return await eio_aiohttp.WebSocket(self.handler, self.server)(environ)  # type: ignore[no-any-return]
        request: web.Request = environ["aiohttp.request"]
        trim_environ(environ)
        ws = LeanWebSocketResponse(max_msg_size=self.server.max_http_buffer_size,
                                   compress=self.server.websocket_compress)
        await ws.prepare(request)
        await serve_websocket(sock, ws, request.transport)
        return ws


class LeanEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io server whose aiohttp websockets run ``serve_websocket``.

    ``websocket_compress`` (default True, as engine.io's aiohttp driver leaves it): accept
    permessage-deflate when the client offers it, as browsers do. Every message is then
    deflated or inflated, and each connection keeps zlib state: at 300 clients (relay_bench
    --deflate) ~30 points more server CPU and ~0.25 MB more RSS per connection. Node's
    socket.io server declines it by default (``perMessageDeflate: false``).
    """

    def __init__(self, *args: Any, websocket_compress: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.websocket_compress = websocket_compress
        self.links: dict[str, WsLink] = {}  # eio sid -> live lean websocket
        self.fast_message: FastMessage | None = None
        if self.async_mode == "aiohttp":
            self._async = {**self._async, "websocket": LeanWebSocket}  # type: ignore[has-type]

    def create_queue(self, *args: Any, **kwargs: Any) -> SendQueue:
        """Each socket's outgoing queue: a ``SendQueue`` (~100 B idle, no writer task)
        instead of an ``asyncio.Queue`` (~3 KB idle)."""
        return SendQueue()

    def start_background_task(self, target: Callable[..., Any], *args: Any,
                              **kwargs: Any) -> asyncio.Future[Any] | None:
        """engine.io's, except a socket's next ping: engine.io starts one task per socket
        that sleeps ``ping_interval`` s and sends the PING; here a loop timer does the
        same (``_ping_due``) without a task and its coroutine (~0.8 KB per connection).
        Returns None for those (engine.io ignores the result there)."""
        if getattr(target, "__func__", None) is _SEND_PING and not args and not kwargs:
            bound: Any = target  # AsyncSocket._send_ping bound to its socket
            asyncio.get_running_loop().call_later(self.ping_interval, _ping_due,
                                                  bound.__self__)
            return None
        return super().start_background_task(target, *args, **kwargs)  # type: ignore[no-any-return]


_SEND_PING: Final = engineio.async_socket.AsyncSocket._send_ping


def _ping_due(sock: Any) -> None:
    """``AsyncSocket._send_ping`` after its sleep: stamp ``last_ping``, queue a PING."""
    if not sock.closing and not sock.closed:
        sock.last_ping = time.time()
        sock.queue.put_nowait(eio_packet.Packet(eio_packet.PING))


class FastServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` with the lean engine.io loop and a ``frame`` fast path.

    Register the fast path with ``on_frame_fast(namespace, handler)``; it takes precedence
    over handlers of ``frame`` registered otherwise (which then serve only the fallback).
    Bypassed on this path: python-socketio's per-event logging and admin instrumentation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._frame_handlers: dict[str, FrameHandler] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._ext_hook = getattr(self.packet_class, "ext_hook", msgpack.ExtType)
        self._msgpack = issubclass(self.packet_class, MsgPackPacket)
        if isinstance(self.eio, LeanEngineServer):
            self.eio.fast_message = self.fast_message

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return LeanEngineServer

    def on_frame_fast(self, namespace: str, handler: FrameHandler) -> None:
        """Route ``frame`` events of ``namespace`` to ``handler(sid, data)`` (sync; may
        return an awaitable, awaited before the client's next message is read)."""
        if not self._msgpack:
            raise ValueError("the frame fast path needs the msgpack serializer")
        self._frame_handlers[namespace or "/"] = handler

    def fast_message(self, eio_sid: str, data: Any) -> Awaitable[Any] | bool:
        """Handle an engine.io message if it is a ``frame`` event with a fast handler:
        True (done), False (not one: use the normal path) or an awaitable to finish it."""
        if type(data) is not bytes or not self._frame_handlers \
                or eio_sid in self._binary_packet:
            return False
        try:
            pkt = msgpack.unpackb(data, ext_hook=self._ext_hook)
        except Exception:
            return False  # the normal path raises and logs it
        if type(pkt) is not dict or pkt.get("type") != EVENT or pkt.get("id") is not None:
            return False
        args = pkt.get("data")
        if type(args) is not list or not args or args[0] != FRAME_EVENT or "nsp" not in pkt:
            return False
        namespace = pkt["nsp"] or "/"
        handler = self._frame_handlers.get(namespace)
        if handler is None:
            return False
        manager = self.manager
        sid = manager.sid_from_eio_sid(eio_sid, namespace)
        if not manager.is_connected(sid, namespace):
            self.logger.warning("%s is not connected to namespace %s", sid, namespace)
            return True
        result = handler(sid, *args[1:])
        if result is None:
            return True
        if self.async_handlers:
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return True
        return result

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        done = self.fast_message(eio_sid, data)
        if done is False:
            await super()._handle_eio_message(eio_sid, data)
        elif done is not True:
            await done


class BrowserMsgPackPacket(MsgPackPacket):  # type: ignore[misc]
    """python-socketio's msgpack packet without a ``data`` key when there is no data.

    python-socketio writes ``{type: 1, data: nil, nsp}`` for DISCONNECT; the browser's
    socket.io-msgpack-parser 3.0.2 accepts a DISCONNECT only without a payload and reports
    that packet as a parse error, so a server-side disconnect (takeover, logout, abuse) looked
    like a network drop and the client reconnected on its own (tests/test_fastpath.py checks
    the browser parser reads ours)."""

    def _to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = super()._to_dict()
        if d.get("data") is None:
            del d["data"]
        return d


def make_server(**kwargs: Any) -> FastServer:
    """A ``FastServer`` built with ``socketio.AsyncServer``'s keyword arguments."""
    return FastServer(**kwargs)


def _bin_header(n: int) -> bytes:
    if n < 0x100:
        return b"\xc4" + n.to_bytes(1, "big")
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


class FrameSender:
    """Sends ``frames`` batches to one client each: the relay's ``send`` callback.

    The encoded packet is exactly python-socketio's (msgpack ``{type: 2, data: [event,
    bin], nsp}``), built by concatenating a cached head and tail around the payload, and
    reused while the same payload object is sent to several recipients (spectators).
    Counters: ``direct`` (written now), ``queued`` (behind pending packets),
    ``no_socket`` (the client was gone), ``dropped_slow`` (a batch not queued behind
    ``frames_queue_max`` pending packets: frames are latest-value-wins, the next batch
    carries newer faces), ``slow_disconnects`` (clients cut off: ``backlog_max`` packets
    pending or ``buffer_max`` bytes in the transport's write buffer mean the client stopped
    reading; its transport is aborted, which ends its connection like a drop, slot kept for
    the resume window, and frees what it held). So a client that stops reading holds at
    most ``backlog_max`` packets and ``buffer_max`` bytes.
    """

    def __init__(self, sio: Any, *, namespace: str = "/", event: str = FRAMES_EVENT,
                 direct: bool = True, frames_queue_max: int = 8, backlog_max: int = 512,
                 buffer_max: int = 4 << 20) -> None:
        self.sio, self.namespace, self.event = sio, namespace, event
        self.direct = direct and isinstance(sio.eio, LeanEngineServer)
        self.lean = isinstance(sio, FastServer) and sio._msgpack
        mark = b"\x00\xfe\xed\xfa\xce\x01\x02\x03"
        template = sio.packet_class(EVENT, data=[event, mark], namespace=namespace).encode()
        at = template.find(_bin_header(len(mark)) + mark) if self.lean else -1
        self.lean = at >= 0
        self._head = template[:at]
        self._tail = template[at + 2 + len(mark):]
        self._last: tuple[bytes, bytes] | None = None
        self.direct_count = self.queued_count = self.no_socket_count = 0
        self.dropped_slow_count = self.slow_disconnects = 0
        self.frames_queue_max, self.backlog_max = frames_queue_max, backlog_max
        self.buffer_max = buffer_max

    @property
    def stats(self) -> dict[str, int]:
        """The counters (class docstring), for /metrics."""
        return {"frames_direct": self.direct_count, "frames_queued": self.queued_count,
                "frames_no_socket": self.no_socket_count,
                "frames_dropped_slow": self.dropped_slow_count,
                "slow_client_disconnects": self.slow_disconnects}

    def encode(self, payload: bytes) -> bytes:
        """The socket.io packet of ``event`` with ``payload`` as its one argument."""
        last = self._last
        if last is not None and last[0] is payload:
            return last[1]
        data = b"".join((self._head, _bin_header(len(payload)), payload, self._tail))
        self._last = (payload, data)
        return data

    async def send(self, sid: str, payload: bytes) -> None:
        sio = self.sio
        if not self.lean:
            await sio.emit(self.event, payload, to=sid, namespace=self.namespace,
                           ignore_queue=True)
            return
        eio = sio.eio
        eio_sid = sio.manager.eio_sid_from_sid(sid, self.namespace)
        sock = eio.sockets.get(eio_sid) if eio_sid is not None else None
        if sock is None or sock.closed:
            self.no_socket_count += 1
            return
        link = eio.links.get(eio_sid) if self.direct else None
        if link is not None and link.transport is not None:
            pending = sock.queue.qsize()
            if pending >= self.backlog_max or \
                    link.transport.get_write_buffer_size() >= self.buffer_max:
                if not link.transport.is_closing():
                    self.slow_disconnects += 1
                    logger.warning("client stopped reading; disconnected",
                                   extra={"sid": sid, "pending": pending})
                    link.transport.abort()
                return
            if pending >= self.frames_queue_max:
                self.dropped_slow_count += 1
                return
        data = self.encode(payload)
        if self.direct and not sock.closing:
            last_ping = sock.last_ping
            if link is not None and link.writable() and not (
                    last_ping and time.time() - last_ping > eio.ping_timeout):
                self.direct_count += 1
                try:
                    await link.ws.send_bytes(data)
                except ConnectionError:  # closing under us; the loop will notice
                    self.no_socket_count += 1
                return
        self.queued_count += 1
        await sock.send(eio_packet.Packet(eio_packet.MESSAGE, data=data))
