"""Leaderboards through the real server and Postgres: XP, focus time and sessions, global
and per room, this ISO week (UTC) and all time; shared ranks for ties (rank(): 1, 1, 3),
the caller's own row, limits and bad parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from game_server.analytics_repo import AnalyticsRepo, UnknownRoom, iso_week_start_utc
from game_server.deps import DEPS
from tests.client import Api
from tests.conftest import RunningServer
from tests.test_analytics import add_session, at, get, make_user, ms

pytestmark = pytest.mark.services


def board(body: dict[str, Any]) -> list[tuple[int, str, int]]:
    return [(r["rank"], r["display_name"], r["value"]) for r in body["rows"]]


async def test_iso_week_start_is_monday_midnight_utc() -> None:
    assert iso_week_start_utc(at("2026-03-11T12:00:00+00:00")) == at("2026-03-09T00:00:00+00:00")
    assert iso_week_start_utc(at("2026-03-09T00:00:00+00:00")) == at("2026-03-09T00:00:00+00:00")
    assert iso_week_start_utc(at("2026-03-08T23:59:59+00:00")) == at("2026-03-02T00:00:00+00:00")
    # 2026-03-09 01:00 in Kolkata is still Sunday in UTC
    assert iso_week_start_utc(at("2026-03-09T01:00:00+05:30")) == at("2026-03-02T00:00:00+00:00")


async def test_boards_by_metric_scope_and_period(server: RunningServer, api: Api) -> None:
    ana, a = await make_user(server, api, "Ana")
    ben, b = await make_user(server, api, "Ben")
    cy, c = await make_user(server, api, "Cy")
    dee, _ = await make_user(server, api, "Dee")
    r1, r2 = await api.room(ana, name="One"), await api.room(ana, name="Two")
    week = iso_week_start_utc(datetime.now(UTC))
    this_week, last_week = week + timedelta(minutes=1), week - timedelta(days=2)
    # XP is 0.4 per focused minute: 25 min -> 10, 50 min -> 20.
    assert (await add_session(server, a, r1, this_week, 1500, 1500)).xp == 10
    assert (await add_session(server, a, r2, last_week, 3000, 3000, planned_s=3000)).xp == 20
    await add_session(server, b, r1, this_week, 1500, 1500)
    credited = await server.app[DEPS].progress.apply_boss_kill(
        room_id=r1, set_t0_ms=ms(this_week), level=1, name="Slime",
        damage_by_user={b: 100.0}, xp_bonus=5, killed_ms=ms(this_week) + 600_000)
    assert credited == [b]
    await add_session(server, c, r1, last_week, 1500, 1500)

    async def lb(query: str, token: str = dee) -> Any:
        return await get(api, f"/api/leaderboards?{query}", token)

    # all time, global: progress.xp (sessions + kill bonus)
    body = await lb("")
    assert (body["scope"], body["metric"], body["period"], body["since_ms"]) == (
        "global", "xp", "all", None)
    assert board(body) == [(1, "Ana", 30), (2, "Ben", 15), (3, "Cy", 10)]
    assert [r["user_id"] for r in body["rows"]] == [a, b, c]
    assert body["me"] is None  # Dee has nothing
    # this week, global: this week's session XP + kill bonuses
    body = await lb("metric=xp&period=week", ana)
    assert body["since_ms"] == ms(week)
    assert board(body) == [(1, "Ben", 15), (2, "Ana", 10)]
    assert body["me"] == {"rank": 2, "value": 10}
    # room One, all time: ties share a rank, listed by name
    body = await lb(f"scope=room:{r1}&metric=xp&period=all", cy)
    assert body["scope"] == f"room:{r1}"
    assert board(body) == [(1, "Ben", 15), (2, "Ana", 10), (2, "Cy", 10)]
    assert body["me"] == {"rank": 2, "value": 10}
    assert board(await lb(f"scope=room:{r1}&metric=sessions&period=week")) == [
        (1, "Ana", 1), (1, "Ben", 1)]
    assert board(await lb(f"scope=room:{r2}&metric=focus_time")) == [(1, "Ana", 3000)]
    empty = await lb(f"scope=room:{r2}&metric=xp&period=week", ana)
    assert (empty["rows"], empty["me"]) == ([], None)
    assert board(await lb("metric=focus_time")) == [(1, "Ana", 4500), (2, "Ben", 1500),
                                                    (2, "Cy", 1500)]
    assert board(await lb("metric=sessions&period=all")) == [(1, "Ana", 2), (2, "Ben", 1),
                                                             (2, "Cy", 1)]
    # the limit cuts the rows, never the caller's own rank
    body = await lb("metric=xp&limit=1", cy)
    assert board(body) == [(1, "Ana", 30)] and body["me"] == {"rank": 3, "value": 10}
    assert board(await lb("limit=100")) == board(await lb("limit=3"))


async def test_week_edges_and_rank_gaps_with_a_fixed_now(server: RunningServer,
                                                         api: Api) -> None:
    """Sessions count in the week they ended in; ties share a rank and the next one skips."""
    token, x = await make_user(server, api, "Xia")
    _, y = await make_user(server, api, "Yan")
    _, z = await make_user(server, api, "Zed")
    room = await api.room(token)
    repo = AnalyticsRepo(server.app[DEPS].pool)
    now = at("2026-03-11T12:00:00+00:00")  # Wednesday; the week began 2026-03-09 00:00 UTC
    # Xia: ends 00:10 Monday (started Sunday): this week. Yan: ends exactly at the start.
    # Zed: ends one second before it (last week) and one session this week.
    await add_session(server, x, room, at("2026-03-08T23:45:00+00:00"), 1500, 1500)
    await add_session(server, y, room, at("2026-03-08T23:35:00+00:00"), 1500, 1500)
    await add_session(server, z, room, at("2026-03-08T23:34:59+00:00"), 1500, 1500)
    await add_session(server, z, room, at("2026-03-10T09:00:00+00:00"), 600, 600)
    week = await repo.leaderboard(metric="focus_time", room_id=uuid.UUID(room), weekly=True,
                                  me=uuid.UUID(z), limit=20, now=now)
    assert week.since == at("2026-03-09T00:00:00+00:00")
    assert [(r.rank, r.display_name, r.value) for r in week.rows] == [
        (1, "Xia", 1500), (1, "Yan", 1500), (3, "Zed", 600)]
    assert week.me is not None and (week.me.rank, week.me.value) == (3, 600)
    total = await repo.leaderboard(metric="focus_time", room_id=None, weekly=False,
                                   me=uuid.UUID(x), limit=20, now=now)
    assert [(r.rank, r.display_name, r.value) for r in total.rows] == [
        (1, "Zed", 2100), (2, "Xia", 1500), (2, "Yan", 1500)]
    with pytest.raises(UnknownRoom):
        await repo.leaderboard(metric="xp", room_id=uuid.uuid4(), weekly=False,
                               me=uuid.UUID(x), limit=20, now=now)


async def test_bad_parameters_unknown_room_and_missing_token(server: RunningServer,
                                                             api: Api) -> None:
    token, _ = await api.guest("Bad")
    for query in ("scope=rooms", "scope=room:", "scope=room:123", "scope=Global",
                  f"scope=global:{uuid.uuid4()}", "metric=level", "metric=", "period=month",
                  "period=day", "limit=0", "limit=101", "limit=ten", "order=asc"):
        status, body = await api.call("GET", f"/api/leaderboards?{query}", token=token)
        assert status == 400 and body["error"]["code"] == "bad_request", query
    status, body = await api.call("GET", f"/api/leaderboards?scope=room:{uuid.uuid4()}",
                                  token=token)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api.call("GET", "/api/leaderboards")
    assert status == 401 and body["error"]["code"] == "unauthorized"
