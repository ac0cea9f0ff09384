"""The naive baseline for ``relay_bench --naive``: python-socketio relaying each frame at once.

``python -m loadtests.naive_relay --port P`` serves Socket.IO (websocket only, msgpack,
``async_handlers=False`` like the real server) with the default in-memory manager and no
auth, Redis or Postgres. ``room_join {room_id}`` gives the next slot of that room (no
capacity) and acks ``{ok: true, slot}``; every ``frame`` is wrapped at once into a one-entry
``frames`` batch (same bytes as the real server, so the bench's clients need no second code
path) and emitted to the room skipping the sender: (room size - 1) sends per inbound frame,
which is what the real server's per-room tick batching avoids (DESIGN.md section 7). Frames
are not validated. ``GET /healthz`` answers 200. Stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from typing import Any

import socketio
from aiohttp import web

from avatars.frame import encode_batch


def create_app() -> web.Application:
    """The naive relay as an aiohttp app."""
    sio = socketio.AsyncServer(serializer="msgpack", async_mode="aiohttp",
                               transports=["websocket"], async_handlers=False,
                               max_http_buffer_size=64 * 1024)
    app = web.Application()
    sio.attach(app)
    next_slot: dict[str, int] = {}
    members: dict[str, tuple[str, int]] = {}  # sid -> (room id, slot)

    async def room_join(sid: str, data: Any = None) -> dict[str, Any]:
        room_id = str(data.get("room_id")) if isinstance(data, dict) else ""
        if not room_id:
            return {"ok": False, "error": {"code": "bad_request", "message": "room_id"}}
        slot = next_slot.get(room_id, 0)
        next_slot[room_id] = slot + 1
        members[sid] = (room_id, slot)
        await sio.enter_room(sid, room_id)
        return {"ok": True, "slot": slot}

    async def frame(sid: str, data: Any = None) -> None:
        member = members.get(sid)
        if member is None or not isinstance(data, bytes):
            return
        batch = encode_batch(time.time() * 1000.0, [(member[1], data)])
        await sio.emit("frames", batch, room=member[0], skip_sid=sid)

    async def disconnect(sid: str, *reason: Any) -> None:
        members.pop(sid, None)

    sio.on("room_join", room_join)
    sio.on("frame", frame)
    sio.on("disconnect", disconnect)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "node_id": "naive"})

    app.router.add_get("/healthz", healthz)
    return app


async def serve(host: str, port: int) -> None:
    """Run until SIGINT/SIGTERM."""
    runner = web.AppRunner(create_app(), access_log=None, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"naive_relay: serving on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
