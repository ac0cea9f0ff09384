"""Playing a real face recording as a stream of 72-byte avatar frames.

Shared by the bot fleet (``loadtests.bots``) and the relay benchmark
(``loadtests.relay_bench``). Every recorded face is encoded once, with
``avatars.recordings.frame_bytes``; sending a frame then only patches the sequence number
and capture time into a copy of the template (``struct.pack_into`` at byte 2), so a bot
pays ~1 us per frame instead of ~20 us for a full encode.

Timing: the recording loops forever on one "recording clock" in ms. Frame ``k`` (a global
index, ``k // len(frames)`` full loops done) is due at ``loop * period_ms + t_ms[k % n]``,
where ``period_ms`` is the take's duration plus one mean frame interval, so the last frame
of a loop is followed by the first at the take's own rhythm.
"""

from __future__ import annotations

import bisect
import struct
import time
from pathlib import Path
from typing import Final

from avatars.frame import FRAME_SIZE
from avatars.recordings import Recording, face_data_dir, frame_bytes, load_recording

DEFAULT_RECORDING: Final = "livelinkface_alex_rom_3.csv"
"""The Live Link Face CSV take (~30 fps, 4030 frames, 134 s, no head pose)."""

_SEQ_CAPTURE: Final = struct.Struct("<HI")  # u16 seq, u32 capture_ms at frame offset 2
_SHAPES_AT: Final = 21  # offset of the 51 blend-shape bytes in a frame


def monotonic_ms() -> int:
    """This machine's monotonic clock in ms, wrapped to u32 like a frame's capture time.

    On Linux ``time.monotonic()`` is CLOCK_MONOTONIC, system-wide, so every process here
    can subtract a capture time written by another process (end-to-end latency).
    """
    return int(time.monotonic() * 1000.0) & 0xFFFF_FFFF


def default_recording_path() -> Path:
    """The default take in the face-data directory (see ``face_data_dir``)."""
    return face_data_dir() / DEFAULT_RECORDING


class Player:
    """A looped recording as pre-encoded frames on a recording clock (ms).

    Raises ValueError if the recording is empty or a frame cannot be encoded.
    """

    def __init__(self, recording: Recording) -> None:
        frames = recording.frames
        if not frames:
            raise ValueError(f"{recording.name}: empty recording")
        self.recording = recording
        self.pose_valid = recording.has_pose
        t0 = frames[0].t_ms
        self.times_ms: tuple[float, ...] = tuple(f.t_ms - t0 for f in frames)
        n = len(frames)
        interval = self.times_ms[-1] / (n - 1) if n > 1 else 1000.0 / 30.0
        self.period_ms = self.times_ms[-1] + interval
        self.templates: tuple[bytes, ...] = tuple(
            frame_bytes(f, seq=0, capture_ms=0, pose_valid=self.pose_valid) for f in frames)

    def __len__(self) -> int:
        return len(self.templates)

    def time_of(self, k: int) -> float:
        """Recording-clock time (ms) at which global frame ``k`` is due."""
        loops, i = divmod(k, len(self.templates))
        return loops * self.period_ms + self.times_ms[i]

    def index_at(self, t_ms: float) -> int:
        """The global index of the newest frame due at or before ``t_ms`` (>= 0)."""
        loops, within = divmod(max(t_ms, 0.0), self.period_ms)
        i = bisect.bisect_right(self.times_ms, within) - 1
        return int(loops) * len(self.templates) + max(i, 0)

    def offset_ms(self, part: int, parts: int) -> float:
        """A start time spreading ``parts`` streams evenly over one loop (``part`` 0-based),
        so bots of one room show different faces."""
        return self.times_ms[(part * len(self.templates)) // max(parts, 1)]

    def frame(self, k: int, seq: int, capture_ms: int) -> bytes:
        """The 72-byte frame of global index ``k`` with ``seq`` (mod 2**16) and
        ``capture_ms`` (mod 2**32) patched in."""
        buf = bytearray(self.templates[k % len(self.templates)])
        _SEQ_CAPTURE.pack_into(buf, 2, seq & 0xFFFF, capture_ms & 0xFFFF_FFFF)
        return bytes(buf)

    def shapes(self, k: int) -> bytes:
        """The 51 quantized blend-shape bytes of global frame ``k`` (wire order)."""
        return self.templates[k % len(self.templates)][_SHAPES_AT:FRAME_SIZE]


def load_player(path: str | Path | None = None) -> Player:
    """Load ``path`` (any format ``load_recording`` reads; None: the default take)."""
    return Player(load_recording(path if path is not None else default_recording_path()))
