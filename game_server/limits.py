"""Per-connection input bounds: token buckets and a decaying violation score (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens/s refilled up to ``burst``; ``take(now_s)`` spends one if it can."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated_s: float = 0.0

    def take(self, now_s: float) -> bool:
        if self.tokens < 0:  # first use: start full
            self.tokens, self.updated_s = self.burst, now_s
        else:
            self.tokens = min(self.burst, self.tokens + (now_s - self.updated_s) * self.rate)
            self.updated_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class ViolationScore:
    """Counts bad inputs, forgiving one per ``decay_per_s`` seconds of good behaviour.

    ``add(now_s)`` returns the score after adding one; a client is cut off when it reaches
    the configured maximum, so a burst of garbage ends the connection while an occasional
    bad frame over hours does not.
    """

    decay_per_s: float = 1.0
    score: float = 0.0
    updated_s: float = 0.0

    def add(self, now_s: float) -> float:
        self.score = max(0.0, self.score - (now_s - self.updated_s) * self.decay_per_s) + 1.0
        self.updated_s = now_s
        return self.score
