"""End to end: the bot fleet streams a real recording through the server to a spectator."""

from __future__ import annotations

from avatars.frame import decode_frame, quantize_score
from loadtests.bots import FleetOptions, run_fleet
from loadtests.playback import load_player
from tests.client import Api
from tests.conftest import RunningServer


async def test_bots_reach_the_watcher_intact(server: RunningServer, api: Api) -> None:
    player = load_player()  # the Live Link CSV take, ~30 fps, no head pose
    owner, _ = await api.guest("Owner")
    room_id = await api.room(owner)
    lines: list[str] = []
    report = await run_fleet(
        FleetOptions(server=server.base_url, room_id=room_id, count=3, duration_s=3.0,
                     watch=True, keep_frames=1000),
        player, out=lines.append)

    assert report.failures == []
    watcher = report.watcher
    assert watcher is not None
    assert any("fps" in line for line in lines)  # the 2 s table was printed
    slots = {bot.slot for bot in report.bots}
    assert len(slots) == 3 and set(watcher.slots) == slots
    for bot in report.bots:
        assert bot.slot is not None and bot.disconnects == 0 and not bot.errors
        seen = watcher.slots[bot.slot]
        assert seen.name == bot.name
        fps = seen.total_frames / report.elapsed_s
        assert fps > 20, (bot.name, fps, report.summary())
        assert seen.total.percentile(0.99) is not None
        kept = watcher.frames[bot.slot]
        assert len(kept) == seen.total_frames
        for data in kept:
            frame = decode_frame(data)
            assert frame.face_present and frame.shapes_valid
            assert frame.pose_valid == player.recording.has_pose
            recorded = player.recording.frames[bot.history[frame.seq] % len(player)]
            assert list(frame.shapes) == [quantize_score(s) for s in recorded.scores]
    # the bots started at different offsets, so their faces differ
    firsts = {watcher.frames[bot.slot][0][21:] for bot in report.bots if bot.slot is not None}
    assert len(firsts) == 3
