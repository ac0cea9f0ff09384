"""Fixed-window request counters in Redis, shared by every node.

Key family (owned by this module, under the configured prefix; listed here rather than in
``rooms/keys.py`` because it is not room state):

| key | type | TTL | contents |
|---|---|---|---|
| ``rl:<scope>:<id>`` | string (integer) | the window, set on the first hit | hits in this window |

``scope`` names what is limited (``login_ip``, ``login_user``, ``register_ip``); ``id`` is
a client IP address or a lowercased username (at most ``MAX_ID_CHARS`` characters).

One round trip per check: ``SET key 0 PX window NX`` (start a window if none), ``INCR``
(keeps the TTL), ``PTTL``, in one MULTI/EXEC so the three are atomic and a counter never
lives without its expiry. Works on Redis 6.2 (no ``PEXPIRE ... NX``, which needs Redis 7).
A fixed window allows up to twice the limit across a window boundary; that is acceptable
for login throttling and keeps the state to one integer per key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

MAX_ID_CHARS = 128


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one hit: allowed, hits so far in the window, seconds to its end."""

    allowed: bool
    hits: int
    retry_after_s: int


class RateLimiter:
    """Counts hits per (scope, id) in fixed windows of ``window_ms``."""

    def __init__(self, redis: aioredis.Redis, prefix: str, window_ms: int = 60_000) -> None:
        self._redis = redis
        self._prefix = prefix
        self.window_ms = window_ms

    def key(self, scope: str, ident: str) -> str:
        """``<prefix>rl:<scope>:<id>``."""
        return f"{self._prefix}rl:{scope}:{ident[:MAX_ID_CHARS]}"

    async def hit(self, scope: str, ident: str, limit: int) -> Verdict:
        """Count one hit; ``allowed`` is False once more than ``limit`` hits landed in the
        current window (later hits keep counting but never extend the window)."""
        key = self.key(scope, ident)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, px=self.window_ms, nx=True)
            pipe.incr(key)
            pipe.pttl(key)
            _, hits, pttl = await pipe.execute()
        ttl_ms = int(pttl) if int(pttl) > 0 else self.window_ms
        return Verdict(int(hits) <= limit, int(hits), max(1, math.ceil(ttl_ms / 1000)))
