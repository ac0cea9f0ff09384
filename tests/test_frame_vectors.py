"""The shared frame vectors (web_client/test/vectors/frames.json) match the Python codec.

The file is what ``python -m tests.make_frame_vectors`` writes from avatars/frame.py; the
TypeScript codec replays it (web_client/test/frame.test.ts, run by tests/test_web_client.py).
A codec change without regenerating the file fails here, and a regenerated file that the
TypeScript codec does not reproduce fails there. The checks below also hold each vector to
the wire rules independently of the generator (quantization error, pose rounding, flags).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from avatars.blendshapes import BLENDSHAPE_NAMES
from avatars.frame import (
    FLAG_FACE,
    FLAG_POSE,
    FLAG_SHAPES,
    FRAME_SIZE,
    check_frame,
    decode_batch,
    decode_frame,
    encode_frame,
)
from avatars.recordings import face_data_dir
from tests.make_frame_vectors import RECORDINGS, VECTORS_PATH, build_vectors, render, unnum

REGENERATE = "run `.venv/bin/python -m tests.make_frame_vectors` and commit the file"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
    return doc


def encode_args(vector_input: dict[str, Any]) -> dict[str, Any]:
    return {k: ([unnum(s) for s in v] if k == "scores" else
                unnum(v) if isinstance(v, (float, str)) else v)
            for k, v in vector_input.items()}


def test_vectors_are_what_the_codec_makes_now(committed: dict[str, Any]) -> None:
    try:
        fresh = build_vectors(face_data_dir())
    except FileNotFoundError as exc:
        pytest.skip(f"face recordings not available: {exc}")
    for section, vectors in fresh.items():
        assert committed.get(section) == vectors, f"section {section!r} is stale: {REGENERATE}"
    assert committed.keys() == fresh.keys(), REGENERATE
    assert VECTORS_PATH.read_text() == render(fresh), f"formatting differs: {REGENERATE}"


def test_every_recording_and_refusal_is_covered(committed: dict[str, Any]) -> None:
    sources = {v["source"].split(" frame ")[0] for v in committed["frames"]}
    assert set(RECORDINGS) <= sources
    for file in RECORDINGS[:3]:  # the multi-frame takes give a spread, not one frame
        assert sum(v["source"].startswith(file) for v in committed["frames"]) >= 12
    assert {v["reason"] for v in committed["decode_errors"]} == {
        "length", "kind", "flags", "pose_range"}
    assert {v["reason"] for v in committed["batch_decode_errors"]} == {"length", "kind"}
    assert committed["blendshape_names"] == list(BLENDSHAPE_NAMES)
    errors = " ".join(v["error"] for v in committed["encode_errors"])
    for what in ("not finite", "outside", "expected 51", "quality", "TypeError"):
        assert what in errors


def test_frames_obey_the_wire_rules(committed: dict[str, Any]) -> None:
    """Each vector's bytes against its inputs, from DESIGN.md section 4 alone."""
    vectors = committed["frames"] + [m["frame"] for m in committed["matrices"]]
    for v in vectors:
        args = encode_args(v["input"])
        data = bytes.fromhex(v["hex"])
        assert len(data) == FRAME_SIZE and check_frame(data) is None, v["name"]
        f = decode_frame(data)
        for got, score in zip(f.shapes, args["scores"], strict=True):
            clamped = min(max(score, 0.0), 1.0)
            assert abs(got / 255 - clamped) <= 1 / 510 + 1e-12, v["name"]
        for cdeg, deg in ((f.yaw_cdeg, args["yaw_deg"]), (f.pitch_cdeg, args["pitch_deg"]),
                          (f.roll_cdeg, args["roll_deg"])):
            assert cdeg == math.floor(deg * 100 + 0.5), v["name"]
        assert (f.seq, f.capture_ms) == (args["seq"] % 2**16, args["capture_ms"] % 2**32)
        expected_flags = (FLAG_FACE | (FLAG_POSE if args["pose_valid"] else 0)
                          | (FLAG_SHAPES if args["shapes_valid"] else 0)
                          if args["face_present"] else 0)
        assert f.flags == expected_flags, v["name"]


def test_refusals_are_refused(committed: dict[str, Any]) -> None:
    for v in committed["encode_errors"]:
        with pytest.raises(Exception) as caught:  # noqa: B017 - the vector names the type
            encode_frame(**encode_args(v["input"]))
        assert f"{type(caught.value).__name__}: {caught.value}" == v["error"]
    for v in committed["decode_errors"]:
        assert check_frame(bytes.fromhex(v["hex"])) == v["reason"], v["name"]


def test_batches_hold_their_entries(committed: dict[str, Any]) -> None:
    for v in committed["batches"]:
        server_ms, entries = decode_batch(bytes.fromhex(v["hex"]))
        assert server_ms == v["server_ms"]
        assert [[slot, frame.hex()] for slot, frame in entries] == v["entries"]
