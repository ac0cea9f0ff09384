"""Idle-connection memory (issue 7 target: <= 16 KB RSS per idle connected client).

``python -m loadtests.idle_memory [--clients 2000] [--room-size 5] [--server-cpu 0
--client-cpu 1]``

One fresh ``studyverse serve`` subprocess with its own embedded Redis and PostgreSQL under a
temporary directory (the engines are separate processes: only the server's RSS is
measured). Setup: N guests in N / room-size rooms (HTTP API). Then the server's RSS (from
/proc, MiB) is read three times, each after a settle of a few seconds: before any client,
after N websocket connections authenticated (``loadtests.wsclient``; engine.io pings
answered, nothing else sent), and after each of them joined its room as a member (no
frames). Printed: RSS at
each stage and KB per client for connecting and for joining. Exits 1 only if it could not
run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import aiohttp

from loadtests.procs import ServerProcess, free_port, rss_mb
from loadtests.relay_bench import make_rooms
from loadtests.wsclient import LeanClient, SocketIOError

SETTLE_S = 3.0
TARGET_KB = 16.0


async def measure(server: ServerProcess, clients: int, size: int) -> list[tuple[str, float]]:
    """(stage, server RSS MiB) for: no clients, connected, joined."""
    rooms = await make_rooms(server.base_url, clients // size, size, naive=False)
    stages = []
    await asyncio.sleep(SETTLE_S)
    stages.append(("no clients", rss_mb(server.pid)))
    gate = asyncio.Semaphore(64)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def connect(token: str) -> LeanClient:
            async with gate:
                client = LeanClient(session, server.base_url)
                await client.connect({"token": token}, timeout_s=30)
                return client

        pairs = [(room_id, str(t)) for room_id, tokens in rooms for t in tokens]
        conns = list(await asyncio.gather(*(connect(t) for _, t in pairs)))
        await asyncio.sleep(SETTLE_S)
        stages.append((f"{len(conns)} connected", rss_mb(server.pid)))

        async def join(client: LeanClient, room_id: str) -> None:
            async with gate:
                ack = await client.call("room_join", {"room_id": room_id}, timeout_s=30)
                if not ack.get("ok"):
                    raise RuntimeError(f"join refused: {ack}")

        await asyncio.gather(*(join(c, r) for c, (r, _) in zip(conns, pairs, strict=True)))
        await asyncio.sleep(SETTLE_S)
        stages.append((f"{len(conns)} joined (idle members)", rss_mb(server.pid)))
        closed = sum(c.closed.is_set() for c in conns)
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    if closed:
        raise RuntimeError(f"{closed} clients were disconnected while idle")
    return stages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--room-size", type=int, default=5)
    p.add_argument("--server-cpu", type=lambda s: {int(c) for c in s.split(",")}, default={0})
    p.add_argument("--client-cpu", type=lambda s: {int(c) for c in s.split(",")}, default={1})
    args = p.parse_args(argv)
    if args.clients < args.room_size:
        p.error("--clients >= --room-size")
    if args.client_cpu:
        os.sched_setaffinity(0, args.client_cpu)
    tmp = Path(tempfile.mkdtemp(prefix="sv-idle-"))
    port = free_port()
    env = {**os.environ, "STUDYVERSE_LOG_LEVEL": "WARNING",
           "STUDYVERSE_WEB_CLIENT_BUILD": "false"}
    for name in ("REDIS_URL", "DATABASE_URL"):  # its own embedded engines
        env.pop(name, None)
    server = ServerProcess([str(Path(sys.executable).with_name("studyverse")), "serve",
                            "--port", str(port), "--data-dir", str(tmp / "data")], port=port,
                           data_dir=tmp / "data", log_path=tmp / "server.log",
                           cpus=args.server_cpu, env=env)
    try:
        with server:
            stages = asyncio.run(measure(server, args.clients, args.room_size))
    except (RuntimeError, OSError, TimeoutError, SocketIOError, aiohttp.ClientError) as exc:
        print(f"idle_memory: failed: {type(exc).__name__}: {exc}\n{server.log_tail()}",
              file=sys.stderr)
        return 1
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    n = (args.clients // args.room_size) * args.room_size
    print(f"idle_memory: {n} clients, server RSS (MiB) after {SETTLE_S:g} s settles")
    print(f"{'stage':<32} {'RSS MiB':>8} {'KB/client':>10}")
    base = stages[0][1]
    for stage, rss in stages:
        per = (rss - base) * 1024 / n if stage != stages[0][0] else 0.0
        print(f"{stage:<32} {rss:>8.1f} {per:>10.1f}")
    per_joined = (stages[-1][1] - base) * 1024 / n
    verdict = "within" if per_joined <= TARGET_KB else "OVER"
    print(f"  {verdict} the {TARGET_KB:g} KB per idle client target ({per_joined:.1f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
