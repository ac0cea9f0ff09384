"""Avatar frame codec and validation: the 72-byte frame and the ``frames`` batch.

Layout (DESIGN.md section 4), little-endian, ``struct`` format ``'<BBHIhhhhhhB51s'``:
kind 0xA1, flags (bit0 face present, bit1 pose valid, bit2 blend shapes valid), u16 sequence
number (wraps), u32 capture time in ms on the client's monotonic clock (wraps), i16 yaw, pitch,
roll in centidegrees (pitch > 0 = looking down), i16 tx, ty, tz in mm, u8 tracking quality,
51 u8 blend-shape scores ``round(clamp(s, 0, 1) * 255)`` in wire order (``avatars.blendshapes``).

The server validates every inbound frame with :func:`check_frame` (one ``unpack_from`` of the
14-byte header, no allocation of a :class:`Frame`) and relays the bytes untouched; only code
that reads a frame's content decodes it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from avatars.blendshapes import SHAPE_COUNT, wire_index

FRAME_SIZE: Final = 72
FRAME_KIND: Final = 0xA1
FLAG_FACE: Final = 1
FLAG_POSE: Final = 2
FLAG_SHAPES: Final = 4
YAW_LIMIT_CDEG: Final = 18_000
PITCH_LIMIT_CDEG: Final = 9_000
ROLL_LIMIT_CDEG: Final = 18_000
BATCH_KIND: Final = 0xB1
BATCH_MAX_ENTRIES: Final = 255
BATCH_HEADER_SIZE: Final = 10
BATCH_ENTRY_SIZE: Final = 1 + FRAME_SIZE

_FRAME: Final = struct.Struct("<BBHIhhhhhhB51s")
_HEADER: Final = struct.Struct("<BBHIhhh")  # the prefix check_frame needs: up to roll
_BATCH_HEADER: Final = struct.Struct("<BBd")
_KNOWN_FLAGS: Final = FLAG_FACE | FLAG_POSE | FLAG_SHAPES
_I16_MAX: Final = 32_767
assert _FRAME.size == FRAME_SIZE and _BATCH_HEADER.size == BATCH_HEADER_SIZE

FrameErrorReason: TypeAlias = Literal["length", "kind", "flags", "pose_range"]
"""Why a frame or batch was rejected: wrong byte count; wrong kind byte; reserved flag bits
3..7 set, or pose/shape bits set without face-present; yaw/roll beyond +-18000 or pitch
beyond +-9000 centidegrees."""

Buffer: TypeAlias = bytes | bytearray | memoryview
"""A 1-D byte buffer holding a frame or batch."""


class FrameError(ValueError):
    """A malformed frame or batch; ``reason`` is one of :data:`FrameErrorReason`."""

    def __init__(self, reason: FrameErrorReason, detail: str = "") -> None:
        super().__init__(f"bad avatar frame: {reason}" + (f" ({detail})" if detail else ""))
        self.reason: FrameErrorReason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded avatar frame; fields as on the wire (integers, see the module docstring)."""

    seq: int  # 0..65535, wraps
    capture_ms: int  # 0..2**32-1, client monotonic clock, wraps
    flags: int
    yaw_cdeg: int
    pitch_cdeg: int  # > 0 = looking down
    roll_cdeg: int
    tx_mm: int
    ty_mm: int
    tz_mm: int
    quality: int  # 0..255
    shapes: bytes  # 51 bytes, wire order, 0..255 = score 0..1

    @property
    def face_present(self) -> bool:
        """Whether a face was detected (flag bit 0)."""
        return bool(self.flags & FLAG_FACE)

    @property
    def pose_valid(self) -> bool:
        """Whether yaw/pitch/roll and tx/ty/tz carry a measured head pose (flag bit 1)."""
        return bool(self.flags & FLAG_POSE)

    @property
    def shapes_valid(self) -> bool:
        """Whether the 51 blend-shape bytes carry scores (flag bit 2)."""
        return bool(self.flags & FLAG_SHAPES)

    @property
    def yaw_deg(self) -> float:
        """Yaw in degrees, -180..180."""
        return self.yaw_cdeg / 100.0

    @property
    def pitch_deg(self) -> float:
        """Pitch in degrees, -90..90, > 0 = looking down."""
        return self.pitch_cdeg / 100.0

    @property
    def roll_deg(self) -> float:
        """Roll in degrees, -180..180."""
        return self.roll_cdeg / 100.0

    def score(self, shape: str | int) -> float:
        """Return one blend-shape score in 0..1 (quantized to 1/255).

        ``shape`` is a wire index 0..50 or a name in any spelling ``wire_index`` accepts.
        Raises KeyError for a name with no wire index, IndexError for an index out of range.
        """
        if isinstance(shape, str):
            index = wire_index(shape)
            if index is None:
                raise KeyError(shape)
        else:
            index = shape
        if not 0 <= index < SHAPE_COUNT:
            raise IndexError(f"blend-shape index {index} outside 0..{SHAPE_COUNT - 1}")
        return self.shapes[index] / 255.0


def check_frame(data: Buffer) -> FrameErrorReason | None:
    """Validate one frame on the hot path: None if valid, else the rejection reason.

    Checks, in order: length == 72, kind == 0xA1, no reserved flag bits and no pose/shape
    bits without face-present, then yaw/roll within +-18000 and pitch within +-9000
    centidegrees (checked whatever the pose bit says). ``data`` is a 1-D byte buffer.
    """
    if len(data) != FRAME_SIZE:
        return "length"
    kind, flags, _seq, _capture, yaw, pitch, roll = _HEADER.unpack_from(data)
    if kind != FRAME_KIND:
        return "kind"
    if flags & ~_KNOWN_FLAGS or (flags and not flags & FLAG_FACE):
        return "flags"
    if not (
        -YAW_LIMIT_CDEG <= yaw <= YAW_LIMIT_CDEG
        and -PITCH_LIMIT_CDEG <= pitch <= PITCH_LIMIT_CDEG
        and -ROLL_LIMIT_CDEG <= roll <= ROLL_LIMIT_CDEG
    ):
        return "pose_range"
    return None


def decode_frame(data: Buffer) -> Frame:
    """Decode and validate one 72-byte frame. Raises FrameError (see :func:`check_frame`)."""
    reason = check_frame(data)
    if reason is not None:
        raise FrameError(reason)
    _kind, flags, seq, capture_ms, yaw, pitch, roll, tx, ty, tz, quality, shapes = _FRAME.unpack(
        data
    )
    return Frame(seq, capture_ms, flags, yaw, pitch, roll, tx, ty, tz, quality, shapes)


def _round_half_up(x: float) -> int:
    # Half up, like JavaScript's Math.round, so the browser and Python encoders agree.
    return math.floor(x + 0.5)


def quantize_score(s: float) -> int:
    """Quantize one raw MediaPipe score to a wire byte: ``round(clamp(s, 0, 1) * 255)``.

    Halves round up (JavaScript ``Math.round``); the error is at most 1/510 after clamping.
    Raises ValueError for NaN or infinity.
    """
    if not math.isfinite(s):
        raise ValueError(f"blend-shape score is not finite: {s!r}")
    return math.floor((0.0 if s < 0.0 else 1.0 if s > 1.0 else s) * 255.0 + 0.5)


def _to_wire(value: float, scale: float, limit: int, what: str) -> int:
    if not math.isfinite(value):
        raise ValueError(f"{what} is not finite: {value!r}")
    wire = _round_half_up(value * scale)
    if not -limit <= wire <= limit:
        raise ValueError(f"{what} {value!r} outside +-{limit / scale:g}")
    return wire


def encode_frame(
    *,
    seq: int,
    capture_ms: int,
    scores: Sequence[float],
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
    roll_deg: float = 0.0,
    tx_mm: float = 0.0,
    ty_mm: float = 0.0,
    tz_mm: float = 0.0,
    quality: int = 255,
    face_present: bool = True,
    pose_valid: bool = True,
    shapes_valid: bool = True,
) -> bytes:
    """Encode one 72-byte avatar frame.

    ``scores``: 51 raw MediaPipe scores in wire order (unclamped; clamped and quantized here).
    Angles in degrees (pitch > 0 = looking down) become centidegrees, rounded; yaw and roll
    must lie within +-180, pitch within +-90. Translations in mm must fit an i16. ``seq`` is
    taken mod 2**16 and ``capture_ms`` mod 2**32. Without a face the pose and shape bits are
    cleared (a frame with them but no face is malformed); the values are still written.
    Raises ValueError for a wrong score count, NaN/infinity, out-of-range pose or quality.
    """
    if len(scores) != SHAPE_COUNT:
        raise ValueError(f"expected {SHAPE_COUNT} blend-shape scores, got {len(scores)}")
    if not 0 <= quality <= 255:
        raise ValueError(f"quality {quality} outside 0..255")
    flags = 0
    if face_present:
        flags = FLAG_FACE | (FLAG_POSE if pose_valid else 0) | (FLAG_SHAPES if shapes_valid else 0)
    return _FRAME.pack(
        FRAME_KIND,
        flags,
        seq & 0xFFFF,
        capture_ms & 0xFFFF_FFFF,
        _to_wire(yaw_deg, 100.0, YAW_LIMIT_CDEG, "yaw_deg"),
        _to_wire(pitch_deg, 100.0, PITCH_LIMIT_CDEG, "pitch_deg"),
        _to_wire(roll_deg, 100.0, ROLL_LIMIT_CDEG, "roll_deg"),
        _to_wire(tx_mm, 1.0, _I16_MAX, "tx_mm"),
        _to_wire(ty_mm, 1.0, _I16_MAX, "ty_mm"),
        _to_wire(tz_mm, 1.0, _I16_MAX, "tz_mm"),
        quality,
        bytes([quantize_score(s) for s in scores]),
    )


def encode_no_face_frame(seq: int, capture_ms: int) -> bytes:
    """Encode the 2 Hz "face lost" frame: flags 0, pose and shapes zero, quality 0."""
    return _FRAME.pack(
        FRAME_KIND, 0, seq & 0xFFFF, capture_ms & 0xFFFF_FFFF, 0, 0, 0, 0, 0, 0, 0, bytes(51)
    )


def pose_from_matrix(m: Sequence[float]) -> tuple[float, float, float]:
    """Head pose (yaw, pitch, roll) in degrees from a MediaPipe facialTransformationMatrix.

    ``m``: 16 floats, column-major 4x4 (element (row i, col j) at ``m[j * 4 + i]``), rotation
    times a scale, plus translation (ignored). Each column of the 3x3 is divided by its norm,
    then with R = Ry(yaw) Rx(pitch) Rz(roll): pitch = asin(-R12), yaw = atan2(R02, R22),
    roll = atan2(R10, R11) (DESIGN.md section 4). MediaPipe's metric space is right-handed
    with y up and the camera looking down -z, and the canonical face looks along +z, so a nod
    (chin down) tips the face's forward axis towards -y, making R12 < 0 and pitch > 0: the
    DESIGN convention "pitch > 0 = looking down" holds (tests/test_frame_codec.py). Yaw > 0
    turns the face towards camera +x (the subject's left in an unmirrored image); roll > 0
    raises the face's +x side (counter-clockwise as the camera sees it).
    Raises ValueError for a wrong length, non-finite values or a zero scale.
    """
    if len(m) != 16:
        raise ValueError(f"expected 16 matrix elements, got {len(m)}")
    if not all(math.isfinite(v) for v in m):
        raise ValueError("matrix has a non-finite element")
    s0 = math.hypot(m[0], m[1], m[2])
    s1 = math.hypot(m[4], m[5], m[6])
    s2 = math.hypot(m[8], m[9], m[10])
    if min(s0, s1, s2) <= 1e-12:
        raise ValueError("matrix has a zero-scale axis")
    r12 = m[9] / s2
    pitch = math.asin(-1.0 if -r12 < -1.0 else 1.0 if -r12 > 1.0 else -r12)
    yaw = math.atan2(m[8] / s2, m[10] / s2)
    roll = math.atan2(m[1] / s0, m[5] / s1)
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def encode_batch(server_ms: float, entries: Sequence[tuple[int, bytes]]) -> bytes:
    """Encode a server -> clients ``frames`` batch.

    Layout: ``u8 0xB1, u8 count, f64 server_ms`` (``'<BBd'``, server epoch ms) then ``count``
    x (u8 slot, 72-byte frame). Frames are copied as given (validated on ingest).
    Raises ValueError for more than 255 entries, a slot outside 0..255 or a frame whose
    length is not 72.
    """
    if len(entries) > BATCH_MAX_ENTRIES:
        raise ValueError(f"{len(entries)} batch entries, at most {BATCH_MAX_ENTRIES}")
    parts = [_BATCH_HEADER.pack(BATCH_KIND, len(entries), server_ms)]
    for slot, frame in entries:
        if not 0 <= slot <= 255:
            raise ValueError(f"slot {slot} outside 0..255")
        if len(frame) != FRAME_SIZE:
            raise ValueError(f"frame for slot {slot} has {len(frame)} bytes, not {FRAME_SIZE}")
        parts.append(bytes((slot,)))
        parts.append(frame)
    return b"".join(parts)


def decode_batch(data: Buffer) -> tuple[float, list[tuple[int, bytes]]]:
    """Decode a ``frames`` batch into (server_ms, [(slot, 72-byte frame), ...]).

    Checks the structure only (frames are not validated: use :func:`check_frame`).
    Raises FrameError "length" (short header, or size != 10 + 73 * count) or "kind".
    """
    raw = bytes(data)
    if len(raw) < BATCH_HEADER_SIZE:
        raise FrameError("length", f"batch of {len(raw)} bytes")
    kind, count, server_ms = _BATCH_HEADER.unpack_from(raw)
    if kind != BATCH_KIND:
        raise FrameError("kind", f"batch kind 0x{kind:02x}")
    if len(raw) != BATCH_HEADER_SIZE + count * BATCH_ENTRY_SIZE:
        raise FrameError("length", f"batch of {len(raw)} bytes for {count} entries")
    entries = []
    for off in range(BATCH_HEADER_SIZE, len(raw), BATCH_ENTRY_SIZE):
        entries.append((raw[off], raw[off + 1 : off + BATCH_ENTRY_SIZE]))
    return server_ms, entries


def wrap_delta_ms(now_ms: int, capture_ms: int) -> int:
    """Milliseconds from ``capture_ms`` to ``now_ms`` on one wrapping u32 clock (mod 2**32)."""
    return (now_ms - capture_ms) & 0xFFFF_FFFF
