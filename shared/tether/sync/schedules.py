"""Changing a sync's stored schedule: one compare-and-set read-modify-write
(:func:`~tether.domain.compare_and_set.compare_and_set`), creating the record on first
change, for every writer (the API's settings, the runs, the scheduler, a pause on
``needs_reauth`` and the resume after a reconnect)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tether.domain.compare_and_set import compare_and_set
from tether.domain.sync_runs import SyncSchedule
from tether.ports import SyncStateStore

__all__ = ["change_schedule"]


def change_schedule(
    state: SyncStateStore,
    tenant_id: str,
    connection_id: str,
    name: str,
    mutate: Callable[[SyncSchedule], None],
    *,
    now: datetime,
) -> SyncSchedule:
    """``mutate`` applied to the stored schedule (a new one when none is stored) and stored
    with ``updated_at = now``; retried on a concurrent write."""

    def attempt(_: bool) -> SyncSchedule:
        stored = state.get_sync(tenant_id, connection_id, name)
        if stored is None:
            changed = SyncSchedule(
                tenant_id=tenant_id, connection_id=connection_id, name=name, updated_at=now
            )
        else:
            changed = stored.model_copy(deep=True)
        mutate(changed)
        changed.updated_at = now
        expected = None if stored is None else stored.version
        return state.put_sync(changed, expected_version=expected)

    return compare_and_set(attempt, what="the sync")
