"""The room's shared Pomodoro timer as absolute timestamps (DESIGN.md sections 3 and 5).

A set with ``cycles`` focus phases runs focus 1, short break, focus 2, short break, ...,
focus N, long break; after that the set is finished (phase ``idle``). Phase ``index`` runs
0..2N-1 and is 2N once finished; a break belongs to the focus ``cycle`` before it.

The state holds instants and sums only; every view is computed from it and ``now_ms``, so
nothing drifts and a late joiner lands in the right phase. Set time (ms of the plan used up)::

    elapsed = now - t0 - paused_total - (now - paused_at if paused else 0) + skipped

clamped at 0. Phase ``i`` starts at set time ``ceil(i/2) * focus + floor(i/2) * short_break``;
at a boundary instant the later phase is current. All instants are Unix epoch ms on the
server clock. A ``now_ms`` earlier than an instant the state holds (clock skew between nodes)
counts as that instant. Commands raise :class:`TimerError` (``code`` ``conflict`` or
``bad_request``, the wire's error codes) and bump ``rev``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal, TypeAlias

Phase: TypeAlias = Literal["focus", "short_break", "long_break", "idle"]
TimerErrorCode: TypeAlias = Literal["conflict", "bad_request"]

MS_PER_MINUTE: Final = 60_000


class TimerError(ValueError):
    """A command that does not fit the state (``conflict``) or a bad plan or record
    (``bad_request``); ``code`` is the wire error code."""

    def __init__(self, code: TimerErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: TimerErrorCode = code


@dataclass(frozen=True, slots=True)
class TimerRules:
    """Bounds on a plan, checked by :func:`start`."""

    min_phase_ms: int = MS_PER_MINUTE
    """Shortest phase, ms. The wire's ``timer_start`` speaks whole minutes (DESIGN.md s3)."""
    max_phase_ms: int = 4 * 60 * MS_PER_MINUTE
    """Longest phase, ms. 4 h: well above the 60-min focus and 15-min long break the seeds
    offer (DESIGN.md s1), low enough that a typo cannot park a room for days."""
    max_cycles: int = 12
    """Most focus phases in a set. The seeds' set is 4 (long break after 4, DESIGN.md s1);
    12 allows a whole working day of 25-min cycles."""


DEFAULT_TIMER_RULES: Final = TimerRules()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class TimerPlan:
    """Phase durations (ms) and the number of focus phases in the set."""

    focus_ms: int
    short_break_ms: int
    long_break_ms: int
    cycles: int

    def __post_init__(self) -> None:
        for name in ("focus_ms", "short_break_ms", "long_break_ms", "cycles"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise TimerError("bad_request", f"{name} must be a positive integer, got {value!r}")

    @property
    def planned_focus_ms(self) -> int:
        """Focus time of the whole set, ms."""
        return self.focus_ms * self.cycles

    @property
    def total_ms(self) -> int:
        """Length of the whole set without pauses, ms."""
        return self.planned_focus_ms + self.short_break_ms * (self.cycles - 1) + self.long_break_ms


def plan_from_minutes(focus_min: int, break_min: int, long_break_min: int,
                      cycles: int) -> TimerPlan:
    """The plan for a ``timer_start`` payload (whole minutes on the wire)."""
    return TimerPlan(focus_min * MS_PER_MINUTE, break_min * MS_PER_MINUTE,
                     long_break_min * MS_PER_MINUTE, cycles)


@dataclass(frozen=True, slots=True)
class TimerState:
    """A running, paused or finished set; see the module docstring for the arithmetic."""

    plan: TimerPlan
    t0_ms: int
    paused_at_ms: int | None
    paused_total_ms: int
    skipped_ms: int
    rev: int

    def __post_init__(self) -> None:
        if not isinstance(self.plan, TimerPlan):
            raise TimerError("bad_request", "plan must be a TimerPlan")
        for name in ("t0_ms", "paused_total_ms", "skipped_ms", "rev"):
            if not _is_int(getattr(self, name)):
                raise TimerError("bad_request", f"{name} must be an integer")
        if self.paused_at_ms is not None and not _is_int(self.paused_at_ms):
            raise TimerError("bad_request", "paused_at_ms must be an integer or None")
        if self.paused_total_ms < 0 or self.skipped_ms < 0 or self.rev < 1:
            raise TimerError("bad_request", "paused_total_ms, skipped_ms >= 0 and rev >= 1")
        if self.paused_at_ms is not None and self.paused_at_ms < self.t0_ms:
            raise TimerError("bad_request", "paused_at_ms is before t0_ms")

    @property
    def paused(self) -> bool:
        return self.paused_at_ms is not None


@dataclass(frozen=True, slots=True)
class PhaseView:
    """The timer as clients see it at one instant.

    While paused, ``started_ms``/``ends_ms`` are the values as of the pause instant (clients
    show ``ends_ms - paused_at_ms`` frozen). Idle: ``index`` is 2N (0 without a set), ``cycle``
    0, ``started_ms`` the instant the set finished (None without a set), ``ends_ms`` and
    ``paused_at_ms`` None, ``remaining_ms`` 0.
    """

    phase: Phase
    index: int
    cycle: int
    cycles: int
    started_ms: int | None
    ends_ms: int | None
    paused_at_ms: int | None
    remaining_ms: int


def _phase_of(plan: TimerPlan, index: int) -> Phase:
    if index >= 2 * plan.cycles:
        return "idle"
    if index % 2 == 0:
        return "focus"
    return "long_break" if index == 2 * plan.cycles - 1 else "short_break"


def _duration(plan: TimerPlan, index: int) -> int:
    phase = _phase_of(plan, index)
    if phase == "focus":
        return plan.focus_ms
    if phase == "short_break":
        return plan.short_break_ms
    return plan.long_break_ms if phase == "long_break" else 0


def _offset(plan: TimerPlan, index: int) -> int:
    """Set time at which phase ``index`` starts (``total_ms`` for 2N)."""
    if index >= 2 * plan.cycles:
        return plan.total_ms
    return (index + 1) // 2 * plan.focus_ms + index // 2 * plan.short_break_ms


def _index_at(plan: TimerPlan, elapsed: int) -> int:
    block = plan.focus_ms + plan.short_break_ms
    k = min(elapsed // block, plan.cycles - 1)  # the last block is focus N + long break
    rest = elapsed - k * block
    if rest < plan.focus_ms:
        return 2 * k
    if k < plan.cycles - 1 or rest < plan.focus_ms + plan.long_break_ms:
        return 2 * k + 1
    return 2 * plan.cycles


def _reference_ms(state: TimerState, now_ms: int) -> int:
    """The instant the set clock reads: the pause instant while paused, else now."""
    if state.paused_at_ms is not None:
        return state.paused_at_ms
    return max(now_ms, state.t0_ms)


def _raw_elapsed(state: TimerState, now_ms: int) -> int:
    return _reference_ms(state, now_ms) - state.t0_ms - state.paused_total_ms + state.skipped_ms


def start(plan: TimerPlan, now_ms: int, *, rev: int = 1,
          rules: TimerRules = DEFAULT_TIMER_RULES) -> TimerState:
    """A new set whose first focus phase starts at ``now_ms``; ``rev`` continues the room's."""
    durations = {"focus_ms": plan.focus_ms, "short_break_ms": plan.short_break_ms,
                 "long_break_ms": plan.long_break_ms}
    for name, value in durations.items():
        if not rules.min_phase_ms <= value <= rules.max_phase_ms:
            raise TimerError("bad_request", f"{name} must be within {rules.min_phase_ms}.."
                             f"{rules.max_phase_ms} ms, got {value}")
    if plan.cycles > rules.max_cycles:
        raise TimerError("bad_request", f"cycles must be at most {rules.max_cycles}")
    if not _is_int(now_ms) or not _is_int(rev) or rev < 1:
        raise TimerError("bad_request", "now_ms must be an integer and rev a positive integer")
    return TimerState(plan, now_ms, None, 0, 0, rev)


def pause(state: TimerState, now_ms: int) -> TimerState:
    """Freeze the set clock at ``now_ms``. Conflict when already paused or finished."""
    if state.paused_at_ms is not None:
        raise TimerError("conflict", "the timer is already paused")
    if view(state, now_ms).phase == "idle":
        raise TimerError("conflict", "the set is finished; start a new one")
    return replace(state, paused_at_ms=max(now_ms, state.t0_ms), rev=state.rev + 1)


def resume(state: TimerState, now_ms: int) -> TimerState:
    """Restart the set clock; the pause's length joins ``paused_total_ms``."""
    if state.paused_at_ms is None:
        raise TimerError("conflict", "the timer is not paused")
    if view(state, now_ms).phase == "idle":
        raise TimerError("conflict", "the set is finished; start a new one")
    held = max(now_ms, state.paused_at_ms) - state.paused_at_ms
    return replace(state, paused_at_ms=None, paused_total_ms=state.paused_total_ms + held,
                   rev=state.rev + 1)


def skip(state: TimerState, now_ms: int) -> TimerState:
    """Jump to the start of the next phase (paused too); skipping the last phase finishes the
    set. Conflict when the set is already finished."""
    raw = _raw_elapsed(state, now_ms)
    index = _index_at(state.plan, max(0, raw))
    if index >= 2 * state.plan.cycles:
        raise TimerError("conflict", "the set is finished; nothing to skip")
    jump = _offset(state.plan, index + 1) - raw
    return replace(state, skipped_ms=state.skipped_ms + jump, rev=state.rev + 1)


def view(state: TimerState | None, now_ms: int) -> PhaseView:
    """The phase at ``now_ms``; ``None`` (no set) gives the idle view."""
    if state is None:
        return PhaseView("idle", 0, 0, 0, None, None, None, 0)
    plan = state.plan
    ref = _reference_ms(state, now_ms)
    elapsed = max(0, _raw_elapsed(state, now_ms))
    index = _index_at(plan, elapsed)
    started = ref - (elapsed - _offset(plan, index))
    if index >= 2 * plan.cycles:
        return PhaseView("idle", index, 0, plan.cycles, started, None, None, 0)
    ends = started + _duration(plan, index)
    return PhaseView(_phase_of(plan, index), index, index // 2 + 1, plan.cycles, started, ends,
                     state.paused_at_ms, ends - ref)


def next_change_ms(state: TimerState | None, now_ms: int) -> int | None:
    """Epoch ms of the next phase boundary; None without a set, while paused or finished."""
    if state is None or state.paused:
        return None
    return view(state, now_ms).ends_ms


def focus_remaining_ms(state: TimerState | None, now_ms: int) -> int:
    """Planned focus time still ahead in the set, ms: the current focus phase's remainder plus
    every later focus phase (frozen while paused)."""
    current = view(state, now_ms)
    if state is None or current.phase == "idle":
        return 0
    later = (current.cycles - current.cycle) * state.plan.focus_ms
    return later + (current.remaining_ms if current.phase == "focus" else 0)


def focus_elapsed_in_phase_ms(state: TimerState | None, now_ms: int) -> int:
    """How far into the current focus phase the set is, ms; 0 outside a focus phase."""
    current = view(state, now_ms)
    if state is None or current.phase != "focus":
        return 0
    return state.plan.focus_ms - current.remaining_ms


def to_wire(view: PhaseView, plan: TimerPlan | None) -> dict[str, object]:
    """The ``timer`` event payload (DESIGN.md section 3)."""
    durations = None if plan is None else {
        "focus_ms": plan.focus_ms, "short_break_ms": plan.short_break_ms,
        "long_break_ms": plan.long_break_ms,
    }
    return {
        "phase": view.phase, "cycle": view.cycle, "cycles": view.cycles, "index": view.index,
        "phase_started_ms": view.started_ms, "phase_ends_ms": view.ends_ms,
        "paused_at_ms": view.paused_at_ms, "remaining_ms": view.remaining_ms,
        "durations": durations,
    }


_RECORD_KEYS: Final = ("focus_ms", "short_break_ms", "long_break_ms", "cycles", "t0_ms",
                       "paused_at_ms", "paused_total_ms", "skipped_ms", "rev")


def to_record(state: TimerState) -> dict[str, int | None]:
    """A flat JSON-able dict for storage (keys as :data:`_RECORD_KEYS`)."""
    plan = state.plan
    return {
        "focus_ms": plan.focus_ms, "short_break_ms": plan.short_break_ms,
        "long_break_ms": plan.long_break_ms, "cycles": plan.cycles, "t0_ms": state.t0_ms,
        "paused_at_ms": state.paused_at_ms, "paused_total_ms": state.paused_total_ms,
        "skipped_ms": state.skipped_ms, "rev": state.rev,
    }


def from_record(record: Mapping[str, object]) -> TimerState:
    """The state :func:`to_record` wrote; ``bad_request`` for missing, extra or mistyped keys."""
    if set(record) != set(_RECORD_KEYS):
        raise TimerError("bad_request", f"timer record keys must be {sorted(_RECORD_KEYS)}")
    ints = {key: _record_int(record, key) for key in _RECORD_KEYS if key != "paused_at_ms"}
    paused_at = None if record["paused_at_ms"] is None else _record_int(record, "paused_at_ms")
    plan = TimerPlan(ints["focus_ms"], ints["short_break_ms"], ints["long_break_ms"],
                     ints["cycles"])
    return TimerState(plan, ints["t0_ms"], paused_at, ints["paused_total_ms"],
                      ints["skipped_ms"], ints["rev"])

def _record_int(record: Mapping[str, object], key: str) -> int:
    value = record[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TimerError("bad_request", f"timer record field {key} is not an integer")
    return value
