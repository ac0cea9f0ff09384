"""Avatar frame codec (DESIGN.md section 4): round trips, validation, batches, head pose."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avatars.blendshapes import ARKIT_RAW_NAMES, BLENDSHAPE_NAMES, LIVELINK_NAMES, SHAPE_COUNT
from avatars.frame import (
    BATCH_KIND,
    FLAG_FACE,
    FLAG_POSE,
    FLAG_SHAPES,
    FRAME_KIND,
    FRAME_SIZE,
    Frame,
    FrameError,
    check_frame,
    decode_batch,
    decode_frame,
    encode_batch,
    encode_frame,
    encode_no_face_frame,
    pose_from_matrix,
    quantize_score,
    wrap_delta_ms,
)
from avatars.recordings import Recording, face_data_dir, frame_bytes, load_recording

LAYOUT = struct.Struct("<BBHIhhhhhhB51s")
MAX_QUANT_ERROR = 1 / 510 + 1e-12
RECORDINGS = (
    "livelinkface_alex_rom_3.csv",
    "llv_dao.gesichter",
    "llv_dao_decoded.csv",
    "mediapipe_single_frame_vsekai_blendshapes.json",
)


def clamp01(s: float) -> float:
    return min(max(s, 0.0), 1.0)


def raw_frame(
    *,
    kind: int = FRAME_KIND,
    flags: int = FLAG_FACE | FLAG_POSE | FLAG_SHAPES,
    yaw: int = 0,
    pitch: int = 0,
    roll: int = 0,
) -> bytes:
    return LAYOUT.pack(kind, flags, 1, 2, yaw, pitch, roll, 3, 4, 5, 200, bytes(range(51)))


VALID = raw_frame()


# --- round trips ------------------------------------------------------------------------


def test_layout_is_72_bytes() -> None:
    assert LAYOUT.size == FRAME_SIZE == 72
    assert len(encode_frame(seq=0, capture_ms=0, scores=[0.0] * 51)) == 72


@pytest.mark.parametrize(
    ("seq", "capture_ms", "wire_seq", "wire_capture"),
    [
        (0, 0, 0, 0),
        (65535, 2**32 - 1, 65535, 2**32 - 1),
        (65536, 2**32, 0, 0),
        (65537 + 4, 2**32 + 123, 5, 123),
        (-1, -1, 65535, 2**32 - 1),
    ],
)
def test_seq_and_capture_time_wrap(
    seq: int, capture_ms: int, wire_seq: int, wire_capture: int
) -> None:
    f = decode_frame(encode_frame(seq=seq, capture_ms=capture_ms, scores=[0.5] * 51))
    assert (f.seq, f.capture_ms) == (wire_seq, wire_capture)


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll", "tx", "ty", "tz", "quality"),
    [
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 255),
        (180.0, 90.0, 180.0, 32767.0, 32767.0, 32767.0, 0),
        (-180.0, -90.0, -180.0, -32767.0, -32767.0, -32767.0, 1),
        (12.34, -5.67, 0.01, -12.4, 600.6, 0.49, 128),
    ],
)
def test_every_field_round_trips(
    yaw: float, pitch: float, roll: float, tx: float, ty: float, tz: float, quality: int
) -> None:
    scores = [i / 50 for i in range(51)]
    data = encode_frame(
        seq=4242, capture_ms=123456789, scores=scores, yaw_deg=yaw, pitch_deg=pitch,
        roll_deg=roll, tx_mm=tx, ty_mm=ty, tz_mm=tz, quality=quality,
    )  # fmt: skip
    f = decode_frame(data)
    assert (f.seq, f.capture_ms, f.quality) == (4242, 123456789, quality)
    assert f.flags == FLAG_FACE | FLAG_POSE | FLAG_SHAPES
    assert f.face_present and f.pose_valid and f.shapes_valid
    assert (f.yaw_cdeg, f.pitch_cdeg, f.roll_cdeg) == tuple(
        round(a * 100) for a in (yaw, pitch, roll)
    )
    assert (f.yaw_deg, f.pitch_deg, f.roll_deg) == pytest.approx((yaw, pitch, roll), abs=0.005)
    assert (f.tx_mm, f.ty_mm, f.tz_mm) == tuple(math.floor(v + 0.5) for v in (tx, ty, tz))
    assert f.shapes == bytes(quantize_score(s) for s in scores)
    for i, s in enumerate(scores):
        assert abs(f.score(i) - s) <= MAX_QUANT_ERROR


def test_scores_are_clamped_and_rounded_half_up() -> None:
    scores = [-0.5, 1.5, 1.0033, 0.0, 1.0, 0.5 / 255, 1.5 / 255] + [0.25] * 44
    f = decode_frame(encode_frame(seq=0, capture_ms=0, scores=scores))
    assert list(f.shapes[:7]) == [0, 255, 255, 0, 255, 1, 2]
    assert quantize_score(0.25) == 64  # 63.75


@pytest.mark.parametrize(
    ("face", "pose", "shapes", "flags"),
    [
        (True, True, True, 7),
        (True, False, True, 5),
        (True, True, False, 3),
        (True, False, False, 1),
        (False, True, True, 0),
    ],
)
def test_flags(face: bool, pose: bool, shapes: bool, flags: int) -> None:
    data = encode_frame(
        seq=0, capture_ms=0, scores=[0.0] * 51,
        face_present=face, pose_valid=pose, shapes_valid=shapes,
    )  # fmt: skip
    f = decode_frame(data)
    assert f.flags == flags
    assert (f.face_present, f.pose_valid, f.shapes_valid) == (face, pose and face, shapes and face)


def test_no_face_frame() -> None:
    f = decode_frame(encode_no_face_frame(70000, 2**32 + 9))
    assert f == Frame(70000 - 65536, 9, 0, 0, 0, 0, 0, 0, 0, 0, bytes(51))
    assert not f.face_present


def test_score_by_name_in_every_spelling() -> None:
    scores = [i / 255 for i in range(51)]
    f = decode_frame(encode_frame(seq=0, capture_ms=0, scores=scores))
    for i in range(SHAPE_COUNT):
        for name in (BLENDSHAPE_NAMES[i], ARKIT_RAW_NAMES[i], LIVELINK_NAMES[i]):
            assert f.score(name) == pytest.approx(i / 255)
    with pytest.raises(KeyError):
        f.score("tongueOut")
    with pytest.raises(IndexError):
        f.score(51)
    with pytest.raises(IndexError):
        f.score(-1)


finite_scores = st.lists(
    st.floats(min_value=-2.0, max_value=2.0, allow_nan=False), min_size=51, max_size=51
)


@given(
    seq=st.integers(min_value=-(2**20), max_value=2**20),
    capture_ms=st.integers(min_value=-(2**40), max_value=2**40),
    scores=finite_scores,
    yaw=st.floats(min_value=-180.0, max_value=180.0),
    pitch=st.floats(min_value=-90.0, max_value=90.0),
    roll=st.floats(min_value=-180.0, max_value=180.0),
    t=st.tuples(*[st.floats(min_value=-32767.0, max_value=32767.0)] * 3),
    quality=st.integers(min_value=0, max_value=255),
    face=st.booleans(),
)
def test_round_trip_property(
    seq: int, capture_ms: int, scores: list[float], yaw: float, pitch: float, roll: float,
    t: tuple[float, float, float], quality: int, face: bool,
) -> None:  # fmt: skip
    data = encode_frame(
        seq=seq, capture_ms=capture_ms, scores=scores, yaw_deg=yaw, pitch_deg=pitch,
        roll_deg=roll, tx_mm=t[0], ty_mm=t[1], tz_mm=t[2], quality=quality, face_present=face,
    )  # fmt: skip
    assert check_frame(data) is None
    f = decode_frame(data)
    assert (f.seq, f.capture_ms, f.quality, f.face_present) == (
        seq % 2**16,
        capture_ms % 2**32,
        quality,
        face,
    )
    assert abs(f.yaw_deg - yaw) <= 0.005 and abs(f.pitch_deg - pitch) <= 0.005
    assert abs(f.roll_deg - roll) <= 0.005
    assert all(abs(w - v) <= 0.5 for w, v in zip((f.tx_mm, f.ty_mm, f.tz_mm), t, strict=True))
    assert all(abs(f.score(i) - clamp01(s)) <= MAX_QUANT_ERROR for i, s in enumerate(scores))


# --- real recordings --------------------------------------------------------------------


@pytest.fixture(scope="module")
def recordings() -> dict[str, Recording]:
    return {name: load_recording(face_data_dir() / name) for name in RECORDINGS}


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_recorded_frame_survives_quantization(
    recordings: dict[str, Recording], name: str
) -> None:
    rec = recordings[name]
    worst = 0.0
    for n, rf in enumerate(rec.frames):
        f = decode_frame(frame_bytes(rf, seq=n, capture_ms=int(rf.t_ms), pose_valid=rec.has_pose))
        assert f.face_present and f.shapes_valid and f.pose_valid == rec.has_pose
        for i, s in enumerate(rf.scores):
            worst = max(worst, abs(f.shapes[i] / 255 - clamp01(s)))
        assert abs(f.yaw_deg - rf.yaw_deg) <= 0.005 and abs(f.pitch_deg - rf.pitch_deg) <= 0.005
        assert abs(f.roll_deg - rf.roll_deg) <= 0.005
    assert worst <= MAX_QUANT_ERROR


# --- validation -------------------------------------------------------------------------


def expect_reason(data: bytes, reason: str) -> None:
    assert check_frame(data) == reason
    with pytest.raises(FrameError) as info:
        decode_frame(data)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def test_valid_frame_passes() -> None:
    assert check_frame(VALID) is None
    assert check_frame(bytearray(VALID)) is None
    assert check_frame(memoryview(VALID)) is None
    assert decode_frame(memoryview(VALID)).shapes == bytes(range(51))


@pytest.mark.parametrize("length", [*range(72), 73, 144])
def test_wrong_length(length: int) -> None:
    expect_reason((VALID * 2)[:length], "length")


@pytest.mark.parametrize("kind", [k for k in range(256) if k != FRAME_KIND])
def test_wrong_kind(kind: int) -> None:
    expect_reason(raw_frame(kind=kind), "kind")


@pytest.mark.parametrize("bit", range(3, 8))
def test_reserved_flag_bits(bit: int) -> None:
    expect_reason(raw_frame(flags=FLAG_FACE | 1 << bit), "flags")
    expect_reason(raw_frame(flags=1 << bit), "flags")


@pytest.mark.parametrize("flags", [FLAG_POSE, FLAG_SHAPES, FLAG_POSE | FLAG_SHAPES])
def test_pose_or_shape_bits_without_face(flags: int) -> None:
    expect_reason(raw_frame(flags=flags), "flags")


@pytest.mark.parametrize("flags", range(8))
def test_all_meaningful_flag_combinations(flags: int) -> None:
    assert check_frame(raw_frame(flags=flags)) == (None if flags in (0, 1, 3, 5, 7) else "flags")


@pytest.mark.parametrize(
    "pose",
    [
        {"yaw": 18001}, {"yaw": -18001}, {"yaw": 32767}, {"yaw": -32768},
        {"pitch": 9001}, {"pitch": -9001}, {"pitch": 18000}, {"pitch": -32768},
        {"roll": 18001}, {"roll": -18001}, {"roll": 32767}, {"roll": -32768},
    ],
)  # fmt: skip
def test_pose_out_of_range(pose: dict[str, int]) -> None:
    expect_reason(raw_frame(**pose), "pose_range")


def test_pose_limits_are_inclusive() -> None:
    for sign in (1, -1):
        edge = raw_frame(yaw=sign * 18000, pitch=sign * 9000, roll=sign * 18000)
        assert check_frame(edge) is None


def test_checks_run_in_order() -> None:
    assert check_frame(raw_frame(kind=0, flags=0xFF, yaw=-32768)) == "kind"
    assert check_frame(raw_frame(flags=0xFF, yaw=-32768)) == "flags"


@given(st.binary(max_size=80))
def test_check_frame_agrees_with_decode_on_random_bytes(data: bytes) -> None:
    agree(data)


@given(st.binary(min_size=71, max_size=71), st.sampled_from([0, 1, 3, 5, 7, 2, 8, 0x81]))
def test_check_frame_agrees_with_decode_on_random_frames(tail: bytes, flags: int) -> None:
    agree(bytes([FRAME_KIND, flags]) + tail[1:])
    agree(bytes([FRAME_KIND]) + tail)


def agree(data: bytes) -> None:
    reason = check_frame(data)
    try:
        f = decode_frame(data)
    except FrameError as exc:
        assert exc.reason == reason
    else:
        assert reason is None
        kind, flags, seq, capture_ms, *rest = LAYOUT.unpack(data)
        assert kind == FRAME_KIND and (f.flags, f.seq, f.capture_ms) == (flags, seq, capture_ms)
        pose = [f.yaw_cdeg, f.pitch_cdeg, f.roll_cdeg, f.tx_mm, f.ty_mm, f.tz_mm]
        assert [*pose, f.quality, f.shapes] == rest


# --- encoder rejects bad input ----------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [0, 25, 50])
def test_encoder_rejects_non_finite_scores(bad: float, where: int) -> None:
    scores = [0.5] * 51
    scores[where] = bad
    with pytest.raises(ValueError):
        encode_frame(seq=0, capture_ms=0, scores=scores)
    with pytest.raises(ValueError):
        quantize_score(bad)


def pose_kwargs(field: str, value: float) -> dict[str, Any]:
    return {field: value}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["yaw_deg", "pitch_deg", "roll_deg", "tx_mm", "ty_mm", "tz_mm"])
def test_encoder_rejects_non_finite_pose(bad: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        encode_frame(seq=0, capture_ms=0, scores=[0.0] * 51, **pose_kwargs(field, bad))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("yaw_deg", 180.01), ("yaw_deg", -180.01), ("pitch_deg", 90.01), ("pitch_deg", -90.01),
        ("roll_deg", 180.01), ("roll_deg", -180.01), ("tx_mm", 32768.0), ("tz_mm", -32768.0),
    ],
)  # fmt: skip
def test_encoder_rejects_out_of_range_pose(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        encode_frame(seq=0, capture_ms=0, scores=[0.0] * 51, **pose_kwargs(field, value))


@pytest.mark.parametrize("count", [0, 50, 52])
def test_encoder_rejects_wrong_score_count(count: int) -> None:
    with pytest.raises(ValueError, match="51"):
        encode_frame(seq=0, capture_ms=0, scores=[0.0] * count)


@pytest.mark.parametrize("quality", [-1, 256])
def test_encoder_rejects_bad_quality(quality: int) -> None:
    with pytest.raises(ValueError, match="quality"):
        encode_frame(seq=0, capture_ms=0, scores=[0.0] * 51, quality=quality)


# --- batches ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 5, 255])
def test_batch_round_trip(count: int) -> None:
    entries = [(i, encode_frame(seq=i, capture_ms=i, scores=[i / 255] * 51)) for i in range(count)]
    data = encode_batch(1_700_000_000_123.5, entries)
    assert data[0] == BATCH_KIND and data[1] == count and len(data) == 10 + 73 * count
    server_ms, decoded = decode_batch(data)
    assert server_ms == 1_700_000_000_123.5
    assert decoded == entries
    assert decode_batch(memoryview(data)) == (server_ms, entries)


def test_encode_batch_rejects_bad_entries() -> None:
    with pytest.raises(ValueError):
        encode_batch(0.0, [(0, VALID)] * 256)
    with pytest.raises(ValueError):
        encode_batch(0.0, [(256, VALID)])
    with pytest.raises(ValueError):
        encode_batch(0.0, [(-1, VALID)])
    with pytest.raises(ValueError):
        encode_batch(0.0, [(0, VALID[:71])])


def test_decode_batch_rejects_malformed() -> None:
    good = encode_batch(5.0, [(3, VALID), (4, VALID)])
    for cut in [*range(10), 11, 82, 83, 155]:
        with pytest.raises(FrameError) as info:
            decode_batch(good[:cut])
        assert info.value.reason == "length"
    with pytest.raises(FrameError) as info:
        decode_batch(good + b"\x00")
    assert info.value.reason == "length"
    with pytest.raises(FrameError) as info:
        decode_batch(bytes([FRAME_KIND]) + good[1:])
    assert info.value.reason == "kind"
    with pytest.raises(FrameError) as info:
        decode_batch(good[:1] + bytes([3]) + good[2:])
    assert info.value.reason == "length"


def test_wrap_delta_ms() -> None:
    assert wrap_delta_ms(1_000, 900) == 100
    assert wrap_delta_ms(5, 2**32 - 10) == 15
    assert wrap_delta_ms(2**32 + 5, 2**32 - 10) == 15
    assert wrap_delta_ms(900, 1_000) == 2**32 - 100


# --- head pose from MediaPipe's matrix ------------------------------------------------


def rotation(yaw: float, pitch: float, roll: float) -> list[list[float]]:
    """R = Ry(yaw) Rx(pitch) Rz(roll), right-handed, angles in degrees, row-major."""
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    ry = [[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]]
    rx = [[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)], [0.0, math.sin(b), math.cos(b)]]
    rz = [[math.cos(c), -math.sin(c), 0.0], [math.sin(c), math.cos(c), 0.0], [0.0, 0.0, 1.0]]
    return matmul(matmul(ry, rx), rz)


def matmul(p: Sequence[Sequence[float]], q: Sequence[Sequence[float]]) -> list[list[float]]:
    return [[sum(p[i][k] * q[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def column_major(r: Sequence[Sequence[float]], scale: float = 1.0) -> list[float]:
    """4x4 column-major (element (i, j) at j * 4 + i), scaled, with a translation."""
    m = [0.0] * 16
    for i in range(3):
        for j in range(3):
            m[j * 4 + i] = r[i][j] * scale
    m[12:16] = [1.5, -2.0, -40.0, 1.0]
    return m


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"),
    [(0, 0, 0), (30, 0, 0), (-30, 0, 0), (0, 20, 0), (0, -20, 0), (0, 0, 15), (0, 0, -15),
     (25, -12, 8), (-170, 60, 170), (90, 0, 0), (0, 89, 0)],
)  # fmt: skip
@pytest.mark.parametrize("scale", [1.0, 0.37, 3.2])
def test_pose_from_matrix_recovers_known_angles(
    yaw: float, pitch: float, roll: float, scale: float
) -> None:
    got = pose_from_matrix(column_major(rotation(yaw, pitch, roll), scale))
    assert got == pytest.approx((yaw, pitch, roll), abs=1e-6)


def axes(x: Sequence[float], y: Sequence[float], z: Sequence[float]) -> list[list[float]]:
    """Rotation matrix whose columns are the face's x, y and z axes in camera space."""
    return [[x[i], y[i], z[i]] for i in range(3)]


def test_pitch_positive_means_looking_down() -> None:
    # MediaPipe's metric space is right-handed with y up and the camera looking down -z; the
    # canonical face looks along +z (at the camera). Built from geometry, not from the Euler
    # formula: a 20-degree nod (chin down) tips the forward axis (column 2) down to -y and
    # the up axis (column 1) towards the camera, and DESIGN's formula calls that pitch +20.
    c, s = math.cos(math.radians(20)), math.sin(math.radians(20))
    nod = axes((1.0, 0.0, 0.0), (0.0, c, s), (0.0, -s, c))
    assert pose_from_matrix(column_major(nod, 1.8)) == pytest.approx((0.0, 20.0, 0.0))
    # Forward axis turned towards camera +x (image right = the subject's left) is yaw > 0.
    turn = axes((c, 0.0, -s), (0.0, 1.0, 0.0), (s, 0.0, c))
    assert pose_from_matrix(column_major(turn, 0.5)) == pytest.approx((20.0, 0.0, 0.0))
    # The face's +x axis (the subject's left) raised is roll > 0.
    tilt = axes((c, s, 0.0), (-s, c, 0.0), (0.0, 0.0, 1.0))
    assert pose_from_matrix(column_major(tilt)) == pytest.approx((0.0, 0.0, 20.0))


@given(
    yaw=st.floats(min_value=-179.0, max_value=179.0),
    pitch=st.floats(min_value=-89.0, max_value=89.0),
    roll=st.floats(min_value=-179.0, max_value=179.0),
    scale=st.floats(min_value=0.01, max_value=100.0),
)
def test_pose_from_matrix_property(yaw: float, pitch: float, roll: float, scale: float) -> None:
    got = pose_from_matrix(column_major(rotation(yaw, pitch, roll), scale))
    assert got == pytest.approx((yaw, pitch, roll), abs=1e-6)


def test_pose_from_matrix_at_the_poles_and_rejects_garbage() -> None:
    assert pose_from_matrix(column_major(rotation(0, 90, 0), 2.0))[1] == pytest.approx(90.0)
    assert pose_from_matrix(column_major(rotation(0, -90, 0), 2.0))[1] == pytest.approx(-90.0)
    for bad in ([0.0] * 15, [0.0] * 16, [math.nan, *column_major(rotation(0, 0, 0))[1:]]):
        with pytest.raises(ValueError):
            pose_from_matrix(bad)
