"""Bot members that stream a real face recording into a room, and a spectator that watches.

``studyverse bots -- [--server URL] [--room ROOM_ID] [--count N] [--recording PATH]
[--duration S] [--watch] [--max-fps F]`` (or ``python -m loadtests.bots [options]``; the
``--`` is needed while ``game_server.cli`` parses the bots arguments with REMAINDER).

Each bot is a guest (``POST /api/auth/guest``) on a real python-socketio client (websocket,
msgpack), joins the room as a member and streams the recording at its recorded timing,
looped, starting at its own offset so the faces in a room differ. Frames carry an
incrementing sequence number and the bot's monotonic ms as capture time; the pose bit is set
only when the recording has a head pose. Sends are capped at ``--max-fps`` (default 30, what
browsers send): the 60 fps LLV take would otherwise exceed the server's 45 frames/s per
member and get the bot cut off. ``--watch`` adds a spectator printing, every 2 s, per slot:
name, fps received, frames lost (sequence gaps), end-to-end latency p50/p99 in ms.

Without ``--room`` a room of capacity max(count, 5) is created and its id printed. Runs until
``--duration`` seconds, SIGINT or SIGTERM, then disconnects everyone, prints one summary line
and exits 0 (1 if the fleet could not start). ``run_fleet`` is the async API tests call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

from avatars.frame import decode_batch, decode_frame, wrap_delta_ms
from loadtests.playback import Player, load_player, monotonic_ms
from loadtests.stats import LatencyHistogram, SlotWatch, watch_table

Out = Callable[[str], None]
HISTORY_MAX = 4096  # seq -> recording index entries a bot keeps, for checks
WATCH_INTERVAL_S = 2.0


class FleetError(RuntimeError):
    """The fleet could not start (server unreachable, refused auth or join)."""


@dataclass
class FleetOptions:
    """What ``run_fleet`` does; durations in seconds, rates in frames/s."""

    server: str = "http://127.0.0.1:8000"
    room_id: str | None = None  # None: create one, capacity max(count, 5)
    count: int = 3
    duration_s: float | None = None  # None: until the stop event
    watch: bool = False
    max_fps: float = 30.0
    keep_frames: int = 0  # frames per slot the watcher keeps (tests check their content)
    name_prefix: str = "bot"


async def _guest(http: aiohttp.ClientSession, server: str, name: str) -> str:
    async with http.post(f"{server}/api/auth/guest", json={"display_name": name}) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 201:
            raise FleetError(f"guest {name!r}: HTTP {resp.status} {body}")
        return str(body["access_token"])


async def create_room(http: aiohttp.ClientSession, server: str, token: str,
                      capacity: int, name: str = "Bots") -> str:
    """Create a room owned by ``token``'s user; returns its id."""
    async with http.post(f"{server}/api/rooms", json={"name": name, "capacity": capacity},
                         headers={"Authorization": f"Bearer {token}"}) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 201:
            raise FleetError(f"create room: HTTP {resp.status} {body}")
        return str(body["room_id"])


class _Client:
    """A guest on a python-socketio client; counts ``error`` events and disconnects."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.token = ""
        self.sio = socketio.AsyncClient(serializer="msgpack", reconnection=False,
                                       handle_sigint=False)  # SIGINT is ours: clean stop
        self.errors: Counter[str] = Counter()
        self.disconnects = 0  # drops not caused by close()
        self.closing = False
        self.sio.on("error", self._on_error)
        self.sio.on("disconnect", self._on_disconnect)

    async def _on_error(self, data: Any = None) -> None:
        self.errors[str(data.get("code")) if isinstance(data, dict) else "?"] += 1

    async def _on_disconnect(self, *reason: Any) -> None:
        self.disconnects += 0 if self.closing else 1

    async def join(self, http: aiohttp.ClientSession, server: str, room_id: str,
                   role: str) -> dict[str, Any]:
        """Become a guest, connect and join; returns the ack. Raises FleetError."""
        if not self.token:
            self.token = await _guest(http, server, self.name)
        try:
            await self.sio.connect(server, auth={"token": self.token}, transports=["websocket"],
                                   wait_timeout=10)
            ack = await self.sio.call("room_join", {"room_id": room_id, "role": role},
                                      timeout=10)
        except (socketio.exceptions.SocketIOError, TimeoutError) as exc:
            raise FleetError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise FleetError(f"{self.name}: room_join refused: {ack}")
        return ack

    async def close(self) -> None:
        self.closing = True
        if self.sio.connected:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()


class Bot(_Client):
    """A member streaming ``player`` from ``offset_ms`` on the recording clock."""

    def __init__(self, name: str, player: Player, offset_ms: float, max_fps: float) -> None:
        super().__init__(name)
        self.player = player
        self.offset_ms = offset_ms
        self.min_gap_ms = 1000.0 / max_fps
        self.slot: int | None = None
        self.seq = 0
        self.sent = 0
        self.history: OrderedDict[int, int] = OrderedDict()  # u16 seq -> global frame index

    async def stream(self, stop: asyncio.Event) -> None:
        """Send frames on the recording's timing until ``stop`` is set or the socket drops.
        A late wake-up sends only the newest due frame (no catch-up burst)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        player, last_k, last_sent_at = self.player, -1, float("-inf")
        while not stop.is_set() and self.sio.connected:
            now = self.offset_ms + (loop.time() - start) * 1000.0
            k = player.index_at(now)
            if k != last_k and now - last_sent_at >= self.min_gap_ms - 0.5:
                seq = self.seq & 0xFFFF
                await self.sio.emit("frame", player.frame(k, seq, monotonic_ms()))
                self.history[seq] = k
                if len(self.history) > HISTORY_MAX:
                    self.history.popitem(last=False)
                self.seq += 1
                self.sent += 1
                last_k, last_sent_at = k, now
            due = max(player.time_of(last_k + 1), last_sent_at + self.min_gap_ms)
            await asyncio.sleep(max(due - now, 1.0) / 1000.0)


class Watcher(_Client):
    """A spectator keeping per-slot figures (``slots``) and, if asked, received frames."""

    def __init__(self, keep_frames: int = 0) -> None:
        super().__init__("watch")
        self.slots: dict[int, SlotWatch] = {}
        self.names: dict[int, str] = {}
        self.keep_frames = keep_frames
        self.frames: dict[int, list[bytes]] = {}
        self.sio.on("frames", self._on_frames)
        self.sio.on("room_state", self._on_room_state)
        self.sio.on("member_joined", self._on_member)

    async def _on_room_state(self, state: Any = None) -> None:
        for member in state.get("members", []) if isinstance(state, dict) else []:
            await self._on_member(member)

    async def _on_member(self, member: Any = None) -> None:
        if isinstance(member, dict):
            self.names[int(member["slot"])] = str(member["display_name"])
            if int(member["slot"]) in self.slots:
                self.slots[int(member["slot"])].name = str(member["display_name"])

    async def _on_frames(self, payload: Any = None) -> None:
        now = monotonic_ms()
        for slot, data in decode_batch(payload)[1]:
            frame = decode_frame(data)
            watch = self.slots.get(slot)
            if watch is None:
                watch = self.slots[slot] = SlotWatch(self.names.get(slot, f"slot {slot}"))
            watch.add(frame.seq, wrap_delta_ms(now, frame.capture_ms))
            if self.keep_frames:
                kept = self.frames.setdefault(slot, [])
                if len(kept) < self.keep_frames:
                    kept.append(bytes(data))

    async def report(self, stop: asyncio.Event, out: Out) -> None:
        """Print a watch table every ``WATCH_INTERVAL_S`` until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WATCH_INTERVAL_S)
            now = loop.time()
            if not stop.is_set():
                out(watch_table(self.slots, now - last))
            last = now


@dataclass
class FleetReport:
    """What a fleet did: its room, bots and watcher (None without ``watch``)."""

    room_id: str
    bots: list[Bot]
    watcher: Watcher | None
    elapsed_s: float
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: frames sent per bot and rate, errors, drops, and what the watcher saw."""
        sent = sum(b.sent for b in self.bots)
        fps = sent / max(len(self.bots), 1) / max(self.elapsed_s, 1e-9)
        errors = sum((b.errors for b in self.bots), Counter())
        line = (f"bots: {len(self.bots)} in room {self.room_id}: sent {sent} frames in "
                f"{self.elapsed_s:.1f} s ({fps:.1f} fps each); server errors "
                f"{dict(errors) or 'none'}; disconnects {sum(b.disconnects for b in self.bots)}")
        if self.watcher is not None:
            hist = LatencyHistogram()
            for w in self.watcher.slots.values():
                hist.merge(w.total)
            got = sum(w.total_frames for w in self.watcher.slots.values())
            lost = sum(w.total_lost for w in self.watcher.slots.values())
            line += (f"; watch: {got} frames, {lost} lost, latency p50 "
                     f"{hist.percentile(0.5)} ms p99 {hist.percentile(0.99)} ms")
        return line


async def run_fleet(opts: FleetOptions, player: Player, stop: asyncio.Event | None = None,
                    out: Out = print) -> FleetReport:
    """Run bots (and the watcher) until ``opts.duration_s`` passes or ``stop`` is set, then
    disconnect all. Raises FleetError if the room cannot be made or a client cannot join."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    bots = [Bot(f"{opts.name_prefix}-{i + 1}", player, player.offset_ms(i, opts.count),
                opts.max_fps) for i in range(opts.count)]
    watcher = Watcher(opts.keep_frames) if opts.watch else None
    clients: list[_Client] = [*bots, *([watcher] if watcher else [])]
    tasks: list[asyncio.Task[None]] = []
    started = loop.time()
    try:
        async with aiohttp.ClientSession() as http:
            room_id = opts.room_id
            if room_id is None:
                bots[0].token = await _guest(http, opts.server, bots[0].name)
                room_id = await create_room(http, opts.server, bots[0].token,
                                            max(opts.count, 5))
                out(f"bots: created room {room_id}")
            if watcher is not None:
                await watcher.join(http, opts.server, room_id, "spectator")
            acks = await asyncio.gather(*(b.join(http, opts.server, room_id, "member")
                                          for b in bots))
        for bot, ack in zip(bots, acks, strict=True):
            bot.slot = ack["slot"]
        started = loop.time()
        tasks = [asyncio.create_task(b.stream(stop), name=b.name) for b in bots]
        if watcher is not None:
            tasks.append(asyncio.create_task(watcher.report(stop, out), name="watch"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), opts.duration_s)
    finally:
        stop.set()
        elapsed = loop.time() - started
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in clients))
    failures = [f"{t.get_name()}: {r!r}" for t, r in zip(tasks, results, strict=True)
                if isinstance(r, BaseException)]
    return FleetReport(room_id, bots, watcher, elapsed, failures)


def _parse(argv: list[str]) -> tuple[FleetOptions, str | None]:
    p = argparse.ArgumentParser(prog="studyverse bots", description=__doc__.splitlines()[0])
    p.add_argument("--server", default="http://127.0.0.1:8000", help="server base URL")
    p.add_argument("--room", help="room id to join (default: create one and print its id)")
    p.add_argument("--count", type=int, default=3, help="bot members (default 3)")
    p.add_argument("--recording", help="Live Link CSV, .gesichter or LLV csv "
                                       "(default: livelinkface_alex_rom_3.csv)")
    p.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--watch", action="store_true", help="add a spectator printing a table")
    p.add_argument("--max-fps", type=float, default=30.0, help="send-rate cap (default 30)")
    a = p.parse_args(argv)
    if a.count < 1 or a.max_fps <= 0 or (a.duration is not None and a.duration <= 0):
        p.error("--count, --max-fps and --duration must be positive")
    return FleetOptions(server=a.server.rstrip("/"), room_id=a.room, count=a.count,
                        duration_s=a.duration, watch=a.watch, max_fps=a.max_fps), a.recording


async def _amain(opts: FleetOptions, player: Player) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        report = await run_fleet(opts, player, stop, lambda s: print(s, flush=True))
    except (FleetError, aiohttp.ClientError, OSError) as exc:
        print(f"bots: could not start: {exc}", file=sys.stderr)
        return 1
    for failure in report.failures:
        print(f"bots: task failed: {failure}", file=sys.stderr)
    print(report.summary(), flush=True)
    return 0


def main(argv: list[str]) -> int:
    """Entry point of ``studyverse bots``; returns the exit status."""
    opts, recording = _parse(argv[1:] if argv[:1] == ["--"] else argv)
    try:
        player = load_player(recording)
    except (OSError, ValueError) as exc:
        print(f"bots: cannot load the recording: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(_amain(opts, player))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
