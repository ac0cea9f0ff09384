"""Focus sessions end to end over real sockets: self-reported interruptions
(``interruption_log``) and the insights a session stores (distracted seconds, blinks,
cognitive load, automatic interruptions), measured from a real face recording."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import pytest

from game_server.config import Settings
from tests.client import Api, SioClient
from tests.conftest import RunningServer, start_server
from tests.test_game_e2e import SECOND, Streamer, member, owner_room

pytestmark = pytest.mark.services


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def fast_timer(server_settings: dict[str, Any]) -> dict[str, Any]:
    server_settings.update(timer_focus_choices_min=(), timer_min_phase_s=0.2)
    return server_settings


async def test_interruption_log(fast_timer: dict[str, Any], server: RunningServer, api: Api,
                                sio_clients: list[SioClient], database_url: str) -> None:
    owner, room_id = await owner_room(server.base_url, api, sio_clients)
    spectator, _, _ = await member(server.base_url, api, sio_clients, room_id, "Spec",
                                   "spectator")
    t = now_ms()
    ok_body = {"type": "phone", "started_ms": t - 2000, "ended_ms": t - 500}
    # no timer running: nothing to log against
    assert (await owner.call("interruption_log", ok_body))["error"]["code"] == "conflict"
    started = await owner.call("timer_start", {"focus_min": 120 * SECOND,
                                               "break_min": SECOND, "cycles": 1})
    assert started["ok"], started
    phase_start = started["timer"]["phase_started_ms"]
    await asyncio.sleep(1.2)
    t = now_ms()
    body = {"type": "family", "description": "door bell", "started_ms": t - 1000,
            "ended_ms": t - 250}
    ack = await owner.call("interruption_log", body)
    assert ack["ok"], ack
    got = ack["interruption"]
    assert got["type"] == "family" and got["description"] == "door bell"
    assert got["duration_s"] == 0.75 and got["session_id"] is None
    uuid.UUID(got["id"])
    again = await owner.call("interruption_log", {**body, "ended_ms": t - 100})
    assert again["interruption"]["id"] == got["id"]  # same start: updated, not duplicated

    bad = [
        ({"type": "boredom", "started_ms": t - 900, "ended_ms": t - 500}, "bad_request"),
        ({"type": "phone", "started_ms": t - 500, "ended_ms": t - 500}, "bad_request"),
        ({"type": "phone", "started_ms": t - 500, "ended_ms": t - 900}, "bad_request"),
        ({"type": "phone", "started_ms": phase_start - 60_000, "ended_ms": t},
         "bad_request"),  # before the phase
        ({"type": "phone", "started_ms": t, "ended_ms": t + 60_000}, "bad_request"),  # future
        ({"type": "phone", "started_ms": t - 900, "ended_ms": t - 500, "x": 1},
         "bad_request"),
        ({"type": "phone", "description": "a\x07b", "started_ms": t - 900,
          "ended_ms": t - 500}, "bad_request"),
        ({"type": "phone", "description": "x" * 501, "started_ms": t - 900,
          "ended_ms": t - 500}, "bad_request"),
        ("phone", "bad_request"),
    ]
    for payload, code in bad:
        ack = await owner.call("interruption_log", payload)
        assert ack["ok"] is False and ack["error"]["code"] == code, (payload, ack)
    assert (await spectator.call("interruption_log", body))["error"]["code"] == "forbidden"

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT kind, source, description, started_at, ended_at,"
                                " room_id FROM interruptions")
    finally:
        await conn.close()
    assert len(rows) == 1
    row = rows[0]
    assert (row["kind"], row["source"], str(row["room_id"])) == ("family", "self", room_id)
    assert (row["ended_at"] - row["started_at"]).total_seconds() == 0.9


async def test_session_records_distraction_blinks_and_interruptions(
        server_settings: dict[str, Any], api: Api, sio_clients: list[SioClient],
        database_url: str) -> None:
    """One member streams the real take: blinking for 3 s (eyes shut 0.2 s every 0.7 s),
    then eyes held shut until distracted, then open again before the phase ends. Its focus
    session stores the distracted seconds, the blinks, one automatic interruption, and a
    focus score that the interruption lowered."""
    server_settings.update(
        timer_focus_choices_min=(), timer_min_phase_s=0.2, insights_flush_s=0.25,
        attention={"calibration_ms": 300, "eyes_closed_after_ms": 500,
                   "distracted_after_ms": 1500, "recover_after_ms": 300},
        boss_rules={"hp_per_focus_s": 10.0})
    node = await start_server(Settings(**server_settings))
    try:
        owner, _ = await owner_room(node.base_url, api, sio_clients)
        with Streamer(owner) as face:
            await owner.wait_for("member_state", lambda d: d["attention"] == "focused")
            ack = await owner.call("timer_start", {"focus_min": 10 * SECOND,
                                                   "break_min": SECOND, "cycles": 1})
            assert ack["ok"], ack
            for _ in range(4):  # blinks
                face.eyes_shut = True
                await asyncio.sleep(0.2)
                face.eyes_shut = False
                await asyncio.sleep(0.5)
            face.eyes_shut = True
            await owner.wait_for("member_state", lambda d: d["attention"] == "distracted",
                                 timeout=5)
            await asyncio.sleep(1.5)
            face.eyes_shut = False
            await owner.wait_for("member_state", lambda d: d["attention"] == "focused"
                                 and len(owner.of("member_state")) > 3, timeout=5)
            reward = await owner.wait_for("reward", timeout=10)
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow("SELECT * FROM focus_sessions WHERE id = $1",
                                      uuid.UUID(reward["session_id"]))
        finally:
            await conn.close()
        assert row is not None
        assert 1 <= row["distracted_s"] <= 4, dict(row)
        assert row["blinks"] >= 3, dict(row)
        assert row["interruptions"] == 1, dict(row)
        assert row["focused_s"] + row["distracted_s"] <= row["present_s"] + 1
        share = row["focused_s"] / row["planned_s"]
        assert abs(row["focus_score"] - max(0, int(100 * share) - 5)) <= 1, dict(row)
    finally:
        await node.stop()
