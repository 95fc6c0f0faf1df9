"""Token buckets shared by every instance: the outbound rate limit
(:class:`~tether.http.rate_limit_store.StoreRateLimiter`). Their contract suite is
``tests/contract/test_rate_buckets_contract.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["RateBuckets"]


@runtime_checkable
class RateBuckets(Protocol):
    def acquire_rate(self, key: str, *, per_minute: int, burst: int, now: datetime) -> float:
        """Token bucket ``key``, shared by every instance: refill at ``per_minute`` tokens per
        minute up to ``burst``; take one token and return 0.0 if one is there, else take nothing
        and return the seconds until the next token. Atomic across threads and processes.

        A bucket never used starts full. ``burst`` below 1 counts as 1; with ``per_minute``
        0 an empty bucket never refills (``inf``). A ``now`` earlier than the bucket's last
        grant (instances' clocks differ) refills nothing and never moves the bucket back. Only
        a grant writes; a refusal reads. A bucket may be purged once it would be full again
        (:meth:`~tether.ports.ExpiredRecordPurge.purge_expired`): it then starts full, the
        same."""
        ...
