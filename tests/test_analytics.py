"""Session analytics through the real server and Postgres: each endpoint's figures on small
hand-computed data sets with fixed timestamps (sessions written by ProgressRepo.apply_phase,
interruptions by InterruptionRepo), local hours and weekdays in New York (across the
2026-03-08 spring-forward) and Kolkata (+05:30), overlapping interruptions counted once,
the 7d/30d/all windows (fixed ``now`` through the repo, and relative to the real clock
through HTTP), empty users and bad parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from game_server.analytics_repo import AnalyticsRepo
from game_server.deps import DEPS
from game_server.interruption_repo import InterruptionRepo, InterruptionRow
from game_server.progress_repo import PhaseAward, Reward
from tests.client import Api
from tests.conftest import RunningServer

pytestmark = pytest.mark.services

ENDPOINTS = ("summary", "interruption-types", "productive-hours", "peak-distraction-time",
             "weekly-pattern")


def at(text: str) -> datetime:
    """An ISO instant with its offset, e.g. ``2026-01-05T10:00:00+00:00``."""
    t = datetime.fromisoformat(text)
    assert t.tzinfo is not None
    return t


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


async def make_user(server: RunningServer, api: Api, name: str, tz: str = "UTC",
                    day_start_hour: int = 4) -> tuple[str, str]:
    """A guest in zone ``tz``: (access token, user id)."""
    token, user_id = await api.guest(name)
    await server.app[DEPS].pool.execute(
        "UPDATE users SET timezone = $2, day_start_hour = $3 WHERE id = $1",
        uuid.UUID(user_id), tz, day_start_hour)
    return token, user_id


async def add_session(server: RunningServer, user: str, room: str, start: datetime,
                      duration_s: float, focused_s: float, *, planned_s: float = 1500.0,
                      completed: bool = True, group: int = 1) -> Reward:
    """One awarded focus phase (its own set, so every call is a new session)."""
    t0 = ms(start)
    reward = await server.app[DEPS].progress.apply_phase(PhaseAward(
        user_id=user, room_id=room, set_t0_ms=t0, phase_index=0, cycles=4, started_ms=t0,
        ended_ms=t0 + round(duration_s * 1000), planned_s=planned_s, present_s=duration_s,
        focused_s=focused_s, group_size=group, completed=completed))
    assert reward is not None
    return reward


async def add_interruption(server: RunningServer, user: str, room: str | None, kind: str,
                           start: datetime, duration_s: float) -> None:
    source = "auto" if kind in ("looked_away", "eyes_closed", "no_face") else "self"
    await InterruptionRepo(server.app[DEPS].pool).insert(InterruptionRow(
        user, room, kind, source, ms(start), ms(start) + round(duration_s * 1000)))


async def get(api: Api, path: str, token: str) -> Any:
    status, body = await api.call("GET", path, token=token)
    assert status == 200, body
    return body


def hours_of(body: dict[str, Any]) -> dict[int, tuple[float, float]]:
    """The non-empty hours of a productive-hours answer: hour -> (focused_s, lost_s)."""
    assert [h["hour"] for h in body["hours"]] == list(range(24))
    return {h["hour"]: (h["focused_s"], h["lost_s"]) for h in body["hours"]
            if h["focused_s"] or h["lost_s"]}


async def test_every_figure_on_a_hand_computed_day(server: RunningServer, api: Api) -> None:
    token, user = await make_user(server, api, "Ana")
    room = await api.room(token)
    # Monday 2026-01-05, UTC. A: 10:00-10:25, 1200 s focused. B: 14:00-14:15 of a planned
    # 25 min, stopped (not completed), 600 s focused.
    a = await add_session(server, user, room, at("2026-01-05T10:00:00+00:00"), 1500, 1200)
    b = await add_session(server, user, room, at("2026-01-05T14:00:00+00:00"), 900, 600,
                          completed=False)
    # looked_away 10:05:00-10:06:00 and phone 10:05:30-10:07:30 overlap by 30 s: their union
    # is 10:05:00-10:07:30 = 150 s; no_face 14:05:00-14:06:40 = 100 s; eyes_closed
    # 10:06:10-10:06:20 lies inside the phone call (10 s of its own, 0 s of new lost time).
    await add_interruption(server, user, room, "looked_away", at("2026-01-05T10:05:00+00:00"), 60)
    await add_interruption(server, user, None, "phone", at("2026-01-05T10:05:30+00:00"), 120)
    await add_interruption(server, user, room, "no_face", at("2026-01-05T14:05:00+00:00"), 100)
    await add_interruption(server, user, room, "eyes_closed", at("2026-01-05T10:06:10+00:00"), 10)

    s = await get(api, "/api/me/stats/summary?range=all", token)
    assert s["window"] == {"range": "all", "timezone": "UTC", "day_start_hour": 4,
                           "from_ms": None, "to_ms": s["window"]["to_ms"]}
    assert s["sessions"] == 2 and s["interruptions"] == 4
    assert s["time_worked_s"] == 2400 and s["time_lost_s"] == 250
    assert s["effective_s"] == 2150 and s["focused_s"] == 1800
    assert s["avg_interruption_s"] == pytest.approx((60 + 120 + 100 + 10) / 4)
    assert s["interruptions_per_hour"] == pytest.approx(4 / (2400 / 3600))
    assert s["avg_focus_score"] == pytest.approx((a.focus_score + b.focus_score) / 2)
    assert (a.focus_score, b.focus_score) == (80, 40)  # floor(100 x focused / planned)

    t = await get(api, "/api/me/stats/interruption-types?range=all", token)
    total = 120 + 100 + 60 + 10
    assert t["types"] == [
        {"kind": "phone", "source": "self", "count": 1, "seconds": 120,
         "share": round(120 / total, 3)},
        {"kind": "no_face", "source": "auto", "count": 1, "seconds": 100,
         "share": round(100 / total, 3)},
        {"kind": "looked_away", "source": "auto", "count": 1, "seconds": 60,
         "share": round(60 / total, 3)},
        {"kind": "eyes_closed", "source": "auto", "count": 1, "seconds": 10,
         "share": round(10 / total, 3)}]

    h = await get(api, "/api/me/stats/productive-hours?range=all", token)
    assert hours_of(h) == {10: (1200, 150), 14: (600, 100)}

    p = await get(api, "/api/me/stats/peak-distraction-time?range=all", token)
    assert p["peak"] == {"weekday": 1, "weekday_name": "Monday", "hour": 10, "lost_s": 150}
    assert p["peak_hour"] == {"hour": 10, "lost_s": 150}
    assert p["peak_weekday"] == {"weekday": 1, "weekday_name": "Monday", "lost_s": 250}

    w = await get(api, "/api/me/stats/weekly-pattern?range=all", token)
    assert [d["weekday_name"] for d in w["days"]][:2] == ["Monday", "Tuesday"]
    assert w["days"][0] == {"weekday": 1, "weekday_name": "Monday", "sessions": 2,
                            "focused_s": 1800, "lost_s": 250, "avg_focus_score": 60}
    assert all(d["sessions"] == 0 and d["focused_s"] == 0 and d["avg_focus_score"] is None
               for d in w["days"][1:])

    prof = await get(api, "/api/me/profile?range=all", token)
    assert prof["sessions"] == 2 and prof["avg_session_s"] == 1200
    assert prof["completion_ratio"] == 0.5
    assert prof["peak_hours"] == [{"hour": 10, "focused_s": 1200},
                                  {"hour": 14, "focused_s": 600}]
    assert prof["peak_days"] == [{"weekday": 1, "weekday_name": "Monday", "focused_s": 1800}]
    assert prof["expected_s"] == 3000 and prof["actual_s"] == 2400
    assert prof["actual_vs_expected"] == 0.8


async def test_a_session_across_hours_is_split_in_proportion(server: RunningServer,
                                                             api: Api) -> None:
    token, user = await make_user(server, api, "Split")
    room = await api.room(token)
    # 10:45-11:15 with 900 s focused: 450 s credited to hour 10 and 450 s to hour 11. The
    # interruption 10:50-11:10 puts 600 s of lost time in each.
    await add_session(server, user, room, at("2026-01-06T10:45:00+00:00"), 1800, 900,
                      planned_s=1800)
    await add_interruption(server, user, room, "noise", at("2026-01-06T10:50:00+00:00"), 1200)
    # Three peak hours of focus: 08 (1500 s), then 10 and 11 tie at 450 s (earlier first).
    await add_session(server, user, room, at("2026-01-07T08:00:00+00:00"), 1500, 1500)
    hours = hours_of(await get(api, "/api/me/stats/productive-hours?range=all", token))
    assert hours == {8: (1500, 0), 10: (450, 600), 11: (450, 600)}
    prof = await get(api, "/api/me/profile?range=all", token)
    assert [p["hour"] for p in prof["peak_hours"]] == [8, 10, 11]
    assert [p["weekday_name"] for p in prof["peak_days"]] == ["Wednesday", "Tuesday"]
    peak = await get(api, "/api/me/stats/peak-distraction-time?range=all", token)
    assert peak["peak"] == {"weekday": 2, "weekday_name": "Tuesday", "hour": 10,
                            "lost_s": 600}  # tie with 11: the earlier hour


async def test_new_york_hours_and_days_across_the_spring_forward(server: RunningServer,
                                                                 api: Api) -> None:
    token, user = await make_user(server, api, "Nyc", tz="America/New_York")
    room = await api.room(token)
    # Sat 2026-03-07 09:00 EST = 14:00 UTC; Mon 2026-03-09 09:00 EDT = 13:00 UTC (a fixed
    # -05:00 would say 08:00). Sun 2026-03-08 01:30 EST (06:30 UTC) to 03:30 EDT (07:30 UTC)
    # is 60 real minutes: 30 in local hour 1, none in the skipped hour 2, 30 in hour 3; with
    # the day starting at 04:00 it belongs to Saturday.
    await add_session(server, user, room, at("2026-03-07T09:00:00-05:00"), 1500, 1500)
    await add_session(server, user, room, at("2026-03-09T09:00:00-04:00"), 1500, 1200)
    await add_session(server, user, room, at("2026-03-08T06:30:00+00:00"), 3600, 3600,
                      planned_s=3600)
    await add_interruption(server, user, room, "family", at("2026-03-08T06:50:00+00:00"), 1200)
    hours = hours_of(await get(api, "/api/me/stats/productive-hours?range=all", token))
    assert hours == {1: (1800, 600), 3: (1800, 600), 9: (2700, 0)}
    days = (await get(api, "/api/me/stats/weekly-pattern?range=all", token))["days"]
    assert (days[0]["sessions"], days[0]["focused_s"]) == (1, 1200)  # Monday
    assert (days[5]["sessions"], days[5]["focused_s"], days[5]["lost_s"]) == (2, 5100, 1200)
    assert days[6]["sessions"] == 0 and days[6]["focused_s"] == 0  # Sunday: before 04:00
    peak = await get(api, "/api/me/stats/peak-distraction-time?range=all", token)
    assert peak["peak"] == {"weekday": 6, "weekday_name": "Saturday", "hour": 1,
                            "lost_s": 600}
    assert peak["peak_weekday"]["weekday_name"] == "Saturday"

    # The same data with the day starting at midnight: the night session is Sunday's.
    await server.app[DEPS].pool.execute("UPDATE users SET day_start_hour = 0 WHERE id = $1",
                                        uuid.UUID(user))
    days = (await get(api, "/api/me/stats/weekly-pattern?range=all", token))["days"]
    assert [d["sessions"] for d in days] == [1, 0, 0, 0, 0, 1, 1]
    assert days[6]["focused_s"] == 3600 and days[6]["lost_s"] == 1200


async def test_kolkata_half_hour_offset(server: RunningServer, api: Api) -> None:
    token, user = await make_user(server, api, "Kol", tz="Asia/Kolkata")
    room = await api.room(token)
    # 04:00-05:00 UTC = 09:30-10:30 IST (Monday 2026-01-05): 1800 s in hour 9, 1800 in 10.
    # 19:00 UTC Sunday = 00:30 IST Monday, but before the 04:00 day start: Sunday.
    await add_session(server, user, room, at("2026-01-05T04:00:00+00:00"), 3600, 3600,
                      planned_s=3600)
    await add_session(server, user, room, at("2026-01-04T19:00:00+00:00"), 1500, 1500)
    await add_interruption(server, user, room, "urgent_task",
                           at("2026-01-05T04:10:00+00:00"), 600)
    hours = hours_of(await get(api, "/api/me/stats/productive-hours?range=all", token))
    assert hours == {0: (1500, 0), 9: (1800, 600), 10: (1800, 0)}
    days = (await get(api, "/api/me/stats/weekly-pattern?range=all", token))["days"]
    assert [d["sessions"] for d in days] == [1, 0, 0, 0, 0, 0, 1]
    peak = await get(api, "/api/me/stats/peak-distraction-time?range=all", token)
    assert peak["peak"] == {"weekday": 1, "weekday_name": "Monday", "hour": 9, "lost_s": 600}
    prof = await get(api, "/api/me/profile?range=all", token)
    assert prof["peak_hours"] == [{"hour": 9, "focused_s": 1800},
                                  {"hour": 10, "focused_s": 1800},
                                  {"hour": 0, "focused_s": 1500}]
    assert prof["window"]["timezone"] == "Asia/Kolkata"


async def test_windows_with_a_fixed_now(server: RunningServer, api: Api) -> None:
    """7d/30d: local days with the day start, today included; through the repo with a fixed
    clock (the handler passes the real one)."""
    _, user = await make_user(server, api, "Win")
    token, _ = await api.guest("Owner")
    room = await api.room(token)
    repo = AnalyticsRepo(server.app[DEPS].pool)
    uid = uuid.UUID(user)
    now = at("2026-02-10T12:00:00+00:00")  # Tuesday; day start 04:00 UTC
    for start in ("2026-02-10T10:00:00+00:00",  # today
                  "2026-02-04T05:00:00+00:00",  # first local day of 7d (from 04:00)
                  "2026-02-04T03:00:00+00:00",  # local day 2026-02-03: 30d only
                  "2026-01-12T04:00:00+00:00",  # first instant of 30d
                  "2026-01-12T03:59:00+00:00",  # all only
                  "2026-02-10T12:00:00+00:00"):  # at now: not yet in any window
        await add_session(server, user, room, at(start), 600, 600)
    await add_interruption(server, user, room, "phone", at("2026-02-04T03:00:00+00:00"), 60)
    expected = {"7d": (at("2026-02-04T04:00:00+00:00"), 2, 0),
                "30d": (at("2026-01-12T04:00:00+00:00"), 4, 1),
                "all": (None, 5, 1)}
    for range_, (lo, sessions, interruptions) in expected.items():
        w = await repo.window(uid, range_, now)
        assert (w.lo, w.hi) == (lo, now)
        s = await repo.summary(uid, w)
        assert (s["sessions"], s["interruptions"]) == (sessions, interruptions), range_
        assert s["worked_s"] == 600 * sessions

    # New York after the spring forward: 7d from Tuesday 2026-03-10 04:00 EDT = 08:00 UTC;
    # 30d from 2026-02-15 04:00 EST = 09:00 UTC.
    await server.app[DEPS].pool.execute(
        "UPDATE users SET timezone = 'America/New_York' WHERE id = $1", uid)
    now = at("2026-03-16T12:00:00+00:00")
    assert (await repo.window(uid, "7d", now)).lo == at("2026-03-10T08:00:00+00:00")
    assert (await repo.window(uid, "30d", now)).lo == at("2026-02-15T09:00:00+00:00")
    # 03:00 UTC on the 16th is 23:00 EDT on the 15th: local day 15, so 7d starts on the 9th.
    assert ((await repo.window(uid, "7d", at("2026-03-16T03:00:00+00:00"))).lo
            == at("2026-03-09T08:00:00+00:00"))


async def test_ranges_over_http_follow_the_clock(server: RunningServer, api: Api) -> None:
    token, user = await make_user(server, api, "Now", tz="Asia/Kolkata", day_start_hour=0)
    room = await api.room(token)
    now = datetime.now(UTC)
    for days_ago in (0, 10, 60):
        await add_session(server, user, room, now - timedelta(days=days_ago, hours=1), 600, 300)
    await add_interruption(server, user, room, "self", now - timedelta(days=10), 30)
    counts = {}
    for range_ in ("7d", "30d", "all"):
        s = await get(api, f"/api/me/stats/summary?range={range_}", token)
        counts[range_] = (s["sessions"], s["interruptions"], s["focused_s"])
        assert s["window"]["range"] == range_
        assert s["window"]["to_ms"] >= ms(now)
    assert counts == {"7d": (1, 0, 300), "30d": (2, 1, 600), "all": (3, 1, 900)}
    default = await get(api, "/api/me/stats/summary", token)
    assert default["window"]["range"] == "7d" and default["sessions"] == 1
    local_midnight = datetime.fromtimestamp(
        (await get(api, "/api/me/profile", token))["window"]["from_ms"] / 1000, UTC)
    assert (local_midnight + timedelta(hours=5, minutes=30)).time().isoformat() == "00:00:00"


async def test_an_empty_user_gets_zeros_and_nulls(server: RunningServer, api: Api) -> None:
    token, _ = await make_user(server, api, "Empty", tz="America/New_York")
    for range_ in ("7d", "30d", "all"):
        s = await get(api, f"/api/me/stats/summary?range={range_}", token)
        assert {k: v for k, v in s.items() if k != "window"} == {
            "sessions": 0, "interruptions": 0, "time_worked_s": 0, "time_lost_s": 0,
            "effective_s": 0, "avg_interruption_s": None, "interruptions_per_hour": None,
            "focused_s": 0, "avg_focus_score": None}
    assert (await get(api, "/api/me/stats/interruption-types", token))["types"] == []
    assert hours_of(await get(api, "/api/me/stats/productive-hours", token)) == {}
    peak = await get(api, "/api/me/stats/peak-distraction-time?range=all", token)
    assert (peak["peak"], peak["peak_hour"], peak["peak_weekday"]) == (None, None, None)
    days = (await get(api, "/api/me/stats/weekly-pattern", token))["days"]
    assert [d["weekday"] for d in days] == [1, 2, 3, 4, 5, 6, 7]
    assert all(d["sessions"] == 0 and d["avg_focus_score"] is None for d in days)
    prof = await get(api, "/api/me/profile?range=all", token)
    assert {k: v for k, v in prof.items() if k != "window"} == {
        "sessions": 0, "avg_session_s": None, "completion_ratio": None, "peak_hours": [],
        "peak_days": [], "expected_s": 0, "actual_s": 0, "actual_vs_expected": None}


async def test_interruptions_alone_lose_time_but_effective_stays_non_negative(
        server: RunningServer, api: Api) -> None:
    token, user = await make_user(server, api, "Brk")
    await add_interruption(server, user, None, "unknown", at("2026-01-05T10:00:00+00:00"), 90)
    s = await get(api, "/api/me/stats/summary?range=all", token)
    assert (s["time_worked_s"], s["time_lost_s"], s["effective_s"]) == (0, 90, 0)
    assert s["interruptions_per_hour"] is None and s["avg_interruption_s"] == 90


async def test_bad_parameters_and_missing_token(server: RunningServer, api: Api) -> None:
    token, _ = await api.guest("Bad")
    for path in [f"/api/me/stats/{e}" for e in ENDPOINTS] + ["/api/me/profile"]:
        for query in ("?range=1y", "?range=", "?range=7D", "?since=0"):
            status, body = await api.call("GET", path + query, token=token)
            assert status == 400 and body["error"]["code"] == "bad_request", (path, query)
        status, body = await api.call("GET", path)
        assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_openapi_declares_the_models(server: RunningServer, api: Api) -> None:
    _, spec = await api.call("GET", "/api/openapi.json")
    # our model names are unique (a clash would rename them to game_server__api_stats__X)
    assert not [n for n in spec["components"]["schemas"] if "api_stats" in n]
    op = spec["paths"]["/api/me/stats/summary"]["get"]
    (param,) = op["parameters"]
    assert param["name"] == "range" and param["schema"]["enum"] == ["7d", "30d", "all"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SummaryOut")
    assert "time_lost_s" in spec["components"]["schemas"]["SummaryOut"]["properties"]
    board = spec["paths"]["/api/leaderboards"]["get"]
    assert {p["name"] for p in board["parameters"]} == {"scope", "metric", "period", "limit"}
    assert "404" in board["responses"]


async def test_a_zone_postgres_does_not_know_is_read_as_utc(server: RunningServer,
                                                            api: Api) -> None:
    """E.g. a zone newer than Postgres's tz database (the API checks names against Python's)."""
    token, user = await make_user(server, api, "Mars")
    room = await api.room(token)
    await add_session(server, user, room, at("2026-01-05T10:00:00+00:00"), 600, 600)
    await server.app[DEPS].pool.execute(
        "UPDATE users SET timezone = 'Mars/Olympus_Mons' WHERE id = $1", uuid.UUID(user))
    for range_ in ("7d", "all"):
        body = await get(api, f"/api/me/stats/productive-hours?range={range_}", token)
        assert body["window"]["timezone"] == "UTC"
    assert hours_of(body) == {10: (600, 0)}
