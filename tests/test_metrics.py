"""``GET /metrics``: Prometheus text that a real parser reads, with figures that move."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from avatars.recordings import face_data_dir, frame_bytes, load_recording
from game_server.deps import DEPS
from game_server.metrics import Histogram
from tests.client import Api, SioClient
from tests.conftest import RunningServer

pytestmark = pytest.mark.services


async def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with api.session.get(api.base_url + "/metrics") as r:
        assert r.status == 200 and r.content_type == "text/plain"
        text = await r.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_clients_and_frames(server: RunningServer, api: Api,
                                                sio_clients: list[SioClient]) -> None:
    node = server.app[DEPS].node_id
    label = (("node_id", node),)
    before = await scrape(api)
    assert before[("studyverse_connected_clients", label)] == 0
    token, _ = await api.guest("Metered")
    room_id = await api.room(token)
    client = SioClient()
    sio_clients.append(client)
    await client.connect(server.base_url, token)
    assert (await client.call("room_join", {"room_id": room_id}))["ok"]
    rec = load_recording(face_data_dir() / "livelinkface_alex_rom_3.csv")
    for seq, rf in enumerate(rec.frames[:20]):
        await client.send("frame", frame_bytes(rf, seq=seq, capture_ms=seq * 33,
                                               pose_valid=rec.has_pose))
        await asyncio.sleep(1 / 30)
    await client.send("frame", b"\x00" * 10)  # malformed: dropped, counted by reason
    await asyncio.sleep(0.3)
    after = await scrape(api)
    assert after[("studyverse_connected_clients", label)] == 1
    assert after[("studyverse_rooms_local", label)] == 1
    assert after[("studyverse_frames_in_total", label)] >= 15
    assert after[("studyverse_frames_dropped_total",
                  (("node_id", node), ("reason", "length")))] == 1
    # the relay's latency histogram: every relayed frame waited less than a tick or two
    count = after[("studyverse_frame_relay_latency_seconds_count", label)]
    assert count >= 15
    within = after[("studyverse_frame_relay_latency_seconds_bucket",
                    (("le", "0.1"), ("node_id", node)))]
    assert within == count
    assert after[("studyverse_frame_relay_latency_seconds_bucket",
                  (("le", "+Inf"), ("node_id", node)))] == count
    assert ("studyverse_room_tick_duration_seconds_count", label) in after


def test_histogram_buckets_are_cumulative() -> None:
    hist = Histogram((0.01, 0.1, 1.0))
    for value in (0.005, 0.01, 0.05, 0.5, 5.0):
        hist.observe(value)
    assert hist.buckets() == [("0.01", 2.0), ("0.1", 3.0), ("1.0", 4.0), ("+Inf", 5.0)]
    assert hist.count == 5 and hist.total == pytest.approx(5.565)
