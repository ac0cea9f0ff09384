"""End to end over real sockets: the shared timer, phase changes and the boss, on one node
and on two nodes sharing one Redis (phase changes and ticks happen once; a killed lease
owner's rooms pass to the other node)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

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
