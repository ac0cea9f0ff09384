"""End to end over real sockets: rooms, slots, resume, frames relay, abuse handling."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from avatars.frame import decode_batch, encode_frame
from tests.client import Api, SioClient, join_room
from tests.conftest import RunningServer


def frame(seq: int, level: float = 0.5) -> bytes:
    scores = [(level + i / 100.0) % 1.0 for i in range(51)]
    return encode_frame(seq=seq, capture_ms=1000 + seq, scores=scores, yaw_deg=seq % 30,
                        pitch_deg=-5.0, roll_deg=2.5, tz_mm=-450, quality=200)


def received_frames(client: SioClient) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for payload in client.of("frames"):
        out.extend(decode_batch(payload)[1])
    return out


async def test_members_and_spectator_relay(server: RunningServer, api: Api,
                                           sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    ann, ack_a = await join_room(server.base_url, api, sio_clients, room_id, "Ann")
    bob, ack_b = await join_room(server.base_url, api, sio_clients, room_id, "Bob")
    spec, ack_s = await join_room(server.base_url, api, sio_clients, room_id, "Spec", "spectator")
    assert {ack_a["slot"], ack_b["slot"]} == {0, 1}
    assert ack_s["slot"] is None and ack_s["room"]["spectators"] == 1
    assert [m["display_name"] for m in ack_s["room"]["members"]] == ["Ann", "Bob"]
    await ann.wait_for("member_joined", lambda d: d["display_name"] == "Bob")

    sent_a = [frame(i, 0.1) for i in range(5)]
    for f in sent_a:
        await ann.send("frame", f)
        await asyncio.sleep(0.05)  # > one tick: each frame goes out in its own batch
    await bob.send("frame", frame(99, 0.9))

    slot_a, slot_b = ack_a["slot"], ack_b["slot"]
    await bob.wait_for("frames", lambda d: (slot_a, sent_a[-1]) in decode_batch(d)[1])
    await spec.wait_for("frames", lambda d: (slot_b, frame(99, 0.9)) in decode_batch(d)[1])
    await ann.wait_for("frames", lambda d: any(s == slot_b for s, _ in decode_batch(d)[1]))
    # bytes arrive unchanged and in order; a member never receives its own frames
    assert [f for s, f in received_frames(bob) if s == slot_a] == sent_a
    assert [f for s, f in received_frames(spec) if s == slot_a] == sent_a
    assert all(s != slot_a for s, _ in received_frames(ann))
    assert all(s != slot_b for s, _ in received_frames(bob))

    # the room hears when someone starts or stops watching
    assert (await ann.wait_for("spectators"))["count"] == 1
    assert (await spec.call("room_leave"))["ok"]
    await ann.wait_for("spectators", lambda d: d["count"] == 0)
    assert [d["count"] for d in bob.of("spectators")] == [1, 0]


async def test_frames_stay_in_their_room(server: RunningServer, api: Api,
                                         sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_a, room_b = await api.room(owner), await api.room(owner)
    a1, _ = await join_room(server.base_url, api, sio_clients, room_a, "A1")
    a2, _ = await join_room(server.base_url, api, sio_clients, room_a, "A2")
    b1, _ = await join_room(server.base_url, api, sio_clients, room_b, "B1")
    b2, _ = await join_room(server.base_url, api, sio_clients, room_b, "B2", "spectator")
    for i in range(10):
        await a1.send("frame", frame(i, 0.3))
        await asyncio.sleep(0.01)
    await a2.wait_for("frames", lambda d: decode_batch(d)[1][-1][1] == frame(9, 0.3))
    await b1.send("frame", frame(1, 0.7))
    await b2.wait_for("frames")
    await asyncio.sleep(0.1)
    assert received_frames(b1) == []
    assert {f for _, f in received_frames(b2)} == {frame(1, 0.7)}
    assert frame(1, 0.7) not in {f for _, f in received_frames(a2)}


async def test_concurrent_joins_respect_capacity_and_unique_slots(
        server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner, capacity=10)
    tokens = [t for t, _ in await asyncio.gather(*(api.guest(f"U{i}") for i in range(50)))]
    clients = [SioClient() for _ in tokens]
    sio_clients.extend(clients)
    await asyncio.gather(*(c.connect(server.base_url, t)
                           for c, t in zip(clients, tokens, strict=True)))
    acks = await asyncio.gather(*(c.call("room_join", {"room_id": room_id}, timeout=15)
                                  for c in clients))
    admitted = [a for a in acks if a["ok"]]
    refused = [a for a in acks if not a["ok"]]
    assert len(admitted) == 10
    assert sorted(a["slot"] for a in admitted) == list(range(10))
    assert {a["error"]["code"] for a in refused} == {"room_full"}
    status, body = await api.call("GET", f"/api/rooms/{room_id}")
    assert status == 200 and sorted(m["slot"] for m in body["members"]) == list(range(10))


async def test_resume_within_window_keeps_slot(server: RunningServer, api: Api,
                                               sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    watcher, _ = await join_room(server.base_url, api, sio_clients, room_id, "Watcher")
    token, user_id = await api.guest("Rita")
    first = SioClient()
    sio_clients.append(first)
    await first.connect(server.base_url, token)
    ack = await first.call("room_join", {"room_id": room_id})
    slot, resume_token = ack["slot"], ack["resume_token"]
    await first.sio.disconnect()  # network drop: the slot is kept
    await watcher.wait_for("member_state", lambda d: d["slot"] == slot and not d["connected"])

    # someone else joining meanwhile must not get Rita's slot
    other, other_ack = await join_room(server.base_url, api, sio_clients, room_id, "Other")
    assert other_ack["slot"] != slot

    second = SioClient()
    sio_clients.append(second)
    await second.connect(server.base_url, token)
    ack2 = await second.call("room_join", {"room_id": room_id, "resume_token": resume_token})
    assert ack2["ok"] and ack2["slot"] == slot and ack2["resumed"] is True
    assert ack2["resume_token"] != resume_token  # rotated on every join
    rita = [m for m in ack2["room"]["members"] if m["user_id"] == user_id]
    assert rita == [{"slot": slot, "user_id": user_id, "display_name": "Rita",
                     "kind": "live", "attention": "idle", "connected": True}]
    # frames flow again from the resumed socket
    await second.send("frame", frame(5))
    await watcher.wait_for("frames", lambda d: (slot, frame(5)) in decode_batch(d)[1])


@pytest.fixture
def short_resume(server_settings: dict[str, Any]) -> None:
    server_settings["resume_window_s"] = 1


async def test_slot_freed_after_resume_window(short_resume: None, server: RunningServer,
                                              api: Api, sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner, capacity=2)
    watcher, _ = await join_room(server.base_url, api, sio_clients, room_id, "Watcher")
    leaver, ack = await join_room(server.base_url, api, sio_clients, room_id, "Leaver")
    await leaver.sio.disconnect()
    left = await watcher.wait_for("member_left", lambda d: d["slot"] == ack["slot"], 5)
    assert left["display_name"] == "Leaver"
    newcomer, ack2 = await join_room(server.base_url, api, sio_clients, room_id, "Newcomer")
    assert ack2["slot"] == ack["slot"]


async def test_leave_frees_slot_and_same_user_takes_over(
        server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner, capacity=2)
    watcher, _ = await join_room(server.base_url, api, sio_clients, room_id, "Watcher")
    token, _ = await api.guest("Twin")
    tab1, tab2 = SioClient(), SioClient()
    sio_clients.extend([tab1, tab2])
    await tab1.connect(server.base_url, token)
    await tab2.connect(server.base_url, token)
    ack1 = await tab1.call("room_join", {"room_id": room_id})
    ack2 = await tab2.call("room_join", {"room_id": room_id})
    assert ack1["slot"] == ack2["slot"]  # one slot per user: the newer tab takes it over
    err = await tab1.wait_for("error")
    assert err["code"] == "conflict"
    await asyncio.wait_for(tab1.disconnected.wait(), 5)
    assert (await tab2.call("room_leave"))["ok"]
    await watcher.wait_for("member_left", lambda d: d["slot"] == ack1["slot"])
    assert (await tab2.call("room_leave"))["error"]["code"] == "conflict"


async def test_joining_another_room_ends_the_first_membership(
        server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    """One live session per user: a second tab joining room B frees the user's slot in room
    A (its members see member_left) and the first tab is told and disconnected."""
    owner, _ = await api.guest("Owner")
    room_a = await api.room(owner, capacity=3)
    room_b = await api.room(owner, capacity=3)
    watcher, _ = await join_room(server.base_url, api, sio_clients, room_a, "Watcher")
    token, user_id = await api.guest("Roamer")
    tab1, tab2 = SioClient(), SioClient()
    sio_clients.extend([tab1, tab2])
    await tab1.connect(server.base_url, token)
    await tab2.connect(server.base_url, token)
    slot_a = (await tab1.call("room_join", {"room_id": room_a}))["slot"]
    ack = await tab2.call("room_join", {"room_id": room_b})
    assert ack["ok"] and [m["user_id"] for m in ack["room"]["members"]] == [user_id]
    err = await tab1.wait_for("error")
    assert err == {"code": "conflict",
                   "message": "you joined another room from another connection"}
    await asyncio.wait_for(tab1.disconnected.wait(), 5)
    left = await watcher.wait_for("member_left", lambda d: d["slot"] == slot_a)
    assert left["user_id"] == user_id
    status, room = await api.call("GET", f"/api/rooms/{room_a}")
    assert status == 200 and [m["display_name"] for m in room["members"]] == ["Watcher"]
    # the same socket moving between rooms is a plain leave and join
    assert (await tab2.call("room_join", {"room_id": room_a}))["ok"]
    status, room = await api.call("GET", f"/api/rooms/{room_b}")
    assert room["members"] == []


async def test_malformed_frames_disconnect_but_room_keeps_working(
        server: RunningServer, api: Api, sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    good_a, ack_a = await join_room(server.base_url, api, sio_clients, room_id, "GoodA")
    good_b, _ = await join_room(server.base_url, api, sio_clients, room_id, "GoodB")
    bad, _ = await join_room(server.base_url, api, sio_clients, room_id, "Bad")
    garbage = [b"", b"\x00" * 72, frame(1)[:-1], b"\xa1" * 72, "text", 12345, [1, 2]]
    for i in range(1000):
        if bad.disconnected.is_set():
            break
        try:
            await bad.send("frame", garbage[i % len(garbage)])
        except Exception:
            break  # the server hung up mid-flood
    await asyncio.wait_for(bad.disconnected.wait(), 5)
    codes = {e["code"] for e in bad.of("error")}
    assert "bad_request" in codes
    assert any("disconnecting" in e["message"] for e in bad.of("error"))
    stats = server.app[__import__("game_server.deps", fromlist=["DEPS"]).DEPS].namespace.stats
    assert stats["clients_cut_off"] == 1
    assert stats["frames_dropped_length"] > 0 and stats["frames_dropped_kind"] > 0
    # nothing of the garbage reached anyone; the good members still relay
    assert all(len(f) == 72 and f[0] == 0xA1 for _, f in received_frames(good_b))
    await good_a.send("frame", frame(7))
    await good_b.wait_for("frames", lambda d: (ack_a["slot"], frame(7)) in decode_batch(d)[1])


async def test_frame_flood_is_rate_limited(server: RunningServer, api: Api,
                                           sio_clients: list[SioClient]) -> None:
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    flood, _ = await join_room(server.base_url, api, sio_clients, room_id, "Flood")
    for i in range(60):  # burst of 30 allowed, then over the 45 fps budget
        await flood.send("frame", frame(i))
    err = await flood.wait_for("error", lambda e: e["code"] == "rate_limited")
    assert "rate" in err["message"]


async def test_connect_and_command_errors(server: RunningServer, api: Api,
                                          sio_clients: list[SioClient]) -> None:
    anonymous = SioClient()
    sio_clients.append(anonymous)
    for bad_token in ("not-a-jwt", None):
        with pytest.raises(Exception, match="failed to connect"):
            await anonymous.connect(server.base_url, bad_token)
        assert anonymous.connect_error["data"] == {"code": "unauthorized"}
    token, _ = await api.guest("Ed")
    ed = SioClient()
    sio_clients.append(ed)
    await ed.connect(server.base_url, token)
    cases = [
        ({"room_id": "nope"}, "bad_request"),
        ({"room_id": "00000000-0000-0000-0000-000000000000"}, "not_found"),
        ({"room_id": "00000000-0000-0000-0000-000000000000", "role": "king"}, "bad_request"),
        ({"room_id": "00000000-0000-0000-0000-000000000000", "extra": 1}, "bad_request"),
        ("a string", "bad_request"),
    ]
    for payload, code in cases:
        ack = await ed.call("room_join", payload)
        assert ack == {"ok": False, "error": {"code": code, "message": ack["error"]["message"]}}
    ts = await ed.call("time_sync", {"client_ms": 123.5})
    assert ts["ok"] and ts["client_ms"] == 123.5 and ts["server_ms"] > 1.7e12
    # frames from a socket that is in no room are ignored, the connection stays up
    await ed.send("frame", frame(1))
    assert (await ed.call("time_sync", {"client_ms": 1}))["ok"]
