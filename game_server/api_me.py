"""HTTP routes about the caller (``/api/me...``): profile, settings, progress, garden and
focus sessions.

Settings follow the streak rules (``rooms.rules.streaks``): a daily-goal change applies from
the caller's next local day, and a timezone or day-start change never breaks a streak (the
streak is settled in the zone it was counted in until its next count, which re-expresses it
in the new zone first; ``progress_repo``). Reads compute the streak as of now and never
write. Times are epoch ms, durations s, days ISO ``YYYY-MM-DD`` dates of the caller's
current zone and day start.
"""

from __future__ import annotations

import functools
import time
import unicodedata
import uuid
import zoneinfo
from datetime import date
from typing import Any

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from game_server.deps import DEPS, Deps
from game_server.http_common import (
    ApiRouter,
    HttpError,
    authenticate,
    json_response,
    parse,
    parse_query,
    path_uuid,
)
from game_server.progress_repo import FocusSession, InterruptionSpan, time_covered_s
from game_server.user_repo import Profile, epoch_ms

router = ApiRouter("me")

MAX_MS = 2**53  # largest epoch ms accepted in a query (JavaScript's safe integers)
DEFAULT_SESSIONS_WINDOW_MS = 30 * 86_400_000  # GET /api/me/sessions without ``from``: 30 days


def _now_ms() -> int:
    return int(time.time() * 1000)


@functools.lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _no_control(value: str) -> str:
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("control characters are not allowed")
    return value


# -- models ---------------------------------------------------------------------------------

class MeOut(BaseModel):
    """The caller's account and settings. ``daily_goal_min`` is the goal in force today;
    a goal set today shows as ``pending_daily_goal_min`` from ``pending_daily_goal_from``
    (the caller's next local day) until then."""

    id: uuid.UUID
    username: str | None
    display_name: str
    is_guest: bool
    timezone: str
    day_start_hour: int
    daily_goal_min: int
    pending_daily_goal_min: int | None
    pending_daily_goal_from: date | None
    paper_mode: bool
    created_ms: int


class PatchMeBody(BaseModel):
    """``PATCH /api/me``: at least one field; null is not a value. ``timezone``: an IANA
    name; ``day_start_hour``: 0..23; ``daily_goal_min``: 1..1440 (applies from the next
    local day); ``display_name``: 1..40 characters after trimming, no control characters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: str | None = Field(None, max_length=80)
    timezone: str | None = Field(None, max_length=64)
    day_start_hour: StrictInt | None = Field(None, ge=0, le=23)
    daily_goal_min: StrictInt | None = Field(None, ge=1, le=1440)
    paper_mode: StrictBool | None = None

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _no_control(value.strip())
        if not 1 <= len(value) <= 40:
            raise ValueError("1 to 40 characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and value.strip() not in _timezones():
            raise ValueError("not an IANA timezone name (e.g. Europe/Berlin)")
        return None if value is None else value.strip()

    @model_validator(mode="after")
    def _some_field(self) -> PatchMeBody:
        if not self.model_fields_set:
            raise ValueError("give at least one field")
        nulls = sorted(f for f in self.model_fields_set if getattr(self, f) is None)
        if nulls:
            raise ValueError(f"{nulls[0]} must not be null")
        return self


class StreakOut(BaseModel):
    """The streak as of now: ``today_focused_s`` focused s summed on the local day ``today``,
    ``goal_s`` the goal (s) that judges it, ``today_counted`` whether it met it."""

    current: int
    best: int
    freezes: int
    last_day: date | None
    today: date
    today_counted: bool
    today_focused_s: int
    goal_s: int


class ProgressOut(BaseModel):
    """XP and level (level L starts at ``level_xp`` = 100 L^2 total XP, the next at
    ``next_level_xp``, ``xp_to_next_level`` away; rooms.rules.progress),
    ``level_progress`` 0..1 of the way from one to the other."""

    xp: int
    level: int
    level_xp: int
    next_level_xp: int
    xp_to_next_level: int
    level_progress: float
    streak: StreakOut


class PlantOut(BaseModel):
    id: uuid.UUID
    rarity: str
    planted_ms: int
    session_id: uuid.UUID
    room_id: uuid.UUID | None


class GardenQuery(BaseModel):
    """Paging newest first: pass the previous page's ``next_before``/``next_before_id``."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=200)
    before: int | None = Field(None, ge=0, le=MAX_MS)
    before_id: uuid.UUID | None = None


class GardenOut(BaseModel):
    """A page of plants, newest first; ``counts`` per rarity and ``total`` over the whole
    garden; ``next_before``/``next_before_id`` null on the last page."""

    plants: list[PlantOut]
    counts: dict[str, int]
    total: int
    next_before: int | None
    next_before_id: uuid.UUID | None


class FocusSessionOut(BaseModel):
    """One focus session: times epoch ms, durations s; ``actual_s`` the phase's wall-clock
    length, ``planned_s`` the expected one; ``plant`` its rarity or null."""

    id: uuid.UUID
    room_id: uuid.UUID | None
    started_ms: int
    ended_ms: int
    planned_s: int
    actual_s: float
    present_s: int
    focused_s: int
    distracted_s: int
    load_s: int
    blinks: int
    blink_rate_per_min: float | None
    interruptions: int
    completed: bool
    focus_score: int
    xp: int
    context: str | None
    plant: str | None


class SessionsQuery(BaseModel):
    """Sessions started in ``[from, to)`` (epoch ms; default the 30 days before ``to``,
    ``to`` default now), newest first. Next page: the same ``from``, ``to=next_to`` and
    ``before_id=next_before_id``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: int | None = Field(None, alias="from", ge=0, le=MAX_MS)
    to: int | None = Field(None, ge=0, le=MAX_MS)
    limit: int = Field(50, ge=1, le=200)
    before_id: uuid.UUID | None = None


class FocusSessionsOut(BaseModel):
    sessions: list[FocusSessionOut]
    from_ms: int
    to_ms: int
    next_to: int | None
    next_before_id: uuid.UUID | None


class InterruptionOut(BaseModel):
    kind: str
    source: str
    started_ms: int
    ended_ms: int
    duration_s: float


class InsightsOut(BaseModel):
    """Shares are 0..1: focused and present time over planned time; ``load_share`` the
    present time under sustained furrowed brow (cognitive load). ``time_lost_s``: seconds
    of the session covered by its interruptions (overlaps counted once).
    ``duration_delta_s`` = actual - expected."""

    focused_share: float
    presence_share: float
    blink_rate_per_min: float | None
    load_share: float | None
    interruptions: list[InterruptionOut]
    time_lost_s: float
    expected_s: int
    actual_s: float
    duration_delta_s: float


class FocusSessionDetailOut(FocusSessionOut):
    insights: InsightsOut


class ContextBody(BaseModel):
    """``context``: free text up to 200 characters (trimmed), no control characters;
    empty or null clears it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    context: str | None = Field(max_length=200)

    @field_validator("context")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _no_control(value.strip()) or None


# -- shaping --------------------------------------------------------------------------------

def _me(profile: Profile, now_ms: int) -> dict[str, Any]:
    pending = profile.pending_goal(now_ms)
    return MeOut(
        id=profile.id, username=profile.username, display_name=profile.display_name,
        is_guest=profile.is_guest, timezone=profile.timezone,
        day_start_hour=profile.day_start_hour, daily_goal_min=profile.goal_today(now_ms),
        pending_daily_goal_min=None if pending is None else pending[0],
        pending_daily_goal_from=None if pending is None else pending[1],
        paper_mode=profile.paper_mode,
        created_ms=epoch_ms(profile.created_at)).model_dump(mode="json")


def _session(s: FocusSession) -> FocusSessionOut:
    return FocusSessionOut(
        id=s.id, room_id=s.room_id, started_ms=s.started_ms, ended_ms=s.ended_ms,
        planned_s=s.planned_s, actual_s=s.actual_s, present_s=s.present_s,
        focused_s=s.focused_s, distracted_s=s.distracted_s, load_s=s.load_s, blinks=s.blinks,
        blink_rate_per_min=s.blink_rate_per_min, interruptions=s.interruptions,
        completed=s.completed, focus_score=s.focus_score, xp=s.xp, context=s.context,
        plant=s.plant)


def _detail(s: FocusSession, spans: list[InterruptionSpan]) -> dict[str, Any]:
    insights = InsightsOut(
        focused_share=min(1.0, s.focused_s / s.planned_s),
        presence_share=min(1.0, s.present_s / s.planned_s),
        blink_rate_per_min=s.blink_rate_per_min,
        load_share=None if s.present_s <= 0 else min(1.0, s.load_s / s.present_s),
        interruptions=[InterruptionOut(kind=i.kind, source=i.source, started_ms=i.started_ms,
                                       ended_ms=i.ended_ms, duration_s=i.duration_s)
                       for i in spans],
        time_lost_s=time_covered_s(spans, s.started_ms, s.ended_ms),
        expected_s=s.planned_s, actual_s=s.actual_s,
        duration_delta_s=s.actual_s - s.planned_s)
    return FocusSessionDetailOut(**_session(s).model_dump(), insights=insights).model_dump(
        mode="json")


async def _profile(deps: Deps, user_id: uuid.UUID) -> Profile:
    profile = await deps.users.get_profile(user_id)
    if profile is None:
        raise HttpError(401, "unauthorized", "unknown user")
    return profile


# -- routes ---------------------------------------------------------------------------------

@router.route("GET", "/api/me", response=MeOut)
async def get_me(request: web.Request) -> web.Response:
    """The caller's account and settings."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    return json_response(_me(await _profile(deps, identity.user_id), _now_ms()))


@router.route("PATCH", "/api/me", body=PatchMeBody, response=MeOut)
async def patch_me(request: web.Request) -> web.Response:
    """Change the caller's display name, timezone, day start, daily goal or paper mode.

    A new daily goal applies from the caller's next local day (today keeps the goal in
    force); a timezone or day-start change never breaks a streak."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    body = await parse(request, PatchMeBody)
    now_ms = _now_ms()
    profile = await deps.users.update_settings(
        identity.user_id, now_ms, display_name=body.display_name, timezone=body.timezone,
        day_start_hour=body.day_start_hour, daily_goal_min=body.daily_goal_min,
        paper_mode=body.paper_mode)
    if profile is None:
        raise HttpError(401, "unauthorized", "unknown user")
    return json_response(_me(profile, now_ms))


@router.route("GET", "/api/me/progress", response=ProgressOut)
async def get_progress(request: web.Request) -> web.Response:
    """The caller's XP, level and streak as of now (missed days settled, not stored)."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    view = await deps.progress.progress(identity.user_id, _now_ms())
    if view is None:
        raise HttpError(401, "unauthorized", "unknown user")
    st = view.streak
    return json_response(ProgressOut(
        xp=view.xp, level=view.level, level_xp=view.level_xp, next_level_xp=view.next_level_xp,
        xp_to_next_level=view.next_level_xp - view.xp,
        level_progress=view.level_progress,
        streak=StreakOut(current=st.current, best=st.best, freezes=st.freezes,
                         last_day=st.last_day, today=st.today, today_counted=st.today_counted,
                         today_focused_s=st.today_focused_s, goal_s=st.goal_s),
    ).model_dump(mode="json"))


@router.route("GET", "/api/me/garden", query=GardenQuery, response=GardenOut)
async def get_garden(request: web.Request) -> web.Response:
    """The caller's plants, newest first, with counts per rarity."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    q = parse_query(request, GardenQuery)
    if q.before_id is not None and q.before is None:
        raise HttpError(400, "bad_request", "before_id needs before")
    await _profile(deps, identity.user_id)
    plants, counts = await deps.progress.garden(identity.user_id, limit=q.limit + 1,
                                                before_ms=q.before, before_id=q.before_id)
    more = len(plants) > q.limit
    plants = plants[:q.limit]
    return json_response(GardenOut(
        plants=[PlantOut(id=p.id, rarity=p.rarity, planted_ms=p.planted_ms,
                         session_id=p.session_id, room_id=p.room_id) for p in plants],
        counts=counts, total=sum(counts.values()),
        next_before=plants[-1].planted_ms if more else None,
        next_before_id=plants[-1].id if more else None).model_dump(mode="json"))


@router.route("GET", "/api/me/sessions", query=SessionsQuery, response=FocusSessionsOut)
async def list_sessions(request: web.Request) -> web.Response:
    """The caller's focus sessions started in a time range, newest first."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    q = parse_query(request, SessionsQuery)
    to_ms = _now_ms() if q.to is None else q.to
    from_ms = max(0, to_ms - DEFAULT_SESSIONS_WINDOW_MS) if q.from_ is None else q.from_
    if from_ms >= to_ms:
        raise HttpError(400, "bad_request", "from must be before to")
    await _profile(deps, identity.user_id)
    rows = await deps.progress.sessions(identity.user_id, from_ms=from_ms, to_ms=to_ms,
                                        limit=q.limit + 1, before_id=q.before_id)
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    return json_response(FocusSessionsOut(
        sessions=[_session(s) for s in rows], from_ms=from_ms, to_ms=to_ms,
        next_to=rows[-1].started_ms if more else None,
        next_before_id=rows[-1].id if more else None).model_dump(mode="json"))


@router.route("GET", "/api/me/sessions/{session_id}", response=FocusSessionDetailOut,
              errors=(404,))
async def get_session(request: web.Request) -> web.Response:
    """One of the caller's focus sessions with its insights and interruptions."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    session_id = path_uuid(request, "session_id", "session")
    found = await deps.progress.session(identity.user_id, session_id)
    if found is None:
        raise HttpError(404, "not_found", "no such session")
    return json_response(_detail(*found))


@router.route("PATCH", "/api/me/sessions/{session_id}", body=ContextBody,
              response=FocusSessionDetailOut, errors=(404,))
async def patch_session(request: web.Request) -> web.Response:
    """Set or clear the free-text context of one of the caller's focus sessions."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    session_id = path_uuid(request, "session_id", "session")
    body = await parse(request, ContextBody)
    if not await deps.progress.set_context(identity.user_id, session_id, body.context):
        raise HttpError(404, "not_found", "no such session")
    found = await deps.progress.session(identity.user_id, session_id)
    if found is None:
        raise HttpError(404, "not_found", "no such session")
    return json_response(_detail(*found))
