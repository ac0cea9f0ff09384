"""XP, levels, the garden and the focus score of one member's focus phase (DESIGN.md s5).

Anchors: FocusGuard (seed 000) gives XP per focused minute (10 XP per 25 min), the level
curve ``floor(sqrt(xp / 100))`` and plants by focus-quality thresholds; PulsePlan (seed 001)
records each session's expected vs actual duration and its interruption count, the idea
behind :func:`focus_score` (PulsePlan's own score is a 1-5 self-rating; ours is measured).

- XP = ``floor(focused min x xp_per_focused_min x (1 + group_bonus if group))``, group
  meaning at least ``group_min`` members. Floor, so XP is never over-awarded; a solo 25-min
  phase is exactly 10, in a group 11. Float residue within ``1e-9`` of a whole number counts
  as that number (``0.1 x 3`` style error never costs a point). Focused time beyond the
  planned time (clock skew) earns nothing.
- Level L starts at ``level_xp_base x L^2`` XP: level = ``isqrt(xp // level_xp_base)``,
  exactly ``floor(sqrt(xp / base))`` in integer arithmetic.
- Plant: none unless the phase completed (ran to its end) with presence of at least
  ``plant_min_presence`` of the planned time. Otherwise by the focused share of the planned
  time: ``< withered_below`` withered, then common, ``>= uncommon_share`` uncommon,
  ``>= rare_share`` rare, ``>= epic_share`` epic; legendary instead of epic for the last
  phase of a perfect set (every phase of at least ``legendary_set_phases`` completed with
  share >= ``epic_share``; the caller knows the set and says so with ``perfect_set``).
- Focus score (0..100) = ``floor(100 x focused share) - score_interruption_penalty x
  interruptions``, clamped. Without interruptions, score >= 95 exactly when the share is epic.

Everything here is pure: numbers in, numbers out; no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

Rarity: TypeAlias = Literal["withered", "common", "uncommon", "rare", "epic", "legendary"]

RARITIES: Final[tuple[Rarity, ...]] = ("withered", "common", "uncommon", "rare", "epic",
                                        "legendary")
"""Plant rarities, lowest first."""

_EPS: Final = 1e-9  # float residue below a whole number that still counts as it (XP, score)


class ProgressError(ValueError):
    """A malformed rule set or phase outcome; ``code`` is the wire error code."""

    code: Final = "bad_request"


def _whole(value: float) -> bool:
    return float(value).is_integer()


@dataclass(frozen=True, slots=True)
class ProgressRules:
    """XP, level, garden and focus-score tuning; defaults from DESIGN.md section 5 unless a
    field says otherwise. Whole-number fields accept integral floats (JSON overrides)."""

    xp_per_focused_min: float = 0.4
    """XP per focused minute, XP/min. 10 XP per 25 focused minutes (FocusGuard)."""
    group_bonus: float = 0.10
    """Extra XP share in a group (+10 %, DESIGN.md s5)."""
    group_min: int = 2
    """Members in the phase (the member included) for the group bonus; 2: any company."""
    level_xp_base: int = 100
    """XP scale of the level curve, XP: level L starts at ``base x L^2`` (FocusGuard's
    ``sqrt(xp / 100)``)."""
    plant_min_presence: float = 0.8
    """Least share of the planned time present for a plant (80 %). Our choice: a member who
    sat out a fifth of the phase did not grow anything, whatever the share focused says."""
    withered_below: float = 0.50
    """Focused share under which the plant withers (50 %, DESIGN.md s5)."""
    uncommon_share: float = 0.70
    """Least focused share for an uncommon plant (70 %, DESIGN.md s5)."""
    rare_share: float = 0.85
    """Least focused share for a rare plant (85 %, DESIGN.md s5)."""
    epic_share: float = 0.95
    """Least focused share for an epic plant, also a perfect phase (95 %, DESIGN.md s5)."""
    legendary_set_phases: int = 4
    """Least focus phases of a perfect set for its last plant to be legendary (the seeds'
    4-phase set, DESIGN.md s1 and s5)."""
    score_interruption_penalty: int = 5
    """Focus-score points lost per interruption. Our choice: twenty interruptions zero a
    perfect phase; one costs about as much as a minute and a quarter of a 25-min phase."""

    def __post_init__(self) -> None:
        shares = (self.withered_below, self.uncommon_share, self.rare_share, self.epic_share)
        ok = (
            math.isfinite(self.xp_per_focused_min) and self.xp_per_focused_min >= 0
            and math.isfinite(self.group_bonus) and self.group_bonus >= 0
            and self.group_min >= 1 and self.level_xp_base >= 1
            and 0 <= self.plant_min_presence <= 1
            and all(0 <= s <= 1 for s in shares) and list(shares) == sorted(shares)
            and self.legendary_set_phases >= 1 and self.score_interruption_penalty >= 0
            and all(_whole(v) for v in (self.group_min, self.level_xp_base,
                                        self.legendary_set_phases,
                                        self.score_interruption_penalty))
        )
        if not ok:
            raise ProgressError(f"invalid progress rules: {self!r}")


DEFAULT_PROGRESS_RULES: Final = ProgressRules()

_INT_FIELDS: Final = frozenset({"group_min", "level_xp_base", "legendary_set_phases",
                                "score_interruption_penalty"})


def rules_from_overrides(overrides: Mapping[str, float]) -> ProgressRules:
    """The default rules with ``overrides`` (the settings' JSON numbers); whole-number fields
    become ints. :class:`ProgressError` for an unknown field or a bad value."""
    unknown = set(overrides) - set(ProgressRules.__dataclass_fields__)
    if unknown:
        raise ProgressError(f"unknown progress rules: {sorted(unknown)}")
    fields: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in _INT_FIELDS:
            if not _whole(value):
                raise ProgressError(f"{key} must be a whole number, got {value!r}")
            value = int(value)
        fields[key] = value
    return ProgressRules(**fields)


@dataclass(frozen=True, slots=True)
class PhaseOutcome:
    """One member's result of one focus phase, s. ``completed``: the phase ran to its end
    (not skipped or stopped) with the member there; :func:`plant_for` checks the presence
    share itself as well. ``group_size`` counts live members in the phase (ghosts never)."""

    planned_s: float
    present_s: float
    focused_s: float
    distracted_s: float
    interruptions: int
    group_size: int
    completed: bool

    def __post_init__(self) -> None:
        times = (self.present_s, self.focused_s, self.distracted_s)
        if not (math.isfinite(self.planned_s) and self.planned_s > 0
                and all(math.isfinite(t) and t >= 0 for t in times)
                and self.interruptions >= 0 and self.group_size >= 1):
            raise ProgressError(f"invalid phase outcome: {self!r}")

    @property
    def focused_share(self) -> float:
        """Focused time over planned time, 0..1."""
        return min(1.0, self.focused_s / self.planned_s)

    @property
    def presence_share(self) -> float:
        """Present time over planned time, 0..1."""
        return min(1.0, self.present_s / self.planned_s)


@dataclass(frozen=True, slots=True)
class Award:
    """What one focus phase earns a member: XP, a plant (or none) and the focus score."""

    xp: int
    plant: Rarity | None
    focus_score: int


def phase_xp(rules: ProgressRules, focused_s: float, group_size: int) -> int:
    """XP for ``focused_s`` focused seconds in a phase of ``group_size`` members (floored;
    negative time earns 0). :class:`ProgressError` for a non-finite time."""
    if not math.isfinite(focused_s):
        raise ProgressError("focused_s must be finite")
    bonus = 1 + rules.group_bonus if group_size >= rules.group_min else 1.0
    xp = max(0.0, focused_s) / 60 * rules.xp_per_focused_min * bonus
    return math.floor(xp + _EPS)


def level_for(rules: ProgressRules, xp: int) -> int:
    """The level of ``xp`` total XP: ``floor(sqrt(xp / level_xp_base))``, exact."""
    if xp < 0:
        raise ProgressError("xp must be >= 0")
    return math.isqrt(int(xp // rules.level_xp_base))


def xp_for_level(rules: ProgressRules, level: int) -> int:
    """The least total XP of ``level``: ``level_xp_base x level^2``."""
    if level < 0:
        raise ProgressError("level must be >= 0")
    return int(rules.level_xp_base) * level * level


def is_perfect_phase(rules: ProgressRules, outcome: PhaseOutcome) -> bool:
    """Completed with at least ``epic_share`` of the planned time focused."""
    return outcome.completed and outcome.focused_share >= rules.epic_share


def plant_for(rules: ProgressRules, outcome: PhaseOutcome, *,
              perfect_set: bool) -> Rarity | None:
    """The plant the phase grows (module docstring). ``perfect_set``: this is the last focus
    phase of a set of at least ``legendary_set_phases``, every earlier one perfect (the
    caller's knowledge); this phase must be perfect too for a legendary."""
    if not outcome.completed or outcome.presence_share < rules.plant_min_presence:
        return None
    share = outcome.focused_share
    if share >= rules.epic_share:
        return "legendary" if perfect_set else "epic"
    if share >= rules.rare_share:
        return "rare"
    if share >= rules.uncommon_share:
        return "uncommon"
    if share >= rules.withered_below:
        return "common"
    return "withered"


def focus_score(outcome: PhaseOutcome, rules: ProgressRules = DEFAULT_PROGRESS_RULES) -> int:
    """0..100: ``floor(100 x focused share) - score_interruption_penalty x interruptions``,
    clamped (module docstring)."""
    base = math.floor(100 * outcome.focused_share + _EPS)
    return max(0, min(100, base - int(rules.score_interruption_penalty) * outcome.interruptions))


def award(rules: ProgressRules, outcome: PhaseOutcome, *, perfect_set: bool) -> Award:
    """XP (focused time capped at the planned time), plant and focus score of one phase."""
    focused = min(outcome.focused_s, outcome.planned_s)
    return Award(phase_xp(rules, focused, outcome.group_size),
                 plant_for(rules, outcome, perfect_set=perfect_set),
                 focus_score(outcome, rules))
