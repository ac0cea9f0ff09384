"""HTTP routes of accounts: guest, register, login, refresh, logout (``/api/auth/...``).

Login and register are rate limited per client IP (and login per username too) with
shared Redis counters (``rate_limit``); over the limit is 429 ``rate_limited`` with
``Retry-After`` (s). The client IP is the TCP peer (``request.remote``): behind a reverse
proxy every client would share the proxy's address, so set ``trust_forwarded_for`` there
(and only there) to read the last ``X-Forwarded-For`` entry, the one the proxy itself
appended.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

from aiohttp import web
from pydantic import BaseModel

from game_server.accounts import AccountError, Session
from game_server.deps import DEPS, Deps
from game_server.http_common import (
    ApiRouter,
    HttpError,
    authenticate,
    json_response,
    parse,
)
from game_server.passwords import PasswordBusy
from game_server.schemas import GuestBody, LoginBody, RefreshBody, RegisterBody

router = ApiRouter("auth")


class UserOut(BaseModel):
    id: uuid.UUID
    display_name: str
    is_guest: bool
    username: str | None = None
    timezone: str = "UTC"


class SessionOut(BaseModel):
    """An access token (``expires_in`` s) and the refresh token that renews it once."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    user: UserOut


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


@router.route("POST", "/api/auth/guest", body=GuestBody, response=SessionOut,
              status=201, auth=False)
async def create_guest(request: web.Request) -> web.Response:
    """Create a guest user: an access token and a refresh token, as for an account (the
    guest keeps its user across reconnects and token refreshes; registering keeps it)."""
    deps = request.app[DEPS]
    body = await parse(request, GuestBody)
    session = await account_call(deps.accounts.guest(body.display_name))
    return json_response(session.to_json(), 201)


@router.route("POST", "/api/auth/register", body=RegisterBody, response=SessionOut,
              status=201, auth=False, errors=(409, 429, 503))
async def register(request: web.Request) -> web.Response:
    """Register an account.

    With a guest's bearer token, that guest becomes the account and keeps its progress."""
    deps = request.app[DEPS]
    s = deps.settings
    await rate_limit(deps, "register_ip", client_ip(request, s.trust_forwarded_for),
                     s.register_per_ip_per_min)
    guest = authenticate(request, deps) if "Authorization" in request.headers else None
    body = await parse(request, RegisterBody)
    session = await account_call(deps.accounts.register(
        body.username, body.password, body.display_name, body.timezone, guest))
    return json_response(session.to_json(), 201)


@router.route("POST", "/api/auth/login", body=LoginBody, response=SessionOut, auth=False,
              errors=(401, 429, 503))
async def login(request: web.Request) -> web.Response:
    """Log in with username and password."""
    deps = request.app[DEPS]
    s = deps.settings
    await rate_limit(deps, "login_ip", client_ip(request, s.trust_forwarded_for),
                     s.login_per_ip_per_min)
    body = await parse(request, LoginBody)
    await rate_limit(deps, "login_user", body.username, s.login_per_username_per_min)
    session = await account_call(deps.accounts.login(body.username, body.password))
    return json_response(session.to_json())


@router.route("POST", "/api/auth/refresh", body=RefreshBody, response=SessionOut,
              auth=False, errors=(401,))
async def refresh(request: web.Request) -> web.Response:
    """Trade a refresh token for a new pair.

    Each refresh token works once; presenting a used one revokes its whole family
    (RFC 9700 section 4.14)."""
    deps = request.app[DEPS]
    body = await parse(request, RefreshBody)
    session = await account_call(deps.accounts.refresh(body.refresh_token))
    return json_response(session.to_json())


@router.route("POST", "/api/auth/logout", body=RefreshBody, status=204)
async def logout(request: web.Request) -> web.Response:
    """Revoke the refresh token's family and close the user's sockets on every node.

    This node closes its own sockets of the user at once; the other nodes close theirs on
    the control channel's request (game_server.node_control), and the answer waits for them
    (at most ``NodeControl.ack_timeout_s``, 2 s). A node cut off from Redis at that moment
    misses the request. The access token stays valid until it expires."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    body = await parse(request, RefreshBody)
    await deps.accounts.logout(identity.user_id, body.refresh_token)
    await deps.node_control.disconnect_user(str(identity.user_id), "logout")
    return web.Response(status=204)
