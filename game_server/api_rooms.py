"""HTTP routes of rooms (``/api/rooms...``): create a room, read one with its live state,
the lobby of public rooms, invite codes (join by code, rotate) and a room's chat history.

- ``GET /api/rooms`` (no token needed: it shows only public rooms and no invite codes):
  rooms with connected members first, then the rest, each newest first
  (``room_service`` module docstring); ``cursor`` from the previous page's ``next_cursor``.
- ``POST /api/rooms/join``: an invite code (case-insensitive, whitespace ignored) to its
  room; ``INVITE_JOINS_PER_MIN`` attempts per user per minute (429 ``rate_limited`` with
  Retry-After), so codes cannot be guessed at speed. Private rooms are reached this way.
- ``POST /api/rooms/{id}/invite``: the owner rotates the code; the old one stops working.
- ``GET /api/rooms/{id}/messages``: history newest first; ``before`` is a message id (older
  than that message) or epoch ms (sent before then); ``next_before`` is the id to pass for
  the next (older) page, null at the start of the history. Public rooms: any signed-in
  user; private rooms: the owner and current members (403 ``forbidden`` otherwise).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from game_server.deps import DEPS, Deps
from game_server.http_common import (
    ApiRouter,
    HttpError,
    authenticate,
    json_response,
    model_response,
    parse,
    parse_query,
    path_uuid,
)
from game_server.room_service import LobbyCursor
from game_server.schemas import CreateRoomBody, Inbound
from rooms.store import RoomNotFound

router = ApiRouter("rooms")

INVITE_JOINS_PER_MIN = 20
"""Invite-code lookups per user per minute (each costs a guesser one try of ~2^40)."""
MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z, the last instant a ``before`` time may name."""


class RoomCreatedOut(BaseModel):
    room_id: uuid.UUID
    invite_code: str
    name: str
    capacity: int
    is_public: bool


class RoomOut(BaseModel):
    """A room and its live state (members, spectator count, timer; DESIGN.md section 3)."""

    room_id: uuid.UUID
    name: str
    capacity: int
    owner_id: uuid.UUID
    is_public: bool
    created_ms: int
    members: list[dict[str, Any]]
    spectators: int
    timer: dict[str, Any] | None


@router.route("POST", "/api/rooms", body=CreateRoomBody, response=RoomCreatedOut,
              status=201)
async def create_room(request: web.Request) -> web.Response:
    """Create a room owned by the caller."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    body = await parse(request, CreateRoomBody)
    s = deps.settings
    capacity = body.capacity or s.room_capacity_default
    if capacity > s.room_capacity_max:
        raise HttpError(400, "bad_request", f"capacity: at most {s.room_capacity_max}")
    if await deps.users.get(identity.user_id) is None:
        raise HttpError(401, "unauthorized", "unknown user")
    room = await deps.rooms.create(identity.user_id, body.name, capacity, body.is_public)
    return json_response({"room_id": str(room.id), "invite_code": room.invite_code,
                          "name": room.name, "capacity": room.capacity,
                          "is_public": room.is_public}, 201)


@router.route("GET", "/api/rooms/{room_id}", response=RoomOut, auth=False, errors=(404,))
async def get_room(request: web.Request) -> web.Response:
    """A room with its live members, spectator count and timer."""
    deps = request.app[DEPS]
    room_id = path_uuid(request, "room_id", "room")
    room = await deps.rooms.repo.get(room_id)
    if room is None:
        raise HttpError(404, "not_found", "no such room")
    try:
        state = await deps.rooms.state(str(room_id), int(time.time() * 1000))
        members, spectators, timer = state["members"], state["spectators"], state["timer"]
    except RoomNotFound:
        members, spectators, timer = [], 0, None
    return json_response({
        "room_id": str(room.id), "name": room.name, "capacity": room.capacity,
        "owner_id": str(room.owner_id), "is_public": room.is_public,
        "created_ms": int(room.created_at.timestamp() * 1000),
        "members": members, "spectators": spectators, "timer": timer,
    })


# -- lobby --------------------------------------------------------------------------------

class LobbyQuery(Inbound):
    limit: int = Field(20, ge=1, le=50, description="rooms per page")
    cursor: str | None = Field(None, max_length=80,
                               description="next_cursor of the previous page (opaque)")


class LobbyRoomOut(BaseModel):
    """A public room with its live occupancy; ``members`` counts connected members (not
    ghosts), ``phase_ends_ms`` is epoch ms (None when idle), ``paused_at_ms`` is set while
    the owner has the timer paused."""

    room_id: uuid.UUID
    name: str
    capacity: int
    owner_display_name: str
    members: int
    spectators: int
    phase: str
    phase_ends_ms: int | None
    paused_at_ms: int | None
    created_ms: int


class LobbyOut(BaseModel):
    rooms: list[LobbyRoomOut]
    next_cursor: str | None


class TimerOptionsOut(BaseModel):
    """What ``timer_start`` accepts on this server: ``focus_choices_min`` (empty: any
    length within the phase bounds), phase bounds in s, most focus phases per set."""

    focus_choices_min: list[float]
    min_phase_s: float
    max_phase_s: float
    max_cycles: int


@router.route("GET", "/api/timer-options", response=TimerOptionsOut, auth=False)
async def timer_options(request: web.Request) -> web.Response:
    """The timer settings a room owner may choose (the server's configuration), so clients
    offer exactly those."""
    s = request.app[DEPS].settings
    return model_response(TimerOptionsOut(
        focus_choices_min=list(s.timer_focus_choices_min), min_phase_s=s.timer_min_phase_s,
        max_phase_s=s.timer_max_phase_s, max_cycles=s.timer_max_cycles))


@router.route("GET", "/api/rooms", query=LobbyQuery, response=LobbyOut, auth=False)
async def lobby(request: web.Request) -> web.Response:
    """The lobby: public rooms with live occupancy and timer phase.

    Rooms with connected members come first, then the others, each newest first; pass
    ``next_cursor`` as ``cursor`` for the next page (null on the last page). Private rooms
    never appear."""
    deps = request.app[DEPS]
    q = parse_query(request, LobbyQuery)
    cursor = None
    if q.cursor is not None:
        try:
            cursor = LobbyCursor.decode(q.cursor)
        except (ValueError, OverflowError):
            raise HttpError(400, "bad_request", "cursor: not a lobby cursor") from None
    page, following = await deps.rooms.lobby(q.limit, cursor, int(time.time() * 1000))
    return model_response(LobbyOut(rooms=[LobbyRoomOut(
        room_id=r.room.id, name=r.room.name, capacity=r.room.capacity,
        owner_display_name=r.owner_name, members=o.members, spectators=o.spectators,
        phase=o.phase, phase_ends_ms=o.phase_ends_ms, paused_at_ms=o.paused_at_ms,
        created_ms=int(r.room.created_at.timestamp() * 1000)) for r, o in page],
        next_cursor=None if following is None else following.encode()))


# -- invite codes -------------------------------------------------------------------------

class InviteJoinBody(Inbound):
    invite_code: str = Field(min_length=1, max_length=64)


class InviteJoinOut(BaseModel):
    """The room an invite code opens; join it over Socket.IO with ``room_join``."""

    room_id: uuid.UUID
    name: str
    capacity: int
    is_public: bool


class InviteOut(BaseModel):
    room_id: uuid.UUID
    invite_code: str


async def _rate_limit(deps: Deps, scope: str, ident: str, limit: int) -> None:
    verdict = await deps.limiter.hit(scope, ident, limit)
    if not verdict.allowed:
        raise HttpError(429, "rate_limited", "too many attempts; retry later",
                        {"Retry-After": str(verdict.retry_after_s)})


@router.route("POST", "/api/rooms/join", body=InviteJoinBody, response=InviteJoinOut,
              errors=(404, 429))
async def join_by_code(request: web.Request) -> web.Response:
    """Resolve an invite code to its room.

    Case-insensitive, whitespace ignored; 404 ``not_found`` for an unknown code; at most
    20 attempts per user per minute (429 ``rate_limited`` with Retry-After)."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    body = await parse(request, InviteJoinBody)
    await _rate_limit(deps, "invite_join", str(identity.user_id), INVITE_JOINS_PER_MIN)
    room = await deps.rooms.repo.by_invite_code(body.invite_code)
    if room is None:
        raise HttpError(404, "not_found", "no room has this invite code")
    return model_response(InviteJoinOut(room_id=room.id, name=room.name,
                                        capacity=room.capacity, is_public=room.is_public))


@router.route("POST", "/api/rooms/{room_id}/invite", response=InviteOut, errors=(403, 404))
async def rotate_invite(request: web.Request) -> web.Response:
    """Replace the room's invite code (owner only); the old code stops working."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    room_id = path_uuid(request, "room_id", "room")
    room = await deps.rooms.repo.get(room_id)
    if room is None:
        raise HttpError(404, "not_found", "no such room")
    if room.owner_id != identity.user_id:
        raise HttpError(403, "forbidden", "only the room's owner can change its invite code")
    rotated = await deps.rooms.rotate_invite(room_id)
    if rotated is None:  # deleted in between
        raise HttpError(404, "not_found", "no such room")
    return model_response(InviteOut(room_id=rotated.id, invite_code=rotated.invite_code))


# -- chat history -------------------------------------------------------------------------

class MessagesQuery(Inbound):
    before: str | None = Field(
        None, max_length=40,
        description="a message id (older than it) or epoch ms (sent before it)")
    limit: int = Field(50, ge=1, le=100, description="messages per page")


class ChatMessageOut(BaseModel):
    """A chat message (the ``chat_message`` event); ``sent_ms`` is epoch ms."""

    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    text: str
    sent_ms: int


class MessagesOut(BaseModel):
    """A page of history, newest first; ``next_before`` pages further back (null at the
    start of the history)."""

    messages: list[ChatMessageOut]
    next_before: str | None


@router.route("GET", "/api/rooms/{room_id}/messages", query=MessagesQuery,
              response=MessagesOut, errors=(403, 404))
async def room_messages(request: web.Request) -> web.Response:
    """A room's chat history, newest first.

    ``before``: a message id (strictly older messages) or epoch ms (sent strictly before);
    pass ``next_before`` for the next page. Public rooms: any signed-in user; private rooms:
    the owner and current members only (403)."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    room_id = path_uuid(request, "room_id", "room")
    q = parse_query(request, MessagesQuery)
    room = await deps.rooms.repo.get(room_id)
    if room is None:
        raise HttpError(404, "not_found", "no such room")
    if not await deps.rooms.may_read_chat(room, identity.user_id):
        raise HttpError(403, "forbidden", "only the owner and members read a private room")
    before_id: uuid.UUID | None = None
    before_ms: int | None = None
    if q.before is not None:
        if q.before.isascii() and q.before.isdigit():
            before_ms = int(q.before)
            if before_ms > MAX_EPOCH_MS:
                raise HttpError(400, "bad_request", "before: time out of range")
        else:
            try:
                before_id = uuid.UUID(q.before)
            except ValueError:
                raise HttpError(400, "bad_request",
                                "before: a message id or epoch ms") from None
            if not await deps.rooms.chat.has_message(room_id, before_id):
                raise HttpError(400, "bad_request", "before: not a message of this room")
    rows = await deps.rooms.chat.page(room_id, q.limit + 1, before_ms=before_ms,
                                      before_id=before_id)
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    return model_response(MessagesOut(
        messages=[ChatMessageOut(id=m.id, user_id=m.user_id, display_name=m.display_name,
                                 text=m.text, sent_ms=m.sent_ms) for m in rows],
        next_before=str(rows[-1].id) if more else None))
