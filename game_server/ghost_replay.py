"""Ghost replay (DESIGN.md section 5, Ghosts; issue 5 part 1): a recorded focus phase
replayed as a ``ghost`` member of a live room.

``ghost_add`` (room owner) puts the recording in the room as a member of kind ``ghost``
(rooms.store ``join_ghost``: its own slot, sid ``ghost:<recording_id>``, not in the users
hash). Its timeline is read from Postgres and decoded once, kept in memory (~15k samples for
a 25 min phase). The ghost is aligned to the live focus phase: ghost time t = (now, or the
pause instant while paused) - the live phase's ``phase_started_ms`` (which the timer shifts
by every pause, so a pause holds the ghost). Added outside a focus phase, it waits and starts
from t = 0 with the next one. It replays in that one focus phase and leaves (``member_left``)
when its recording ends, when that phase ends (break or set over) or by ``ghost_remove``.

Two node tasks (cancelled on shutdown, no state of their own in Redis beyond the members):

- :meth:`GhostReplay.run_frames`, every 100 ms (drift-free): for each ghost the latest
  sample with ``t_ms <= t``, if new, becomes one frame (``sample_to_frame``; capture time =
  phase start + ``t_ms``) offered to the local relay under the ghost's slot; no I/O. The
  relay batches it to every local recipient, like a live member's frame. Every node that
  knows the ghost streams it to its own recipients (frames never cross nodes).
- :meth:`GhostReplay.run_control`, every 100 ms: per room every ``sync_s`` one snapshot
  (timer, members) and the tick lease holder; ghosts gone from the members hash are dropped
  (removed by another node). Between syncs the ghosts follow the timer record read last
  (pure ``rooms.rules.timer.view`` each pass), so a phase's scheduled end and this node's
  own timer commands (:meth:`poke`) act within 100 ms; a pause, skip or stop made on
  another node reaches the ghost within ``sync_s``. Only the node holding the room's tick
  lease (GameService ticks the room there, so exactly one node) publishes the ghost's
  recorded attention (``member_state`` through the sid-guarded ``set_attention``, stored in
  its record) and ``ghost_race`` every ``race_s``. Every node follows the recorded state;
  the holder publishes it whenever it differs from the stored one (read at each sync), so
  a change that fell due while no node held the lease (a room's first second, a handover)
  is published late with its recorded ``since_ms`` instead of lost. Removal is a Lua delete
  that returns the record to one caller only, who announces ``member_left``.

Ghosts never deal damage or earn anything: the room tick and the timer's boss count members
of kind ``live`` only, and awards come from the focus hash that only live members' ticks
fill (game_server.game).

Race (``ghost_race`` and RoomState ``ghosts``): per ghost ``{slot, recording_id,
ghost_focused_s, room_focused_s, ahead_s}``: the ghost's focused seconds from t = 0 to t
(from its recorded attention changes); the mean focused seconds of the live members present
in the running focus phase (focus hash ``f``/``p`` fields of rooms.keys); ``ahead_s`` =
room_focused_s - ghost_focused_s (> 0: the room is ahead of the ghost). One decimal.
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

from avatars.frame import FLAG_FACE
from avatars.timeline import (
    ATTENTION,
    Sample,
    sample_to_frame,
)
from game_server.game import GameService
from game_server.ghost_repo import GhostRepo, Recording
from game_server.relay import FrameRelay
from game_server.replay_watch import decode_recorded
from game_server.task_guard import stop_if_cancelled
from rooms.rules import timer as timer_rules
from rooms.store import (
    Member,
    RoomError,
    RoomNotFound,
    RoomStore,
    ghost_recording_id,
    ghost_sid,
)

logger = logging.getLogger(__name__)

Broadcast = Callable[[str, str, Any], Awaitable[None]]
"""``broadcast(room_id, event, data)``: a control event to every socket of the room."""

FRAME_PERIOD_S = 0.1  # the timeline's 10 fps
CONTROL_PERIOD_S = 0.1


def now_ms() -> int:
    return int(time.time() * 1000)


class ReplayError(RoomError):
    """A refused ghost command; ``code`` is the wire error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def member_event(member: Member) -> dict[str, Any]:
    """``member_joined`` / ``member_left`` payload."""
    return {"slot": member.slot, "user_id": member.user_id,
            "display_name": member.display_name, "kind": member.kind}


@dataclass(frozen=True, slots=True)
class Timeline:
    """A recording decoded once: ``duration_ms`` (phase start to end), samples in time
    order with their ``times`` (ms from the phase start), and the attention changes
    ``(t_ms, state)`` in recorded order."""

    duration_ms: int
    samples: tuple[Sample, ...]
    times: tuple[int, ...]
    attention: tuple[tuple[int, str], ...]

    def focused_ms(self, t: int) -> int:
        """ms spent ``focused`` from 0 to ``t`` (clamped to the recording)."""
        t = min(t, self.duration_ms)
        total, state, since = 0, "idle", 0
        for at, st in self.attention:
            at = max(0, at)
            if at > t:
                break
            if state == "focused":
                total += at - since
            state, since = st, at
        if state == "focused":
            total += max(0, t - since)
        return total


def decode_timeline(duration_ms: int, blobs: Iterable[bytes]) -> Timeline:
    """Decode stored chunks into one :class:`Timeline` (``replay_watch.decode_recorded``:
    ~3 ms per 60 s chunk; corrupt chunks are skipped, a gap in the ghost)."""
    r = decode_recorded(duration_ms, blobs)
    attention = tuple((e.t_ms, str(e.payload["state"])) for e in r.events
                      if e.kind == ATTENTION and isinstance(e.payload.get("state"), str))
    return Timeline(duration_ms, r.samples, r.times, attention)


@dataclass(slots=True)
class _Ghost:
    recording_id: str
    slot: int
    timeline: Timeline
    phase: tuple[int, int] | None = None  # (set t0, phase index) it replays in
    last_sample: int = -1
    next_event: int = 0
    attention: str = "idle"  # the recorded state at the ghost's time
    attention_since_ms: int = 0  # its recorded epoch ms
    stored: str = "idle"  # the state in its member record (what the room was told)
    done: str | None = None  # why it must leave: "ended" | "phase_over"


@dataclass(slots=True)
class _Room:
    ghosts: dict[str, _Ghost] = field(default_factory=dict)  # recording id -> ghost
    phase: tuple[int, int] | None = None  # the running focus phase, None outside one
    started_ms: int = 0
    paused_at_ms: int | None = None
    timer: timer_rules.TimerState | None = None  # as read at the last sync
    leased: bool = False
    next_sync: float = 0.0  # monotonic s
    next_race: float = 0.0

    def clock(self, g: _Ghost, at_ms: int) -> int | None:
        """Ghost time in ms at ``at_ms``; None while it waits for its phase."""
        if self.phase is None or g.phase != self.phase:
            return None
        ref = at_ms if self.paused_at_ms is None else self.paused_at_ms
        return max(0, ref - self.started_ms)


class GhostReplay:
    """Ghost members of rooms seen by this node (module docstring). ``sync_s``: s between a
    room's state reads; ``race_s``: s between ``ghost_race`` broadcasts."""

    def __init__(self, repo: GhostRepo, store: RoomStore, game: GameService,
                 relay: FrameRelay, broadcast: Broadcast, *, node_id: str,
                 sync_s: float = 0.5, race_s: float = 10.0) -> None:
        self.repo, self.store, self.game, self.relay = repo, store, game, relay
        self._broadcast = broadcast
        self.node_id = node_id
        self.sync_s, self.race_s = sync_s, race_s
        self._rooms: dict[str, _Room] = {}
        self.stats: Counter[str] = Counter()

    @property
    def ghosts(self) -> int:
        """Ghosts this node replays."""
        return sum(len(r.ghosts) for r in self._rooms.values())

    # -- commands (game_server.realtime) ----------------------------------------------------
    async def add(self, room_id: str, caller_id: str, recording_id: uuid.UUID) -> Member:
        """``ghost_add``: the room owner adds a recording it may see as a ghost member;
        ``member_joined`` goes to the room. Raises ReplayError ``forbidden`` (not the
        owner, or the recording is not visible to the caller: the rule of GET
        /api/ghosts/{id}), ``not_found`` (no such recording), ``conflict`` (still
        recording); RoomFull, GhostConflict, RoomNotFound from the store."""
        await self._owner(room_id, caller_id)
        rec = await self.repo.get(recording_id)
        if rec is None:
            raise ReplayError("not_found", "no such recording")
        if not await self.repo.can_see(uuid.UUID(caller_id), rec):
            raise ReplayError("forbidden", "this recording is not shared with you")
        if rec.ended_ms is None:
            raise ReplayError("conflict", "the recording is still in progress")
        rid = str(rec.id)
        if any(ghost_recording_id(m) == rid for m in await self.store.members(room_id)):
            raise ReplayError("conflict", "this recording is a ghost of the room already")
        timeline = await self._load(rec)
        member = await self.store.join_ghost(
            room_id, recording_id=rid, user_id=str(rec.user_id),
            display_name=f"{rec.display_name} (ghost)", node_id=self.node_id,
            now_ms=now_ms())
        room = self._rooms.setdefault(room_id, _Room())
        room.ghosts[rid] = _Ghost(rid, member.slot, timeline)
        self.stats["ghosts_added"] += 1
        await self._sync(room_id, room)
        await self._broadcast(room_id, "member_joined", member_event(member))
        return member

    async def remove(self, room_id: str, caller_id: str, recording_id: uuid.UUID) -> Member:
        """``ghost_remove``: the room owner takes a ghost out; ``member_left`` goes to the
        room. Raises ReplayError ``forbidden`` (not the owner), ``not_found`` (no such
        ghost in the room), RoomNotFound."""
        await self._owner(room_id, caller_id)
        gone = await self._remove(room_id, str(recording_id))
        if gone is None:
            raise ReplayError("not_found", "no such ghost in this room")
        return gone

    async def recording_deleted(self, recording_id: uuid.UUID) -> int:
        """The recording is gone (``DELETE /api/ghosts/{id}``, account deletion): its ghost
        leaves every room at once (``member_left`` to each), whichever node replays it;
        other nodes forget it at their next sync. Returns the rooms it left."""
        rid, left = str(recording_id), 0
        for room_id in await self.store.ghost_rooms(rid):
            if await self._remove(room_id, rid) is not None:
                left += 1
        return left

    async def _owner(self, room_id: str, caller_id: str) -> None:
        snap = await self.game.store.snapshot(room_id)
        if snap.owner_id != caller_id:
            raise ReplayError("forbidden", "only the room owner adds or removes ghosts")

    async def _remove(self, room_id: str, rid: str) -> Member | None:
        room = self._rooms.get(room_id)
        if room is not None:
            self._forget(room_id, room, rid)
        before = await self.store.leave_ghost(room_id, rid)
        if before is not None:
            self.relay.clear_slot(room_id, before.slot)
            self.stats["ghosts_removed"] += 1
            await self._broadcast(room_id, "member_left", member_event(before))
        return before

    def _forget(self, room_id: str, room: _Room, rid: str) -> None:
        g = room.ghosts.pop(rid, None)
        if g is not None:
            self.relay.clear_slot(room_id, g.slot)
        if not room.ghosts and self._rooms.get(room_id) is room:
            del self._rooms[room_id]

    async def _load(self, rec: Recording) -> Timeline:
        """Read the recording's chunks and decode them in a worker thread."""
        blobs = await self.repo.chunks(rec.id)
        return await asyncio.to_thread(decode_timeline, rec.duration_ms, blobs)

    # -- hooks ------------------------------------------------------------------------------
    def poke(self, room_id: str) -> None:
        """The room's timer changed on this node: read it at the next control pass."""
        room = self._rooms.get(room_id)
        if room is not None:
            room.next_sync = 0.0

    async def discover(self, room_id: str, members: Iterable[Member]) -> None:
        """Take up ghosts of ``room_id`` this node does not replay yet (added on another
        node, or before a restart): a member joining here needs their frames. Reads and
        decodes each unknown recording; a deleted one is skipped."""
        room = self._rooms.get(room_id)
        for m in members:
            rid = ghost_recording_id(m)
            if rid is None or (room is not None and rid in room.ghosts):
                continue
            rec = await self.repo.get(uuid.UUID(rid))
            if rec is None:
                continue
            timeline = await self._load(rec)
            room = self._rooms.setdefault(room_id, _Room())
            room.ghosts[rid] = _Ghost(rid, m.slot, timeline, attention=m.attention,
                                      stored=m.attention)
            self.stats["ghosts_discovered"] += 1
        if room is not None and room.ghosts:
            await self._sync(room_id, room)

    def knows(self, room_id: str, slot: int) -> bool:
        room = self._rooms.get(room_id)
        return room is not None and any(g.slot == slot for g in room.ghosts.values())

    # -- race ---------------------------------------------------------------------------------
    async def race(self, room_id: str) -> list[dict[str, Any]]:
        """The ``ghost_race`` list of the room (module docstring); [] without ghosts."""
        room = self._rooms.get(room_id)
        if room is None or not room.ghosts:
            return []
        room_focused_s = 0.0
        if room.phase is not None:
            totals = await self.game.store.focus_totals(room_id)
            t0, index = room.phase
            tail = f":{t0}:{index}:"
            present = {f.split(":", 3)[3] for f in totals if f.startswith("p" + tail)}
            if present:
                room_focused_s = sum(totals.get(f"f{tail}{u}", 0)
                                     for u in present) / len(present) / 1000
        at = now_ms()
        out = []
        for g in sorted(room.ghosts.values(), key=lambda g: g.slot):
            t = room.clock(g, at)
            ghost_s = 0.0 if t is None else g.timeline.focused_ms(t) / 1000
            out.append({"slot": g.slot, "recording_id": g.recording_id,
                        "ghost_focused_s": round(ghost_s, 1),
                        "room_focused_s": round(room_focused_s, 1),
                        "ahead_s": round(room_focused_s - ghost_s, 1)})
        return out

    # -- tasks --------------------------------------------------------------------------------
    async def run_frames(self) -> None:
        """Offer each ghost's due frame every 100 ms without drift; cancelled on shutdown."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            next_tick += FRAME_PERIOD_S
            delay = next_tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.stats["replay_ticks_late"] += 1
                next_tick = loop.time()
            self.step_frames(now_ms())

    def step_frames(self, at: int) -> None:
        """One frame pass at ``at`` (epoch ms): sync, no I/O."""
        for room_id, room in self._rooms.items():
            for g in room.ghosts.values():
                t = room.clock(g, at)
                if t is None or g.done is not None:
                    continue
                tl = g.timeline
                if t >= tl.duration_ms:
                    g.done = "ended"
                    continue
                i = bisect_right(tl.times, t) - 1
                if i <= g.last_sample:
                    continue
                g.last_sample = i
                s = tl.samples[i]
                if s.flags & FLAG_FACE:  # as for live members: no face, the avatar freezes
                    self.relay.offer(room_id, g.slot,
                                     sample_to_frame(s, i, room.started_ms + s.t_ms))
                    self.stats["replay_frames"] += 1

    async def run_control(self) -> None:
        """Syncs, attention, removals and races every 100 ms; cancelled on shutdown. A
        failing room is logged and retried at its next sync."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            await asyncio.sleep(CONTROL_PERIOD_S)
            for room_id, room in list(self._rooms.items()):
                try:
                    await self._control(room_id, room)
                except asyncio.CancelledError:
                    raise
                except RoomNotFound:  # the room closed: its ghosts went with it
                    for rid in list(room.ghosts):
                        self._forget(room_id, room, rid)
                except Exception:
                    stop_if_cancelled()
                    self.stats["replay_control_errors"] += 1
                    room.next_sync = time.monotonic() + self.sync_s
                    logger.exception("ghost control pass failed", extra={"room_id": room_id})

    async def _control(self, room_id: str, room: _Room) -> None:
        mono = time.monotonic()
        if mono >= room.next_sync:
            await self._sync(room_id, room)
        at = now_ms()
        self._align(room, at)
        for rid, g in list(room.ghosts.items()):
            if g.done is not None:
                logger.info("ghost leaves", extra={"room_id": room_id, "slot": g.slot,
                                                   "reason": g.done})
                await self._remove(room_id, rid)
                continue
            t = room.clock(g, at)
            if t is None:
                continue
            events = g.timeline.attention
            due: tuple[int, str] | None = None
            while g.next_event < len(events) and events[g.next_event][0] <= t:
                due = events[g.next_event]
                g.next_event += 1
            if due is not None and due[1] != g.attention:
                g.attention = due[1]
                g.attention_since_ms = room.started_ms + max(0, due[0])
            if room.leased and g.attention != g.stored:
                g.stored = g.attention
                await self.game.publish_attention(
                    room_id, slot=g.slot, sid=ghost_sid(rid), attention=g.attention,
                    since_ms=g.attention_since_ms)
        if room.leased and room.ghosts and mono >= room.next_race:
            room.next_race = mono + self.race_s
            await self._broadcast(room_id, "ghost_race", {"ghosts": await self.race(room_id)})

    async def _sync(self, room_id: str, room: _Room) -> None:
        """Read the room's timer, members and lease holder; align, bind and end ghosts."""
        room.next_sync = time.monotonic() + self.sync_s
        snap = await self.game.store.snapshot(room_id)
        holder = await self.game.store.lease_holder(room_id)
        room.leased = holder is not None and holder.startswith(self.node_id + ":")
        room.timer = None if snap.timer is None else timer_rules.from_record(snap.timer)
        stored = {ghost_recording_id(m): m.attention for m in snap.members}
        for rid, g in list(room.ghosts.items()):
            if rid not in stored:  # removed by another node
                self._forget(room_id, room, rid)
            else:
                g.stored = stored[rid]
        self._align(room, now_ms())

    @staticmethod
    def _align(room: _Room, at_ms: int) -> None:
        """Place the room's ghosts on its timer at ``at_ms`` (pure, every control pass: the
        timer record read at the last sync says when each phase ends, so a phase's natural
        end needs no read; only commands from another node wait for the next sync)."""
        view = timer_rules.view(room.timer, at_ms)
        timer = room.timer
        if timer is not None and view.phase == "focus" and view.started_ms is not None:
            room.phase = (timer.t0_ms, view.index)
            room.started_ms, room.paused_at_ms = view.started_ms, view.paused_at_ms
        else:
            room.phase, room.paused_at_ms = None, None
        for g in room.ghosts.values():
            if g.phase is None:
                g.phase = room.phase  # waits until a focus phase runs
            elif g.phase != room.phase and g.done is None:
                g.done = "phase_over"
