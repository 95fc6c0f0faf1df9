"""A connection's syncs as stored: the settings and schedule of each sync, and its runs.

:class:`SyncSchedule` is one record per ``(tenant, connection, sync name)``: whether it runs,
how often, a tenant's own definition (JSON, checked by :mod:`tether.sync.definitions` before
it is stored), when it runs next, why it is paused, its last run and its incremental
watermark. :class:`SyncRun` is one run: its status, counts, error and checkpoint.

A run counts the records it could not store (``rejected``: no usable id at ``id_path``, too
large for one stored record, a payload the store refuses) and keeps the first
:data:`MAX_REJECTION_SAMPLES` of them as :class:`RejectedRecord`: where the record was and
why, never any of its content.

Both are versioned: every change is a compare-and-set on ``version`` (a run's checkpoint
included, so a stale worker cannot overwrite a newer one).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "MAX_REJECTION_SAMPLES",
    "MAX_SYNCS",
    "MISSING_RECORD_ID",
    "RejectedRecord",
    "RunStatus",
    "RunSummary",
    "StartedRun",
    "SyncRun",
    "SyncSchedule",
]


class _Record(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=False, validate_assignment=True, defer_build=True
    )


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
"""A run in one of these holds its ``(connection, sync)``: no other run starts meanwhile."""


MAX_REJECTION_SAMPLES = 5
"""Rejected records a run keeps as samples (its ``rejected`` counts them all)."""

MAX_SYNCS = 500
"""Syncs one connection holds (the catalog's it has set and the tenant's own): a listing
shows them all, and a new one past them is refused."""

MISSING_RECORD_ID = "MISSING_RECORD_ID"
"""A record with no usable id at the sync's ``id_path`` (missing, empty, an object, a
boolean, or longer than an id may be)."""


class RejectedRecord(_Record):
    """One record a run did not store: ``page`` (1 = the run's first page) and ``index`` (its
    position in that page's records), its ``id`` when it had a valid one, and ``code``
    (:data:`MISSING_RECORD_ID`, ``RECORD_TOO_LARGE``, ``INVALID_RECORD_ID``,
    ``INVALID_PAYLOAD``). Nothing of the record's content."""

    page: int
    index: int
    id: str | None = None
    code: str


class RunSummary(_Record):
    """What a sync shows of its last run."""

    run_id: str
    status: RunStatus
    full: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    added: int = 0
    updated: int = 0
    deleted: int = 0
    rejected: int = 0
    rejections: list[RejectedRecord] = Field(default_factory=list)
    error_code: str | None = None


class SyncSchedule(_Record):
    """A sync of a connection: its settings, its schedule and what its runs left behind.
    ``frequency`` (``"1h"``; ``None``: the definition's) and ``definition`` (a tenant's own
    sync, its JSON; ``None`` for a catalog sync) are the tenant's; ``next_run_at`` is when
    the scheduler starts it next (``None``: not scheduled); ``paused_reason`` (e.g.
    ``needs_reauth``) keeps an enabled sync from being due; ``watermark`` is the incremental
    high-water mark the last successful run reached (opaque text)."""

    tenant_id: str
    connection_id: str
    name: str
    enabled: bool = True
    frequency: str | None = None
    definition: dict[str, Any] | None = None
    next_run_at: datetime | None = None
    paused_reason: str | None = None
    last_run: RunSummary | None = None
    watermark: str | None = None
    updated_at: datetime
    version: int = 1

    @property
    def schedulable(self) -> bool:
        """Enabled, not paused and with a next run: what :meth:`list_due_syncs` looks at."""
        return self.enabled and self.paused_reason is None and self.next_run_at is not None


class SyncRun(_Record):
    """One run of a sync. ``checkpoint`` is the engine's opaque JSON (page cursor,
    watermark, phase); ``version`` is bumped by each saved change."""

    id: str
    tenant_id: str
    connection_id: str
    sync: str
    status: RunStatus = RunStatus.QUEUED
    full: bool = False
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    added: int = 0
    updated: int = 0
    deleted: int = 0
    rejected: int = 0
    rejections: list[RejectedRecord] = Field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    checkpoint: dict[str, Any] | None = None
    version: int = 1

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    def summary(self) -> RunSummary:
        return RunSummary(
            run_id=self.id,
            status=self.status,
            full=self.full,
            started_at=self.started_at,
            finished_at=self.finished_at,
            added=self.added,
            updated=self.updated,
            deleted=self.deleted,
            rejected=self.rejected,
            rejections=[sample.model_copy() for sample in self.rejections],
            error_code=self.error_code,
        )


class StartedRun(_Record):
    """What :meth:`~tether.ports.SyncRunStore.start_run` did: ``started`` with the stored run,
    or not, with ``run`` the run already active (its id is what a 409 names)."""

    started: bool
    run: SyncRun = Field(...)
