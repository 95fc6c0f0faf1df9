"""The state of a connection's syncs: their schedules and their runs. Its contract suite is
``tests/contract/test_sync_state_contract.py``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tether.domain.sync_runs import StartedRun, SyncRun, SyncSchedule

__all__ = ["SyncStateStore"]


@runtime_checkable
class SyncStateStore(Protocol):
    """One :class:`~tether.domain.sync_runs.SyncSchedule` per ``(tenant, connection, sync
    name)`` and the runs of each, tenant-scoped: another tenant's are never read, listed or
    changed. Both are versioned and changed by compare-and-set only (of racing writers
    exactly one wins, the others get :class:`~tether.domain.errors.VersionConflict`).
    A stored record that no longer decodes is
    :class:`~tether.domain.errors.RecordUnreadable` when read alone, left out of a listing."""

    def get_sync(self, tenant_id: str, connection_id: str, name: str) -> SyncSchedule | None:
        """The sync as last stored; ``None`` when it has none stored."""
        ...

    def list_syncs(self, tenant_id: str, connection_id: str) -> list[SyncSchedule]:
        """The connection's stored syncs, by name."""
        ...

    def put_sync(self, sync: SyncSchedule, *, expected_version: int | None) -> SyncSchedule:
        """Compare-and-set: ``expected_version=None`` creates the record with ``version =
        1``; otherwise writes ``version = expected_version + 1`` only if the stored record
        still has ``expected_version``. A mismatch (exists already, missing, changed) is
        ``VersionConflict``. Returns what was stored."""
        ...

    def list_due_syncs(self, *, now: datetime, limit: int = 100) -> list[SyncSchedule]:
        """Syncs of every tenant that are due: enabled, not paused, ``next_run_at <= now``;
        earliest ``next_run_at`` first, at most ``limit`` (below 1 is ``InvalidRequest``).
        For the scheduler; it reads only the due ones, however many syncs there are."""
        ...

    def start_run(self, run: SyncRun) -> StartedRun:
        """Store the new ``run`` (``version`` 1, an active status: ``queued`` or
        ``running``; anything else is ``InvalidRequest``) unless a run of its ``(tenant,
        connection, sync)`` is active: then nothing is written and the active run comes
        back with ``started=False``. Of racing starts exactly one stores its run; the others
        get that run. A run id already stored is :class:`~tether.domain.errors.Conflict`."""
        ...

    def get_run(self, tenant_id: str, connection_id: str, run_id: str) -> SyncRun | None:
        """The run as last saved; ``None`` when unknown or another tenant's."""
        ...

    def active_run(self, tenant_id: str, connection_id: str, sync: str) -> SyncRun | None:
        """The sync's run that is ``queued`` or ``running``, if any."""
        ...

    def save_run(self, run: SyncRun, *, expected_version: int) -> SyncRun:
        """Compare-and-set of a stored run (status, counts, error, checkpoint): writes
        ``version = expected_version + 1`` only if the stored run still has
        ``expected_version``, else ``VersionConflict`` (a stale worker's checkpoint never
        overwrites a newer one). A run saved in a finished status frees its sync for the
        next :meth:`start_run` in the same write; a finished run cannot become active again
        (``InvalidRequest``). A run not stored is :class:`~tether.domain.errors.NotFound`."""
        ...

    def list_runs(
        self, tenant_id: str, connection_id: str, sync: str, *, limit: int = 20
    ) -> list[SyncRun]:
        """The sync's runs, newest ``created_at`` first (then id descending), at most
        ``limit`` (below 1 is ``InvalidRequest``)."""
        ...

    def delete_connection_syncs(
        self, tenant_id: str, connection_id: str, *, limit: int = 500
    ) -> int:
        """Delete up to ``limit`` (below 1 is ``InvalidRequest``) of the connection's sync
        records and runs and return how many; call again until it returns 0."""
        ...
