"""Relay benchmark: N lean clients in rooms streaming a real recording, one row per N.

``python -m loadtests.relay_bench --clients 100,200,300 --seconds 20 [--room-size 5]
[--nodes 1] [--server-cpu 0 --bots-cpu 1] [--workers W] [--warmup 3] [--naive]
[--versus-naive] [--deflate]``

For each N: a fresh server subprocess (``studyverse serve`` with embedded Redis/Postgres
under a temporary directory, or ``REDIS_URL``/``DATABASE_URL`` from the environment; with
``--naive`` the per-frame relay of ``loadtests.naive_relay``) pinned to ``--server-cpu``;
with ``--nodes K`` > 1, K ``studyverse serve`` nodes, all pinned to ``--server-cpu``, on one
Redis + Postgres (embedded ones started by this tool, or the environment's;
``loadtests.procs.NodeCluster``), and member i of every room connects to node i % K, so a
frame reaches the room's members on other nodes only through the room's Redis channel
(``game_server.frame_bus``);
with ``--deflate`` the clients offer permessage-deflate as browsers do (the server then
compresses every message it sends and inflates every one it gets);
N guests in N / room-size rooms; W worker processes pinned to ``--bots-cpu`` connect them
(``loadtests.bench_worker``), stream at ``--fps`` for a warm-up and then ``--seconds``
measured, and report. Columns:

- expected: frames sent in the window x (members of the room - 1)
- delivered: window frames that, or a newer frame of the same sender, reached the recipient
  within 2 s after the window (latest-value-wins, so supersession is not loss)
- recv/s: distinct frames a recipient got per sender per second (30 = none superseded)
- p50/p99: end-to-end latency in ms, capture (sender's monotonic clock) to receipt
- srv CPU: server process CPU over the window, % of one core (utime + stime, /proc); with
  several nodes the sum over the nodes (each node's in nodeCPU%)
- srv RSS: server resident memory at the end of the window, MiB; several nodes: the sum
- bot CPU: all workers' CPU, % of one core; near 100 x (bot cores) the bots, not the
  server, are the limit and latencies include the bots' own queueing
- drop: clients that failed to join or were disconnected
- rdsCPU%: the embedded Redis process's CPU over the window, % of one core ("-" with
  ``REDIS_URL``); it runs on the bots' CPUs (it inherits the affinity of its parent)
- nodeCPU%: each node's share of srv CPU ("-" for one node)

With several nodes the row ends with the nodes' frame bus counters over the whole run
(``/metrics``): frames published to and received from the room channels, and received
batches dropped as stale. End-to-end latency then includes the Redis hop.

``--versus-naive`` runs each N twice, against one ``studyverse serve`` node and against the
naive relay, rows labelled ``ours`` and ``naive``, and ends with the largest N each held
within issue 7's target (>= 99 % delivered, p99 < 100 ms) and their ratio.

Each N takes about 15 s + warm-up + seconds. Exits 1 only if no N could run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from loadtests.bench_worker import WorkerSpec, worker_main
from loadtests.procs import (
    NodeCluster,
    ServerProcess,
    cpu_seconds,
    free_port,
    processes_under,
    rss_mb,
)
from loadtests.stats import LatencyHistogram

GRACE_S = 2.0
HEADER = (f"{'clients':>7} {'rooms':>5} {'expected':>9} {'delivered':>9} {'deliv%':>7} "
          f"{'recv/s':>6} {'p50ms':>6} {'p99ms':>6} {'srvCPU%':>7} {'srvRSS':>7} "
          f"{'botCPU%':>7} {'drop':>4} {'rdsCPU%':>7} {'nodeCPU%':>9}")
BUS_COUNTERS = ("published", "received", "stale")


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any],
                token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status != 201:
            raise RuntimeError(f"POST {url}: HTTP {resp.status} {data}")
        return dict(data)


async def make_rooms(base_url: str, rooms: int, size: int, naive: bool
                     ) -> list[tuple[str, list[str | None]]]:
    """``rooms`` rooms of ``size`` guests: (room id, tokens). The naive relay needs neither
    accounts nor rooms: ids are made up and tokens are None."""
    if naive:
        return [(f"naive-{r}", [None] * size) for r in range(rooms)]
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as http:
        async def guest(i: int) -> str:
            async with gate:
                body = await _post(http, f"{base_url}/api/auth/guest",
                                   {"display_name": f"bench-{i}"})
                return str(body["access_token"])

        async def room(r: int) -> tuple[str, list[str | None]]:
            tokens = await asyncio.gather(*(guest(r * size + i) for i in range(size)))
            async with gate:
                body = await _post(http, f"{base_url}/api/rooms",
                                   {"name": f"bench {r}", "capacity": size}, tokens[0])
            return str(body["room_id"]), list(tokens)

        return list(await asyncio.gather(*(room(r) for r in range(rooms))))


def _server_argv(naive: bool, port: int, data_dir: Path) -> list[str]:
    if naive:
        return [sys.executable, "-m", "loadtests.naive_relay", "--port", str(port)]
    studyverse = Path(sys.executable).with_name("studyverse")
    return [str(studyverse), "serve", "--port", str(port), "--data-dir", str(data_dir)]


def _recv(conn: Any, kind: str, timeout_s: float) -> dict[str, Any]:
    try:
        if not conn.poll(timeout_s):
            raise RuntimeError(f"worker sent no {kind} within {timeout_s:.0f} s")
        message = conn.recv()
    except EOFError:
        raise RuntimeError(f"worker exited before sending {kind}") from None
    if message[0] != kind:
        raise RuntimeError(f"worker: {message}")
    return dict(message[1])


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


def bus_counters(base_url: str) -> dict[str, int]:
    """A node's frame bus frame counters from ``/metrics``: ``{published, received, stale}``
    (frames, since the node started). Raises OSError if ``/metrics`` does not answer."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = dict.fromkeys(BUS_COUNTERS, 0)
    for line in text.splitlines():
        for name in BUS_COUNTERS:
            if line.startswith(f"studyverse_bus_frames_{name}_total{{"):
                found[name] += int(float(line.rsplit(" ", 1)[1]))
    return found


def _servers(stack: contextlib.ExitStack, args: argparse.Namespace, tmp: Path
             ) -> tuple[list[ServerProcess], int | None]:
    """Start the node(s) under ``tmp``, stopped when ``stack`` closes: (nodes, embedded
    Redis pid or None)."""
    if args.nodes > 1:
        cluster = stack.enter_context(NodeCluster(args.nodes, tmp, args.server_cpu))
        return cluster.servers, cluster.redis_pid
    port = free_port()
    server = stack.enter_context(ServerProcess(
        _server_argv(args.naive, port, tmp / "data"), port=port, data_dir=tmp / "data",
        log_path=tmp / "server.log", cpus=args.server_cpu))
    return [server], next(iter(processes_under(tmp / "data" / "redis")), None)


def run_one(n: int, args: argparse.Namespace) -> tuple[str, float, float | None]:
    """Run one N end to end: (its table row, delivered %, p99 ms or None). Raises
    RuntimeError on failure."""
    rooms_n = n // args.room_size
    tmp = Path(tempfile.mkdtemp(prefix="sv-bench-"))
    ctx = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    bus: dict[str, int] = {}
    try:
        with contextlib.ExitStack() as stack:
            servers, redis_pid = _servers(stack, args, tmp)
            urls = [s.base_url for s in servers]
            rooms = asyncio.run(make_rooms(urls[0], rooms_n, args.room_size, args.naive))
            pipes = []
            for w in range(args.workers):
                parent, child = ctx.Pipe()
                spec = WorkerSpec(w, urls, rooms[w::args.workers], args.recording,
                                  args.fps, args.bots_cpu, args.naive, args.deflate)
                proc = ctx.Process(target=worker_main, args=(spec, child), daemon=True)
                proc.start()
                child.close()
                procs.append(proc)
                pipes.append(parent)
            ready = [_recv(p, "ready", 120) for p in pipes]
            failed = sum(r["failed"] for r in ready)
            if failed:
                print(f"  {failed} clients could not join, e.g. {ready[0]['failures'] or ready}",
                      flush=True)
            t0 = time.monotonic() + 1.0
            for p in pipes:
                p.send(("go", t0, args.warmup, args.seconds, GRACE_S))
            # nodes, then the workers, then Redis (if embedded)
            pids = [s.pid for s in servers] + [r["pid"] for r in ready] + (
                [redis_pid] if redis_pid is not None else [])
            _sleep_until(t0 + args.warmup)
            w0, cpu0 = time.monotonic(), [cpu_seconds(pid) for pid in pids]
            _sleep_until(t0 + args.warmup + args.seconds)
            w1, cpu1 = time.monotonic(), [cpu_seconds(pid) for pid in pids]
            rss = sum(rss_mb(s.pid) for s in servers)
            results = [_recv(p, "result", GRACE_S + 60) for p in pipes]
            if len(servers) > 1:
                for url in urls:
                    for k, v in bus_counters(url).items():
                        bus[k] = bus.get(k, 0) + v
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    span = w1 - w0
    busy = [(b - a) / span * 100.0 for a, b in zip(cpu0, cpu1, strict=True)]
    nodes_busy, bots_busy = busy[:len(servers)], busy[len(servers):len(servers) + len(ready)]
    redis_busy = f"{busy[-1]:>7.1f}" if redis_pid is not None else f"{'-':>7}"
    per_node = "/".join(f"{b:.0f}" for b in nodes_busy) if len(servers) > 1 else "-"
    hist = LatencyHistogram()
    for r in results:
        hist.merge(LatencyHistogram.from_sparse(r["hist"]))
    expected = sum(r["expected"] for r in results)
    delivered = sum(r["delivered"] for r in results)
    pairs = sum(r["pairs"] for r in results)
    dropped = failed + sum(r["dropped"] for r in results)
    recv = sum(r["received"] for r in results) / max(pairs, 1) / args.seconds
    notes = [f"{k}={v}" for r in results for k, v in r["server_errors"].items()]
    notes += [f"bot ticks skipped={s}" for s in [sum(r["skipped_ticks"] for r in results)] if s]
    if bus:
        notes.append("bus frames " + " ".join(f"{k}={bus[k]}" for k in BUS_COUNTERS))
    p50, p99 = hist.percentile(0.5), hist.percentile(0.99)
    row = (f"{rooms_n * args.room_size:>7} {rooms_n:>5} {expected:>9} {delivered:>9} "
           f"{100.0 * delivered / max(expected, 1):>6.2f}% {recv:>6.1f} "
           f"{p50 if p50 is not None else -1:>6.0f} {p99 if p99 is not None else -1:>6.0f} "
           f"{sum(nodes_busy):>7.1f} {rss:>7.1f} {sum(bots_busy):>7.1f} {dropped:>4} "
           f"{redis_busy} {per_node:>9}")
    return (row + (f"  ({', '.join(notes)})" if notes else ""),
            100.0 * delivered / max(expected, 1), p99)


def meets_target(delivered_pct: float, p99_ms: float | None) -> bool:
    """Issue 7's per-N relay target: >= 99 % delivered and p99 latency < 100 ms."""
    return delivered_pct >= 99.0 and p99_ms is not None and p99_ms < 100.0


def _cpus(text: str) -> set[int] | None:
    return {int(c) for c in text.split(",")} if text else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="relay_bench", description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="100,200,300", help="comma-separated N values")
    p.add_argument("--seconds", type=float, default=20.0, help="measured window, s")
    p.add_argument("--warmup", type=float, default=3.0, help="streaming before the window, s")
    p.add_argument("--room-size", type=int, default=5, help="members per room")
    p.add_argument("--fps", type=float, default=30.0, help="frames/s per client")
    p.add_argument("--nodes", type=int, default=1,
                   help="server nodes on one Redis + Postgres; each room's members are "
                        "split over them (member i -> node i %% nodes)")
    default_bots = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)) if c != 0)
    p.add_argument("--server-cpu", type=_cpus, default={0}, help="CPUs for the server")
    p.add_argument("--bots-cpu", type=_cpus, default=_cpus(default_bots),
                   help="CPUs for the load workers (default: all but 0)")
    p.add_argument("--workers", type=int, default=1, help="load worker processes")
    p.add_argument("--recording", help="recording to stream (default: the Live Link CSV)")
    p.add_argument("--naive", action="store_true", help="bench loadtests.naive_relay instead")
    p.add_argument("--deflate", action="store_true",
                   help="clients offer permessage-deflate, as browsers do")
    p.add_argument("--versus-naive", action="store_true",
                   help="side by side: each N against studyverse serve, then against the "
                        "naive python-socketio relay, and the largest N each holds")
    args = p.parse_args(argv)
    if args.room_size < 2 or args.workers < 1 or args.seconds <= 0 or args.fps <= 0:
        p.error("--room-size >= 2, --workers >= 1, --seconds and --fps > 0")
    if args.nodes < 1:
        p.error("--nodes must be >= 1")
    if args.versus_naive and (args.naive or args.nodes > 1):
        p.error("--versus-naive compares one studyverse node with the naive relay: "
                "drop --naive and --nodes")
    if args.naive and args.nodes > 1:
        p.error("--naive runs one node only: the naive relay has no cross-node frame bus "
                "(drop --naive or use --nodes 1)")
    if args.bots_cpu:
        os.sched_setaffinity(0, args.bots_cpu)  # keep this process off the server's core
    target = "naive python-socketio relay" if args.naive else "studyverse serve"
    if args.nodes > 1:
        target = (f"{args.nodes} studyverse serve nodes on one Redis + Postgres, every "
                  f"room's members split over them (member i -> node i % {args.nodes}); "
                  "srv CPU and RSS summed over the nodes")
    print(f"relay_bench: {target}; server CPUs {sorted(args.server_cpu or [])}, bot CPUs "
          f"{sorted(args.bots_cpu or [])} x {args.workers} worker(s); rooms of "
          f"{args.room_size} at {args.fps:g} fps; warm-up {args.warmup:g} s, window "
          f"{args.seconds:g} s", flush=True)
    relays = [("ours", False), ("naive", True)] if args.versus_naive else [("", args.naive)]

    def label(name: str) -> str:
        return f"{name:<6}" if args.versus_naive else ""

    print(label("relay") + HEADER, flush=True)
    ran = 0
    held: dict[str, int] = {name: 0 for name, _ in relays}
    for n in (int(c) for c in args.clients.split(",")):
        for name, naive in relays:
            try:
                row, delivered_pct, p99 = run_one(n, argparse.Namespace(
                    **{**vars(args), "naive": naive}))
                print(label(name) + row, flush=True)
                ran += 1
                if meets_target(delivered_pct, p99):
                    held[name] = max(held[name], n)
            except (RuntimeError, OSError, aiohttp.ClientError) as exc:
                print(f"{label(name)}{n:>7} failed: {exc}", flush=True)
    if args.versus_naive:
        ours, naive_n = held["ours"], held["naive"]
        ratio = f"{ours / naive_n:.1f}x" if naive_n else "n/a (the naive relay held none)"
        print(f"largest N with >= 99 % delivered and p99 < 100 ms: studyverse {ours}, naive "
              f"python-socketio {naive_n}; ratio {ratio}", flush=True)
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
