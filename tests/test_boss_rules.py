"""Boss fight rules (rooms.rules.boss) against hand-computed values, plus properties."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.rules.boss import (
    BOSS_NAMES,
    BossDefeated,
    BossError,
    BossRules,
    BossState,
    TickInput,
    add_latecomer,
    boss_name,
    combo_multiplier,
    defeated_to_wire,
    dps,
    from_record,
    new_fight,
    rage,
    tick,
    to_record,
    to_wire,
)

R = BossRules()
AB = frozenset({"a", "b"})


def inp(tick_id: int, focused: Iterable[str], *, distracted: Iterable[str] = (),
        idle: Iterable[str] = (), seconds: float = 1.0, remaining: float = 1000.0,
        in_focus: bool = True) -> TickInput:
    return TickInput(tick_id, seconds, frozenset(focused), frozenset(distracted),
                     frozenset(focused) | frozenset(distracted) | frozenset(idle), remaining,
                     in_focus)


def run(state: BossState, ticks: range, focused: Iterable[str],
        idle: Iterable[str] = ()) -> BossState:
    for t in ticks:
        result = tick(R, state, inp(t, focused, idle=idle))
        assert result.state is not None
        state = result.state
    return state


def users(n: int) -> frozenset[str]:
    return frozenset(f"u{i}" for i in range(n))


@pytest.mark.parametrize(("n", "expected"), [
    (0, 4800.0),  # an empty room counts as one: 0.8 x 6000
    (1, 4800.0),  # 0.8 x 6000 s (4 x 25 min)
    (3, 12000.0),  # 4800 x (1 + 0.75 x 2) = 4800 x 2.5
    (12, 44400.0),  # 4800 x (1 + 0.75 x 11) = 4800 x 9.25
    (20, 44400.0),  # capped at 12 members
])
def test_max_hp(n: int, expected: float) -> None:
    state = new_fight(R, planned_focus_s=6000, members=users(n))
    assert state.max_hp == pytest.approx(expected) and state.hp == state.max_hp
    assert state.counted_users == users(n) and state.level == 1 and state.combo_ms == 0
    assert state.name == BOSS_NAMES[0] and state.damage_by_user == ()


def test_level_growth_and_names() -> None:
    state = new_fight(R, planned_focus_s=1500, members=frozenset({"a"}), level=3)
    assert state.max_hp == pytest.approx(1800.0)  # 0.8 x 1500 x (1 + 0.25 x 2) = 1200 x 1.5
    assert state.name == BOSS_NAMES[2]
    assert boss_name(R, len(BOSS_NAMES) + 1) == BOSS_NAMES[0]  # names cycle
    with pytest.raises(BossError):
        new_fight(R, planned_focus_s=0, members=AB)
    with pytest.raises(BossError):
        new_fight(R, planned_focus_s=10, members=AB, level=0)


@pytest.mark.parametrize(("focused", "distracted", "combo_ms", "expected"), [
    (1, 0, 0, 1.0),
    (3, 0, 0, 3.0),
    (3, 0, 59_999, 3.0),  # no full minute yet
    (3, 0, 60_000, 3.3),  # 3 x 1.1
    (3, 0, 119_999, 3.3),
    (3, 0, 120_000, 3.6),  # 3 x 1.2
    (3, 0, 300_000, 4.5),  # 3 x 1.5, the cap
    (3, 0, 3_600_000, 4.5),  # still 1.5
    (3, 1, 0, 2.7),  # 3 x 0.9
    (2, 3, 0, 1.4),  # 2 x 0.7
    (2, 5, 0, 1.0),  # 2 x 0.5, the floor
    (2, 9, 0, 1.0),  # 1 - 0.9 would be 0.1: floor 0.5
    (0, 2, 0, 0.0),
    (4, 1, 120_000, 4.32),  # 4 x 1.2 x 0.9
])
def test_dps(focused: int, distracted: int, combo_ms: int, expected: float) -> None:
    assert dps(R, focused=focused, distracted=distracted, combo_ms=combo_ms) == pytest.approx(
        expected)


def test_combo_grows_per_full_minute_with_everyone_focused() -> None:
    state = new_fight(R, planned_focus_s=1500, members=AB)
    assert state.max_hp == pytest.approx(2100.0)  # 0.8 x 1500 x 1.75
    state = run(state, range(1, 60), {"a", "b"})  # 59 ticks at 2.0 = 118
    assert state.combo_ms == 59_000 and state.hp == pytest.approx(1982.0)
    result = tick(R, state, inp(60, {"a", "b"}))  # combo 60 s: 2 x 1.1 = 2.2
    assert (result.damage, result.dps) == pytest.approx((2.2, 2.2))
    assert result.state is not None and result.state.combo_ms == 60_000
    assert result.state.hp == pytest.approx(2100 - 120.2)
    assert dict(result.state.damage_by_user) == {"a": pytest.approx(60.1),
                                                 "b": pytest.approx(60.1)}
    assert to_wire(R, result.state, dps=result.dps, rage=False) == {
        "level": 1, "name": BOSS_NAMES[0], "hp": 1980, "max_hp": 2100, "dps": 2.2,
        "combo": 1.1, "rage": False}


def test_combo_caps_at_one_and_a_half() -> None:
    state = run(new_fight(R, planned_focus_s=6000, members=frozenset({"a"})), range(1, 401),
                {"a"})
    # ticks 1-59 x1.0 = 59; 60-119 x1.1 = 66; 120-179 x1.2 = 72; 180-239 x1.3 = 78;
    # 240-299 x1.4 = 84; 300-400 x1.5 = 151.5; total 510.5
    assert state.hp == pytest.approx(4800 - 510.5)
    assert combo_multiplier(R, state.combo_ms) == 1.5


def test_distraction_resets_the_combo_and_a_glance_away_holds_it() -> None:
    state = run(new_fight(R, planned_focus_s=1500, members=AB), range(1, 61), {"a", "b"})
    held = tick(R, state, inp(61, {"a"}, idle={"b"}))  # b looks away, not yet distracted
    assert held.state is not None and held.state.combo_ms == 60_000
    assert held.dps == pytest.approx(1.1)  # 1 focused x 1.1
    reset = tick(R, held.state, inp(62, {"a"}, distracted={"b"}))
    assert reset.state is not None and reset.state.combo_ms == 0
    assert reset.dps == pytest.approx(0.9)  # 1 x 1.0 x 0.9
    assert dict(reset.state.damage_by_user)["b"] == pytest.approx(60.1)  # b earned nothing


def test_no_damage_outside_focus_phases_and_combo_kept() -> None:
    state = run(new_fight(R, planned_focus_s=1500, members=AB), range(1, 61), {"a", "b"})
    result = tick(R, state, inp(61, {"a"}, distracted={"b"}, in_focus=False))
    assert (result.damage, result.dps, result.defeated) == (0.0, 0.0, None)
    assert result.state == replace(state, last_tick=61)


def test_distraction_floor() -> None:
    state = new_fight(R, planned_focus_s=1500, members=users(7))
    five = tick(R, state, inp(1, {"u0"}, distracted={"u1", "u2", "u3", "u4", "u5"}))
    six = tick(R, state, inp(1, {"u0"}, distracted={"u1", "u2", "u3", "u4", "u5", "u6"}))
    assert five.dps == pytest.approx(0.5) and six.dps == pytest.approx(0.5)  # 1 x max(0.5, ..)


def test_damage_is_shared_among_the_focused() -> None:
    state = new_fight(R, planned_focus_s=1500, members=frozenset("abcd"))
    result = tick(R, state, inp(1, {"a", "b", "c"}, distracted={"d"}))
    assert result.damage == pytest.approx(2.7)  # 3 x 0.9
    assert result.state is not None
    assert dict(result.state.damage_by_user) == {u: pytest.approx(0.9) for u in "abc"}


def test_latecomers_add_hp_once_and_up_to_the_cap() -> None:
    state = run(new_fight(R, planned_focus_s=1500, members=AB), range(1, 2), {"a", "b"})
    assert (state.max_hp, state.hp) == pytest.approx((2100.0, 2098.0))
    late = add_latecomer(R, state, "c", focus_remaining_s=900)  # 0.8 x 0.75 x 900 = 540
    assert (late.max_hp, late.hp) == pytest.approx((2640.0, 2638.0))
    assert late.counted_users == frozenset("abc")
    assert add_latecomer(R, late, "c", focus_remaining_s=900) is late
    assert add_latecomer(R, late, "a", focus_remaining_s=900) is late
    more = add_latecomer(R, late, "d", focus_remaining_s=5000)  # capped at 1500 s: +900
    assert more.max_hp == pytest.approx(3540.0)
    full = new_fight(R, planned_focus_s=1500, members=users(12))
    assert add_latecomer(R, full, "x", focus_remaining_s=900) is full
    eleven = add_latecomer(R, new_fight(R, planned_focus_s=1500, members=users(11)), "x",
                           focus_remaining_s=900)
    assert len(eleven.counted_users) == 12
    assert add_latecomer(R, eleven, "y", focus_remaining_s=900) is eleven
    level2 = new_fight(R, planned_focus_s=600, members=AB, level=2)
    grown = add_latecomer(R, level2, "c", focus_remaining_s=100)
    assert grown.max_hp - level2.max_hp == pytest.approx(75.0)  # 0.8 x 0.75 x 100 x 1.25


def test_kill_and_respawn() -> None:
    state = new_fight(R, planned_focus_s=10, members=frozenset({"a"}))  # 0.8 x 10 = 8 HP
    state = run(state, range(1, 8), {"a"})
    assert state.hp == pytest.approx(1.0)
    result = tick(R, state, inp(8, {"a"}, idle={"b"}, remaining=600))
    assert result.damage == pytest.approx(1.0)
    assert result.defeated == BossDefeated(1, BOSS_NAMES[0], {"a": 8.0}, 5)  # 8 x 1.0 exactly
    spawned = result.spawned
    assert spawned is not None and result.state is spawned
    assert spawned.level == 2 and spawned.name == BOSS_NAMES[1]
    assert spawned.max_hp == pytest.approx(1050.0)  # 0.8 x 600 x 1.75 x 1.25 = 480 x 2.1875
    assert spawned.counted_users == AB and spawned.planned_focus_s == 600
    assert (spawned.last_tick, spawned.combo_ms, spawned.damage_by_user) == (8, 7000, ())
    assert tick(R, spawned, inp(8, {"a"})).state is spawned  # the kill tick replayed


def test_overkill_is_lost_and_no_boss_without_focus_left() -> None:
    state = new_fight(R, planned_focus_s=10, members=frozenset("abc"))  # 8 x 2.5 = 20 HP
    state = run(state, range(1, 7), set("abc"))  # 6 ticks x 3 = 18
    result = tick(R, state, inp(7, set("abc"), remaining=59.9))
    assert result.damage == pytest.approx(2.0)  # 3 dealt, 2 left
    assert (result.state, result.spawned) == (None, None)
    assert result.defeated is not None
    assert result.defeated.damage_by_user == {u: pytest.approx(20 / 3) for u in "abc"}
    assert sum(result.defeated.damage_by_user.values()) == pytest.approx(20.0)
    assert defeated_to_wire(result.defeated) == {
        "level": 1, "name": BOSS_NAMES[0], "xp_bonus": 5,
        "damage_by_user": {"a": 6.7, "b": 6.7, "c": 6.7}}
    level3 = new_fight(R, planned_focus_s=1, members=frozenset({"a"}), level=3)  # 1.2 HP
    kill = tick(R, level3, inp(1, {"a"}, seconds=2, remaining=0))
    assert kill.defeated is not None and kill.defeated.xp_bonus == 15  # 5 x level 3
    assert kill.state is None


def test_replayed_tick_is_a_no_op() -> None:
    state = run(new_fight(R, planned_focus_s=1500, members=AB), range(1, 6), {"a", "b"})
    for tick_id in (5, 3, 0):
        result = tick(R, state, inp(tick_id, {"a", "b"}))
        assert result.state is state and (result.damage, result.dps) == (0.0, 0.0)
        assert result.defeated is None and result.spawned is None
    assert tick(R, new_fight(R, planned_focus_s=10, members=AB, tick_id=9),
                inp(9, {"a"})).damage == 0.0


def test_long_ticks_are_capped() -> None:
    state = new_fight(R, planned_focus_s=1500, members=frozenset({"a"}))
    capped = tick(R, state, inp(1, {"a"}, seconds=30))  # credits max_tick_s = 5 s
    assert capped.damage == pytest.approx(5.0)
    assert capped.state is not None and capped.state.combo_ms == 5000
    assert tick(R, state, inp(1, {"a"}, seconds=2.5)).damage == pytest.approx(2.5)


def test_rage_when_the_boss_is_ahead_of_the_group() -> None:
    state = new_fight(R, planned_focus_s=1000, members=frozenset({"a"}))  # 800 HP
    assert not rage(state, focus_remaining_s=1000)  # 1.0 > 1.0 is false
    assert rage(state, focus_remaining_s=999)  # 1.0 > 0.999
    assert not rage(state, focus_remaining_s=5000)  # time share capped at 1
    half = replace(state, hp=400.0)
    assert not rage(half, focus_remaining_s=500)  # 0.5 > 0.5 is false
    assert rage(half, focus_remaining_s=499)
    assert not rage(half, focus_remaining_s=600)
    assert rage(half, focus_remaining_s=0)


def test_wire_rounding() -> None:
    state = new_fight(R, planned_focus_s=1500, members=AB)
    nearly_dead = replace(state, hp=0.3, combo_ms=300_000)
    assert to_wire(R, nearly_dead, dps=1.23456, rage=True) == {
        "level": 1, "name": BOSS_NAMES[0], "hp": 1, "max_hp": 2100, "dps": 1.23,
        "combo": 1.5, "rage": True}


def test_record_round_trip() -> None:
    state = run(new_fight(R, planned_focus_s=1500, members=AB), range(1, 4), {"a"},
                idle={"b"})
    state = add_latecomer(R, state, "c", focus_remaining_s=1000)
    record = json.loads(json.dumps(to_record(state)))
    assert record["damage_by_user"] == {"a": 3.0}
    assert record["counted_users"] == ["a", "b", "c"]
    assert from_record(record) == state


@pytest.mark.parametrize("change", [
    {"level": "1"}, {"level": True}, {"hp": None}, {"hp": 1e9}, {"max_hp": float("nan")},
    {"damage_by_user": [["a", 1.0]]}, {"damage_by_user": {"a": "x"}}, {"counted_users": "a"},
    {"name": 3}, {"planned_focus_s": 0},
])
def test_bad_records(change: dict[str, object]) -> None:
    record = {**to_record(new_fight(R, planned_focus_s=100, members=AB)), **change}
    with pytest.raises(BossError):
        from_record(record)


@pytest.mark.parametrize("bad", [
    inp(1, {"a"}, seconds=-1), inp(1, {"a"}, seconds=math.nan), inp(1, {"a"}, remaining=-1),
    TickInput(1, 1.0, frozenset("a"), frozenset("a"), frozenset("a"), 10, True),
    TickInput(1, 1.0, frozenset("ax"), frozenset(), frozenset("a"), 10, True),
    TickInput(1, 1.0, frozenset(), frozenset("x"), frozenset("a"), 10, True),
])
def test_bad_tick_input(bad: TickInput) -> None:
    with pytest.raises(BossError) as err:
        tick(R, new_fight(R, planned_focus_s=100, members=AB), bad)
    assert err.value.code == "bad_request"


@pytest.mark.parametrize("change", [
    {"distraction_floor": 0.0}, {"combo_max": 0.9}, {"names": ()}, {"member_cap": 0},
    {"combo_step_ms": 0}, {"hp_per_focus_s": -1.0},
])
def test_bad_rules(change: dict[str, object]) -> None:
    with pytest.raises(BossError):
        BossRules(**change)  # type: ignore[arg-type]


POOL = tuple(f"u{i}" for i in range(6))


@dataclass(frozen=True)
class Tick:
    status: tuple[str, ...]  # per POOL member: absent, idle, focused or distracted
    seconds: float
    in_focus: bool
    remaining: float

    def members(self, status: str) -> frozenset[str]:
        return frozenset(u for u, s in zip(POOL, self.status, strict=True) if s == status)


@dataclass(frozen=True)
class Late:
    user: str
    remaining: float


ticks = st.builds(Tick, st.tuples(*[st.sampled_from(["absent", "idle", "focused", "distracted"])
                                    for _ in POOL]),
                  st.floats(0, 8), st.booleans(), st.floats(0, 3000))
latecomers = st.builds(Late, st.sampled_from(POOL + ("x", "y", "z")), st.floats(0, 3000))


@given(st.integers(1, 12), st.floats(1, 600), st.lists(st.one_of(ticks, latecomers),
                                                        max_size=60))
def test_hp_and_damage_stay_consistent(n: int, planned: float,
                                       steps: list[Tick | Late]) -> None:
    state: BossState | None = new_fight(R, planned_focus_s=planned, members=frozenset(POOL[:n]))
    tick_id = 0
    for step in steps:
        if state is None:
            break
        assert 0 <= state.hp <= state.max_hp
        dealt = sum(d for _, d in state.damage_by_user)
        assert dealt == pytest.approx(state.max_hp - state.hp, rel=1e-9, abs=1e-6)
        if isinstance(step, Late):
            after = add_latecomer(R, state, step.user, focus_remaining_s=step.remaining)
            assert after.max_hp - after.hp == pytest.approx(state.max_hp - state.hp)
            assert after.hp >= state.hp
            state = after
            continue
        tick_id += 1
        present = step.members("idle") | step.members("focused") | step.members("distracted")
        result = tick(R, state, TickInput(tick_id, step.seconds, step.members("focused"),
                                          step.members("distracted"), present, step.remaining,
                                          step.in_focus))
        assert result.damage >= 0
        if result.defeated is not None:
            assert sum(result.defeated.damage_by_user.values()) == pytest.approx(state.max_hp)
            assert result.state is result.spawned
            if result.spawned is not None:
                assert result.spawned.level == state.level + 1
        else:
            assert result.state is not None
            assert result.state.hp <= state.hp and result.state.max_hp == state.max_hp
            assert result.state.hp == pytest.approx(state.hp - result.damage)
        state = result.state
