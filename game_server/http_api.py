"""Every HTTP route: health and readiness here, the API from the route modules
(``api_auth``, ``api_rooms``, ``api_me``, ``api_stats``, ``api_privacy``, ``api_video``),
and the OpenAPI document generated from their declarations with its docs page.

A new route module declares ``router = ApiRouter(tag)`` and is listed in ``ROUTERS``.
"""

from __future__ import annotations

import asyncio
from importlib import metadata

from aiohttp import web
from pydantic import BaseModel

from game_server import (
    api_auth,
    api_ghosts,
    api_me,
    api_privacy,
    api_rooms,
    api_stats,
    api_video,
)
from game_server.deps import DEPS
from game_server.http_common import ApiRouter, Endpoint, errors_middleware, json_response
from game_server.openapi import docs_page, document

__all__ = ["add_routes", "errors_middleware", "endpoints"]

system = ApiRouter("system")


class HealthOut(BaseModel):
    status: str
    node_id: str


class ReadyOut(BaseModel):
    """``checks`` maps redis, postgres and pubsub to "ok" or "error: <reason>"."""

    ready: bool
    checks: dict[str, str]


@system.route("GET", "/healthz", response=HealthOut, auth=False)
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok", "node_id": request.app[DEPS].node_id})


@system.route("GET", "/readyz", response=ReadyOut, auth=False, errors=(503,))
async def readyz(request: web.Request) -> web.Response:
    """Readiness: Redis and Postgres answer within 2 s and the Socket.IO listener runs."""
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


ROUTERS: tuple[ApiRouter, ...] = (system, api_auth.router, api_rooms.router, api_me.router,
                                  api_stats.router, api_privacy.router, api_video.router,
                                  api_ghosts.router)


def endpoints() -> list[Endpoint]:
    """Every declared endpoint, in registration order."""
    return [e for r in ROUTERS for e in r.endpoints]


def _version() -> str:
    try:
        return metadata.version("studyverse")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def add_routes(app: web.Application) -> None:
    """Register every router's endpoints plus ``/api/openapi.json`` and ``/api/docs``."""
    for router in ROUTERS:
        router.add_to(app)
    spec = document(endpoints(), title="Studyverse", version=_version())
    page = docs_page(spec)

    async def openapi_json(request: web.Request) -> web.Response:
        return json_response(spec)

    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/api/docs", docs)
