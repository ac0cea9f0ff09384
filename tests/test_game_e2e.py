"""End to end over real sockets: the shared timer, phase changes and the boss, on one node
and on two nodes sharing one Redis (phase changes and ticks happen once; a killed lease
owner's rooms pass to the other node)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from avatars.blendshapes import SHAPE_INDEX
from avatars.recordings import face_data_dir, frame_bytes, load_recording
from game_server.config import Settings
from game_server.deps import DEPS
from loadtests.procs import ServerProcess, free_port
from rooms.keys import KeySpace
from tests.client import Api, SioClient
from tests.conftest import RunningServer, start_server

SECOND = 1 / 60  # one second, in the minutes timer_start speaks


@pytest.fixture
def fast_timer(server_settings: dict[str, Any]) -> dict[str, Any]:
    """Allow second-long phases (production: 15/25/45/60-minute focus, >= 1 min phases)."""
    server_settings.update(timer_focus_choices_min=(), timer_min_phase_s=0.2)
    return server_settings


async def member(base_url: str, api: Api, made: list[SioClient], room_id: str, name: str,
                 role: str = "member") -> tuple[SioClient, dict[str, Any], str]:
    token, user_id = await api.guest(name)
    client = SioClient()
    made.append(client)
    await client.connect(base_url, token)
    ack = await client.call("room_join", {"room_id": room_id, "role": role})
    assert ack["ok"], ack
    return client, ack, user_id


async def owner_room(base_url: str, api: Api, made: list[SioClient]
                     ) -> tuple[SioClient, str]:
    token, _ = await api.guest("Owner")
    room_id = await api.room(token)
    client = SioClient()
    made.append(client)
    await client.connect(base_url, token)
    ack = await client.call("room_join", {"room_id": room_id})
    assert ack["ok"], ack
    return client, room_id


def phases(client: SioClient) -> list[tuple[str, int]]:
    return [(t["phase"], t["index"]) for t in client.of("timer")]


async def test_timer_is_the_owners(fast_timer: dict[str, Any], server: RunningServer,
                                   api: Api, sio_clients: list[SioClient]) -> None:
    owner, room_id = await owner_room(server.base_url, api, sio_clients)
    guest, ack, _ = await member(server.base_url, api, sio_clients, room_id, "Guest")
    assert ack["room"]["timer"]["phase"] == "idle" and ack["room"]["boss"] is None
    refused = await guest.call("timer_start", {"focus_min": 1})
    assert refused == {"ok": False, "error": {"code": "forbidden",
                                              "message": "only the room owner controls "
                                                         "the timer"}}
    assert (await guest.call("timer_pause"))["error"]["code"] == "forbidden"
    assert (await owner.call("timer_pause"))["error"]["code"] == "conflict"  # no set yet

    before = int(time.time() * 1000)
    started = await owner.call("timer_start", {"focus_min": 25, "break_min": 5,
                                               "long_break_min": 15, "cycles": 4})
    assert started["ok"], started
    timer = started["timer"]
    assert timer["phase"] == "focus" and timer["cycle"] == 1 and timer["cycles"] == 4
    assert before <= timer["phase_started_ms"] <= int(time.time() * 1000)
    assert timer["phase_ends_ms"] - timer["phase_started_ms"] == 25 * 60_000
    assert timer["durations"] == {"focus_ms": 1_500_000, "short_break_ms": 300_000,
                                  "long_break_ms": 900_000}
    # every member gets the same absolute timestamps, and the boss of the set
    seen = await guest.wait_for("timer", lambda t: t["phase"] == "focus")
    assert seen["phase_ends_ms"] == timer["phase_ends_ms"]
    boss = await guest.wait_for("boss", lambda b: b is not None)
    # 0.8 HP per planned focus second x (1 + 0.75 x (2 members - 1))
    assert boss["max_hp"] == round(0.8 * 100 * 60 * 1.75) and boss["level"] == 1
    assert (await owner.call("timer_start", {"focus_min": 25}))["error"]["code"] == "conflict"

    paused = (await owner.call("timer_pause"))["timer"]
    assert paused["paused_at_ms"] is not None
    assert (await owner.call("timer_pause"))["error"]["code"] == "conflict"
    await asyncio.sleep(0.2)
    resumed = (await owner.call("timer_resume"))["timer"]
    assert resumed["paused_at_ms"] is None
    assert resumed["phase_ends_ms"] >= paused["phase_ends_ms"] + 150  # the pause moved it
    skipped = (await owner.call("timer_skip"))["timer"]
    assert (skipped["phase"], skipped["index"], skipped["cycle"]) == ("short_break", 1, 1)

    late, ack, _ = await member(server.base_url, api, sio_clients, room_id, "Late")
    assert ack["room"]["timer"]["phase"] == "short_break"
    assert ack["room"]["timer"]["phase_ends_ms"] == skipped["phase_ends_ms"]
    assert ack["room"]["boss"]["level"] == 1

    stopped = (await owner.call("timer_stop"))["timer"]
    assert stopped["phase"] == "idle"
    await late.wait_for("boss", lambda b: b is None)


async def test_bad_timer_commands(server: RunningServer, api: Api,
                                  sio_clients: list[SioClient]) -> None:
    owner, _ = await owner_room(server.base_url, api, sio_clients)
    for bad in ({"focus_min": 20}, {"focus_min": -1}, {"focus_min": 25, "cycles": 0},
                {"focus_min": 25, "break_min": "soon"}, {"focus_min": 25, "extra": 1},
                {"focus_min": 25, "break_min": 0.001}, ["focus_min"]):
        ack = await owner.call("timer_start", bad)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", (bad, ack)
    token, _ = await api.guest("Lobby")
    lobby = SioClient()
    sio_clients.append(lobby)
    await lobby.connect(server.base_url, token)
    assert (await lobby.call("timer_start", {"focus_min": 25}))["error"]["code"] == "conflict"
    # the room still works
    assert (await owner.call("timer_start", {"focus_min": 25}))["ok"]


async def test_phase_changes_reach_everyone_once(fast_timer: dict[str, Any],
                                                 server: RunningServer, api: Api,
                                                 sio_clients: list[SioClient]) -> None:
    owner, room_id = await owner_room(server.base_url, api, sio_clients)
    other, _, _ = await member(server.base_url, api, sio_clients, room_id, "Other")
    spec, _, _ = await member(server.base_url, api, sio_clients, room_id, "Spec", "spectator")
    ack = await owner.call("timer_start", {"focus_min": SECOND, "break_min": SECOND,
                                           "long_break_min": SECOND, "cycles": 2})
    assert ack["ok"], ack
    for client in (owner, other, spec):
        await client.wait_for("timer", lambda t: t["phase"] == "idle", timeout=10)
    expected = [("focus", 0), ("short_break", 1), ("focus", 2), ("long_break", 3),
                ("idle", 4)]
    await asyncio.sleep(0.5)  # room for a duplicate to show up
    for client in (owner, other, spec):
        assert phases(client) == expected
    ends = [t["phase_ends_ms"] for t in owner.of("timer")[:4]]
    assert [b - a for a, b in zip(ends, ends[1:], strict=False)] == [1000, 1000, 1000]
    await owner.wait_for("boss", lambda b: b is None)  # the set ended; the boss escaped


# -- two nodes sharing one Redis ------------------------------------------------------------

@pytest.fixture
async def two_nodes(fast_timer: dict[str, Any], server: RunningServer
                    ) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    """The test server and a second node on the same Redis, Postgres and key prefix."""
    other = await start_server(Settings(**fast_timer, node_id="node-b"))
    try:
        yield server, other
    finally:
        await other.stop()


async def test_two_nodes_change_phases_and_tick_once(
        two_nodes: tuple[RunningServer, RunningServer], api: Api,
        sio_clients: list[SioClient], redis: aioredis.Redis, redis_prefix: str) -> None:
    a, b = two_nodes
    owner, room_id = await owner_room(a.base_url, api, sio_clients)
    on_b, _, _ = await member(b.base_url, api, sio_clients, room_id, "OnB")
    ack = await owner.call("timer_start", {"focus_min": 3 * SECOND, "break_min": SECOND,
                                           "long_break_min": SECOND, "cycles": 1})
    assert ack["ok"], ack
    await on_b.wait_for("timer", lambda t: t["phase"] == "idle", timeout=10)
    await asyncio.sleep(0.5)
    for client in (owner, on_b):  # each phase change announced once across both nodes
        assert phases(client) == [("focus", 0), ("long_break", 1), ("idle", 2)]
    game_a, game_b = (n.app[DEPS].game for n in (a, b))
    assert game_a.stats["phase_changes"] + game_b.stats["phase_changes"] == 2
    # one node held the lease and applied one tick per second; the other applied none
    applied = [game_a.stats["ticks_ok"], game_b.stats["ticks_ok"]]
    assert sorted(applied)[0] == 0 and 3 <= sorted(applied)[1] <= 6, applied
    assert game_a.stats["ticks_stale"] + game_b.stats["ticks_stale"] == 0
    bosses = [x for x in on_b.of("boss") if x is not None]
    assert 3 <= len(bosses) <= 7, bosses  # 1 Hz during the set, from one node


async def test_killed_lease_owner_hands_the_room_over(
        fast_timer: dict[str, Any], server: RunningServer, api: Api,
        sio_clients: list[SioClient], redis: aioredis.Redis, redis_prefix: str,
        tmp_path: Path) -> None:
    """Node A is a real process, killed with SIGKILL; node B takes the room's lease
    within the lease TTL and goes on ticking."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": fast_timer["redis_url"],
           "DATABASE_URL": fast_timer["database_url"], "STUDYVERSE_REDIS_PREFIX": redis_prefix,
           "STUDYVERSE_JWT_SECRET": fast_timer["jwt_secret"], "STUDYVERSE_NODE_ID": "node-a",
           "STUDYVERSE_TIMER_FOCUS_CHOICES_MIN": "[]", "STUDYVERSE_TIMER_MIN_PHASE_S": "0.2",
           "STUDYVERSE_LOG_LEVEL": "WARNING"}
    studyverse = Path(sys.executable).with_name("studyverse")
    node_a = ServerProcess([str(studyverse), "serve", "--port", str(port), "--data-dir",
                            str(tmp_path / "a")], port=port, data_dir=tmp_path / "a",
                           log_path=tmp_path / "a.log", cpus=None, env=env)
    b = server  # node B: the test server, in this process
    with node_a:
        owner, room_id = await owner_room(node_a.base_url, api, sio_clients)
        lease_key = KeySpace(redis_prefix).room(room_id).lease
        async with asyncio.timeout(5):  # node A holds the room first
            while await redis.get(lease_key) is None:
                await asyncio.sleep(0.1)
        assert (await redis.get(lease_key)).startswith(b"node-a:")
        on_b, _, _ = await member(b.base_url, api, sio_clients, room_id, "OnB")
        ack = await owner.call("timer_start", {"focus_min": 60 * SECOND,
                                               "break_min": SECOND,
                                               "long_break_min": SECOND, "cycles": 1})
        assert ack["ok"], ack
        await on_b.wait_for("boss", lambda x: x is not None)
        os.kill(node_a.pid, signal.SIGKILL)
        killed = time.monotonic()
        node_b = b.app[DEPS].node_id.encode()
        async with asyncio.timeout(10):
            while not ((await redis.get(lease_key)) or b"").startswith(node_b + b":"):
                await asyncio.sleep(0.05)
        handover_s = time.monotonic() - killed
        ttl_s = b.settings.lease_ttl_ms / 1000
        assert handover_s <= ttl_s + 1.2, handover_s  # TTL, plus at most one tick
        n_before = len(on_b.of("boss"))
        await on_b.wait_for("boss", lambda x: x is not None and
                            len(on_b.of("boss")) > n_before + 1, timeout=5)


# -- attention drives the game ------------------------------------------------------------

class Streamer:
    """Streams a real recording's first seconds (looped) as one member's frames at 30 fps;
    ``eyes_shut`` forces both eyeBlink scores to 1 (eyes held shut)."""

    def __init__(self, client: SioClient) -> None:
        rec = load_recording(face_data_dir() / "livelinkface_alex_rom_3.csv")
        self.frames = [f for f in rec.frames if f.t_ms < 8000]  # a focused stretch
        self.client, self.pose = client, rec.has_pose
        self.eyes_shut = False
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        blink = (SHAPE_INDEX["eyeBlinkLeft"], SHAPE_INDEX["eyeBlinkRight"])
        for seq in range(100_000):
            rf = self.frames[seq % len(self.frames)]
            if self.eyes_shut:
                scores = list(rf.scores)
                for i in blink:
                    scores[i] = 1.0
                rf = replace(rf, scores=tuple(scores))
            data = frame_bytes(rf, seq=seq & 0xFFFF, capture_ms=seq * 33, pose_valid=self.pose)
            await self.client.send("frame", data)
            await asyncio.sleep(1 / 30)

    def __enter__(self) -> Streamer:
        self.task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


async def test_eyes_shut_member_becomes_distracted_and_dps_drops(
        fast_timer: dict[str, Any], server_settings: dict[str, Any], api: Api,
        sio_clients: list[SioClient], database_url: str) -> None:
    server_settings["attention"] = {"calibration_ms": 500, "eyes_closed_after_ms": 500,
                                    "distracted_after_ms": 2000, "recover_after_ms": 500}
    node = await start_server(Settings(**server_settings))
    try:
        owner, room_id = await owner_room(node.base_url, api, sio_clients)
        sleeper, ack, sleeper_id = await member(node.base_url, api, sio_clients, room_id,
                                                "Sleeper")
        slot = ack["slot"]
        with Streamer(owner), Streamer(sleeper) as shut:
            for c in (owner, sleeper):
                await owner.wait_for("member_state", lambda d, c=c: d["attention"] ==
                                     "focused" and d["slot"] == (slot if c is sleeper
                                                                 else 1 - slot))
            assert (await owner.call("timer_start", {"focus_min": 1}))["ok"]
            # both focused: 2 members x 1 HP/s
            await owner.wait_for("boss", lambda b: b is not None and b["dps"] == 2.0,
                                 timeout=5)
            shut.eyes_shut = True
            t_shut = time.monotonic()
            await owner.wait_for("member_state", lambda d: d["slot"] == slot
                                 and d["attention"] == "eyes_closed", timeout=5)
            asleep = await owner.wait_for("member_state", lambda d: d["slot"] == slot
                                          and d["attention"] == "distracted", timeout=5)
            took = time.monotonic() - t_shut
            assert 1.9 <= took <= 3.5, took  # distracted_after_ms = 2 s from eyes closing
            # one focused member, one distracted: 1 HP/s x (1 - 10 %)
            boss = await owner.wait_for("boss", lambda b: b is not None and b["dps"] == 0.9,
                                        timeout=4)
            assert boss["combo"] == 1.0
            shut.eyes_shut = False
            await owner.wait_for("member_state", lambda d: d["slot"] == slot
                                 and d["attention"] == "focused"
                                 and d["since_ms"] > asleep["since_ms"], timeout=5)
            room = await owner.call("room_join", {"room_id": room_id, "role": "member"})
            assert {m["slot"]: m["attention"] for m in room["room"]["members"]}[slot] \
                == "focused"
        # the distracted stretch is stored as an automatic interruption
        conn = await asyncpg.connect(database_url)
        try:
            async with asyncio.timeout(5):
                while not (rows := await conn.fetch(
                        "SELECT kind, source, ended_at - started_at AS took FROM interruptions"
                        " WHERE user_id = $1", uuid.UUID(sleeper_id))):
                    await asyncio.sleep(0.1)
        finally:
            await conn.close()
        assert [(r["kind"], r["source"]) for r in rows] == [("eyes_closed", "auto")]
        assert 2.0 <= rows[0]["took"].total_seconds() <= 6.0
    finally:
        await node.stop()


async def test_focused_member_kills_the_boss_and_a_stronger_one_follows(
        fast_timer: dict[str, Any], server_settings: dict[str, Any], api: Api,
        sio_clients: list[SioClient]) -> None:
    # a weak boss: 0.02 HP per planned focus second -> 1.2 HP for one member's minute
    server_settings["boss_rules"] = {"hp_per_focus_s": 0.02, "min_respawn_focus_s": 10}
    server_settings["attention"] = {"calibration_ms": 300}
    node = await start_server(Settings(**server_settings))
    try:
        owner, _ = await owner_room(node.base_url, api, sio_clients)
        with Streamer(owner):
            await owner.wait_for("member_state", lambda d: d["attention"] == "focused")
            assert (await owner.call("timer_start", {"focus_min": 1, "cycles": 1}))["ok"]
            first = await owner.wait_for("boss", lambda b: b is not None)
            assert (first["level"], first["max_hp"]) == (1, 2), first  # ceil(1.2)
            killed = await owner.wait_for("boss_defeated", timeout=6)
            assert killed["level"] == 1 and killed["xp_bonus"] == 5
            (user_id, damage), = killed["damage_by_user"].items()
            assert damage == 1.2
            nxt = await owner.wait_for("boss", lambda b: b is not None and b["level"] == 2)
            assert nxt["name"] != first["name"] and nxt["hp"] <= nxt["max_hp"]
    finally:
        await node.stop()
