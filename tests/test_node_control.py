"""Cross-node control (issue 7, game_server.node_control): two server nodes on one Redis and
one Postgres, real Socket.IO clients. Logging out through node A closes the user's sockets
on node B; deleting an account through A closes the user's sockets on B; deleting a room
(its owner's account deletion) tells its members and spectators on B and closes them.
Other users' sockets stay connected. A node whose control subscription is killed in Redis
subscribes again and keeps acting on requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from game_server.config import Settings
from game_server.deps import DEPS
from game_server.node_control import CloseRoom, DisconnectUser, Done, decode, encode
from tests.client import Api, SioClient, join_room
from tests.conftest import RunningServer, start_server

pytestmark = pytest.mark.services


def test_message_format() -> None:
    for message in (
            DisconnectUser(op="disconnect_user", node_id="a", id="01", user_id="u",
                           reason="logout"),
            CloseRoom(op="close_room", node_id="a", id="02", room_id="r"),
            Done(op="done", node_id="b", id="02", to="a", closed=3)):
        assert decode(encode(message)) == message
    for bad in (b"", b"\xc1", b"\x80", b"\x81\xa2op\xa4nope"):
        with pytest.raises(ValueError):
            decode(bad)


@pytest.fixture
async def node_b(server_settings: dict[str, Any], server: RunningServer
                 ) -> AsyncIterator[RunningServer]:
    """A second node beside ``server`` (node A): same Redis, Postgres and prefix."""
    other = await start_server(Settings(**server_settings))
    try:
        yield other
    finally:
        await other.stop()


async def guest(api: Api, name: str) -> dict[str, Any]:
    """A new guest's Session (access and refresh token, user)."""
    status, body = await api.call("POST", "/api/auth/guest", {"display_name": name})
    assert status == 201, body
    return dict(body)


async def connect(base_url: str, token: str, made: list[SioClient]) -> SioClient:
    client = SioClient()
    made.append(client)
    await client.connect(base_url, token)
    return client


def control_stats(node: RunningServer) -> dict[str, int]:
    return dict(node.app[DEPS].node_control.stats)


async def test_logout_on_a_closes_the_users_sockets_on_b(
        server: RunningServer, node_b: RunningServer, api: Api,
        sio_clients: list[SioClient]) -> None:
    leaver, stayer = await guest(api, "Leaver"), await guest(api, "Stayer")
    room_id = await api.room(stayer["access_token"])
    on_b, _ = await join_room(node_b.base_url, api, sio_clients, room_id, "Leaver",
                              token=leaver["access_token"])
    lobby_b = await connect(node_b.base_url, leaver["access_token"], sio_clients)
    on_a = await connect(server.base_url, leaver["access_token"], sio_clients)
    bystander, _ = await join_room(node_b.base_url, api, sio_clients, room_id, "Stayer",
                                   token=stayer["access_token"])

    status, _ = await api.call("POST", "/api/auth/logout",
                               {"refresh_token": leaver["refresh_token"]},
                               leaver["access_token"])
    assert status == 204
    async with asyncio.timeout(5):
        for client in (on_a, on_b, lobby_b):
            await client.disconnected.wait()
    # B closed its two sockets on A's request and answered before A's reply
    stats_a, stats_b = control_stats(server), control_stats(node_b)
    assert stats_b["control_requests_received"] == 1
    assert stats_b["control_user_sockets_closed"] == 2
    assert stats_a["control_user_sockets_closed"] == 1
    assert stats_a.get("control_ack_timeouts", 0) == 0
    # a logout is a plain disconnect, no error event (as on the node serving the request)
    assert not on_b.of("error") and not lobby_b.of("error")
    # the member's slot is kept for the resume window, like any dropped socket
    await bystander.wait_for("member_state", lambda d: d["connected"] is False)
    assert bystander.sio.connected and not bystander.disconnected.is_set()


async def test_account_deletion_on_a_closes_the_users_socket_on_b(
        server: RunningServer, node_b: RunningServer, api: Api,
        sio_clients: list[SioClient]) -> None:
    doomed, owner = await guest(api, "Doomed"), await guest(api, "Owner")
    room_id = await api.room(owner["access_token"])
    owner_a, _ = await join_room(server.base_url, api, sio_clients, room_id, "Owner",
                                 token=owner["access_token"])
    on_b, ack = await join_room(node_b.base_url, api, sio_clients, room_id, "Doomed",
                                token=doomed["access_token"])

    # a user with no sockets
    n = await server.app[DEPS].node_control.disconnect_user("nobody", "logout")
    assert n == 0
    status, _ = await api.call("DELETE", "/api/me", {"confirm": "DELETE"},
                               doomed["access_token"])
    assert status == 204
    async with asyncio.timeout(5):
        await on_b.disconnected.wait()
    assert control_stats(node_b)["control_user_sockets_closed"] == 1
    # its socket was gone before the slot was freed: the owner sees it leave for good
    left = await owner_a.wait_for("member_left", lambda d: d["slot"] == ack["slot"])
    assert left["user_id"] == doomed["user"]["id"]
    assert owner_a.sio.connected


async def test_deleting_a_room_closes_its_sockets_on_b(
        server: RunningServer, node_b: RunningServer, api: Api,
        sio_clients: list[SioClient]) -> None:
    owner = await guest(api, "Owner")
    room_id = await api.room(owner["access_token"])
    other_room = await api.room((await guest(api, "Elsewhere"))["access_token"])
    await join_room(server.base_url, api, sio_clients, room_id, "Owner",
                    token=owner["access_token"])
    member_b, _ = await join_room(node_b.base_url, api, sio_clients, room_id, "Member")
    spectator_b, _ = await join_room(node_b.base_url, api, sio_clients, room_id, "Watcher",
                                     role="spectator")
    member_a, _ = await join_room(server.base_url, api, sio_clients, room_id, "MemberA")
    elsewhere_b, _ = await join_room(node_b.base_url, api, sio_clients, other_room, "Else")

    status, _ = await api.call("DELETE", "/api/me", {"confirm": "DELETE"},
                               owner["access_token"])
    assert status == 204
    async with asyncio.timeout(5):
        for client in (member_b, spectator_b, member_a):
            await client.disconnected.wait()
    for client in (member_b, spectator_b, member_a):  # told why before the disconnect
        assert client.of("error") == [{"code": "not_found",
                                       "message": "this room was deleted"}], client.events
    assert control_stats(node_b)["control_room_sockets_closed"] == 2
    assert elsewhere_b.sio.connected and not elsewhere_b.disconnected.is_set()
    assert not elsewhere_b.of("error")
    status, _ = await api.call("GET", f"/api/rooms/{room_id}")
    assert status == 404


async def test_a_node_resubscribes_after_losing_its_redis_connection(
        server: RunningServer, node_b: RunningServer, api: Api,
        sio_clients: list[SioClient], redis: aioredis.Redis) -> None:
    control_b = node_b.app[DEPS].node_control
    channel = control_b.channel

    async def subscribers() -> int:
        return int(dict(await redis.pubsub_numsub(channel))[channel.encode()])

    killed = control_b.client_id
    assert await subscribers() == 2 and killed is not None
    assert await redis.client_kill_filter(_id=killed) == 1
    async with asyncio.timeout(5):  # B subscribes again (RETRY_DELAYS_S)
        while not (control_b.listening.is_set() and control_b.client_id != killed):
            await asyncio.sleep(0.02)
    assert control_b.stats["control_listener_errors"] == 1
    assert await subscribers() == 2
    leaver = await guest(api, "Leaver")
    on_b = await connect(node_b.base_url, leaver["access_token"], sio_clients)
    status, _ = await api.call("POST", "/api/auth/logout",
                               {"refresh_token": leaver["refresh_token"]},
                               leaver["access_token"])
    assert status == 204
    async with asyncio.timeout(5):
        await on_b.disconnected.wait()
    assert control_stats(server).get("control_ack_timeouts", 0) == 0
