"""Daily streaks with freezes, on the user's own days (DESIGN.md section 5).

- A day counts when the user's focused time that day reaches the daily goal (the caller sums
  it; a goal changed during a day applies from the next day, :func:`goal_for_day`).
- Days are local days of the user's IANA timezone starting at ``day_start_hour`` (default
  04:00: 02:30 local still belongs to the day before), read off the wall clock, so DST
  days of 23 or 25 hours are whole days (:func:`local_day`).
- Missed days are paid with freezes, one per day, oldest first, while there is a streak to
  protect (``current > 0``): the streak goes on but frozen days do not add to it. When the
  freezes run out the streak breaks (``current = 0``, the remaining freezes spent on the days
  they covered), so the outcome does not depend on how often :func:`settle` was called.
- A freeze is earned per ``days_per_freeze`` consecutive counted days (a run; a frozen or
  missed day ends it), at most ``max_freezes`` held; a run completed at the cap earns nothing.
- A timezone change never breaks a streak. ``last_day`` is a date of the zone the streak
  last counted in; :func:`settle` wants ``today`` in that zone. The first count in a new zone
  goes through :func:`change_zone` first, which judges that count in the old zone and then
  re-expresses the streak in the new zone's dates, so the change can never cost a day that
  staying would not have (see :func:`change_zone` for the exact rule and why it is not the
  more generous "whichever zone is better" at every step).

Pure: dates in, state out; ``zoneinfo`` reads the system's tz database, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DAY_START_HOUR: Final = 4
"""Local hour at which a user's day begins unless they choose another (DESIGN.md s5; the
``users.day_start_hour`` default). 04:00: a late night still belongs to the day before."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_DAY: Final = timedelta(days=1)


class StreakError(ValueError):
    """A malformed rule set, state, record, timezone or hour; ``code`` is the wire code."""

    code: Final = "bad_request"


@dataclass(frozen=True, slots=True)
class StreakRules:
    """Freeze tuning (DESIGN.md section 5)."""

    max_freezes: int = 2
    """Most freezes held at once (DESIGN.md s5: up to 2)."""
    days_per_freeze: int = 7
    """Consecutive counted days that earn one freeze, days (DESIGN.md s5: a 7-day run)."""

    def __post_init__(self) -> None:
        if not (self.max_freezes >= 0 and self.days_per_freeze >= 1):
            raise StreakError(f"invalid streak rules: {self!r}")


DEFAULT_STREAK_RULES: Final = StreakRules()


@dataclass(frozen=True, slots=True)
class StreakState:
    """``current``: days in the streak (0: none, or broken); ``best``: the longest ever;
    ``freezes`` held; ``last_day``: the last local day that counted or was frozen (None
    before the first count); ``run_since_freeze``: consecutive counted days towards the next
    freeze (never more than ``current``)."""

    current: int
    best: int
    freezes: int
    last_day: date | None
    run_since_freeze: int

    def __post_init__(self) -> None:
        day_ok = self.last_day is None or (isinstance(self.last_day, date)
                                           and not isinstance(self.last_day, datetime))
        if not (day_ok and 0 <= self.current <= self.best and self.freezes >= 0
                and 0 <= self.run_since_freeze <= self.current
                and (self.last_day is not None or self.current == 0)):
            raise StreakError(f"invalid streak state: {self!r}")


NO_STREAK: Final = StreakState(0, 0, 0, None, 0)
"""A user who never counted a day."""


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise StreakError(f"unknown timezone {tz!r}") from None


def local_day(at_ms: int, tz: str, day_start_hour: int = DEFAULT_DAY_START_HOUR) -> date:
    """The user's day that epoch instant ``at_ms`` (ms) falls in: the local date in ``tz``,
    or the date before while the local hour is below ``day_start_hour`` (0..23). On a DST
    change the wall clock decides (a repeated 02:30 is before 04:00 both times).
    :class:`StreakError` (a ValueError) for an unknown zone or a bad hour."""
    if not (isinstance(day_start_hour, int) and 0 <= day_start_hour <= 23):
        raise StreakError(f"day_start_hour must be 0..23, got {day_start_hour!r}")
    local = (_EPOCH + timedelta(milliseconds=at_ms)).astimezone(_zone(tz))
    day = local.date()
    return day - _ONE_DAY if local.hour < day_start_hour else day


def settle(rules: StreakRules, state: StreakState, today: date) -> StreakState:
    """The streak as of ``today`` before ``today`` counts: freezes paid for the missed days
    from ``last_day`` + 1 to yesterday, or the streak broken when they run out. Idempotent,
    and settling at an earlier day first changes nothing. ``rules`` are not needed to spend
    freezes; the parameter keeps the rule functions alike."""
    if state.last_day is None or state.current == 0:
        return state
    missed = (today - state.last_day).days - 1
    if missed <= 0:
        return state
    if missed <= state.freezes:
        return replace(state, freezes=state.freezes - missed, last_day=today - _ONE_DAY,
                       run_since_freeze=0)
    return replace(state, current=0, freezes=0, run_since_freeze=0,
                   last_day=state.last_day + timedelta(days=state.freezes))


def count_day(rules: StreakRules, state: StreakState, day: date) -> StreakState:
    """``day`` met its goal: settle up to it, then the streak grows by one (or restarts at
    1) and the run towards a freeze too. A ``day`` on or before ``last_day`` changes nothing
    (counted already, or frozen: a late count cannot take a spent freeze back)."""
    if state.last_day is not None and day <= state.last_day:
        return state
    settled = settle(rules, state, day)
    current = settled.current + 1
    run = settled.run_since_freeze + 1
    freezes = settled.freezes
    if run >= rules.days_per_freeze:
        run = 0
        if freezes < rules.max_freezes:
            freezes += 1
    return StreakState(current, max(settled.best, current), freezes, day, run)


def change_zone(state: StreakState, at_ms: int, old_tz: str, new_tz: str,
                day_start_hour: int, *, new_day_start_hour: int | None = None) -> StreakState:
    """Re-express ``last_day`` (a date of ``old_tz``) in ``new_tz``'s dates as of the epoch
    instant ``at_ms``: shifted by ``local_day(at_ms, new) - local_day(at_ms, old)`` days, so
    at ``at_ms`` the streak stands exactly as the old zone says it does (today counted
    already, still open, or n days missed). Also serves a change of day start hour.

    Call it with the instant of the first count after the change, right before
    :func:`count_day` with that count's new-zone day, and settle in the old zone until then.
    That count is judged as if the user had not moved; later days are the new zone's. Across
    the date line eastwards the shift skips a date (Honolulu to Kiritimati: the old zone's
    next day is the new zone's day after next), westwards it repeats one. This is what "take
    the lenient one" means here: a move never costs a day that staying would not have cost.
    Taking, at every count, whichever of the two zones' readings is better would be kinder
    once, but a user could then skip a day by switching zones back and forth, and the result
    would depend on when the state was settled."""
    new_hour = day_start_hour if new_day_start_hour is None else new_day_start_hour
    shift = local_day(at_ms, new_tz, new_hour) - local_day(at_ms, old_tz, day_start_hour)
    if state.last_day is None:
        return state
    return replace(state, last_day=state.last_day + shift)


def goal_for_day(day: date, goal_min: int, *, previous_goal_min: int | None = None,
                 changed_on: date | None = None) -> int:
    """The daily goal (min) that ``day`` is judged by: a goal set during the local day
    ``changed_on`` applies from the day after; that day and earlier keep
    ``previous_goal_min``, so a raised goal cannot undo a day already met, nor a lowered one
    complete a day retroactively."""
    if previous_goal_min is not None and changed_on is not None and day <= changed_on:
        return previous_goal_min
    return goal_min


def to_record(state: StreakState) -> dict[str, object]:
    """A JSON-able dict for storage (``last_day`` as ISO ``YYYY-MM-DD`` or None)."""
    return {"current": state.current, "best": state.best, "freezes": state.freezes,
            "last_day": None if state.last_day is None else state.last_day.isoformat(),
            "run_since_freeze": state.run_since_freeze}


_RECORD_KEYS: Final = frozenset({"current", "best", "freezes", "last_day", "run_since_freeze"})


def from_record(record: Mapping[str, object]) -> StreakState:
    """The state :func:`to_record` wrote; :class:`StreakError` for anything else."""
    if set(record) != _RECORD_KEYS:
        raise StreakError(f"streak record keys must be {sorted(_RECORD_KEYS)}")
    raw_day = record["last_day"]
    if raw_day is not None and not isinstance(raw_day, str):
        raise StreakError("streak record field last_day is not a date string")
    try:
        day = None if raw_day is None else date.fromisoformat(raw_day)
    except ValueError:
        raise StreakError(f"streak record field last_day is not a date: {raw_day!r}") from None
    return StreakState(_int(record, "current"), _int(record, "best"), _int(record, "freezes"),
                       day, _int(record, "run_since_freeze"))


def _int(record: Mapping[str, object], key: str) -> int:
    value = record[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise StreakError(f"streak record field {key} is not an integer")
    return value
