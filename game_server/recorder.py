"""Ghost recording on the node that holds the members' sockets (DESIGN.md section 5, Ghosts).

Per member connection (``key`` = its sid) one :class:`avatars.timeline.ChunkWriter` records
the room's running focus phase: frames (``frame``, sync, on the frame path), attention
changes and timer events. ``run`` (every ``pass_s``) reads each local room's timer once
(one Redis snapshot per room per pass), starts a take when a focus phase runs (the writer's
start = the phase start, so a latecomer's samples line up with everyone's), records timer
changes (pause, resume) as events, ends the take when the phase ends, and queues every
chunk the writers completed. One writer task stores the queue in order through
:class:`GhostRepo` (a chunk is written as soon as it fills, so a crash loses at most the
open chunk); a failed write is retried ``max_attempts`` times ``retry_s`` apart, then dropped
and counted; a full queue drops new jobs and counts them.

Focus accounting (``focused_ms``/``present_ms`` of the row): measured by the take itself from
the attention changes it records, so it is exactly what a replay of the ghost shows:
present = take start (phase start, or the member's arrival) to take end; focused = the part
of it spent in the ``focused`` state. Pauses of the timer count as present time. A member
who drops and resumes within a phase adds a second take to the same row (totals add up).
Members whose ``recording_enabled`` is false (read when they join) record nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from avatars.timeline import TIMER, ChunkBlob, ChunkWriter
from game_server.game import GameService
from game_server.ghost_repo import GhostRepo, Visibility
from game_server.task_guard import stop_if_cancelled
from rooms.rules import timer as timer_rules
from rooms.rules.timer import PhaseView, TimerState
from rooms.store import RoomError

logger = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Take:
    """One member's recording of one focus phase, in progress on this node."""

    user_id: str
    room_id: str
    t0_ms: int
    index: int
    writer: ChunkWriter
    began_ms: int  # when this take began (phase start, or later for a latecomer)
    visibility: Visibility
    attention: str
    attention_since: int
    focused_ms: int = 0
    timer_mark: tuple[Any, ...] = ()
    recording_id: uuid.UUID | None = None  # set by the writer task once the row exists
    failed: bool = False  # the row could not be made: later jobs are dropped

    def account(self, at: int) -> None:
        """Credit the time since the last attention change up to ``at`` (ms)."""
        at = max(at, self.attention_since)
        if self.attention == "focused":
            self.focused_ms += at - self.attention_since
        self.attention_since = at


@dataclass(slots=True)
class _Member:
    user_id: str
    room_id: str
    attention: str
    joined_ms: int
    visibility: Visibility = "private"
    enabled: bool = False  # until the settings are read
    take: _Take | None = None


@dataclass(frozen=True, slots=True)
class _Job:
    kind: Literal["start", "chunk", "end"]
    take: _Take
    blob: ChunkBlob | None = None
    ended_ms: int = 0
    duration_ms: int = 0
    focused_ms: int = 0
    present_ms: int = 0


class Recorder:
    """Node-local ghost recorder (module docstring). ``frame``, ``attention``, ``leave``
    are sync (no I/O); ``join`` reads the member's settings; ``run`` and ``run_writer`` are
    the two background tasks (cancelled on shutdown; ``drain`` writes what is queued).
    ``chunk_ms``: timeline per chunk (a multiple of 100 ms); ``pass_s``: s between passes."""

    def __init__(self, repo: GhostRepo, game: GameService, *, chunk_ms: int = 60_000,
                 pass_s: float = 1.0, max_queue: int = 10_000, max_attempts: int = 5,
                 retry_s: float = 1.0) -> None:
        self.repo, self.game = repo, game
        self.chunk_ms, self.pass_s = chunk_ms, pass_s
        self.max_attempts, self.retry_s = max_attempts, retry_s
        self.stats: Counter[str] = Counter()
        self._members: dict[str, _Member] = {}
        self._writers: dict[str, ChunkWriter] = {}  # open takes, as the frame path sees them
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(max_queue)

    # -- hooks of game_server.realtime ------------------------------------------------------
    def frame(self, key: str, frame: bytes, at_ms: int) -> None:
        """A validated frame of member ``key`` received at ``at_ms``: into its open take,
        if any (one dict lookup when none; ~1-2 us with one)."""
        writer = self._writers.get(key)
        if writer is not None:
            writer.add_frame(frame, at_ms)

    def attention(self, key: str, state: str, since_ms: int, cause: str | None) -> None:
        """Member ``key``'s attention changed to ``state`` at ``since_ms``."""
        m = self._members.get(key)
        if m is None:
            return
        m.attention = state
        take = m.take
        if take is not None:
            take.account(since_ms)
            take.attention = state
            take.writer.add_attention(state, since_ms, cause)  # type: ignore[arg-type]

    async def join(self, key: str, *, user_id: str, room_id: str, attention: str) -> None:
        """Member ``key`` joined ``room_id``: read its recording settings (a member who
        turned recording off is never recorded). A failed read records nothing."""
        at = now_ms()
        m = _Member(user_id, room_id, attention, at)
        self.leave(key, at)
        self._members[key] = m
        try:
            got = await self.repo.settings(uuid.UUID(user_id))
        except (asyncpg.PostgresError, OSError, TimeoutError):
            logger.warning("recording settings unreadable; not recording",
                           extra={"user_id": user_id, "room_id": room_id})
            got = None
        if self._members.get(key) is not m:
            return  # left meanwhile
        if got is None or not got.enabled:
            del self._members[key]
            return
        m.enabled, m.visibility = True, got.visibility

    def leave(self, key: str, at_ms: int) -> None:
        """Member ``key`` left its slot (or dropped) at ``at_ms``: its take ends there."""
        m = self._members.pop(key, None)
        if m is not None and m.take is not None:
            self._end(key, m, at_ms, None)

    # -- the pass ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Every ``pass_s``: :meth:`step`. Cancelled on shutdown."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            await asyncio.sleep(self.pass_s)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.stats["ghost_pass_errors"] += 1
                logger.exception("recorder pass failed")

    async def step(self) -> None:
        """One pass: each room's timer once; start, mark and end takes; queue chunks."""
        rooms: dict[str, list[str]] = {}
        for key, m in self._members.items():
            if m.enabled:
                rooms.setdefault(m.room_id, []).append(key)
        for room_id, keys in rooms.items():
            try:
                snap = await self.game.store.snapshot(room_id)
                timer = None if snap.timer is None else timer_rules.from_record(snap.timer)
            except RoomError:
                timer = None
            at = now_ms()
            view = timer_rules.view(timer, at)
            for key in keys:
                member = self._members.get(key)
                if member is not None and member.room_id == room_id:
                    self._apply(key, member, timer, view, at)
        at = now_ms()
        for m in self._members.values():
            if m.take is not None:
                for blob in m.take.writer.poll(at):
                    self._submit(_Job("chunk", m.take, blob))

    def _apply(self, key: str, m: _Member, timer: TimerState | None, view: PhaseView,
               at: int) -> None:
        focus = (timer is not None and view.phase == "focus" and view.started_ms is not None)
        take = m.take
        if take is not None and (not focus or timer is None or
                                 (timer.t0_ms, view.index) != (take.t0_ms, take.index)):
            end = at
            if (timer is not None and timer.t0_ms == take.t0_ms and
                    view.index == take.index + 1 and view.started_ms is not None):
                end = min(at, view.started_ms)  # the break began when the phase ended
            self._end(key, m, end, None if timer is None else
                      timer_rules.to_wire(view, timer.plan))
            take = None
        if not focus or timer is None or view.started_ms is None:
            return
        wire = timer_rules.to_wire(view, timer.plan)
        mark = (view.started_ms, view.paused_at_ms)
        if take is None:
            writer = ChunkWriter(view.started_ms, chunk_ms=self.chunk_ms)
            began = max(view.started_ms, m.joined_ms)
            take = _Take(m.user_id, m.room_id, timer.t0_ms, view.index, writer, began,
                         m.visibility, m.attention, began)
            m.take = take
            self._writers[key] = writer
            writer.add_attention(m.attention, began)  # type: ignore[arg-type]
            self._submit(_Job("start", take))
            self.stats["ghost_takes_started"] += 1
        if mark != take.timer_mark:
            take.timer_mark = mark
            take.writer.add_event(TIMER, wire, at)

    def _end(self, key: str, m: _Member, at: int, timer_wire: dict[str, Any] | None) -> None:
        take = m.take
        assert take is not None
        m.take = None
        self._writers.pop(key, None)
        at = max(at, take.began_ms)
        if timer_wire is not None:
            take.writer.add_event(TIMER, timer_wire, at)
        take.account(at)
        for blob in take.writer.close(at):
            self._submit(_Job("chunk", take, blob))
        self._submit(_Job("end", take, ended_ms=at, duration_ms=at - take.writer.start_ms,
                          focused_ms=take.focused_ms, present_ms=at - take.began_ms))
        self.stats["ghost_takes_ended"] += 1

    # -- storage ------------------------------------------------------------------------------
    def _submit(self, job: _Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.stats["ghost_jobs_dropped"] += 1

    async def run_writer(self) -> None:
        """Store queued jobs in order; cancelled on shutdown."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            job = await self._queue.get()
            await self._write(job)

    async def _write(self, job: _Job) -> None:
        take = job.take
        if take.failed or (job.kind != "start" and take.recording_id is None):
            self.stats["ghost_jobs_dropped"] += 1
            return
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._store(job)
                self.stats[f"ghost_{job.kind}_written"] += 1
                return
            except asyncpg.IntegrityConstraintViolationError:
                break  # the user or room is gone: this can never land
            except (asyncpg.PostgresError, OSError, TimeoutError):
                self.stats["ghost_writes_retried"] += 1
                logger.warning("ghost write failed; retrying",
                               extra={"user_id": take.user_id, "room_id": take.room_id,
                                      "attempt": attempt})
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.retry_s)
        self.stats["ghost_jobs_dropped"] += 1
        if job.kind == "start":
            take.failed = True

    async def _store(self, job: _Job) -> None:
        take = job.take
        if job.kind == "start":
            take.recording_id = await self.repo.start(
                recording_id=uuid.uuid4(), user_id=take.user_id, room_id=take.room_id,
                set_started_ms=take.t0_ms, phase_index=take.index,
                started_ms=take.writer.start_ms, visibility=take.visibility)
            return
        assert take.recording_id is not None
        if job.kind == "chunk":
            blob = job.blob
            assert blob is not None
            if blob.samples == 0 and blob.start_ms + self.chunk_ms <= (
                    take.began_ms - take.writer.start_ms):
                return  # before a latecomer arrived: nothing to keep (see ghost_repo)
            await self.repo.put_chunk(take.recording_id, blob.index, blob.start_ms,
                                      blob.samples, blob.data)
        else:
            await self.repo.end(take.recording_id, ended_ms=job.ended_ms,
                                duration_ms=job.duration_ms, focused_ms=job.focused_ms,
                                present_ms=job.present_ms)

    async def drain(self, timeout_s: float) -> None:
        """Shutdown: end every take, then write what is queued within ``timeout_s``."""
        at = now_ms()
        for key in list(self._members):
            self.leave(key, at)

        async def flush() -> None:
            while not self._queue.empty():
                await self._write(self._queue.get_nowait())
        try:
            await asyncio.wait_for(flush(), timeout_s)
        except TimeoutError:
            logger.warning("ghost chunks left unwritten at shutdown",
                           extra={"count": self._queue.qsize()})
