"""Pomodoro timer rules (rooms.rules.timer): phases from absolute timestamps, injected clocks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.rules.timer import (
    Phase,
    PhaseView,
    TimerError,
    TimerPlan,
    TimerRules,
    TimerState,
    focus_elapsed_in_phase_ms,
    focus_remaining_ms,
    from_record,
    next_change_ms,
    pause,
    plan_from_minutes,
    resume,
    skip,
    start,
    to_record,
    to_wire,
    view,
)

T0 = 1_700_000_000_000
ANY = TimerRules(min_phase_ms=1)  # tests use millisecond-scale phases
F, S, L = 1000, 200, 500


def plan(cycles: int) -> TimerPlan:
    return TimerPlan(F, S, L, cycles)


def go(p: TimerPlan, t0: int = T0) -> TimerState:
    return start(p, t0, rules=ANY)


def timeline(p: TimerPlan) -> list[tuple[Phase, int, int, int]]:
    """(phase, cycle, start, end) in set time, written out the long way."""
    out: list[tuple[Phase, int, int, int]] = []
    t = 0
    for c in range(1, p.cycles + 1):
        out.append(("focus", c, t, t + p.focus_ms))
        t += p.focus_ms
        last = c == p.cycles
        length = p.long_break_ms if last else p.short_break_ms
        out.append(("long_break" if last else "short_break", c, t, t + length))
        t += length
    return out


BOUNDARIES = [(n, i) for n in range(1, 5) for i in range(2 * n)]


@pytest.mark.parametrize(("cycles", "index"), BOUNDARIES)
def test_every_phase_boundary(cycles: int, index: int) -> None:
    p = plan(cycles)
    state = go(p)
    phase, cycle, begin, end = timeline(p)[index]
    if index > 0:
        before = view(state, T0 + begin - 1)
        assert (before.index, before.remaining_ms) == (index - 1, 1)
    at = view(state, T0 + begin)
    assert at == PhaseView(phase, index, cycle, cycles, T0 + begin, T0 + end, None, end - begin)
    after = view(state, T0 + begin + 1)
    assert (after.phase, after.index, after.remaining_ms) == (phase, index, end - begin - 1)
    assert next_change_ms(state, T0 + begin) == T0 + end


@pytest.mark.parametrize("cycles", [1, 2, 3, 4])
def test_set_finishes_after_the_long_break(cycles: int) -> None:
    p = plan(cycles)
    state = go(p)
    total = cycles * F + (cycles - 1) * S + L  # e.g. 4 cycles: 4000 + 600 + 500 = 5100
    assert p.total_ms == total and p.planned_focus_ms == cycles * F
    last = view(state, T0 + total - 1)
    assert (last.phase, last.index, last.cycle, last.remaining_ms) == ("long_break",
                                                                       2 * cycles - 1, cycles, 1)
    for t in (total, total + 1, total + 10**9):
        assert view(state, T0 + t) == PhaseView("idle", 2 * cycles, 0, cycles, T0 + total,
                                                None, None, 0)
        assert next_change_ms(state, T0 + t) is None
        assert focus_remaining_ms(state, T0 + t) == 0


def test_no_set_is_idle() -> None:
    assert view(None, T0) == PhaseView("idle", 0, 0, 0, None, None, None, 0)
    assert next_change_ms(None, T0) is None
    assert focus_remaining_ms(None, T0) == 0 and focus_elapsed_in_phase_ms(None, T0) == 0
    assert to_wire(view(None, T0), None) == {
        "phase": "idle", "cycle": 0, "cycles": 0, "index": 0, "phase_started_ms": None,
        "phase_ends_ms": None, "paused_at_ms": None, "remaining_ms": 0, "durations": None}


def test_pauses_resumes_and_skips_add_up() -> None:
    p = plan(2)  # focus 0..1000, short 1000..1200, focus 1200..2200, long 2200..2700
    s = go(p)
    s = pause(s, T0 + 300)  # elapsed frozen at 300
    assert view(s, T0 + 5000) == PhaseView("focus", 0, 1, 2, T0, T0 + 1000, T0 + 300, 700)
    assert next_change_ms(s, T0 + 5000) is None
    s = resume(s, T0 + 800)  # paused 500: everything ahead moves 500 later
    assert s.paused_total_ms == 500 and s.paused_at_ms is None
    assert view(s, T0 + 800) == PhaseView("focus", 0, 1, 2, T0 + 500, T0 + 1500, None, 700)
    assert view(s, T0 + 1499).index == 0 and view(s, T0 + 1500).phase == "short_break"
    s = resume(pause(s, T0 + 1600), T0 + 1650)  # 100 into the short break, paused 50 more
    assert s.paused_total_ms == 550
    assert view(s, T0 + 1749).phase == "short_break"
    assert view(s, T0 + 1750) == PhaseView("focus", 2, 2, 2, T0 + 1750, T0 + 2750, None, 1000)
    assert next_change_ms(s, T0 + 1800) == T0 + 2750
    s = pause(s, T0 + 2000)  # elapsed 2000 - 550 = 1450: 250 into focus 2
    assert focus_remaining_ms(s, T0 + 9999) == 750 and focus_elapsed_in_phase_ms(s, T0) == 250
    s = skip(s, T0 + 2100)  # paused: skip 2200 - 1450 = 750 to the long break's start
    assert s.skipped_ms == 750
    assert view(s, T0 + 2100) == PhaseView("long_break", 3, 2, 2, T0 + 2000, T0 + 2500,
                                           T0 + 2000, 500)
    assert focus_remaining_ms(s, T0 + 2100) == 0
    s = resume(s, T0 + 2100)  # paused 100 more: 650 in all
    assert view(s, T0 + 2100) == PhaseView("long_break", 3, 2, 2, T0 + 2100, T0 + 2600,
                                           None, 500)
    assert view(s, T0 + 2600).phase == "idle" and view(s, T0 + 2600).started_ms == T0 + 2600
    assert s.rev == 8  # start 1, then 7 commands


def test_skip_while_running_starts_the_next_phase_now() -> None:
    s = skip(go(plan(2)), T0 + 250)
    assert s.skipped_ms == 750 and s.rev == 2
    assert view(s, T0 + 250) == PhaseView("short_break", 1, 1, 2, T0 + 250, T0 + 450, None, 200)
    assert next_change_ms(s, T0 + 250) == T0 + 450


def test_skipping_the_last_phase_finishes_the_set() -> None:
    s = go(plan(1))
    s = skip(s, T0 + 10)  # focus -> long break at T0+10
    assert view(s, T0 + 10).phase == "long_break"
    s = skip(s, T0 + 20)
    assert view(s, T0 + 20) == PhaseView("idle", 2, 0, 1, T0 + 20, None, None, 0)
    for command in (pause, resume, skip):
        with pytest.raises(TimerError) as err:
            command(s, T0 + 30)
        assert err.value.code == "conflict"


def test_skipping_the_last_phase_while_paused_finishes_the_set() -> None:
    s = pause(go(plan(1)), T0 + 1200)  # 200 into the long break
    s = skip(s, T0 + 1300)
    assert view(s, T0 + 5000) == PhaseView("idle", 2, 0, 1, T0 + 1200, None, None, 0)
    assert next_change_ms(s, T0 + 5000) is None
    with pytest.raises(TimerError, match="finished") as err:
        resume(s, T0 + 1400)
    assert err.value.code == "conflict"


def test_conflicting_commands() -> None:
    s = go(plan(2))
    with pytest.raises(TimerError, match="not paused") as err:
        resume(s, T0 + 1)
    assert err.value.code == "conflict"
    paused = pause(s, T0 + 1)
    with pytest.raises(TimerError, match="already paused") as err:
        pause(paused, T0 + 2)
    assert err.value.code == "conflict"
    with pytest.raises(TimerError, match="finished"):
        pause(s, T0 + plan(2).total_ms)


def test_focus_remaining_and_elapsed() -> None:
    s = go(plan(4))  # focus phases at 0, 1200, 2400, 3600 (each 1000)
    assert focus_remaining_ms(s, T0) == 4000
    assert focus_remaining_ms(s, T0 + 250) == 750 + 3 * 1000
    assert focus_elapsed_in_phase_ms(s, T0 + 250) == 250
    assert focus_remaining_ms(s, T0 + 1100) == 3000  # short break 1: focus 2..4 ahead
    assert focus_elapsed_in_phase_ms(s, T0 + 1100) == 0
    assert focus_remaining_ms(s, T0 + 1300) == 900 + 2000  # 100 into focus 2
    assert focus_elapsed_in_phase_ms(s, T0 + 1300) == 100
    assert focus_remaining_ms(s, T0 + 4599) == 1  # last ms of focus 4
    assert focus_remaining_ms(s, T0 + 4600) == 0  # long break


def test_now_before_an_instant_the_state_holds_counts_as_that_instant() -> None:
    s = go(plan(2))
    assert view(s, T0 - 5000) == PhaseView("focus", 0, 1, 2, T0, T0 + 1000, None, 1000)
    p = pause(s, T0 - 5)
    assert p.paused_at_ms == T0
    assert resume(p, T0 - 1).paused_total_ms == 0


def test_default_plan_from_minutes() -> None:
    p = plan_from_minutes(25, 5, 15, 4)
    assert p == TimerPlan(1_500_000, 300_000, 900_000, 4)
    assert p.planned_focus_ms == 6_000_000  # 4 x 25 min
    assert p.total_ms == 7_800_000  # 100 + 3 x 5 + 15 = 130 min
    state = start(p, T0)
    assert next_change_ms(state, T0) == T0 + 1_500_000


@pytest.mark.parametrize("fields", [
    (0, 1, 1, 1), (-1, 1, 1, 1), (1, 0, 1, 1), (1, 1, -5, 1), (1, 1, 1, 0), (True, 1, 1, 1),
    (1.5, 1, 1, 1), ("25", 1, 1, 1),
])
def test_bad_plans(fields: tuple[object, ...]) -> None:
    with pytest.raises(TimerError) as err:
        TimerPlan(*fields)  # type: ignore[arg-type]
    assert err.value.code == "bad_request"


@pytest.mark.parametrize("p", [
    TimerPlan(30_000, 300_000, 900_000, 4),  # focus under a minute
    TimerPlan(1_500_000, 300_000, 5 * 3_600_000, 4),  # long break over 4 h
    TimerPlan(1_500_000, 300_000, 900_000, 13),  # too many cycles
])
def test_start_checks_the_rules(p: TimerPlan) -> None:
    with pytest.raises(TimerError, match="must be") as err:
        start(p, T0)
    assert err.value.code == "bad_request"


def test_bad_start_arguments_and_states() -> None:
    with pytest.raises(TimerError):
        start(plan(1), T0, rev=0, rules=ANY)
    with pytest.raises(TimerError):
        start(plan(1), float(T0), rules=ANY)  # type: ignore[arg-type]
    with pytest.raises(TimerError, match="before t0"):
        TimerState(plan(1), T0, T0 - 1, 0, 0, 1)
    with pytest.raises(TimerError):
        TimerState(plan(1), T0, None, -1, 0, 1)
    assert start(plan(1), T0, rev=7, rules=ANY).rev == 7


def test_record_round_trip() -> None:
    states = [go(plan(3)), pause(go(plan(3)), T0 + 10),
              resume(skip(pause(go(plan(3)), T0 + 10), T0 + 20), T0 + 30)]
    for s in states:
        record = json.loads(json.dumps(to_record(s)))
        assert from_record(record) == s
    assert to_record(states[1]) == {
        "focus_ms": F, "short_break_ms": S, "long_break_ms": L, "cycles": 3, "t0_ms": T0,
        "paused_at_ms": T0 + 10, "paused_total_ms": 0, "skipped_ms": 0, "rev": 2}


@pytest.mark.parametrize("change", [
    {"rev": None}, {"t0_ms": "1"}, {"cycles": True}, {"paused_at_ms": 1.5}, {"extra": 1},
    {"focus_ms": 0}, {"paused_total_ms": -1},
])
def test_bad_records(change: dict[str, object]) -> None:
    record: dict[str, object] = {**to_record(go(plan(2))), **change}
    with pytest.raises(TimerError) as err:
        from_record(record)
    assert err.value.code == "bad_request"
    incomplete = dict(to_record(go(plan(2))))
    del incomplete["rev"]
    with pytest.raises(TimerError):
        from_record(incomplete)


def test_wire_payload_while_paused() -> None:
    s = pause(go(plan(2)), T0 + 300)
    assert to_wire(view(s, T0 + 999), s.plan) == {
        "phase": "focus", "cycle": 1, "cycles": 2, "index": 0, "phase_started_ms": T0,
        "phase_ends_ms": T0 + 1000, "paused_at_ms": T0 + 300, "remaining_ms": 700,
        "durations": {"focus_ms": F, "short_break_ms": S, "long_break_ms": L}}


plans = st.builds(TimerPlan, st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 5000),
                  st.integers(1, 6))


@given(plans, st.integers(0, 10**12), st.lists(st.integers(0, 70_000), max_size=30))
def test_phase_index_never_decreases_without_pauses(p: TimerPlan, t0: int,
                                                    offsets: list[int]) -> None:
    s = start(p, t0, rules=ANY)
    indices = [view(s, t0 + dt).index for dt in sorted(offsets)]
    assert indices == sorted(indices)


@given(plans, st.integers(0, 10**12), st.integers(-1000, 70_000))
def test_view_lines_up_with_the_sum_of_durations(p: TimerPlan, t0: int, dt: int) -> None:
    s = start(p, t0, rules=ANY)
    v = view(s, t0 + dt)
    phases = timeline(p)
    before = sum(end - begin for _, _, begin, end in phases[: v.index])
    assert v.started_ms == t0 + before
    if v.phase == "idle":
        assert v.index == 2 * p.cycles and before == p.total_ms and dt >= p.total_ms
        return
    phase, cycle, begin, end = phases[v.index]
    assert (v.phase, v.cycle) == (phase, cycle)
    assert v.ends_ms == v.started_ms + (end - begin)
    assert v.started_ms <= max(t0 + dt, t0) < v.ends_ms
    assert v.remaining_ms == v.ends_ms - max(t0 + dt, t0)


commands = st.lists(st.tuples(st.integers(0, 3000), st.sampled_from(["pause", "resume", "skip"])),
                    max_size=25)


@given(plans, commands)
def test_commands_never_move_the_set_backwards(p: TimerPlan,
                                               steps: list[tuple[int, str]]) -> None:
    s, now, rev = start(p, T0, rules=ANY), T0, 1
    last_index, last_focus = 0, p.planned_focus_ms
    for dt, name in steps:
        now += dt
        v = view(s, now)
        assert v.index >= last_index and focus_remaining_ms(s, now) <= last_focus
        last_index, last_focus = v.index, focus_remaining_ms(s, now)
        try:
            s = {"pause": pause, "resume": resume, "skip": skip}[name](s, now)
        except TimerError as err:
            assert err.code == "conflict"
            continue
        rev += 1
        assert s.rev == rev and from_record(to_record(s)) == s
        after = view(s, now)
        assert after.index >= v.index
        if name == "skip":
            assert after.index == v.index + 1 and after.started_ms == (s.paused_at_ms or now)
