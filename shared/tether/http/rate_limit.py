"""Proactive rate limiting of outbound calls, per connection (``rate_key``).

The client asks a :class:`RateLimiter` before every attempt how long to wait; ``0`` means go
(and the permit is taken). A positive answer takes nothing: the client sleeps that long and
asks again, so a limiter never blocks and may be shared between processes (a store-backed
implementation keeps its buckets where every instance sees them).

:class:`LocalRateLimiter` is the in-process token bucket: the default when nothing shared is
configured, and what the tests use with a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tether.http.model import RateSpec

__all__ = ["LocalRateLimiter", "RateLimiter"]


class RateLimiter(Protocol):
    """Decides whether one more request on ``key`` may go now."""

    def acquire(self, key: str, rate: RateSpec) -> float:
        """Take one permit and return ``0.0``, or return the seconds to wait before asking
        again (taking nothing)."""
        ...


@dataclass
class _Bucket:
    tokens: float
    updated: float


class LocalRateLimiter:
    """A token bucket per key, in this process only: ``rate.burst`` tokens at most, refilled at
    ``rate.per_minute / 60`` tokens a second. Thread-safe."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str, rate: RateSpec) -> float:
        capacity = float(max(1, rate.burst))
        per_second = max(rate.per_minute, 0) / 60.0
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(capacity, bucket.tokens + elapsed * per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            if per_second <= 0:
                return float("inf")
            return (1.0 - bucket.tokens) / per_second
