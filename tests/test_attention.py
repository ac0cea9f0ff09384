"""Attention classifier (DESIGN.md section 5): real recordings, exact threshold timing for
every transition, and Hypothesis properties over random frame streams. Pure: no services."""

from __future__ import annotations

import statistics
import struct
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatars.attention import (
    AttentionChange,
    AttentionConfig,
    AttentionTracker,
    Interruption,
)
from avatars.blendshapes import SHAPE_COUNT, SHAPE_INDEX
from avatars.frame import FRAME_KIND, check_frame, encode_frame, encode_no_face_frame
from avatars.recordings import face_data_dir, frame_bytes, load_recording

CFG = AttentionConfig()
LIVELINK_CSV = "livelinkface_alex_rom_3.csv"
GESICHTER = "llv_dao.gesichter"
STEP = 100  # ms between generated frames: every threshold falls on a frame


def face(
    seq: int,
    *,
    yaw: float = 0.0,
    pitch: float = 0.0,
    pose: bool = True,
    shapes: dict[str, float] | None = None,
    jitter: bool = True,
) -> bytes:
    """A face frame; ``jitter`` alternates jawOpen so consecutive frames never look frozen."""
    scores = [0.0] * SHAPE_COUNT
    for name, value in (shapes or {}).items():
        scores[SHAPE_INDEX[name]] = value
    if jitter:
        scores[SHAPE_INDEX["jawOpen"]] = 0.1 * (seq % 2)
    return encode_frame(
        seq=seq, capture_ms=seq, scores=scores, yaw_deg=yaw, pitch_deg=pitch, pose_valid=pose
    )


GAZE_LEFT = {"eyeLookOutLeft": 0.9, "eyeLookInRight": 0.9}
CLOSED = {"eyeBlinkLeft": 0.9, "eyeBlinkRight": 0.9}
BROWS = {"browDownLeft": 0.5, "browDownRight": 0.5}


def focused(seq: int) -> bytes:
    return face(seq)


def away(seq: int) -> bytes:
    return face(seq, shapes=GAZE_LEFT)


def closed(seq: int) -> bytes:
    return face(seq, shapes=CLOSED)


def no_face(seq: int) -> bytes:
    return encode_no_face_frame(seq, seq)


def with_shapes(shapes: dict[str, float]) -> Callable[[int], bytes]:
    return lambda seq: face(seq, shapes=shapes)


class Run:
    """Drives one tracker, feeding frames every STEP ms, and records every change."""

    def __init__(self, config: AttentionConfig = CFG, *, paper_mode: bool = False) -> None:
        self.tracker = AttentionTracker(config, paper_mode=paper_mode, now_ms=0)
        self.t = self.n = 0  # time in ms, frames sent (the sequence number)
        self.changes: list[AttentionChange] = []

    def feed(self, make: Callable[[int], bytes], ms: int, step: int = STEP) -> Run:
        """Frames from ``make(seq)`` at t, t + step, ... for ``ms`` (t advances by ``ms``)."""
        end = self.t + ms
        while self.t < end:
            self.n += 1
            self.frame(make(self.n), self.t)
            self.t += step
        self.t = end
        return self

    def frame(self, frame: bytes, t: int) -> None:
        change = self.tracker.observe(frame, t)
        if change is not None:
            self.changes.append(change)

    def poll(self, t: int) -> AttentionChange | None:
        change = self.tracker.poll(t)
        if change is not None:
            self.changes.append(change)
        return change

    def states(self) -> list[tuple[str, int, str]]:
        return [(c.attention, c.since_ms, c.cause) for c in self.changes]


def started(config: AttentionConfig = CFG, **kw: bool) -> Run:
    """A tracker that saw 4 s of focused, pose-valid frames (calibrated at neutral 0/0)."""
    run = Run(config, **kw).feed(focused, 4000)
    assert run.states() == [("focused", 0, "first_face")] and run.tracker.calibrated
    run.changes.clear()
    return run


# --- real recordings --------------------------------------------------------------------


def count_blinks(times: list[int], left: list[float], right: list[float]) -> int:
    """Both eyeBlink > 0.5, from the first such frame to the first frame that is not, lasting
    50..500 ms: counted straight from the raw scores (independent of the tracker)."""
    blinks, start = 0, None
    for t, lv, rv in zip(times, left, right, strict=True):
        if lv > 0.5 and rv > 0.5:
            start = t if start is None else start
        elif start is not None:
            blinks += 50 <= t - start <= 500
            start = None
    return blinks


def test_blinks_in_the_live_link_take_match_an_independent_count() -> None:
    rec = load_recording(face_data_dir() / LIVELINK_CSV)
    assert not rec.has_pose
    times = [round(f.t_ms) for f in rec.frames]
    tracker = AttentionTracker(CFG, now_ms=0)
    for i, (rf, t) in enumerate(zip(rec.frames, times, strict=True)):
        tracker.observe(frame_bytes(rf, seq=i, capture_ms=t, pose_valid=False), t)
    left = [f.scores[SHAPE_INDEX["eyeBlinkLeft"]] for f in rec.frames]
    right = [f.scores[SHAPE_INDEX["eyeBlinkRight"]] for f in rec.frames]
    expected = count_blinks(times, left, right)
    stats = tracker.stats(times[-1])
    assert stats.blinks == expected
    assert 15 <= expected <= 60  # 134 s of a real face: ~7..27 blinks per minute
    assert 5.0 <= stats.blink_rate_per_min <= 40.0
    assert stats.frames == len(rec.frames) and not stats.frozen and not stats.implausible
    assert not tracker.calibrated and tracker.neutral_yaw_deg == 0.0  # no pose in this take
    assert stats.focused_ms + stats.off_ms == times[-1]


def test_llv_take_with_head_pose_calibrates_near_its_median() -> None:
    rec = load_recording(face_data_dir() / GESICHTER)
    assert rec.has_pose and rec.duration_ms > CFG.calibration_ms
    tracker = AttentionTracker(CFG, now_ms=0)
    for i, rf in enumerate(rec.frames):
        t = round(rf.t_ms)
        tracker.observe(frame_bytes(rf, seq=i, capture_ms=t, pose_valid=True), t)
    assert tracker.calibrated and tracker.attention != "idle"
    first = [f for f in rec.frames if round(f.t_ms) < CFG.calibration_ms]  # its first 3 s
    assert tracker.neutral_yaw_deg == pytest.approx(
        statistics.median(f.yaw_deg for f in first), abs=0.01
    )
    assert tracker.neutral_pitch_deg == pytest.approx(
        statistics.median(f.pitch_deg for f in first), abs=0.01
    )
    assert abs(tracker.neutral_yaw_deg - statistics.median(f.yaw_deg for f in rec.frames)) < 2.0


# --- transitions, at their exact thresholds ---------------------------------------------


def test_idle_until_the_first_face_then_focused_at_once() -> None:
    run = Run().feed(no_face, 6000, step=500)
    assert run.tracker.attention == "idle" and run.changes == [] and run.poll(20_000) is None
    run.t = 20_000
    run.feed(focused, 100)
    assert run.states() == [("focused", 20_000, "first_face")]
    assert run.changes[0].previous == "idle"


@pytest.mark.parametrize(("glance_ms", "published"), [(2900, False), (3000, True)])
def test_gaze_glance_publishes_only_at_3_s(glance_ms: int, published: bool) -> None:
    run = started().feed(away, glance_ms).feed(focused, 10_000)
    if not published:
        assert run.changes == []
        return
    assert run.states() == [
        ("looking_away", 4000 + 3000, "looking_away"),
        ("focused", 4000 + 3000 + 2000, "recovered"),  # 2 s after the focus began
    ]
    assert run.tracker.take_interruptions() == []  # never distracted


@pytest.mark.parametrize(("yaw", "published"), [(29.9, False), (-30.1, True), (45.0, True)])
def test_head_yaw_beyond_30_degrees_is_looking_away(yaw: float, published: bool) -> None:
    run = started().feed(lambda s: face(s, yaw=yaw), 3000 + STEP)
    assert run.states() == ([("looking_away", 7000, "looking_away")] if published else [])


def test_gaze_rule_needs_both_eyes_on_one_side_or_up() -> None:
    for shapes in (
        {"eyeLookOutLeft": 0.9},  # one eye only
        {"eyeLookOutLeft": 0.9, "eyeLookOutRight": 0.9},  # eyes disagree (converging)
        {"eyeLookDownLeft": 1.0, "eyeLookDownRight": 1.0},  # reading notes
        {"eyeLookUpLeft": 0.6, "eyeLookUpRight": 0.9},  # not beyond 0.6
    ):
        assert started().feed(with_shapes(shapes), 5000).changes == []
    for shapes in (
        GAZE_LEFT,
        {"eyeLookInLeft": 0.7, "eyeLookOutRight": 0.7},
        {"eyeLookUpLeft": 0.61, "eyeLookUpRight": 0.61},
    ):
        run = started().feed(with_shapes(shapes), 5000)
        assert run.states() == [("looking_away", 7000, "looking_away")]


@pytest.mark.parametrize(("closed_ms", "published"), [(1400, False), (1500, True)])
def test_eyes_closed_publishes_at_1_5_s(closed_ms: int, published: bool) -> None:
    run = started().feed(closed, closed_ms).feed(focused, 3000)
    recovered = 4000 + closed_ms + 2000
    expected = [("eyes_closed", 5500, "eyes_closed"), ("focused", recovered, "recovered")]
    assert run.states() == (expected if published else [])
    assert run.tracker.stats(run.t).blinks == 0  # far longer than a blink


def test_blinks_do_not_reset_the_looking_away_timer_nor_a_recovery() -> None:
    run = started().feed(away, 1000).feed(closed, 300).feed(away, 1700)  # a blink inside
    run.feed(focused, 1000).feed(closed, 300).feed(focused, 800)  # 2 s, a blink inside
    assert run.states() == [
        ("looking_away", 4000 + 3000, "looking_away"),
        ("focused", 7000 + 2000, "recovered"),
    ]
    assert run.tracker.stats(run.t).blinks == 2


@pytest.mark.parametrize(("down_ms", "published"), [(4900, False), (5000, True)])
def test_head_down_counts_after_5_s(down_ms: int, published: bool) -> None:
    run = started().feed(lambda s: face(s, pitch=25.0), down_ms).feed(focused, 3000)
    recovered = 4000 + down_ms + 2000
    expected = [("looking_away", 9000, "head_down"), ("focused", recovered, "recovered")]
    assert run.states() == (expected if published else [])
    assert started().feed(lambda s: face(s, pitch=19.9), 9000).changes == []


def test_head_down_never_counts_in_paper_mode() -> None:
    run = started(paper_mode=True).feed(lambda s: face(s, pitch=40.0), 30_000)
    assert run.changes == []
    run.tracker.paper_mode = False  # takes effect from the next frame
    run.feed(lambda s: face(s, pitch=40.0), 5000 + STEP)
    assert run.states() == [("looking_away", 34_000 + 5000, "head_down")]


def test_head_pose_is_skipped_without_the_pose_bit() -> None:
    run = started().feed(lambda s: face(s, yaw=90.0, pitch=60.0, pose=False), 20_000)
    assert run.changes == []


@pytest.mark.parametrize(("absent_ms", "published"), [(4900, False), (5000, True)])
def test_face_absent_frames_publish_no_face_at_5_s(absent_ms: int, published: bool) -> None:
    run = started().feed(no_face, absent_ms, step=STEP).feed(focused, 3000)
    expected = [("no_face", 9000, "no_face"), ("focused", 4000 + absent_ms + 2000, "recovered")]
    assert run.states() == (expected if published else [])


def test_no_frames_for_5_s_is_no_face_from_the_last_frame() -> None:
    run = started()  # last frame at 3900
    assert run.poll(3900 + 4999) is None
    assert run.poll(3900 + 5000) == AttentionChange("no_face", 8900, "focused", "no_frames")
    assert run.poll(3900 + 14_999) is None
    assert run.poll(3900 + 15_000) == AttentionChange("distracted", 18_900, "no_face", "no_frames")
    run.t = 30_000
    run.feed(focused, 2000)
    assert run.poll(32_000) is None  # a recovery needs a frame to confirm it
    run.feed(focused, 100)
    assert run.changes[-1] == AttentionChange("focused", 32_000, "distracted", "recovered")
    assert run.tracker.take_interruptions() == [Interruption("no_face", 3900, 30_000)]


def test_off_focus_for_15_s_is_distracted_and_ends_as_one_interruption() -> None:
    run = started().feed(away, 10_900)
    assert run.poll(4000 + 14_999) is None
    assert run.poll(4000 + 15_000) == AttentionChange(
        "distracted", 19_000, "looking_away", "looking_away"
    )
    run.t = 25_000
    run.feed(away, 1000).feed(focused, 2000)
    assert run.tracker.attention == "distracted" and run.tracker.take_interruptions() == []
    run.feed(focused, 100)
    assert run.states()[-1] == ("focused", 28_000, "recovered")
    assert run.tracker.take_interruptions() == [Interruption("looked_away", 4000, 26_000)]
    assert run.tracker.take_interruptions() == []  # drained


def test_short_focus_blips_do_not_reset_the_stretch() -> None:
    run = started().feed(away, 3000)  # looking_away at 7000, stretch from 4000
    for _ in range(6):
        run.feed(focused, 1900).feed(away, 100)  # 1.9 s of focus, then away again
    assert run.t == 19_000 and run.states() == [("looking_away", 7000, "looking_away")]
    run.feed(focused, 2000 + STEP)  # a focus that reaches 2 s recovers
    assert run.states()[1:] == [
        ("distracted", 19_000, "looking_away"),
        ("focused", 21_000, "recovered"),
    ]
    assert run.tracker.take_interruptions() == [Interruption("looked_away", 4000, 19_000)]


def test_recovery_just_before_15_s_prevents_distracted() -> None:
    run = started().feed(away, 11_000).feed(focused, 2100)  # focus from 15_000 to 17_000
    assert [c.attention for c in run.changes] == ["looking_away", "focused"]
    run = started().feed(away, 9000).feed(focused, 2000)  # focused again at 15_000
    run.feed(away, 30_000)  # a new stretch from 15_000
    assert run.states() == [
        ("looking_away", 7000, "looking_away"),
        ("focused", 15_000, "recovered"),
        ("looking_away", 18_000, "looking_away"),
        ("distracted", 30_000, "looking_away"),
    ]


def test_condition_kinds_within_a_stretch_and_the_dominant_kind() -> None:
    run = started().feed(away, 4000).feed(closed, 2000).feed(no_face, 20_000, step=500)
    assert run.states() == [
        ("looking_away", 7000, "looking_away"),
        ("eyes_closed", 9500, "eyes_closed"),
        ("no_face", 15_000, "no_face"),
        ("distracted", 19_000, "no_face"),
    ]
    run.feed(focused, 2000 + STEP)
    assert run.tracker.take_interruptions() == [Interruption("no_face", 4000, 30_000)]


@pytest.mark.parametrize(("still_ms", "published"), [(9900, False), (10_000, True)])
def test_frozen_feed_is_no_face_after_10_s(still_ms: int, published: bool) -> None:
    run = started().feed(lambda s: STILL, still_ms + STEP)  # identical from 4000 on
    stats = run.tracker.stats(run.t)
    assert stats.frozen is published
    assert run.states() == ([("no_face", 14_000, "frozen")] if published else [])
    if published:
        run.feed(lambda s: STILL, 5000)
        assert run.states()[-1] == ("distracted", 4000 + 15_000, "frozen")
        run.feed(focused, 2000 + STEP)
        assert run.tracker.take_interruptions() == [Interruption("no_face", 4000, 19_100)]
        assert not run.tracker.stats(run.t).frozen


def test_cognitive_load_counts_whole_browdown_stretches_of_3_s() -> None:
    brows = lambda s: face(s, shapes=BROWS)  # noqa: E731
    run = started().feed(brows, 2900).feed(focused, 1000)
    assert run.tracker.stats(run.t).load_ms == 0
    run.feed(brows, 3300).feed(focused, 1000)
    assert run.tracker.stats(run.t).load_ms == 3300
    run.feed(brows, 4000)  # still open: counted up to its last frame
    assert run.tracker.stats(run.t).load_ms == 3300 + 3900
    assert run.changes == []  # load is a statistic, not an attention state


@pytest.mark.parametrize(("frames", "flagged"), [(75, False), (76, True)])
def test_frame_rate_above_75_per_second_is_implausible(frames: int, flagged: bool) -> None:
    run = started()
    for i in range(frames):
        run.frame(focused(i), 10_000 + i * 999 // frames)
    assert run.tracker.stats(11_000).implausible is flagged


def test_stats_totals_and_blink_rate_window() -> None:
    run = started()
    run.feed(lambda s: face(s, shapes=CLOSED), 200).feed(focused, 10_000)
    stats = run.tracker.stats(14_200)
    assert stats.blinks == 1 and stats.blink_rate_per_min == pytest.approx(60_000 / 14_200)
    assert run.tracker.stats(4200 + 60_000).blink_rate_per_min == 0.0  # out of the window
    assert stats.focused_ms == 14_200 and stats.off_ms == 0
    run.feed(away, 5000)
    stats = run.tracker.stats(19_200)
    assert stats.focused_ms == 17_200 and stats.off_ms == 2000


def test_close_ends_an_open_interruption_and_goes_idle() -> None:
    run = started().feed(away, 20_000)
    run.tracker.take_interruptions()
    assert run.tracker.close(30_000) == [Interruption("looked_away", 4000, 30_000)]
    assert run.tracker.attention == "idle" and run.tracker.take_interruptions() == []
    assert started().feed(away, 5000).tracker.close(9000) == []  # not distracted: nothing


def test_a_long_gap_collapses_into_one_change() -> None:
    run = started().feed(away, 1000)
    change = run.tracker.observe(away(0), 60_000)
    assert change == AttentionChange("distracted", 4000 + 15_000, "focused", "no_frames")
    assert run.tracker.attention == "distracted"


def test_time_running_backwards_counts_as_the_latest_time() -> None:
    run = started().feed(away, 3000 + STEP)
    assert run.tracker.observe(away(0), 1000) is None  # treated as 7000
    assert run.tracker.since_ms == 7000 and run.tracker.poll(0) is None
    assert run.tracker.stats(0).focused_ms == 7000


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="away_after_ms"):
        AttentionConfig(away_after_ms=-1)
    with pytest.raises(ValueError, match="gaze_away"):
        AttentionConfig(gaze_away=1.5)


# --- properties -------------------------------------------------------------------------

HEADER, POSE = struct.Struct("<BBHI"), struct.Struct("<hhh")
YAW_ROLL = st.integers(-18000, 18000)
STILL = face(1, jitter=False, shapes={"mouthSmileLeft": 0.3})
KIND_FRAMES: dict[str, Callable[[int], bytes]] = {
    "F": focused, "A": away, "N": no_face, "C": closed, "S": lambda seq: STILL
}  # fmt: skip


@st.composite
def random_frame(draw: st.DrawFn) -> bytes:
    """A valid header (kind, flags, seq, capture, yaw/pitch/roll in range) and 58 random
    content bytes, or (1 in 4) 64 random bytes after the kind and flags: any pose at all."""
    flags = draw(st.sampled_from([0, 1, 3, 5, 7]))
    seq, capture = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF_FFFF))
    header = HEADER.pack(FRAME_KIND, flags, seq, capture)
    if draw(st.integers(0, 3)) == 0:
        return header + draw(st.binary(min_size=64, max_size=64))
    pose = POSE.pack(draw(YAW_ROLL), draw(st.integers(-9000, 9000)), draw(YAW_ROLL))
    frame = header + pose + draw(st.binary(min_size=58, max_size=58))
    assert check_frame(frame) is None
    return frame


@given(
    st.lists(
        st.tuples(st.integers(-3000, 8000), st.one_of(st.none(), random_frame(), st.just(b""))),
        max_size=120,
    ),
)
@settings(max_examples=250, deadline=None)
def test_any_72_byte_frames_at_any_times_never_raise(ops: list[tuple[int, bytes | None]]) -> None:
    """None: poll; b"": toggle paper mode; times step by -3 s..8 s."""
    tracker = AttentionTracker(replace(CFG, calibration_ms=500), now_ms=0)
    assert not hasattr(tracker, "__dict__")  # __slots__: no per-instance dict
    t = 0
    for dt, frame in ops:
        t += dt
        if frame is None:
            tracker.poll(t)
        elif not frame:
            tracker.paper_mode = not tracker.paper_mode
        else:
            assert len(frame) == 72
            tracker.observe(frame, t)
        stats = tracker.stats(t)
        assert stats.focused_ms >= 0 and stats.off_ms >= 0 and stats.load_ms >= 0
    tracker.close(t + 1)
    assert tracker.attention == "idle" and tracker.take_interruptions() == []


def focus_runs(frames: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """Reference model: each maximal run of consecutive focused frames as (start, stop): it
    stops at the next other frame if that came within 5 s, else at its own last frame (then
    the member counts as gone from there: "no frames")."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, (t, kind) in enumerate(frames):
        if kind != "F":
            if start is not None:
                runs.append((start, t))
                start = None
            continue
        start = t if start is None else start
        if i + 1 == len(frames) or frames[i + 1][0] >= t + CFG.no_face_after_ms:
            runs.append((start, t))
            start = None
    return runs


def ops(kinds: str) -> st.SearchStrategy[list[tuple[int, str]]]:
    """(time step in ms, a frame kind of KIND_FRAMES or "poll") lists; steps may be < 0."""
    steps = st.sampled_from([0, 100, 500, 1000, 2000, 3000, 6000]) | st.integers(-500, 7000)
    return st.lists(st.tuples(steps, st.sampled_from([*kinds, "poll"])), max_size=150)

Replay = tuple[AttentionTracker, list[AttentionChange], list[tuple[int, str]], int]


def replay(ops: list[tuple[int, str]], *, polls: bool = True) -> Replay:
    """Feed ops to a new tracker; the frames (kind "S" as "F") at their effective times
    (the running maximum: the tracker counts an earlier time as the latest seen)."""
    tracker = AttentionTracker(CFG, now_ms=0)
    now = t = 0
    frames: list[tuple[int, str]] = []
    changes: list[AttentionChange] = []
    for dt, kind in ops:
        now += dt
        t = max(t, now)
        if kind == "poll":
            change = tracker.poll(now) if polls else None
        else:
            change = tracker.observe(KIND_FRAMES[kind](len(frames)), now)  # jitter alternates
            frames.append((t, "F" if kind == "S" else kind))
        if change is not None:
            changes.append(change)
    return tracker, changes, frames, t


@given(ops("FANS"))  # a still counts as focus until it is frozen
@settings(max_examples=300, deadline=None)
def test_recovery_always_follows_2_s_of_focus(ops: list[tuple[int, str]]) -> None:
    _, changes, frames, _ = replay(ops)
    runs = focus_runs(frames)
    for change in changes:
        if change.attention == "focused" and change.previous != "idle":
            assert change.cause == "recovered"
            start = change.since_ms - CFG.recover_after_ms
            assert any(a == start and b >= change.since_ms for a, b in runs)


@given(ops("FAN"))
@settings(max_examples=300, deadline=None)
def test_distracted_only_after_15_s_off_focus_without_recovery(ops: list[tuple[int, str]]) -> None:
    tracker, changes, frames, end = replay(ops)
    interruptions = tracker.take_interruptions() + tracker.close(end)
    starts = {gap.started_ms for gap in interruptions}
    for change in changes:
        if change.attention == "distracted":
            assert change.since_ms - CFG.distracted_after_ms in starts
    runs = focus_runs(frames)
    for gap in interruptions:
        became = gap.started_ms + CFG.distracted_after_ms
        assert gap.started_ms <= gap.ended_ms <= end
        for start, stop in runs:
            if gap.started_ms <= start < became:
                assert min(stop, became) - start < CFG.recover_after_ms


@given(ops("FANCS"))
@settings(max_examples=200, deadline=None)
def test_polling_changes_no_outcome(ops: list[tuple[int, str]]) -> None:
    ops = [(max(dt, 0), kind) for dt, kind in ops]  # a poll's time counts as seen, too
    polled, _, _, end = replay(ops, polls=True)
    unpolled, _, _, _ = replay(ops, polls=False)
    polled.poll(end)
    unpolled.poll(end)
    assert (polled.attention, polled.since_ms) == (unpolled.attention, unpolled.since_ms)
    assert polled.take_interruptions() == unpolled.take_interruptions()
    assert polled.stats(end) == unpolled.stats(end)
