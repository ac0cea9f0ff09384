"""Postgres repository of progress: focus sessions, XP and levels, daily focus, streaks,
the garden and boss kills (tables of migrations/004_progress.sql; the only module that
writes them).

Every award is one transaction keyed for idempotency: a focus session is unique per
(user, room, set, phase) and everything else of the award happens only when that insert
does, so a retried, duplicated or concurrent award lands exactly once. The user's progress
row is locked (``FOR UPDATE``) for the transaction, so concurrent awards of one user
serialize instead of losing an update.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from rooms.rules import progress as progress_rules
from rooms.rules import streaks as streak_rules
from rooms.rules.progress import PhaseOutcome, ProgressRules
from rooms.rules.streaks import StreakRules, StreakState

LOCK_PROGRESS = """
INSERT INTO progress (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING;
"""
SELECT_FOR_AWARD = """
SELECT p.xp, p.level, p.streak_current, p.streak_best, p.streak_freezes, p.streak_last_day,
       p.streak_run, u.timezone, u.day_start_hour, u.daily_goal_min
FROM progress p JOIN users u ON u.id = p.user_id WHERE p.user_id = $1 FOR UPDATE OF p"""
INSERT_SESSION = """
INSERT INTO focus_sessions (id, user_id, room_id, set_started_at, phase_index, started_at,
    ended_at, planned_s, present_s, focused_s, group_size, completed, focus_score, xp)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (user_id, room_id, set_started_at, phase_index) DO NOTHING RETURNING id"""
SELECT_SET_SESSIONS = """
SELECT planned_s, present_s, focused_s, completed FROM focus_sessions
WHERE user_id = $1 AND room_id = $2 AND set_started_at = $3 AND phase_index < $4"""
INSERT_PLANT = """
INSERT INTO plants (id, user_id, session_id, rarity, planted_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (session_id) DO NOTHING"""
UPSERT_DAY = """
INSERT INTO daily_focus (user_id, day, focused_s) VALUES ($1, $2, $3)
ON CONFLICT (user_id, day) DO UPDATE SET focused_s = daily_focus.focused_s + $3
RETURNING focused_s, counted"""
MARK_DAY_COUNTED = "UPDATE daily_focus SET counted = true WHERE user_id = $1 AND day = $2"
UPDATE_PROGRESS = """
UPDATE progress SET xp = $2, level = $3, streak_current = $4, streak_best = $5,
    streak_freezes = $6, streak_last_day = $7, streak_run = $8, updated_at = now()
WHERE user_id = $1"""
INSERT_CONTRIBUTION = """
INSERT INTO boss_contributions (room_id, set_started_at, level, user_id, boss_name, damage,
    xp_bonus, killed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (room_id, set_started_at, level, user_id) DO NOTHING RETURNING user_id"""
ADD_XP = """
UPDATE progress SET xp = xp + $2, level = $3, updated_at = now() WHERE user_id = $1"""
SELECT_XP = "SELECT xp FROM progress WHERE user_id = $1 FOR UPDATE"


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

    def to_record(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> PhaseAward:
        return cls(**{f: d[f] for f in cls.__dataclass_fields__})


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
        outcome = PhaseOutcome(planned_s=job.planned_s, present_s=job.present_s,
                               focused_s=job.focused_s,
                               distracted_s=max(0.0, job.present_s - job.focused_s),
                               interruptions=0, group_size=job.group_size,
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
                job.group_size, job.completed, award.focus_score, award.xp)
            if session_id is None:
                return None
            if award.plant is not None:
                await conn.execute(INSERT_PLANT, uuid.uuid4(), user, session_id, award.plant,
                                   _ts(job.ended_ms))
            streak = StreakState(row["streak_current"], row["streak_best"],
                                 row["streak_freezes"], row["streak_last_day"],
                                 row["streak_run"])
            day = streak_rules.local_day(job.ended_ms, row["timezone"], row["day_start_hour"])
            day_row = await conn.fetchrow(UPSERT_DAY, user, day, round(job.focused_s))
            if not day_row["counted"] and day_row["focused_s"] >= row["daily_goal_min"] * 60:
                await conn.execute(MARK_DAY_COUNTED, user, day)
                streak = streak_rules.count_day(self._streaks, streak, day)
            total = int(row["xp"]) + award.xp
            level = progress_rules.level_for(self._rules, total)
            await conn.execute(UPDATE_PROGRESS, user, total, level, streak.current,
                               streak.best, streak.freezes, streak.last_day,
                               streak.run_since_freeze)
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


def _streak_wire(state: StreakState, day: date) -> dict[str, Any]:
    return {"current": state.current, "best": state.best, "freezes": state.freezes,
            "last_day": None if state.last_day is None else state.last_day.isoformat(),
            "day": day.isoformat()}
