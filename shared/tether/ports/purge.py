"""Housekeeping of the store: what has outlived its time goes. Its contract suite is
``tests/contract/test_purge_contract.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["ExpiredRecordPurge"]


@runtime_checkable
class ExpiredRecordPurge(Protocol):
    def purge_expired(self, *, now: datetime) -> int:
        """Delete what has outlived its time at ``now`` and return how many.
        OAuth states (used or not), webhook events, leases and connect sessions past their
        ``expires_at``;
        deliveries (by ``created_at``) and audit entries (by ``at``) older than the store's
        :class:`~tether.domain.retention.Retention`; synced records DELETED longer ago than
        its ``deleted_records`` (never, when that is ``None``: the default keeps them); rate
        buckets full again (a missing bucket starts full). Records younger than that stay,
        and a lease taken again since it expired is kept. Idempotent: a second run at the
        same ``now`` finds nothing. Firestore's TTL policies delete the same on their own,
        and its rate buckets only that way."""
        ...
