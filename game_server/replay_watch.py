"""Replay watching (issue 5 part 2): one socket watches a recorded focus phase outside any
live room: one member's recording, or the whole room's phase (every member's recording of
it together). See game_server.ghost_replay for replay inside a live room.

``replay_watch {recording_id, speed, whole_room?}`` (a socket that is not a member of a live
room; every recording played must be visible to the caller by the rule of ``GET
/api/ghosts/{id}``, and finished) reads the recordings' chunks from Postgres and decodes them
once (a worker thread, ~3 ms per 60 s chunk). The recording asked for plays in slot 0; with
``whole_room`` the other recordings of its room's focus phase (same room, set start and
phase index: ``GhostRepo.phase_recordings``) play in slots 1.. in start order. The replay's
clock starts at the earliest recording's start (epoch ms); a recording that started later (a
latecomer) is offset by the difference. One task per watching socket streams to that socket
only:

- ``frames``: the binary batch of live rooms (``avatars.frame.encode_batch``, the relay's
  encoder), one entry per slot whose latest sample changed, built with
  ``avatars.timeline.sample_to_frame``: capture time = the recording's start (epoch ms) +
  the sample's ``t_ms`` (so capture times advance ``speed`` times as fast as wall time),
  ``server_ms`` = the send time. One send per tick of ``100 ms / speed`` (the timeline's
  10 fps, scaled): at most one sample per slot per tick at any speed;
- ``member_state {slot, attention, since_ms, connected: true}`` for each recorded
  attention change (``since_ms`` = recording start + its ``t_ms``, the frames' clock);
- ``replay_event {t_ms, kind, payload}`` for every other recorded event of slot 0's
  recording (``timer``: the room's timer state at that moment; every member recorded the
  same), ``t_ms`` in ms of the replay's clock;
- ``replay_ended {recording_id}`` once the position reaches the duration (the latest end);
  the replay is over.

Position (ms of the replay) = ``base_pos + (monotonic now - base) * speed`` while playing,
frozen while paused; ``replay_control`` rebases it. A seek re-sends each slot's attention
state at the new position (the latest change at or before it, ``idle`` if none). One
replay per socket: a new ``replay_watch`` replaces it; the task is cancelled on
``replay_stop``, on disconnect and on shutdown (:meth:`ReplayWatcher.stop_all`). No Redis
state, no lease: only the watching socket's node runs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from bisect import bisect_right
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from avatars.frame import encode_batch
from avatars.timeline import (
    ATTENTION,
    ChunkError,
    Event,
    Sample,
    decode_chunk,
    join_chunks,
    sample_to_frame,
)
from game_server.ghost_repo import GhostRepo, Recording
from game_server.task_guard import stop_if_cancelled
from rooms.store import RoomError

logger = logging.getLogger(__name__)

Send = Callable[[str, str, Any], Awaitable[None]]
"""``send(sid, event, data)``: one event to one socket."""

FRAME_PERIOD_S = 0.1  # the timeline's 10 fps, at speed 1


class WatchError(RoomError):
    """A refused replay command; ``code`` is the wire error code (a RoomError, so the
    command handler answers it like the store's refusals)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Recorded:
    """A recording decoded once: ``duration_ms``; samples in time order with their
    ``times`` (ms from the start); events sorted by time with their ``event_times``."""

    duration_ms: int
    samples: tuple[Sample, ...]
    times: tuple[int, ...]
    events: tuple[Event, ...]
    event_times: tuple[int, ...]

    def attention_at(self, pos_ms: int) -> tuple[str, int]:
        """(state, t_ms) of the latest attention change at or before ``pos_ms``; ("idle", 0)
        if none."""
        for e in reversed(self.events[:bisect_right(self.event_times, pos_ms)]):
            state = e.payload.get("state")
            if e.kind == ATTENTION and isinstance(state, str):
                return state, max(0, e.t_ms)
        return "idle", 0


def decode_recorded(duration_ms: int, blobs: Iterable[bytes]) -> Recorded:
    """Decode stored chunks into a :class:`Recorded` (CPU ~3 ms per 60 s chunk); corrupt
    chunks are skipped (a gap), logged."""
    chunks = []
    for data in blobs:
        try:
            chunks.append(decode_chunk(data))
        except ChunkError:
            logger.warning("replay chunk unreadable; skipped")
    samples, events = join_chunks(chunks)
    kept = tuple(s for s in samples if s.t_ms < duration_ms)
    evs = tuple(sorted(events, key=lambda e: e.t_ms))
    return Recorded(duration_ms, kept, tuple(s.t_ms for s in kept), evs,
                    tuple(e.t_ms for e in evs))


@dataclass(slots=True)
class _Track:
    """One recording of a replay: its ``slot`` and ``offset_ms`` (its start - the replay's
    start: a latecomer's recording starts later on the phase's clock)."""

    slot: int
    rec: Recording
    recorded: Recorded
    offset_ms: int
    last_sample: int = -1
    next_event: int = 0

    def member(self) -> dict[str, Any]:
        return {"slot": self.slot, "recording_id": str(self.rec.id),
                "user_id": str(self.rec.user_id), "display_name": self.rec.display_name}

    def seek(self, pos: int) -> None:
        self.last_sample = -1
        self.next_event = bisect_right(self.recorded.event_times, pos - self.offset_ms)


@dataclass(slots=True)
class _Watch:
    sid: str
    tracks: list[_Track]  # slot order; tracks[0] is the recording asked for
    whole_room: bool
    speed: float
    paused: bool = False
    base_pos: float = 0.0  # ms of the replay at ``base_s``
    base_s: float = field(default_factory=time.monotonic)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def started_ms(self) -> int:
        """The replay's t = 0 in epoch ms (the earliest recording's start)."""
        return min(t.rec.started_ms for t in self.tracks)

    @property
    def duration_ms(self) -> int:
        return max(t.offset_ms + t.recorded.duration_ms for t in self.tracks)

    def position(self, at_s: float) -> float:
        if self.paused:
            return self.base_pos
        return min(float(self.duration_ms),
                   self.base_pos + (at_s - self.base_s) * 1000.0 * self.speed)

    def rebase(self, at_s: float) -> None:
        self.base_pos, self.base_s = self.position(at_s), at_s

    def state(self) -> dict[str, Any]:
        first = self.tracks[0]
        return {"recording_id": str(first.rec.id), "duration_ms": self.duration_ms,
                "speed": self.speed, "position_ms": int(self.position(time.monotonic())),
                "paused": self.paused, "whole_room": self.whole_room,
                **first.member(), "members": [t.member() for t in self.tracks]}


def now_ms() -> int:
    return int(time.time() * 1000)


class ReplayWatcher:
    """The replays this node streams, one per watching socket (module docstring).
    ``send(sid, event, data)`` emits to one socket."""

    def __init__(self, repo: GhostRepo, send: Send) -> None:
        self.repo = repo
        self._send = send
        self._watches: dict[str, _Watch] = {}
        self.stats: Counter[str] = Counter()

    @property
    def active(self) -> int:
        """Replays running on this node."""
        return len(self._watches)

    async def recordings(self, caller_id: str, recording_id: uuid.UUID,
                         whole_room: bool) -> list[Recording]:
        """The recordings a replay of ``recording_id`` plays, the one asked for first: it
        alone, or with ``whole_room`` every recording of its room's focus phase (then all
        must be visible to the caller and finished). Raises WatchError ``not_found`` (no
        such recording), ``forbidden`` (one is not visible to the caller), ``conflict``
        (one is still being recorded)."""
        caller = uuid.UUID(caller_id)
        rec = await self.repo.get(recording_id)
        if rec is None:
            raise WatchError("not_found", "no such recording")
        recs = [rec]
        if whole_room:
            recs += [r for r in await self.repo.phase_recordings(rec) if r.id != rec.id]
        for r in recs:
            if not await self.repo.can_see(caller, r):
                raise WatchError("forbidden", "this recording is not shared with you" if r is
                                 rec else f"{r.display_name}'s recording of this phase is "
                                 "not shared with you")
            if r.ended_ms is None:
                raise WatchError("conflict", "a recording of this phase is still in progress")
        return recs

    async def watch(self, sid: str, caller_id: str, recording_id: uuid.UUID,
                    speed: float, whole_room: bool = False) -> dict[str, Any]:
        """Start (or replace) the replay of ``sid``; returns the replay state
        ``{recording_id, duration_ms, speed, position_ms: 0, paused: false, whole_room,
        slot, user_id, display_name, members: [{slot, recording_id, user_id,
        display_name}]}`` (the first member is the recording asked for; the others, with
        ``whole_room``, its room phase's other recordings in slots 1..). Raises WatchError
        as :meth:`recordings`."""
        recs = await self.recordings(caller_id, recording_id, whole_room)
        decoded = [await self._load(r) for r in recs]
        t0 = min(r.started_ms for r in recs)
        tracks = [_Track(slot, r, d, r.started_ms - t0)
                  for slot, (r, d) in enumerate(zip(recs, decoded, strict=True))]
        await self.stop(sid)
        w = _Watch(sid, tracks, whole_room, speed)
        self._watches[sid] = w
        w.task = asyncio.create_task(self._run(w), name=f"replay-watch-{sid}")
        self.stats["replays_started"] += 1
        return w.state()

    async def control(self, sid: str, *, paused: bool | None, speed: float | None,
                      seek_ms: int | None) -> dict[str, Any]:
        """Pause/resume, change speed, seek (``seek_ms`` clamped to the duration; each
        member's attention state there is sent at once); returns the replay state. Raises
        WatchError ``conflict`` when ``sid`` watches nothing."""
        w = self._watches.get(sid)
        if w is None:
            raise WatchError("conflict", "no replay running")
        at = time.monotonic()
        w.rebase(at)
        if speed is not None:
            w.speed = speed
        if paused is not None:
            w.paused = paused
        if seek_ms is not None:
            pos = min(seek_ms, w.duration_ms)
            w.base_pos = float(pos)
            for t in w.tracks:
                t.seek(pos)
                state, t_ms = t.recorded.attention_at(pos - t.offset_ms)
                await self._send(sid, "member_state", self._member_state(t, state, t_ms))
        w.wake.set()
        return w.state()

    async def stop(self, sid: str) -> bool:
        """End the replay of ``sid`` (no ``replay_ended``); False if there was none."""
        w = self._watches.pop(sid, None)
        if w is None:
            return False
        if w.task is not None and w.task is not asyncio.current_task():
            w.task.cancel()
            try:
                await w.task
            except asyncio.CancelledError:
                pass
            except Exception:
                stop_if_cancelled()
                logger.exception("replay task failed", extra={"sid": sid})
        self.stats["replays_stopped"] += 1
        return True

    async def stop_all(self) -> None:
        """Cancel every replay (shutdown)."""
        for sid in list(self._watches):
            await self.stop(sid)

    async def _load(self, rec: Recording) -> Recorded:
        """Read the recording's chunks and decode them in a worker thread."""
        blobs = await self.repo.chunks(rec.id)
        return await asyncio.to_thread(decode_recorded, rec.duration_ms, blobs)

    @staticmethod
    def _member_state(t: _Track, state: str, t_ms: int) -> dict[str, Any]:
        return {"slot": t.slot, "attention": state,
                "since_ms": t.rec.started_ms + max(0, t_ms), "connected": True}

    async def _run(self, w: _Watch) -> None:
        try:
            next_s = time.monotonic()
            while True:
                stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
                if w.paused:
                    w.wake.clear()
                    await w.wake.wait()
                    next_s = time.monotonic()
                    continue
                at = time.monotonic()
                pos = w.position(at)
                await self._emit_until(w, int(pos))
                if pos >= w.duration_ms:
                    # over before it is told: a replay_control answering replay_ended
                    # must find nothing to control (the emit below awaits Redis)
                    if self._watches.get(w.sid) is w:
                        del self._watches[w.sid]
                    await self._send(w.sid, "replay_ended",
                                     {"recording_id": str(w.tracks[0].rec.id)})
                    self.stats["replays_ended"] += 1
                    break
                next_s += FRAME_PERIOD_S / w.speed
                delay = next_s - time.monotonic()
                if delay < -1.0:  # far behind (a stalled loop): do not burst
                    next_s, delay = time.monotonic(), 0.0
                w.wake.clear()
                if delay > 0:
                    await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception:
            stop_if_cancelled()
            self.stats["replay_errors"] += 1
            logger.exception("replay failed", extra={"sid": w.sid})
        if self._watches.get(w.sid) is w:
            del self._watches[w.sid]

    async def _emit_until(self, w: _Watch, pos: int) -> None:
        """Send each track's events up to ``pos`` (the room's own events, ``timer``, from
        the first track only: every member recorded the same ones) and one ``frames``
        batch of the tracks whose latest sample at ``pos`` is new."""
        entries: list[tuple[int, bytes]] = []
        for t in w.tracks:
            r, local = t.recorded, pos - t.offset_ms
            while t.next_event < len(r.events) and r.event_times[t.next_event] <= local:
                e = r.events[t.next_event]
                t.next_event += 1
                state = e.payload.get("state")
                if e.kind == ATTENTION and isinstance(state, str):
                    await self._send(w.sid, "member_state",
                                     self._member_state(t, state, e.t_ms))
                elif t is w.tracks[0]:
                    await self._send(w.sid, "replay_event", {
                        "t_ms": e.t_ms + t.offset_ms, "kind": e.kind, "payload": e.payload})
            i = bisect_right(r.times, local) - 1
            if i >= 0 and i != t.last_sample:
                t.last_sample = i
                entries.append((t.slot, sample_to_frame(r.samples[i], i,
                                                        t.rec.started_ms + r.times[i])))
        if entries:
            await self._send(w.sid, "frames", encode_batch(now_ms(), entries))
            self.stats["frames_out"] += len(entries)
