"""What every HTTP route module shares: JSON answers, errors, body and query parsing, bearer
authentication, and ``ApiRouter``, the registry each route module declares its endpoints on
(method, path, pydantic body/query/response models), so the OpenAPI document
(``game_server.openapi``) is generated from the same declarations the routes run with.

Errors are JSON ``{"error": {"code", "message"}}`` with the matching status, using the
same codes as Socket.IO acks (DESIGN.md section 3).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from game_server.auth import AuthError, Identity
from game_server.deps import Deps

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
"""Largest JSON body any route accepts (bytes); larger is 413."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    """``data`` serialized with orjson (UUIDs, datetimes and dates as ISO strings)."""
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json")


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    """A response model as JSON (``model_dump(mode="json")``)."""
    return json_response(model.model_dump(mode="json"), status)


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


class HttpError(Exception):
    """Raise from a handler to answer ``status`` with ``{"error": {code, message}}``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """HttpError and aiohttp's HTTP exceptions under /api/ become JSON errors; anything
    else is logged and answered 500 ``internal`` (the process never crashes on a request)."""
    try:
        return await handler(request)
    except HttpError as exc:
        response = error_response(exc.status, exc.code, str(exc))
        response.headers.update(exc.headers)
        return response
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            code = {404: "not_found", 405: "bad_request"}.get(exc.status, "bad_request")
            return error_response(exc.status, code, exc.reason)
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("request failed", extra={"path": request.path})
        return error_response(500, "internal", "the server could not complete the request")


def _validation_message(exc: ValidationError, default: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or default
    return f"{where}: {first['msg']}"


async def parse(request: web.Request, model: type[M]) -> M:
    """The JSON body validated as ``model``; 400 ``bad_request`` (413 if over
    MAX_BODY_BYTES) naming the first bad field."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise HttpError(413, "bad_request", "body too large")
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise HttpError(413, "bad_request", "body too large")
    try:
        return model.model_validate(orjson.loads(raw or b"{}"))
    except orjson.JSONDecodeError:
        raise HttpError(400, "bad_request", "body is not JSON") from None
    except ValidationError as exc:
        raise HttpError(400, "bad_request", _validation_message(exc, "body")) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string validated as ``model`` (each parameter once); 400 on bad input."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise HttpError(400, "bad_request", _validation_message(exc, "query")) from None


def path_uuid(request: web.Request, name: str, what: str = "resource") -> uuid.UUID:
    """A UUID path parameter; a malformed one is 404 ``not_found`` (no such ``what``)."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise HttpError(404, "not_found", f"no such {what}") from None


def authenticate(request: web.Request, deps: Deps) -> Identity:
    """The caller of a bearer access token; 401 ``unauthorized`` otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HttpError(401, "unauthorized", "missing bearer token")
    try:
        return deps.issuer.verify(token.strip())
    except AuthError as exc:
        raise HttpError(401, "unauthorized", str(exc)) from None


# -- endpoint registry ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route as the OpenAPI document describes it. ``response`` None with ``status``
    204 means no body; ``errors`` lists the statuses it may answer besides 200/201/204."""

    method: str
    path: str
    handler: Handler
    tag: str
    summary: str
    description: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    auth: bool
    errors: tuple[int, ...]


@dataclass
class ApiRouter:
    """The endpoints of one route module, declared with ``@router.route(...)``.

    The decorator only records metadata; handlers still parse their own input with
    ``parse``/``parse_query`` using the same models, so what runs and what is documented
    cannot drift apart (tests/test_openapi.py checks every route is declared)."""

    tag: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, *, body: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
              status: int = 200, auth: bool = True,
              errors: Sequence[int] = ()) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            doc = inspect.cleandoc(handler.__doc__ or "").strip()
            summary, _, description = doc.partition("\n")
            implied = [400] if body or query else []
            if auth:
                implied.append(401)
            self.endpoints.append(Endpoint(
                method.upper(), path, handler, self.tag, summary.strip() or handler.__name__,
                description.strip(), body, query, response, status, auth,
                tuple(sorted(set(implied) | set(errors)))))
            return handler
        return register

    def add_to(self, app: web.Application) -> None:
        for e in self.endpoints:
            app.router.add_route(e.method, e.path, e.handler)
