"""Streak rules that need storage, against real Postgres with fixed instants: awards land on
the user's local days across DST changes, a timezone or day-start change never breaks (nor
pads) a streak, a daily-goal change applies from the next day, and reading progress
settles the streak as of now without writing."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg
import pytest

from game_server.progress_repo import PhaseAward, ProgressRepo, Reward
from game_server.user_repo import UserRepo
from rooms.rules.progress import ProgressRules
from rooms.rules.streaks import StreakRules

pytestmark = pytest.mark.services


def ms(iso: str) -> int:
    """Epoch ms of an ISO time with its UTC offset, e.g. ``2026-03-29T04:10+02:00``."""
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


@pytest.fixture
async def pool(database_url: str) -> Any:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    try:
        yield p
    finally:
        await p.close()


class Person:
    """A user with a room, awarding focus phases that end at chosen instants."""

    def __init__(self, pool: asyncpg.Pool, user: str, room: str) -> None:
        self.pool, self.user, self.room = pool, user, room
        self.repo = ProgressRepo(pool, rules=ProgressRules(), streaks=StreakRules())
        self.users = UserRepo(pool)

    @classmethod
    async def make(cls, pool: asyncpg.Pool, tz: str, *, goal_min: int = 25,
                   day_start_hour: int = 4) -> Person:
        user = uuid.uuid4()
        room = uuid.uuid4()
        await pool.execute("INSERT INTO users (id, display_name, timezone, day_start_hour, "
                           "daily_goal_min) VALUES ($1, 'P', $2, $3, $4)",
                           user, tz, day_start_hour, goal_min)
        await pool.execute("INSERT INTO rooms (id, owner_id, name, capacity, invite_code) "
                           "VALUES ($1, $2, 'R', 5, $3)", room, user, room.hex[:8])
        return cls(pool, str(user), str(room))

    async def focus(self, ended_iso: str, minutes: float = 25) -> Reward:
        """A completed solo phase of ``minutes`` focused minutes ending at ``ended_iso``."""
        ended = ms(ended_iso)
        planned = minutes * 60
        reward = await self.repo.apply_phase(PhaseAward(
            user_id=self.user, room_id=self.room, set_t0_ms=ended - int(planned * 1000),
            phase_index=0, cycles=1, started_ms=ended - int(planned * 1000), ended_ms=ended,
            planned_s=planned, present_s=planned, focused_s=planned, group_size=1,
            completed=True))
        assert reward is not None
        return reward

    async def settings(self, at_iso: str, **changes: Any) -> None:
        assert await self.users.update_settings(uuid.UUID(self.user), ms(at_iso), **changes)

    async def days(self) -> dict[str, tuple[int, bool]]:
        rows = await self.pool.fetch("SELECT day, focused_s, counted FROM daily_focus "
                                     "WHERE user_id = $1 ORDER BY day", uuid.UUID(self.user))
        return {r["day"].isoformat(): (r["focused_s"], r["counted"]) for r in rows}

    async def row(self) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM progress WHERE user_id = $1",
                                       uuid.UUID(self.user))
        return dict(row)

    async def streak_now(self, now_iso: str) -> Any:
        view = await self.repo.progress(uuid.UUID(self.user), ms(now_iso))
        assert view is not None
        return view.streak


def streak(reward: Reward) -> tuple[int, str | None, str]:
    return reward.streak["current"], reward.streak["last_day"], reward.streak["day"]


# -- DST --------------------------------------------------------------------------------------

async def test_berlin_awards_straddling_both_dst_changes_land_on_local_days(
        pool: asyncpg.Pool) -> None:
    """Europe/Berlin springs forward 2026-03-29 02:00 CET -> 03:00 CEST and falls back
    2026-10-25 03:00 CEST -> 02:00 CET; the day starts at 04:00 on the wall clock."""
    p = await Person.make(pool, "Europe/Berlin")
    got = [streak(await p.focus(t)) for t in (
        "2026-03-28T23:00+01:00",  # Saturday night
        "2026-03-29T03:30+02:00",  # 01:30Z: still before 04:00 -> the 28th
        "2026-03-29T04:10+02:00",  # 02:10Z: a fixed +01:00 would read 03:10 (the 28th)
        "2026-03-30T03:50+02:00",  # end of the 23-hour day of the 29th
        "2026-03-30T04:05+02:00",
    )]
    assert got == [(1, "2026-03-28", "2026-03-28"), (1, "2026-03-28", "2026-03-28"),
                   (2, "2026-03-29", "2026-03-29"), (2, "2026-03-29", "2026-03-29"),
                   (3, "2026-03-30", "2026-03-30")]
    assert await p.days() == {"2026-03-28": (3000, True), "2026-03-29": (3000, True),
                              "2026-03-30": (1500, True)}

    q = await Person.make(pool, "Europe/Berlin")
    got = [streak(await q.focus(t)) for t in (
        "2026-10-24T20:00+02:00",
        "2026-10-25T02:30+02:00",  # the first 02:30 (00:30Z)
        "2026-10-25T02:30+01:00",  # the repeated 02:30 (01:30Z): still the 24th
        "2026-10-25T03:59+01:00",  # 02:59Z: a fixed +02:00 would read 04:59 (the 25th)
        "2026-10-25T04:00+01:00",
    )]
    assert [g[2] for g in got] == ["2026-10-24"] * 4 + ["2026-10-25"]
    assert got[-1][0] == 2
    assert await q.days() == {"2026-10-24": (6000, True), "2026-10-25": (1500, True)}


async def test_new_york_awards_straddling_the_dst_change_land_on_local_days(
        pool: asyncpg.Pool) -> None:
    """America/New_York springs forward 2026-03-08 02:00 EST -> 03:00 EDT."""
    p = await Person.make(pool, "America/New_York")
    got = [streak(await p.focus(t)) for t in (
        "2026-03-07T22:00-05:00",
        "2026-03-08T03:30-04:00",  # 07:30Z: before 04:00 -> the 7th
        "2026-03-08T04:10-04:00",  # 08:10Z: a fixed -05:00 would read 03:10 (the 7th)
        "2026-03-09T03:59-04:00",  # the 23-hour day of the 8th ends at 04:00
        "2026-03-09T04:00-04:00",
    )]
    assert got == [(1, "2026-03-07", "2026-03-07"), (1, "2026-03-07", "2026-03-07"),
                   (2, "2026-03-08", "2026-03-08"), (2, "2026-03-08", "2026-03-08"),
                   (3, "2026-03-09", "2026-03-09")]
    assert await p.days() == {"2026-03-07": (3000, True), "2026-03-08": (3000, True),
                              "2026-03-09": (1500, True)}


# -- timezone and day-start changes -----------------------------------------------------------

async def test_tokyo_to_los_angeles_keeps_the_streak_and_counts_the_next_day(
        pool: asyncpg.Pool) -> None:
    """Westwards a date repeats: the first LA count happens on the LA date Tokyo already
    counted, yet it is the next day of the user's life and must count."""
    p = await Person.make(pool, "Asia/Tokyo")
    assert streak(await p.focus("2026-05-09T20:00+09:00"))[0] == 1
    assert streak(await p.focus("2026-05-10T20:00+09:00")) == (2, "2026-05-10", "2026-05-10")
    await p.settings("2026-05-10T21:00+09:00", timezone="America/Los_Angeles")
    before = await p.row()
    assert (before["streak_timezone"], before["streak_day_start_hour"]) == ("Asia/Tokyo", 4)
    # LA morning of the 10th = Tokyo's night of the 10th (before 04:00): counted today
    now = await p.streak_now("2026-05-10T08:00-07:00")
    assert (now.current, now.last_day, now.today, now.today_counted) == (
        2, date(2026, 5, 10), date(2026, 5, 10), True)
    # LA evening of the 10th is Tokyo's 11th: the next day, counted in LA dates
    assert streak(await p.focus("2026-05-10T20:00-07:00")) == (3, "2026-05-10", "2026-05-10")
    assert streak(await p.focus("2026-05-11T20:00-07:00")) == (4, "2026-05-11", "2026-05-11")
    after = await p.row()
    assert (after["streak_timezone"], after["streak_best"]) == ("America/Los_Angeles", 4)


async def test_honolulu_to_kiritimati_across_the_date_line_keeps_the_streak(
        pool: asyncpg.Pool) -> None:
    """Eastwards across the date line a date is skipped (Honolulu is UTC-10, Kiritimati
    UTC+14): the skipped date is not a missed day."""
    p = await Person.make(pool, "Pacific/Honolulu")
    await p.focus("2026-05-09T20:00-10:00")
    assert streak(await p.focus("2026-05-10T20:00-10:00")) == (2, "2026-05-10", "2026-05-10")
    await p.settings("2026-05-10T21:00-10:00", timezone="Pacific/Kiritimati")
    stored = await p.row()
    # Kiritimati's 12th 10:00 is Honolulu's 11th 10:00: nothing missed yet
    now = await p.streak_now("2026-05-12T10:00+14:00")
    assert (now.current, now.freezes, now.last_day, now.today, now.today_counted) == (
        2, 0, date(2026, 5, 11), date(2026, 5, 12), False)
    assert await p.row() == stored  # the read wrote nothing
    assert streak(await p.focus("2026-05-12T20:00+14:00")) == (3, "2026-05-12", "2026-05-12")
    assert streak(await p.focus("2026-05-13T20:00+14:00")) == (4, "2026-05-13", "2026-05-13")
    assert set(await p.days()) == {"2026-05-09", "2026-05-10", "2026-05-12", "2026-05-13"}


async def test_a_zone_change_costs_the_days_staying_would_have_cost(
        pool: asyncpg.Pool) -> None:
    """Lenient, not blind: a real gap in the old zone still breaks the streak."""
    p = await Person.make(pool, "Pacific/Honolulu")
    await p.focus("2026-05-09T20:00-10:00")
    await p.focus("2026-05-10T20:00-10:00")
    await p.settings("2026-05-10T21:00-10:00", timezone="Pacific/Kiritimati")
    # Kiritimati's 14th 10:00 is Honolulu's 13th: the 11th and 12th were missed
    now = await p.streak_now("2026-05-14T10:00+14:00")
    assert (now.current, now.best) == (0, 2)
    assert streak(await p.focus("2026-05-14T20:00+14:00")) == (1, "2026-05-14", "2026-05-14")


async def test_a_day_start_change_neither_breaks_nor_pads_the_streak(
        pool: asyncpg.Pool) -> None:
    p = await Person.make(pool, "Europe/Berlin")
    await p.focus("2026-05-09T20:00+02:00")
    assert streak(await p.focus("2026-05-11T02:00+02:00")) == (2, "2026-05-10", "2026-05-10")
    await p.settings("2026-05-11T02:30+02:00", day_start_hour=0)
    # 03:00 is the 11th from midnight on, but the same night of the 10th it always was:
    # the day counted already, so no second count for it
    assert streak(await p.focus("2026-05-11T03:00+02:00")) == (2, "2026-05-11", "2026-05-11")
    assert streak(await p.focus("2026-05-12T20:00+02:00")) == (3, "2026-05-12", "2026-05-12")
    row = await p.row()
    assert (row["streak_timezone"], row["streak_day_start_hour"]) == ("Europe/Berlin", 0)


async def test_a_day_start_change_late_at_night_does_not_break_the_streak(
        pool: asyncpg.Pool) -> None:
    """Moving the day start from 00:00 to 06:00 at 05:00 turns 'today' back into
    'yesterday'; the streak counted yesterday (old hours) must not look broken."""
    p = await Person.make(pool, "UTC", day_start_hour=0)
    await p.focus("2026-05-09T20:00+00:00")
    await p.focus("2026-05-10T20:00+00:00")
    await p.settings("2026-05-11T05:00+00:00", day_start_hour=6)
    now = await p.streak_now("2026-05-11T05:30+00:00")
    assert (now.current, now.today, now.last_day) == (2, date(2026, 5, 10), date(2026, 5, 9))
    assert streak(await p.focus("2026-05-11T20:00+00:00")) == (3, "2026-05-11", "2026-05-11")


# -- daily goal -------------------------------------------------------------------------------

async def test_a_goal_change_applies_from_the_next_local_day(pool: asyncpg.Pool) -> None:
    p = await Person.make(pool, "Europe/Berlin", goal_min=60)
    uid = uuid.UUID(p.user)
    await p.focus("2026-06-01T10:00+02:00", 20)
    await p.settings("2026-06-01T11:00+02:00", daily_goal_min=30)
    profile = await p.users.get_profile(uid)
    assert profile is not None
    assert profile.goal_today(ms("2026-06-01T11:00+02:00")) == 60
    assert profile.pending_goal(ms("2026-06-01T23:00+02:00")) == (30, date(2026, 6, 2))
    assert profile.pending_goal(ms("2026-06-02T03:59+02:00")) == (30, date(2026, 6, 2))
    assert profile.pending_goal(ms("2026-06-02T04:00+02:00")) is None
    # 40 min on the 1st: the lowered goal must not complete today retroactively
    assert streak(await p.focus("2026-06-01T12:00+02:00", 20))[0] == 0
    assert (await p.streak_now("2026-06-01T13:00+02:00")).goal_s == 3600
    assert (await p.streak_now("2026-06-02T05:00+02:00")).goal_s == 1800
    assert streak(await p.focus("2026-06-02T10:00+02:00", 30))[0] == 1
    # raised on the 2nd after it counted: the 2nd stays counted, the 3rd needs 120 min
    await p.settings("2026-06-02T11:00+02:00", daily_goal_min=120)
    now = await p.streak_now("2026-06-02T12:00+02:00")
    assert (now.today_counted, now.goal_s, now.current) == (True, 1800, 1)
    assert streak(await p.focus("2026-06-03T10:00+02:00", 60))[0] == 1
    assert (await p.streak_now("2026-06-03T11:00+02:00")).goal_s == 7200
    assert streak(await p.focus("2026-06-03T12:00+02:00", 60)) == (2, "2026-06-03",
                                                                     "2026-06-03")
    assert await p.days() == {"2026-06-01": (2400, False), "2026-06-02": (1800, True),
                              "2026-06-03": (7200, True)}


async def test_goal_changes_within_one_day_keep_the_goal_in_force(pool: asyncpg.Pool) -> None:
    p = await Person.make(pool, "UTC", goal_min=60)
    uid = uuid.UUID(p.user)
    await p.settings("2026-06-01T10:00+00:00", daily_goal_min=45)
    await p.settings("2026-06-01T11:00+00:00", daily_goal_min=50)
    profile = await p.users.get_profile(uid)
    assert profile is not None and profile.daily_goal_prev_min == 60
    assert profile.pending_goal(ms("2026-06-01T12:00+00:00")) == (50, date(2026, 6, 2))
    await p.settings("2026-06-01T12:00+00:00", daily_goal_min=60)  # back: nothing pending
    profile = await p.users.get_profile(uid)
    assert profile is not None and profile.daily_goal_min == 60
    assert (profile.daily_goal_prev_min, profile.daily_goal_changed_at) == (None, None)
    # a change made after an earlier one took effect keeps the earlier one for today
    await p.settings("2026-06-01T13:00+00:00", daily_goal_min=30)
    await p.settings("2026-06-03T13:00+00:00", daily_goal_min=90)
    profile = await p.users.get_profile(uid)
    assert profile is not None
    assert profile.goal_today(ms("2026-06-03T14:00+00:00")) == 30
    assert profile.pending_goal(ms("2026-06-03T14:00+00:00")) == (90, date(2026, 6, 4))


# -- settle on read ---------------------------------------------------------------------------

async def test_reading_progress_settles_missed_days_without_writing(
        pool: asyncpg.Pool) -> None:
    p = await Person.make(pool, "UTC")
    for d in range(1, 8):  # a 7-day run earns a freeze
        await p.focus(f"2026-07-0{d}T12:00+00:00")
    stored = await p.row()
    assert (stored["streak_current"], stored["streak_freezes"]) == (7, 1)

    now = await p.streak_now("2026-07-08T12:00+00:00")
    assert (now.current, now.freezes, now.last_day, now.today_counted) == (
        7, 1, date(2026, 7, 7), False)
    now = await p.streak_now("2026-07-09T12:00+00:00")  # the 8th missed: the freeze pays
    assert (now.current, now.freezes, now.last_day) == (7, 0, date(2026, 7, 8))
    now = await p.streak_now("2026-07-10T12:00+00:00")  # the 9th missed too: broken
    assert (now.current, now.best, now.freezes) == (0, 7, 0)
    assert await p.row() == stored  # reads wrote nothing

    assert streak(await p.focus("2026-07-10T12:00+00:00")) == (1, "2026-07-10", "2026-07-10")
    row = await p.row()
    assert (row["streak_current"], row["streak_best"], row["streak_freezes"]) == (1, 7, 0)


async def test_progress_reports_xp_level_and_the_way_to_the_next_level(
        pool: asyncpg.Pool) -> None:
    p = await Person.make(pool, "UTC", goal_min=60)
    view = await p.repo.progress(uuid.UUID(p.user), ms("2026-07-01T12:00+00:00"))
    assert view is not None
    assert (view.xp, view.level, view.level_xp, view.next_level_xp, view.level_progress) == (
        0, 0, 0, 100, 0.0)
    assert (view.streak.current, view.streak.last_day, view.streak.today_focused_s,
            view.streak.goal_s, view.streak.today) == (0, None, 0, 3600, date(2026, 7, 1))
    await p.focus("2026-07-01T12:00+00:00")  # 25 min: 10 XP
    await p.repo.apply_boss_kill(room_id=p.room, set_t0_ms=0, level=1, name="B",
                                 damage_by_user={p.user: 1.0}, xp_bonus=140,
                                 killed_ms=ms("2026-07-01T12:00+00:00"))
    view = await p.repo.progress(uuid.UUID(p.user), ms("2026-07-01T13:00+00:00"))
    assert view is not None
    assert (view.xp, view.level, view.level_xp, view.next_level_xp) == (150, 1, 100, 400)
    assert view.level_progress == pytest.approx(50 / 300)
    assert (view.streak.today_focused_s, view.streak.today_counted) == (1500, False)
    assert await p.repo.progress(uuid.uuid4(), 0) is None
