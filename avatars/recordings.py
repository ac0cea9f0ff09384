"""Loaders for the real face-capture recordings (shared/data/face, see its SOURCES.md).

Bots, replays and tests stream these instead of synthetic faces. Every loader maps columns and
values BY NAME to the wire order of ``avatars.blendshapes`` (the Live Link CSV export puts
JawRight before JawLeft and MouthRight before MouthLeft; the UDP packet does not). Scores stay
raw (ARKit takes exceed 1.0); clamping is the encoder's job. The only I/O here is reading the
given file; :func:`face_data_dir` also reads one environment variable.

Conventions found in the data (Live Link Face): head and eye angles are radians (the LLV head
pose reaches 0.43 rad, about 25 degrees); eye pitch > 0 means looking down (correlation 0.996
with eyeLookDown - eyeLookUp in the CSV take), like the wire's head pitch; eye yaw > 0 turns
the gaze towards the subject's right. The head angles are passed through unchanged (radians
to degrees); their sign conventions are not verified against MediaPipe's.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

from avatars.blendshapes import LIVELINK_NAMES, LIVELINK_UDP_NAMES, SHAPE_INDEX
from avatars.frame import encode_frame

PathArg: TypeAlias = str | os.PathLike[str]

POSE_NAMES: Final[tuple[str, ...]] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip
"""The 9 angles (radians) after the 52 shapes in a Live Link Face packet and CSV row."""
LLV_VALUE_NAMES: Final[tuple[str, ...]] = LIVELINK_UDP_NAMES + POSE_NAMES
"""The 61 values of a Live Link Face v6 UDP packet, in packet order."""
LLV_VERSION: Final = 6
LIVELINK_TIMECODE_FPS: Final = 60
"""Frame rate of the CSV's ``hh:mm:ss:ff.fff`` timecode: ff runs 0..59 and advances by ~2 per
row in the ~29.99 fps take."""
FACE_DATA_ENV: Final = "STUDYVERSE_FACE_DATA"

_LLV_TIME_COLUMNS: Final = ("FrameNumber", "SubFrame", "FpsNumerator", "FpsDenominator")
_LLV_WIRE_COLUMNS: Final = tuple(LLV_VALUE_NAMES.index(n) for n in LIVELINK_NAMES)
_LLV_HEAD_COLUMNS: Final = tuple(LLV_VALUE_NAMES.index(n) for n in POSE_NAMES[:3])
_U32: Final = struct.Struct(">I")
_FRAME_TIME: Final = struct.Struct(">ifiiB")  # frame number, subframe, fps num, fps den, count


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One recorded face: time, 51 raw scores (wire order, unclamped) and head pose."""

    t_ms: float  # ms since the recording's first frame
    scores: tuple[float, ...]
    yaw_deg: float
    pitch_deg: float
    roll_deg: float


@dataclass(frozen=True)
class Recording:
    """A loaded recording. ``fps`` is nominal (LLV: the packets' rate; Live Link CSV: the
    measured mean, the export states none; single MediaPipe frame: 0). ``has_pose`` is False
    when every head angle is 0 (the Live Link CSV take)."""

    name: str
    fps: float
    frames: tuple[RecordedFrame, ...]
    has_pose: bool

    @property
    def duration_ms(self) -> float:
        """Time from the first to the last frame's timestamp (0 for one frame)."""
        return self.frames[-1].t_ms - self.frames[0].t_ms if self.frames else 0.0


@dataclass(frozen=True, slots=True)
class LlvPacket:
    """One Live Link Face v6 UDP packet (as stored in LLV ``.gesichter`` files).

    Layout, big-endian: u8 version 6; u32 length + UTF-8 device id; u32 length + UTF-8
    subject name; i32 frame number, f32 subframe (fraction of a frame), i32 fps numerator,
    i32 fps denominator; u8 value count (61); count x f32 in :data:`LLV_VALUE_NAMES` order.
    """

    device_id: str
    subject_name: str
    frame_number: int
    subframe: float
    fps_numerator: int
    fps_denominator: int
    values: tuple[float, ...]

    def value(self, name: str) -> float:
        """One value by Live Link name, e.g. ``"JawOpen"`` or ``"HeadYaw"`` (radians)."""
        return self.values[LLV_VALUE_NAMES.index(name)]


def parse_llv_packet(data: bytes) -> LlvPacket:
    """Parse one Live Link Face v6 UDP packet. Raises ValueError if it is malformed."""
    if not data or data[0] != LLV_VERSION:
        raise ValueError(f"not a version-{LLV_VERSION} Live Link packet")
    try:
        (n,) = _U32.unpack_from(data, 1)
        device_id = data[5 : 5 + n].decode()
        off = 5 + n
        (n,) = _U32.unpack_from(data, off)
        subject = data[off + 4 : off + 4 + n].decode()
        off += 4 + n
        frame_number, subframe, num, den, count = _FRAME_TIME.unpack_from(data, off)
        off += _FRAME_TIME.size
        values = struct.unpack_from(f">{count}f", data, off)
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"truncated or corrupt Live Link packet: {exc}") from exc
    if count != len(LLV_VALUE_NAMES) or off + 4 * count != len(data) or num <= 0 or den <= 0:
        raise ValueError(f"unexpected Live Link packet: {count} values, {len(data)} bytes")
    return LlvPacket(device_id, subject, frame_number, subframe, num, den, values)


def read_gesichter(path: PathArg) -> tuple[LlvPacket, ...]:
    """Read an LLV ``.gesichter`` file: gzip of u8 version 6, u32 BE packet count, then
    count x (u32 BE length + Live Link Face v6 packet). Raises ValueError if malformed."""
    raw = gzip.decompress(Path(path).read_bytes())
    if len(raw) < 5 or raw[0] != LLV_VERSION:
        raise ValueError(f"{path}: not a version-{LLV_VERSION} .gesichter file")
    (count,) = _U32.unpack_from(raw, 1)
    packets: list[LlvPacket] = []
    off = 5
    for _ in range(count):
        if off + 4 > len(raw):
            raise ValueError(f"{path}: truncated after {len(packets)} of {count} packets")
        (n,) = _U32.unpack_from(raw, off)
        packets.append(parse_llv_packet(raw[off + 4 : off + 4 + n]))
        off += 4 + n
    if off != len(raw):
        raise ValueError(f"{path}: {len(raw) - off} trailing bytes")
    return tuple(packets)


def _llv_recording(name: str, packets: Sequence[LlvPacket]) -> Recording:
    if not packets:
        raise ValueError(f"{name}: no frames")
    first = packets[0]
    num, den = first.fps_numerator, first.fps_denominator
    if any((p.fps_numerator, p.fps_denominator) != (num, den) for p in packets):
        raise ValueError(f"{name}: the frame rate changes mid-recording")
    ms_per_frame = 1000.0 * den / num
    frames = []
    for p in packets:
        frames_since = (p.frame_number - first.frame_number) + (p.subframe - first.subframe)
        scores = tuple(p.values[c] for c in _LLV_WIRE_COLUMNS)
        yaw, pitch, roll = (math.degrees(p.values[c]) for c in _LLV_HEAD_COLUMNS)
        frames.append(RecordedFrame(frames_since * ms_per_frame, scores, yaw, pitch, roll))
    return Recording(name, num / den, tuple(frames), _any_pose(frames))


def _any_pose(frames: Iterable[RecordedFrame]) -> bool:
    return any(f.yaw_deg or f.pitch_deg or f.roll_deg for f in frames)


def load_llv_gesichter(path: PathArg) -> Recording:
    """Load an LLV ``.gesichter`` file (60 fps in llv_dao). t_ms comes from each packet's
    frame number + subframe at its fps; pose from HeadYaw/Pitch/Roll (radians -> degrees).
    Raises ValueError if malformed, OSError if unreadable."""
    return _llv_recording(Path(path).stem, read_gesichter(path))


def _columns(path: PathArg, header: Sequence[str], names: Iterable[str]) -> list[int]:
    index = {name: i for i, name in enumerate(header)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return [index[n] for n in names]


def load_llv_csv(path: PathArg) -> Recording:
    """Load an LLV capture decoded to CSV (llv_dao_decoded.csv): FrameNumber, SubFrame,
    FpsNumerator, FpsDenominator, BlendShapeCount, then the 61 values by name.
    Same timing and pose rules as :func:`load_llv_gesichter`. Raises ValueError if malformed."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        time_cols = _columns(path, header, _LLV_TIME_COLUMNS)
        value_cols = _columns(path, header, LLV_VALUE_NAMES)
        packets = []
        for row in reader:
            if row:
                frame_number, subframe, num, den = (row[c] for c in time_cols)
                values = tuple(float(row[c]) for c in value_cols)
                packets.append(
                    LlvPacket(
                        "", "", int(frame_number), float(subframe), int(num), int(den), values
                    )
                )
    return _llv_recording(Path(path).stem, packets)


def _timecode_ms(timecode: str) -> float:
    hours, minutes, seconds, frames = timecode.split(":")
    ff = float(frames)
    if not 0.0 <= ff < LIVELINK_TIMECODE_FPS:
        raise ValueError(f"timecode frame {frames!r} outside 0..{LIVELINK_TIMECODE_FPS - 1}")
    seconds_total = (int(hours) * 60 + int(minutes)) * 60 + int(seconds)
    return (seconds_total + ff / LIVELINK_TIMECODE_FPS) * 1000.0


def load_livelink_csv(path: PathArg) -> Recording:
    """Load a Live Link Face CSV export (livelinkface_alex_rom_3.csv).

    Timecode ``hh:mm:ss:ff.fff`` counts frames ff at 60 fps (:data:`LIVELINK_TIMECODE_FPS`);
    t_ms is relative to the first row (a wrap past midnight adds 24 h). HeadYaw/Pitch/Roll
    are read as radians, like the UDP packet (all 0 in this take, so ``has_pose`` is False);
    ``fps`` is the measured mean row rate. Raises ValueError if malformed.
    """
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        (tc_col,) = _columns(path, header, ("Timecode",))
        shape_cols = _columns(path, header, LIVELINK_NAMES)
        yaw_col, pitch_col, roll_col = _columns(path, header, POSE_NAMES[:3])
        frames: list[RecordedFrame] = []
        t0 = prev = 0.0
        for row in reader:
            if not row:
                continue
            t = _timecode_ms(row[tc_col])
            if not frames:
                t0 = prev = t
            elif t < prev:
                t += 86_400_000.0
            prev = t
            frames.append(
                RecordedFrame(
                    t_ms=t - t0,
                    scores=tuple(float(row[c]) for c in shape_cols),
                    yaw_deg=math.degrees(float(row[yaw_col])),
                    pitch_deg=math.degrees(float(row[pitch_col])),
                    roll_deg=math.degrees(float(row[roll_col])),
                )
            )
    if not frames:
        raise ValueError(f"{path}: no frames")
    span = frames[-1].t_ms
    fps = (len(frames) - 1) * 1000.0 / span if span > 0 else 0.0
    return Recording(Path(path).stem, fps, tuple(frames), _any_pose(frames))


def load_mediapipe_json(path: PathArg) -> Recording:
    """Load one MediaPipe Face Landmarker blend-shape result as a 1-frame Recording.

    Accepts ``{"people": [[{"name", "score"}, ...]]}`` (the V-Sekai file) and the
    tasks-vision result ``{"faceBlendshapes": [{"categories": [{"categoryName", "score"}]}]}``;
    uses the first face, maps by name, ignores ``_neutral``. No pose (``has_pose`` False).
    Raises ValueError if a shape is missing or the layout is unknown.
    """
    doc = json.loads(Path(path).read_text())
    if "people" in doc:
        pairs = [(c["name"], c["score"]) for c in doc["people"][0]]
    elif "faceBlendshapes" in doc:
        pairs = [(c["categoryName"], c["score"]) for c in doc["faceBlendshapes"][0]["categories"]]
    else:
        raise ValueError(f"{path}: no 'people' or 'faceBlendshapes' key")
    by_name = {str(name): float(score) for name, score in pairs}
    missing = [n for n in SHAPE_INDEX if n not in by_name]
    if missing:
        raise ValueError(f"{path}: missing blend shapes {missing}")
    frame = RecordedFrame(0.0, tuple(by_name[n] for n in SHAPE_INDEX), 0.0, 0.0, 0.0)
    return Recording(Path(path).stem, 0.0, (frame,), False)


def load_recording(path: PathArg) -> Recording:
    """Load any supported recording, by suffix (``.gesichter``, ``.json``) or, for ``.csv``,
    by header (``Timecode``: Live Link export; ``FrameNumber``: decoded LLV).
    Raises ValueError for an unknown format."""
    p = Path(path)
    if p.suffix == ".gesichter":
        return load_llv_gesichter(p)
    if p.suffix == ".json":
        return load_mediapipe_json(p)
    if p.suffix == ".csv":
        with open(p, newline="") as f:
            header = next(csv.reader(f), [])
        if "Timecode" in header:
            return load_livelink_csv(p)
        if "FrameNumber" in header:
            return load_llv_csv(p)
    raise ValueError(f"{p}: unknown recording format")


def face_data_dir() -> Path:
    """The directory holding the face recordings.

    ``$STUDYVERSE_FACE_DATA`` if set, else the first existing of ``<repo>/../shared/data/face``
    (repo = the directory holding the ``avatars`` package) and ``<cwd>/../shared/data/face``.
    Raises FileNotFoundError naming the places tried.
    """
    override = os.environ.get(FACE_DATA_ENV)
    if override:
        if Path(override).is_dir():
            return Path(override)
        raise FileNotFoundError(f"{FACE_DATA_ENV}={override!r} is not a directory")
    repo = Path(__file__).resolve().parent.parent
    tried = [repo.parent / "shared/data/face", Path.cwd().parent / "shared/data/face"]
    for candidate in tried:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"face recordings not found in {', '.join(map(str, tried))}; set {FACE_DATA_ENV}"
    )


def frame_bytes(rf: RecordedFrame, *, seq: int, capture_ms: int, pose_valid: bool) -> bytes:
    """Encode one recorded frame as a 72-byte avatar frame (face present, shapes valid).

    Pass ``pose_valid=recording.has_pose``; the pose is written either way. Raises
    ValueError as :func:`avatars.frame.encode_frame` does (e.g. pitch beyond +-90 degrees).
    """
    return encode_frame(
        seq=seq,
        capture_ms=capture_ms,
        scores=rf.scores,
        yaw_deg=rf.yaw_deg,
        pitch_deg=rf.pitch_deg,
        roll_deg=rf.roll_deg,
        pose_valid=pose_valid,
    )
