"""HTTP API against a real server: health, readiness, guests, rooms, errors."""

from __future__ import annotations

import time

import jwt

from tests.client import Api
from tests.conftest import RunningServer


async def test_health_and_readiness(server: RunningServer, api: Api) -> None:
    status, body = await api.call("GET", "/healthz")
    assert status == 200 and body["status"] == "ok" and body["node_id"]
    status, body = await api.call("GET", "/readyz")
    assert status == 200, body
    assert body == {"ready": True, "checks": {"redis": "ok", "postgres": "ok", "pubsub": "ok"}}


async def test_guest_token_claims(server: RunningServer, api: Api) -> None:
    status, body = await api.call("POST", "/api/auth/guest", {"display_name": "  Ada  "})
    assert status == 201
    assert body["user"]["display_name"] == "Ada" and body["user"]["is_guest"] is True
    claims = jwt.decode(body["access_token"], server.settings.jwt_secret.get_secret_value(),
                        algorithms=["HS256"])
    assert claims["sub"] == body["user"]["id"] and claims["name"] == "Ada"
    assert claims["exp"] - claims["iat"] == 900 == body["expires_in"]
    assert abs(claims["iat"] - time.time()) < 5 and len(claims["jti"]) >= 16


async def test_guest_validation(server: RunningServer, api: Api) -> None:
    for body in ({}, {"display_name": ""}, {"display_name": "x" * 41},
                 {"display_name": "a\nb"}, {"display_name": "ok", "admin": True},
                 {"display_name": 5}):
        status, answer = await api.call("POST", "/api/auth/guest", body)
        assert status == 400 and answer["error"]["code"] == "bad_request", (body, answer)
    async with api.session.post(api.base_url + "/api/auth/guest", data=b"{not json") as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request"


async def test_rooms_create_and_read(server: RunningServer, api: Api) -> None:
    token, user_id = await api.guest("Owner")
    status, room = await api.call("POST", "/api/rooms", {"name": "Night owls"}, token)
    assert status == 201
    assert room["capacity"] == 5 and room["is_public"] is True
    assert len(room["invite_code"]) == 8 and room["invite_code"].isalnum()
    status, got = await api.call("GET", f"/api/rooms/{room['room_id']}")
    assert status == 200
    assert got["name"] == "Night owls" and got["owner_id"] == user_id
    assert got["members"] == [] and got["spectators"] == 0
    assert got["timer"]["phase"] == "idle"


async def test_rooms_errors(server: RunningServer, api: Api) -> None:
    token, _ = await api.guest("Owner")
    status, body = await api.call("POST", "/api/rooms", {"name": "x"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await api.call("POST", "/api/rooms", {"name": "x"}, "garbage")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    for bad in ({"name": ""}, {"name": "x", "capacity": 0}, {"name": "x", "capacity": 51},
                {"name": "x", "capacity": "many"}):
        status, body = await api.call("POST", "/api/rooms", bad, token)
        assert status == 400 and body["error"]["code"] == "bad_request", (bad, body)
    for path in ("/api/rooms/not-a-uuid", "/api/rooms/00000000-0000-0000-0000-000000000000",
                 "/api/nothing"):
        status, body = await api.call("GET", path)
        assert status == 404 and body["error"]["code"] == "not_found"


async def test_room_survives_redis_loss(server: RunningServer, api: Api, redis) -> None:
    """Postgres is the system of record: a room whose live state vanished from Redis is
    mirrored back on the next join."""
    from tests.client import SioClient

    token, _ = await api.guest("Owner")
    room_id = await api.room(token, capacity=3)
    keys = [k async for k in redis.scan_iter(match=f"{server.settings.redis_prefix}room:*")]
    assert keys
    await redis.delete(*keys)
    client = SioClient()
    try:
        await client.connect(server.base_url, token)
        ack = await client.call("room_join", {"room_id": room_id})
        assert ack["ok"] and ack["slot"] == 0 and ack["room"]["capacity"] == 3
    finally:
        await client.close()
