"""Ghost timeline benchmark: bytes per user-hour and CPU per chunk on a real take.

``python -m loadtests.timeline_bench [--recording PATH] [--repeat 5]``

Records the take (default: the 134 s Live Link take, ~30 fps, no head pose) the way the node
holding a member's socket would: every frame through ``avatars.timeline.ChunkWriter`` at its
own time, the attention changes of a real ``AttentionTracker`` and two timer events, chunks
cut every 60 s and the last one at the end of the take. Prints:

- storage: bytes of all chunks, extrapolated from the take's duration to 3600 s (for a take
  under 60 s, mostly chunk header, 60 x the chunk of its first minute, looped, instead),
  against the 1.5 MB per user-hour budget (DESIGN.md section 7), and bytes per sample;
- CPU (process time, best of ``--repeat``): ``Downsampler.add`` per frame, ``encode_chunk``
  and ``decode_chunk`` per full 60 s chunk (600 samples), and what that makes per recorded
  member (frames at the take's rate plus one encode a minute);
- a noise chunk (random shape bytes, every window present): the incompressible upper bound.

Exits 0; 1 if the take does not fit the budget.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence

from avatars.attention import AttentionConfig, AttentionTracker
from avatars.blendshapes import SHAPE_COUNT
from avatars.timeline import (
    CHUNK_MS,
    TIMER,
    ChunkBlob,
    ChunkWriter,
    Downsampler,
    Sample,
    decode_chunk,
    encode_chunk,
)
from loadtests.playback import load_player

BUDGET_BYTES_PER_HOUR = 1_500_000
PHASE_START_MS = 1_700_000_000_000


def best_ns(fn: Callable[[], object], repeat: int) -> int:
    """The least process CPU time of ``repeat`` calls, in ns."""
    best = None
    for _ in range(repeat):
        start = time.process_time_ns()
        fn()
        took = time.process_time_ns() - start
        best = took if best is None else min(best, took)
    return best or 0


def record(frames: Sequence[bytes], times: Sequence[int]) -> list[ChunkBlob]:
    """The take through a ChunkWriter with a live attention tracker, polled on a 1 s tick."""
    writer = ChunkWriter(PHASE_START_MS)
    tracker = AttentionTracker(AttentionConfig(), now_ms=PHASE_START_MS)
    writer.add_event(TIMER, {"phase": "focus", "cycle": 1, "cycles": 4}, PHASE_START_MS)
    blobs: list[ChunkBlob] = []
    tick = PHASE_START_MS + 1000
    for frame, t in zip(frames, times, strict=True):
        now = PHASE_START_MS + t
        while now >= tick:
            blobs += writer.poll(tick)
            tick += 1000
        writer.add_frame(frame, now)
        change = tracker.observe(frame, now)
        if change is not None:
            writer.add_attention(change.attention, change.since_ms, change.cause)
    end = PHASE_START_MS + times[-1]
    writer.add_event(TIMER, {"phase": "short_break", "cycle": 1, "cycles": 4}, end)
    return blobs + writer.close(end)


def first_minute(frames: Sequence[bytes], times: Sequence[int]) -> list[Sample]:
    """The samples of the take's first 60 s (looped on its own clock if it is shorter)."""
    period = times[-1] + max(times[-1] // max(len(times) - 1, 1), 1)
    downsampler = Downsampler(0)
    loop = 0
    while loop * period < CHUNK_MS:
        for frame, t in zip(frames, times, strict=True):
            downsampler.add(frame, loop * period + t)
        loop += 1
    return downsampler.take_samples(CHUNK_MS)


def noise_chunk() -> list[Sample]:
    """600 samples of random shape bytes: what zlib cannot shrink."""
    rng = random.Random(5)
    return [
        Sample(k * 100, 7, 0, 0, 0, 0, 0, 600, 255, rng.randbytes(SHAPE_COUNT)) for k in range(600)
    ]


def cpu_row(name: str, samples: Sequence[Sample], repeat: int) -> tuple[str, float]:
    """One printed row (chunk size, encode and decode ms) and the encode ms."""
    data = encode_chunk(0, samples)
    enc = best_ns(lambda: encode_chunk(0, samples), repeat) / 1e6
    dec = best_ns(lambda: decode_chunk(data), repeat) / 1e6
    line = f"  {name:22} {len(data):7,d} B  encode {enc:5.2f} ms  decode {dec:5.2f} ms"
    return line, enc


def main(argv: Sequence[str] | None = None) -> int:
    """Print the storage and CPU figures (see the module docstring)."""
    p = argparse.ArgumentParser(description="ghost timeline: bytes per user-hour, CPU per chunk")
    p.add_argument("--recording", default=None, help="recording path (default: Live Link take)")
    p.add_argument("--repeat", type=int, default=5, help="runs per timing; the best is shown")
    args = p.parse_args(argv)
    player = load_player(args.recording)
    frames = list(player.templates)
    times = [round(t) for t in player.times_ms]
    duration_s = times[-1] / 1000.0
    fps = (len(frames) - 1) / duration_s if duration_s > 0 else 0.0

    blobs = record(frames, times)
    total = sum(len(b.data) for b in blobs)
    samples = sum(b.samples for b in blobs)
    minute = first_minute(frames, times)
    minute_bytes = len(encode_chunk(0, minute))
    # a take shorter than a chunk is mostly header: judge it by a looped full minute instead
    long_enough = duration_s >= CHUNK_MS / 1000
    per_hour = total * 3600.0 / duration_s if long_enough else minute_bytes * 60.0
    whole = f"{per_hour / 1e6:.3f} MB" if long_enough else "n/a (under 60 s)"
    verdict = "within" if per_hour <= BUDGET_BYTES_PER_HOUR else "OVER"
    print(f"{player.recording.name}: {len(frames)} frames, {duration_s:.1f} s, {fps:.2f} fps")
    print(f"  chunks: {len(blobs)} ({', '.join(f'{len(b.data):,d} B' for b in blobs)}), "
          f"{samples} samples, {sum(b.events for b in blobs)} events")  # fmt: skip
    print(f"  storage: {total:,d} B = {total / max(samples, 1):.1f} B/sample")
    minute_mb = minute_bytes * 60 / 1e6
    print(f"  per user-hour: {whole} from the whole take, {minute_mb:.3f} MB as 60 x its first")
    print(f"    minute -> {per_hour / 1e6:.3f} MB ({verdict} the 1.5 MB budget)")

    def add_all() -> None:
        downsampler = Downsampler(0)
        for frame, t in zip(frames, times, strict=True):
            downsampler.add(frame, t)

    add_ns = best_ns(add_all, args.repeat) / len(frames)
    take_line, encode_ms = cpu_row(f"take, 60 s ({len(minute)})", minute, args.repeat)
    noise_line, _ = cpu_row("noise, 60 s (600)", noise_chunk(), args.repeat)
    print(f"  Downsampler.add: {add_ns:.0f} ns/frame")
    print(take_line)
    print(noise_line)
    member_us = add_ns * fps / 1000.0 + encode_ms * 1000.0 / 60.0
    print(f"  per recorded member: {member_us:.0f} us CPU per s "
          f"({member_us * 1000 / 1e6 * 100:.1f} % of a core per 1000 members)")  # fmt: skip
    return 0 if per_hour <= BUDGET_BYTES_PER_HOUR else 1


if __name__ == "__main__":
    raise SystemExit(main())
