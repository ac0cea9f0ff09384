"""Real face recordings (shared/data/face, SOURCES.md): loaders, name maps and data facts."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import math
import statistics
import struct
from pathlib import Path
from typing import Any

import pytest

from avatars.blendshapes import (
    ARKIT_RAW_NAMES,
    BLENDSHAPE_NAMES,
    LIVELINK_NAMES,
    LIVELINK_UDP_NAMES,
    SHAPE_COUNT,
    SHAPE_INDEX,
    wire_index,
)
from avatars.frame import decode_frame
from avatars.recordings import (
    LLV_VALUE_NAMES,
    LlvPacket,
    Recording,
    face_data_dir,
    frame_bytes,
    load_livelink_csv,
    load_llv_csv,
    load_llv_gesichter,
    load_mediapipe_json,
    load_recording,
    parse_llv_packet,
    read_gesichter,
)

LIVELINK_CSV = "livelinkface_alex_rom_3.csv"
GESICHTER = "llv_dao.gesichter"
LLV_CSV = "llv_dao_decoded.csv"
MEDIAPIPE_JSON = "mediapipe_single_frame_vsekai_blendshapes.json"


def data(name: str) -> Path:
    return face_data_dir() / name


def csv_rows(name: str) -> list[dict[str, str]]:
    with open(data(name), newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def livelink() -> Recording:
    return load_livelink_csv(data(LIVELINK_CSV))


@pytest.fixture(scope="module")
def gesichter() -> Recording:
    return load_llv_gesichter(data(GESICHTER))


# --- names ------------------------------------------------------------------------------


def test_names_match_the_shared_name_map() -> None:
    rows: list[dict[str, Any]] = json.loads(data("blendshape_name_map.json").read_text())["rows"]
    wire = sorted((r for r in rows if r["wire_index"] is not None), key=lambda r: r["wire_index"])
    assert [r["wire_index"] for r in wire] == list(range(SHAPE_COUNT)) and SHAPE_COUNT == 51
    assert all(r["mediapipe_index"] == r["wire_index"] + 1 for r in wire)
    assert BLENDSHAPE_NAMES == tuple(r["mediapipe_name"] for r in wire)
    assert BLENDSHAPE_NAMES == tuple(r["arkit_swift_name"] for r in wire)
    assert ARKIT_RAW_NAMES == tuple(r["arkit_raw_value"] for r in wire)
    assert LIVELINK_NAMES == tuple(r["livelink_pascal"] for r in wire)
    udp = sorted(
        (r for r in rows if r["livelink_index"] is not None), key=lambda r: r["livelink_index"]
    )
    assert [r["livelink_index"] for r in udp] == list(range(52))
    assert LIVELINK_UDP_NAMES == tuple(r["livelink_pascal"] for r in udp)
    assert dict(SHAPE_INDEX) == {n: i for i, n in enumerate(BLENDSHAPE_NAMES)}
    for r in wire:
        for spelling in ("mediapipe_name", "arkit_raw_value", "livelink_pascal"):
            assert wire_index(r[spelling]) == r["wire_index"]
    for r in rows:
        if r["wire_index"] is None:  # _neutral and tongueOut
            for spelling in ("mediapipe_name", "arkit_raw_value", "livelink_pascal"):
                assert r[spelling] is None or wire_index(r[spelling]) is None


def test_mediapipe_names_are_arkits_in_alphabetical_order() -> None:
    assert list(BLENDSHAPE_NAMES) == sorted(BLENDSHAPE_NAMES)
    assert len(set(BLENDSHAPE_NAMES)) == len(set(LIVELINK_UDP_NAMES)) - 1 == SHAPE_COUNT


def test_wire_index_is_case_sensitive() -> None:
    assert wire_index("eyeBlinkLeft") == wire_index("eyeBlink_L") == wire_index("EyeBlinkLeft") == 8
    for name in ("eyeblinkleft", "EyeBlink_L", "EYEBLINKLEFT", "eyeBlinkleft", "", "_neutral"):
        assert wire_index(name) is None


# --- Live Link Face CSV -------------------------------------------------------------------


def test_livelink_csv_shape_and_timing(livelink: Recording) -> None:
    assert len(livelink.frames) == 4030
    assert livelink.name == "livelinkface_alex_rom_3"
    assert livelink.frames[0].t_ms == 0.0
    steps = [b.t_ms - a.t_ms for a, b in itertools.pairwise(livelink.frames)]
    assert min(steps) > 33.0 and max(steps) < 67.0
    # ~29.98 fps: one row per ~2 frames of the 60 fps timecode; 3 rows were dropped.
    assert sum(step > 50.0 for step in steps) == 3
    assert 134_300 < livelink.duration_ms < 134_450
    assert livelink.fps == pytest.approx(29.98, abs=0.01)


def test_livelink_csv_maps_columns_by_name(livelink: Recording) -> None:
    rows = csv_rows(LIVELINK_CSV)
    header = list(rows[0])
    # The export's own order differs from the UDP order, so position would be wrong.
    assert header.index("JawRight") < header.index("JawLeft")
    assert header.index("MouthRight") < header.index("MouthLeft")
    for row, rf in zip(rows, livelink.frames, strict=True):
        assert rf.scores == tuple(float(row[n]) for n in LIVELINK_NAMES)
    first = livelink.frames[0]
    assert first.scores[SHAPE_INDEX["jawRight"]] == 0.0185036063
    assert first.scores[SHAPE_INDEX["jawLeft"]] == 0.0


def test_livelink_csv_column_order_does_not_matter(tmp_path: Path) -> None:
    with open(data(LIVELINK_CSV), newline="") as f:
        rows = list(itertools.islice(csv.reader(f), 30))
    shuffled = tmp_path / "shuffled.csv"
    with open(shuffled, "w", newline="") as f:
        csv.writer(f).writerows([list(reversed(row)) for row in rows])
    expected = load_livelink_csv(data(LIVELINK_CSV)).frames[:29]
    assert load_livelink_csv(shuffled).frames == expected


def test_livelink_csv_facts(livelink: Recording) -> None:
    # SOURCES.md: scores are not clamped (up to 1.0033); head pose is all zero in this take.
    top = max(max(rf.scores) for rf in livelink.frames)
    assert top == pytest.approx(1.0033375025) and top > 1.0
    assert min(min(rf.scores) for rf in livelink.frames) >= 0.0
    assert not livelink.has_pose
    assert all(rf.yaw_deg == rf.pitch_deg == rf.roll_deg == 0.0 for rf in livelink.frames)


def test_livelink_eye_angle_conventions() -> None:
    # Eye pitch > 0 = looking down; eye yaw > 0 = gaze towards the subject's right.
    rows = csv_rows(LIVELINK_CSV)

    def col(name: str) -> list[float]:
        return [float(r[name]) for r in rows]

    def diff(a: str, b: str) -> list[float]:
        return [x - y for x, y in zip(col(a), col(b), strict=True)]

    for side in ("Left", "Right"):
        down = diff(f"EyeLookDown{side}", f"EyeLookUp{side}")
        assert statistics.correlation(col(f"{side}EyePitch"), down) > 0.99
    left_in = diff("EyeLookInLeft", "EyeLookOutLeft")  # left eye looking in = to the right
    right_out = diff("EyeLookOutRight", "EyeLookInRight")
    assert statistics.correlation(col("LeftEyeYaw"), left_in) > 0.99
    assert statistics.correlation(col("RightEyeYaw"), right_out) > 0.99


# --- LLV .gesichter and its decoded CSV ---------------------------------------------------


def test_gesichter_packets_equal_the_decoded_csv() -> None:
    packets = read_gesichter(data(GESICHTER))
    rows = csv_rows(LLV_CSV)
    assert len(packets) == len(rows) == 180
    assert list(rows[0])[5:] == list(LLV_VALUE_NAMES)
    for p, row in zip(packets, rows, strict=True):
        assert p.device_id == "DEADC0DE-1337-1337-1337-CAFEBABE"
        assert p.subject_name == "LLV Default Device"
        assert (p.frame_number, p.fps_numerator, p.fps_denominator) == (
            int(row["FrameNumber"]), int(row["FpsNumerator"]), int(row["FpsDenominator"])
        )  # fmt: skip
        assert len(p.values) == int(row["BlendShapeCount"]) == 61
        assert p.subframe == pytest.approx(float(row["SubFrame"]), abs=5e-7)
        for name in LLV_VALUE_NAMES:  # CSV holds 8 decimals of each float32
            assert p.value(name) == pytest.approx(float(row[name]), abs=5e-9)


def test_gesichter_recording_equals_csv_recording(gesichter: Recording) -> None:
    from_csv = load_llv_csv(data(LLV_CSV))
    assert (gesichter.fps, gesichter.has_pose) == (from_csv.fps, from_csv.has_pose) == (60.0, True)
    for a, b in zip(gesichter.frames, from_csv.frames, strict=True):
        assert a.t_ms == pytest.approx(b.t_ms, abs=1e-4)
        assert a.scores == pytest.approx(b.scores, abs=5e-9)
        assert (a.yaw_deg, a.pitch_deg, a.roll_deg) == pytest.approx(
            (b.yaw_deg, b.pitch_deg, b.roll_deg), abs=1e-6
        )


def test_gesichter_timing(gesichter: Recording) -> None:
    # 180 frames at 60 fps is the nominal 3.0 s of SOURCES.md, but the frame numbers jump by 8
    # after the 6th packet (7 frames missing), so the timestamps span 3.10 s.
    frames = gesichter.frames
    assert len(frames) == 180 and len(frames) / gesichter.fps == 3.0
    steps = [b.t_ms - a.t_ms for a, b in itertools.pairwise(frames)]
    assert all(step > 0 for step in steps)
    assert [i for i, step in enumerate(steps) if step > 20.0] == [5]
    assert steps[5] == pytest.approx(8 * 1000 / 60, abs=0.2)
    assert gesichter.duration_ms == pytest.approx(3101.9, abs=0.1)


def test_gesichter_pose_is_radians(gesichter: Recording) -> None:
    assert max(abs(f.yaw_deg) for f in gesichter.frames) == pytest.approx(17.78, abs=0.01)
    assert max(abs(f.roll_deg) for f in gesichter.frames) == pytest.approx(24.54, abs=0.01)
    assert max(max(f.scores) for f in gesichter.frames) < 1.0


def test_llv_packet_rejects_malformed() -> None:
    good = gzip.decompress(data(GESICHTER).read_bytes())[9 : 9 + 320]
    assert isinstance(parse_llv_packet(good), LlvPacket)
    for bad in (good[:-1], good + b"\0", b"\x05" + good[1:], good[:10], b""):
        with pytest.raises(ValueError):
            parse_llv_packet(bad)


def test_gesichter_rejects_truncated_file(tmp_path: Path) -> None:
    raw = gzip.decompress(data(GESICHTER).read_bytes())
    for bad in (raw[:-1], raw + b"\0", struct.pack(">BI", 6, 181) + raw[5:], b"\x05" + raw[1:]):
        path = tmp_path / "bad.gesichter"
        path.write_bytes(gzip.compress(bad))
        with pytest.raises(ValueError):
            read_gesichter(path)


# --- MediaPipe JSON -----------------------------------------------------------------------


def test_mediapipe_json() -> None:
    rec = load_mediapipe_json(data(MEDIAPIPE_JSON))
    people = json.loads(data(MEDIAPIPE_JSON).read_text())["people"][0]
    assert len(people) == 52 and people[0]["name"] == "_neutral"
    assert [c["name"] for c in people[1:]] == list(BLENDSHAPE_NAMES)
    (frame,) = rec.frames
    assert frame.scores == tuple(c["score"] for c in people[1:])
    assert frame.scores[SHAPE_INDEX["browDownLeft"]] == pytest.approx(0.8152358531951904)
    assert (rec.duration_ms, rec.has_pose, rec.fps) == (0.0, False, 0.0)


def test_mediapipe_tasks_vision_layout(tmp_path: Path) -> None:
    cats = [{"index": 0, "categoryName": "_neutral", "score": 0.0, "displayName": ""}]
    cats += [
        {"index": i + 1, "categoryName": n, "score": i / 100, "displayName": ""}
        for i, n in reversed(list(enumerate(BLENDSHAPE_NAMES)))
    ]
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"faceBlendshapes": [{"categories": cats}]}))
    assert load_mediapipe_json(path).frames[0].scores == tuple(i / 100 for i in range(51))
    path.write_text(json.dumps({"faceBlendshapes": [{"categories": cats[:-1]}]}))
    with pytest.raises(ValueError, match="missing"):
        load_mediapipe_json(path)


# --- dispatch, location, encoding ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count"), [(LIVELINK_CSV, 4030), (GESICHTER, 180), (LLV_CSV, 180), (MEDIAPIPE_JSON, 1)]
)
def test_load_recording_dispatches(name: str, count: int) -> None:
    rec = load_recording(data(name))
    assert len(rec.frames) == count and rec.name == Path(name).stem
    assert all(len(f.scores) == SHAPE_COUNT for f in rec.frames)
    assert all(math.isfinite(s) for f in rec.frames for s in f.scores)


def test_load_recording_rejects_unknown(tmp_path: Path) -> None:
    for name, text in (("x.txt", "hello"), ("x.csv", "a,b\n1,2\n")):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError):
            load_recording(tmp_path / name)


def test_face_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert (face_data_dir() / "SOURCES.md").is_file()
    monkeypatch.setenv("STUDYVERSE_FACE_DATA", str(tmp_path))
    assert face_data_dir() == tmp_path
    monkeypatch.setenv("STUDYVERSE_FACE_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="STUDYVERSE_FACE_DATA"):
        face_data_dir()


def test_frame_bytes(gesichter: Recording) -> None:
    rf = gesichter.frames[10]
    f = decode_frame(frame_bytes(rf, seq=70_000, capture_ms=5, pose_valid=True))
    assert (f.seq, f.capture_ms, f.flags) == (70_000 % 65_536, 5, 7)
    assert f.yaw_deg == pytest.approx(rf.yaw_deg, abs=0.005)
    assert decode_frame(frame_bytes(rf, seq=0, capture_ms=0, pose_valid=False)).flags == 5
