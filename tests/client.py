"""Test-side clients: the HTTP API and a recording python-socketio AsyncClient."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import socketio


class Api:
    """Thin JSON client of the HTTP API; returns (status, body)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None,
                   token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.base_url + path, json=body,
                                        headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def guest(self, name: str = "Guest") -> tuple[str, str]:
        """A new guest: (access token, user id)."""
        status, body = await self.call("POST", "/api/auth/guest", {"display_name": name})
        assert status == 201, body
        return body["access_token"], body["user"]["id"]

    async def room(self, token: str, capacity: int = 5, name: str = "Room") -> str:
        status, body = await self.call("POST", "/api/rooms",
                                       {"name": name, "capacity": capacity}, token)
        assert status == 201, body
        return str(body["room_id"])


class SioClient:
    """A real Socket.IO client (websocket, msgpack) that records every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(serializer="msgpack", reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.sio.on("*", self._record)
        self.sio.on("disconnect", self._on_disconnect)
        self.disconnected = asyncio.Event()
        self.connect_error: Any = None
        self.sio.on("connect_error", self._on_connect_error)

    async def _on_connect_error(self, data: Any = None) -> None:
        self.connect_error = data

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))
        self._changed.set()

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()
        self._changed.set()

    async def connect(self, base_url: str, token: str | None) -> None:
        await self.sio.connect(base_url, auth={"token": token} if token else None,
                               transports=["websocket"], wait_timeout=5)

    async def call(self, event: str, data: Any = None, timeout: float = 5) -> Any:
        return await self.sio.call(event, data if data is not None else {}, timeout=timeout)

    async def send(self, event: str, data: Any) -> None:
        await self.sio.emit(event, data)

    def of(self, event: str) -> list[Any]:
        return [d for e, d in self.events if e == event]

    async def wait_for(self, event: str, predicate: Callable[[Any], bool] = lambda d: True,
                       timeout: float = 5.0) -> Any:
        """The first recorded ``event`` matching ``predicate``; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while True:
                for name, data in self.events:
                    if name == event and predicate(data):
                        return data
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        if self.sio.connected:
            try:
                await asyncio.wait_for(self.sio.disconnect(), 5)
            except TimeoutError:
                pass


async def join_room(base_url: str, api: Api, made: list[SioClient], room_id: str, name: str,
                    role: str = "member", token: str | None = None
                    ) -> tuple[SioClient, dict[str, Any]]:
    """Connect a client (a new guest called ``name`` unless ``token`` is given), add it to
    ``made`` (closed by the test's fixture) and join ``room_id`` as ``role``; returns the
    client and its join ack (asserted ok)."""
    if token is None:
        token, _ = await api.guest(name)
    client = SioClient()
    made.append(client)
    await client.connect(base_url, token)
    ack = await client.call("room_join", {"room_id": room_id, "role": role})
    assert ack["ok"], ack
    return client, ack
