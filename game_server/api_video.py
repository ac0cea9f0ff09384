"""HTTP route of optional video: LiveKit access tokens for a room's members.

Video is optional and off unless ``livekit_url``, ``livekit_api_key`` and
``livekit_api_secret`` are all set (503 ``unavailable`` otherwise). The server never talks
to LiveKit: it only mints an access token (an HS256 JWT signed with the API secret, LiveKit
docs "Authentication"), which the browser presents to the LiveKit server at ``url``.

The token is scoped to one LiveKit room, ``studyverse-<room_id>``, and to the caller:
``sub``/identity is the user id (so clients map video tracks to RoomState members by
``user_id``), ``name`` the display name. Only a member currently connected to the room's
slot gets one (spectators watch avatars, not faces). Subscribing is always allowed;
publishing camera/microphone only when the member asks for it (``publish: true``, the
user's opt-in); data messages are not granted (the game's own channel is Socket.IO).
"""

from __future__ import annotations

import datetime
import uuid

import jwt
from aiohttp import web
from livekit import api as livekit
from pydantic import BaseModel

from game_server.config import Settings
from game_server.deps import DEPS
from game_server.http_common import (
    ApiRouter,
    HttpError,
    authenticate,
    json_response,
    parse,
    path_uuid,
)
from game_server.schemas import Inbound

router = ApiRouter("video")

LIVEKIT_ROOM_PREFIX = "studyverse-"


class VideoTokenBody(Inbound):
    """``publish``: the member opted in to send camera/microphone (default: watch only)."""

    publish: bool = False


class VideoTokenOut(BaseModel):
    """A LiveKit access token: connect to ``url`` with ``token``; it joins LiveKit room
    ``room`` as ``identity`` (the user id) until ``expires_ms`` (epoch ms)."""

    token: str
    url: str
    room: str
    identity: str
    expires_ms: int
    can_publish: bool


def livekit_room(room_id: uuid.UUID | str) -> str:
    """The LiveKit room name of one of our rooms: ``studyverse-<room_id>``."""
    return f"{LIVEKIT_ROOM_PREFIX}{room_id}"


def missing_settings(settings: Settings) -> list[str]:
    """Environment variables that must still be set for video to work (empty: ready)."""
    missing = []
    if not settings.livekit_url:
        missing.append("STUDYVERSE_LIVEKIT_URL")
    if not settings.livekit_api_key:
        missing.append("STUDYVERSE_LIVEKIT_API_KEY")
    if (settings.livekit_api_secret is None
            or not settings.livekit_api_secret.get_secret_value()):
        missing.append("STUDYVERSE_LIVEKIT_API_SECRET")
    return missing


def mint_token(settings: Settings, *, identity: str, name: str, room: str,
               can_publish: bool) -> tuple[str, int]:
    """(JWT, expiry epoch ms) of a LiveKit token joining ``room`` for
    ``settings.video_token_ttl_s`` seconds. Requires the three LiveKit settings."""
    assert settings.livekit_api_key and settings.livekit_api_secret is not None
    grants = livekit.VideoGrants(room_join=True, room=room, can_publish=can_publish,
                                 can_subscribe=True, can_publish_data=False)
    token = (livekit.AccessToken(settings.livekit_api_key,
                                 settings.livekit_api_secret.get_secret_value())
             .with_identity(identity).with_name(name).with_grants(grants)
             .with_ttl(datetime.timedelta(seconds=settings.video_token_ttl_s))
             .to_jwt())
    # the library stamps nbf/exp itself; report the expiry it actually signed
    claims = jwt.decode(token, options={"verify_signature": False})
    return token, int(claims["exp"]) * 1000


@router.route("POST", "/api/rooms/{room_id}/video-token", body=VideoTokenBody,
              response=VideoTokenOut, errors=(403, 404, 503))
async def video_token(request: web.Request) -> web.Response:
    """A LiveKit access token for a member of the room (optional video).

    Only a member holding a connected slot in the room gets one: spectators and
    non-members get 403 ``forbidden``, an unknown room 404 ``not_found``. ``can_publish`` is
    true only when the body asks for it (``{"publish": true}``); subscribing is always
    allowed, data messages never. 503 ``unavailable`` when the server has no LiveKit
    settings (video is off)."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    missing = missing_settings(deps.settings)
    if missing:
        raise HttpError(503, "unavailable", "video is not configured on this server: set "
                        + ", ".join(missing))
    room_id = path_uuid(request, "room_id", "room")
    body = await parse(request, VideoTokenBody)
    user_id = str(identity.user_id)
    members = await deps.rooms.live_members(str(room_id))
    member = next((m for m in members if m.user_id == user_id and m.kind == "live"), None)
    if member is None or not member.connected:
        if not members and await deps.rooms.repo.get(room_id) is None:
            raise HttpError(404, "not_found", "no such room")
        raise HttpError(403, "forbidden", "only members connected to the room get video")
    room = livekit_room(room_id)
    token, expires_ms = mint_token(deps.settings, identity=user_id,
                                   name=identity.display_name or member.display_name,
                                   room=room, can_publish=body.publish)
    assert deps.settings.livekit_url is not None
    return json_response({"token": token, "url": deps.settings.livekit_url, "room": room,
                          "identity": user_id, "expires_ms": expires_ms,
                          "can_publish": body.publish})
