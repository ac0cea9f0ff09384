"""Replay watching end to end (issue 5 part 2): a member records a short focus phase (a
real face, eyes shut for a while); another user, outside any live room, watches it with
``replay_watch`` at speed 2 and receives slot-0 ``frames`` batches at the recorded timing
scaled by the speed, the recorded attention changes as ``member_state`` and
``replay_ended``; pause holds the frames, a seek jumps and re-sends the attention state,
stop ends it; visibility, membership and bad speeds are refused."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from avatars.frame import decode_batch, decode_frame
from game_server.deps import DEPS
from tests.client import Api, SioClient
from tests.conftest import start_server
from tests.test_game_e2e import SECOND, Streamer, member
from tests.test_ghost_replay import ghost_frames, record, settings
from tests.test_ghosts import ended_recordings, joined

pytestmark = pytest.mark.services


def states(client: SioClient) -> list[dict[str, Any]]:
    return [d for d in client.of("member_state") if d["slot"] == 0]


def collapsed(seq: list[str]) -> list[str]:
    return [s for i, s in enumerate(seq) if i == 0 or seq[i - 1] != s]


async def test_watch_a_recording_alone(
        server_settings: dict[str, Any], api: Api, sio_clients: list[SioClient],
        database_url: str) -> None:
    node = await start_server(settings(server_settings))
    try:
        rec_id, rec_token, rec_user = await record(node, api, sio_clients, database_url)
        status, meta = await api.call("GET", f"/api/ghosts/{rec_id}", token=rec_token)
        assert status == 200
        started, duration = meta["started_ms"], meta["duration_ms"]
        token, _ = await api.guest("Watcher")
        watcher = SioClient()  # a lobby socket: in no room at all
        sio_clients.append(watcher)
        await watcher.connect(node.base_url, token)

        # private to its recorder: forbidden to anyone else
        ack = await watcher.call("replay_watch", {"recording_id": rec_id})
        assert ack["error"]["code"] == "forbidden", ack
        ack = await watcher.call("replay_watch", {"recording_id": str(uuid.uuid4())})
        assert ack["error"]["code"] == "not_found", ack
        status, _ = await api.call("PATCH", f"/api/ghosts/{rec_id}", {"visibility": "link"},
                                   rec_token)
        assert status == 200
        for bad in ({"recording_id": rec_id, "speed": 10}, {"recording_id": rec_id,
                                                            "speed": 0.25},
                    {"recording_id": "x"}, {"recording_id": rec_id, "extra": 1}):
            ack = await watcher.call("replay_watch", bad)
            assert ack["error"]["code"] == "bad_request", (bad, ack)
        # a member of a live room cannot watch
        mem, _, _, _ = await joined(node, api, sio_clients, "Member")
        ack = await mem.call("replay_watch", {"recording_id": rec_id})
        assert ack["error"]["code"] == "conflict", ack
        for event, data in (("replay_control", {"paused": True}), ("replay_stop", {})):
            ack = await watcher.call(event, data)
            assert ack["error"]["code"] == "conflict", ack

        # speed 2: the whole recording in ~duration / 2
        ack = await watcher.call("replay_watch", {"recording_id": rec_id, "speed": 2})
        t0 = time.monotonic()
        assert ack["ok"], ack
        me = {"slot": 0, "recording_id": rec_id, "user_id": rec_user, "display_name": "Rec"}
        assert ack["replay"] == {"duration_ms": duration, "speed": 2.0, "position_ms": 0,
                                 "paused": False, "whole_room": False, **me, "members": [me]}
        ended = await watcher.wait_for("replay_ended", timeout=duration / 2000 + 4)
        elapsed_ms = (time.monotonic() - t0) * 1000
        assert ended == {"recording_id": rec_id}
        assert 0.8 * duration / 2 <= elapsed_ms <= duration / 2 + 1500, elapsed_ms
        batches = [decode_batch(b) for b in watcher.of("frames")]
        assert batches and all([s for s, _ in entries] == [0] for _, entries in batches)
        # (batch server ms, capture ms from the recording's start: capture is mod 2**32)
        frames = [(srv, (c - started) % 2**32) for srv, c in ghost_frames(watcher, 0)]
        # ~10 samples per recorded second, sent at ~20/s
        expected = duration / 100
        assert 0.7 * expected <= len(frames) <= expected + 2, len(frames)
        span_s = (frames[-1][0] - frames[0][0]) / 1000
        assert 12 <= (len(frames) - 1) / span_s <= 26, (len(frames), span_s)
        # capture times are the recorded ones, advancing twice as fast as wall time
        assert all(0 <= t <= duration for _, t in frames), frames
        assert all(b[1] > a[1] for a, b in zip(frames, frames[1:], strict=False))
        slope = (frames[-1][1] - frames[0][1]) / (frames[-1][0] - frames[0][0])
        assert 1.5 <= slope <= 2.5, slope
        # the attention changes, in recorded order
        seen = states(watcher)
        assert all(d["connected"] is True for d in seen)
        assert [d["since_ms"] for d in seen] == sorted(d["since_ms"] for d in seen)
        flow = collapsed([d["attention"] for d in seen])
        at = flow.index("focused")
        assert flow[at:at + 3] == ["focused", "eyes_closed", "focused"], flow
        shut = next(d for d in seen if d["attention"] == "eyes_closed")
        assert 800 <= shut["since_ms"] - started <= 2600, shut
        for ev in watcher.of("replay_event"):
            assert set(ev) == {"t_ms", "kind", "payload"} and ev["kind"] == "timer", ev
        ack = await watcher.call("replay_control", {"paused": True})
        assert ack["error"]["code"] == "conflict", ack  # over: nothing to control

        # pause holds the frames; a seek jumps and re-sends the attention state
        watcher.events.clear()
        ack = await watcher.call("replay_watch", {"recording_id": rec_id})
        assert ack["ok"] and ack["replay"]["speed"] == 1.0, ack
        await watcher.wait_for("frames", lambda _: len(watcher.of("frames")) >= 3)
        ack = await watcher.call("replay_control", {"paused": True})
        assert ack["ok"] and ack["replay"]["paused"] is True, ack
        assert 0 < ack["replay"]["position_ms"] < duration, ack
        await asyncio.sleep(0.3)
        held = len(watcher.of("frames"))
        await asyncio.sleep(0.8)
        assert len(watcher.of("frames")) == held
        seek = duration - 500
        n_states = len(states(watcher))
        ack = await watcher.call("replay_control", {"seek_ms": seek})
        assert ack["ok"], ack
        assert ack["replay"]["position_ms"] == seek and ack["replay"]["paused"] is True
        await watcher.wait_for("member_state", lambda _: len(states(watcher)) > n_states)
        state = states(watcher)[n_states]
        want = [d for d in seen if d["since_ms"] - started <= seek][-1]
        assert state == want, (state, want)
        await asyncio.sleep(0.3)
        assert len(watcher.of("frames")) == held
        ack = await watcher.call("replay_control", {"paused": False})
        assert ack["ok"] and ack["replay"]["paused"] is False, ack
        await watcher.wait_for("replay_ended", timeout=3)
        after = ghost_frames(watcher, 0)[held:]
        assert after and all((c - started) % 2**32 >= seek - 150 for _, c in after), after

        # stop ends it silently; a spectator of a room may watch too
        spec, _, _ = await member(node.base_url, api, sio_clients,
                                  await api.room(rec_token), "Spec", "spectator")
        ack = await spec.call("replay_watch", {"recording_id": rec_id, "speed": 0.5})
        assert ack["ok"] and ack["replay"]["speed"] == 0.5, ack
        await spec.wait_for("frames")
        ack = await spec.call("replay_control", {"speed": 8})
        assert ack["ok"] and ack["replay"]["speed"] == 8.0, ack
        assert (await spec.call("replay_stop"))["ok"]
        await asyncio.sleep(0.2)
        n = len(spec.of("frames"))
        await asyncio.sleep(0.5)
        assert len(spec.of("frames")) == n and spec.of("replay_ended") == []
        assert (await spec.call("replay_stop"))["error"]["code"] == "conflict"

        # one replay per socket, cancelled on disconnect and on shutdown
        watch = node.app[DEPS].namespace.watcher
        for _ in range(2):
            assert (await spec.call("replay_watch", {"recording_id": rec_id,
                                                     "speed": 0.5}))["ok"]
        assert watch.active == 1 and len(replay_tasks()) == 1
        await spec.close()
        await wait_until(lambda: watch.active == 0 and not replay_tasks())
        assert (await watcher.call("replay_watch", {"recording_id": rec_id,
                                                    "speed": 0.5}))["ok"]
        assert len(replay_tasks()) == 1
        # joining a room as a member ends the socket's replay: its frames are the room's
        room_id = await api.room(rec_token)
        assert (await watcher.call("room_join", {"room_id": room_id}))["ok"]
        assert watch.active == 0 and not replay_tasks()
        assert (await watcher.call("replay_stop"))["error"]["code"] == "conflict"
        assert (await watcher.call("room_leave"))["ok"]
        assert (await watcher.call("replay_watch", {"recording_id": rec_id,
                                                    "speed": 0.5}))["ok"]
        assert len(replay_tasks()) == 1
    finally:
        await node.stop()
    assert not replay_tasks()


async def test_watch_a_whole_room_phase(
        server_settings: dict[str, Any], api: Api, sio_clients: list[SioClient],
        database_url: str) -> None:
    """Two members record one focus phase together (the second joins ~1 s late); the
    phase replays as a whole once both recordings are visible: one slot each on the
    phase's clock (the latecomer's frames start at its arrival), each with its own
    attention changes."""
    node = await start_server(settings(server_settings))
    try:
        a, a_token, a_id, room_id = await joined(node, api, sio_clients, "Ann")
        b_token, b_id = await api.guest("Bob")
        b = SioClient()
        sio_clients.append(b)
        await b.connect(node.base_url, b_token)
        with Streamer(a), Streamer(b) as b_face:
            await a.wait_for("member_state", lambda d: d["attention"] == "focused")
            ack = await a.call("timer_start", {"focus_min": 4 * SECOND, "break_min": SECOND,
                                               "cycles": 1})
            assert ack["ok"], ack
            phase_start = ack["timer"]["phase_started_ms"]
            await asyncio.sleep(1.0)
            b_joined = int(time.time() * 1000)
            assert (await b.call("room_join", {"room_id": room_id}))["ok"]
            await b.wait_for("member_state", lambda d: d["attention"] == "focused", timeout=3)
            b_face.eyes_shut = True  # Bob shuts his eyes; Ann stays focused
            await b.wait_for("member_state", lambda d: d["attention"] == "eyes_closed",
                             timeout=3)
            await a.wait_for("timer", lambda t: t["phase"] != "focus", timeout=6)
            a_rec = (await ended_recordings(database_url, a_id))[0]
            b_rec = (await ended_recordings(database_url, b_id))[0]
        # both recordings are on the phase's clock: t = 0 at its start
        assert a_rec["started_at"] == b_rec["started_at"]
        late_ms = b_joined - phase_start
        assert 900 <= late_ms <= 2000, late_ms
        watcher = SioClient()
        sio_clients.append(watcher)
        await watcher.connect(node.base_url, (await api.guest("Watcher"))[0])
        a_path, b_path = f"/api/ghosts/{a_rec['id']}", f"/api/ghosts/{b_rec['id']}"
        assert (await api.call("PATCH", a_path, {"visibility": "link"}, a_token))[0] == 200

        # Ann's alone is fine; the whole phase needs Bob's too
        w_token = (await api.guest("Other"))[0]
        status, phase = await api.call("GET", f"{a_path}/phase", token=w_token)
        assert status == 200 and phase["whole_room"] is False, phase
        assert sorted(phase["recordings"], key=lambda r: not r["visible"]) == [
            {"recording_id": str(a_rec["id"]), "visible": True, "user_id": a_id,
             "display_name": "Ann", "ended": True},
            {"recording_id": str(b_rec["id"]), "visible": False, "user_id": None,
             "display_name": None, "ended": None}]
        assert (await api.call("GET", f"{b_path}/phase", token=w_token))[0] == 403
        whole = {"recording_id": str(a_rec["id"]), "whole_room": True, "speed": 2}
        ack = await watcher.call("replay_watch", whole)
        assert ack["error"]["code"] == "forbidden" and "Bob" in ack["error"]["message"], ack
        assert (await api.call("PATCH", b_path, {"visibility": "link"}, b_token))[0] == 200
        status, phase = await api.call("GET", f"{a_path}/phase", token=w_token)
        assert status == 200 and phase["whole_room"] is True, phase
        ack = await watcher.call("replay_watch", whole)
        assert ack["ok"], ack
        replay = ack["replay"]
        assert replay["whole_room"] is True and replay["slot"] == 0
        assert [(m["slot"], m["display_name"], m["recording_id"]) for m in replay["members"]] \
            == [(0, "Ann", str(a_rec["id"])), (1, "Bob", str(b_rec["id"]))]
        assert replay["duration_ms"] == max(a_rec["duration_ms"], b_rec["duration_ms"])
        await watcher.wait_for("replay_ended", timeout=replay["duration_ms"] / 2000 + 4)

        by_slot: dict[int, list[tuple[float, int]]] = {0: [], 1: []}
        for batch in watcher.of("frames"):
            server_ms, entries = decode_batch(batch)
            for slot, frame in entries:
                by_slot[slot].append((server_ms, decode_frame(frame).capture_ms))
        assert len(by_slot[0]) >= 10 and len(by_slot[1]) >= 5, {k: len(v) for k, v in
                                                                by_slot.items()}
        # capture times are the phase's clock: Bob's begin at his arrival, and his first
        # frame went out about late_ms / 2 after Ann's (speed 2)
        start = int(a_rec["started_at"].timestamp() * 1000)
        b_first = (by_slot[1][0][1] - start) % 2**32
        assert late_ms - 200 <= b_first <= late_ms + 600, (b_first, late_ms)
        assert all(0 <= (c - start) % 2**32 <= replay["duration_ms"]
                   for s in (0, 1) for _, c in by_slot[s])
        first_gap = by_slot[1][0][0] - by_slot[0][0][0]
        assert b_first / 2 - 250 <= first_gap <= b_first / 2 + 250, (first_gap, b_first)
        flows = {s: collapsed([d["attention"] for d in watcher.of("member_state")
                               if d["slot"] == s]) for s in (0, 1)}
        assert "eyes_closed" in flows[1] and "eyes_closed" not in flows[0], flows
        # every timer event once (slot 0's recording), on the replay clock
        timers = watcher.of("replay_event")
        assert timers and all(0 <= e["t_ms"] <= replay["duration_ms"] for e in timers)
        assert len({e["t_ms"] for e in timers}) == len(timers), timers

        # asked from Bob's recording: Bob in slot 0
        ack = await watcher.call("replay_watch", {**whole, "recording_id": str(b_rec["id"])})
        assert [m["display_name"] for m in ack["replay"]["members"]] == ["Bob", "Ann"], ack
    finally:
        await node.stop()


def replay_tasks() -> list[asyncio.Task[Any]]:
    """The replay tasks running in this process (the server runs in the test's loop)."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("replay-watch-")
            and not t.done()]


async def wait_until(check: Callable[[], bool], timeout: float = 3) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
