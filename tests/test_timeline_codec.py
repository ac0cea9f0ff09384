"""Ghost timeline codec (DESIGN.md section 5, Ghosts): 10 fps downsampling with pooled blinks,
chunks that round-trip exactly, the storage budget on the real takes, corrupt and future chunks.

The real takes are shared/data/face (SOURCES.md); "the real take" is the 134 s Live Link CSV.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avatars.attention import AttentionConfig, AttentionTracker
from avatars.blendshapes import BLENDSHAPE_NAMES, SHAPE_COUNT, SHAPE_INDEX
from avatars.frame import (
    FLAG_FACE,
    FLAG_POSE,
    FLAG_SHAPES,
    FrameError,
    check_frame,
    decode_frame,
    encode_frame,
    encode_no_face_frame,
)
from avatars.recordings import Recording, face_data_dir, frame_bytes, load_recording
from avatars.timeline import (
    ATTENTION,
    CHUNK_MS,
    MAGIC,
    TIMER,
    VERSION,
    Chunk,
    ChunkError,
    ChunkWriter,
    Downsampler,
    Event,
    Sample,
    decode_chunk,
    encode_chunk,
    join_chunks,
    sample_to_frame,
)

REAL_TAKE = "livelinkface_alex_rom_3.csv"
TAKES = (REAL_TAKE, "llv_dao.gesichter", "llv_dao_decoded.csv")
PHASE_START = 1_700_000_000_000  # an epoch-ms phase start: every timeline time is relative
PERIOD = 100
HALF_STEP = 1 / 510 + 1e-12  # the u8 quantization half-step
BUDGET_BYTES_PER_HOUR = 1_500_000  # DESIGN.md section 7
BLINK_L, BLINK_R = SHAPE_INDEX["eyeBlinkLeft"], SHAPE_INDEX["eyeBlinkRight"]
CLOSED_BYTE = 127  # score > 0.5 <=> byte > 127 (AttentionConfig.blink_threshold as a byte)
BRIDGE_MS = 2 * PERIOD  # see closures()


def clamp01(s: float) -> float:
    return min(max(s, 0.0), 1.0)


def cdeg(deg: float) -> int:
    return math.floor(deg * 100.0 + 0.5)


def take_frames(rec: Recording) -> list[tuple[bytes, int]]:
    """The take as 72-byte frames at their (rounded) server ms, starting at PHASE_START."""
    return [
        (frame_bytes(f, seq=i, capture_ms=i, pose_valid=rec.has_pose), PHASE_START + round(f.t_ms))
        for i, f in enumerate(rec.frames)
    ]


def record(frames: Sequence[tuple[bytes, int]], **kwargs: Any) -> tuple[ChunkWriter, list[bytes]]:
    """Feed frames to a ChunkWriter the way the server would (poll on a 1 s tick), close at
    the last frame; the chunks' bytes in order."""
    writer = ChunkWriter(PHASE_START, **kwargs)
    blobs, next_tick = [], PHASE_START + 1000
    for frame, t in frames:
        while t >= next_tick:
            blobs += writer.poll(next_tick)
            next_tick += 1000
        writer.add_frame(frame, t)
    blobs += writer.close(frames[-1][1] if frames else PHASE_START)
    assert [b.index for b in blobs] == list(range(len(blobs)))
    return writer, [b.data for b in blobs]


def closures(timeline: Sequence[tuple[int, bytes]], bridge_ms: int = BRIDGE_MS) -> list[int]:
    """Start ms of each eye closure (both eyeBlink > 0.5) in (t_ms, shapes) rows; a reopening
    shorter than ``bridge_ms`` does not end one. At 10 fps a reopening shows only if a whole
    window holds no closed frame, which only one of >= 2 windows (200 ms) guarantees; no blink
    reopens that fast (blinks last 100..400 ms), so shorter ones are tracker flutter."""
    starts: list[int] = []
    closed_until = None  # the time the current closure's eyes opened, if they did
    is_closed = False
    for t, shapes in timeline:
        now_closed = shapes[BLINK_L] > CLOSED_BYTE and shapes[BLINK_R] > CLOSED_BYTE
        if now_closed and not is_closed:
            if closed_until is None or t - closed_until >= bridge_ms:
                starts.append(t)
        elif is_closed and not now_closed:
            closed_until = t
        is_closed = now_closed
    return starts


@pytest.fixture(scope="module", params=TAKES)
def take(request: pytest.FixtureRequest) -> Recording:
    return load_recording(face_data_dir() / request.param)


@pytest.fixture(scope="module")
def real_take() -> Recording:
    return load_recording(face_data_dir() / REAL_TAKE)


# --- the real takes ------------------------------------------------------------------------


def test_real_takes_round_trip_within_the_quantization_step(take: Recording) -> None:
    frames = take_frames(take)
    _writer, blobs = record(frames)
    samples, events = join_chunks(decode_chunk(b) for b in blobs)
    assert events == []
    # the reference 10 fps downsample, from the recording's raw floats
    windows: dict[int, tuple[int, float, float]] = {}
    for i, f in enumerate(take.frames):
        w = round(f.t_ms) // PERIOD
        _, bl, br = windows.get(w, (i, 0.0, 0.0))
        windows[w] = (i, max(bl, clamp01(f.scores[BLINK_L])), max(br, clamp01(f.scores[BLINK_R])))
    assert [s.t_ms for s in samples] == [w * PERIOD for w in sorted(windows)]
    flags = FLAG_FACE | FLAG_SHAPES | (FLAG_POSE if take.has_pose else 0)
    for s in samples:
        latest, bl, br = windows[s.t_ms // PERIOD]
        f = take.frames[latest]
        expected = [clamp01(x) for x in f.scores]
        expected[BLINK_L], expected[BLINK_R] = bl, br
        assert len(s.shapes) == SHAPE_COUNT
        assert all(abs(b / 255 - e) <= HALF_STEP for b, e in zip(s.shapes, expected, strict=True))
        assert (s.yaw_cdeg, s.pitch_cdeg, s.roll_cdeg) == (
            cdeg(f.yaw_deg), cdeg(f.pitch_deg), cdeg(f.roll_deg))  # fmt: skip
        assert (s.flags, s.quality, s.tx_mm, s.ty_mm, s.tz_mm) == (flags, 255, 0, 0, 0)
    if take.has_pose:
        assert len({s.yaw_cdeg for s in samples}) > 10  # the pose columns carry real data


def test_decoded_samples_equal_the_downsample_exactly(take: Recording) -> None:
    frames = take_frames(take)
    downsampler = Downsampler(PHASE_START)
    for frame, t in frames:
        downsampler.add(frame, t)
    _writer, blobs = record(frames)
    samples, _ = join_chunks(decode_chunk(b) for b in blobs)
    assert samples == downsampler.flush()


def test_replayed_frames_are_valid_and_carry_the_sample(take: Recording) -> None:
    _writer, blobs = record(take_frames(take))
    samples, _ = join_chunks(decode_chunk(b) for b in blobs)
    for seq, s in enumerate(samples):
        frame = sample_to_frame(s, seq + 65_000, PHASE_START + s.t_ms)
        assert check_frame(frame) is None
        f = decode_frame(frame)
        assert (f.seq, f.capture_ms) == (
            (seq + 65_000) & 0xFFFF,
            (PHASE_START + s.t_ms) & 0xFFFF_FFFF,
        )
        assert (f.flags, f.yaw_cdeg, f.pitch_cdeg, f.roll_cdeg, f.quality, f.shapes) == (
            s.flags, s.yaw_cdeg, s.pitch_cdeg, s.roll_cdeg, s.quality, s.shapes)  # fmt: skip


def test_blinks_survive_10_fps(real_take: Recording) -> None:
    frames = take_frames(real_take)
    _writer, blobs = record(frames)
    samples, _ = join_chunks(decode_chunk(b) for b in blobs)
    source = closures([(t - PHASE_START, f[21:]) for f, t in frames])
    replayed = closures([(s.t_ms, s.shapes) for s in samples])
    assert len(source) >= 30  # SOURCES.md counts 34 blinks in this take
    assert len(replayed) == len(source)
    # and each closure is where it was: within one window (+ the 33 ms frame interval)
    assert all(abs(a - b) <= PERIOD for a, b in zip(source, replayed, strict=True))
    # latest-frame decimation, without pooling, loses blinks: the pooling is what keeps them
    decimated = closures([(t - PHASE_START, f[21:]) for f, t in _latest_per_window(frames)])
    assert len(decimated) < len(source)


def _latest_per_window(frames: Sequence[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    latest: dict[int, tuple[bytes, int]] = {}
    for frame, t in frames:
        latest[(t - PHASE_START) // PERIOD] = (frame, t)
    return list(latest.values())


def test_no_closed_window_without_a_closed_frame(real_take: Recording) -> None:
    """Pooling each eye separately could show a closed window where the eyes never closed
    together; on the real take every closed window holds a frame with both closed."""
    frames = take_frames(real_take)
    downsampler = Downsampler(PHASE_START)
    closed_frames: set[int] = set()
    for frame, t in frames:
        downsampler.add(frame, t)
        if frame[21 + BLINK_L] > CLOSED_BYTE and frame[21 + BLINK_R] > CLOSED_BYTE:
            closed_frames.add((t - PHASE_START) // PERIOD)
    closed_windows = {
        s.t_ms // PERIOD
        for s in downsampler.flush()
        if s.shapes[BLINK_L] > CLOSED_BYTE and s.shapes[BLINK_R] > CLOSED_BYTE
    }
    assert closed_windows == closed_frames


def test_real_take_fits_the_storage_budget(real_take: Recording) -> None:
    frames = take_frames(real_take)
    _writer, blobs = record(frames)
    duration_ms = frames[-1][1] - frames[0][1]
    per_hour = sum(map(len, blobs)) * 3_600_000 / duration_ms
    assert duration_ms > 130_000 and len(blobs) == 3
    assert per_hour < BUDGET_BYTES_PER_HOUR, f"{per_hour / 1e6:.2f} MB per user-hour"


def test_attention_and_timer_events_round_trip(real_take: Recording) -> None:
    """The take through a real AttentionTracker: every change it publishes, plus timer events,
    comes back identical and in order, each in the chunk of its time."""
    writer = ChunkWriter(PHASE_START)
    tracker = AttentionTracker(AttentionConfig(), now_ms=PHASE_START)
    timer = {
        "phase": "focus",
        "cycle": 1,
        "cycles": 4,
        "phase_started_ms": PHASE_START,
        "phase_ends_ms": PHASE_START + 25 * 60_000,
    }
    recorded = [writer.add_event(TIMER, timer, PHASE_START)]
    blobs = []
    for frame, t in take_frames(real_take):
        writer.add_frame(frame, t)
        change = tracker.observe(frame, t)
        if change is not None:
            recorded.append(writer.add_attention(change.attention, change.since_ms, change.cause))
        blobs += writer.poll(t)
    end = PHASE_START + 135_000
    recorded.append(writer.add_event(TIMER, {"phase": "short_break", "cycle": 1, "paused": None,
                                             "durations": [25, 5, 15]}, end))  # fmt: skip
    blobs += writer.close(end)
    assert len(recorded) > 4  # the take closes its eyes for seconds: attention changes
    chunks = [decode_chunk(b.data) for b in blobs]
    assert [len(c.events) for c in chunks] == [b.events for b in blobs]
    _, events = join_chunks(chunks)
    assert events == recorded
    assert {e.payload["state"] for e in events if e.kind == ATTENTION} >= {"focused", "eyes_closed"}


# --- chunks ---------------------------------------------------------------------------------


def sample(t_ms: int, **fields: Any) -> Sample:
    base = Sample(t_ms, 7, 0, 0, 0, 0, 0, 600, 255, bytes(range(SHAPE_COUNT)))
    return replace(base, **fields)


def test_empty_chunk() -> None:
    data = encode_chunk(120_000, [])
    chunk = decode_chunk(data)
    assert chunk == Chunk(VERSION, 10, 120_000, BLENDSHAPE_NAMES, (), ())
    assert len(data) < 800  # header + the shape-name table
    assert ChunkWriter(PHASE_START).close(PHASE_START) == []


def test_a_gap_stays_a_gap_and_no_face_frames_stay() -> None:
    """30 fps for 2 s, nothing for 3 s (hidden tab), 2 Hz face-lost frames for 3 s, 30 fps
    again: windows without frames have no sample; face-lost frames are flags-0 samples."""
    scores = [0.25] * SHAPE_COUNT
    frames = [(encode_frame(seq=i, capture_ms=i, scores=scores, yaw_deg=-12.34), i * 33)
              for i in range(61)]  # fmt: skip
    frames += [(encode_no_face_frame(i, i), 5000 + 500 * i) for i in range(6)]
    frames += [(encode_frame(seq=i, capture_ms=i, scores=scores), 8000 + 33 * i) for i in range(30)]
    _writer, blobs = record([(f, PHASE_START + t) for f, t in frames])
    (chunk,) = [decode_chunk(b) for b in blobs]
    times = [s.t_ms for s in chunk.samples]
    assert times == sorted({t // PERIOD * PERIOD for _, t in frames})
    assert not any(2000 < t < 5000 for t in times)
    lost = [s for s in chunk.samples if 5000 <= s.t_ms < 8000]
    assert [s.t_ms for s in lost] == [5000, 5500, 6000, 6500, 7000, 7500]
    assert all(s.flags == 0 and s.shapes == bytes(SHAPE_COUNT) for s in lost)
    assert all(s.flags == 7 and s.yaw_cdeg == -1234 for s in chunk.samples if s.t_ms < 2000)


def test_chunks_are_cut_when_they_fill() -> None:
    """A crash loses at most the open chunk: chunk k is out as soon as the clock passes its
    end, holds only its own minute, and later ones never depend on it."""
    writer = ChunkWriter(PHASE_START)
    frame = encode_frame(seq=0, capture_ms=0, scores=[0.5] * SHAPE_COUNT)
    out = []
    for t in range(0, 150_000, 50):
        out += writer.poll(PHASE_START + t)
        assert len(out) == t // CHUNK_MS
        writer.add_frame(frame, PHASE_START + t)
    out += writer.close(PHASE_START + 150_000)
    assert [(b.index, b.start_ms, b.samples) for b in out] == [
        (0, 0, 600), (1, 60_000, 600), (2, 120_000, 300)]  # fmt: skip
    for blob in out:
        chunk = decode_chunk(blob.data)
        assert chunk.start_ms == blob.start_ms
        assert all(blob.start_ms <= s.t_ms < blob.start_ms + CHUNK_MS for s in chunk.samples)
    with pytest.raises(RuntimeError):
        writer.add_frame(frame, PHASE_START + 150_001)


def test_late_events_land_in_the_next_chunk_and_join_sorts_them() -> None:
    writer = ChunkWriter(PHASE_START, chunk_ms=1000)
    first = writer.poll(PHASE_START + 1000)
    late = writer.add_attention("looking_away", PHASE_START + 900, "looking_away")
    early = writer.add_attention("focused", PHASE_START - 5000)  # before the phase: at 0
    assert late is not None and early is not None
    rest = writer.close(PHASE_START + 1500)
    assert (early.t_ms, late.t_ms) == (0, 900)
    assert [b.events for b in first + rest] == [0, 2]
    _, events = join_chunks(decode_chunk(b.data) for b in first + rest)
    assert events == [early, late]


def test_an_event_flood_is_dropped_and_counted_not_the_chunk() -> None:
    writer = ChunkWriter(PHASE_START)
    kept = [writer.add_event(TIMER, {"blob": bytes(100_000)}, PHASE_START + i) for i in range(12)]
    assert kept.count(None) == 2 and writer.dropped_events == 2
    (blob,) = writer.poll(PHASE_START + CHUNK_MS)
    assert decode_chunk(blob.data).events == tuple(kept[:10])
    assert writer.add_event(TIMER, {"blob": bytes(100_000)}, PHASE_START + CHUNK_MS) is not None


def test_old_chunk_with_another_shape_list_still_decodes() -> None:
    """A version-1 chunk written by hand from the module's layout, with a shape list of its
    own: columns map by name, tongueOut (unknown today) is dropped, missing shapes read 0."""
    names = ["jawOpen", "tongueOut", "eyeBlinkLeft"]
    values = [[10, 200, 30], [250, 0, 255], [9, 9, 9]]  # per sample, in `names` order
    offsets = [3, 1, 5]  # window deltas: windows 3, 4, 9
    n = len(values)

    def deltas(col: list[int], mod: int) -> list[int]:
        return [(b - a) % mod for a, b in zip([0, *col], col, strict=False)]

    body = b"".join(bytes((d >> (8 * k)) & 0xFF for d in offsets) for k in range(4))
    body += bytes(deltas([5] * n, 256)) + bytes(deltas([200] * n, 256))  # flags, quality
    yaw = deltas([-1000, 1000, -18000], 1 << 16)
    body += bytes(d & 0xFF for d in yaw) + bytes(d >> 8 for d in yaw) + bytes(10 * n)
    body += b"".join(bytes(deltas([v[j] for v in values], 256)) for j in range(len(names)))
    body += b"\x91\x93\xcd\x01\x2c\xa5timer\x81\xa5phase\xa5focus"  # [[300, "timer", {...}]]
    table = ",".join(names).encode()
    data = struct.pack("<4sBBHIIH", b"SVGT", 1, 0, 10, 60_000, n, len(table)) + table
    data += zlib.compress(body)
    data += struct.pack("<I", zlib.crc32(data))
    chunk = decode_chunk(data)
    assert chunk.shape_names == tuple(names)
    assert [s.t_ms for s in chunk.samples] == [60_300, 60_400, 60_900]
    assert [s.yaw_cdeg for s in chunk.samples] == [-1000, 1000, -18000]
    for s, v in zip(chunk.samples, values, strict=True):
        expected = bytearray(SHAPE_COUNT)
        expected[SHAPE_INDEX["jawOpen"]], expected[BLINK_L] = v[0], v[2]
        assert s.shapes == expected and (s.flags, s.quality) == (5, 200)
    assert chunk.events == (Event(300, "timer", {"phase": "focus"}),)


def _with_crc(data: bytes) -> bytes:
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.fixture(scope="module")
def good_chunk() -> bytes:
    samples = [sample(t) for t in range(0, 60_000, 700)]
    return encode_chunk(0, samples, [Event(5, TIMER, {"phase": "focus"})])


def test_future_version_is_refused_clearly(good_chunk: bytes) -> None:
    for version in (VERSION + 1, 255, 0):
        future = _with_crc(good_chunk[:4] + bytes((version,)) + good_chunk[5:])
        with pytest.raises(ChunkError, match=f"version {version}") as err:
            decode_chunk(future)
        assert err.value.reason == "version" and isinstance(err.value, ValueError)


def test_foreign_truncated_and_corrupt_bytes_are_refused(good_chunk: bytes) -> None:
    cases = {
        "magic": b"PK\x03\x04" + good_chunk[4:],
        "length": good_chunk[:10],
        "checksum": good_chunk[:-1],
    }
    for reason, data in cases.items():
        with pytest.raises(ChunkError) as err:
            decode_chunk(data)
        assert err.value.reason == reason
    assert decode_chunk(good_chunk).samples  # the original is fine
    for i in range(len(good_chunk)):  # every single-bit flip is caught
        flipped = bytearray(good_chunk)
        flipped[i] ^= 1 << (i % 8)
        with pytest.raises(ChunkError):
            decode_chunk(flipped)


def test_checksummed_garbage_is_refused_as_a_bad_body(good_chunk: bytes) -> None:
    head = 18 + len(",".join(BLENDSHAPE_NAMES))
    for body in (b"", b"not zlib", zlib.compress(b"short"), zlib.compress(b"\x00" * 100_000)):
        with pytest.raises(ChunkError) as err:
            decode_chunk(_with_crc(good_chunk[:head] + body + b"\x00" * 4))
        assert err.value.reason == "body"
    bad_rate = _with_crc(good_chunk[:6] + struct.pack("<H", 7) + good_chunk[8:])
    with pytest.raises(ChunkError, match="format"):
        decode_chunk(bad_rate)


def test_encoder_refuses_what_would_not_round_trip() -> None:
    bad_samples: list[list[Sample]] = [
        [sample(150)],  # off the 100 ms grid
        [sample(200), sample(100)],  # out of order
        [sample(100), sample(100)],  # twice one window
        [sample(0, flags=8)],  # reserved flag bit: not a valid frame
        [sample(0, flags=2)],  # pose without a face
        [sample(0, pitch_cdeg=9001)],
        [sample(0, quality=256)],
        [sample(0, shapes=b"\x00" * 50)],
    ]
    for samples in bad_samples:
        with pytest.raises(ValueError):
            encode_chunk(0, samples)
    for event in (
        Event(0, "boss", {}),
        Event(0, ATTENTION, {"state": "sleepy"}),
        Event(-1, TIMER, {}),
        Event(0, TIMER, {"when": object()}),
    ):
        with pytest.raises(ValueError):
            encode_chunk(0, [], [event])
    with pytest.raises(ValueError):
        encode_chunk(50, [])  # a start off the grid
    with pytest.raises(ValueError):
        ChunkWriter(PHASE_START).add_event(TIMER, {"big": 1 << 70}, PHASE_START)
    with pytest.raises(ValueError):
        ChunkWriter(PHASE_START, rate_hz=7)


def test_downsampler_refuses_invalid_frames_and_counts_late_ones() -> None:
    downsampler = Downsampler(PHASE_START)
    with pytest.raises(FrameError):
        downsampler.add(b"\xa1" + bytes(70), PHASE_START)
    frame = encode_frame(seq=0, capture_ms=0, scores=[0.1] * SHAPE_COUNT)
    downsampler.add(frame, PHASE_START + 250)
    downsampler.add(frame, PHASE_START + 120)  # out of order: counts at 250
    downsampler.add(frame, PHASE_START - 10)  # before the phase: counts at 250 too
    assert downsampler.late_frames == 2
    assert [s.t_ms for s in downsampler.take_samples(PHASE_START + 300)] == [200]
    downsampler.add(frame, PHASE_START + 299)  # its window was taken: counts at 300
    assert [s.t_ms for s in downsampler.flush()] == [300]


def test_a_one_frame_blink_survives_but_not_decimation() -> None:
    open_ = [0.05] * SHAPE_COUNT
    shut = list(open_)
    shut[BLINK_L] = shut[BLINK_R] = 0.95
    downsampler = Downsampler(0)
    for i, scores in enumerate([open_, shut, open_]):  # 3 frames in one window
        downsampler.add(encode_frame(seq=i, capture_ms=i, scores=scores), 10 + 33 * i)
    (s,) = downsampler.flush()
    assert (s.shapes[BLINK_L], s.shapes[BLINK_R]) == (242, 242)  # round(0.95 * 255)
    assert s.shapes[SHAPE_INDEX["jawOpen"]] == 13  # every other shape: the latest frame


# --- properties -----------------------------------------------------------------------------

_FLAGS = st.sampled_from([0, FLAG_FACE, FLAG_FACE | FLAG_POSE, FLAG_FACE | FLAG_SHAPES, 7])
_I16 = st.integers(-0x8000, 0x7FFF)


@st.composite
def sample_streams(draw: st.DrawFn) -> tuple[int, list[Sample]]:
    start = draw(st.integers(0, 100_000)) * PERIOD
    steps = draw(st.lists(st.one_of(st.just(1), st.integers(1, 5000)), max_size=150))
    t, samples = start + draw(st.integers(0, 10)) * PERIOD, []
    for step in steps:
        samples.append(
            Sample(
                t,
                draw(_FLAGS),
                draw(st.integers(-18_000, 18_000)),
                draw(st.integers(-9_000, 9_000)),
                draw(st.integers(-18_000, 18_000)),
                draw(_I16),
                draw(_I16),
                draw(_I16),
                draw(st.integers(0, 255)),
                draw(st.binary(min_size=SHAPE_COUNT, max_size=SHAPE_COUNT)),
            )
        )
        t += step * PERIOD
    return start, samples


_PAYLOAD_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)  # fmt: skip
_EVENTS = st.lists(
    st.one_of(
        st.builds(lambda t, s: Event(t, ATTENTION, {"state": s}), st.integers(0, 2**40),
                  st.sampled_from(["focused", "looking_away", "eyes_closed", "no_face",
                                   "distracted", "idle"])),
        st.builds(lambda t, p: Event(t, TIMER, p), st.integers(0, 2**40),
                  st.dictionaries(st.text(max_size=12), _PAYLOAD_VALUES, max_size=5)),
    ),
    max_size=8,
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_streams(), _EVENTS)
def test_round_trip_property(stream: tuple[int, list[Sample]], events: list[Event]) -> None:
    start, samples = stream
    chunk = decode_chunk(encode_chunk(start, samples, events))
    assert chunk.samples == tuple(samples)
    assert chunk.events == tuple(events)
    assert (chunk.start_ms, chunk.rate_hz, chunk.version) == (start, 10, VERSION)


@st.composite
def frame_streams(draw: st.DrawFn) -> list[tuple[bytes, int]]:
    frames, t = [], PHASE_START + draw(st.integers(-300, 300))
    for seq in range(draw(st.integers(0, 120))):
        t += draw(st.one_of(st.integers(0, 60), st.integers(0, 3000), st.integers(-200, 0)))
        flags = draw(_FLAGS)
        frame = struct.pack(
            "<BBHIhhhhhhB51s", 0xA1, flags, seq, seq, draw(st.integers(-18_000, 18_000)),
            0, 0, 0, 0, 0, draw(st.integers(0, 255)),
            draw(st.binary(min_size=SHAPE_COUNT, max_size=SHAPE_COUNT)),
        )  # fmt: skip
        frames.append((frame, t))
    return frames


@settings(max_examples=150, deadline=None)
@given(frame_streams(), st.sampled_from([100, 1000, 2500]))
def test_downsample_and_chunking_property(frames: list[tuple[bytes, int]], chunk_ms: int) -> None:
    """Any frame stream, any chunk length: each window's sample is its latest frame (late
    frames counted at the latest time seen) with the blinks pooled over its face-and-shapes
    frames, and chunked recording decodes to exactly the unchunked downsample."""
    expected: dict[int, tuple[bytes, int, int]] = {}
    seen = PHASE_START
    for frame, t in frames:
        seen = max(seen, t)
        w = (seen - PHASE_START) // PERIOD
        _, bl, br = expected.get(w, (frame, 0, 0))
        if frame[1] & 5 == 5:
            bl, br = max(bl, frame[21 + BLINK_L]), max(br, frame[21 + BLINK_R])
        expected[w] = (frame, bl, br)
    downsampler = Downsampler(PHASE_START)
    for frame, t in frames:
        downsampler.add(frame, t)
    samples = downsampler.flush()
    assert [s.t_ms // PERIOD for s in samples] == sorted(expected)
    for s in samples:
        frame, bl, br = expected[s.t_ms // PERIOD]
        shapes = bytearray(frame[21:])
        if frame[1] & 5 == 5:
            shapes[BLINK_L], shapes[BLINK_R] = bl, br
        assert sample_to_frame(s, *struct.unpack_from("<HI", frame, 2)) == frame[:21] + shapes
    # the same stream through a ChunkWriter (frames stay in order: poll only up to them)
    writer, blobs = ChunkWriter(PHASE_START, chunk_ms=chunk_ms), []
    latest = PHASE_START
    for frame, t in frames:
        latest = max(latest, t)
        blobs += writer.poll(latest)
        writer.add_frame(frame, t)
    blobs += writer.close(latest)
    assert [b.index for b in blobs] == list(range(len(blobs)))
    chunks = [decode_chunk(b.data) for b in blobs]
    assert all(c.start_ms <= s.t_ms < c.start_ms + chunk_ms for c in chunks for s in c.samples)
    assert join_chunks(chunks) == (samples, [])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=40))
def test_arbitrary_bytes_raise_chunk_errors_only(tail: bytes, noise: bytes) -> None:
    for data in (
        tail,
        MAGIC + tail,
        MAGIC + bytes((VERSION,)) + tail,
        _with_crc(MAGIC + bytes((VERSION,)) + tail + b"xxxx"),
    ):
        with pytest.raises(ChunkError):
            decode_chunk(data)
    good = encode_chunk(0, [sample(0), sample(100)])
    for at in (4, 18, 30, len(good) - 40):  # version/header, name table, body: with a good CRC
        spliced = _with_crc(good[:at] + noise + good[at + len(noise) :])
        try:
            decode_chunk(spliced)  # e.g. a renamed shape column still decodes
        except ChunkError:
            pass
