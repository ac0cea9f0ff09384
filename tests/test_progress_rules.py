"""XP, level, garden and focus-score rules (rooms.rules.progress) against hand-computed
values, plus properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.rules.progress import (
    RARITIES,
    Award,
    PhaseOutcome,
    ProgressError,
    ProgressRules,
    award,
    focus_score,
    is_perfect_phase,
    level_for,
    phase_xp,
    plant_for,
    rules_from_overrides,
    xp_for_level,
)

R = ProgressRules()
PHASE_S = 25 * 60


def outcome(focused_s: float, *, planned_s: float = PHASE_S, present_s: float | None = None,
            interruptions: int = 0, group_size: int = 1,
            completed: bool = True) -> PhaseOutcome:
    present = planned_s if present_s is None else present_s
    return PhaseOutcome(planned_s=planned_s, present_s=present, focused_s=focused_s,
                        distracted_s=max(0.0, present - focused_s),
                        interruptions=interruptions, group_size=group_size,
                        completed=completed)


@pytest.mark.parametrize(("focused_s", "group_size", "xp"), [
    (PHASE_S, 1, 10),          # the anchor: 10 XP per 25 focused minutes
    (PHASE_S, 2, 11),          # +10 % in a group of 2+
    (PHASE_S, 12, 11),
    (0, 1, 0),
    (0, 5, 0),
    (PHASE_S - 1, 1, 9),       # 9.993 floors to 9
    (150, 1, 1),               # 2.5 min x 0.4 = 1.0 exactly
    (149, 1, 0),
    (2 * PHASE_S, 3, 22),      # 20 x 1.1, float residue above 22 still 22
    (50 * 60, 1, 20),
    (60 * 60, 1, 24),
    (60 * 60, 2, 26),          # 26.4 floors to 26
    (-30, 1, 0),               # negative time earns nothing
])
def test_xp_table(focused_s: float, group_size: int, xp: int) -> None:
    assert phase_xp(R, focused_s, group_size) == xp


def test_xp_floors_float_residue_to_the_whole_number() -> None:
    # 10 min at 0.7/min is 7 on paper; 0.7 is a hair under 0.7 in binary
    assert phase_xp(ProgressRules(xp_per_focused_min=0.7), 600, 1) == 7
    assert phase_xp(ProgressRules(group_bonus=0.1, group_min=3), PHASE_S, 2) == 10
    with pytest.raises(ProgressError):
        phase_xp(R, math.nan, 1)


@pytest.mark.parametrize(("xp", "level"), [
    (0, 0), (1, 0), (99, 0), (100, 1), (399, 1), (400, 2), (899, 2), (900, 3), (1599, 3),
    (1600, 4), (10_000, 10), (1_000_000, 100), (999_999, 99),
])
def test_level_boundaries(xp: int, level: int) -> None:
    assert level_for(R, xp) == level


def test_xp_for_level() -> None:
    assert [xp_for_level(R, n) for n in range(5)] == [0, 100, 400, 900, 1600]
    with pytest.raises(ProgressError):
        xp_for_level(R, -1)
    with pytest.raises(ProgressError):
        level_for(R, -1)


@pytest.mark.parametrize(("focused_s", "rarity"), [
    (0, "withered"),
    (749.99, "withered"), (750, "common"),          # 50 %
    (1049.99, "common"), (1050, "uncommon"),        # 70 %
    (1274.99, "uncommon"), (1275, "rare"),          # 85 %
    (1424.99, "rare"), (1425, "epic"),              # 95 %
    (PHASE_S, "epic"),
    (PHASE_S + 60, "epic"),                         # clock skew: share capped at 1
])
def test_rarity_boundaries(focused_s: float, rarity: str) -> None:
    assert plant_for(R, outcome(focused_s), perfect_set=False) == rarity


@pytest.mark.parametrize("planned_s", [60.0, 1000.0, 45 * 60.0, 3600.0, 7 * 60 + 0.5])
@pytest.mark.parametrize(("share", "at", "under"), [
    (0.50, "common", "withered"), (0.70, "uncommon", "common"), (0.85, "rare", "uncommon"),
    (0.95, "epic", "rare"),
])
def test_rarity_boundaries_hold_for_any_phase_length(planned_s: float, share: float, at: str,
                                                     under: str) -> None:
    exact = outcome(share * planned_s, planned_s=planned_s)
    below = outcome(share * planned_s - 0.01, planned_s=planned_s)
    assert plant_for(R, exact, perfect_set=False) == at
    assert plant_for(R, below, perfect_set=False) == under


def test_no_plant_without_presence_or_completion() -> None:
    present = 0.8 * PHASE_S
    assert plant_for(R, outcome(present, present_s=present - 0.01), perfect_set=False) is None
    assert plant_for(R, outcome(present, present_s=present), perfect_set=False) == "uncommon"
    assert plant_for(R, outcome(0, present_s=present), perfect_set=False) == "withered"
    assert plant_for(R, outcome(PHASE_S, completed=False), perfect_set=True) is None


def test_legendary_only_for_a_perfect_set() -> None:
    assert plant_for(R, outcome(PHASE_S), perfect_set=True) == "legendary"
    assert plant_for(R, outcome(1425), perfect_set=True) == "legendary"
    assert plant_for(R, outcome(1425), perfect_set=False) == "epic"
    # the caller's perfect set does not make an imperfect last phase legendary
    assert plant_for(R, outcome(1424.99), perfect_set=True) == "rare"


def test_is_perfect_phase() -> None:
    assert is_perfect_phase(R, outcome(1425))
    assert not is_perfect_phase(R, outcome(1424.99))
    assert not is_perfect_phase(R, outcome(PHASE_S, completed=False))


@pytest.mark.parametrize(("focused_s", "interruptions", "score"), [
    (PHASE_S, 0, 100),
    (1425, 0, 95),            # 95 exactly when the share is epic
    (1424.99, 0, 94),
    (0, 0, 0),
    (750, 0, 50),
    (PHASE_S, 1, 95),
    (PHASE_S, 2, 90),
    (1425, 3, 80),
    (PHASE_S, 20, 0),
    (750, 30, 0),             # clamped at 0
    (PHASE_S * 2, 0, 100),    # clamped at 100
])
def test_focus_score_examples(focused_s: float, interruptions: int, score: int) -> None:
    assert focus_score(outcome(focused_s, interruptions=interruptions)) == score


def test_focus_score_penalty_is_a_rule() -> None:
    rules = ProgressRules(score_interruption_penalty=10)
    assert focus_score(outcome(PHASE_S, interruptions=2), rules) == 80


def test_award_combines_xp_plant_and_score() -> None:
    assert award(R, outcome(PHASE_S, group_size=3), perfect_set=False) == Award(11, "epic", 100)
    assert award(R, outcome(PHASE_S), perfect_set=True) == Award(10, "legendary", 100)
    assert award(R, outcome(600, completed=False), perfect_set=False) == Award(4, None, 40)
    # focused time beyond the plan (clock skew) earns no extra XP
    assert award(R, outcome(2 * PHASE_S), perfect_set=False).xp == 10


def test_rules_are_validated() -> None:
    for bad in ({"uncommon_share": 0.9}, {"epic_share": 1.2}, {"withered_below": -0.1},
                {"group_min": 0}, {"level_xp_base": 0}, {"xp_per_focused_min": -1.0},
                {"xp_per_focused_min": math.inf}, {"group_min": 2.5},
                {"plant_min_presence": 1.5}, {"legendary_set_phases": 0}):
        with pytest.raises(ProgressError):
            ProgressRules(**bad)
    # JSON overrides arrive as floats; whole numbers are fine
    rules = ProgressRules(group_min=2.0, level_xp_base=100.0)  # type: ignore[arg-type]
    assert level_for(rules, 400) == 2 and xp_for_level(rules, 2) == 400
    assert phase_xp(rules, PHASE_S, 2) == 11


def test_rules_from_overrides() -> None:
    rules = rules_from_overrides({"group_min": 3.0, "xp_per_focused_min": 0.5})
    assert rules == ProgressRules(group_min=3, xp_per_focused_min=0.5)
    assert isinstance(rules.group_min, int)
    assert rules_from_overrides({}) == ProgressRules()
    for bad in ({"nope": 1.0}, {"group_min": 2.5}, {"epic_share": 2.0}):
        with pytest.raises(ProgressError):
            rules_from_overrides(bad)


def test_outcomes_are_validated() -> None:
    for bad in ({"planned_s": 0.0}, {"focused_s": -1.0}, {"present_s": math.nan},
                {"interruptions": -1}, {"group_size": 0}):
        fields = {"planned_s": 60.0, "present_s": 60.0, "focused_s": 60.0,
                  "distracted_s": 0.0, "interruptions": 0, "group_size": 1,
                  "completed": True} | bad
        with pytest.raises(ProgressError):
            PhaseOutcome(**fields)


seconds = st.floats(0, 10 * 3600, allow_nan=False)
groups = st.integers(1, 20)


@given(seconds, seconds, groups)
def test_xp_is_monotonic_and_never_negative(a: float, b: float, group_size: int) -> None:
    low, high = sorted((a, b))
    assert 0 <= phase_xp(R, low, group_size) <= phase_xp(R, high, group_size)
    assert phase_xp(R, high, 1) <= phase_xp(R, high, max(2, group_size))


@given(st.integers(0, 10_000))
def test_level_for_inverts_xp_for_level(level: int) -> None:
    assert level_for(R, xp_for_level(R, level)) == level
    if level:
        assert level_for(R, xp_for_level(R, level) - 1) == level - 1


@given(st.integers(0, 10**12))
def test_level_matches_the_float_formula(xp: int) -> None:
    level = level_for(R, xp)
    assert xp_for_level(R, level) <= xp < xp_for_level(R, level + 1)
    if xp < 10**9:  # where the float formula is exact enough to compare
        assert level == math.floor(math.sqrt(xp / 100))


@given(st.floats(1, 4 * 3600), st.floats(0, 1.2), st.floats(0, 1), st.integers(0, 50),
       st.booleans(), st.booleans())
def test_award_bounds(planned_s: float, share: float, presence: float, interruptions: int,
                      completed: bool, perfect_set: bool) -> None:
    result = award(R, outcome(share * planned_s, planned_s=planned_s,
                              present_s=presence * planned_s, interruptions=interruptions,
                              completed=completed), perfect_set=perfect_set)
    assert 0 <= result.focus_score <= 100
    assert 0 <= result.xp <= math.ceil(planned_s / 60 * 0.4 * 1.1)
    assert result.plant is None or result.plant in RARITIES
    if result.plant == "legendary":
        assert perfect_set and share >= 0.95 - 1e-12
