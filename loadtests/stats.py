"""Receive-side figures: latency histograms and per-slot watch statistics (pure, no I/O).

Latencies are whole milliseconds in a fixed 1 ms-bin histogram (0 .. 10 s, the last bin
holds everything slower), so a benchmark can record every frame for ~1 us and merge the
histograms of several worker processes exactly.

Lost frames are estimated from sequence-number gaps per sender. Under the server's
latest-value-wins relay a gap also appears when two frames of one sender land in the same
tick and the older is superseded, so "lost" means "never shown", not "network loss".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

HIST_MAX_MS: Final = 10_000
SEQ_RESTART_GAP: Final = 3_000
"""A forward gap this large (100 s at 30 fps) is a sender restart, not a loss."""


class LatencyHistogram:
    """Counts of latencies in 1 ms bins from 0 to ``HIST_MAX_MS`` (inclusive, clamped)."""

    __slots__ = ("bins", "count")

    def __init__(self, bins: list[int] | None = None) -> None:
        self.bins: list[int] = bins if bins is not None else [0] * (HIST_MAX_MS + 1)
        self.count = sum(self.bins)

    def add(self, ms: int) -> None:
        """Record one latency in ms (negative -> 0, beyond the range -> the last bin)."""
        self.bins[ms if 0 <= ms < HIST_MAX_MS else (0 if ms < 0 else HIST_MAX_MS)] += 1
        self.count += 1

    def merge(self, other: LatencyHistogram) -> None:
        self.bins = [a + b for a, b in zip(self.bins, other.bins, strict=True)]
        self.count += other.count

    def percentile(self, q: float) -> float | None:
        """The ``q``-quantile (0..1) in ms, None when empty (nearest-rank, bin value)."""
        if self.count == 0:
            return None
        rank = max(1, int(q * self.count + 0.999999))
        seen = 0
        for ms, n in enumerate(self.bins):
            seen += n
            if seen >= rank:
                return float(ms)
        return float(HIST_MAX_MS)

    def to_sparse(self) -> dict[int, int]:
        """Non-empty bins, for sending across processes."""
        return {ms: n for ms, n in enumerate(self.bins) if n}

    @classmethod
    def from_sparse(cls, sparse: dict[int, int]) -> LatencyHistogram:
        bins = [0] * (HIST_MAX_MS + 1)
        for ms, n in sparse.items():
            bins[ms] += n
        return cls(bins)


def seq_gap(prev: int, seq: int) -> int:
    """Frames missing between u16 sequence numbers ``prev`` and ``seq`` (0 if consecutive,
    reordered, duplicated or a restart)."""
    gap = (seq - prev - 1) & 0xFFFF
    return gap if gap < SEQ_RESTART_GAP else 0


@dataclass
class SlotWatch:
    """What a spectator saw of one slot: totals and the current reporting window."""

    name: str
    last_seq: int | None = None
    frames: int = 0  # in the window
    lost: int = 0  # in the window
    window: LatencyHistogram = field(default_factory=LatencyHistogram)
    total_frames: int = 0
    total_lost: int = 0
    total: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, seq: int, latency_ms: int) -> None:
        """One received frame with u16 ``seq`` and its end-to-end latency in ms."""
        if self.last_seq is not None:
            gap = seq_gap(self.last_seq, seq)
            self.lost += gap
            self.total_lost += gap
            if 0x10000 - SEQ_RESTART_GAP <= ((seq - self.last_seq) & 0xFFFF):
                return  # older than one already seen: superseded, not counted
        self.last_seq = seq
        self.frames += 1
        self.total_frames += 1
        self.window.add(latency_ms)
        self.total.add(latency_ms)

    def roll(self) -> tuple[int, int, LatencyHistogram]:
        """Return (frames, lost, latencies) of the window and start a new one."""
        out = (self.frames, self.lost, self.window)
        self.frames = self.lost = 0
        self.window = LatencyHistogram()
        return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def watch_table(slots: dict[int, SlotWatch], window_s: float) -> str:
    """Render one window per slot (and reset it): name, fps received, frames lost (gaps),
    latency p50/p99 in ms. ``window_s`` is the window length in seconds."""
    lines = [f"{'slot':>4}  {'name':<16} {'fps':>5} {'lost':>5} {'p50 ms':>6} {'p99 ms':>6}"]
    for slot in sorted(slots):
        watch = slots[slot]
        frames, lost, hist = watch.roll()
        lines.append(f"{slot:>4}  {watch.name[:16]:<16} {frames / window_s:>5.1f} {lost:>5} "
                     f"{_ms(hist.percentile(0.5)):>6} {_ms(hist.percentile(0.99)):>6}")
    return "\n".join(lines)
