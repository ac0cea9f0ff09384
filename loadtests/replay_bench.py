"""Ghost replay benchmark (issue 5): server CPU of N rooms each replaying one ghost.

``python -m loadtests.replay_bench [--ghosts 100] [--seconds 20] [--warmup 3]
[--server-cpu 0 --client-cpu 1] [--no-live]``

One fresh server subprocess (``studyverse serve`` with embedded Redis/Postgres under a
temporary directory, default settings) pinned to ``--server-cpu``; this process (all the
clients, lean ``loadtests.wsclient`` connections) runs on ``--client-cpu``. Setup:

- one recording, inserted straight into Postgres (the server's embedded cluster, over its
  unix socket): the real Live Link take (``loadtests.playback``, 30 fps, looped if the run
  needs more than its 134 s) fed through ``avatars.timeline.ChunkWriter`` exactly as the
  recorder does (10 Hz samples, 60 s chunks), attention ``focused`` from t = 0, visibility
  ``link``, owned by a guest "Alex";
- N rooms of capacity 2, each with its owner connected and joined as a member (sends
  nothing), and a 60 min focus phase started (``timer_start``, a default focus choice).

Then three windows of ``--seconds`` each, server CPU from /proc (utime + stime, % of one
core):

1. baseline: the owners and running timers, no ghosts;
2. ghosts: every owner adds the recording with ``ghost_add`` (the phase already runs, so
   each ghost plays from the phase's current time), ``--warmup`` s, then the window; the
   ghosts are removed afterwards (``ghost_remove``);
3. live (unless ``--no-live``): for comparison, a live member per room instead of the ghost,
   streaming the same take at 10 fps (so the owner receives as many frames as from the
   ghost); a live member also costs frame validation, attention and recording.

Printed per window: server CPU %, the delta over the baseline, frames each owner received
per second from the other slot, and control errors. Exits 1 only if it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from avatars.frame import decode_batch
from avatars.timeline import ChunkBlob, ChunkWriter
from loadtests.playback import Player, load_player, monotonic_ms
from loadtests.procs import ServerProcess, cpu_seconds, free_port, rss_mb
from loadtests.wsclient import LeanClient, SocketIOError

FOCUS_MIN = 60  # one of the default focus choices: the phase outlasts the run
LIVE_FPS = 10.0  # what a ghost sends (the timeline's 10 Hz)
GATE = 16  # concurrent setup requests


@dataclass
class Window:
    """One measured window: server CPU (% of one core), frames/s per owner, RSS MiB."""

    name: str
    cpu_pct: float
    fps_per_owner: float
    rss_mib: float
    errors: int


class Owner:
    """A room owner on a lean client, counting the frames it receives."""

    def __init__(self, token: str, room_id: str) -> None:
        self.token, self.room_id = token, room_id
        self.frames = 0
        self.errors = 0
        self.client: LeanClient | None = None

    def on_frames(self, payload: bytes) -> None:
        self.frames += len(decode_batch(payload)[1])

    def on_event(self, name: str, data: Any) -> None:
        if name == "error":
            self.errors += 1


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any],
                token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status != 201:
            raise RuntimeError(f"POST {url}: HTTP {resp.status} {data}")
        return dict(data)


async def _gated(n: int, make: Callable[[int], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(GATE)

    async def one(i: int) -> Any:
        async with gate:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def database_url(pg_dir: Path) -> str:
    """The libpq URI of the embedded cluster in ``pg_dir``, from its postmaster.pid (line 4
    port, line 5 socket directory; PostgreSQL's own layout)."""
    lines = (pg_dir / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3].strip(), lines[4].strip()
    return f"postgresql://postgres:@/postgres?host={socket_dir}&port={port}"


def build_chunks(player: Player, duration_ms: int, start_ms: int) -> list[ChunkBlob]:
    """The take, looped to ``duration_ms``, cut into stored chunks as the recorder does
    (frames at their recorded times from ``start_ms``, attention ``focused`` at 0)."""
    writer = ChunkWriter(start_ms)
    writer.add_attention("focused", start_ms)
    k = 0
    while (t := player.time_of(k)) < duration_ms:
        at = start_ms + int(t)
        writer.add_frame(player.frame(k, k, at), at)
        k += 1
    return writer.close(start_ms + duration_ms)


async def insert_recording(url: str, user_id: str, player: Player, duration_ms: int) -> str:
    """Insert a finished ``link`` recording of ``user_id`` (no room); returns its id."""
    start_ms = int(time.time() * 1000) - duration_ms - 60_000
    blobs = await asyncio.to_thread(build_chunks, player, duration_ms, start_ms)
    rid = uuid.uuid4()
    ts = datetime.fromtimestamp(start_ms / 1000, UTC)
    end = datetime.fromtimestamp((start_ms + duration_ms) / 1000, UTC)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO ghost_recordings (id, user_id, set_started_at, phase_index, "
                "started_at, ended_at, duration_ms, visibility, focused_ms, present_ms, "
                "chunk_count, bytes) VALUES ($1, $2, $3, 0, $3, $4, $5, 'link', $5, $5, $6, "
                "$7)", rid, uuid.UUID(user_id), ts, end, duration_ms, len(blobs),
                sum(len(b.data) for b in blobs))
            await conn.executemany(
                "INSERT INTO ghost_chunks (recording_id, idx, start_ms, samples, data) "
                "VALUES ($1, $2, $3, $4, $5)",
                [(rid, b.index, b.start_ms, b.samples, b.data) for b in blobs])
    finally:
        await conn.close()
    return str(rid)


async def _call(client: LeanClient, event: str, data: Any) -> dict[str, Any]:
    ack = await client.call(event, data, timeout_s=30)
    if not isinstance(ack, dict) or not ack.get("ok"):
        raise RuntimeError(f"{event}: {ack}")
    return ack


async def _connect(http: aiohttp.ClientSession, base_url: str, token: str, room_id: str,
                   owner: Owner | None = None) -> LeanClient:
    client = LeanClient(http, base_url, on_frames=owner.on_frames if owner else None,
                        on_event=owner.on_event if owner else None)
    await client.connect({"token": token}, timeout_s=30)
    await _call(client, "room_join", {"room_id": room_id, "role": "member"})
    return client


class Bench:
    """The run (module docstring); ``windows`` fills as it goes."""

    def __init__(self, args: argparse.Namespace, server: ServerProcess, player: Player,
                 data_dir: Path) -> None:
        self.args, self.server, self.player, self.data_dir = args, server, player, data_dir
        self.owners: list[Owner] = []
        self.windows: list[Window] = []

    async def measure(self, name: str) -> Window:
        span = self.args.seconds
        frames0 = sum(o.frames for o in self.owners)
        errors0 = sum(o.errors for o in self.owners)
        t0, c0 = time.monotonic(), cpu_seconds(self.server.pid)
        await asyncio.sleep(span)
        t1, c1 = time.monotonic(), cpu_seconds(self.server.pid)
        frames = sum(o.frames for o in self.owners) - frames0
        w = Window(name, (c1 - c0) / (t1 - t0) * 100.0,
                   frames / max(len(self.owners), 1) / (t1 - t0), rss_mb(self.server.pid),
                   sum(o.errors for o in self.owners) - errors0)
        self.windows.append(w)
        print(f"  {name}: server CPU {w.cpu_pct:.1f} %, {w.fps_per_owner:.1f} frames/s "
              f"per owner", flush=True)
        return w

    async def run(self) -> None:
        a, base = self.args, self.server.base_url
        n = a.ghosts
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            alex = await _post(http, f"{base}/api/auth/guest", {"display_name": "Alex"})
            duration_ms = max(int(self.player.period_ms),
                              int((2 * (a.seconds + a.warmup) + 60) * 1000))
            rid = await insert_recording(database_url(self.data_dir / "pg"),
                                         str(alex["user"]["id"]), self.player, duration_ms)

            async def setup(i: int) -> Owner:
                body = await _post(http, f"{base}/api/auth/guest", {"display_name": f"o{i}"})
                token = str(body["access_token"])
                room = await _post(http, f"{base}/api/rooms",
                                   {"name": f"replay {i}", "capacity": 2}, token)
                owner = Owner(token, str(room["room_id"]))
                owner.client = await _connect(http, base, token, owner.room_id, owner)
                await _call(owner.client, "timer_start", {"focus_min": FOCUS_MIN,
                                                          "break_min": 5, "cycles": 1})
                return owner

            self.owners = await _gated(n, setup)
            print(f"  {n} rooms: owners joined, focus phases running; recording {rid} "
                  f"({duration_ms / 1000:.0f} s)", flush=True)
            await asyncio.sleep(a.warmup)
            await self.measure("baseline")

            async def add(i: int) -> None:
                client = self.owners[i].client
                assert client is not None
                await _call(client, "ghost_add", {"recording_id": rid})

            t = time.monotonic()
            await _gated(n, add)
            print(f"  {n} ghosts added in {time.monotonic() - t:.1f} s", flush=True)
            await asyncio.sleep(a.warmup)
            await self.measure("ghosts")

            async def remove(i: int) -> None:
                client = self.owners[i].client
                assert client is not None
                await _call(client, "ghost_remove", {"recording_id": rid})

            await _gated(n, remove)
            if not a.no_live:
                await self.live(http, base)

    async def live(self, http: aiohttp.ClientSession, base: str) -> None:
        """Window 3: a live member per room streaming the take at 10 fps."""
        async def join(i: int) -> LeanClient:
            body = await _post(http, f"{base}/api/auth/guest", {"display_name": f"live{i}"})
            return await _connect(http, base, str(body["access_token"]),
                                  self.owners[i].room_id)

        members = await _gated(len(self.owners), join)
        stop = asyncio.Event()

        async def stream() -> None:
            loop = asyncio.get_running_loop()
            start, seq = loop.time(), 0
            while not stop.is_set():
                now_ms = (loop.time() - start) * 1000.0
                for i, m in enumerate(members):
                    k = self.player.index_at(now_ms + self.player.offset_ms(i, len(members)))
                    await m.emit_bytes("frame", self.player.frame(k, seq, monotonic_ms()))
                seq += 1
                await asyncio.sleep(max(0.0, start + seq / LIVE_FPS - loop.time()))

        task = asyncio.create_task(stream())
        try:
            await asyncio.sleep(self.args.warmup)
            await self.measure("live")
        finally:
            stop.set()
            await task
            await asyncio.gather(*(m.close() for m in members))


def table(windows: list[Window], ghosts: int) -> str:
    """The result table; delta = window CPU - baseline CPU (percentage points)."""
    base = windows[0].cpu_pct
    lines = [f"{'window':>8} {'rooms':>5} {'srvCPU%':>7} {'delta':>6} {'frames/s/owner':>14} "
             f"{'srvRSS':>7} {'errors':>6}"]
    for w in windows:
        lines.append(f"{w.name:>8} {ghosts:>5} {w.cpu_pct:>7.1f} {w.cpu_pct - base:>+6.1f} "
                     f"{w.fps_per_owner:>14.1f} {w.rss_mib:>7.1f} {w.errors:>6}")
    return "\n".join(lines)


def _cpus(text: str) -> set[int] | None:
    return {int(c) for c in text.split(",")} if text else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="replay_bench", description=__doc__.splitlines()[0])
    p.add_argument("--ghosts", type=int, default=100, help="rooms, one ghost each")
    p.add_argument("--seconds", type=float, default=20.0, help="each measured window, s")
    p.add_argument("--warmup", type=float, default=3.0, help="settling before a window, s")
    default_clients = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)) if c != 0)
    p.add_argument("--server-cpu", type=_cpus, default={0}, help="CPUs for the server")
    p.add_argument("--client-cpu", type=_cpus, default=_cpus(default_clients),
                   help="CPUs for this process and its clients (default: all but 0)")
    p.add_argument("--recording", help="take to replay (default: the Live Link CSV)")
    p.add_argument("--no-live", action="store_true", help="skip the live-member comparison")
    args = p.parse_args(argv)
    if args.ghosts < 1 or args.seconds <= 0 or args.warmup < 0:
        p.error("--ghosts >= 1, --seconds > 0, --warmup >= 0")
    if args.client_cpu:
        os.sched_setaffinity(0, args.client_cpu)
    try:
        player = load_player(args.recording)
    except (OSError, ValueError) as exc:
        print(f"replay_bench: cannot load the recording: {exc}", file=sys.stderr)
        return 1
    print(f"replay_bench: studyverse serve on CPUs {sorted(args.server_cpu or [])}, clients "
          f"on {sorted(args.client_cpu or [])}; {args.ghosts} rooms; warm-up {args.warmup:g} "
          f"s, windows {args.seconds:g} s", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="sv-replay-"))
    port = free_port()
    studyverse = Path(sys.executable).with_name("studyverse")
    env = {**os.environ, "STUDYVERSE_LOG_LEVEL": "WARNING"}
    for name in ("REDIS_URL", "DATABASE_URL"):  # always its own embedded engines
        env.pop(name, None)
    server = ServerProcess([str(studyverse), "serve", "--port", str(port), "--data-dir",
                            str(tmp / "data")], port=port, data_dir=tmp / "data",
                           log_path=tmp / "server.log", cpus=args.server_cpu, env=env)
    bench = Bench(args, server, player, tmp / "data")
    try:
        with server:
            asyncio.run(bench.run())
    except (RuntimeError, OSError, TimeoutError, SocketIOError, aiohttp.ClientError,
            asyncpg.PostgresError) as exc:
        print(f"replay_bench: failed: {type(exc).__name__}: {exc}\n{server.log_tail()}",
              file=sys.stderr)
        if len(bench.windows) < 2:
            return 1
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(bench.windows, args.ghosts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
