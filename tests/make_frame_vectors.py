"""Generate the avatar-frame test vectors shared by the Python and TypeScript codecs.

``python -m tests.make_frame_vectors`` (in .venv) writes ``web_client/test/vectors/frames.json``
from ``avatars.frame`` (DESIGN.md section 4): inputs and the bytes the Python codec makes
of them, taken from every real recording in ``shared/data/face`` (a spread of frames from
each, plus its extremes) and from edge cases (clamping, rounding just below a half, NaN and
infinity, pose limits, wrap of the sequence number and capture time, no-face frames,
malformed frames and batches, MediaPipe results in and out of index order).
``tests/test_frame_vectors.py`` fails when the file differs from what the codec makes now;
``web_client/test/frame.test.ts`` replays every vector against the TypeScript codec.

Conventions of the file: floats that JSON cannot hold are the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"``; bytes are lower-case hex; an ``error`` entry gives the
Python exception as ``"Type: message"`` (the TypeScript side checks only that it throws).
Matrix inputs are rounded to 12 significant digits and poses to 1e-10 degrees, so the file
does not depend on the last bits of the platform's libm.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from avatars.blendshapes import BLENDSHAPE_NAMES, SHAPE_COUNT
from avatars.frame import (
    FLAG_FACE,
    FLAG_POSE,
    FLAG_SHAPES,
    FRAME_KIND,
    check_frame,
    decode_batch,
    decode_frame,
    encode_batch,
    encode_frame,
    encode_no_face_frame,
    pose_from_matrix,
)
from avatars.recordings import (
    Recording,
    face_data_dir,
    frame_bytes,
    load_mediapipe_json,
    load_recording,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
VECTORS_PATH = REPO_ROOT / "web_client" / "test" / "vectors" / "frames.json"
RECORDINGS = (
    "livelinkface_alex_rom_3.csv",
    "llv_dao.gesichter",
    "llv_dao_decoded.csv",
    "mediapipe_single_frame_vsekai_blendshapes.json",
)
SPREAD = 12
"""Evenly spaced frames taken from each recording (plus its extremes)."""
SEQ_BASE = 65_530  # sequence numbers pass 65535 within a recording's picks
CAPTURE_BASE = 2**32 - 60_000  # capture times wrap 60 s into a recording
LAYOUT = struct.Struct("<BBHIhhhhhhB51s")
ALL_FLAGS = FLAG_FACE | FLAG_POSE | FLAG_SHAPES


def num(x: float) -> float | str:
    """A float as JSON holds it: NaN and infinities as strings."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def unnum(x: float | int | str) -> float:
    """Inverse of :func:`num`."""
    return float(x)


def describe_error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def decoded(data: bytes) -> dict[str, Any]:
    f = decode_frame(data)
    return {"seq": f.seq, "capture_ms": f.capture_ms, "flags": f.flags, "yaw_cdeg": f.yaw_cdeg,
            "pitch_cdeg": f.pitch_cdeg, "roll_cdeg": f.roll_cdeg, "tx_mm": f.tx_mm,
            "ty_mm": f.ty_mm, "tz_mm": f.tz_mm, "quality": f.quality, "shapes": f.shapes.hex()}


def frame_input(scores: Sequence[float], **fields: Any) -> dict[str, Any]:
    """The keyword arguments of ``encode_frame`` with every default spelled out."""
    full: dict[str, Any] = {
        "seq": 0, "capture_ms": 0, "yaw_deg": 0.0, "pitch_deg": 0.0, "roll_deg": 0.0,
        "tx_mm": 0.0, "ty_mm": 0.0, "tz_mm": 0.0, "quality": 255, "face_present": True,
        "pose_valid": True, "shapes_valid": True,
    }
    full.update(fields)
    full["scores"] = list(scores)
    return full


def to_json_input(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: ([num(s) for s in v] if k == "scores" else
                num(v) if isinstance(v, float) else v) for k, v in kwargs.items()}


def frame_vector(name: str, source: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    data = encode_frame(**kwargs)
    return {"name": name, "source": source, "input": to_json_input(kwargs), "hex": data.hex(),
            "decoded": decoded(data)}


def error_vector(name: str, kwargs: dict[str, Any], call: Callable[[], object]) -> dict[str, Any]:
    try:
        call()
    except Exception as exc:  # the vector records whatever Python raises
        return {"name": name, "input": to_json_input(kwargs), "error": describe_error(exc)}
    raise AssertionError(f"{name}: expected the codec to refuse this input")


# --- frames from the real recordings ------------------------------------------------------


def picks(rec: Recording) -> list[int]:
    """Indices of a spread of frames plus the frames with the lowest and highest raw score
    and the largest head angle."""
    n = len(rec.frames)
    chosen = {round(i * (n - 1) / (SPREAD - 1)) for i in range(SPREAD)} if n > 1 else {0}
    chosen.add(min(range(n), key=lambda i: min(rec.frames[i].scores)))
    chosen.add(max(range(n), key=lambda i: max(rec.frames[i].scores)))
    chosen.add(max(range(n), key=lambda i: max(abs(rec.frames[i].yaw_deg),
                                                abs(rec.frames[i].pitch_deg),
                                                abs(rec.frames[i].roll_deg))))
    return sorted(chosen)


def recording_vectors(face_dir: Path) -> list[dict[str, Any]]:
    out = []
    for file in RECORDINGS:
        rec = load_recording(face_dir / file)
        for i in picks(rec):
            rf = rec.frames[i]
            seq, capture_ms = SEQ_BASE + i, CAPTURE_BASE + math.floor(rf.t_ms)
            kwargs = frame_input(rf.scores, seq=seq, capture_ms=capture_ms, yaw_deg=rf.yaw_deg,
                                 pitch_deg=rf.pitch_deg, roll_deg=rf.roll_deg,
                                 pose_valid=rec.has_pose)
            vector = frame_vector(f"{file}[{i}]", f"{file} frame {i}", kwargs)
            # the bots' path (avatars.recordings.frame_bytes) makes the same bytes
            assert frame_bytes(rf, seq=seq, capture_ms=capture_ms,
                               pose_valid=rec.has_pose).hex() == vector["hex"]
            out.append(vector)
    return out


# --- edge cases ---------------------------------------------------------------------------

BELOW_HALF = 0.49999999999999994  # largest double < 0.5: floor(x + 0.5) is 1, Math.round 0


def score_cases() -> list[tuple[str, list[float]]]:
    """Score lists around every rounding and clamping edge (each exactly 51 long)."""
    halves = [(k + 0.5) / 255 for k in range(51)]  # each exactly (or just off) a half step
    steps = [k / 255 for k in range(0, 255, 5)][:51]
    nudged = [math.nextafter(h, -math.inf) for h in halves]
    clamped = [-1e9, -2.0, -0.5, -1e-300, -0.0, 0.0, 5e-324, 1 / 510, BELOW_HALF / 255,
               0.5 / 255, 1.5 / 255, 0.5, 254.5 / 255, math.nextafter(1.0, 0.0), 1.0,
               1.0033, 1.053, 2.0, 1e9, 1.7976931348623157e308]
    clamped += [0.25] * (SHAPE_COUNT - len(clamped))
    return [("scores at half steps", halves), ("scores just below half steps", nudged),
            ("scores at whole steps", steps), ("scores clamped and tiny", clamped)]


def edge_vectors() -> list[dict[str, Any]]:
    zeros = [0.0] * SHAPE_COUNT
    mid = [i / 50 for i in range(SHAPE_COUNT)]
    cases: list[tuple[str, dict[str, Any]]] = [("all defaults", frame_input(zeros))]
    cases += [(name, frame_input(s, seq=7, capture_ms=1234)) for name, s in score_cases()]
    poses = [(180.0, 90.0, 180.0), (-180.0, -90.0, -180.0), (180.004, 89.995, -179.995),
             (0.005, -0.005, 0.015), (12.345, -12.345, 0.125), (-0.125, 33.335, -45.675),
             (BELOW_HALF / 100, -BELOW_HALF / 100, 1e-9), (-0.0, 0.0, -1e-300),
             (-180.005, -90.005, -180.005)]  # halves round up: -18000.5 -> -18000, accepted
    for yaw, pitch, roll in poses:
        cases.append((f"pose {yaw!r} {pitch!r} {roll!r}",
                      frame_input(mid, yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)))
    translations = [(BELOW_HALF, 0.5, -0.5), (-1.5, 2.5, -2.5), (32767.0, -32767.0, 32767.4),
                    (-32767.4, 123.456, -40.0), (1.4999999999999998, -0.49999999999999994, 0.0)]
    for tx, ty, tz in translations:
        cases.append((f"translation {tx!r} {ty!r} {tz!r}",
                      frame_input(mid, tx_mm=tx, ty_mm=ty, tz_mm=tz)))
    for seq, capture in [(65535, 2**32 - 1), (65536, 2**32), (70_000, 2**32 + 12_345),
                         (-1, -1), (2**40 + 5, 2**53 - 1), (0, 0)]:
        cases.append((f"wrap seq {seq} capture {capture}",
                      frame_input(mid, seq=seq, capture_ms=capture)))
    for quality in (0, 1, 128, 254):
        cases.append((f"quality {quality}", frame_input(mid, quality=quality)))
    cases += [
        ("no face but values given", frame_input(mid, face_present=False, yaw_deg=10.0,
                                                 tx_mm=5.0, quality=9)),
        ("face without pose", frame_input(mid, pose_valid=False, yaw_deg=3.0)),
        ("face without shapes", frame_input(mid, shapes_valid=False)),
        ("face only", frame_input(zeros, pose_valid=False, shapes_valid=False, quality=0)),
    ]
    return [frame_vector(name, "edge case", kwargs) for name, kwargs in cases]


def encode_error_vectors() -> list[dict[str, Any]]:
    mid = [i / 50 for i in range(SHAPE_COUNT)]
    cases: list[tuple[str, dict[str, Any]]] = [
        ("50 scores", frame_input(mid[:50])),
        ("52 scores", frame_input([*mid, 0.5])),
        ("no scores", frame_input([])),
    ]
    for bad in (math.nan, math.inf, -math.inf):
        cases.append((f"score {bad}", frame_input([*mid[:10], bad, *mid[11:]])))
        for field in ("yaw_deg", "pitch_deg", "roll_deg", "tx_mm", "ty_mm", "tz_mm"):
            cases.append((f"{field} {bad}", frame_input(mid, **{field: bad})))
    for field, value in [("yaw_deg", 180.005), ("yaw_deg", -180.01), ("pitch_deg", 90.01),
                         ("pitch_deg", -90.006), ("roll_deg", 181.0), ("roll_deg", -1e6),
                         ("tx_mm", 32767.5), ("ty_mm", -32768.0), ("tz_mm", 1e6)]:
        cases.append((f"{field} {value!r} out of range", frame_input(mid, **{field: value})))
    for quality in (-1, 256, 1.5):
        cases.append((f"quality {quality}", frame_input(mid, quality=quality)))
    cases += [("seq 1.5", frame_input(mid, seq=1.5)),
              ("capture_ms 2.5", frame_input(mid, capture_ms=2.5))]
    return [error_vector(name, kwargs, lambda kw=kwargs: encode_frame(**kw))
            for name, kwargs in cases]


def no_face_vectors() -> list[dict[str, Any]]:
    out = []
    for seq, capture in [(0, 0), (1, 500), (65535, 2**32 - 1), (65536, 2**32 + 7), (-2, -3)]:
        data = encode_no_face_frame(seq, capture)
        out.append({"seq": seq, "capture_ms": capture, "hex": data.hex(),
                    "decoded": decoded(data)})
    return out


def raw(kind: int = FRAME_KIND, flags: int = ALL_FLAGS, yaw: int = 0, pitch: int = 0,
        roll: int = 0) -> bytes:
    return LAYOUT.pack(kind, flags, 513, 70_000, yaw, pitch, roll, -3, 4, -500, 200,
                       bytes(range(0, 255, 5))[:51])


def decode_vectors() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Frames made by hand: (ones that decode, ones the server rejects with a reason)."""
    good = [("pose at the limits", raw(yaw=18000, pitch=-9000, roll=-18000)),
            ("flags 0 with a pose", raw(flags=0, yaw=-18000, pitch=9000, roll=18000)),
            ("face only", raw(flags=FLAG_FACE)), ("face and shapes", raw(flags=5))]
    bad = [("71 bytes", raw()[:71]), ("73 bytes", raw() + b"\0"), ("empty", b""),
           ("kind 0xa2", raw(kind=0xA2)), ("kind 0xb1", raw(kind=0xB1)),
           ("reserved flag bit 3", raw(flags=ALL_FLAGS | 8)), ("flag bit 7", raw(flags=0x81)),
           ("pose without face", raw(flags=FLAG_POSE)),
           ("shapes without face", raw(flags=FLAG_SHAPES)),
           ("yaw 18001", raw(yaw=18001)), ("yaw -18001", raw(yaw=-18001)),
           ("pitch 9001", raw(pitch=9001)), ("pitch -9001", raw(pitch=-9001)),
           ("roll 18001", raw(roll=18001)), ("roll -32768", raw(roll=-32768))]
    ok = [{"name": n, "hex": d.hex(), "decoded": decoded(d)} for n, d in good]
    rejected = [{"name": n, "hex": d.hex(), "reason": check_frame(d)} for n, d in bad]
    assert all(r["reason"] is not None for r in rejected)
    return ok, rejected


# --- head pose from matrices --------------------------------------------------------------


def rotation(yaw: float, pitch: float, roll: float) -> list[list[float]]:
    """R = Ry(yaw) Rx(pitch) Rz(roll), angles in degrees, row-major (tests/test_frame_codec)."""
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    ry = [[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]]
    rx = [[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)], [0.0, math.sin(b), math.cos(b)]]
    rz = [[math.cos(c), -math.sin(c), 0.0], [math.sin(c), math.cos(c), 0.0], [0.0, 0.0, 1.0]]

    def mul(p: list[list[float]], q: list[list[float]]) -> list[list[float]]:
        return [[sum(p[i][k] * q[k][j] for k in range(3)) for j in range(3)] for i in range(3)]

    return mul(mul(ry, rx), rz)


def column_major(r: list[list[float]], scale: float, t: Sequence[float]) -> list[float]:
    """MediaPipe's layout: element (i, j) at j * 4 + i; translation (cm) in 12..14. Rounded
    to 12 significant digits, so the inputs do not depend on the platform's sin/cos."""
    m = [0.0] * 16
    for i in range(3):
        for j in range(3):
            m[j * 4 + i] = r[i][j] * scale
    m[12:16] = [*t, 1.0]
    return [float(f"{v:.12g}") for v in m]


def safe_pose(pose: Sequence[float], name: str) -> list[float]:
    """The pose rounded to 1e-10 degrees; refuses one whose centidegrees sit so close to a
    half that a 1-ulp libm difference could change the wire value."""
    for deg in pose:
        frac = (deg * 100.0) % 1.0
        assert abs(frac - 0.5) > 1e-6, f"{name}: pick another matrix, {deg!r} is on a half"
    return [round(v, 10) for v in pose]


def matrix_vectors(face_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    llv = load_recording(face_dir / "llv_dao.gesichter")
    mid = [i / 50 for i in range(SHAPE_COUNT)]
    cases: list[tuple[str, list[float], list[float]]] = []
    for i in range(0, len(llv.frames), 30):  # real head poses (degrees) as MediaPipe matrices
        rf = llv.frames[i]
        m = column_major(rotation(rf.yaw_deg, rf.pitch_deg, rf.roll_deg), 1.0 + i / 200,
                         (1.5 + i / 100, -2.25, -40.0 - i / 10))
        cases.append((f"llv_dao.gesichter[{i}] pose", m, list(rf.scores)))
    for yaw, pitch, roll, scale in [(0, 0, 0, 1.0), (0, 20, 0, 1.8), (20, 0, 0, 0.5),
                                    (0, 0, 20, 1.0), (25, -12, 8, 3.2), (-170, 60, 170, 0.37),
                                    (90, 0, 0, 1.0), (0, 89.999, 0, 2.0), (0, -89.999, 0, 2.0),
                                    (179.996, 10, -179.996, 1.1), (-31.1, 22.2, 5.55, 0.9)]:
        m = column_major(rotation(yaw, pitch, roll), scale, (-3.0, 4.5, -55.0))
        cases.append((f"rotation yaw {yaw} pitch {pitch} roll {roll} scale {scale}", m, mid))
    good = []
    for n, (name, m, scores) in enumerate(cases):
        pose = safe_pose(pose_from_matrix(m), name)
        kwargs = frame_input(scores, seq=100 + n, capture_ms=5_000 + 33 * n, yaw_deg=pose[0],
                             pitch_deg=pose[1], roll_deg=pose[2], tx_mm=12.0, ty_mm=-7.0,
                             tz_mm=-430.0)
        good.append({"name": name, "matrix": m, "pose_deg": pose,
                     "frame": frame_vector(name, "matrix", kwargs)})
    ok = column_major(rotation(0, 0, 0), 1.0, (0.0, 0.0, -40.0))
    zero_column = list(ok)
    zero_column[4:7] = [0.0, 0.0, 0.0]
    bad = [("15 elements", ok[:15]), ("17 elements", [*ok, 0.0]), ("all zero", [0.0] * 16),
           ("zero column", zero_column), ("NaN element", [math.nan, *ok[1:]]),
           ("infinite element", [*ok[:9], math.inf, *ok[10:]])]
    errors = []
    for name, m in bad:
        try:
            pose_from_matrix(m)
        except ValueError as exc:
            errors.append({"name": name, "matrix": [num(v) for v in m],
                           "error": describe_error(exc)})
        else:
            raise AssertionError(f"{name}: expected pose_from_matrix to refuse it")
    return good, errors


# --- MediaPipe Face Landmarker results ----------------------------------------------------


def landmarker_vectors(face_dir: Path) -> list[dict[str, Any]]:
    """The real V-Sekai FaceLandmarker output as tasks-vision categories, in index order,
    reversed, and with extra categories; each mapped by avatars.recordings."""
    doc = json.loads((face_dir / "mediapipe_single_frame_vsekai_blendshapes.json").read_text())
    categories = [{"index": i, "score": c["score"], "categoryName": c["name"],
                   "displayName": ""} for i, c in enumerate(doc["people"][0])]
    variants = [
        ("index order", categories),
        ("reversed", categories[::-1]),
        ("with tongueOut and an unknown name",
         [*categories, {"index": 52, "score": 0.7, "categoryName": "tongueOut",
                        "displayName": ""},
          {"index": 53, "score": 0.9, "categoryName": "notAShape", "displayName": ""}]),
        ("scores out of range",
         [dict(c, score=(c["score"] - 0.5) * 3) for c in categories]),
    ]
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, (name, cats) in enumerate(variants):
            path = Path(tmp) / f"{n}.json"
            path.write_text(json.dumps({"faceBlendshapes": [{"categories": cats}]}))
            scores = load_mediapipe_json(path).frames[0].scores
            kwargs = frame_input(scores, seq=40 + n, capture_ms=90_000 + n, pose_valid=False)
            out.append({"name": name, "categories": cats, "scores": list(scores),
                        "seq": kwargs["seq"], "capture_ms": kwargs["capture_ms"],
                        "hex": encode_frame(**kwargs).hex()})
        missing = [c for c in categories if c["categoryName"] != "jawOpen"]
        path = Path(tmp) / "missing.json"
        path.write_text(json.dumps({"faceBlendshapes": [{"categories": missing}]}))
        try:
            load_mediapipe_json(path)
        except ValueError as exc:
            out.append({"name": "jawOpen missing", "categories": missing,
                        "error": describe_error(exc).replace(str(path), "<file>")})
        else:
            raise AssertionError("expected a missing blend shape to be refused")
    return out


# --- batches ------------------------------------------------------------------------------


def batch_vectors(frames: list[bytes]) -> tuple[list[dict[str, Any]], ...]:
    cases = [("empty", 1764662400123.456, []),
             ("one member", 0.0, [(0, frames[0])]),
             ("three members", 1764662400999.75, [(1, frames[1]), (4, frames[2]),
                                                   (255, frames[3])]),
             ("ghost slot and no-face frame", 2.0**53,
              [(7, encode_no_face_frame(3, 4)), (2, frames[4])]),
             ("255 entries", 1.5e12, [(i, frames[i % len(frames)]) for i in range(255)])]
    good = []
    for name, server_ms, entries in cases:
        data = encode_batch(server_ms, entries)
        assert decode_batch(data) == (server_ms, entries)
        good.append({"name": name, "server_ms": server_ms,
                     "entries": [[slot, f.hex()] for slot, f in entries], "hex": data.hex()})
    one = encode_batch(5.0, [(3, frames[0])])
    bad_bytes = [("9 bytes", one[:9]), ("kind 0xb2", b"\xb2" + one[1:]),
                 ("count 2, one entry", one[:1] + b"\x02" + one[2:]),
                 ("a trailing byte", one + b"\0"), ("a short entry", one[:-1])]
    decode_errors = []
    for name, data in bad_bytes:
        try:
            decode_batch(data)
        except ValueError as exc:
            decode_errors.append({"name": name, "hex": data.hex(),
                                  "reason": getattr(exc, "reason", None)})
        else:
            raise AssertionError(f"{name}: expected decode_batch to refuse it")
    bad_entries: list[tuple[str, list[tuple[int, bytes]]]] = [
        ("256 entries", [(0, frames[0])] * 256), ("slot 256", [(256, frames[0])]),
        ("slot -1", [(-1, frames[0])]), ("71-byte frame", [(0, frames[0][:71])])]
    encode_errors = []
    for name, entries in bad_entries:
        try:
            encode_batch(1.0, entries)
        except ValueError as exc:
            encode_errors.append({"name": name, "server_ms": 1.0,
                                  "entries": [[s, f.hex()] for s, f in entries],
                                  "error": describe_error(exc)})
        else:
            raise AssertionError(f"{name}: expected encode_batch to refuse it")
    return good, decode_errors, encode_errors


def build_vectors(face_dir: Path | None = None) -> dict[str, Any]:
    """Every vector, as the JSON document (see the module docstring). Raises
    FileNotFoundError when the face recordings are missing."""
    face_dir = face_dir if face_dir is not None else face_data_dir()
    recorded = recording_vectors(face_dir)
    decode_ok, decode_errors = decode_vectors()
    matrices, matrix_errors = matrix_vectors(face_dir)
    batch_frames = [bytes.fromhex(v["hex"]) for v in recorded[::7]]
    batches, batch_decode_errors, batch_encode_errors = batch_vectors(batch_frames)
    return {
        "about": "Generated by `python -m tests.make_frame_vectors` from avatars/frame.py; "
                 "do not edit. Checked by tests/test_frame_vectors.py and "
                 "web_client/test/frame.test.ts.",
        "blendshape_names": list(BLENDSHAPE_NAMES),
        "frames": recorded + edge_vectors(),
        "encode_errors": encode_error_vectors(),
        "no_face": no_face_vectors(),
        "decode_ok": decode_ok,
        "decode_errors": decode_errors,
        "matrices": matrices,
        "matrix_errors": matrix_errors,
        "landmarker_results": landmarker_vectors(face_dir),
        "batches": batches,
        "batch_decode_errors": batch_decode_errors,
        "batch_encode_errors": batch_encode_errors,
    }


def render(doc: dict[str, Any]) -> str:
    """The file's text: sections in a fixed order, one vector per line (small diffs)."""

    def dump(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)

    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join(f"  {dump(item)}" for item in value)
            parts.append(f" {dump(key)}: [\n{items}\n ]")
        else:
            parts.append(f" {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> int:
    text = render(build_vectors())
    VECTORS_PATH.parent.mkdir(parents=True, exist_ok=True)
    VECTORS_PATH.write_text(text)
    print(f"wrote {VECTORS_PATH.relative_to(REPO_ROOT)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
