"""Ghost timeline codec (DESIGN.md section 5, Ghosts): a focus phase as 10 fps samples plus
events, stored as self-contained chunks. Pure: no I/O, no clock; times are integers in ms.

Recording (on the node holding the member's socket): :class:`Downsampler` turns validated
72-byte frames into one :class:`Sample` per window of ``1000 / rate_hz`` ms that saw a frame.
A sample is the window's latest frame, except eyeBlinkLeft/eyeBlinkRight: each is the max over
the window's frames with the face and shapes bits, so a 100 ms blink survives 10 fps (SOURCES.md
of shared/data/face: max-pooling kept 33 of 34 blinks even at 5 fps, decimation 13). A window
without frames has no sample: a gap stays a gap, while face-present=0 frames are samples with
flags 0. :class:`ChunkWriter` adds attention changes and timer events (:class:`Event`) and cuts
the timeline into chunks of ``chunk_ms`` (60 s) as soon as each one is complete, so a crash
loses at most the open chunk. Each chunk decodes alone (no state crosses chunks).

Chunk layout (version 1, little-endian), :func:`encode_chunk` / :func:`decode_chunk`:

- header ``'<4sBBHIIH'`` (18 bytes): magic ``b"SVGT"``, u8 version, u8 reserved (0), u16 rate
  in Hz (a divisor of 1000), u32 chunk start in ms from the phase start, u32 sample count, u16
  byte length of the shape-name table; then the table: ASCII names joined by ``","`` in column
  order (51 MediaPipe names today; a reader maps columns by name, so old chunks still decode
  after the shape list changes: unknown names are dropped, missing shapes read 0);
- body: zlib of the columns, then the events (msgpack list of ``[t_ms, kind, payload]``);
  columns, in order, each over all samples, each value the delta from the previous sample
  (the first from 0): window offset from the chunk start (u32, 4 byte planes, low first),
  flags and quality (u8, mod 256), yaw, pitch, roll (centidegrees), tx, ty, tz (mm) (i16,
  mod 2**16, 2 byte planes, low first), then one u8 column per named shape (mod 256);
- trailer: u32 CRC-32 of everything before it.

Lossless: decoding gives back the encoded samples and events exactly (payload tuples come
back as lists). Measured on the 134 s Live Link take (``python -m loadtests.timeline_bench``):
0.75 MB per user-hour (budget 1.5 MB, DESIGN.md section 7), ~21 B per sample of which the
uncompressed shape-name table is ~0.5; encode ~2 ms and decode ~3 ms per 60 s chunk; ~0.5 us
per ``Downsampler.add``.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any, Final, Literal, TypeAlias, get_args

import msgpack

from avatars.attention import Attention
from avatars.blendshapes import BLENDSHAPE_NAMES, SHAPE_COUNT, SHAPE_INDEX
from avatars.frame import FRAME_KIND, Buffer, FrameError, check_frame

MAGIC: Final = b"SVGT"
VERSION: Final = 1
DEFAULT_RATE_HZ: Final = 10
CHUNK_MS: Final = 60_000
MAX_CHUNK_SAMPLES: Final = 100_000
MAX_EVENTS_BYTES: Final = 1 << 20
MAX_SHAPES: Final = 255  # shape columns a reader accepts (51 today): bounds the inflated size
ATTENTION: Final = "attention"  # payload {"state": Attention, "cause"?: str}
TIMER: Final = "timer"  # payload: the room's timer state, e.g. {"phase", "cycle", ...}
EVENT_KINDS: Final = frozenset({ATTENTION, TIMER})
ATTENTION_STATES: Final[frozenset[str]] = frozenset(get_args(Attention))

ChunkErrorReason: TypeAlias = Literal["length", "magic", "version", "checksum", "format", "body"]
"""Why a chunk was rejected: too short; not a timeline chunk; a version this reader does not
know (newer, or 0); CRC mismatch (corrupt or truncated); bad header fields or shape table;
a body that does not decompress or parse as the header says."""

_HEADER: Final = struct.Struct("<4sBBHIIH")
_CRC: Final = struct.Struct("<I")
_FRAME: Final = struct.Struct("<BBHIhhhhhhB51s")
_BLINK_L: Final = 21 + SHAPE_INDEX["eyeBlinkLeft"]
_BLINK_R: Final = 21 + SHAPE_INDEX["eyeBlinkRight"]
_SHAPE_BLINK_L: Final = SHAPE_INDEX["eyeBlinkLeft"]
_SHAPE_BLINK_R: Final = SHAPE_INDEX["eyeBlinkRight"]
_AND_FF: Final = (0xFF).__and__
_AND_FFFF: Final = (0xFFFF).__and__
_LITTLE: Final = sys.byteorder == "little"
_POSE: Final = struct.Struct("<6h")
_I16_FIELDS: Final = ("yaw_cdeg", "pitch_cdeg", "roll_cdeg", "tx_mm", "ty_mm", "tz_mm")
_POSE_FIELDS: Final = len(_I16_FIELDS)
_FIXED_COLUMN_BYTES: Final = 4 + 1 + 1 + 2 * _POSE_FIELDS  # per sample, before the shapes


class ChunkError(ValueError):
    """A chunk that cannot be decoded; ``reason`` is one of :data:`ChunkErrorReason`."""

    def __init__(self, reason: ChunkErrorReason, detail: str) -> None:
        super().__init__(f"bad timeline chunk: {reason} ({detail})")
        self.reason: ChunkErrorReason = reason


@dataclass(frozen=True, slots=True)
class Sample:
    """One window of the 10 fps timeline: ``t_ms`` = window start in ms from the phase start;
    the other fields as in :class:`avatars.frame.Frame` (centidegrees, mm, bytes 0..255,
    ``shapes`` = 51 bytes in wire order) of the window's latest frame, blinks max-pooled."""

    t_ms: int
    flags: int
    yaw_cdeg: int
    pitch_cdeg: int
    roll_cdeg: int
    tx_mm: int
    ty_mm: int
    tz_mm: int
    quality: int
    shapes: bytes


@dataclass(frozen=True, slots=True)
class Event:
    """A timeline event at ``t_ms`` ms from the phase start: ``kind`` :data:`ATTENTION` or
    :data:`TIMER` (others decode as stored), ``payload`` a msgpack-able dict with str keys."""

    t_ms: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A decoded chunk: header fields, samples (in time order) and events (as recorded).
    ``shape_names``: the stored column names; ``samples[i].shapes`` is in today's wire order.
    Events may precede ``start_ms`` (recorded late, see :class:`ChunkWriter`)."""

    version: int
    rate_hz: int
    start_ms: int
    shape_names: tuple[str, ...]
    samples: tuple[Sample, ...]
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class ChunkBlob:
    """An encoded chunk ready to store: ``index`` = start_ms // chunk_ms (0-based)."""

    index: int
    start_ms: int
    samples: int
    events: int
    data: bytes


def _period(rate_hz: int) -> int:
    if not 0 < rate_hz <= 1000 or 1000 % rate_hz:
        raise ValueError(f"rate {rate_hz} Hz is not a divisor of 1000")
    return 1000 // rate_hz


class Downsampler:
    """Frames in (server ms), 10 fps samples out (ms from ``start_ms``), see the module doc.

    A frame earlier than the latest time seen (or than ``until_ms`` already taken, or than
    ``start_ms``) counts at that time (``late_frames`` counts them). Holds one open window
    and the finished samples not yet taken. Raises ValueError for a rate not dividing 1000.
    """

    __slots__ = ("start_ms", "period_ms", "late_frames", "_seen", "_win", "_latest", "_bl",
                 "_br", "_done")  # fmt: skip

    def __init__(self, start_ms: int, rate_hz: int = DEFAULT_RATE_HZ) -> None:
        self.start_ms, self.period_ms = start_ms, _period(rate_hz)
        self.late_frames = 0
        self._seen, self._win, self._latest, self._bl, self._br = start_ms, -1, b"", 0, 0
        self._done: list[tuple[int, bytes, int, int]] = []  # closed windows, built lazily

    def add(self, frame: Buffer, t_ms: int) -> None:
        """Add one 72-byte frame received at ``t_ms`` (~0.5 us: runs for every inbound frame).
        Raises FrameError if the frame is invalid (``avatars.frame.check_frame``)."""
        reason = check_frame(frame)
        if reason is not None:
            raise FrameError(reason)
        if t_ms < self._seen:
            self.late_frames += 1
            t_ms = self._seen
        else:
            self._seen = t_ms
        win = (t_ms - self.start_ms) // self.period_ms
        if win != self._win:
            if self._win >= 0:
                self._done.append((self._win, self._latest, self._bl, self._br))
            self._win, self._bl, self._br = win, 0, 0
        self._latest = frame if type(frame) is bytes else bytes(frame)
        if frame[1] & 5 == 5:  # face and shapes: pool the blinks
            if frame[_BLINK_L] > self._bl:
                self._bl = frame[_BLINK_L]
            if frame[_BLINK_R] > self._br:
                self._br = frame[_BLINK_R]

    def take_samples(self, until_ms: int) -> list[Sample]:
        """Samples of every window ending at or before ``until_ms`` (server ms) not taken
        yet, in time order; frames that arrive later with earlier times count at ``until_ms``."""
        last = (until_ms - self.start_ms) // self.period_ms  # the first window not over yet
        if 0 <= self._win < last:
            self._close_window()
        done, k = self._done, 0
        while k < len(done) and done[k][0] < last:
            k += 1
        taken, self._done = done[:k], done[k:]
        self._seen = max(self._seen, until_ms)
        return [self._sample(*window) for window in taken]

    def flush(self) -> list[Sample]:
        """Every sample not taken yet, including the open (partial) window's; phase end."""
        self._close_window()
        done, self._done = self._done, []
        return [self._sample(*window) for window in done]

    def _close_window(self) -> None:
        if self._win >= 0:
            self._done.append((self._win, self._latest, self._bl, self._br))
            self._win = -1

    def _sample(self, win: int, frame: bytes, bl: int, br: int) -> Sample:
        _k, flags, _s, _c, yaw, pitch, roll, tx, ty, tz, quality, shapes = _FRAME.unpack(frame)
        if flags & 5 == 5 and (shapes[_SHAPE_BLINK_L] != bl or shapes[_SHAPE_BLINK_R] != br):
            pooled = bytearray(shapes)
            pooled[_SHAPE_BLINK_L], pooled[_SHAPE_BLINK_R] = bl, br
            shapes = bytes(pooled)
        t = win * self.period_ms
        return Sample(t, flags, yaw, pitch, roll, tx, ty, tz, quality, shapes)


def sample_to_frame(sample: Sample, seq: int, capture_ms: int) -> bytes:
    """A 72-byte frame (kind 0xA1) carrying ``sample`` for replay; ``seq`` mod 2**16,
    ``capture_ms`` mod 2**32. Raises struct.error for a sample with out-of-range fields."""
    s = sample
    return _FRAME.pack(FRAME_KIND, s.flags, seq & 0xFFFF, capture_ms & 0xFFFF_FFFF, s.yaw_cdeg,
                       s.pitch_cdeg, s.roll_cdeg, s.tx_mm, s.ty_mm, s.tz_mm, s.quality,
                       s.shapes)  # fmt: skip


class ChunkWriter:
    """Records one member's phase from ``start_ms`` (server ms): frames through a
    :class:`Downsampler`, attention and timer events, cut into chunks of ``chunk_ms``.

    Chunk k covers ms ``[k * chunk_ms, (k + 1) * chunk_ms)`` from the phase start and is
    returned by :meth:`poll` as soon as ``now_ms`` passes its end (call it on the room tick),
    so a crash loses at most the open chunk; every chunk is returned, empty ones too (the
    sequence has no holes). An event whose time falls in a chunk already returned goes into the
    next one with its own ``t_ms`` (:func:`join_chunks` sorts events by time); times before
    ``start_ms`` count as 0. Events waiting for their chunk are bounded by MAX_EVENTS_BYTES
    packed: beyond it an event is dropped and counted in ``dropped_events`` (a flood must not
    cost the chunk). Raises ValueError for a rate not dividing 1000 or a chunk length off the
    sample grid, RuntimeError when used after :meth:`close`.
    """

    def __init__(
        self, start_ms: int, *, rate_hz: int = DEFAULT_RATE_HZ, chunk_ms: int = CHUNK_MS
    ) -> None:
        if chunk_ms <= 0 or chunk_ms % _period(rate_hz):
            raise ValueError(f"chunk of {chunk_ms} ms is not a multiple of the sample period")
        self.start_ms, self.rate_hz, self.chunk_ms = start_ms, rate_hz, chunk_ms
        self.downsampler = Downsampler(start_ms, rate_hz)
        self.dropped_events = 0
        self._events: list[tuple[Event, int]] = []  # waiting for their chunk, packed size
        self._events_bytes = 0
        self._next = 0  # the first chunk not returned yet
        self._closed = False

    def add_frame(self, frame: Buffer, now_ms: int) -> None:
        """Record one validated frame received at ``now_ms``; see :meth:`Downsampler.add`."""
        self._check_open()
        self.downsampler.add(frame, now_ms)

    def add_event(self, kind: str, payload: dict[str, Any], t_ms: int) -> Event | None:
        """Record an event at ``t_ms`` (server ms), e.g. ``(TIMER, {"phase": "focus",
        "cycle": 1, ...})``: the recorded event, or None if it was dropped (class doc).
        Raises ValueError for an unknown kind, an attention payload without a known state or
        a payload msgpack cannot pack (checked now, not when the chunk is cut, so a bad event
        never costs a chunk)."""
        self._check_open()
        event = Event(max(0, t_ms - self.start_ms), kind, dict(payload))
        _check_event(event)
        try:
            size = len(msgpack.packb([event.t_ms, kind, payload]))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"event payload is not msgpack-able: {exc}") from exc
        if self._events_bytes + size + 5 > MAX_EVENTS_BYTES:  # 5: the list's own header
            self.dropped_events += 1
            return None
        self._events.append((event, size))
        self._events_bytes += size
        return event

    def add_attention(self, state: Attention, t_ms: int, cause: str | None = None) -> Event | None:
        """Record an attention change (``AttentionChange.since_ms`` as ``t_ms``)."""
        payload: dict[str, Any] = {"state": state} if cause is None else {
            "state": state, "cause": cause}  # fmt: skip
        return self.add_event(ATTENTION, payload, t_ms)

    def poll(self, now_ms: int) -> list[ChunkBlob]:
        """The chunks that ended at or before ``now_ms`` (server ms), oldest first."""
        self._check_open()
        out = []
        while self.start_ms + (self._next + 1) * self.chunk_ms <= now_ms:
            end = (self._next + 1) * self.chunk_ms
            out.append(self._cut(self.downsampler.take_samples(self.start_ms + end), end))
        return out

    def close(self, now_ms: int) -> list[ChunkBlob]:
        """The phase ended (or the member left) at ``now_ms``: every chunk not returned yet,
        the last one partial (it holds the open window). The writer is done afterwards."""
        out = self.poll(now_ms)
        rest = self.downsampler.flush()
        final = max(now_ms - self.start_ms, rest[-1].t_ms + 1 if rest else 0,
                    max((e.t_ms + 1 for e, _ in self._events), default=0))  # fmt: skip
        while self._next * self.chunk_ms < final:
            end = (self._next + 1) * self.chunk_ms
            k = bisect_left(rest, end, key=_sample_time)
            out.append(self._cut(rest[:k], end))
            rest = rest[k:]
        self._closed = True
        return out

    def _cut(self, samples: list[Sample], end: int) -> ChunkBlob:
        events = [e for e, _ in self._events if e.t_ms < end]
        self._events = [(e, size) for e, size in self._events if e.t_ms >= end]
        self._events_bytes = sum(size for _, size in self._events)
        start, index = end - self.chunk_ms, self._next
        self._next += 1
        data = encode_chunk(start, samples, events, rate_hz=self.rate_hz)
        return ChunkBlob(index, start, len(samples), len(events), data)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("ChunkWriter used after close()")


def _sample_time(s: Sample) -> int:
    return s.t_ms


def join_chunks(chunks: Iterable[Chunk]) -> tuple[list[Sample], list[Event]]:
    """One timeline from decoded chunks (any order): samples in time order, events sorted by
    ``t_ms`` (stable, so same-ms events keep their recorded order)."""
    ordered = sorted(chunks, key=lambda c: c.start_ms)
    samples = sorted((s for c in ordered for s in c.samples), key=_sample_time)
    events = sorted((e for c in ordered for e in c.events), key=lambda e: e.t_ms)
    return samples, events


# --- chunk codec -------------------------------------------------------------------------


def _deltas(values: bytes, width: int, stride: int) -> bytes:
    """Deltas mod 2**(8 * width) down the columns of a row-major matrix of ``width``-byte
    little-endian values, ``stride`` values per row (the first row's from 0), same layout.
    Every value is widened to a lane of twice its width in one big int, so a single
    ``a + 2**(8 * width) - b`` over all lanes never borrows across them: C speed, no numpy."""
    size, lane = len(values), 2 * width
    a, b = bytearray(2 * size), bytearray(2 * size)
    for k in range(width):
        a[k::lane] = values[k::width]
        b[k + lane * stride :: lane] = values[k : size - width * stride : width]
    d = int.from_bytes(a, "little") + _bias(width, size) - int.from_bytes(b, "little")
    wide = d.to_bytes(2 * size, "little")
    out = bytearray(size)
    for k in range(width):
        out[k::width] = wide[k::lane]
    return bytes(out)


@lru_cache(maxsize=16)
def _bias(width: int, size: int) -> int:
    lane = bytes(width) + b"\x01" + bytes(width - 1)
    return int.from_bytes(lane * (size // width), "little")


def _sum_u8(deltas: bytes) -> bytes:
    return bytes(map(_AND_FF, accumulate(deltas)))


def _sum_i16(lo: bytes, hi: bytes) -> array[int]:
    wide = bytearray(2 * len(lo))
    wide[0::2], wide[1::2] = lo, hi
    u16 = array("H", wide if _LITTLE else bytes(_swapped(wide)))
    summed = array("H", map(_AND_FFFF, accumulate(u16)))
    return array("h", summed.tobytes())


def _swapped(wide: bytearray) -> bytearray:
    wide[0::2], wide[1::2] = wide[1::2], wide[0::2]
    return wide


def _check_event(e: Event) -> None:
    if not isinstance(e.t_ms, int) or e.t_ms < 0:
        raise ValueError(f"event time {e.t_ms!r} is not a non-negative int ms")
    if e.kind not in EVENT_KINDS or not isinstance(e.payload, dict):
        raise ValueError(f"event kind {e.kind!r} unknown or payload not a dict")
    if e.kind == ATTENTION and e.payload.get("state") not in ATTENTION_STATES:
        raise ValueError(f"attention event without a known state: {e.payload!r}")


def encode_chunk(
    start_ms: int, samples: Sequence[Sample], events: Iterable[Event] = (), *,
    rate_hz: int = DEFAULT_RATE_HZ,
) -> bytes:  # fmt: skip
    """Encode one chunk (layout in the module doc) starting ``start_ms`` ms after the phase
    start. ``samples``: strictly increasing ``t_ms`` on the ``1000 / rate_hz`` grid, at or
    after ``start_ms``, each making a valid frame (``check_frame``). ``events``: kinds in
    EVENT_KINDS (attention with a known state), t_ms >= 0, msgpack-able payloads. Raises
    ValueError for anything else, more than MAX_CHUNK_SAMPLES samples or MAX_EVENTS_BYTES of
    packed events."""
    period = _period(rate_hz)
    if not 0 <= start_ms <= 0xFFFF_FFFF or start_ms % period:
        raise ValueError(f"chunk start {start_ms} ms is not on the {period} ms grid")
    if len(samples) > MAX_CHUNK_SAMPLES:
        raise ValueError(f"{len(samples)} samples in one chunk, at most {MAX_CHUNK_SAMPLES}")
    offsets, prev = bytearray(), -1
    for s in samples:
        win, rest = divmod(s.t_ms - start_ms, period)
        if rest or win <= prev or win > 0xFFFF_FFFF:
            raise ValueError(f"sample at {s.t_ms} ms is off the grid or out of order")
        reason: str | None
        try:
            reason = check_frame(sample_to_frame(s, 0, 0))
        except (struct.error, TypeError) as exc:
            reason = str(exc)
        if reason is not None:
            raise ValueError(f"sample at {s.t_ms} ms makes an invalid frame: {reason}")
        offsets += (win - max(prev, 0)).to_bytes(4, "little")
        prev = win
    events = list(events)
    for e in events:
        _check_event(e)
    try:
        packed_events: bytes = msgpack.packb([[e.t_ms, e.kind, e.payload] for e in events])
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"event payload is not msgpack-able: {exc}") from exc
    if len(packed_events) > MAX_EVENTS_BYTES:
        raise ValueError(f"{len(packed_events)} bytes of events, at most {MAX_EVENTS_BYTES}")
    n = len(samples)
    flags_quality = _deltas(b"".join(bytes((s.flags, s.quality)) for s in samples), 1, 2)
    pose = _deltas(b"".join(_POSE.pack(s.yaw_cdeg, s.pitch_cdeg, s.roll_cdeg, s.tx_mm, s.ty_mm,
                                       s.tz_mm) for s in samples), 2, 6)  # fmt: skip
    shapes = _deltas(b"".join(s.shapes for s in samples), 1, SHAPE_COUNT)
    columns = [bytes(offsets[k::4]) for k in range(4)]
    columns += [flags_quality[0::2], flags_quality[1::2]]
    columns += [pose[b :: 2 * _POSE_FIELDS] for b in range(2 * _POSE_FIELDS)]  # lo, hi, lo...
    columns += [shapes[j::SHAPE_COUNT] for j in range(SHAPE_COUNT)]
    assert sum(map(len, columns)) == n * (_FIXED_COLUMN_BYTES + SHAPE_COUNT)
    deflate = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_FILTERED)  # suits small deltas
    body = deflate.compress(b"".join(columns) + packed_events) + deflate.flush()
    names = ",".join(BLENDSHAPE_NAMES).encode("ascii")
    head = _HEADER.pack(MAGIC, VERSION, 0, rate_hz, start_ms, n, len(names))
    data = b"".join((head, names, body))
    return data + _CRC.pack(zlib.crc32(data))


def decode_chunk(data: Buffer) -> Chunk:
    """Decode one chunk (layout in the module doc). Raises :class:`ChunkError` (a ValueError)
    for anything but a well-formed chunk of a known version: truncated, corrupt, foreign or
    newer-version bytes alike."""
    raw = bytes(data)
    if len(raw) < _HEADER.size + _CRC.size:
        raise ChunkError("length", f"{len(raw)} bytes")
    magic, version, reserved, rate_hz, start_ms, n, names_len = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise ChunkError("magic", f"starts with {magic!r}, not {MAGIC!r}")
    if version != VERSION:
        raise ChunkError("version", f"version {version}; this reader knows {VERSION}")
    (crc,) = _CRC.unpack_from(raw, len(raw) - _CRC.size)
    if zlib.crc32(raw[: -_CRC.size]) != crc:
        raise ChunkError("checksum", "CRC-32 mismatch: corrupt or truncated")
    names_end = _HEADER.size + names_len
    try:
        period = _period(rate_hz)
        table = raw[_HEADER.size : names_end].decode("ascii")
    except ValueError as exc:
        raise ChunkError("format", str(exc)) from exc
    names = tuple(table.split(",")) if table else ()
    if (
        reserved
        or n > MAX_CHUNK_SAMPLES
        or len(names) > MAX_SHAPES
        or len(set(names)) != len(names)
        or start_ms % period
    ):
        raise ChunkError("format", "reserved byte, sample count, shape names or start")
    columns_len = n * (_FIXED_COLUMN_BYTES + len(names))
    try:
        inflater = zlib.decompressobj()
        body = inflater.decompress(raw[names_end : -_CRC.size], columns_len + MAX_EVENTS_BYTES)
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            raise ValueError("the body is not one complete zlib stream")
        if len(body) < columns_len:
            raise ValueError(f"{len(body)} body bytes for {n} samples of {len(names)} shapes")
        items = msgpack.unpackb(body[columns_len:], strict_map_key=False)
        events = tuple(Event(t, k, p) for t, k, p in items)
        if not all(type(e.t_ms) is int and isinstance(e.kind, str) and
                   isinstance(e.payload, dict) for e in events):  # fmt: skip
            raise ValueError("malformed event")
    except (zlib.error, ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ChunkError("body", str(exc)) from exc
    samples = _samples(memoryview(body)[:columns_len], n, names, start_ms, period)
    return Chunk(version, rate_hz, start_ms, names, samples, events)


def _samples(
    body: memoryview, n: int, names: Sequence[str], start_ms: int, period: int
) -> tuple[Sample, ...]:
    if not n:
        return ()
    col = [bytes(body[k * n : (k + 1) * n]) for k in range(len(body) // n)]
    planes = zip(*col[:4], strict=True)
    offsets = accumulate(a | b << 8 | c << 16 | d << 24 for a, b, c, d in planes)
    flags, quality = _sum_u8(col[4]), _sum_u8(col[5])
    yaw, pitch, roll, tx, ty, tz = (_sum_i16(col[6 + 2 * f], col[7 + 2 * f]) for f in range(6))
    rows = bytearray(n * SHAPE_COUNT)
    for j, name in enumerate(names):
        wire = SHAPE_INDEX.get(name)
        if wire is not None:
            rows[wire::SHAPE_COUNT] = _sum_u8(col[_FIXED_COLUMN_BYTES + j])
    times = [start_ms + off * period for off in offsets]
    shapes = [bytes(rows[i : i + SHAPE_COUNT]) for i in range(0, len(rows), SHAPE_COUNT)]
    samples = tuple(map(Sample, times, flags, yaw, pitch, roll, tx, ty, tz, quality, shapes))
    if any(b <= a for a, b in zip(times, times[1:], strict=False)) or any(
        check_frame(sample_to_frame(s, 0, 0)) for s in samples
    ):
        raise ChunkError("body", "samples out of order or not valid frames")
    return samples
