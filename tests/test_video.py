"""Optional video against a real server: LiveKit access tokens for a room's connected
members (decoded with PyJWT and the API secret), refused to spectators, non-members and
dropped members, and 503 when the server has no LiveKit settings."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
import redis.asyncio as aioredis

from game_server.api_video import livekit_room
from game_server.config import Settings
from tests.client import Api, SioClient
from tests.conftest import RunningServer, start_server

pytestmark = pytest.mark.services

LIVEKIT = {"livekit_url": "wss://video.example.test", "livekit_api_key": "APItestkey",
           "livekit_api_secret": "test-livekit-secret-" + "s" * 24, "video_token_ttl_s": 900}


@pytest.fixture
def livekit(server_settings: dict[str, Any]) -> dict[str, Any]:
    """LiveKit settings for the test server (request before ``server``)."""
    server_settings.update(LIVEKIT)
    return server_settings


async def connect(server: RunningServer, token: str, made: list[SioClient]) -> SioClient:
    client = SioClient()
    made.append(client)
    await client.connect(server.base_url, token)
    return client


async def join(server: RunningServer, token: str, made: list[SioClient], room_id: str,
               role: str = "member") -> SioClient:
    client = await connect(server, token, made)
    ack = await client.call("room_join", {"room_id": room_id, "role": role})
    assert ack["ok"], ack
    return client


async def video_token(api: Api, room_id: str, token: str | None,
                      body: Any = None) -> tuple[int, Any]:
    return await api.call("POST", f"/api/rooms/{room_id}/video-token", body, token)


def decode(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, LIVEKIT["livekit_api_secret"], algorithms=["HS256"],
        issuer=LIVEKIT["livekit_api_key"], options={"require": ["exp", "nbf", "sub", "iss"]})
    return claims


async def test_a_member_gets_a_room_scoped_token(livekit: dict[str, Any],
                                                 server: RunningServer, api: Api,
                                                 sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    ann, ann_id = await api.guest("Ann")
    await join(server, ann, sio_clients, room_id)

    before_s = int(time.time())
    status, body = await video_token(api, room_id, ann, {"publish": True})
    assert status == 200, body
    assert set(body) == {"token", "url", "room", "identity", "expires_ms", "can_publish"}
    assert body["url"] == LIVEKIT["livekit_url"]
    assert body["room"] == f"studyverse-{room_id}" == livekit_room(room_id)
    assert body["identity"] == ann_id and body["can_publish"] is True

    claims = decode(body["token"])
    assert claims["iss"] == LIVEKIT["livekit_api_key"]
    assert claims["sub"] == ann_id and claims["name"] == "Ann"
    assert claims["video"] == {"room": body["room"], "roomJoin": True, "canPublish": True,
                               "canSubscribe": True, "canPublishData": False}
    assert abs(claims["exp"] - claims["nbf"] - LIVEKIT["video_token_ttl_s"]) <= 1
    assert before_s - 1 <= claims["nbf"] <= int(time.time()) + 1
    assert body["expires_ms"] == claims["exp"] * 1000
    with pytest.raises(jwt.InvalidSignatureError):  # signed with the secret, nothing else
        jwt.decode(body["token"], "another-secret-" + "x" * 24, algorithms=["HS256"])

    # watching only unless the member opts in to publish
    for payload in (None, {}, {"publish": False}):
        status, body = await video_token(api, room_id, ann, payload)
        assert status == 200, body
        assert body["can_publish"] is False
        video = decode(body["token"])["video"]
        assert video["canPublish"] is False and video["canSubscribe"] is True
        assert video["roomJoin"] is True and video["room"] == livekit_room(room_id)


async def test_only_connected_members_get_a_token(livekit: dict[str, Any],
                                                  server: RunningServer, api: Api,
                                                  sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id, other_room = await api.room(owner), await api.room(owner)
    spectator, _ = await api.guest("Spec")
    await join(server, spectator, sio_clients, room_id, "spectator")
    elsewhere, _ = await api.guest("Elsewhere")
    await join(server, elsewhere, sio_clients, other_room)
    lobby, _ = await api.guest("Lobby")
    await connect(server, lobby, sio_clients)  # connected, in no room
    bob, _ = await api.guest("Bob")
    bob_socket = await join(server, bob, sio_clients, room_id)
    watcher = await join(server, owner, sio_clients, room_id)

    for token in (spectator, elsewhere, lobby):
        status, body = await video_token(api, room_id, token)
        assert (status, body["error"]["code"]) == (403, "forbidden"), body
    assert (await video_token(api, room_id, owner))[0] == 200  # joined as a member now
    assert (await video_token(api, room_id, bob))[0] == 200

    # a dropped member keeps its slot for the resume window, but is not in the room now
    await bob_socket.close()
    await watcher.wait_for("member_state", lambda d: d["connected"] is False)
    status, body = await video_token(api, room_id, bob)
    assert (status, body["error"]["code"]) == (403, "forbidden"), body

    status, body = await video_token(api, str(uuid.uuid4()), bob)
    assert (status, body["error"]["code"]) == (404, "not_found"), body
    status, body = await video_token(api, "not-a-room", bob)
    assert (status, body["error"]["code"]) == (404, "not_found"), body
    status, body = await video_token(api, room_id, None)
    assert (status, body["error"]["code"]) == (401, "unauthorized"), body
    status, body = await video_token(api, room_id, "not.a.token")
    assert (status, body["error"]["code"]) == (401, "unauthorized"), body
    status, body = await video_token(api, room_id, owner, {"publish": True, "admin": True})
    assert (status, body["error"]["code"]) == (400, "bad_request"), body


async def test_video_is_off_without_livekit_settings(server: RunningServer, api: Api,
                                                     sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    await join(server, owner, sio_clients, room_id)
    status, body = await video_token(api, room_id, owner, {"publish": True})
    assert status == 503, body
    assert body["error"]["code"] == "unavailable"
    message = body["error"]["message"]
    assert message.startswith("video is not configured on this server")
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        assert name in message


async def test_any_missing_livekit_setting_turns_video_off(
        server_settings: dict[str, Any], redis: aioredis.Redis,
        sio_clients: list[SioClient]) -> None:
    for missing in ("livekit_url", "livekit_api_key", "livekit_api_secret"):
        partial = {k: v for k, v in LIVEKIT.items() if k != missing}
        running = await start_server(Settings(**{**server_settings, **partial}))
        client = Api(running.base_url)
        try:
            owner, _ = await client.guest("Owner")
            room_id = await client.room(owner)
            await join(running, owner, sio_clients, room_id)
            status, body = await video_token(client, room_id, owner)
            assert (status, body["error"]["code"]) == (503, "unavailable"), body
            assert missing.upper() in body["error"]["message"]
        finally:
            await client.close()
            for c in sio_clients:
                await c.close()
            await running.stop()
