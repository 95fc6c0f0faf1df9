"""How long Tether keeps what it only keeps for a while: finished tasks, event deliveries,
inbound webhook events, audit entries, the "db" secret store's tombstones and, when a
deployment chooses, synced records that were deleted at the source (kept by default: a reader
of changes that comes back late still learns of every deletion). Housekeeping deletes what has
outlived these, and the Firestore store stamps each such document with the ``expires_at`` its
TTL policy deletes it by (the tombstones excepted: housekeeping queries them by ``retired_at``).

OAuth states and leases carry their own expiry (minutes) and go when it passes; a rate bucket
goes once it would be full again (a missing bucket starts full, so nothing is lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Retention"]


@dataclass(frozen=True, slots=True)
class Retention:
    finished_tasks: timedelta = timedelta(days=7)
    deliveries: timedelta = timedelta(days=30)
    webhook_events: timedelta = timedelta(days=7)
    audit: timedelta = timedelta(days=365)
    # A DELETED synced record goes this long after its deletion; None keeps it.
    deleted_records: timedelta | None = None
    # The "db" secret store's tombstone of a retired credential version, or of a deleted
    # connection's every version (tether.adapters.db_secrets.retired_versions).
    secret_tombstones: timedelta = timedelta(days=90)

    def __post_init__(self) -> None:
        for name in self.__slots__:
            kept = getattr(self, name)
            if kept is not None and kept <= timedelta(0):
                raise ValueError(f"the retention of {name.replace('_', ' ')} must be positive")
