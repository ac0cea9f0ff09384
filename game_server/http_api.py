"""HTTP routes: health, readiness, guest auth, accounts, rooms.

Errors are JSON ``{"error": {"code", "message"}}`` with the matching status, using the
same codes as Socket.IO acks. Login and register are rate limited per client IP (and login
per username too) with shared Redis counters (``rate_limit``); over the limit is 429
``rate_limited`` with ``Retry-After`` (s). The client IP is the TCP peer
(``request.remote``): behind a reverse proxy every client would share the proxy's address,
so set ``trust_forwarded_for`` there (and only there) to read the last ``X-Forwarded-For``
entry, the one the proxy itself appended.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from game_server.accounts import AccountError, Session
from game_server.auth import AuthError, Identity
from game_server.deps import DEPS, Deps
from game_server.passwords import PasswordBusy
from game_server.schemas import CreateRoomBody, GuestBody, LoginBody, RefreshBody, RegisterBody
from rooms.store import RoomNotFound

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json")


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as exc:
        response = error_response(exc.status, exc.code, str(exc))
        response.headers.update(exc.headers)
        return response
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return error_response(exc.status, "not_found" if exc.status == 404
                                  else "bad_request", exc.reason)
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("request failed", extra={"path": request.path})
        return error_response(500, "internal", "the server could not complete the request")


async def parse(request: web.Request, model: type[BaseModel]) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise HttpError(413, "bad_request", "body too large")
    raw = await request.read()
    try:
        return model.model_validate(orjson.loads(raw or b"{}"))
    except orjson.JSONDecodeError:
        raise HttpError(400, "bad_request", "body is not JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise HttpError(400, "bad_request", f"{where}: {first['msg']}") from None


def authenticate(request: web.Request, deps: Deps) -> Identity:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HttpError(401, "unauthorized", "missing bearer token")
    try:
        return deps.issuer.verify(token.strip())
    except AuthError as exc:
        raise HttpError(401, "unauthorized", str(exc)) from None


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "node_id": request.app[DEPS].node_id})


async def readyz(request: web.Request) -> web.Response:
    """200 when Redis and Postgres answer within 2 s and the Socket.IO listener runs."""
    deps = request.app[DEPS]
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await deps.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    try:
        async with asyncio.timeout(2):
            await deps.pool.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"error: {type(exc).__name__}"
    listener = getattr(deps.sio.manager, "thread", None)
    checks["pubsub"] = "ok" if listener is not None and not listener.done() else "error: down"
    ready = all(v == "ok" for v in checks.values())
    return json_response({"ready": ready, "checks": checks}, 200 if ready else 503)


async def create_guest(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    body = await parse(request, GuestBody)
    user = await deps.users.create_guest(body.display_name)
    token = deps.issuer.issue(Identity(user.id, user.display_name), int(time.time()))
    return json_response({"access_token": token, "token_type": "bearer",
                          "expires_in": deps.issuer.ttl_s,
                          "user": {"id": str(user.id), "display_name": user.display_name,
                                   "is_guest": user.is_guest}}, 201)


def client_ip(request: web.Request, trust_forwarded_for: bool) -> str:
    """The address rate limits count against (see the module docstring)."""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"


async def rate_limit(deps: Deps, scope: str, ident: str, limit: int) -> None:
    """Count one hit; raises 429 ``rate_limited`` with Retry-After once over ``limit``."""
    verdict = await deps.limiter.hit(scope, ident, limit)
    if not verdict.allowed:
        raise HttpError(429, "rate_limited", "too many attempts; retry later",
                        {"Retry-After": str(verdict.retry_after_s)})


ACCOUNT_STATUS = {"unauthorized": 401, "conflict": 409}


async def account_call(call: Awaitable[Session]) -> Session:
    """Await an AccountService call, mapping its errors to HTTP answers."""
    try:
        return await call
    except AccountError as exc:
        raise HttpError(ACCOUNT_STATUS.get(exc.code, 400), exc.code, str(exc)) from None
    except PasswordBusy:
        raise HttpError(503, "rate_limited", "server busy; retry shortly",
                        {"Retry-After": "1"}) from None


async def register(request: web.Request) -> web.Response:
    """A new account; with a guest's bearer token, that guest becomes the account."""
    deps = request.app[DEPS]
    s = deps.settings
    await rate_limit(deps, "register_ip", client_ip(request, s.trust_forwarded_for),
                     s.register_per_ip_per_min)
    guest = authenticate(request, deps) if "Authorization" in request.headers else None
    body = await parse(request, RegisterBody)
    session = await account_call(deps.accounts.register(
        body.username, body.password, body.display_name, body.timezone, guest))
    return json_response(session.to_json(), 201)


async def login(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    s = deps.settings
    await rate_limit(deps, "login_ip", client_ip(request, s.trust_forwarded_for),
                     s.login_per_ip_per_min)
    body = await parse(request, LoginBody)
    await rate_limit(deps, "login_user", body.username, s.login_per_username_per_min)
    session = await account_call(deps.accounts.login(body.username, body.password))
    return json_response(session.to_json())


async def refresh(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    body = await parse(request, RefreshBody)
    session = await account_call(deps.accounts.refresh(body.refresh_token))
    return json_response(session.to_json())


async def logout(request: web.Request) -> web.Response:
    """Revoke the refresh token's family and close the user's sockets on this node."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    body = await parse(request, RefreshBody)
    await deps.accounts.logout(identity.user_id, body.refresh_token)
    await deps.disconnect_user(str(identity.user_id))
    return web.Response(status=204)


async def create_room(request: web.Request) -> web.Response:
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


async def get_room(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    try:
        room_id = uuid.UUID(request.match_info["room_id"])
    except ValueError:
        raise HttpError(404, "not_found", "no such room") from None
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


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/api/auth/guest", create_guest)
    app.router.add_post("/api/auth/register", register)
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/refresh", refresh)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_post("/api/rooms", create_room)
    app.router.add_get("/api/rooms/{room_id}", get_room)
