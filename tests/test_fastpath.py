"""The lean fast paths (game_server.fastpath): same wire bytes, same semantics, pinned internals.

End to end through a real server whose Socket.IO server is a ``FastServer`` with the frame
fast path and ``FrameSender`` wired (the fixture wires them itself while app.py does not),
real python-socketio clients and raw websockets; plus the lean engine.io loop on its own,
against engine.io's stock loop, for the ping-timeout behaviour.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import inspect
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import engineio
import msgpack
import pytest
import socketio
from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio.msgpack_packet import MsgPackPacket

from avatars.frame import decode_batch
from game_server import fastpath
from game_server.config import REPO_ROOT, Settings
from game_server.deps import DEPS, Deps
from game_server.fastpath import (
    BrowserMsgPackPacket,
    FastServer,
    FrameSender,
    LeanEngineServer,
    LeanWebSocket,
    WsLink,
)
from game_server.web_build import ensure_installed
from tests.client import Api, SioClient, join_room
from tests.conftest import RunningServer, start_server
from tests.test_rooms_e2e import frame, received_frames

# -- tripwire: the upstream code fastpath.py mirrors or hooks into ------------------------
ENGINEIO_RANGE = ((4, 15), (4, 16))  # python-engineio >= 4.15, < 4.16
SOCKETIO_RANGE = ((5, 18), (5, 19))  # python-socketio >= 5.18, < 5.19
# sha256[:16] of inspect.getsource(...) in python-engineio 4.15.1 / python-socketio 5.18.1
PINNED_SOURCES = {
    "engineio.async_socket.AsyncSocket._websocket_handler": "27f120df4d717a24",
    "engineio.async_socket.AsyncSocket._upgrade_websocket": "820b83efe96adb98",
    "engineio.async_socket.AsyncSocket.send": "0437276ccba7ab09",
    "engineio.async_socket.AsyncSocket.receive": "a91ae36ec2fb5340",
    "engineio.async_socket.AsyncSocket.close": "faa2e93902543244",
    "engineio.async_socket.AsyncSocket._send_ping": "67db82a704ea49d0",
    "engineio.async_socket.AsyncSocket.schedule_ping": "fe316639159cd70d",
    "engineio.base_socket.BaseSocket.__init__": "8532b631a4dc815f",
    "engineio.async_server.AsyncServer._handle_connect": "5bd7edc1d1ae115a",
    "engineio.async_drivers.aiohttp.WebSocket": "96fbcb0d1f45694a",
    "socketio.async_server.AsyncServer._handle_eio_message": "bef50fc0e1635921",
    "socketio.async_server.AsyncServer._handle_event": "65178105ef8b593d",
    "socketio.base_manager.BaseManager.is_connected": "d37721466718b4f4",
    "socketio.base_manager.BaseManager.sid_from_eio_sid": "15467098a36bcd71",
    "socketio.base_manager.BaseManager.eio_sid_from_sid": "b0c0aeb5430d5248",
    "socketio.msgpack_packet.MsgPackPacket": "5d56cfefcd1c2449",
    # aiohttp 3.14: game_server.ws_feed.LeanWebSocketResponse._post_start mirrors it
    "aiohttp.web_ws.WebSocketResponse._post_start": "5537cb3f2ecae6ed",
}


def _version(dist: str) -> tuple[int, int]:
    major, minor = importlib.metadata.version(dist).split(".")[:2]
    return int(major), int(minor)


def _source_hash(dotted: str) -> str:
    module, _, rest = dotted.partition(".")
    obj: Any = __import__(module)
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def test_upstream_internals_are_the_ones_fastpath_was_written_against() -> None:
    """If this fails, python-engineio/python-socketio changed code that fastpath.py copies
    or hooks into: re-read the named functions against fastpath.py, fix it, update pins."""
    assert ENGINEIO_RANGE[0] <= _version("python-engineio") < ENGINEIO_RANGE[1]
    assert SOCKETIO_RANGE[0] <= _version("python-socketio") < SOCKETIO_RANGE[1]
    changed = {name: _source_hash(name) for name, pin in PINNED_SOURCES.items()
               if _source_hash(name) != pin}
    assert not changed, f"upstream changed (new hashes): {changed}"
    upgrade = inspect.getsource(engineio.async_socket.AsyncSocket._upgrade_websocket)
    assert "self.server._async['websocket'](" in upgrade and "self._websocket_handler" in upgrade
    sio = fastpath.make_server(serializer="msgpack", async_mode="aiohttp")
    assert isinstance(sio.eio, LeanEngineServer)
    assert sio.eio._async["websocket"] is LeanWebSocket
    assert engineio.AsyncServer(async_mode="aiohttp")._async["websocket"] is eio_aiohttp.WebSocket
    assert sio.eio.handlers["message"] == sio._handle_eio_message
    assert sio.eio.fast_message == sio.fast_message
    sock = engineio.async_socket.AsyncSocket(sio.eio, "x")
    for name in ("queue", "last_ping", "closing", "closed", "connected", "upgraded"):
        assert hasattr(sock, name), name


@pytest.mark.parametrize("size", [0, 1, 90, 255, 256, 65535, 65536])
def test_sender_encodes_exactly_like_python_socketio(size: int) -> None:
    sio = fastpath.make_server(serializer="msgpack", async_mode="aiohttp")
    sender = FrameSender(sio)
    payload = bytes(i % 251 for i in range(size))
    expected = MsgPackPacket(2, data=["frames", payload], namespace="/").encode()
    assert sender.lean and sender.encode(payload) == expected
    assert sender.encode(payload) is sender.encode(payload)  # cached per payload object


# -- end to end ------------------------------------------------------------------------
@pytest.fixture
async def fast_server(server_settings: dict[str, Any], redis: Any,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningServer]:
    """The test server with the fast paths wired as app.py is meant to wire them."""
    monkeypatch.setattr(socketio, "AsyncServer", FastServer)
    running = await start_server(Settings(**server_settings))
    try:
        deps = running.app[DEPS]
        assert isinstance(deps.sio, FastServer)
        if "/" not in deps.sio._frame_handlers:
            ns = deps.namespace
            deps.sio.on_frame_fast("/", getattr(ns, "take_frame", ns.on_frame))
        if not isinstance(getattr(deps.relay._send, "__self__", None), FrameSender):
            deps.relay._send = FrameSender(deps.sio).send
        yield running
    finally:
        await running.stop()


def _spy(deps: Deps) -> list[str]:
    """Record the sid of every frame the fast path takes."""
    calls: list[str] = []
    inner = deps.sio._frame_handlers["/"]

    def spy(sid: str, data: Any = None) -> Any:
        calls.append(sid)
        return inner(sid, data)

    deps.sio.on_frame_fast("/", spy)
    return calls


async def test_frames_relay_byte_exact_as_bin_and_ext0(
        fast_server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    deps = fast_server.app[DEPS]
    taken = _spy(deps)
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    ann, ack_a = await join_room(fast_server.base_url, api, sio_clients, room_id, "Ann")
    bob, ack_b = await join_room(fast_server.base_url, api, sio_clients, room_id, "Bob")
    spec, _ = await join_room(fast_server.base_url, api, sio_clients, room_id, "Spec", "spectator")
    sent_a = [frame(i, 0.1) for i in range(5)]
    sent_b = [frame(100 + i, 0.8) for i in range(5)]
    for fa, fb in zip(sent_a, sent_b, strict=True):
        await ann.send("frame", fa)  # msgpack bin
        # notepack.io's Node.js buffers; a 1-tuple, as ExtType itself is a tuple (= 2 args)
        await bob.send("frame", (msgpack.ExtType(0, fb),))
        await asyncio.sleep(0.05)  # > one tick: one batch per frame
    slot_a, slot_b = ack_a["slot"], ack_b["slot"]
    await bob.wait_for("frames", lambda d: (slot_a, sent_a[-1]) in decode_batch(d)[1])
    await ann.wait_for("frames", lambda d: (slot_b, sent_b[-1]) in decode_batch(d)[1])
    await spec.wait_for("frames", lambda d: (slot_b, sent_b[-1]) in decode_batch(d)[1])
    assert [f for s, f in received_frames(bob) if s == slot_a] == sent_a
    assert [f for s, f in received_frames(ann) if s == slot_b] == sent_b
    assert [f for s, f in received_frames(spec) if s == slot_a] == sent_a
    assert [f for s, f in received_frames(spec) if s == slot_b] == sent_b
    assert all(s != slot_a for s, _ in received_frames(ann))
    assert len(taken) == 10  # every frame took the fast path
    sender = deps.relay._send.__self__
    assert sender.direct_count > 0 and sender.no_socket_count == 0


async def test_bad_frames_are_counted_and_the_sender_cut_off(
        fast_server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    deps = fast_server.app[DEPS]
    taken = _spy(deps)
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    good, ack_g = await join_room(fast_server.base_url, api, sio_clients, room_id, "Good")
    watcher, _ = await join_room(fast_server.base_url, api, sio_clients, room_id, "Watcher")
    bad, _ = await join_room(fast_server.base_url, api, sio_clients, room_id, "Bad")
    garbage = [b"", b"\x00" * 72, frame(1)[:-1], b"\xa1" * 72, "text", 12345, [1, 2],
               (msgpack.ExtType(1, frame(2)),), None]
    for i in range(1000):
        if bad.disconnected.is_set():
            break
        try:
            await bad.send("frame", garbage[i % len(garbage)])
        except Exception:
            break  # the server hung up mid-flood
    await asyncio.wait_for(bad.disconnected.wait(), 5)
    assert any("disconnecting" in e["message"] for e in bad.of("error"))
    stats = deps.namespace.stats
    assert stats["clients_cut_off"] == 1
    assert stats["frames_dropped_length"] > 0 and stats["frames_dropped_kind"] > 0
    assert stats["frames_dropped_type"] > 0
    assert len(taken) >= 100
    assert all(len(f) == 72 and f[0] == 0xA1 for _, f in received_frames(watcher))
    await good.send("frame", frame(7))
    await watcher.wait_for("frames", lambda d: (ack_g["slot"], frame(7)) in decode_batch(d)[1])


async def test_other_events_take_the_normal_path(
        fast_server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    deps = fast_server.app[DEPS]
    taken = _spy(deps)
    token, _ = await api.guest("Ed")
    ed = SioClient()
    sio_clients.append(ed)
    await ed.connect(fast_server.base_url, token)
    ts = await ed.call("time_sync", {"client_ms": 12.5})
    assert ts["ok"] and ts["client_ms"] == 12.5
    assert (await ed.call("room_join", {"room_id": "nope"}))["error"]["code"] == "bad_request"
    # a frame asking for an ack goes the normal way: the handler runs and the ack comes back
    assert await ed.call("frame", frame(1)) is None
    await ed.send("frame", frame(2))  # in no room: dropped, connection stays up
    assert (await ed.call("time_sync", {"client_ms": 1}))["ok"]
    assert len(taken) == 1
    assert deps.namespace.stats["frames_dropped_not_member"] == 2


async def test_queued_events_are_not_overtaken_by_direct_writes(
        fast_server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    deps = fast_server.app[DEPS]
    token, _ = await api.guest("Ord")
    client = SioClient()
    sio_clients.append(client)
    await client.connect(fast_server.base_url, token)
    sid = next(iter(deps.namespace.connections))
    eio_sid = deps.sio.manager.eio_sid_from_sid(sid, "/")
    sender = FrameSender(deps.sio, frames_queue_max=100)  # ordering only: never drop here
    for i in range(20):
        # what sio.emit does per recipient, minus its task hop: the event sits in the
        # engine.io queue, the writer has not run yet
        await deps.sio._send_packet(eio_sid, deps.sio.packet_class(
            2, data=["error", {"code": "n", "message": str(i)}], namespace="/"))
        await sender.send(sid, bytes([i]))
    await client.wait_for("frames", lambda d: d == bytes([19]))
    order = [(e, d["message"] if e == "error" else d[0]) for e, d in client.events
             if e in ("error", "frames")]
    assert order == [x for i in range(20) for x in (("error", str(i)), ("frames", i))]
    assert sender.queued_count == 20  # each sat behind the queued error event


async def test_a_client_that_stops_reading_is_bounded_then_cut_off(
        fast_server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    """Packets pile up in a socket's queue while its writer cannot send (here: it does not
    get to run): frames batches are dropped past frames_queue_max pending packets, and past
    backlog_max the client is cut off (its transport aborted, like a dropped connection)."""
    deps = fast_server.app[DEPS]
    token, _ = await api.guest("Slow")
    client = SioClient()
    sio_clients.append(client)
    await client.connect(fast_server.base_url, token)
    sid = next(iter(deps.namespace.connections))
    eio_sid = deps.sio.manager.eio_sid_from_sid(sid, "/")
    sender = FrameSender(deps.sio, frames_queue_max=4, backlog_max=40)

    async def pile(n: int) -> None:
        for i in range(n):
            await deps.sio._send_packet(eio_sid, deps.sio.packet_class(
                2, data=["error", {"code": "n", "message": str(i)}], namespace="/"))

    await pile(3)
    await sender.send(sid, b"kept")  # 3 pending: still queued
    await pile(2)
    for _ in range(5):
        await sender.send(sid, b"dropped")  # 6 pending: latest-wins, not queued
    assert (sender.queued_count, sender.dropped_slow_count) == (1, 5)
    await client.wait_for("frames", lambda d: d == b"kept")
    assert b"dropped" not in client.of("frames")

    await pile(45)
    await sender.send(sid, b"x")
    assert sender.slow_disconnects == 1
    await asyncio.wait_for(client.disconnected.wait(), 5)
    await sender.send(sid, b"y")  # gone: counted, nothing else
    assert sender.slow_disconnects == 1


# -- the lean engine.io loop alone -------------------------------------------------------
async def _engineio_app(server: Any) -> tuple[web.AppRunner, str]:
    app = web.Application()
    server.attach(app)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"ws://{host}:{port}/engine.io/?EIO=4&transport=websocket"


async def _wait(predicate: Callable[[], bool], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("server_class", [engineio.AsyncServer, LeanEngineServer])
async def test_loop_delivers_and_cuts_off_a_client_that_stops_answering_pings(
        server_class: type[engineio.AsyncServer]) -> None:
    """Same contract as engine.io's own loop: messages reach the handler; a client that
    goes silent (no pong) is disconnected once, and its connection closed, within
    ping_interval + ping_timeout (+ engine.io's check interval)."""
    server = server_class(async_mode="aiohttp", transports=["websocket"], ping_interval=1,
                          ping_timeout=1)
    got: list[Any] = []
    gone: list[tuple[str, str]] = []

    async def on_message(sid: str, data: Any) -> None:
        got.append(data)

    async def on_disconnect(sid: str, reason: str) -> None:
        gone.append((sid, reason))

    server.on("message", on_message)
    server.on("disconnect", on_disconnect)
    runner, url = await _engineio_app(server)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            opened = await ws.receive_str()
            assert opened.startswith("0")
            await ws.send_bytes(b"\x01\x02")
            await ws.send_str("4hello")
            ping = await ws.receive_str(timeout=3)
            assert ping == "2"
            await ws.send_str("3")  # one pong, then silence
            await _wait(lambda: len(got) == 2, 2)
            assert got == [b"\x01\x02", "hello"]
            t0 = time.monotonic()
            await _wait(lambda: bool(gone), 6)
            async with asyncio.timeout(6):
                while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE,
                                                        aiohttp.WSMsgType.CLOSED,
                                                        aiohttp.WSMsgType.ERROR):
                    pass
            assert time.monotonic() - t0 < 6
        await _wait(lambda: not server.sockets, 3)
        assert len(gone) == 1 and gone[0][1] in (server.reason.PING_TIMEOUT,
                                                 server.reason.TRANSPORT_CLOSE)
        assert not getattr(server, "links", {})
    finally:
        await server.shutdown()
        await runner.cleanup()


async def test_an_idle_lean_connection_holds_no_task_and_still_pings() -> None:
    """Between packets a lean connection has no writer task and no ping task (a loop
    timer sends the PING), yet pings keep coming every ping_interval, packets the server
    sends arrive in order, and the environ is trimmed to ENVIRON_KEPT."""
    server = LeanEngineServer(async_mode="aiohttp", transports=["websocket"],
                              ping_interval=0.3, ping_timeout=2)
    environs: list[dict[str, Any]] = []

    async def on_connect(sid: str, environ: dict[str, Any]) -> None:
        environs.append(environ)

    server.on("connect", on_connect)
    runner, url = await _engineio_app(server)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url + "&x=1") as ws:
            assert (await ws.receive_str()).startswith("0")
            sid = next(iter(server.sockets))
            link = server.links[sid]
            t0 = time.monotonic()
            for _ in range(3):
                assert await ws.receive_str(timeout=2) == "2"
                await ws.send_str("3")
                await _wait(lambda: link.writer is None, 1)
                busy = [t for t in asyncio.all_tasks()
                        if t.get_coro().__qualname__ in (  # type: ignore[union-attr]
                            "_drain", "AsyncSocket._send_ping", "_write_queue")]
                assert not busy
            assert 0.8 < time.monotonic() - t0 < 2.5  # three pings ~0.3 s apart
            for word in ("a", "b", "c"):
                await server.send(sid, word)
            assert [await ws.receive_str(timeout=2) for _ in range(3)] == ["4a", "4b", "4c"]
        await _wait(lambda: not server.sockets, 3)
        environ = environs[0]
        assert set(environ) <= fastpath.ENVIRON_KEPT and "aiohttp.request" not in environ
        assert "x=1" in environ["QUERY_STRING"]
    finally:
        await server.shutdown()
        await runner.cleanup()


class _Transport:
    aborted_at: float | None = None

    def abort(self) -> None:
        self.aborted_at = time.monotonic()


class _Socket:
    def __init__(self) -> None:
        self.closed = False
        self.queue: asyncio.Queue[Any] = asyncio.Queue()


async def test_watchdog_aborts_only_after_the_silence_limit() -> None:
    transport, sock = _Transport(), _Socket()
    t0 = time.monotonic()
    link = WsLink(sock, None, transport, 0.2)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    while time.monotonic() - t0 < 0.5:  # traffic keeps it alive well past the limit
        link.last_rx = loop.time()
        await asyncio.sleep(0.02)
    assert transport.aborted_at is None and not link.expired and sock.queue.empty()
    quiet = time.monotonic()
    await _wait(lambda: link.expired, 1)
    assert transport.aborted_at is not None and 0.15 < transport.aborted_at - quiet < 0.4
    link.stop()


async def test_watchdog_stops_the_writer_of_a_closed_socket_that_keeps_talking() -> None:
    transport, sock = _Transport(), _Socket()
    link = WsLink(sock, None, transport, 0.2)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    sock.closed = True  # engine.io closed it (ping timeout) but frames keep coming
    t0 = time.monotonic()
    while sock.queue.empty() and time.monotonic() - t0 < 1:
        link.last_rx = loop.time()
        await asyncio.sleep(0.02)
    assert sock.queue.get_nowait() is None  # the writer's stop signal
    assert time.monotonic() - t0 < 0.5 and transport.aborted_at is None
    link.stop()


async def test_silent_member_is_dropped_and_the_room_told(
        fast_server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    eio = fast_server.app[DEPS].sio.eio
    eio.ping_interval, eio.ping_timeout = 1, 1
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    watcher, _ = await join_room(fast_server.base_url, api, sio_clients, room_id, "Watcher")
    token, _ = await api.guest("Mute")
    url = fast_server.base_url + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        assert (await ws.receive_str()).startswith("0")
        await ws.send_bytes(msgpack.packb({"type": 0, "nsp": "/", "data": {"token": token}}))
        assert msgpack.unpackb(await ws.receive_bytes())["type"] == 0
        await ws.send_bytes(msgpack.packb({"type": 2, "nsp": "/", "id": 1,
                                           "data": ["room_join", {"room_id": room_id}]}))
        while True:  # room_state, then the ack
            reply = msgpack.unpackb(await ws.receive_bytes(timeout=5))
            if reply["type"] == 3:
                break
        slot = reply["data"][0]["slot"]
        # silence: no pongs, no frames; the server must notice on its own
        dropped = await watcher.wait_for(
            "member_state", lambda d: d["slot"] == slot and not d["connected"], timeout=8)
        assert dropped["connected"] is False
        async with asyncio.timeout(5):
            while (await ws.receive()).type in (aiohttp.WSMsgType.TEXT,
                                                aiohttp.WSMsgType.BINARY):
                pass
    await _wait(lambda: len(eio.links) == 1, 3)  # only the watcher's websocket is left


def test_the_browser_parser_reads_our_disconnect_and_events() -> None:
    """socket.io-msgpack-parser (the browser's) decodes what the server sends: a DISCONNECT
    (python-socketio's stock packet carries ``data: nil``, which it rejects) and an event."""
    node = shutil.which("node")
    web = REPO_ROOT / "web_client"
    if node is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    ensure_installed(web)
    packets = [BrowserMsgPackPacket(1, namespace="/").encode(),
               BrowserMsgPackPacket(2, data=["frames", b"\x01\x02"], namespace="/").encode()]
    script = (
        "const {Decoder} = require('socket.io-msgpack-parser');"
        "const out = [];"
        "for (const hex of process.argv.slice(1)) {"
        "  const d = new Decoder(); d.on('decoded', p => out.push(p));"
        "  try { d.add(Buffer.from(hex, 'hex')); } catch (e) { out.push({error: String(e)}); }"
        "}"
        "console.log(JSON.stringify(out));")
    done = subprocess.run([node, "-e", script, *(p.hex() for p in packets)], cwd=web,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    decoded = json.loads(done.stdout)
    assert decoded[0] == {"type": 1, "nsp": "/"}, decoded
    assert decoded[1]["type"] == 2 and decoded[1]["data"][0] == "frames", decoded
    # the stock packet is what the browser refused
    stock = MsgPackPacket(1, namespace="/").encode()
    assert msgpack.unpackb(stock) == {"type": 1, "data": None, "nsp": "/"}
