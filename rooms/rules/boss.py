"""The room's boss fight: the group's focused time damages a boss (DESIGN.md section 5).

Anchor: Habitica's party boss, a fixed HP pool that the party wears down together by doing
real work, with a bonus for the kill. Here the work is focused member-seconds, applied on the
1 s room tick by the one node that holds the room's lease.

- Max HP = ``hp_per_focus_s x planned focus s x group x level`` where group =
  ``1 + extra_member_hp (n - 1)``, n = members at fight start (1..``member_cap``) and level =
  ``1 + level_growth (level - 1)``. A latecomer adds ``hp_per_focus_s x extra_member_hp x
  focus s left x level`` once (focus time left capped at the fight's planned focus), while
  fewer than ``member_cap`` users are counted.
- DPS = ``focused x damage_per_member_s x combo x distraction``. The combo grows
  ``combo_step`` per full ``combo_step_ms`` with every live member focused (at least one), up
  to ``combo_max``; it holds while someone is neither focused nor distracted (a glance away),
  resets when anyone is distracted, and holds outside focus phases and across a kill.
  Distraction = ``max(distraction_floor, 1 - distraction_step x distracted)``.
- Each focused member is credited ``damage / focused`` of a tick's damage; overkill is lost.
- At 0 HP the boss is defeated (kill bonus ``kill_xp_per_level x level`` XP) and, when at
  least ``min_respawn_focus_s`` of focus is left in the set, the level+1 boss spawns for that
  remaining focus time with the members present.
- Rage: the boss is ahead of the group, i.e. its HP share exceeds the share of its planned
  focus time still left (``hp / max_hp > focus_remaining / planned_focus``); at that pace the
  group would not finish it in time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

BOSS_NAMES: Final[tuple[str, ...]] = (
    "Procrastination Hydra", "Doomscroll Wyrm", "Notification Swarm", "Deadline Golem",
    "Brain Fog Wraith", "Tab Hoarder", "Snooze Lich", "Multitask Chimera",
)
"""Boss names by level, cycling: level L is ``BOSS_NAMES[(L - 1) % len(BOSS_NAMES)]``."""

_DEAD_HP: Final = 1e-9  # float residue below which a boss counts as dead, HP


class BossError(ValueError):
    """A malformed rule set, tick input or record; ``code`` is the wire error code."""

    code: Final = "bad_request"


@dataclass(frozen=True, slots=True)
class BossRules:
    """Boss tuning; defaults from DESIGN.md section 5 unless a field says otherwise."""

    hp_per_focus_s: float = 0.8
    """Max HP per planned focus second for a solo fight, HP/s. A solo member at full focus
    kills the boss at 80 % of the set (damage is 1 HP/s)."""
    extra_member_hp: float = 0.75
    """Share of a solo boss each member beyond the first adds, also the latecomer share."""
    member_cap: int = 12
    """Most members counted for HP (fight start plus latecomers)."""
    damage_per_member_s: float = 1.0
    """Damage per focused member-second, HP/s."""
    combo_step: float = 0.10
    """DPS bonus per full combo step with everyone focused (+10 %)."""
    combo_step_ms: int = 60_000
    """Length of one combo step, ms (one minute)."""
    combo_max: float = 1.5
    """Highest combo multiplier (x1.5, reached after five minutes)."""
    distraction_step: float = 0.10
    """Group DPS lost per distracted member (-10 %)."""
    distraction_floor: float = 0.5
    """Lowest distraction multiplier (x0.5)."""
    level_growth: float = 0.25
    """Extra HP per level above 1 (level 3 has x1.5). Our choice: each respawn is stronger,
    as Habitica's later quest bosses are, without outgrowing the focus time left."""
    min_respawn_focus_s: float = 60.0
    """Least focus time left in the set for a new boss to spawn, s. Our choice: a boss with
    less than a minute of focus to fight it would die in seconds and mean nothing."""
    kill_xp_per_level: int = 5
    """Kill bonus per boss level, XP (the XP rules' boss kill bonus, DESIGN.md s5)."""
    max_tick_s: float = 5.0
    """Most seconds one tick credits, s; longer gaps (a lease handover) are not back-paid."""
    names: tuple[str, ...] = BOSS_NAMES
    """Boss names by level, cycling."""

    def __post_init__(self) -> None:
        positive = (self.hp_per_focus_s, self.damage_per_member_s, self.combo_step_ms,
                    self.member_cap, self.max_tick_s)
        ok = (all(p > 0 for p in positive) and self.extra_member_hp >= 0
              and self.combo_step >= 0 and self.combo_max >= 1 and self.distraction_step >= 0
              and 0 < self.distraction_floor <= 1 and self.level_growth >= 0
              and self.min_respawn_focus_s >= 0 and self.kill_xp_per_level >= 0
              and len(self.names) > 0)
        if not ok:
            raise BossError(f"invalid boss rules: {self!r}")


DEFAULT_BOSS_RULES: Final = BossRules()


@dataclass(frozen=True, slots=True)
class BossState:
    """One boss. ``damage_by_user`` is sorted by user id; ``counted_users`` are the users its
    HP counts (members at fight start and latecomers); ``planned_focus_s`` is the focus time
    the fight was sized for (the set's, or what was left of it at a respawn)."""

    level: int
    name: str
    max_hp: float
    hp: float
    combo_ms: int
    last_tick: int
    damage_by_user: tuple[tuple[str, float], ...]
    counted_users: frozenset[str]
    planned_focus_s: float

    def __post_init__(self) -> None:
        users = [user for user, _ in self.damage_by_user]
        if not (self.level >= 1 and math.isfinite(self.max_hp) and self.max_hp > 0
                and 0 <= self.hp <= self.max_hp and self.combo_ms >= 0
                and math.isfinite(self.planned_focus_s) and self.planned_focus_s > 0
                and users == sorted(set(users))):
            raise BossError(f"invalid boss state: {self!r}")


@dataclass(frozen=True, slots=True)
class TickInput:
    """One room tick. ``seconds`` is the time credited (normally 1.0, capped at
    ``max_tick_s``); ``focused`` and ``distracted`` are disjoint subsets of ``present`` (all
    live members; ghosts never count); ``focus_remaining_s`` is the set's planned focus time
    still ahead (timer ``focus_remaining_ms`` / 1000)."""

    tick_id: int
    seconds: float
    focused: frozenset[str]
    distracted: frozenset[str]
    present: frozenset[str]
    focus_remaining_s: float
    in_focus_phase: bool


@dataclass(frozen=True, slots=True)
class BossDefeated:
    """A kill: who dealt what (HP) and the XP bonus each contributor earns."""

    level: int
    name: str
    damage_by_user: dict[str, float]
    xp_bonus: int


@dataclass(frozen=True, slots=True)
class TickResult:
    """``state`` is the boss after the tick: the same one, the spawned one, or None when the
    fight is over. ``damage`` (HP) and ``dps`` (HP/s) are what this tick applied."""

    state: BossState | None
    damage: float
    dps: float
    defeated: BossDefeated | None
    spawned: BossState | None


def boss_name(rules: BossRules, level: int) -> str:
    return rules.names[(level - 1) % len(rules.names)]


def _level_factor(rules: BossRules, level: int) -> float:
    return 1 + rules.level_growth * (level - 1)


def combo_multiplier(rules: BossRules, combo_ms: int) -> float:
    """``1 + combo_step`` per full ``combo_step_ms``, at most ``combo_max``."""
    return min(rules.combo_max, 1 + rules.combo_step * (combo_ms // rules.combo_step_ms))


def distraction_multiplier(rules: BossRules, distracted: int) -> float:
    return max(rules.distraction_floor, 1 - rules.distraction_step * distracted)


def dps(rules: BossRules, *, focused: int, distracted: int, combo_ms: int) -> float:
    """Group damage per second, HP/s."""
    return (focused * rules.damage_per_member_s * combo_multiplier(rules, combo_ms)
            * distraction_multiplier(rules, distracted))


def new_fight(rules: BossRules, *, planned_focus_s: float, members: frozenset[str],
              level: int = 1, tick_id: int = 0) -> BossState:
    """A fresh boss sized for ``planned_focus_s`` of focus and ``members`` (an empty room
    counts as one); ticks up to ``tick_id`` are ignored."""
    if not (math.isfinite(planned_focus_s) and planned_focus_s > 0) or level < 1:
        raise BossError("a fight needs planned_focus_s > 0 and level >= 1")
    n = max(1, min(len(members), rules.member_cap))
    max_hp = (rules.hp_per_focus_s * planned_focus_s * (1 + rules.extra_member_hp * (n - 1))
              * _level_factor(rules, level))
    return BossState(level, boss_name(rules, level), max_hp, max_hp, 0, tick_id, (),
                     frozenset(members), float(planned_focus_s))


def add_latecomer(rules: BossRules, state: BossState, user_id: str, *,
                  focus_remaining_s: float) -> BossState:
    """Grow the boss for a member who joined mid-fight (at most the fight's planned focus
    time counts). No-op when the user is counted already or ``member_cap`` users are."""
    if user_id in state.counted_users or len(state.counted_users) >= rules.member_cap:
        return state
    if not math.isfinite(focus_remaining_s):
        raise BossError("focus_remaining_s must be finite")
    share_s = min(max(0.0, focus_remaining_s), state.planned_focus_s)
    extra = (rules.hp_per_focus_s * rules.extra_member_hp * share_s
             * _level_factor(rules, state.level))
    return replace(state, max_hp=state.max_hp + extra, hp=state.hp + extra,
                   counted_users=state.counted_users | {user_id})


def _check(inp: TickInput) -> None:
    if not (math.isfinite(inp.seconds) and inp.seconds >= 0):
        raise BossError("tick seconds must be finite and >= 0")
    if not (math.isfinite(inp.focus_remaining_s) and inp.focus_remaining_s >= 0):
        raise BossError("focus_remaining_s must be finite and >= 0")
    if inp.focused & inp.distracted:
        raise BossError("a member cannot be focused and distracted at once")
    if not (inp.focused | inp.distracted) <= inp.present:
        raise BossError("focused and distracted members must be present")


def _credit(totals: Iterable[tuple[str, float]], users: frozenset[str],
            damage: float) -> tuple[tuple[str, float], ...]:
    merged = dict(totals)
    if users and damage > 0:
        share = damage / len(users)
        for user in users:
            merged[user] = merged.get(user, 0.0) + share
    return tuple(sorted(merged.items()))


def tick(rules: BossRules, state: BossState, inp: TickInput) -> TickResult:
    """Apply one room tick. A replayed ``tick_id`` (<= ``last_tick``) changes nothing."""
    if inp.tick_id <= state.last_tick:
        return TickResult(state, 0.0, 0.0, None, None)
    _check(inp)
    if not inp.in_focus_phase:
        return TickResult(replace(state, last_tick=inp.tick_id), 0.0, 0.0, None, None)
    seconds = min(inp.seconds, rules.max_tick_s)
    combo_ms = state.combo_ms
    if inp.distracted:
        combo_ms = 0
    elif inp.present and inp.focused == inp.present:
        combo_ms += round(seconds * 1000)
    rate = dps(rules, focused=len(inp.focused), distracted=len(inp.distracted),
               combo_ms=combo_ms)
    damage = min(state.hp, rate * seconds)
    if damage > 0 and state.hp - damage <= _DEAD_HP:
        damage = state.hp
    credited = _credit(state.damage_by_user, inp.focused, damage)
    after = replace(state, hp=state.hp - damage, combo_ms=combo_ms, last_tick=inp.tick_id,
                    damage_by_user=credited)
    if after.hp > 0:
        return TickResult(after, damage, rate, None, None)
    defeated = BossDefeated(state.level, state.name, dict(credited),
                            rules.kill_xp_per_level * state.level)
    spawned = None
    if inp.focus_remaining_s >= rules.min_respawn_focus_s and inp.focus_remaining_s > 0:
        spawned = replace(new_fight(rules, planned_focus_s=inp.focus_remaining_s,
                                    members=inp.present, level=state.level + 1,
                                    tick_id=inp.tick_id), combo_ms=combo_ms)
    return TickResult(spawned, damage, rate, defeated, spawned)


def rage(state: BossState, *, focus_remaining_s: float) -> bool:
    """True when the boss is ahead of the group (see the module docstring)."""
    time_share = min(1.0, max(0.0, focus_remaining_s) / state.planned_focus_s)
    return state.hp / state.max_hp > time_share


def _ceil_hp(hp: float) -> int:
    return max(0, math.ceil(hp - _DEAD_HP))


def to_wire(rules: BossRules, state: BossState, *, dps: float, rage: bool) -> dict[str, object]:
    """The ``boss`` event: HP rounded up to whole points (a living boss never shows 0),
    ``dps`` to 0.01 HP/s, ``combo`` the multiplier."""
    return {
        "level": state.level, "name": state.name, "hp": _ceil_hp(state.hp),
        "max_hp": _ceil_hp(state.max_hp), "dps": round(dps, 2),
        "combo": round(combo_multiplier(rules, state.combo_ms), 2), "rage": rage,
    }


def defeated_to_wire(defeated: BossDefeated) -> dict[str, object]:
    """The ``boss_defeated`` event; damage rounded to 0.1 HP."""
    return {"level": defeated.level, "name": defeated.name, "xp_bonus": defeated.xp_bonus,
            "damage_by_user": {u: round(d, 1) for u, d in defeated.damage_by_user.items()}}


def to_record(state: BossState) -> dict[str, object]:
    """A JSON-able dict for storage."""
    return {
        "level": state.level, "name": state.name, "max_hp": state.max_hp, "hp": state.hp,
        "combo_ms": state.combo_ms, "last_tick": state.last_tick,
        "damage_by_user": dict(state.damage_by_user),
        "counted_users": sorted(state.counted_users), "planned_focus_s": state.planned_focus_s,
    }


def from_record(record: Mapping[str, object]) -> BossState:
    """The state :func:`to_record` wrote; :class:`BossError` for anything else."""
    damage, counted = record.get("damage_by_user"), record.get("counted_users")
    if not (isinstance(damage, dict) and all(isinstance(u, str) for u in damage)
            and isinstance(counted, list) and all(isinstance(u, str) for u in counted)
            and isinstance(record.get("name"), str)):
        raise BossError("malformed boss record")
    return BossState(
        _int(record, "level"), str(record["name"]), _num(record, "max_hp"),
        _num(record, "hp"), _int(record, "combo_ms"), _int(record, "last_tick"),
        tuple(sorted((u, _num(damage, u)) for u in damage)), frozenset(counted),
        _num(record, "planned_focus_s"),
    )


def _int(record: Mapping[str, object], key: str) -> int:
    value = record.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BossError(f"boss record field {key} is not an integer")
    return value


def _num(record: Mapping[str, object], key: str) -> float:
    value = record.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise BossError(f"boss record field {key} is not a finite number")
    return float(value)
