"""Join storm (issue 7): N clients join rooms within a few seconds; no lost member, no
duplicate slot.

``python -m loadtests.join_storm [--clients 1000] [--seconds 10] [--room-size 5]
[--nodes 1] [--server-cpu 0 --client-cpu 1]``

Fresh ``studyverse serve`` subprocesses (``--nodes`` of them on one embedded Redis and
Postgres run by this tool under a temporary directory, or ``REDIS_URL``/``DATABASE_URL``
from the environment), pinned to ``--server-cpu``. Setup (not timed): N guests and
N / room-size rooms (capacity = room size) through the HTTP API, and N lean websocket
connections (``loadtests.wsclient``), spread over the nodes. Then the storm: every client
sends ``room_join`` at an instant spread uniformly over ``--seconds`` (plus a second wave
of 10 % extra joins of already-full rooms, which must be refused ``room_full``). After it,
every room is read back (``GET /api/rooms/{id}``).

Printed: joins ok / refused / failed, join ack latency p50/p99/max (ms), and the checks:
every room has exactly room-size members, no slot twice, every member's user among those
that were told ok, every over-capacity join refused. Exits 1 only if it could not run;
a failed check is printed as FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from game_server.engines import EmbeddedPostgres, EmbeddedRedis
from loadtests.procs import ServerProcess, cpu_seconds, free_port
from loadtests.relay_bench import make_rooms
from loadtests.wsclient import LeanClient, SocketIOError

OVERFLOW = 0.10  # extra joins of full rooms, as a share of N


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def _connect_all(bases: list[str], tokens: list[str],
                       session: aiohttp.ClientSession) -> list[LeanClient]:
    gate = asyncio.Semaphore(64)

    async def one(i: int, token: str) -> LeanClient:
        async with gate:
            client = LeanClient(session, bases[i % len(bases)])
            await client.connect({"token": token}, timeout_s=30)
            return client

    return list(await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens))))


async def storm(bases: list[str], clients: int, seconds: float, size: int) -> dict[str, Any]:
    """Run the storm against ``bases`` (node URLs); returns the tallies and checks."""
    rooms = await make_rooms(bases[0], clients // size, size, naive=False)
    members = [(room_id, str(token)) for room_id, tokens in rooms for token in tokens]
    extra = [(rooms[i % len(rooms)][0], rooms[i % len(rooms)][1][0])
             for i in range(int(clients * OVERFLOW))]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        extra_tokens = []
        for i in range(len(extra)):  # new guests: the over-capacity joiners
            async with session.post(f"{bases[0]}/api/auth/guest",
                                    json={"display_name": f"late-{i}"}) as resp:
                extra_tokens.append(str((await resp.json())["access_token"]))
        conns = await _connect_all(bases, [t for _, t in members] + extra_tokens, session)
        latencies: list[float] = []
        outcome: Counter[str] = Counter()
        ok_slots: dict[str, list[int]] = {}
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.5
        plan = [(start + random.random() * seconds, conns[i], room_id)
                for i, (room_id, _) in enumerate(members)]
        plan += [(start + seconds + 0.5 + random.random(), conns[len(members) + i], room_id)
                 for i, (room_id, _) in enumerate(extra)]

        async def join(at: float, client: LeanClient, room_id: str, late: bool) -> None:
            await asyncio.sleep(max(0.0, at - loop.time()))
            t0 = time.perf_counter()
            try:
                ack = await client.call("room_join", {"room_id": room_id}, timeout_s=30)
            except (TimeoutError, SocketIOError):
                outcome["failed"] += 1
                return
            latencies.append((time.perf_counter() - t0) * 1000)
            if ack.get("ok"):
                outcome["late_ok" if late else "ok"] += 1
                ok_slots.setdefault(room_id, []).append(int(ack["slot"]))
            else:
                code = ack["error"]["code"]
                outcome[("late_" if late else "") + code] += 1

        await asyncio.gather(*(join(at, c, r, i >= len(members))
                               for i, (at, c, r) in enumerate(plan)))
        checks = await _check(session, bases[0], rooms, size, ok_slots)
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return {"outcome": outcome, "latencies": latencies, "checks": checks,
            "rooms": len(rooms), "joins": len(plan)}


async def _check(session: aiohttp.ClientSession, base: str, rooms: list[tuple[str, list[Any]]],
                 size: int, ok_slots: dict[str, list[int]]) -> dict[str, bool]:
    full = dup = mismatch = 0
    for room_id, tokens in rooms:
        async with session.get(f"{base}/api/rooms/{room_id}",
                               headers={"Authorization": f"Bearer {tokens[0]}"}) as resp:
            body = await resp.json()
        slots = [m["slot"] for m in body["members"]]
        full += len(slots) == size
        dup += len(slots) != len(set(slots))
        mismatch += sorted(slots) != sorted(ok_slots.get(room_id, []))
    return {"every room full": full == len(rooms), "no duplicate slot": dup == 0,
            "members = joins told ok": mismatch == 0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--room-size", type=int, default=5)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--server-cpu", type=lambda s: {int(c) for c in s.split(",")}, default={0})
    p.add_argument("--client-cpu", type=lambda s: {int(c) for c in s.split(",")}, default={1})
    args = p.parse_args(argv)
    if args.clients < args.room_size or args.nodes < 1:
        p.error("--clients >= --room-size, --nodes >= 1")
    if args.client_cpu:
        os.sched_setaffinity(0, args.client_cpu)
    tmp = Path(tempfile.mkdtemp(prefix="sv-storm-"))
    redis_engine = pg_engine = None
    servers: list[ServerProcess] = []
    try:
        redis_url, database_url = os.environ.get("REDIS_URL"), os.environ.get("DATABASE_URL")
        if redis_url is None:
            redis_engine = EmbeddedRedis(tmp / "redis")
            redis_engine.start()
            redis_url = redis_engine.url
        if database_url is None:
            pg_engine = EmbeddedPostgres(tmp / "pg")
            database_url = pg_engine.start()
        studyverse = Path(sys.executable).with_name("studyverse")
        env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": database_url,
               "STUDYVERSE_REDIS_PREFIX": f"storm{os.getpid()}:",
               "STUDYVERSE_JWT_SECRET": "storm-" + "x" * 40, "STUDYVERSE_LOG_LEVEL": "WARNING",
               "STUDYVERSE_WEB_CLIENT_BUILD": "false"}
        for n in range(args.nodes):
            port = free_port()
            server = ServerProcess([str(studyverse), "serve", "--port", str(port),
                                    "--data-dir", str(tmp / f"node{n}")], port=port,
                                   data_dir=tmp / f"node{n}", log_path=tmp / f"node{n}.log",
                                   cpus=args.server_cpu, env=env)
            server.start()
            servers.append(server)
        cpu_before = sum(cpu_seconds(s.pid) for s in servers)
        began = time.monotonic()
        result = asyncio.run(storm([s.base_url for s in servers], args.clients,
                                   args.seconds, args.room_size))
        cpu_pct = 100 * (sum(cpu_seconds(s.pid) for s in servers) - cpu_before) / max(
            1e-9, time.monotonic() - began)
    except (RuntimeError, OSError, TimeoutError, aiohttp.ClientError) as exc:
        tails = "\n".join(s.log_tail() for s in servers)
        print(f"join_storm: failed: {type(exc).__name__}: {exc}\n{tails}", file=sys.stderr)
        return 1
    finally:
        for server in servers:
            server.stop()
        if pg_engine is not None:
            pg_engine.stop()
        if redis_engine is not None:
            redis_engine.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out, lat = result["outcome"], result["latencies"]
    print(f"join_storm: {args.clients} clients in {result['rooms']} rooms of "
          f"{args.room_size} on {args.nodes} node(s), joins spread over {args.seconds:g} s, "
          f"+{int(args.clients * OVERFLOW)} joins of full rooms")
    print(f"{'ok':>6} {'refused':>8} {'late ok':>8} {'late full':>9} {'failed':>7} "
          f"{'p50ms':>7} {'p99ms':>7} {'maxms':>7} {'srvCPU%':>8}")
    refused = sum(v for k, v in out.items()
                  if k not in ("ok", "failed") and not k.startswith("late"))
    print(f"{out['ok']:>6} {refused:>8} {out['late_ok']:>8} {out['late_room_full']:>9} "
          f"{out['failed']:>7} {percentile(lat, 0.5):>7.1f} {percentile(lat, 0.99):>7.1f} "
          f"{max(lat, default=0):>7.1f} {cpu_pct:>8.1f}")
    checks = dict(result["checks"])
    checks["over-capacity joins refused"] = out["late_ok"] == 0 and \
        out["late_room_full"] == int(args.clients * OVERFLOW)
    for name, passed in checks.items():
        print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
