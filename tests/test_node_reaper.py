"""A node killed with SIGKILL (issue 7, game_server.node_presence): node A is a real
`studyverse serve` process, node B the test server, on one Redis and one Postgres. Members on
A stream faces in a room whose owner is on B, during a boss fight. After A dies, the reaper
marks its members dropped; one resumes on B with its token and keeps its slot; the other
does not come back and is swept when the resume window ends; the boss keeps its HP (it
only goes down) and no tick is applied twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from game_server.config import Settings
from loadtests.procs import ServerProcess, free_port
from rooms.keys import KeySpace
from tests.client import Api, SioClient
from tests.conftest import start_server
from tests.test_game_e2e import SECOND, Streamer

pytestmark = pytest.mark.services

NODE = {"node_heartbeat_s": 0.3, "node_ttl_s": 1.5, "node_reap_s": 0.3, "resume_window_s": 4}


def node_a_process(server_settings: dict[str, Any], redis_prefix: str,
                   tmp_path: Path) -> ServerProcess:
    """Node A: a real ``studyverse serve`` (not started) on the test server's Redis and
    Postgres, with the short node timings of ``NODE``."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": server_settings["redis_url"],
           "DATABASE_URL": server_settings["database_url"],
           "STUDYVERSE_REDIS_PREFIX": redis_prefix,
           "STUDYVERSE_JWT_SECRET": server_settings["jwt_secret"],
           "STUDYVERSE_NODE_ID": "node-a", "STUDYVERSE_WEB_CLIENT_BUILD": "false",
           "STUDYVERSE_LOG_LEVEL": "WARNING",
           **{f"STUDYVERSE_{k.upper()}": str(v) for k, v in NODE.items()}}
    studyverse = Path(sys.executable).with_name("studyverse")
    return ServerProcess([str(studyverse), "serve", "--port", str(port), "--data-dir",
                          str(tmp_path / "a")], port=port, data_dir=tmp_path / "a",
                         log_path=tmp_path / "a.log", cpus=None, env=env)


async def guest_on(base_url: str, api: Api, made: list[SioClient], name: str,
                   room_id: str) -> tuple[SioClient, str, dict[str, Any]]:
    token, _ = await api.guest(name)
    client = SioClient()
    made.append(client)
    await client.connect(base_url, token)
    ack = await client.call("room_join", {"room_id": room_id})
    assert ack["ok"], ack
    return client, token, ack


async def test_a_killed_nodes_members_resume_elsewhere_or_are_swept(
        server_settings: dict[str, Any], api: Api, sio_clients: list[SioClient],
        redis: aioredis.Redis, redis_prefix: str, tmp_path: Path) -> None:
    server_settings.update(NODE, timer_focus_choices_min=(), timer_min_phase_s=0.2)
    b = await start_server(Settings(**server_settings, node_id="node-b"))
    node_a = node_a_process(server_settings, redis_prefix, tmp_path)
    keys = KeySpace(redis_prefix)
    try:
        with node_a:
            owner_token, _ = await api.guest("Owner")
            room_id = await api.room(owner_token)
            owner = SioClient()
            sio_clients.append(owner)
            await owner.connect(b.base_url, owner_token)
            assert (await owner.call("room_join", {"room_id": room_id}))["ok"]
            stays, stays_token, stays_ack = await guest_on(node_a.base_url, api, sio_clients,
                                                           "Stays", room_id)
            gone, _, gone_ack = await guest_on(node_a.base_url, api, sio_clients, "Gone",
                                               room_id)
            assert await redis.exists(keys.node_alive("node-a"))
            assert room_id.encode() in await redis.smembers(keys.node_rooms("node-a"))
            ack = await owner.call("timer_start", {"focus_min": 120 * SECOND,
                                                   "break_min": SECOND, "cycles": 1})
            assert ack["ok"], ack
            face = Streamer(stays)
            with face:
                await owner.wait_for("boss", lambda x: x is not None and x["dps"] > 0,
                                     timeout=8)
                os.kill(node_a.pid, signal.SIGKILL)
                killed = time.monotonic()
            hp_at_kill = [x for x in owner.of("boss") if x is not None][-1]["hp"]

            # the reaper marks both of A's members dropped within the TTL + a reaper pass
            slots = {stays_ack["slot"], gone_ack["slot"]}
            await owner.wait_for("member_state", lambda d: d["slot"] in slots
                                 and d["connected"] is False
                                 and len({e["slot"] for e in owner.of("member_state")
                                          if e["connected"] is False} & slots) == 2,
                                 timeout=6)
            reaped_s = time.monotonic() - killed
            assert reaped_s <= NODE["node_ttl_s"] + 2 * NODE["node_reap_s"] + 1.0, reaped_s
            # the reaper tells the rooms first, then forgets the node
            async with asyncio.timeout(2):
                while await redis.exists(keys.node_rooms("node-a")) or \
                        b"node-a" in await redis.zrange(keys.nodes(), 0, -1):
                    await asyncio.sleep(0.05)

            # "Stays" reconnects to node B with its token: same slot, still fighting
            back = SioClient()
            sio_clients.append(back)
            await back.connect(b.base_url, stays_token)
            ack = await back.call("room_join", {"room_id": room_id,
                                                "resume_token": stays_ack["resume_token"]})
            assert ack["ok"] and ack["resumed"] is True, ack
            assert ack["slot"] == stays_ack["slot"]
            with Streamer(back):
                n = len(owner.of("boss"))
                await owner.wait_for("boss", lambda x: len(owner.of("boss")) >= n + 3
                                     and x is not None and x["dps"] > 0, timeout=8)
                # "Gone" never comes back: swept when its resume window ends
                left = await owner.wait_for("member_left",
                                            lambda d: d["slot"] == gone_ack["slot"],
                                            timeout=NODE["resume_window_s"] + 4)
                assert left["display_name"] == "Gone"
            hps = [x["hp"] for x in owner.of("boss") if x is not None]
            # the boss kept its HP across the kill and only went down, at most 1 HP per
            # focused member-second (x1.5 combo at most): no tick applied twice
            assert all(b2 <= b1 for b1, b2 in zip(hps, hps[1:], strict=False)), hps
            after = hps[hps.index(hp_at_kill):]
            assert after[-1] < hp_at_kill
            elapsed = time.monotonic() - killed
            assert hp_at_kill - after[-1] <= 1.5 * (elapsed + 1), (hp_at_kill, after, elapsed)
            members = (await api.call("GET", f"/api/rooms/{room_id}",
                                      token=owner_token))[1]["members"]
            assert sorted(m["display_name"] for m in members) == ["Owner", "Stays"]
    finally:
        await b.stop()


async def test_a_node_reaped_while_alive_sends_its_clients_back_to_resume(
        server_settings: dict[str, Any], api: Api, sio_clients: list[SioClient],
        redis: aioredis.Redis, redis_prefix: str, tmp_path: Path) -> None:
    """Node A is frozen (SIGSTOP: as cut off as a node that lost Redis) past its TTL, so
    the reaper on B marks its member dropped while the member's socket to A stays open.
    When A runs again its next heartbeat finds it was reaped: it tells its clients
    ``server_shutdown {reason: "node_reaped"}`` and closes them; the member resumes with
    its token and keeps its slot, and is not swept when the resume window ends."""
    server_settings.update(NODE)
    b = await start_server(Settings(**server_settings, node_id="node-b"))
    node_a = node_a_process(server_settings, redis_prefix, tmp_path)
    keys = KeySpace(redis_prefix)
    try:
        with node_a:
            owner_token, _ = await api.guest("Owner")
            room_id = await api.room(owner_token)
            owner = SioClient()
            sio_clients.append(owner)
            await owner.connect(b.base_url, owner_token)
            assert (await owner.call("room_join", {"room_id": room_id}))["ok"]
            frozen, token, ack = await guest_on(node_a.base_url, api, sio_clients, "Frozen",
                                                room_id)
            slot = ack["slot"]
            os.kill(node_a.pid, signal.SIGSTOP)
            try:
                await owner.wait_for("member_state", lambda d: d["slot"] == slot
                                     and d["connected"] is False, timeout=6)
                async with asyncio.timeout(2):  # the reaper is done with node A
                    while b"node-a" in await redis.zrange(keys.nodes(), 0, -1):
                        await asyncio.sleep(0.05)
                assert not frozen.disconnected.is_set()  # A's socket is still open
            finally:
                os.kill(node_a.pid, signal.SIGCONT)
            told = await frozen.wait_for("server_shutdown", timeout=5)
            assert told["reason"] == "node_reaped" and 0 <= told["retry_in_ms"] < 5000
            await asyncio.wait_for(frozen.disconnected.wait(), 5)

            back = SioClient()
            sio_clients.append(back)
            await back.connect(node_a.base_url, token)  # A is alive again: back to it
            again = await back.call("room_join", {"room_id": room_id,
                                                  "resume_token": ack["resume_token"]})
            assert again["ok"] and again["resumed"] is True and again["slot"] == slot, again
            await owner.wait_for("member_joined", lambda d: d["slot"] == slot, timeout=5)
            await asyncio.sleep(NODE["resume_window_s"] + 1)  # past the reaper's sweep
            assert not [d for d in owner.of("member_left") if d["slot"] == slot]
            members = (await api.call("GET", f"/api/rooms/{room_id}",
                                      token=owner_token))[1]["members"]
            assert sorted(m["display_name"] for m in members) == ["Frozen", "Owner"]
            assert room_id.encode() in await redis.smembers(keys.node_rooms("node-a"))
    finally:
        await b.stop()
