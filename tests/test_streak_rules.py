"""Streak rules (rooms.rules.streaks): local days across DST and the date line, freezes,
settling, timezone changes, records; plus properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.rules.streaks import (
    NO_STREAK,
    StreakError,
    StreakRules,
    StreakState,
    change_zone,
    count_day,
    from_record,
    goal_for_day,
    local_day,
    settle,
    to_record,
)

R = StreakRules()
D0 = date(2024, 1, 1)


def utc_ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * 1000


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def counted(days: list[int], state: StreakState = NO_STREAK,
            rules: StreakRules = R) -> StreakState:
    for n in days:
        state = count_day(rules, state, day(n))
    return state


# --- local days --------------------------------------------------------------------------

@pytest.mark.parametrize(("at_ms", "tz", "hour", "expected"), [
    (utc_ms(2024, 6, 15, 12), "UTC", 4, date(2024, 6, 15)),
    (utc_ms(2024, 6, 15, 3, 59, 59) + 999, "UTC", 4, date(2024, 6, 14)),
    (utc_ms(2024, 6, 15, 4), "UTC", 4, date(2024, 6, 15)),
    (utc_ms(2024, 6, 15, 0, 30), "UTC", 0, date(2024, 6, 15)),
    (utc_ms(2024, 6, 15, 22, 59), "UTC", 23, date(2024, 6, 14)),
    # Berlin in summer (+02): 02:30 local still belongs to the day before
    (utc_ms(2024, 6, 15, 0, 30), "Europe/Berlin", 4, date(2024, 6, 14)),
    (utc_ms(2024, 6, 15, 2), "Europe/Berlin", 4, date(2024, 6, 15)),
])
def test_local_day_around_the_day_start(at_ms: int, tz: str, hour: int,
                                        expected: date) -> None:
    assert local_day(at_ms, tz, hour) == expected


def test_default_day_start_is_four() -> None:
    assert local_day(utc_ms(2024, 6, 15, 3, 59), "UTC") == date(2024, 6, 14)
    assert local_day(utc_ms(2024, 6, 15, 4), "UTC") == date(2024, 6, 15)


@pytest.mark.parametrize(("at_ms", "tz", "hour", "expected"), [
    # Berlin spring forward 2024-03-31 02:00 CET -> 03:00 CEST: the 30th lasts 23 hours
    (utc_ms(2024, 3, 30, 3), "Europe/Berlin", 4, date(2024, 3, 30)),       # 04:00 CET
    (utc_ms(2024, 3, 30, 2, 59), "Europe/Berlin", 4, date(2024, 3, 29)),
    (utc_ms(2024, 3, 31, 1, 59), "Europe/Berlin", 4, date(2024, 3, 30)),   # 03:59 CEST
    (utc_ms(2024, 3, 31, 2), "Europe/Berlin", 4, date(2024, 3, 31)),       # 04:00 CEST
    # a day start inside the skipped hour begins when the clock jumps past it
    (utc_ms(2024, 3, 31, 0, 59), "Europe/Berlin", 2, date(2024, 3, 30)),   # 01:59 CET
    (utc_ms(2024, 3, 31, 1), "Europe/Berlin", 2, date(2024, 3, 31)),       # 03:00 CEST
    # Berlin fall back 2024-10-27 03:00 CEST -> 02:00 CET: the 26th lasts 25 hours
    (utc_ms(2024, 10, 27, 0, 30), "Europe/Berlin", 4, date(2024, 10, 26)),  # 02:30 CEST
    (utc_ms(2024, 10, 27, 1, 30), "Europe/Berlin", 4, date(2024, 10, 26)),  # 02:30 CET
    (utc_ms(2024, 10, 27, 2, 59), "Europe/Berlin", 4, date(2024, 10, 26)),  # 03:59 CET
    (utc_ms(2024, 10, 27, 3), "Europe/Berlin", 4, date(2024, 10, 27)),      # 04:00 CET
    (utc_ms(2024, 10, 26, 1, 59), "Europe/Berlin", 4, date(2024, 10, 25)),  # 03:59 CEST
    (utc_ms(2024, 10, 26, 2), "Europe/Berlin", 4, date(2024, 10, 26)),      # 04:00 CEST
    # New York: spring forward 2024-03-10, fall back 2024-11-03 (both at 02:00 local)
    (utc_ms(2024, 3, 10, 7, 59), "America/New_York", 4, date(2024, 3, 9)),  # 03:59 EDT
    (utc_ms(2024, 3, 10, 8), "America/New_York", 4, date(2024, 3, 10)),     # 04:00 EDT
    (utc_ms(2024, 11, 3, 8, 59), "America/New_York", 4, date(2024, 11, 2)),  # 03:59 EST
    (utc_ms(2024, 11, 3, 9), "America/New_York", 4, date(2024, 11, 3)),     # 04:00 EST
    (utc_ms(2024, 11, 3, 3, 59), "America/New_York", 0, date(2024, 11, 2)),  # 23:59 EDT
    (utc_ms(2024, 11, 3, 4), "America/New_York", 0, date(2024, 11, 3)),     # 00:00 EDT
    (utc_ms(2024, 11, 3, 6, 30), "America/New_York", 2, date(2024, 11, 2)),  # 01:30 EST
    # half-hour zone: Kolkata +05:30
    (utc_ms(2024, 5, 31, 22, 29, 59), "Asia/Kolkata", 4, date(2024, 5, 31)),
    (utc_ms(2024, 5, 31, 22, 30), "Asia/Kolkata", 4, date(2024, 6, 1)),     # 04:00 IST
    (utc_ms(2024, 5, 31, 18, 30), "Asia/Kolkata", 0, date(2024, 6, 1)),     # 00:00 IST
    # Kiritimati +14: the local day starts at 14:00 UTC the day before
    (utc_ms(2024, 5, 31, 13, 59, 59), "Pacific/Kiritimati", 4, date(2024, 5, 31)),
    (utc_ms(2024, 5, 31, 14), "Pacific/Kiritimati", 4, date(2024, 6, 1)),
    (utc_ms(2024, 5, 31, 10), "Pacific/Kiritimati", 0, date(2024, 6, 1)),
])
def test_local_day_across_dst_and_offsets(at_ms: int, tz: str, hour: int,
                                          expected: date) -> None:
    assert local_day(at_ms, tz, hour) == expected


def test_local_day_when_kiritimati_skipped_a_date() -> None:
    # Kiritimati went from -10 to +14 after 1994-12-30 (UTC 1994-12-31 10:00): the wall clock
    # never showed 31 December, but with the day starting at 04:00 the four hours from
    # midnight of 1 January still belong to "31 December"
    tz = "Pacific/Kiritimati"
    assert local_day(utc_ms(1994, 12, 31, 9, 59), tz, 4) == date(1994, 12, 30)
    assert local_day(utc_ms(1994, 12, 31, 10), tz, 4) == date(1994, 12, 31)
    assert local_day(utc_ms(1994, 12, 31, 13, 59), tz, 4) == date(1994, 12, 31)
    assert local_day(utc_ms(1994, 12, 31, 14), tz, 4) == date(1995, 1, 1)
    assert local_day(utc_ms(1994, 12, 31, 10), tz, 0) == date(1995, 1, 1)


def test_local_day_errors() -> None:
    for tz in ("Mars/Olympus_Mons", "", "Europe", "/etc/localtime", "../UTC"):
        with pytest.raises(StreakError):
            local_day(0, tz, 4)
    for hour in (-1, 24):
        with pytest.raises(ValueError):
            local_day(0, "UTC", hour)


# --- counting and freezes -----------------------------------------------------------------

def test_consecutive_days() -> None:
    state = counted([0, 1, 2])
    assert state == StreakState(3, 3, 0, day(2), 3)


def test_counting_the_same_or_an_earlier_day_is_a_no_op() -> None:
    state = counted([0, 1, 2])
    assert count_day(R, state, day(2)) == state
    assert count_day(R, state, day(0)) == state


def test_a_missed_day_without_freezes_restarts_the_streak() -> None:
    state = counted([0, 1, 2, 4])
    assert state == StreakState(1, 3, 0, day(4), 1)


def test_freezes_are_earned_per_seven_day_run_and_capped() -> None:
    assert counted(list(range(6))).freezes == 0
    state = counted(list(range(7)))
    assert (state.freezes, state.run_since_freeze) == (1, 0)
    assert counted(list(range(14))).freezes == 2
    state = counted(list(range(21)))
    assert (state.current, state.freezes, state.run_since_freeze) == (21, 2, 0)
    assert counted(list(range(3)), rules=StreakRules(max_freezes=0, days_per_freeze=1)
                   ).freezes == 0
    assert counted(list(range(3)), rules=StreakRules(max_freezes=5, days_per_freeze=1)
                   ).freezes == 3


def test_a_missed_day_spends_a_freeze() -> None:
    state = counted([*range(7), 8])  # day 7 missed
    assert state == StreakState(8, 8, 0, day(8), 1)


def test_two_missed_days_with_one_freeze_break_the_streak() -> None:
    state = counted([*range(7), 9])  # days 7 and 8 missed, one freeze
    assert state == StreakState(1, 7, 0, day(9), 1)


def test_two_missed_days_with_two_freezes_keep_the_streak() -> None:
    state = counted([*range(14), 16])
    assert state == StreakState(15, 15, 0, day(16), 1)


def test_a_frozen_day_ends_the_run() -> None:
    state = counted([*range(10), 11])  # 7-day run earns a freeze, 3 more, day 10 frozen
    assert (state.current, state.freezes, state.run_since_freeze) == (11, 0, 1)
    state = counted([*range(10), *range(11, 18)])
    assert (state.current, state.freezes, state.run_since_freeze) == (17, 1, 0)


# --- settling ----------------------------------------------------------------------------

def test_settle_spends_freezes_on_missed_days_before_today() -> None:
    state = counted(list(range(14)))  # last day 13, two freezes
    assert settle(R, state, day(14)) == state  # today is still open
    assert settle(R, state, day(13)) == state
    assert settle(R, state, day(15)) == StreakState(14, 14, 1, day(14), 0)
    assert settle(R, state, day(16)) == StreakState(14, 14, 0, day(15), 0)
    # out of freezes: broken; the freezes went on the days they covered
    assert settle(R, state, day(17)) == StreakState(0, 14, 0, day(15), 0)
    assert settle(R, NO_STREAK, day(5)) == NO_STREAK


def test_settle_is_idempotent_and_what_count_day_sees() -> None:
    state = counted([*range(14), 16])
    for today in range(14, 25):
        once = settle(R, state, day(today))
        assert settle(R, once, day(today)) == once
        assert count_day(R, once, day(today)) == count_day(R, state, day(today))
    broken = settle(R, counted([0, 1]), day(5))
    assert broken.current == 0 and settle(R, broken, day(9)) == broken
    assert count_day(R, broken, day(9)) == StreakState(1, 2, 0, day(9), 1)


# --- timezone changes --------------------------------------------------------------------

def test_travel_east_across_the_date_line_keeps_the_streak() -> None:
    home, away = "Pacific/Honolulu", "Pacific/Kiritimati"  # -10 and +14: same clock, +1 day
    # study every day at 19:00 Honolulu (05:00 UTC the next day)
    instants = [utc_ms(2024, 6, 2 + n, 5) for n in range(5)]
    state = NO_STREAK
    for at in instants[:3]:
        state = count_day(R, state, local_day(at, home))
    assert (state.current, state.last_day) == (3, date(2024, 6, 3))
    # moved: the next study, a day later, is on Kiritimati's 6 June (Honolulu's 4 June)
    new_day = local_day(instants[3], away)
    assert new_day == date(2024, 6, 5)
    assert count_day(R, state, new_day).current == 1  # naively, 4 June would be missed
    state = count_day(R, change_zone(state, instants[3], home, away, 4), new_day)
    assert (state.current, state.last_day) == (4, date(2024, 6, 5))
    state = count_day(R, state, local_day(instants[4], away))
    assert (state.current, state.best) == (5, 5)


def test_travel_west_across_the_date_line_keeps_counting() -> None:
    home, away = "Pacific/Kiritimati", "Pacific/Honolulu"
    # study every day at 10:00 Kiritimati (20:00 UTC the day before)
    instants = [utc_ms(2024, 6, 1 + n, 20) for n in range(5)]
    state = NO_STREAK
    for at in instants[:3]:
        state = count_day(R, state, local_day(at, home))
    assert state.last_day == date(2024, 6, 4)
    new_day = local_day(instants[3], away)  # Honolulu repeats 4 June
    assert new_day == date(2024, 6, 4)
    assert count_day(R, state, new_day) == state  # naively, a day of study would not count
    state = count_day(R, change_zone(state, instants[3], home, away, 4), new_day)
    assert (state.current, state.last_day) == (4, date(2024, 6, 4))
    state = count_day(R, state, local_day(instants[4], away))
    assert state.current == 5


def test_moving_east_is_judged_by_the_old_zone() -> None:
    # Los Angeles -> Tokyo (16 h ahead): counted LA 3 June; the next study is LA 4 June
    # 18:00, already Tokyo 5 June 10:00
    state = count_day(R, StreakState(2, 2, 0, date(2024, 6, 2), 2), date(2024, 6, 3))
    at = utc_ms(2024, 6, 5, 1)
    assert local_day(at, "America/Los_Angeles") == date(2024, 6, 4)
    assert local_day(at, "Asia/Tokyo") == date(2024, 6, 5)
    moved = change_zone(state, at, "America/Los_Angeles", "Asia/Tokyo", 4)
    assert moved.last_day == date(2024, 6, 4)
    assert count_day(R, moved, date(2024, 6, 5)).current == 4
    assert count_day(R, state, date(2024, 6, 5)).current == 1  # Tokyo alone: 4 June missed


def test_a_move_cannot_count_the_same_day_twice() -> None:
    state = count_day(R, NO_STREAK, date(2024, 6, 3))  # Honolulu 3 June, 10:00
    later = utc_ms(2024, 6, 4, 6)  # Honolulu 3 June 20:00 = Kiritimati 4 June 20:00
    moved = change_zone(state, later, "Pacific/Honolulu", "Pacific/Kiritimati", 4)
    assert count_day(R, moved, local_day(later, "Pacific/Kiritimati")) == moved


def test_switching_zones_back_and_forth_gains_nothing() -> None:
    state = counted([0, 1, 2])
    for at in (utc_ms(2024, 1, 4, h) for h in range(0, 24, 3)):
        there = change_zone(state, at, "Europe/Berlin", "Europe/Moscow", 4)
        assert change_zone(there, at, "Europe/Moscow", "Europe/Berlin", 4) == state


def test_a_change_of_day_start_is_a_zone_change() -> None:
    state = count_day(R, NO_STREAK, date(2024, 6, 3))  # counted at 20:00 on 3 June
    at = utc_ms(2024, 6, 4, 2)  # 02:00: still 3 June with a 04:00 start, 4 June with 00:00
    moved = change_zone(state, at, "UTC", "UTC", 4, new_day_start_hour=0)
    assert moved.last_day == date(2024, 6, 4)
    assert count_day(R, moved, local_day(at, "UTC", 0)) == moved  # no second count tonight
    assert count_day(R, moved, date(2024, 6, 5)).current == 2


def test_change_zone_without_a_streak_and_with_a_bad_zone() -> None:
    assert change_zone(NO_STREAK, 0, "UTC", "Asia/Tokyo", 4) == NO_STREAK
    with pytest.raises(StreakError):
        change_zone(NO_STREAK, 0, "UTC", "Nowhere/City", 4)


# --- goals, records, validation ----------------------------------------------------------

def test_a_goal_change_applies_from_the_next_day() -> None:
    changed = date(2024, 6, 3)
    assert goal_for_day(date(2024, 6, 3), 90, previous_goal_min=60, changed_on=changed) == 60
    assert goal_for_day(date(2024, 6, 2), 90, previous_goal_min=60, changed_on=changed) == 60
    assert goal_for_day(date(2024, 6, 4), 90, previous_goal_min=60, changed_on=changed) == 90
    assert goal_for_day(date(2024, 6, 3), 90) == 90


def test_record_round_trip() -> None:
    for state in (NO_STREAK, counted([*range(14), 16]), settle(R, counted([0, 1]), day(9))):
        record = to_record(state)
        assert from_record(record) == state
        assert from_record(dict(record)) == state
    assert to_record(counted([0]))["last_day"] == "2024-01-01"


def test_bad_records_and_states() -> None:
    good = to_record(counted([0, 1]))
    for bad in ({**good, "extra": 1}, {k: v for k, v in good.items() if k != "best"},
                {**good, "current": "2"}, {**good, "freezes": True},
                {**good, "last_day": "yesterday"}, {**good, "last_day": 20240101},
                {**good, "best": 1}):
        with pytest.raises(StreakError):
            from_record(bad)
    for fields in ((1, 1, 0, None, 0), (2, 1, 0, D0, 0), (1, 1, -1, D0, 0), (1, 1, 0, D0, 2),
                   (1, 1, 0, datetime(2024, 1, 1), 0)):
        with pytest.raises(StreakError):
            StreakState(*fields)
    with pytest.raises(StreakError):
        StreakRules(days_per_freeze=0)


# --- properties --------------------------------------------------------------------------

steps = st.lists(st.tuples(st.integers(0, 4), st.booleans()), max_size=60)
rule_sets = st.builds(StreakRules, max_freezes=st.integers(0, 3),
                      days_per_freeze=st.integers(1, 8))


def walk(rules: StreakRules, plan: list[tuple[int, bool]]) -> list[tuple[StreakState, date]]:
    """Apply count_day (True) or settle (False) on days that move forward by 0..4."""
    state, today, seen = NO_STREAK, D0, []
    for gap, count in plan:
        today += timedelta(days=gap)
        state = count_day(rules, state, today) if count else settle(rules, state, today)
        seen.append((state, today))
    return seen


@given(rule_sets, steps)
def test_invariants(rules: StreakRules, plan: list[tuple[int, bool]]) -> None:
    for state, today in walk(rules, plan):
        assert 0 <= state.current <= state.best
        assert 0 <= state.freezes <= rules.max_freezes
        assert 0 <= state.run_since_freeze <= state.current
        assert count_day(rules, count_day(rules, state, today), today) == count_day(
            rules, state, today)
        assert count_day(rules, settle(rules, state, today), today) == count_day(
            rules, state, today)


@given(rule_sets, steps, st.integers(0, 10), st.integers(0, 10))
def test_settle_is_path_independent(rules: StreakRules, plan: list[tuple[int, bool]],
                                    a: int, b: int) -> None:
    seen = walk(rules, plan)
    state, today = seen[-1] if seen else (NO_STREAK, D0)
    early, late = today + timedelta(days=min(a, b)), today + timedelta(days=max(a, b))
    assert settle(rules, settle(rules, state, early), late) == settle(rules, state, late)
    assert settle(rules, settle(rules, state, late), late) == settle(rules, state, late)


zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata",
                         "Pacific/Kiritimati", "Pacific/Honolulu", "Asia/Tokyo",
                         "America/Los_Angeles", "Australia/Lord_Howe", "Pacific/Chatham"])


@given(rule_sets, steps, zones, zones, st.integers(0, 23), st.integers(0, 23),
       st.integers(utc_ms(2020, 1, 1), utc_ms(2030, 1, 1)))
def test_a_move_is_never_worse_than_staying(rules: StreakRules, plan: list[tuple[int, bool]],
                                            old: str, new: str, old_hour: int, new_hour: int,
                                            at: int) -> None:
    seen = walk(rules, plan)
    state = seen[-1][0] if seen else NO_STREAK
    if state.last_day is not None:  # place the streak just before the instant
        shift = local_day(at, old, old_hour) - state.last_day - timedelta(days=len(plan) % 4)
        state = StreakState(state.current, state.best, state.freezes,
                            state.last_day + shift, state.run_since_freeze)
    stayed = count_day(rules, state, local_day(at, old, old_hour))
    moved = count_day(rules, change_zone(state, at, old, new, old_hour,
                                         new_day_start_hour=new_hour),
                      local_day(at, new, new_hour))
    assert (moved.current, moved.best, moved.freezes, moved.run_since_freeze) == (
        stayed.current, stayed.best, stayed.freezes, stayed.run_since_freeze)
