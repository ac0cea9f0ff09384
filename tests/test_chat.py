"""Room chat over real Socket.IO clients with real Redis and Postgres: broadcast to the
room, history in a later joiner's room_state, history paging over HTTP, text checks,
members only, the per-user rate limit, and who may read a room's history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client import Api, SioClient, join_room
from tests.conftest import RunningServer

pytestmark = pytest.mark.services


@pytest.fixture
def small_chat(server_settings: dict[str, Any]) -> dict[str, Any]:
    """Short messages and a low rate, so the limits are cheap to reach (list it before
    ``server``, which starts with these settings)."""
    server_settings.update(chat_max_chars=20, chat_per_user_per_10s=3)
    return server_settings


@pytest.fixture
def bulk_chat(server_settings: dict[str, Any]) -> dict[str, Any]:
    """A rate limit out of the way of a test that sends many messages."""
    server_settings.update(chat_per_user_per_10s=1000)
    return server_settings


async def say(client: SioClient, text: Any) -> dict[str, Any]:
    ack = await client.call("chat_send", {"text": text})
    assert ack["ok"], ack
    return dict(ack["message"])


def refused(ack: dict[str, Any], code: str) -> bool:
    return ack["ok"] is False and ack["error"]["code"] == code


async def test_chat_reaches_the_room_and_later_joiners(server: RunningServer, api: Api,
                                                       sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    ann_token, ann_id = await api.guest("Ann")
    ann, ack = await join_room(server.base_url, api, sio_clients, room_id, "Ann", token=ann_token)
    assert ack["room"]["messages"] == []
    bob, _ = await join_room(server.base_url, api, sio_clients, room_id, "Bob")
    spec, _ = await join_room(server.base_url, api, sio_clients, room_id, "Spec", "spectator")

    sent = await say(ann, "  hello\r\nworld  ")
    assert set(sent) == {"id", "user_id", "display_name", "text", "sent_ms"}
    assert (sent["user_id"], sent["display_name"], sent["text"]) == (ann_id, "Ann",
                                                                     "hello\nworld")
    assert await bob.wait_for("chat_message") == sent
    assert await spec.wait_for("chat_message") == sent
    second = await say(bob, "hi Ann")
    assert await ann.wait_for("chat_message") == second
    assert second["sent_ms"] >= sent["sent_ms"]
    assert await ann.call("time_sync", {"client_ms": 1})  # anything for Ann came before this
    assert ann.of("chat_message") == [second]  # the sender has its message in the ack

    carl, ack = await join_room(server.base_url, api, sio_clients, room_id, "Carl")
    assert ack["room"]["messages"] == [sent, second]  # oldest first
    state = await carl.wait_for("room_state")
    assert state["messages"] == [sent, second]
    # another room hears nothing
    other = await api.room(owner)
    dan, ack = await join_room(server.base_url, api, sio_clients, other, "Dan")
    assert ack["room"]["messages"] == [] and dan.of("chat_message") == []


async def test_chat_text_rules(small_chat: dict[str, Any], server: RunningServer,
                               api: Api, sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    ann, _ = await join_room(server.base_url, api, sio_clients, room_id, "Ann")
    limit = server.settings.chat_max_chars
    assert limit == 20
    assert (await say(ann, "é" * limit))["text"] == "é" * limit  # characters, not bytes
    assert (await say(ann, "two\nlines 🙂"))["text"] == "two\nlines 🙂"
    for bad in ("", "   \n ", "x" * (limit + 1), "bell\x07", "tab\there", "nul\x00",
                "esc\x1b[31m", "del\x7f", "c1\x85c1", 42, None, ["list"]):
        assert refused(await ann.call("chat_send", {"text": bad}), "bad_request"), repr(bad)
    assert refused(await ann.call("chat_send", {}), "bad_request")
    assert refused(await ann.call("chat_send", {"text": "hi", "extra": 1}), "bad_request")
    status, body = await api.call("GET", f"/api/rooms/{room_id}/messages", token=owner)
    assert status == 200 and len(body["messages"]) == 2  # refused messages were not stored


async def test_only_members_chat(server: RunningServer, api: Api,
                                 sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    ann, _ = await join_room(server.base_url, api, sio_clients, room_id, "Ann")
    spec, _ = await join_room(server.base_url, api, sio_clients, room_id, "Spec", "spectator")
    assert refused(await spec.call("chat_send", {"text": "hi"}), "forbidden")

    token, _ = await api.guest("Lobby")
    lobby = SioClient()
    sio_clients.append(lobby)
    await lobby.connect(server.base_url, token)
    assert refused(await lobby.call("chat_send", {"text": "hi"}), "forbidden")

    assert (await ann.call("room_leave"))["ok"]
    assert refused(await ann.call("chat_send", {"text": "hi"}), "forbidden")
    status, body = await api.call("GET", f"/api/rooms/{room_id}/messages", token=owner)
    assert status == 200 and body["messages"] == []


async def test_chat_rate_limit_per_user(small_chat: dict[str, Any], server: RunningServer,
                                        api: Api, sio_clients: list[SioClient]) -> None:
    assert server.settings.chat_per_user_per_10s == 3
    owner, _ = await api.guest("Owner")
    room_a, room_b = await api.room(owner), await api.room(owner)
    token, _ = await api.guest("Chatty")
    chatty, _ = await join_room(server.base_url, api, sio_clients, room_a, "Chatty", token=token)
    quiet, _ = await join_room(server.base_url, api, sio_clients, room_a, "Quiet")
    for i in range(3):
        await say(chatty, f"m{i}")
    ack = await chatty.call("chat_send", {"text": "one too many"})
    assert refused(ack, "rate_limited"), ack
    # per user: the same user on another connection in another room is held back too ...
    again, _ = await join_room(server.base_url, api, sio_clients, room_b, "Chatty", token=token)
    assert refused(await again.call("chat_send", {"text": "elsewhere"}), "rate_limited")
    # ... and another user is not
    await say(quiet, "still fine")
    assert [m["text"] for m in quiet.of("chat_message")] == ["m0", "m1", "m2"]


async def test_history_pages_back_through_the_room(bulk_chat: dict[str, Any],
                                                   server: RunningServer, api: Api,
                                                   sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    senders = [(await join_room(server.base_url, api, sio_clients, room_id, n))[0] for n in "ABC"]
    sent = [await say(senders[i % 3], f"message {i}") for i in range(55)]
    assert len({m["id"] for m in sent}) == 55

    late, ack = await join_room(server.base_url, api, sio_clients, room_id, "Late")
    assert server.settings.chat_history == 50
    assert ack["room"]["messages"] == sent[5:]  # the last 50, oldest first

    path = f"/api/rooms/{room_id}/messages"
    reader, _ = await api.guest("Reader")  # public room: any signed-in user may read
    pages: list[list[dict[str, Any]]] = []
    query = "?limit=20"
    while True:
        status, body = await api.call("GET", path + query, token=reader)
        assert status == 200, body
        pages.append(body["messages"])
        if body["next_before"] is None:
            break
        assert body["next_before"] == body["messages"][-1]["id"]
        query = f"?limit=20&before={body['next_before']}"
    assert [len(p) for p in pages] == [20, 20, 15]
    newest_first = [m for p in pages for m in p]
    assert newest_first == sent[::-1]

    status, body = await api.call("GET", path, token=reader)  # default limit 50
    assert body["messages"] == sent[:4:-1] and body["next_before"] == sent[5]["id"]
    # before as epoch ms: messages sent strictly before that instant
    cut = sent[30]["sent_ms"]
    status, body = await api.call("GET", f"{path}?limit=100&before={cut}", token=reader)
    assert status == 200 and body["next_before"] is None
    assert body["messages"] == [m for m in sent[::-1] if m["sent_ms"] < cut]
    assert sent[0] in body["messages"] and sent[30] not in body["messages"]

    for bad in ("?limit=0", "?limit=101", "?before=yesterday", "?before=-5",
                f"?before={'9' * 20}", "?before=00000000-0000-0000-0000-000000000000"):
        status, body = await api.call("GET", path + bad, token=reader)
        assert (status, body["error"]["code"]) == (400, "bad_request"), bad
    assert (await api.call("GET", path))[0] == 401
    status, body = await api.call(
        "GET", "/api/rooms/00000000-0000-0000-0000-000000000000/messages", token=reader)
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert late.of("chat_message") == []


async def test_private_history_is_for_members_and_the_owner(
        server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    status, room = await api.call("POST", "/api/rooms", {"name": "Den", "is_public": False},
                                  owner)
    assert status == 201
    path = f"/api/rooms/{room['room_id']}/messages"
    member_token, _ = await api.guest("Member")
    member, _ = await join_room(server.base_url, api, sio_clients, room["room_id"], "Member",
                           token=member_token)
    sent = await say(member, "members only")
    outsider, _ = await api.guest("Outsider")
    status, body = await api.call("GET", path, token=outsider)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    for token in (owner, member_token):  # the owner need not be in the room
        status, body = await api.call("GET", path, token=token)
        assert status == 200 and body["messages"] == [sent]
    # a member who leaves is no longer a member
    assert (await member.call("room_leave"))["ok"]
    assert (await api.call("GET", path, token=member_token))[0] == 403
