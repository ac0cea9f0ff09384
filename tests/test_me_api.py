"""The caller's API (``/api/me...``) against a real server, Postgres and Redis: profile and
settings (validation, goal changes pending until the next local day), progress with the
streak settled on read (and nothing written), the garden and focus sessions with paging,
session insights with their interruptions, session context, and the 400/401/404 answers.
Sessions are created through ``ProgressRepo.apply_phase`` on the server's own database."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from game_server.progress_repo import PhaseAward, ProgressRepo
from rooms.rules.progress import ProgressRules
from rooms.rules.streaks import StreakRules, local_day
from tests.client import Api
from tests.conftest import RunningServer

pytestmark = pytest.mark.services

T0 = 1_780_000_000_000  # 2026-05-28 20:26:40 UTC
MIN = 60_000
DAY = 86_400_000
REG = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}


@pytest.fixture(autouse=True)
def cheap_passwords(server_settings: dict[str, Any]) -> None:
    server_settings.update(REG)


@pytest.fixture
async def pool(database_url: str) -> Any:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    try:
        yield p
    finally:
        await p.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def err(answer: tuple[int, Any]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"]


class Awards:
    """Focus phases written straight through the award transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.repo = ProgressRepo(pool, rules=ProgressRules(), streaks=StreakRules())

    async def phase(self, user: str, room: str, ended_ms: int, *, planned_min: float = 25,
                    focused_min: float | None = None, present_min: float | None = None,
                    completed: bool = True, blinks: int = 0, load_s: float = 0.0,
                    interruptions: int = 0, distracted_s: float | None = None,
                    set_t0_ms: int | None = None) -> str:
        planned = planned_min * 60
        focused = planned if focused_min is None else focused_min * 60
        present = planned if present_min is None else present_min * 60
        started = ended_ms - int(planned * 1000)
        reward = await self.repo.apply_phase(PhaseAward(
            user_id=user, room_id=room, set_t0_ms=started if set_t0_ms is None else set_t0_ms,
            phase_index=0, cycles=1, started_ms=started, ended_ms=ended_ms, planned_s=planned,
            present_s=present, focused_s=focused, group_size=1, completed=completed,
            distracted_s=distracted_s, load_s=load_s, blinks=blinks,
            interruptions=interruptions))
        assert reward is not None
        return reward.session_id


# -- profile and settings ---------------------------------------------------------------------

ME_KEYS = {"id", "username", "display_name", "is_guest", "timezone", "day_start_hour",
           "daily_goal_min", "pending_daily_goal_min", "pending_daily_goal_from",
           "paper_mode", "created_ms"}


async def test_me_answers_the_profile_of_a_guest_and_of_an_account(
        server: RunningServer, api: Api) -> None:
    before = now_ms()
    token, user = await api.guest("Gus")
    status, me = await api.call("GET", "/api/me", token=token)
    assert status == 200, me
    assert set(me) == ME_KEYS
    assert {k: v for k, v in me.items() if k != "created_ms"} == {
        "id": user, "username": None, "display_name": "Gus", "is_guest": True,
        "timezone": "UTC", "day_start_hour": 4, "daily_goal_min": 60,
        "pending_daily_goal_min": None, "pending_daily_goal_from": None, "paper_mode": False}
    assert before - 1000 <= me["created_ms"] <= now_ms() + 1000

    status, body = await api.call("POST", "/api/auth/register", {
        "username": "Ada", "password": "correct horse battery", "timezone": "Europe/Berlin"})
    assert status == 201, body
    status, me = await api.call("GET", "/api/me", token=body["access_token"])
    assert status == 200 and me["username"] == "ada" and me["is_guest"] is False
    assert me["timezone"] == "Europe/Berlin" and me["display_name"] == "ada"


async def test_patch_me_changes_settings_and_a_goal_waits_for_the_next_day(
        server: RunningServer, api: Api, pool: asyncpg.Pool) -> None:
    token, user = await api.guest("Gus")
    status, me = await api.call("PATCH", "/api/me", {
        "display_name": "  Gustav  ", "timezone": "Asia/Tokyo", "day_start_hour": 5,
        "paper_mode": True}, token)
    assert status == 200, me
    assert (me["display_name"], me["timezone"], me["day_start_hour"], me["paper_mode"]) == (
        "Gustav", "Asia/Tokyo", 5, True)
    assert me["daily_goal_min"] == 60 and me["pending_daily_goal_min"] is None

    before = now_ms()
    status, me = await api.call("PATCH", "/api/me", {"daily_goal_min": 30}, token)
    after = now_ms()
    assert status == 200, me
    tomorrow = {(local_day(t, "Asia/Tokyo", 5) + timedelta(days=1)).isoformat()
                for t in (before, after)}
    assert me["daily_goal_min"] == 60  # today keeps the goal in force
    assert me["pending_daily_goal_min"] == 30 and me["pending_daily_goal_from"] in tomorrow
    status, again = await api.call("GET", "/api/me", token=token)
    assert status == 200 and again == me
    row = await pool.fetchrow("SELECT * FROM users WHERE id = $1", uuid.UUID(user))
    assert (row["display_name"], row["timezone"], row["day_start_hour"], row["paper_mode"],
            row["daily_goal_min"], row["daily_goal_prev_min"]) == (
        "Gustav", "Asia/Tokyo", 5, True, 30, 60)
    # setting it back the same day cancels the pending change
    status, me = await api.call("PATCH", "/api/me", {"daily_goal_min": 60}, token)
    assert status == 200 and me["pending_daily_goal_min"] is None
    assert me["pending_daily_goal_from"] is None and me["daily_goal_min"] == 60
    # a change made yesterday is in force today
    await pool.execute("UPDATE users SET daily_goal_min = 45, daily_goal_prev_min = 60, "
                       "daily_goal_changed_at = now() - interval '2 days' WHERE id = $1",
                       uuid.UUID(user))
    status, me = await api.call("GET", "/api/me", token=token)
    assert status == 200 and (me["daily_goal_min"], me["pending_daily_goal_min"]) == (45, None)


async def test_patch_me_validation(server: RunningServer, api: Api,
                                   pool: asyncpg.Pool) -> None:
    token, user = await api.guest("Gus")
    bad: list[Any] = [
        {}, {"nickname": "x"}, {"display_name": "ok", "extra": 1}, {"timezone": None},
        {"display_name": None}, {"timezone": "Mars/Olympus"}, {"timezone": "../etc/passwd"},
        {"timezone": ""}, {"day_start_hour": 24}, {"day_start_hour": -1},
        {"day_start_hour": "4"}, {"day_start_hour": 4.5}, {"day_start_hour": True},
        {"daily_goal_min": 0}, {"daily_goal_min": 1441}, {"daily_goal_min": "30"},
        {"display_name": ""}, {"display_name": "   "}, {"display_name": "x" * 41},
        {"display_name": "a\nb"}, {"display_name": "a\x7fb"}, {"display_name": "a\u0085b"},
        {"paper_mode": "yes"}, {"paper_mode": 1}, [], "x",
    ]
    for body in bad:
        assert err(await api.call("PATCH", "/api/me", body, token)) == (400, "bad_request"), body
    async with api.session.patch(api.base_url + "/api/me", data=b"{not json",
                                 headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 400
    row = await pool.fetchrow("SELECT display_name, timezone, day_start_hour, daily_goal_min, "
                              "paper_mode FROM users WHERE id = $1", uuid.UUID(user))
    assert tuple(row) == ("Gus", "UTC", 4, 60, False)
    ok = [({"day_start_hour": 0}, "day_start_hour", 0), ({"day_start_hour": 23}, None, None),
          ({"daily_goal_min": 1}, None, None), ({"daily_goal_min": 1440}, None, None),
          ({"display_name": "x" * 40}, "display_name", "x" * 40),
          ({"timezone": "America/Argentina/Buenos_Aires"}, "timezone",
           "America/Argentina/Buenos_Aires"), ({"paper_mode": False}, "paper_mode", False)]
    for body, key, value in ok:
        status, me = await api.call("PATCH", "/api/me", body, token)
        assert status == 200, (body, me)
        if key is not None:
            assert me[key] == value


async def test_me_endpoints_need_a_valid_token(server: RunningServer, api: Api,
                                               pool: asyncpg.Pool) -> None:
    sid = str(uuid.uuid4())
    calls = [("GET", "/api/me", None), ("PATCH", "/api/me", {"paper_mode": True}),
             ("GET", "/api/me/progress", None), ("GET", "/api/me/garden", None),
             ("GET", "/api/me/sessions", None), ("GET", f"/api/me/sessions/{sid}", None),
             ("PATCH", f"/api/me/sessions/{sid}", {"context": "x"})]
    token, user = await api.guest("Gone")
    await pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(user))
    for method, path, body in calls:
        assert err(await api.call(method, path, body)) == (401, "unauthorized"), path
        assert err(await api.call(method, path, body, "not-a-jwt")) == (401, "unauthorized")
        status, answer = await api.call(method, path, body, token)  # a deleted user's token
        assert status in (401, 404) and answer["error"]["code"] in ("unauthorized",
                                                                    "not_found"), path
    for method, path, body in calls[:5]:
        assert err(await api.call(method, path, body, token)) == (401, "unauthorized"), path


# -- progress ---------------------------------------------------------------------------------

async def test_progress_shows_xp_level_and_the_streak_settled_without_writing(
        server: RunningServer, api: Api, pool: asyncpg.Pool) -> None:
    token, user = await api.guest("P")
    status, body = await api.call("GET", "/api/me/progress", token=token)
    assert status == 200, body
    today = local_day(now_ms(), "UTC", 4)
    assert body == {"xp": 0, "level": 0, "level_xp": 0, "next_level_xp": 100,
                    "xp_to_next_level": 100, "level_progress": 0.0, "streak": {
                        "current": 0, "best": 0, "freezes": 0, "last_day": None,
                        "today": today.isoformat(), "today_counted": False,
                        "today_focused_s": 0, "goal_s": 3600}}

    room = await api.room(token)
    ended = now_ms() - MIN
    await Awards(pool).phase(user, room, ended)  # 25 min: 10 XP, under the 60-min goal
    await pool.execute("UPDATE progress SET xp = 450 WHERE user_id = $1", uuid.UUID(user))
    status, body = await api.call("GET", "/api/me/progress", token=token)
    assert status == 200, body
    assert (body["xp"], body["level"], body["level_xp"], body["next_level_xp"],
            body["xp_to_next_level"]) == (450, 2, 400, 900, 450)
    assert body["level_progress"] == pytest.approx(50 / 500)
    today = local_day(now_ms(), "UTC", 4)
    same_day = local_day(ended, "UTC", 4) == today
    assert body["streak"]["today_focused_s"] == (1500 if same_day else 0)
    assert body["streak"]["today_counted"] is False

    # a 5-day streak with one freeze, last counted three days ago: one missed day is
    # frozen, the second breaks it; the read shows that and stores nothing
    await pool.execute(
        "UPDATE progress SET streak_current = 5, streak_best = 5, streak_freezes = 1, "
        "streak_last_day = $2, streak_run = 5, streak_timezone = 'UTC', "
        "streak_day_start_hour = 4 WHERE user_id = $1", uuid.UUID(user),
        today - timedelta(days=3))
    stored = dict(await pool.fetchrow("SELECT * FROM progress WHERE user_id = $1",
                                      uuid.UUID(user)))
    status, body = await api.call("GET", "/api/me/progress", token=token)
    assert status == 200
    assert {k: body["streak"][k] for k in ("current", "best", "freezes", "last_day")} == {
        "current": 0, "best": 5, "freezes": 0,
        "last_day": (today - timedelta(days=2)).isoformat()}
    await pool.execute("UPDATE progress SET streak_last_day = $2 WHERE user_id = $1",
                       uuid.UUID(user), today - timedelta(days=2))
    status, body = await api.call("GET", "/api/me/progress", token=token)
    assert {k: body["streak"][k] for k in ("current", "freezes", "last_day")} == {
        "current": 5, "freezes": 0, "last_day": (today - timedelta(days=1)).isoformat()}
    stored["streak_last_day"] = today - timedelta(days=2)
    assert dict(await pool.fetchrow("SELECT * FROM progress WHERE user_id = $1",
                                    uuid.UUID(user))) == stored


# -- garden -----------------------------------------------------------------------------------

async def test_garden_pages_newest_first_with_counts_per_rarity(
        server: RunningServer, api: Api, pool: asyncpg.Pool) -> None:
    token, user = await api.guest("G")
    rooms = [await api.room(token, name=f"R{i}") for i in range(2)]
    other_token, other = await api.guest("O")
    awards = Awards(pool)
    # focused minutes of 25 -> rarity: 25 epic, 22 rare, 18 uncommon, 13 common, 5 withered
    made = []
    for i, focused in enumerate((25, 22, 18, 13, 5)):
        ended = T0 + i * DAY
        sid = await awards.phase(user, rooms[0], ended, focused_min=focused)
        made.append((ended, sid))
    # two plants planted in the same millisecond (two rooms), and a phase with no plant
    tie = T0 + 10 * DAY
    made += [(tie, await awards.phase(user, r, tie, focused_min=25)) for r in rooms]
    await awards.phase(user, rooms[0], T0 + 11 * DAY, completed=False)
    await awards.phase(other, await api.room(other_token), T0, focused_min=25)

    seen: list[dict[str, Any]] = []
    query = "limit=1"  # one per page: the two plants of one millisecond split pages
    while True:
        status, page = await api.call("GET", f"/api/me/garden?{query}", token=token)
        assert status == 200, page
        assert page["counts"] == {"withered": 1, "common": 1, "uncommon": 1, "rare": 1,
                                  "epic": 3, "legendary": 0} and page["total"] == 7
        seen += page["plants"]
        if page["next_before"] is None:
            assert page["next_before_id"] is None and len(page["plants"]) <= 1
            break
        assert len(page["plants"]) == 1
        query = f"limit=1&before={page['next_before']}&before_id={page['next_before_id']}"
    assert len(seen) == 7 and len({p["id"] for p in seen}) == 7
    assert [p["planted_ms"] for p in seen] == sorted((p["planted_ms"] for p in seen),
                                                     reverse=True)
    assert {p["session_id"] for p in seen} == {sid for _, sid in made}
    assert [p["rarity"] for p in seen[2:]] == ["withered", "common", "uncommon", "rare", "epic"]
    first = seen[-1]
    assert set(first) == {"id", "rarity", "planted_ms", "session_id", "room_id"}
    assert (first["planted_ms"], first["room_id"]) == (T0, rooms[0])
    assert {p["room_id"] for p in seen[:2]} == set(rooms)

    status, page = await api.call("GET", f"/api/me/garden?before={T0 + DAY}", token=token)
    assert status == 200 and [p["planted_ms"] for p in page["plants"]] == [T0]
    status, page = await api.call("GET", "/api/me/garden", token=other_token)
    assert status == 200 and page["total"] == 1 and len(page["plants"]) == 1
    for q in ("limit=0", "limit=201", "limit=x", "before=-1", "before_id=nope",
              f"before_id={uuid.uuid4()}", "colour=green"):
        assert err(await api.call("GET", f"/api/me/garden?{q}", token=token)) == (
            400, "bad_request"), q


# -- sessions ---------------------------------------------------------------------------------

SESSION_KEYS = {"id", "room_id", "started_ms", "ended_ms", "planned_s", "actual_s",
                "present_s", "focused_s", "distracted_s", "load_s", "blinks",
                "blink_rate_per_min", "interruptions", "completed", "focus_score", "xp",
                "context", "plant"}


async def test_sessions_list_by_time_range_with_paging(
        server: RunningServer, api: Api, pool: asyncpg.Pool) -> None:
    token, user = await api.guest("S")
    rooms = [await api.room(token, name=f"R{i}") for i in range(2)]
    awards = Awards(pool)
    now = now_ms()
    recent = await awards.phase(user, rooms[0], now - DAY, focused_min=20, present_min=24,
                                blinks=360, load_s=120, interruptions=2, distracted_s=200)
    await awards.phase(user, rooms[0], now - 40 * DAY)  # outside the default 30 days
    status, body = await api.call("GET", "/api/me/sessions", token=token)
    assert status == 200, body
    assert body["to_ms"] - 30 * DAY == body["from_ms"] and abs(body["to_ms"] - now) < 60_000
    assert [s["id"] for s in body["sessions"]] == [recent]
    (s,) = body["sessions"]
    assert set(s) == SESSION_KEYS
    assert {k: s[k] for k in SESSION_KEYS - {"id"}} == {
        "room_id": rooms[0], "started_ms": now - DAY - 25 * MIN, "ended_ms": now - DAY,
        "planned_s": 1500, "actual_s": 1500.0, "present_s": 1440, "focused_s": 1200,
        "distracted_s": 200, "load_s": 120, "blinks": 360, "blink_rate_per_min": 15.0,
        "interruptions": 2, "completed": True, "focus_score": 70, "xp": 8, "context": None,
        "plant": "uncommon"}  # 80 % focused, 96 % present; score 80 - 2 x 5

    # six sessions in a fixed range, two of them starting in the same millisecond
    ids = [await awards.phase(user, rooms[0], T0 + i * MIN * 30) for i in range(3)]
    tie_end = T0 + 4 * MIN * 30
    ids += [await awards.phase(user, r, tie_end) for r in rooms]
    newest = await awards.phase(user, rooms[0], T0 + 5 * MIN * 30)
    status, body = await api.call(
        "GET", f"/api/me/sessions?from={T0 - 25 * MIN}&to={T0 + 3 * MIN * 30}", token=token)
    assert status == 200 and [s["id"] for s in body["sessions"]] == ids[2::-1]
    got: list[str] = []
    query = f"from={T0 - DAY}&to={T0 + DAY}&limit=2"  # the tie splits pages 1 and 2
    pages = 0
    while True:
        status, body = await api.call("GET", f"/api/me/sessions?{query}", token=token)
        assert status == 200, body
        pages += 1
        got += [s["id"] for s in body["sessions"]]
        if body["next_to"] is None:
            break
        query = (f"from={T0 - DAY}&to={body['next_to']}&limit=2"
                 f"&before_id={body['next_before_id']}")
    assert pages == 3 and len(got) == 6
    assert got[0] == newest and set(got[1:3]) == set(ids[3:]) and got[3:] == ids[2::-1]

    other_token, _ = await api.guest("O")
    status, body = await api.call("GET", f"/api/me/sessions?from={T0 - DAY}",
                                  token=other_token)
    assert status == 200 and body["sessions"] == []
    for q in (f"from={T0}&to={T0}", f"from={T0 + 1}&to={T0}", "limit=0", "limit=201",
              "from=-5", "to=abc", "before_id=x", "page=2", f"from={2**53 + 1}"):
        assert err(await api.call("GET", f"/api/me/sessions?{q}", token=token)) == (
            400, "bad_request"), q


async def test_session_detail_with_insights_and_interruptions(
        server: RunningServer, api: Api, pool: asyncpg.Pool) -> None:
    token, user = await api.guest("D")
    room = await api.room(token)
    other_token, other = await api.guest("O")
    awards = Awards(pool)
    start, end = T0, T0 + 25 * MIN
    sid = await awards.phase(user, room, end, focused_min=20, present_min=24, blinks=360,
                             load_s=288, interruptions=1, completed=False)

    async def interruption(who: str, kind: str, source: str, a: int, b: int,
                           session: str | None = None) -> None:
        await pool.execute(
            "INSERT INTO interruptions (id, user_id, room_id, kind, source, started_at, "
            "ended_at, idempotency_key, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
            "$9)", uuid.uuid4(), uuid.UUID(who), uuid.UUID(room), kind, source,
            datetime.fromtimestamp(a / 1000, UTC), datetime.fromtimestamp(b / 1000, UTC),
            uuid.uuid4().hex, None if session is None else uuid.UUID(session))

    await interruption(user, "eyes_closed", "auto", start + 2 * MIN, start + 3 * MIN)
    await interruption(user, "phone", "self", start + 150_000, start + 5 * MIN)  # overlaps
    await interruption(user, "noise", "self", start - MIN, start + 30_000)  # straddles start
    await interruption(user, "family", "self", end + 10 * MIN, end + 11 * MIN, sid)  # linked
    await interruption(user, "urgent_task", "self", end + MIN, end + 2 * MIN)  # after
    await interruption(other, "phone", "self", start + MIN, start + 2 * MIN)  # someone else

    status, body = await api.call("GET", f"/api/me/sessions/{sid}", token=token)
    assert status == 200, body
    assert set(body) == SESSION_KEYS | {"insights"}
    assert body["completed"] is False and body["plant"] is None
    ins = body["insights"]
    assert [(i["kind"], i["source"], i["started_ms"], i["ended_ms"], i["duration_s"])
            for i in ins.pop("interruptions")] == [
        ("noise", "self", start - MIN, start + 30_000, 90.0),
        ("eyes_closed", "auto", start + 2 * MIN, start + 3 * MIN, 60.0),
        ("phone", "self", start + 150_000, start + 5 * MIN, 150.0),
        ("family", "self", end + 10 * MIN, end + 11 * MIN, 60.0)]
    # lost: 30 s (noise, clipped to the start) + 2 min to 5 min (eyes, then phone) = 210 s
    assert ins == {"focused_share": 0.8, "presence_share": 0.96, "blink_rate_per_min": 15.0,
                   "load_share": 0.2, "time_lost_s": 210.0, "expected_s": 1500,
                   "actual_s": 1500.0, "duration_delta_s": 0.0}

    # a phase stopped early: actual shorter than expected
    stopped = await awards.phase(user, room, T0 + DAY, planned_min=25, present_min=0,
                                 focused_min=0, set_t0_ms=T0 + DAY - 25 * MIN)
    await pool.execute("UPDATE focus_sessions SET ended_at = started_at + interval '10 min' "
                       "WHERE id = $1", uuid.UUID(stopped))
    status, body = await api.call("GET", f"/api/me/sessions/{stopped}", token=token)
    assert status == 200 and body["blink_rate_per_min"] is None
    assert {k: body["insights"][k] for k in ("expected_s", "actual_s", "duration_delta_s",
                                             "load_share", "presence_share")} == {
        "expected_s": 1500, "actual_s": 600.0, "duration_delta_s": -900.0,
        "load_share": None, "presence_share": 0.0}

    for t, path in ((other_token, f"/api/me/sessions/{sid}"),
                    (token, f"/api/me/sessions/{uuid.uuid4()}"),
                    (token, "/api/me/sessions/not-a-uuid")):
        assert err(await api.call("GET", path, token=t)) == (404, "not_found"), path


async def test_session_context_is_set_cleared_and_validated(
        server: RunningServer, api: Api, pool: asyncpg.Pool) -> None:
    token, user = await api.guest("C")
    room = await api.room(token)
    other_token, _ = await api.guest("O")
    sid = await Awards(pool).phase(user, room, T0)
    path = f"/api/me/sessions/{sid}"
    status, body = await api.call("PATCH", path, {"context": "  Linear algebra, ch. 3  "},
                                  token)
    assert status == 200, body
    assert body["context"] == "Linear algebra, ch. 3" and body["id"] == sid
    assert "insights" in body
    status, body = await api.call("GET", "/api/me/sessions?from=0", token=token)
    assert [s["context"] for s in body["sessions"]] == ["Linear algebra, ch. 3"]
    assert (await api.call("PATCH", path, {"context": "é" * 200}, token))[0] == 200
    for bad in ({"context": "x" * 201}, {"context": "a\tb"}, {"context": "a\x00b"}, {},
                {"context": "x", "mood": "ok"}, {"context": 5}):
        assert err(await api.call("PATCH", path, bad, token)) == (400, "bad_request"), bad
    assert await pool.fetchval("SELECT context FROM focus_sessions WHERE id = $1",
                               uuid.UUID(sid)) == "é" * 200
    for clear in ({"context": ""}, {"context": None}):
        status, body = await api.call("PATCH", path, clear, token)
        assert status == 200 and body["context"] is None
    assert err(await api.call("PATCH", path, {"context": "mine"}, other_token)) == (
        404, "not_found")
    assert err(await api.call("PATCH", f"/api/me/sessions/{uuid.uuid4()}",
                              {"context": "x"}, token)) == (404, "not_found")
    assert await pool.fetchval("SELECT context FROM focus_sessions WHERE id = $1",
                               uuid.UUID(sid)) is None


def test_day_arithmetic_of_the_fixtures() -> None:
    """The fixed instants mean what the tests say they mean."""
    assert datetime.fromtimestamp(T0 / 1000, UTC) == datetime(2026, 5, 28, 20, 26, 40,
                                                               tzinfo=UTC)
    assert local_day(T0, "UTC", 4) == date(2026, 5, 28)
