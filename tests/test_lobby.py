"""The lobby and invite codes against a real server, Redis and Postgres, with rooms joined
over real Socket.IO connections: only public rooms, live member and spectator counts, the
timer phase, rooms with people first, paging; join by code, rotation, rate limit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from rooms.keys import KeySpace
from tests.client import Api, SioClient, join_room
from tests.conftest import RunningServer

pytestmark = pytest.mark.services


async def new_room(api: Api, token: str, name: str, is_public: bool = True) -> dict[str, Any]:
    status, body = await api.call("POST", "/api/rooms", {"name": name, "is_public": is_public},
                                  token)
    assert status == 201, body
    return dict(body)


async def lobby(api: Api, query: str = "") -> dict[str, Any]:
    status, body = await api.call("GET", "/api/rooms" + query)
    assert status == 200, body
    return dict(body)


async def test_lobby_shows_public_rooms_with_live_occupancy(
        server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Olga")
    other, _ = await api.guest("Otto")
    quiet = await new_room(api, owner, "Quiet")
    timed = await new_room(api, other, "Timed")
    empty = await new_room(api, owner, "Empty")
    secret = await new_room(api, owner, "Secret", is_public=False)

    await join_room(server.base_url, api, sio_clients, quiet["room_id"], "Ann")
    bob, _ = await join_room(server.base_url, api, sio_clients, quiet["room_id"], "Bob")
    await join_room(server.base_url, api, sio_clients, quiet["room_id"], "Sam", "spectator")
    host, _ = await join_room(server.base_url, api, sio_clients, timed["room_id"], "Otto",
                              token=other)
    started = await host.call("timer_start", {"focus_min": 25})
    assert started["ok"], started
    await join_room(server.base_url, api, sio_clients, secret["room_id"], "Pia")

    body = await lobby(api)  # no token needed
    assert body["next_cursor"] is None
    rooms = body["rooms"]
    # people first (newest first), then the empty ones; the private room never shows
    assert [r["name"] for r in rooms] == ["Timed", "Quiet", "Empty"]
    by_name = {r["name"]: r for r in rooms}
    assert by_name["Quiet"] | {"created_ms": 0} == {
        "room_id": quiet["room_id"], "name": "Quiet", "capacity": quiet["capacity"],
        "owner_display_name": "Olga", "members": 2, "spectators": 1, "phase": "idle",
        "phase_ends_ms": None, "paused_at_ms": None, "created_ms": 0}
    t = by_name["Timed"]
    assert (t["owner_display_name"], t["members"], t["spectators"]) == ("Otto", 1, 0)
    assert t["phase"] == "focus"
    assert t["phase_ends_ms"] == started["timer"]["phase_ends_ms"]
    assert abs(t["phase_ends_ms"] - (time.time() * 1000 + 25 * 60_000)) < 10_000
    assert by_name["Empty"]["members"] == 0 and by_name["Empty"]["room_id"] == empty["room_id"]

    # a member who drops no longer counts (its slot waits for a resume, not connected)
    await bob.close()
    await bob.disconnected.wait()
    for _ in range(50):
        rooms = (await lobby(api))["rooms"]
        if {r["name"]: r for r in rooms}["Quiet"]["members"] == 1:
            break
        await asyncio.sleep(0.05)
    assert {r["name"]: r["members"] for r in rooms} == {"Timed": 1, "Quiet": 1, "Empty": 0}

    # the owner pauses: the lobby shows the pause; the timer's stop makes the room idle
    assert (await host.call("timer_pause"))["ok"]
    t = {r["name"]: r for r in (await lobby(api))["rooms"]}["Timed"]
    assert t["phase"] == "focus" and t["paused_at_ms"] is not None
    assert (await host.call("timer_stop"))["ok"]
    t = {r["name"]: r for r in (await lobby(api))["rooms"]}["Timed"]
    assert (t["phase"], t["phase_ends_ms"]) == ("idle", None)


async def test_lobby_pages_through_every_public_room_once(
        server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    made = [await new_room(api, owner, f"R{i}") for i in range(7)]  # R6 is the newest
    await new_room(api, owner, "Hidden", is_public=False)
    await join_room(server.base_url, api, sio_clients, made[1]["room_id"], "Ann")
    await join_room(server.base_url, api, sio_clients, made[3]["room_id"], "Bob")

    names: list[str] = []
    pages = 0
    query = "?limit=3"
    while True:
        body = await lobby(api, query)
        pages += 1
        assert len(body["rooms"]) <= 3
        names += [r["name"] for r in body["rooms"]]
        if body["next_cursor"] is None:
            break
        query = f"?limit=3&cursor={body['next_cursor']}"
    assert pages == 3
    assert names == ["R3", "R1", "R6", "R5", "R4", "R2", "R0"]
    assert [r["name"] for r in (await lobby(api))["rooms"]] == names  # default limit 20

    for bad in ("?limit=0", "?limit=51", "?limit=x", "?cursor=nonsense", "?cursor=2.1.ab",
                "?other=1"):
        status, body = await api.call("GET", "/api/rooms" + bad)
        assert (status, body["error"]["code"]) == (400, "bad_request"), bad


async def test_join_by_invite_code(server: RunningServer, api: Api) -> None:
    owner, _ = await api.guest("Owner")
    guest, _ = await api.guest("Guest")
    room = await new_room(api, owner, "Private", is_public=False)
    code = room["invite_code"]

    status, body = await api.call("POST", "/api/rooms/join",
                                  {"invite_code": f"  {code[:4].lower()} {code[4:]}\n"}, guest)
    assert status == 200, body
    assert body == {"room_id": room["room_id"], "name": "Private",
                    "capacity": room["capacity"], "is_public": False}
    assert (await api.call("POST", "/api/rooms/join", {"invite_code": code}))[0] == 401
    unknown = "".join("Z" if c != "Z" else "Y" for c in code)
    for wrong in (unknown, "ABC", "0OIL0OIL"):
        status, body = await api.call("POST", "/api/rooms/join", {"invite_code": wrong}, guest)
        assert (status, body["error"]["code"]) == (404, "not_found"), wrong
    status, body = await api.call("POST", "/api/rooms/join", {"invite_code": ""}, guest)
    assert (status, body["error"]["code"]) == (400, "bad_request")


async def test_owner_rotates_the_invite_code(server: RunningServer, api: Api,
                                             redis: aioredis.Redis) -> None:
    owner, _ = await api.guest("Owner")
    guest, _ = await api.guest("Guest")
    room = await new_room(api, owner, "Room")
    old = room["invite_code"]
    path = f"/api/rooms/{room['room_id']}/invite"

    status, body = await api.call("POST", path, token=guest)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert (await api.call("POST", path))[0] == 401
    status, body = await api.call("POST", "/api/rooms/00000000-0000-0000-0000-000000000000"
                                  "/invite", token=owner)
    assert (status, body["error"]["code"]) == (404, "not_found")

    status, body = await api.call("POST", path, token=owner)
    assert status == 200, body
    new = body["invite_code"]
    assert body["room_id"] == room["room_id"] and new != old and len(new) == 8
    status, body = await api.call("POST", "/api/rooms/join", {"invite_code": old}, guest)
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await api.call("POST", "/api/rooms/join", {"invite_code": new}, guest)
    assert status == 200 and body["room_id"] == room["room_id"]
    meta = KeySpace(server.settings.redis_prefix).room(room["room_id"]).meta
    assert await redis.hget(meta, "invite_code") == new.encode()  # the live mirror follows


async def test_invite_lookups_are_rate_limited_per_user(server: RunningServer,
                                                        api: Api) -> None:
    owner, _ = await api.guest("Owner")
    guesser, _ = await api.guest("Guesser")
    room = await new_room(api, owner, "Room")
    for i in range(20):
        status, _ = await api.call("POST", "/api/rooms/join", {"invite_code": f"ZZZZZZ{i:02}"},
                                   guesser)
        assert status == 404
    async with api.session.post(api.base_url + "/api/rooms/join",
                                json={"invite_code": room["invite_code"]},
                                headers={"Authorization": f"Bearer {guesser}"}) as resp:
        assert resp.status == 429
        assert (await resp.json())["error"]["code"] == "rate_limited"
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
    # another user is not held back by the guesser
    status, _ = await api.call("POST", "/api/rooms/join", {"invite_code": room["invite_code"]},
                               owner)
    assert status == 200


async def test_timer_options_are_the_servers(server: RunningServer, api: Api) -> None:
    status, body = await api.call("GET", "/api/timer-options")
    assert status == 200
    s = server.settings
    assert body == {"focus_choices_min": list(s.timer_focus_choices_min),
                    "min_phase_s": s.timer_min_phase_s, "max_phase_s": s.timer_max_phase_s,
                    "max_cycles": s.timer_max_cycles}
    assert body["focus_choices_min"] == [15, 25, 45, 60]
