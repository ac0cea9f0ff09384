"""Attention classifier benchmark: CPU ns per ``AttentionTracker.observe()`` on a real take.

``python -m loadtests.attention_bench [--frames 1000000] [--recording PATH] [--repeat 3]``

Streams the recording (default: the 134 s Live Link take, ~30 fps, no head pose), looped to
``--frames`` frames on its own 30 fps clock, through one tracker; this is the steady case of
the server's hot path (one call per inbound frame, mostly "nothing changed"). Rows:

- recording: the take as recorded (pose bit as the recording has it)
- + pose bit: the same frames with the pose-valid bit set (all-zero pose), so the head-pose
  path (unpack, calibration, yaw/pitch checks) runs on every frame too
- focused, steady: one still-looking face with a changing jaw byte (the cheapest path)
- loop only: the benchmark loop calling a no-op with the same arguments (overhead included in
  the rows above)

Figures are process CPU time (``time.process_time_ns``, unaffected by other processes
taking the core) divided by frames, best of ``--repeat`` runs, plus the changes one pass of
the take publishes. Exits 0.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from avatars.attention import AttentionConfig, AttentionTracker
from avatars.blendshapes import SHAPE_INDEX
from avatars.frame import FLAG_POSE, encode_frame
from loadtests.playback import load_player

Observe = Callable[[bytes, int], object]


def _noop(frame: bytes, now_ms: int) -> None:
    return None


def run(observe: Observe, frames: Sequence[bytes], times: Sequence[int], total: int) -> int:
    """Feed ``total`` frames (the take looped on its own clock) to ``observe``; CPU ns."""
    period = times[-1] + times[-1] // max(len(times) - 1, 1)
    pairs = list(zip(frames, times, strict=True))
    loops, rest = divmod(total, len(pairs))
    start = time.process_time_ns()
    for loop in range(loops + 1):
        base = loop * period
        for frame, t in pairs if loop < loops else pairs[:rest]:
            observe(frame, base + t)
    return time.process_time_ns() - start


def measure(frames: Sequence[bytes], times: Sequence[int], total: int, repeat: int) -> str:
    """Best-of-``repeat`` ns per observe(), and the changes one pass of the take publishes."""
    best = min(
        run(AttentionTracker(AttentionConfig(), now_ms=0).observe, frames, times, total)
        for _ in range(repeat)
    )
    tracker = AttentionTracker(AttentionConfig(), now_ms=0)
    changes = sum(tracker.observe(f, t) is not None for f, t in zip(frames, times, strict=True))
    return f"{best / total:6.0f} ns/frame  ({changes} changes per pass of the take)"


def steady_frames(n: int) -> list[bytes]:
    """A face looking straight at the screen; only jawOpen alternates (so never frozen)."""
    jaw = SHAPE_INDEX["jawOpen"]
    return [
        encode_frame(seq=i, capture_ms=i, scores=[0.2 * (i % 2) if k == jaw else 0.0 for k in range(51)])  # noqa: E501
        for i in range(n)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Print one row per case (see the module docstring)."""
    p = argparse.ArgumentParser(description="ns per AttentionTracker.observe() on a real take")
    p.add_argument("--frames", type=int, default=1_000_000, help="frames per run")
    p.add_argument("--recording", default=None, help="recording path (default: Live Link take)")
    p.add_argument("--repeat", type=int, default=3, help="runs per row; the best is shown")
    args = p.parse_args(argv)
    player = load_player(args.recording)
    frames = list(player.templates)
    times = [round(t) for t in player.times_ms]
    cases = (
        ("recording", frames),
        ("+ pose bit", [f[:1] + bytes((f[1] | FLAG_POSE,)) + f[2:] for f in frames]),
        ("focused, steady", steady_frames(len(frames))),
    )
    print(f"{player.recording.name}: {len(frames)} frames, looped to {args.frames} per run")
    for name, rows in cases:
        print(f"  {name:16} {measure(rows, times, args.frames, args.repeat)}")
    loop_ns = min(run(_noop, frames, times, args.frames) for _ in range(args.repeat))
    print(f"  {'loop only':16} {loop_ns / args.frames:6.0f} ns/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
