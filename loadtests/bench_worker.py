"""One load-generator process of ``relay_bench``: whole rooms of lean clients.

A worker owns complete rooms, so every sender and all its recipients live in one process and
delivery is counted without cross-process bookkeeping. Protocol over a multiprocessing pipe:
worker -> ``("ready", info)`` once every client has connected and joined (or failed);
parent -> ``("go", t0_s, warmup_s, seconds_s, grace_s)`` (``t0_s`` on ``time.monotonic``);
worker streams from t0 to the end of the window, waits ``grace_s`` for frames in flight,
then sends ``("result", figures)`` and exits.

Several nodes: member i of every room connects to node i % N (``WorkerSpec.base_urls``);
slots are room-wide, so the accounting is the same and latency includes the Redis hop.

Sending: each client streams the recording at ``fps`` from its own offset, with phases spread
over 8 slots per frame period (real clients are not in lockstep). Seq numbers start at 0 and
do not wrap in a run (< 65536 frames). A frame is in the window when its capture time is.
Receiving: per recipient, the newest seq seen from each slot (delivery: a window frame counts
as delivered when it or a newer frame of its sender arrived, latest-value-wins) and a 1 ms
latency histogram of window frames.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Final

import aiohttp

from avatars.frame import BATCH_ENTRY_SIZE, BATCH_HEADER_SIZE
from loadtests.playback import Player, load_player, monotonic_ms
from loadtests.stats import HIST_MAX_MS, LatencyHistogram
from loadtests.wsclient import LeanClient

PHASE_SLOTS: Final = 8
MASK: Final = 0xFFFF_FFFF
# slot, then the frame's kind and flags (skipped), seq and capture_ms: the frame header
# fields a bench needs, read in place instead of decoding 72 bytes per entry
_ENTRY_PEEK: Final = struct.Struct("<BxxHI")


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker drives. ``rooms``: (room id, one token per member; None = no auth).
    ``base_urls``: the nodes; member i of every room connects to ``base_urls[i % len]``, so
    with several nodes each room's frames must cross nodes (game_server.frame_bus)."""

    index: int
    base_urls: list[str]
    rooms: list[tuple[str, list[str | None]]]
    recording: str | None
    fps: float
    cpus: set[int] | None
    naive: bool
    deflate: bool = False
    connect_concurrency: int = 32


@dataclass
class Tally:
    """Worker-wide counters; the window is [w0_ms, w0_ms + span_ms) on the u32 ms clock."""

    w0_ms: int = 0
    span_ms: int = 0
    sent_window: int = 0
    received_window: int = 0
    skipped_ticks: int = 0
    send_errors: int = 0
    server_errors: Counter[str] = field(default_factory=Counter)
    bins: list[int] = field(default_factory=lambda: [0] * (HIST_MAX_MS + 1))


@dataclass(eq=False)
class Member:
    """One lean client in one room, as sender and as recipient."""

    room: int
    offset_ms: float
    client: LeanClient | None = None
    slot: int = -1
    seq: int = 0
    first_win: int | None = None
    last_win: int = -1
    best: list[int] = field(default_factory=lambda: [-1] * 256)  # newest seq per slot


def _receiver(m: Member, tally: Tally) -> Any:
    best, bins, peek = m.best, tally.bins, _ENTRY_PEEK.unpack_from

    def on_frames(payload: bytes) -> None:
        now = monotonic_ms()
        w0, span, got = tally.w0_ms, tally.span_ms, 0
        for off in range(BATCH_HEADER_SIZE, len(payload), BATCH_ENTRY_SIZE):
            slot, seq, capture = peek(payload, off)
            if seq > best[slot]:
                best[slot] = seq
            if (capture - w0) & MASK < span:
                lat = (now - capture) & MASK
                bins[lat if lat < HIST_MAX_MS else HIST_MAX_MS] += 1
                got += 1
        tally.received_window += got

    return on_frames


async def _join(spec: WorkerSpec, session: aiohttp.ClientSession, m: Member, base_url: str,
                room_id: str, token: str | None, tally: Tally,
                gate: asyncio.Semaphore) -> str | None:
    def on_event(name: str, data: Any) -> None:
        if name == "error":
            tally.server_errors[str(data.get("code") if isinstance(data, dict) else data)] += 1

    async with gate:
        client = LeanClient(session, base_url, on_frames=_receiver(m, tally),
                            on_event=on_event, deflate=spec.deflate)
        try:
            await client.connect({"token": token} if token is not None else None)
            body = {"room_id": room_id} if spec.naive else {"room_id": room_id,
                                                            "role": "member"}
            ack = await client.call("room_join", body, timeout_s=30)
        except Exception as exc:
            await client.close()
            return f"{base_url}: {type(exc).__name__}: {exc}"
        if not isinstance(ack, dict) or not ack.get("ok"):
            await client.close()
            return f"{base_url}: room_join refused: {ack}"
        m.client, m.slot = client, int(ack["slot"])
        return None


async def _drive(members: list[Member], player: Player, fps: float, t0: float, t_end: float,
                 tally: Tally) -> None:
    """Send one frame per member per period until ``t_end`` (monotonic s), phases spread
    over ``PHASE_SLOTS``; a worker more than a period late skips instead of bursting."""
    step = 1.0 / fps / PHASE_SLOTS
    buckets = [members[i::PHASE_SLOTS] for i in range(PHASE_SLOTS)]
    tick = 0
    while (due := t0 + tick * step) < t_end:
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > step * PHASE_SLOTS:
            late = int((now - due) / step)
            tally.skipped_ticks += late
            tick += late
            continue
        elapsed_ms = (due - t0) * 1000.0
        for m in buckets[tick % PHASE_SLOTS]:
            client = m.client
            if client is None or client.closed.is_set():
                continue
            capture = monotonic_ms()
            frame = player.frame(player.index_at(m.offset_ms + elapsed_ms), m.seq, capture)
            try:
                await client.emit_bytes("frame", frame)
            except Exception:
                tally.send_errors += 1
                continue
            if (capture - tally.w0_ms) & MASK < tally.span_ms:
                if m.first_win is None:
                    m.first_win = m.seq
                m.last_win = m.seq
                tally.sent_window += 1
            m.seq += 1
        tick += 1


def _delivery(rooms: list[list[Member]]) -> tuple[int, int]:
    """(expected, delivered) over every (sender, recipient) pair of each room."""
    expected = delivered = 0
    for members in rooms:
        joined = [m for m in members if m.client is not None]
        for sender in joined:
            if sender.first_win is None:
                continue
            n = sender.last_win - sender.first_win + 1
            for recipient in joined:
                if recipient is not sender:
                    expected += n
                    newest = min(recipient.best[sender.slot], sender.last_win)
                    delivered += max(0, newest - sender.first_win + 1)
    return expected, delivered


async def _run(spec: WorkerSpec, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    player = load_player(spec.recording)
    tally = Tally()
    rooms = [[Member(r, player.offset_ms(i, len(tokens))) for i in range(len(tokens))]
             for r, (_, tokens) in enumerate(spec.rooms)]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(spec.connect_concurrency)
        failures = await asyncio.gather(*(
            _join(spec, session, m, spec.base_urls[i % len(spec.base_urls)], room_id, token,
                  tally, gate)
            for (room_id, tokens), members in zip(spec.rooms, rooms, strict=True)
            for i, (m, token) in enumerate(zip(members, tokens, strict=True))))
        errors = [f for f in failures if f is not None]
        conn.send(("ready", {"joined": len(failures) - len(errors), "failed": len(errors),
                             "failures": errors[:3], "pid": os.getpid()}))
        _, t0, warmup_s, seconds_s, grace_s = await loop.run_in_executor(None, conn.recv)
        tally.w0_ms = int((t0 + warmup_s) * 1000.0) & MASK
        tally.span_ms = int(seconds_s * 1000.0)
        members = [m for ms in rooms for m in ms]
        await _drive(members, player, spec.fps, t0, t0 + warmup_s + seconds_s, tally)
        await asyncio.sleep(grace_s)
        expected, delivered = _delivery(rooms)
        closed = sum(1 for m in members if m.client is not None and m.client.closed.is_set())
        hist = LatencyHistogram(tally.bins)
        sizes = [sum(1 for m in ms if m.client is not None) for ms in rooms]
        conn.send(("result", {
            "expected": expected, "delivered": delivered, "sent": tally.sent_window,
            "received": tally.received_window, "hist": hist.to_sparse(),
            "pairs": sum(n * (n - 1) for n in sizes),
            "dropped": closed, "skipped_ticks": tally.skipped_ticks,
            "send_errors": tally.send_errors, "server_errors": dict(tally.server_errors)}))
        await asyncio.gather(*(m.client.close() for m in members if m.client is not None))


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Process entry point (multiprocessing 'spawn')."""
    if spec.cpus:
        os.sched_setaffinity(0, spec.cpus)
    try:
        asyncio.run(_run(spec, conn))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
