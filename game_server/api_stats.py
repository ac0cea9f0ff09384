"""HTTP routes of analytics (``/api/me/stats/...``, ``/api/me/profile``) and leaderboards
(``/api/leaderboards``).

Every figure is computed in SQL by ``analytics_repo`` (its module docstring gives the window
and attribution rules: local days with the user's ``day_start_hour``, time split over the
local hours where it fell, lost time as the union of interruption intervals). Durations are
seconds (``_s``, rounded to 1 ms); window bounds are epoch ms. Analytics take
``?range=7d|30d|all`` (default 7d: the last 7 local days, today included).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from game_server.analytics_repo import AnalyticsRepo, Peak, UnknownRoom, UnknownUser, Window
from game_server.deps import DEPS
from game_server.http_common import (
    ApiRouter,
    HttpError,
    authenticate,
    model_response,
    parse_query,
)

router = ApiRouter("stats")

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UUID_RE = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class RangeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    range: Literal["7d", "30d", "all"] = Field(
        "7d", description="7d/30d: the last 7/30 local days (today included); all: no bound")


class LeaderboardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field("global", pattern=f"^(global|room:{UUID_RE})$",
                       description="global, or room:{room_id} (that room's sessions only)")
    metric: Literal["xp", "focus_time", "sessions"] = "xp"
    period: Literal["week", "all"] = Field(
        "all", description="week: since Monday 00:00 UTC of the current ISO week")
    limit: int = Field(20, ge=1, le=100)


class WindowOut(BaseModel):
    """The analysed span ``[from_ms, to_ms)`` (from_ms null for range=all) and the zone and
    day start it was computed with."""

    range: str
    timezone: str
    day_start_hour: int
    from_ms: int | None
    to_ms: int


class SummaryOut(BaseModel):
    """time_worked_s = sum of session durations; time_lost_s = union of interruption
    intervals; effective_s = max(worked - lost, 0); interruptions_per_hour = interruptions
    / (worked s / 3600); averages are null without data."""

    window: WindowOut
    sessions: int
    interruptions: int
    time_worked_s: float
    time_lost_s: float
    effective_s: float
    avg_interruption_s: float | None
    interruptions_per_hour: float | None
    focused_s: float
    avg_focus_score: float | None


class InterruptionTypeOut(BaseModel):
    """seconds: union of this kind's intervals; share: seconds / all kinds' seconds."""

    kind: str
    source: Literal["auto", "self"]
    count: int
    seconds: float
    share: float


class InterruptionTypesOut(BaseModel):
    window: WindowOut
    types: list[InterruptionTypeOut]


class HourOut(BaseModel):
    hour: int = Field(description="local clock hour 0..23")
    focused_s: float
    lost_s: float


class ProductiveHoursOut(BaseModel):
    """24 hours; each session's focused_s is split over the hours it spanned in proportion
    to the overlap, lost time by its exact overlap."""

    window: WindowOut
    hours: list[HourOut]


class PeakCellOut(BaseModel):
    weekday: int = Field(description="ISO weekday of the local day, 1 = Monday")
    weekday_name: str
    hour: int
    lost_s: float


class PeakHourOut(BaseModel):
    hour: int
    lost_s: float


class PeakWeekdayOut(BaseModel):
    weekday: int
    weekday_name: str
    lost_s: float


class PeakDistractionOut(BaseModel):
    """peak: the (weekday, hour) with the most lost time; peak_hour: summed over weekdays;
    peak_weekday: summed over hours; each null when no time was lost."""

    window: WindowOut
    peak: PeakCellOut | None
    peak_hour: PeakHourOut | None
    peak_weekday: PeakWeekdayOut | None


class WeekdayOut(BaseModel):
    weekday: int = Field(description="ISO weekday of the local day, 1 = Monday")
    weekday_name: str
    sessions: int
    focused_s: float
    lost_s: float
    avg_focus_score: float | None


class WeeklyPatternOut(BaseModel):
    window: WindowOut
    days: list[WeekdayOut]


class FocusHourOut(BaseModel):
    hour: int
    focused_s: float


class FocusDayOut(BaseModel):
    weekday: int
    weekday_name: str
    focused_s: float


class ProfileOut(BaseModel):
    """avg_session_s = mean session duration; completion_ratio = completed / sessions;
    peak_hours/peak_days: the 3 local hours/weekdays with most focused time;
    expected_s = sum of planned_s, actual_s = sum of durations, actual_vs_expected =
    actual_s / expected_s (null without sessions)."""

    window: WindowOut
    sessions: int
    avg_session_s: float | None
    completion_ratio: float | None
    peak_hours: list[FocusHourOut]
    peak_days: list[FocusDayOut]
    expected_s: float
    actual_s: float
    actual_vs_expected: float | None


class LeaderRowOut(BaseModel):
    rank: int
    user_id: uuid.UUID
    display_name: str
    value: int = Field(description="xp, focused seconds or sessions")


class LeaderMeOut(BaseModel):
    rank: int
    value: int


class LeaderboardOut(BaseModel):
    """Ranks use rank(): equal values share a rank and the next one skips (1, 1, 3); users
    with value 0 are not ranked; me is null then."""

    scope: str
    metric: str
    period: str
    since_ms: int | None
    rows: list[LeaderRowOut]
    me: LeaderMeOut | None


def _ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def _window_out(w: Window) -> WindowOut:
    return WindowOut(range=w.range, timezone=w.timezone, day_start_hour=w.day_start_hour,
                     from_ms=_ms(w.lo), to_ms=_ms(w.hi) or 0)


async def _open(request: web.Request) -> tuple[AnalyticsRepo, uuid.UUID, Window]:
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    query = parse_query(request, RangeQuery)
    repo = AnalyticsRepo(deps.pool)
    try:
        window = await repo.window(identity.user_id, query.range, datetime.now(UTC))
    except UnknownUser:
        raise HttpError(401, "unauthorized", "unknown user") from None
    return repo, identity.user_id, window


@router.route("GET", "/api/me/stats/summary", query=RangeQuery, response=SummaryOut)
async def stats_summary(request: web.Request) -> web.Response:
    """Totals of the caller's sessions and interruptions in the range.

    time_worked_s = sum(ended_at - started_at) of the sessions; time_lost_s = length of the
    union of the interruption intervals (overlaps count once); effective_s =
    max(time_worked_s - time_lost_s, 0); avg_interruption_s = mean single interruption
    length; interruptions_per_hour = interruptions / (time_worked_s / 3600); focused_s =
    sum of focused_s; avg_focus_score = mean focus_score. Averages are null without data."""
    repo, user, w = await _open(request)
    s = _rounded(await repo.summary(user, w))
    return model_response(SummaryOut(
        window=_window_out(w), sessions=s["sessions"], interruptions=s["interruptions"],
        time_worked_s=s["worked_s"], time_lost_s=s["lost_s"], effective_s=s["effective_s"],
        avg_interruption_s=s["avg_interruption_s"],
        interruptions_per_hour=s["interruptions_per_hour"], focused_s=s["focused_s"],
        avg_focus_score=s["avg_focus_score"]))


@router.route("GET", "/api/me/stats/interruption-types", query=RangeQuery,
              response=InterruptionTypesOut)
async def stats_interruption_types(request: web.Request) -> web.Response:
    """Interruptions per kind: count, seconds and share of the seconds, most first.

    seconds = length of the union of that kind's intervals; share = seconds / the sum of
    every kind's seconds (so the shares add up to 1)."""
    repo, user, w = await _open(request)
    rows = await repo.interruption_types(user, w)
    return model_response(InterruptionTypesOut(
        window=_window_out(w),
        types=[InterruptionTypeOut.model_validate(_rounded(r)) for r in rows]))


@router.route("GET", "/api/me/stats/productive-hours", query=RangeQuery,
              response=ProductiveHoursOut)
async def stats_productive_hours(request: web.Request) -> web.Response:
    """Focused and lost seconds per local hour of the day (24 rows).

    A session's focused_s is split over the local hours it spanned in proportion to its
    overlap with each (focused_s x overlap / duration); lost time (the union of the
    interruptions) by its exact overlap. Hours are clock hours in the user's zone, DST
    included (a skipped hour gets nothing)."""
    repo, user, w = await _open(request)
    rows = await repo.productive_hours(user, w)
    return model_response(ProductiveHoursOut(
        window=_window_out(w), hours=[HourOut.model_validate(_rounded(r)) for r in rows]))


@router.route("GET", "/api/me/stats/peak-distraction-time", query=RangeQuery,
              response=PeakDistractionOut)
async def stats_peak_distraction(request: web.Request) -> web.Response:
    """The local weekday and hour with the most lost time (null when none was lost).

    Lost time is split over (weekday, hour) as in productive-hours; the weekday is that of
    the local day (which begins at day_start_hour). Ties go to the earliest weekday/hour."""
    repo, user, w = await _open(request)
    cell, hour, day = await repo.peak_distraction(user, w)

    def name(p: Peak) -> str:
        return WEEKDAYS[(p.weekday or 1) - 1]

    return model_response(PeakDistractionOut(
        window=_window_out(w),
        peak=None if cell is None else PeakCellOut(
            weekday=cell.weekday or 0, weekday_name=name(cell), hour=cell.hour or 0,
            lost_s=round(cell.seconds, 3)),
        peak_hour=None if hour is None else PeakHourOut(
            hour=hour.hour or 0, lost_s=round(hour.seconds, 3)),
        peak_weekday=None if day is None else PeakWeekdayOut(
            weekday=day.weekday or 0, weekday_name=name(day), lost_s=round(day.seconds, 3))))


@router.route("GET", "/api/me/stats/weekly-pattern", query=RangeQuery,
              response=WeeklyPatternOut)
async def stats_weekly_pattern(request: web.Request) -> web.Response:
    """Sessions, focused and lost seconds and mean focus score per ISO weekday (7 rows).

    Monday first; a day is the user's local day from day_start_hour. Sessions and the
    mean focus score count on the day the session started; focused and lost seconds are
    split where they fell."""
    repo, user, w = await _open(request)
    rows = await repo.weekly_pattern(user, w)
    return model_response(WeeklyPatternOut(window=_window_out(w), days=[
        WeekdayOut(weekday_name=WEEKDAYS[r["weekday"] - 1], **_rounded(r))
        for r in rows]))


@router.route("GET", "/api/me/profile", query=RangeQuery, response=ProfileOut)
async def focus_profile(request: web.Request) -> web.Response:
    """The caller's focus profile: session length, completion, peak hours and days,
    expected vs actual duration.

    avg_session_s = mean(ended_at - started_at); completion_ratio = completed / sessions;
    peak_hours / peak_days = the 3 local hours / weekdays with the most focused time (split
    as in productive-hours); expected_s = sum(planned_s), actual_s = sum(ended_at -
    started_at), actual_vs_expected = actual_s / expected_s."""
    repo, user, w = await _open(request)
    figures, hours, days = await repo.profile(user, w)
    f = _rounded(figures)
    return model_response(ProfileOut(
        window=_window_out(w), sessions=f["sessions"], avg_session_s=f["avg_session_s"],
        completion_ratio=f["completion_ratio"],
        peak_hours=[FocusHourOut(hour=p.hour or 0, focused_s=round(p.seconds, 3))
                    for p in hours],
        peak_days=[FocusDayOut(weekday=p.weekday or 0, weekday_name=WEEKDAYS[
            (p.weekday or 1) - 1], focused_s=round(p.seconds, 3)) for p in days],
        expected_s=f["planned_s"], actual_s=f["actual_s"],
        actual_vs_expected=f["actual_ratio"]))


@router.route("GET", "/api/leaderboards", query=LeaderboardQuery, response=LeaderboardOut,
              errors=(404,))
async def leaderboards(request: web.Request) -> web.Response:
    """Users ranked by XP, focus time or sessions, globally or in one room, this week or
    all time, with the caller's own rank.

    xp: all time and global = progress.xp; otherwise the sum of focus_sessions.xp (ended in
    the period, in the room) and boss_contributions.xp_bonus (killed in the period, in the
    room). focus_time = sum of focused_s (s); sessions = count. week = since Monday 00:00
    UTC of the current ISO week. Ranks by rank(): ties share one, the next skips (1, 1, 3);
    users with value 0 are left out. 404 for a room scope naming no room."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    q = parse_query(request, LeaderboardQuery)
    room_id = None if q.scope == "global" else uuid.UUID(q.scope.removeprefix("room:"))
    try:
        board = await AnalyticsRepo(deps.pool).leaderboard(
            metric=q.metric, room_id=room_id, weekly=q.period == "week",
            me=identity.user_id, limit=q.limit, now=datetime.now(UTC))
    except UnknownRoom:
        raise HttpError(404, "not_found", "no such room") from None
    return model_response(LeaderboardOut(
        scope=q.scope if room_id is None else f"room:{room_id}", metric=q.metric,
        period=q.period, since_ms=_ms(board.since),
        rows=[LeaderRowOut(rank=r.rank, user_id=r.user_id, display_name=r.display_name,
                           value=r.value) for r in board.rows],
        me=None if board.me is None else LeaderMeOut(rank=board.me.rank,
                                                     value=board.me.value)))
