"""Ghost recordings end to end: a member streams a real face recording through a fast focus
phase; the server stores it as 1 s chunks that decode to ~10 fps samples with the attention
and timer events; the read/delete API and its visibility rules; recording turned off."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import pytest

from avatars.timeline import ATTENTION, TIMER, decode_chunk, join_chunks
from game_server.config import Settings
from tests.client import Api, SioClient
from tests.conftest import RunningServer, start_server
from tests.test_game_e2e import SECOND, Streamer

pytestmark = pytest.mark.services

FOCUS_S = 3


def settings(server_settings: dict[str, Any]) -> Settings:
    server_settings.update(
        timer_focus_choices_min=(), timer_min_phase_s=0.2, ghost_chunk_ms=1000,
        ghost_pass_s=0.2,
        attention={"calibration_ms": 300, "eyes_closed_after_ms": 300,
                   "distracted_after_ms": 5000, "recover_after_ms": 300})
    return Settings(**server_settings)


async def joined(node: RunningServer, api: Api, made: list[SioClient], name: str,
                 room_id: str | None = None) -> tuple[SioClient, str, str, str]:
    """A guest connected and joined as a member: (client, token, user id, room id); a new
    room of theirs when ``room_id`` is None."""
    token, user_id = await api.guest(name)
    if room_id is None:
        room_id = await api.room(token)
    client = SioClient()
    made.append(client)
    await client.connect(node.base_url, token)
    ack = await client.call("room_join", {"room_id": room_id})
    assert ack["ok"], ack
    return client, token, user_id, room_id


async def ended_recordings(database_url: str, user_id: str, timeout: float = 10
                           ) -> list[asyncpg.Record]:
    """The user's recordings once one of them has ended (fails after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            rows = await conn.fetch("SELECT * FROM ghost_recordings WHERE user_id = $1",
                                    uuid.UUID(user_id))
            if rows and all(r["ended_at"] is not None for r in rows):
                return rows
            assert time.monotonic() < deadline, [dict(r) for r in rows]
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def sql(database_url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def test_focus_phase_is_recorded_and_served(
        server_settings: dict[str, Any], api: Api, sio_clients: list[SioClient],
        database_url: str) -> None:
    node = await start_server(settings(server_settings))
    try:
        owner, token, user_id, room_id = await joined(node, api, sio_clients, "Owner")
        with Streamer(owner) as face:
            await owner.wait_for("member_state", lambda d: d["attention"] == "focused")
            ack = await owner.call("timer_start", {"focus_min": FOCUS_S * SECOND,
                                                   "break_min": SECOND, "cycles": 1})
            assert ack["ok"], ack
            phase_start = ack["timer"]["phase_started_ms"]
            await asyncio.sleep(1.0)
            face.eyes_shut = True
            await owner.wait_for("member_state", lambda d: d["attention"] == "eyes_closed",
                                 timeout=3)
            face.eyes_shut = False
            await owner.wait_for("timer", lambda t: t["phase"] != "focus", timeout=5)
            rows = await ended_recordings(database_url, user_id)
        assert len(rows) == 1
        rec = rows[0]
        assert str(rec["room_id"]) == room_id and rec["phase_index"] == 0
        assert abs(int(rec["started_at"].timestamp() * 1000) - phase_start) <= 1
        assert abs(rec["duration_ms"] - FOCUS_S * 1000) <= 300, dict(rec)
        assert rec["visibility"] == "private"
        assert rec["present_ms"] == rec["duration_ms"]
        # focused but for the ~1 s with eyes shut (and its 0.3 s onset and recovery)
        assert 0.4 * FOCUS_S * 1000 <= rec["focused_ms"] <= FOCUS_S * 1000 - 300, dict(rec)

        conn = await asyncpg.connect(database_url)
        try:
            chunks = await conn.fetch("SELECT idx, start_ms, samples, data FROM ghost_chunks "
                                      "WHERE recording_id = $1 ORDER BY idx", rec["id"])
        finally:
            await conn.close()
        assert [c["idx"] for c in chunks] == list(range(len(chunks)))
        assert len(chunks) == rec["chunk_count"]
        assert FOCUS_S <= len(chunks) <= FOCUS_S + 1  # the last one may hold a few samples
        assert rec["bytes"] == sum(len(c["data"]) for c in chunks)
        decoded = [decode_chunk(c["data"]) for c in chunks]
        for c, d in zip(chunks, decoded, strict=True):
            assert d.start_ms == c["start_ms"] == 1000 * c["idx"]
            assert len(d.samples) == c["samples"]
            assert all(d.start_ms <= s.t_ms < d.start_ms + 1000 for s in d.samples)
        samples, events = join_chunks(decoded)
        # ~10 fps over the whole phase: a sample in (nearly) every 100 ms window
        assert samples[0].t_ms <= 200 and samples[-1].t_ms >= FOCUS_S * 1000 - 300
        in_phase = [s for s in samples if s.t_ms < FOCUS_S * 1000]
        assert 0.85 * FOCUS_S * 10 <= len(in_phase) <= FOCUS_S * 10, len(in_phase)
        assert all(s.flags & 1 for s in samples)  # the face was in view throughout
        states = [e.payload["state"] for e in events if e.kind == ATTENTION]
        assert states[0] == "focused" and "eyes_closed" in states, states
        assert states[-1] == "focused", states
        closed = next(e for e in events if e.kind == ATTENTION
                      and e.payload["state"] == "eyes_closed")
        assert 1000 <= closed.t_ms <= 2500, closed
        timers = [e.payload for e in events if e.kind == TIMER]
        assert timers[0]["phase"] == "focus" and timers[-1]["phase"] != "focus", timers

        # the API: the owner sees it, with its chunks
        status, body = await api.call("GET", "/api/ghosts", token=token)
        assert status == 200 and [g["id"] for g in body["ghosts"]] == [str(rec["id"])]
        path = f"/api/ghosts/{rec['id']}"
        status, got = await api.call("GET", path, token=token)
        assert status == 200, got
        assert got["mine"] and got["user_id"] == user_id and got["display_name"] == "Owner"
        assert got["chunk_count"] == len(chunks) and got["bytes"] == rec["bytes"]
        assert got["duration_ms"] == rec["duration_ms"] and got["ended_ms"] is not None
        assert got["focus_share"] == pytest.approx(rec["focused_ms"] / rec["present_ms"])
        async with api.session.get(f"{node.base_url}{path}/chunks/1", headers={
                "Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/octet-stream"
            assert await resp.read() == bytes(chunks[1]["data"])
        status, _ = await api.call("GET", f"{path}/chunks/999", token=token)
        assert status == 404

        # someone else: a private recording is forbidden to them
        other_token, _ = await api.guest("Other")
        status, body = await api.call("GET", path, token=other_token)
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, _ = await api.call("GET", f"{path}/chunks/0", token=other_token)
        assert status == 403
        status, body = await api.call("GET", f"/api/ghosts/{uuid.uuid4()}", token=other_token)
        assert status == 404 and body["error"]["code"] == "not_found"
        status, body = await api.call("GET", "/api/ghosts", token=other_token)
        assert body["ghosts"] == []
        status, body = await api.call("DELETE", path, token=other_token)
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, _ = await api.call("PATCH", path, {"visibility": "link"}, other_token)
        assert status == 403
        status, _ = await api.call("GET", path, token=None)
        assert status == 401
        status, _ = await api.call("PATCH", path, {"visibility": "public"}, token)
        assert status == 400

        # link: anyone signed in with the id; room: the room's people only
        status, got = await api.call("PATCH", path, {"visibility": "link"}, token)
        assert status == 200 and got["visibility"] == "link"
        status, got = await api.call("GET", path, token=other_token)
        assert status == 200 and not got["mine"]
        assert (await api.call("GET", "/api/ghosts", token=other_token))[1]["ghosts"] == []
        status, _ = await api.call("PATCH", path, {"visibility": "room"}, token)
        assert status == 200
        assert (await api.call("GET", path, token=other_token))[0] == 403
        status, body = await api.call("GET", "/api/ghosts", token=token)
        assert [g["visibility"] for g in body["ghosts"]] == ["room"]

        # the owner deletes it: the row and every chunk go
        status, _ = await api.call("DELETE", path, token=token)
        assert status == 204
        assert await sql(database_url, "SELECT count(*) FROM ghost_chunks "
                         "WHERE recording_id = $1", rec["id"]) == 0
        assert await sql(database_url, "SELECT count(*) FROM ghost_recordings") == 0
        assert (await api.call("GET", path, token=token))[0] == 404
        assert (await api.call("DELETE", path, token=token))[0] == 404
    finally:
        await node.stop()


async def test_room_recordings_are_shared_with_the_room(
        server_settings: dict[str, Any], api: Api, sio_clients: list[SioClient],
        database_url: str) -> None:
    """Recording off keeps nothing; a ``room`` recording is listed to the room's people."""
    node = await start_server(settings(server_settings))
    try:
        owner_token, owner_id = await api.guest("Owner")
        status, body = await api.call("GET", "/api/me/recording", token=owner_token)
        assert status == 200 and body == {"enabled": True, "visibility": "private"}
        status, body = await api.call("PUT", "/api/me/recording",
                                      {"enabled": False, "visibility": "private"}, owner_token)
        assert status == 200 and body["enabled"] is False
        status, _ = await api.call("PUT", "/api/me/recording", {"enabled": "x"}, owner_token)
        assert status == 400
        room_id = await api.room(owner_token)
        owner = SioClient()
        sio_clients.append(owner)
        await owner.connect(node.base_url, owner_token)
        assert (await owner.call("room_join", {"room_id": room_id}))["ok"]

        member, member_token, member_id, _ = await joined(node, api, sio_clients, "Member",
                                                          room_id)
        status, _ = await api.call("PUT", "/api/me/recording",
                                   {"enabled": True, "visibility": "room"}, member_token)
        assert status == 200
        # settings are read at join: join again to apply them
        assert (await member.call("room_join", {"room_id": room_id}))["ok"]
        with Streamer(owner), Streamer(member):
            await owner.wait_for("member_state", lambda d: d["attention"] == "focused")
            ack = await owner.call("timer_start", {"focus_min": 1.5 * SECOND,
                                                   "break_min": SECOND, "cycles": 1})
            assert ack["ok"], ack
            await owner.wait_for("timer", lambda t: t["phase"] != "focus", timeout=5)
            rows = await ended_recordings(database_url, member_id)
        assert len(rows) == 1 and rows[0]["visibility"] == "room"
        assert rows[0]["chunk_count"] >= 1
        assert await sql(database_url, "SELECT count(*) FROM ghost_recordings "
                         "WHERE user_id = $1", uuid.UUID(owner_id)) == 0

        ghost = str(rows[0]["id"])
        status, body = await api.call("GET", "/api/ghosts", token=owner_token)
        assert status == 200 and [g["id"] for g in body["ghosts"]] == [ghost]
        assert body["ghosts"][0]["mine"] is False
        assert (await api.call("GET", f"/api/ghosts/{ghost}", token=owner_token))[0] == 200
        stranger, _ = await api.guest("Stranger")
        assert (await api.call("GET", f"/api/ghosts/{ghost}", token=stranger))[0] == 403
        assert (await api.call("DELETE", f"/api/ghosts/{ghost}", token=owner_token))[0] == 403
        assert (await api.call("GET", "/api/ghosts/not-a-uuid", token=owner_token))[0] == 404
    finally:
        await node.stop()
