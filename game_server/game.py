"""The room game on one node: timer commands, phase changes and the 1 s room tick.

Rules are pure (``rooms.rules.timer``, ``rooms.rules.boss``); state lives in Redis
(``rooms.game_store``); this module reads, applies a rule and writes back, and broadcasts
the outcome to the room through Socket.IO (which crosses nodes via its Redis manager).

- Timer commands (room owner only) are compare-and-set writes, retried on a conflict.
- Phase changes: every command schedules the room's next boundary in ``timers:due``; each
  node's scheduler claims due rooms (exactly one node wins each) and announces the phase.
- Room ticks: each node tries to hold the lease of every room it has members in; the holder
  applies one tick per second (boss damage from server-side attention, per-member focus
  accounting) through a fenced, once-per-tick-id Lua write, then broadcasts ``boss``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from game_server.awards import AwardOutbox
from game_server.metrics import LATENCY_BUCKETS_S, Histogram
from game_server.progress_repo import PhaseAward
from game_server.task_guard import stop_if_cancelled
from rooms.game_store import GameConflict, GameSnapshot, GameStore, Lease
from rooms.rules import boss as boss_rules
from rooms.rules import timer as timer_rules
from rooms.rules.boss import BossRules, BossState, TickInput
from rooms.rules.timer import TimerError, TimerPlan, TimerRules, TimerState
from rooms.store import RoomError

logger = logging.getLogger(__name__)

Broadcast = Callable[[str, str, Any], Awaitable[None]]
"""``broadcast(room_id, event, data)``: send a control event to every socket of the room."""

TimerAction = Literal["start", "pause", "resume", "skip", "stop"]
CAS_RETRIES = 3
SCHEDULER_POLL_S = 0.25


def now_ms() -> int:
    return int(time.time() * 1000)


class GameError(RoomError):
    """A refused game command; ``code`` is the wire error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class GameView:
    """What RoomState shows of the game: the ``timer`` and ``boss`` event payloads."""

    timer: dict[str, Any]
    boss: dict[str, Any] | None


def _timer(snap: GameSnapshot) -> TimerState | None:
    return None if snap.timer is None else timer_rules.from_record(snap.timer)


def _boss(snap: GameSnapshot) -> BossState | None:
    return None if snap.boss is None else boss_rules.from_record(snap.boss)


class GameService:
    """Timer commands, the phase-change scheduler and the leased room ticker of one node."""

    def __init__(self, store: GameStore, broadcast: Broadcast, *, node_id: str,
                 timer_rules_: TimerRules, boss_rules_: BossRules,
                 awards: AwardOutbox | None = None,
                 clock_ms: Callable[[], int] = now_ms) -> None:
        self.store = store
        self.awards = awards
        self._broadcast = broadcast
        self.node_id = node_id
        self.timer_rules = timer_rules_
        self.boss_rules = boss_rules_
        self._clock_ms = clock_ms
        self._local: Counter[str] = Counter()  # room_id -> members on this node
        self._leases: dict[str, Lease] = {}
        self.stats: Counter[str] = Counter()
        self.tick_duration = Histogram(LATENCY_BUCKETS_S)
        """s per ticker pass (every local room's lease and tick, once a second)."""

    # -- membership on this node (drives which leases it competes for) -------------------
    @property
    def local_rooms(self) -> int:
        """Rooms with members on this node."""
        return len(self._local)

    @property
    def leases_held(self) -> int:
        """Rooms this node ticks (holds the lease of)."""
        return len(self._leases)

    def member_arrived(self, room_id: str) -> None:
        self._local[room_id] += 1

    def member_departed(self, room_id: str) -> None:
        self._local[room_id] -= 1
        if self._local[room_id] <= 0:
            del self._local[room_id]

    async def publish_attention(self, room_id: str, *, slot: int, sid: str, attention: str,
                                since_ms: int) -> None:
        """Store a member's new attention state (read by the room tick) and tell the room;
        nothing happens if ``sid`` no longer holds ``slot``."""
        if await self.store.set_attention(room_id, slot=slot, sid=sid, attention=attention,
                                          since_ms=since_ms):
            await self._broadcast(room_id, "member_state", {
                "slot": slot, "attention": attention, "since_ms": since_ms,
                "connected": True})

    # -- reads ------------------------------------------------------------------------------
    def view(self, snap: GameSnapshot, at_ms: int) -> GameView:
        """The timer and boss payloads of a snapshot at ``at_ms``."""
        timer = _timer(snap)
        wire = timer_rules.to_wire(timer_rules.view(timer, at_ms),
                                   None if timer is None else timer.plan)
        boss = _boss(snap)
        if boss is None:
            return GameView(wire, None)
        remaining_s = timer_rules.focus_remaining_ms(timer, at_ms) / 1000
        return GameView(wire, boss_rules.to_wire(
            self.boss_rules, boss, dps=0.0,
            rage=boss_rules.rage(boss, focus_remaining_s=remaining_s)))

    async def room_view(self, room_id: str) -> GameView:
        return self.view(await self.store.snapshot(room_id), self._clock_ms())

    async def add_phase_counts(self, room_id: str,
                               counts: Mapping[str, Mapping[str, int]]) -> bool:
        """Credit members' insight counters to the focus phase running now.

        ``counts``: user_id -> {``l``: cognitive-load ms, ``b``: blinks, ``i``: automatic
        interruptions} measured by the node holding the sockets since its last flush. They
        land in the focus hash beside the ticks' present/focused/distracted ms and reach the
        phase's award (``_award_phase``). Outside a running focus phase (break, paused,
        idle) they are dropped: returns False. Raises RoomNotFound."""
        snap = await self.store.snapshot(room_id)
        timer = _timer(snap)
        at = self._clock_ms()
        if timer is None or timer.paused:
            return False
        view = timer_rules.view(timer, at)
        if view.phase != "focus":
            return False
        await self.store.add_focus_counts(room_id, {
            f"{kind}:{timer.t0_ms}:{view.index}:{user}": n
            for user, c in counts.items() for kind, n in c.items() if n > 0})
        return True

    async def focus_window(self, room_id: str) -> tuple[int, int] | None:
        """The span (epoch ms) a self-reported interruption may lie in: the running focus
        phase up to now, or during a break the focus phase just before it (members log what
        happened once they are back). None when the room has no timer running.
        Raises RoomNotFound."""
        timer = _timer(await self.store.snapshot(room_id))
        at = self._clock_ms()
        view = timer_rules.view(timer, at)
        if timer is None or view.started_ms is None or view.phase == "idle":
            return None
        if view.phase == "focus":
            return view.started_ms, at
        before = timer_rules.view(timer, view.started_ms - 1)
        if before.phase != "focus" or before.started_ms is None:
            return None
        return before.started_ms, view.started_ms

    # -- timer commands ---------------------------------------------------------------------
    async def timer_command(self, room_id: str, user_id: str, action: TimerAction,
                            plan: TimerPlan | None = None) -> dict[str, Any]:
        """Apply a room owner's timer command; returns the ``timer`` payload (also broadcast).

        Raises GameError (``forbidden`` for non-owners, ``conflict``/``bad_request`` from the
        timer rules), RoomNotFound."""
        for _ in range(CAS_RETRIES):
            snap = await self.store.snapshot(room_id)
            if snap.owner_id != user_id:
                raise GameError("forbidden", "only the room owner controls the timer")
            at = self._clock_ms()
            try:
                timer, boss = self._command(snap, action, plan, at)
            except TimerError as exc:
                raise GameError(exc.code, str(exc)) from None
            try:
                await self.store.write_timer(
                    room_id, read_rev=snap.timer_rev,
                    timer=None if timer is None else timer_rules.to_record(timer),
                    next_change_ms=timer_rules.next_change_ms(timer, at),
                    boss="keep" if boss == "keep" else (
                        None if boss is None else boss_rules.to_record(boss)))
            except GameConflict:
                self.stats["timer_conflicts"] += 1
                continue
            before = _timer(snap)
            if action in ("skip", "stop") and before is not None:
                ended = timer_rules.view(before, at)
                if ended.phase == "focus":  # cut short: awarded, not completed
                    await self._award_phase(room_id, before, ended.index, ended.started_ms, at,
                                            completed=False)
            payload = timer_rules.to_wire(timer_rules.view(timer, at),
                                          None if timer is None else timer.plan)
            await self._broadcast(room_id, "timer", payload)
            if boss != "keep":
                view = self.view(await self.store.snapshot(room_id), at)
                await self._broadcast(room_id, "boss", view.boss)
            return payload
        raise GameError("conflict", "the timer is busy; try again")

    def _command(self, snap: GameSnapshot, action: TimerAction, plan: TimerPlan | None,
                 at: int) -> tuple[TimerState | None, BossState | None | Literal["keep"]]:
        """The pure part of a command: (new timer, new boss or "keep")."""
        timer = _timer(snap)
        rev = int(snap.timer_rev or 0) + 1
        running = timer is not None and timer_rules.view(timer, at).phase != "idle"
        if action == "start":
            if running:
                raise TimerError("conflict", "a set is running; stop it first")
            assert plan is not None
            new = timer_rules.start(plan, at, rev=rev, rules=self.timer_rules)
            members = frozenset(m.user_id for m in snap.members
                                if m.connected and m.kind == "live")
            fight = boss_rules.new_fight(self.boss_rules,
                                         planned_focus_s=plan.planned_focus_ms / 1000,
                                         members=members, tick_id=at // 1000)
            return new, fight
        if action == "stop":
            if timer is None:
                raise TimerError("conflict", "no timer is set")
            return None, None
        if timer is None or not running:
            raise TimerError("conflict", "no set is running")
        if action == "pause":
            return timer_rules.pause(timer, at), "keep"
        if action == "resume":
            return timer_rules.resume(timer, at), "keep"
        skipped = timer_rules.skip(timer, at)
        finished = timer_rules.view(skipped, at).phase == "idle"
        return skipped, None if finished else "keep"

    # -- phase changes ------------------------------------------------------------------------
    async def run_scheduler(self) -> None:
        """Claim and announce due phase changes until cancelled (every node runs one)."""
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            try:
                await self._announce_due()
                nxt = await self.store.next_due_ms()
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                logger.exception("phase scheduler pass failed", extra={"node_id": self.node_id})
                nxt = None
            wait_s = SCHEDULER_POLL_S
            if nxt is not None:
                wait_s = min(wait_s, max(0.0, (nxt - self._clock_ms()) / 1000))
            await asyncio.sleep(wait_s)

    async def _announce_due(self) -> None:
        at = self._clock_ms()
        for room_id in await self.store.due_rooms(at):
            due = await self.store.claim_due(room_id, at)
            if due is not None:
                try:
                    await self._phase_changed(room_id, due, at)
                except RoomError:
                    pass  # the room is gone from Redis: nothing to announce

    async def _phase_changed(self, room_id: str, due: int, at: int) -> None:
        snap = await self.store.snapshot(room_id)
        timer = _timer(snap)
        if timer is None:
            return
        view = timer_rules.view(timer, at)
        ended = timer_rules.view(timer, due - 1)
        for index in range(ended.index, view.index):  # usually one phase; more if late
            if index % 2 == 0:  # focus phases are the even indices
                await self._award_phase(room_id, timer, index, ended.started_ms, at,
                                        completed=True)
        self.stats["phase_changes"] += 1
        logger.info("phase change", extra={"room_id": room_id, "phase": view.phase,
                                           "index": view.index})
        await self._broadcast(room_id, "timer", timer_rules.to_wire(view, timer.plan))
        if view.phase == "idle":  # the set is over; a boss still alive escapes
            if snap.boss is not None:
                try:
                    await self.store.write_timer(room_id, read_rev=snap.timer_rev,
                                                 timer=snap.timer, next_change_ms=None,
                                                 boss=None)
                    await self._broadcast(room_id, "boss", None)
                except GameConflict:
                    pass  # a command changed the timer meanwhile and decided for itself
            return
        nxt = timer_rules.next_change_ms(timer, at)
        if nxt is not None:
            await self.store.reschedule(room_id, rev=snap.timer_rev, next_change_ms=nxt)

    async def _award_phase(self, room_id: str, timer: TimerState, index: int,
                           started_ms: int | None, at: int, *, completed: bool) -> None:
        """Queue the awards of focus phase ``index`` for every member present in it, from
        the focus accounting of the room ticks. Called once per phase end cluster-wide
        (the claimer of the phase change, or the command that cut the phase short)."""
        if self.awards is None:
            return
        totals = await self.store.focus_totals(room_id)
        key = f":{timer.t0_ms}:{index}:"
        by_kind: dict[str, dict[str, int]] = {}
        for f, value in totals.items():
            kind, _, rest = f.partition(":")
            if (":" + rest).startswith(key):
                by_kind.setdefault(kind, {})[rest.split(":", 2)[2]] = value
        present = by_kind.get("p", {})
        if not present:
            return
        focused, distracted = by_kind.get("f", {}), by_kind.get("d", {})
        load, blinks, interrupted = (by_kind.get(k, {}) for k in ("l", "b", "i"))
        plan = timer.plan
        started = at - plan.focus_ms if started_ms is None else started_ms
        planned_s = plan.focus_ms / 1000
        awards = [PhaseAward(user_id=user, room_id=room_id, set_t0_ms=timer.t0_ms,
                             phase_index=index, cycles=plan.cycles,
                             started_ms=min(started, at), ended_ms=at, planned_s=planned_s,
                             present_s=ms / 1000, focused_s=focused.get(user, 0) / 1000,
                             group_size=len(present), completed=completed,
                             distracted_s=distracted.get(user, 0) / 1000,
                             load_s=load.get(user, 0) / 1000, blinks=blinks.get(user, 0),
                             interruptions=interrupted.get(user, 0))
                  for user, ms in sorted(present.items())]
        await self.awards.enqueue_phases(awards)

    # -- room ticks -----------------------------------------------------------------------------
    async def run_ticker(self) -> None:
        """Once a second: hold the leases of local rooms and tick the rooms held."""
        loop = asyncio.get_running_loop()
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            # tick just after each whole second of the server clock, so tick ids line up
            await asyncio.sleep(1.0 - (self._clock_ms() % 1000) / 1000 + 0.02)
            started = loop.time()
            for room_id in list(self._local):
                try:
                    await self._tick_room(room_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    stop_if_cancelled()
                    self.stats["tick_errors"] += 1
                    logger.exception("room tick failed", extra={"room_id": room_id})
            for room_id in [r for r in self._leases if r not in self._local]:
                lease = self._leases.pop(room_id)
                await self.store.release_lease(room_id, lease)
            self.tick_duration.observe(loop.time() - started)
            if loop.time() - started > 0.5:
                self.stats["ticks_slow"] += 1

    async def release_all(self) -> None:
        """Shutdown: give every held lease up so another node takes the rooms at once."""
        for room_id, lease in list(self._leases.items()):
            await self.store.release_lease(room_id, lease)
        self._leases.clear()

    async def _tick_room(self, room_id: str) -> None:
        lease, status = await self.store.acquire_lease(room_id, self.node_id)
        if lease is None:
            self._leases.pop(room_id, None)
            return
        if status == "acquired":
            logger.info("room lease acquired", extra={"room_id": room_id,
                                                      "node_id": self.node_id,
                                                      "fence": lease.fence})
        self._leases[room_id] = lease
        at = self._clock_ms()
        snap = await self.store.snapshot(room_id)
        timer = _timer(snap)
        if timer is None or timer_rules.view(timer, at).phase == "idle":
            return
        outcome = self.tick_outcome(snap, timer, at)
        status_ = await self.store.apply_tick(
            room_id, lease, tick_id=outcome.tick_id, read_tick=snap.boss_tick,
            read_rev=snap.timer_rev,
            boss=None if outcome.boss is None else boss_rules.to_record(outcome.boss),
            focus_ms=outcome.focus_ms)
        self.stats[f"ticks_{status_}"] += 1
        if status_ != "ok":
            if status_ == "not_owner":
                self._leases.pop(room_id, None)
            return
        if outcome.defeated is not None:
            kill = outcome.defeated
            await self._broadcast(room_id, "boss_defeated", boss_rules.defeated_to_wire(kill))
            if self.awards is not None:
                await self.awards.enqueue_kill(
                    room_id=room_id, set_t0_ms=timer.t0_ms, level=kill.level, name=kill.name,
                    damage_by_user=kill.damage_by_user, xp_bonus=kill.xp_bonus, killed_ms=at)
        if outcome.boss is not None or outcome.defeated is not None:
            await self._broadcast(room_id, "boss", outcome.wire)

    def tick_outcome(self, snap: GameSnapshot, timer: TimerState, at: int) -> TickOutcome:
        """The pure part of a tick at ``at``: new boss, its event and the focus increments."""
        tick_id = at // 1000
        last = int(snap.boss_tick) if snap.boss_tick else tick_id - 1
        seconds = float(min(max(tick_id - last, 0), self.boss_rules.max_tick_s))
        view = timer_rules.view(timer, at)
        in_focus = view.phase == "focus" and not timer.paused
        live = [m for m in snap.members if m.connected and m.kind == "live"]
        present = frozenset(m.user_id for m in live)
        focused = frozenset(m.user_id for m in live if m.attention == "focused")
        distracted = frozenset(m.user_id for m in live if m.attention == "distracted")
        remaining_s = timer_rules.focus_remaining_ms(timer, at) / 1000
        focus_ms: dict[str, int] = {}
        if in_focus and seconds > 0:
            for user in present:
                focus_ms[f"p:{timer.t0_ms}:{view.index}:{user}"] = int(seconds * 1000)
            for user in focused:
                focus_ms[f"f:{timer.t0_ms}:{view.index}:{user}"] = int(seconds * 1000)
            for user in distracted:
                focus_ms[f"d:{timer.t0_ms}:{view.index}:{user}"] = int(seconds * 1000)
        boss = _boss(snap)
        if boss is None:
            return TickOutcome(tick_id, None, None, None, focus_ms)
        if in_focus:
            for user in sorted(present - boss.counted_users):
                boss = boss_rules.add_latecomer(self.boss_rules, boss, user,
                                                focus_remaining_s=remaining_s)
        result = boss_rules.tick(self.boss_rules, boss, TickInput(
            tick_id=tick_id, seconds=seconds, focused=focused, distracted=distracted,
            present=present, focus_remaining_s=remaining_s, in_focus_phase=in_focus))
        wire = None
        if result.state is not None:
            wire = boss_rules.to_wire(self.boss_rules, result.state, dps=result.dps,
                                      rage=boss_rules.rage(result.state,
                                                           focus_remaining_s=remaining_s))
        return TickOutcome(tick_id, result.state, wire, result.defeated, focus_ms)


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """One tick's result: the boss after it (None: fight over), its ``boss`` payload, a
    kill if any, and focus-hash increments (ms)."""

    tick_id: int
    boss: BossState | None
    wire: dict[str, Any] | None
    defeated: boss_rules.BossDefeated | None
    focus_ms: dict[str, int]
