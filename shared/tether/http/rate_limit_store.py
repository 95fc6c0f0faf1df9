"""The rate limiter every instance shares: token buckets kept in a store
(the :class:`~tether.ports.RateBuckets` port, which every record backend provides).

It implements :class:`~tether.http.rate_limit.RateLimiter`: one call per attempt, ``0.0`` to
go (the permit is taken), else the seconds to wait, taking nothing. Each call is one store
round trip (a read, plus a write when granted), so it suits outbound calls that cost a
network round trip of their own; where nothing is shared, use the in-process limiter.
"""

from __future__ import annotations

from tether.domain.clock import Clock
from tether.http.model import RateSpec
from tether.ports import RateBuckets

__all__ = ["StoreRateLimiter"]


class StoreRateLimiter:
    """A :class:`~tether.http.rate_limit.RateLimiter` whose buckets live in ``store``, keyed
    by the rate key, and are refilled by ``clock``'s time. Thread-safe as the store is."""

    def __init__(self, store: RateBuckets, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def acquire(self, key: str, rate: RateSpec) -> float:
        return self._store.acquire_rate(
            key, per_minute=rate.per_minute, burst=rate.burst, now=self._clock.now()
        )
