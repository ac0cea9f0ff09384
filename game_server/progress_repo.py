"""Postgres repository of progress: focus sessions, XP and levels, daily focus, streaks,
the garden and boss kills (tables of migrations/004_progress.sql; the only module that
writes them).

Every award is one transaction keyed for idempotency: a focus session is unique per
(user, room, set, phase) and everything else of the award happens only when that insert
does, so a retried, duplicated or concurrent award lands exactly once. The user's progress
row is locked (``FOR UPDATE``) for the transaction, so concurrent awards of one user
serialize instead of losing an update.

Streak storage (migration 007): ``streak_last_day`` is a date of the zone and day start in
``streak_timezone`` / ``streak_day_start_hour`` (the settings of the last count). After the
user changes either, the streak is settled in the old ones until the next count, which
first re-expresses it in the new ones (``streaks.change_zone`` at that count's instant) and
then counts the new zone's day. That first count is judged as if the user had not moved
(the old zone's day and its goal); every other award is judged on the user's current local
day. A day's focused time is summed from the sessions that ended in it (not from
``daily_focus``, whose dates mean different spans in different zones) and judged by the
goal in force on it (``user_repo.goal_min_for_day``). ``daily_focus`` keeps, per date of
the zone of the latest award on it, that day's focused total and whether the streak
counted it. Reads (``progress``) settle the stored streak as of now without writing: the
next award persists what settling implies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from game_server.user_repo import epoch_ms, goal_min_for_day
from rooms.rules import progress as progress_rules
from rooms.rules import streaks as streak_rules
from rooms.rules.progress import PhaseOutcome, ProgressRules
from rooms.rules.streaks import StreakRules, StreakState

LOCK_PROGRESS = """
INSERT INTO progress (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING;
"""
SELECT_FOR_AWARD = """
SELECT p.xp, p.level, p.streak_current, p.streak_best, p.streak_freezes, p.streak_last_day,
       p.streak_run, p.streak_timezone, p.streak_day_start_hour, u.timezone, u.day_start_hour,
       u.daily_goal_min, u.daily_goal_prev_min, u.daily_goal_changed_at
FROM progress p JOIN users u ON u.id = p.user_id WHERE p.user_id = $1 FOR UPDATE OF p"""
INSERT_SESSION = """
INSERT INTO focus_sessions (id, user_id, room_id, set_started_at, phase_index, started_at,
    ended_at, planned_s, present_s, focused_s, group_size, completed, focus_score, xp,
    distracted_s, load_s, blinks, interruptions)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (user_id, room_id, set_started_at, phase_index) DO NOTHING RETURNING id"""
SELECT_SET_SESSIONS = """
SELECT planned_s, present_s, focused_s, completed FROM focus_sessions
WHERE user_id = $1 AND room_id = $2 AND set_started_at = $3 AND phase_index < $4"""
INSERT_PLANT = """
INSERT INTO plants (id, user_id, session_id, rarity, planted_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (session_id) DO NOTHING"""
SELECT_NEARBY_FOCUS = """
SELECT ended_at, focused_s FROM focus_sessions
WHERE user_id = $1 AND ended_at >= $2 AND ended_at < $3"""
UPSERT_DAY = """
INSERT INTO daily_focus (user_id, day, focused_s, counted) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, day) DO UPDATE SET focused_s = $3,
    counted = daily_focus.counted OR $4"""
UPDATE_PROGRESS = """
UPDATE progress SET xp = $2, level = $3, streak_current = $4, streak_best = $5,
    streak_freezes = $6, streak_last_day = $7, streak_run = $8, streak_timezone = $9,
    streak_day_start_hour = $10, updated_at = now()
WHERE user_id = $1"""
INSERT_CONTRIBUTION = """
INSERT INTO boss_contributions (room_id, set_started_at, level, user_id, boss_name, damage,
    xp_bonus, killed_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8
WHERE EXISTS (SELECT 1 FROM users WHERE id = $4)  -- a deleted contributor is skipped
ON CONFLICT (room_id, set_started_at, level, user_id) DO NOTHING RETURNING user_id"""
ADD_XP = """
UPDATE progress SET xp = xp + $2, level = $3, updated_at = now() WHERE user_id = $1"""
SELECT_XP = "SELECT xp FROM progress WHERE user_id = $1 FOR UPDATE"

SELECT_PROGRESS = """
SELECT u.timezone, u.day_start_hour, u.daily_goal_min, u.daily_goal_prev_min,
       u.daily_goal_changed_at, p.xp, p.streak_current, p.streak_best, p.streak_freezes,
       p.streak_last_day, p.streak_run, p.streak_timezone, p.streak_day_start_hour
FROM users u LEFT JOIN progress p ON p.user_id = u.id WHERE u.id = $1"""
SELECT_PLANTS = """
SELECT p.id, p.rarity, p.planted_at, p.session_id, s.room_id
FROM plants p JOIN focus_sessions s ON s.id = p.session_id
WHERE p.user_id = $1
  AND ($2::timestamptz IS NULL OR p.planted_at < $2 OR (p.planted_at = $2 AND p.id < $3))
ORDER BY p.planted_at DESC, p.id DESC LIMIT $4"""
COUNT_PLANTS = "SELECT rarity, count(*) AS n FROM plants WHERE user_id = $1 GROUP BY rarity"
SESSION_COLUMNS = """s.id, s.room_id, s.started_at, s.ended_at, s.planned_s, s.present_s,
    s.focused_s, s.distracted_s, s.load_s, s.blinks, s.interruptions, s.completed,
    s.focus_score, s.xp, s.context, pl.rarity AS plant"""
SELECT_SESSIONS = f"""
SELECT {SESSION_COLUMNS}
FROM focus_sessions s LEFT JOIN plants pl ON pl.session_id = s.id
WHERE s.user_id = $1 AND s.started_at >= $2
  AND (s.started_at < $3 OR (s.started_at = $3 AND s.id < $4))
ORDER BY s.started_at DESC, s.id DESC LIMIT $5"""
SELECT_SESSION = f"""
SELECT {SESSION_COLUMNS}
FROM focus_sessions s LEFT JOIN plants pl ON pl.session_id = s.id
WHERE s.user_id = $1 AND s.id = $2"""
SELECT_SESSION_INTERRUPTIONS = """
SELECT kind, source, started_at, ended_at FROM interruptions
WHERE user_id = $1 AND (session_id = $2 OR (started_at < $4 AND ended_at > $3))
ORDER BY started_at, id"""
UPDATE_CONTEXT = """
UPDATE focus_sessions SET context = $3 WHERE user_id = $1 AND id = $2 RETURNING id"""


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class PhaseAward:
    """One member's finished focus phase, as the phase-change claimer saw it (ms, s)."""

    user_id: str
    room_id: str
    set_t0_ms: int
    phase_index: int
    cycles: int
    started_ms: int
    ended_ms: int
    planned_s: float
    present_s: float
    focused_s: float
    group_size: int
    completed: bool
    distracted_s: float | None = None  # None: not measured, taken as present - focused
    load_s: float = 0.0  # sustained furrowed brow (avatars.attention), s
    blinks: int = 0
    interruptions: int = 0  # automatic interruptions that ended in the phase

    def to_record(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> PhaseAward:
        return cls(**{f: d[f] for f in cls.__dataclass_fields__ if f in d})


@dataclass(frozen=True, slots=True)
class Reward:
    """What the ``reward`` event tells a member after its focus phase."""

    session_id: str
    xp: int
    total_xp: int
    level: int
    plant: str | None
    focus_score: int
    streak: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "xp": self.xp, "total_xp": self.total_xp,
                "level": self.level, "plant": self.plant, "focus_score": self.focus_score,
                "streak": self.streak}


class ProgressRepo:
    """Applies awards and reads progress through one pool."""

    def __init__(self, pool: asyncpg.Pool, *, rules: ProgressRules,
                 streaks: StreakRules) -> None:
        self._pool = pool
        self._rules = rules
        self._streaks = streaks

    async def apply_phase(self, job: PhaseAward) -> Reward | None:
        """Award one finished focus phase; None if it was awarded before (idempotent).
        Raises asyncpg errors (the caller retries: the award is keyed)."""
        user = uuid.UUID(job.user_id)
        room = uuid.UUID(job.room_id)
        distracted_s = (max(0.0, job.present_s - job.focused_s) if job.distracted_s is None
                        else job.distracted_s)
        outcome = PhaseOutcome(planned_s=job.planned_s, present_s=job.present_s,
                               focused_s=job.focused_s, distracted_s=distracted_s,
                               interruptions=job.interruptions, group_size=job.group_size,
                               completed=job.completed)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(LOCK_PROGRESS, user)
            row = await conn.fetchrow(SELECT_FOR_AWARD, user)
            perfect_set = await self._perfect_set(conn, job, outcome)
            award = progress_rules.award(self._rules, outcome, perfect_set=perfect_set)
            session_id = await conn.fetchval(
                INSERT_SESSION, uuid.uuid4(), user, room, _ts(job.set_t0_ms),
                job.phase_index, _ts(job.started_ms), _ts(job.ended_ms),
                max(1, round(job.planned_s)), round(job.present_s), round(job.focused_s),
                job.group_size, job.completed, award.focus_score, award.xp,
                round(distracted_s), round(job.load_s), job.blinks, job.interruptions)
            if session_id is None:
                return None
            if award.plant is not None:
                await conn.execute(INSERT_PLANT, uuid.uuid4(), user, session_id, award.plant,
                                   _ts(job.ended_ms))
            streak = _stored_streak(row)
            tz, hour = row["timezone"], row["day_start_hour"]
            zone = (row["streak_timezone"], row["streak_day_start_hour"])
            moved = (zone[0] is not None and streak.last_day is not None
                     and zone != (tz, hour))
            judge_tz, judge_hour = (zone[0], zone[1]) if moved else (tz, hour)
            nearby = _Nearby(await conn.fetch(SELECT_NEARBY_FOCUS, user,
                                              *_near(job.ended_ms)))
            day = streak_rules.local_day(job.ended_ms, tz, hour)
            judged_day = streak_rules.local_day(job.ended_ms, judge_tz, judge_hour)
            judged_s = nearby.day_s(judged_day, judge_tz, judge_hour)
            goal_min = goal_min_for_day(judged_day, row["daily_goal_min"],
                                        row["daily_goal_prev_min"],
                                        row["daily_goal_changed_at"], judge_tz, judge_hour)
            if judged_s >= goal_min * 60:
                if moved:
                    streak = streak_rules.change_zone(streak, job.ended_ms, judge_tz, tz,
                                                      judge_hour, new_day_start_hour=hour)
                streak = streak_rules.count_day(self._streaks, streak, day)
                zone = (tz, hour)
            day_s = nearby.day_s(day, tz, hour) if moved else judged_s
            await conn.execute(UPSERT_DAY, user, day, day_s, streak.last_day == day)
            total = int(row["xp"]) + award.xp
            level = progress_rules.level_for(self._rules, total)
            await conn.execute(UPDATE_PROGRESS, user, total, level, streak.current,
                               streak.best, streak.freezes, streak.last_day,
                               streak.run_since_freeze, zone[0], zone[1])
        return Reward(str(session_id), award.xp, total, level, award.plant,
                      award.focus_score, _streak_wire(streak, day))

    async def _perfect_set(self, conn: asyncpg.Connection, job: PhaseAward,
                           outcome: PhaseOutcome) -> bool:
        """Whether this phase closes a perfect set: the set's last focus phase, at least
        ``legendary_set_phases`` of them, every one perfect."""
        last_focus_index = 2 * job.cycles - 2
        if (job.phase_index != last_focus_index or job.cycles < self._rules.legendary_set_phases
                or not progress_rules.is_perfect_phase(self._rules, outcome)):
            return False
        rows = await conn.fetch(SELECT_SET_SESSIONS, uuid.UUID(job.user_id),
                                uuid.UUID(job.room_id), _ts(job.set_t0_ms), job.phase_index)
        earlier = [PhaseOutcome(planned_s=r["planned_s"], present_s=r["present_s"],
                                focused_s=r["focused_s"], distracted_s=0.0, interruptions=0,
                                group_size=1, completed=r["completed"]) for r in rows]
        return len(earlier) == job.cycles - 1 and all(
            progress_rules.is_perfect_phase(self._rules, o) for o in earlier)

    async def apply_boss_kill(self, *, room_id: str, set_t0_ms: int, level: int, name: str,
                              damage_by_user: dict[str, float], xp_bonus: int,
                              killed_ms: int) -> list[str]:
        """Credit each contributor of a kill once; returns the users credited now."""
        credited: list[str] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for user_id, damage in sorted(damage_by_user.items()):
                user = uuid.UUID(user_id)
                inserted = await conn.fetchval(
                    INSERT_CONTRIBUTION, uuid.UUID(room_id), _ts(set_t0_ms), level, user,
                    name, damage, xp_bonus, _ts(killed_ms))
                if inserted is None:
                    continue
                await conn.execute(LOCK_PROGRESS, user)
                xp = int(await conn.fetchval(SELECT_XP, user)) + xp_bonus
                await conn.execute(ADD_XP, user, xp_bonus,
                                   progress_rules.level_for(self._rules, xp))
                credited.append(user_id)
        return credited

    # -- reads (``now_ms`` is the caller's clock, epoch ms; nothing here writes but
    # ``set_context``) -----------------------------------------------------------------

    async def progress(self, user_id: uuid.UUID, now_ms: int) -> ProgressView | None:
        """XP, level and the streak as of ``now_ms``; None if there is no such user.

        The stored streak is settled to the local day of ``now_ms`` in the zone it was
        counted in (missed days spend freezes or break it), then re-expressed in the user's
        current zone (``streaks.change_zone``, as the next count will), without writing."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_PROGRESS, user_id)
            if row is None:
                return None
            tz, hour = row["timezone"], row["day_start_hour"]
            today = streak_rules.local_day(now_ms, tz, hour)
            nearby = _Nearby(await conn.fetch(SELECT_NEARBY_FOCUS, user_id, *_near(now_ms)))
        old_tz = row["streak_timezone"] or tz
        old_hour = hour if row["streak_day_start_hour"] is None else row["streak_day_start_hour"]
        streak = streak_rules.settle(self._streaks, _stored_streak(row),
                                     streak_rules.local_day(now_ms, old_tz, old_hour))
        if (old_tz, old_hour) != (tz, hour):
            streak = streak_rules.change_zone(streak, now_ms, old_tz, tz, old_hour,
                                              new_day_start_hour=hour)
        goal_min = goal_min_for_day(today, row["daily_goal_min"], row["daily_goal_prev_min"],
                                    row["daily_goal_changed_at"], tz, hour)
        view = StreakView(streak.current, streak.best, streak.freezes, streak.last_day, today,
                          streak.last_day == today, nearby.day_s(today, tz, hour),
                          goal_min * 60)
        xp = int(row["xp"] or 0)
        level = progress_rules.level_for(self._rules, xp)
        low = progress_rules.xp_for_level(self._rules, level)
        high = progress_rules.xp_for_level(self._rules, level + 1)
        return ProgressView(xp, level, low, high, (xp - low) / (high - low), view)

    async def garden(self, user_id: uuid.UUID, *, limit: int, before_ms: int | None = None,
                     before_id: uuid.UUID | None = None) -> tuple[list[Plant], dict[str, int]]:
        """Up to ``limit`` plants newest first (planted before ``before_ms``, or at it with
        an id below ``before_id``: the last row of the previous page), and the count of
        every rarity over the whole garden (zeros included)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SELECT_PLANTS, user_id, _ts_or_none(before_ms),
                                    before_id, limit)
            counted = await conn.fetch(COUNT_PLANTS, user_id)
        plants = [Plant(r["id"], r["rarity"], epoch_ms(r["planted_at"]), r["session_id"],
                        r["room_id"]) for r in rows]
        counts: dict[str, int] = dict.fromkeys(progress_rules.RARITIES, 0)
        counts.update({r["rarity"]: int(r["n"]) for r in counted})
        return plants, counts

    async def sessions(self, user_id: uuid.UUID, *, from_ms: int, to_ms: int, limit: int,
                       before_id: uuid.UUID | None = None) -> list[FocusSession]:
        """Up to ``limit`` sessions started in ``[from_ms, to_ms)`` (epoch ms), newest
        first; with ``before_id`` also those started exactly at ``to_ms`` with a smaller id
        (paging from the last row of the previous page)."""
        rows = await self._pool.fetch(SELECT_SESSIONS, user_id, _ts(from_ms), _ts(to_ms),
                                      before_id, limit)
        return [_session(r) for r in rows]

    async def session(self, user_id: uuid.UUID, session_id: uuid.UUID
                      ) -> tuple[FocusSession, list[InterruptionSpan]] | None:
        """One of the user's sessions and the user's interruptions inside it (linked to it,
        or overlapping its time range), oldest first; None if it is not the user's."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_SESSION, user_id, session_id)
            if row is None:
                return None
            found = _session(row)
            spans = await conn.fetch(SELECT_SESSION_INTERRUPTIONS, user_id, session_id,
                                     _ts(found.started_ms), _ts(found.ended_ms))
        return found, [InterruptionSpan(r["kind"], r["source"], epoch_ms(r["started_at"]),
                                        epoch_ms(r["ended_at"])) for r in spans]

    async def set_context(self, user_id: uuid.UUID, session_id: uuid.UUID,
                          context: str | None) -> bool:
        """Set (None: clear) a session's free-text context; False if it is not the user's.
        The column's CHECK caps it at 200 characters."""
        return await self._pool.fetchval(UPDATE_CONTEXT, user_id, session_id,
                                         context) is not None


_NEAR_MS = 2 * 86_400_000  # every instant of a local day lies within 2 days of any other


def _near(at_ms: int) -> tuple[datetime, datetime]:
    return _ts(at_ms - _NEAR_MS), _ts(at_ms + _NEAR_MS)


class _Nearby:
    """The user's sessions ending near an instant (``SELECT_NEARBY_FOCUS``), to sum the
    focused time of one local day in any zone: a session belongs to the day its end falls
    in (``streaks.local_day``), so the sum is right in whatever zone the day is judged."""

    def __init__(self, rows: list[asyncpg.Record]) -> None:
        self._rows = [(epoch_ms(r["ended_at"]), int(r["focused_s"])) for r in rows]

    def day_s(self, day: date, tz: str, hour: int) -> int:
        """Focused s of sessions ending on local ``day`` of ``tz`` starting at ``hour``."""
        return sum(f for end, f in self._rows if streak_rules.local_day(end, tz, hour) == day)


def _stored_streak(row: asyncpg.Record) -> StreakState:
    """The streak columns of a progress row (NULLs of a missing row: no streak)."""
    if row["streak_current"] is None:
        return streak_rules.NO_STREAK
    return StreakState(row["streak_current"], row["streak_best"], row["streak_freezes"],
                       row["streak_last_day"], row["streak_run"])


def _streak_wire(state: StreakState, day: date) -> dict[str, Any]:
    return {"current": state.current, "best": state.best, "freezes": state.freezes,
            "last_day": None if state.last_day is None else state.last_day.isoformat(),
            "day": day.isoformat()}


# -- reads ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StreakView:
    """The streak as of a read instant (settled, never written): ``last_day`` and ``today``
    are dates of the user's current zone and day start; ``today_focused_s`` (s) is what the
    awards of ``today`` summed; ``goal_s`` is the goal (s) that judges ``today``."""

    current: int
    best: int
    freezes: int
    last_day: date | None
    today: date
    today_counted: bool
    today_focused_s: int
    goal_s: int


@dataclass(frozen=True, slots=True)
class ProgressView:
    """XP (total), level, the XP at which this level and the next start, the share of the
    way from one to the other (0..1), and the streak."""

    xp: int
    level: int
    level_xp: int
    next_level_xp: int
    level_progress: float
    streak: StreakView


@dataclass(frozen=True, slots=True)
class Plant:
    id: uuid.UUID
    rarity: str
    planted_ms: int
    session_id: uuid.UUID
    room_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class InterruptionSpan:
    """An interruption of the user overlapping a session (epoch ms; ``source`` auto/self)."""

    kind: str
    source: str
    started_ms: int
    ended_ms: int

    @property
    def duration_s(self) -> float:
        return (self.ended_ms - self.started_ms) / 1000


@dataclass(frozen=True, slots=True)
class FocusSession:
    """One stored focus session (times epoch ms, durations s); ``plant``: its rarity."""

    id: uuid.UUID
    room_id: uuid.UUID | None
    started_ms: int
    ended_ms: int
    planned_s: int
    present_s: int
    focused_s: int
    distracted_s: int
    load_s: int
    blinks: int
    interruptions: int
    completed: bool
    focus_score: int
    xp: int
    context: str | None
    plant: str | None

    @property
    def actual_s(self) -> float:
        """Wall-clock length of the phase as it ran (a skipped or stopped one is shorter
        than planned), s."""
        return (self.ended_ms - self.started_ms) / 1000

    @property
    def blink_rate_per_min(self) -> float | None:
        """Blinks per present minute (blinks are counted while present), 2 decimals; None
        without presence."""
        return None if self.present_s <= 0 else round(self.blinks * 60 / self.present_s, 2)


def _session(row: asyncpg.Record) -> FocusSession:
    fields = dict(row)
    fields["started_ms"] = epoch_ms(fields.pop("started_at"))
    fields["ended_ms"] = epoch_ms(fields.pop("ended_at"))
    return FocusSession(**fields)


def time_covered_s(spans: list[InterruptionSpan], start_ms: int, end_ms: int) -> float:
    """Seconds of ``[start_ms, end_ms)`` covered by at least one span (overlaps once)."""
    covered, reach = 0, start_ms
    for span in sorted(spans, key=lambda x: x.started_ms):
        lo, hi = max(span.started_ms, reach), min(span.ended_ms, end_ms)
        if hi > lo:
            covered += hi - lo
            reach = hi
    return covered / 1000


def _ts_or_none(ms: int | None) -> datetime | None:
    return None if ms is None else _ts(ms)
