"""Named leases: one holder at a time across instances, until expiry. Their contract suite
is ``tests/contract/test_lease_contract.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from tether.domain.models import Lease

__all__ = ["LeaseStore"]


@runtime_checkable
class LeaseStore(Protocol):
    """Leases (e.g. one token refresh per connection at a time), atomic across threads and
    processes; an expired one is purged by
    :meth:`~tether.ports.ExpiredRecordPurge.purge_expired`."""

    def acquire_lease(
        self, name: str, owner: str, *, ttl_seconds: float, now: datetime
    ) -> Lease | None:
        """Take ``name`` until ``now + ttl_seconds`` if it is free, expired, or already ours
        (the holder extends it); ``None`` if someone else holds it. Of racing acquirers of a
        free lease exactly one gets it."""
        ...

    def release_lease(self, name: str, owner: str) -> None:
        """Release only if ``owner`` still holds it (a stale owner's release does nothing)."""
        ...
