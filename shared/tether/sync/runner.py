"""Running a sync: the ``sync`` task kind, one slice of one run per task.

A run is started by :class:`~tether.sync.service.SyncService` (the API) or the scheduler
(:mod:`tether.sync.scheduler`): ``SyncStateStore.start_run`` stores it unless a run of that
``(connection, sync)`` is active, across instances, and its first ``sync`` task is enqueued.
Each task is one slice (:mod:`tether.sync.checkpoint` says what a checkpoint holds):

1. it claims the run (owner and lease, by compare-and-set: of two copies of one task one wins,
   the other waits for the lease; a task of an older slice does nothing);
2. it goes on from the checkpoint: walks pages through the connection's outbound client
   (:class:`~tether.sync.walker.PageWalker`), writing each page's records, checkpointing every
   ``checkpoint_pages`` pages; then, for a full run with ``deletes: full_refresh`` only
   after its walk completed, marks the records it did not see DELETED; a run that took over
   from a task that died (whose pages since its last checkpoint are walked again) then tallies
   its changes from the records store;
3. when its time budget (``slice_seconds``, below the function's time limit) is spent first,
   it saves the checkpoint as the next slice and enqueues that slice's task.

A crash or a redeploy loses at most the pages since the last checkpoint, which the retried
task walks again (their records are unchanged the second time, so the counts the writes
answered would miss them: such a run counts from the store instead, nothing twice, nothing
lost). The run's changes lie between the stream's ``last_cursor`` at its start and at its end:
the end is the ``cursor`` of ``sync.completed``. A retryable failure is retried by the
queue; the run counts its failed attempts, and the last one (``max_attempts``, the queue's)
ends the run ``failed`` with ``sync.failed``, as does any failure no retry can fix. A
connection in ``needs_reauth`` pauses the sync (``paused_reason``) and cancels the run; a
reconnect resumes it (:mod:`tether.sync.lifecycle`).

Size: one run's slice through its three phases, with the claim, the hand-over and the ends of
a run (success, failure, pause) beside it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tether.catalog import Catalog
from tether.catalog.sync_definition import SyncDefinition, parse_frequency
from tether.connections.service import ConnectionService
from tether.domain.clock import Clock
from tether.domain.errors import InvalidRequest, NotFound, TetherError
from tether.domain.ids import IdGenerator
from tether.domain.models import Connection, Principal
from tether.domain.status import ConnectionStatus
from tether.domain.sync_runs import RunStatus, StartedRun, SyncRun, SyncSchedule
from tether.fetch.calls import ConnectionCalls
from tether.fetch.service import FetchService
from tether.ports import RecordStore, SyncStateStore, TaskQueue
from tether.sync.checkpoint import Checkpoint
from tether.sync.connection_syncs import NamedSync, sync_named
from tether.sync.events import SyncEvents
from tether.sync.held_run import HeldRun, Superseded, checkpoint_of
from tether.sync.lifecycle import NEEDS_REAUTH
from tether.sync.phases import RunPhases
from tether.sync.schedules import change_schedule
from tether.sync.walker import PageWalker
from tether.sync.watermark import Watermark

__all__ = [
    "SYNC_ACTOR",
    "SYNC_TASK",
    "RunBusy",
    "RunLimits",
    "SyncRunner",
    "SyncTask",
]

log = logging.getLogger("tether.sync")

SYNC_TASK = "sync"
SYNC_ACTOR = "system:sync"


class RunBusy(TetherError):
    """Another copy of this run's task holds it: retried once its lease has run out."""

    default_code = "SYNC_RUN_BUSY"
    default_status = 409
    default_retryable = True


class SyncTask(BaseModel):
    """A ``sync`` task's payload: which run, and which slice of it."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    connection_id: str
    sync: str
    run_id: str
    slice: int = 0


@dataclass(frozen=True, slots=True)
class RunLimits:
    """``slice_seconds``: a task's time budget; ``checkpoint_pages``: pages between two
    checkpoints; ``max_attempts``: the queue's attempts of one task (the last failure ends
    the run); ``max_pages``: the most pages a run walks (past them it fails)."""

    slice_seconds: float = 240.0
    checkpoint_pages: int = 5
    max_attempts: int = 8
    max_pages: int = 100_000

    @property
    def lease(self) -> timedelta:
        """How long a claim holds a run: past a slice's budget and its last page (a claim is
        renewed at every checkpoint)."""
        return timedelta(seconds=self.slice_seconds + min(60.0, self.slice_seconds))


class SyncRunner:
    def __init__(
        self,
        *,
        state: SyncStateStore,
        records: RecordStore,
        connections: ConnectionService,
        catalog: Callable[[], Catalog],
        calls: Callable[[], ConnectionCalls],
        tasks: Callable[[], TaskQueue],
        events: SyncEvents,
        clock: Clock,
        ids: IdGenerator,
        limits: RunLimits,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._records = records
        self._connections = connections
        self._catalog = catalog
        self._calls = calls
        self._tasks = tasks
        self._events = events
        self._clock = clock
        self._ids = ids
        self._limits = limits
        self._monotonic = monotonic

    # -- starting ---------------------------------------------------------------------------

    def start(self, connection: Connection, named: NamedSync, *, full: bool) -> StartedRun:
        """Start a run of ``named`` unless one is active (then ``started=False`` and that
        run). Incremental from the watermark when the definition is incremental, the sync has
        a watermark and ``full`` is not asked; full otherwise."""
        stored = named.schedule.watermark if named.schedule is not None else None
        watermark = Watermark.from_text(stored)
        incremental = named.definition.incremental is not None and watermark.since is not None
        full = full or not incremental
        start = self._records.last_cursor(
            connection.tenant_id, connection.id, named.definition.model
        )
        checkpoint = Checkpoint(since=None if full else watermark.since, start_cursor=start)
        run = SyncRun(
            id=self._ids.new("run"),
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            sync=named.name,
            full=full,
            created_at=self._clock.now(),
            checkpoint=checkpoint.to_json(),
        )
        started = self._state.start_run(run)
        if started.started:
            try:
                self.enqueue(started.run, 0)
            except TetherError as error:
                held = HeldRun(self._state, started.run, checkpoint)
                self._end_failed(held, None, None, error)
                raise
        return started

    def revive(self, run: SyncRun) -> bool:
        """Enqueue ``run``'s current slice again when nothing seems to work on it (no claim,
        or a claim whose lease ran out, for longer than a lease); ``True`` when it did. A
        second task of a slice is harmless: of two, one claims the run."""
        now = self._clock.now()
        checkpoint = checkpoint_of(run)
        stale_after = now - self._limits.lease
        if checkpoint.owner is not None:
            stale = checkpoint.lease_until is None or checkpoint.lease_until < stale_after
        else:
            stale = (run.started_at or run.created_at) < stale_after
        if stale:
            self.enqueue(run, checkpoint.slice, name=False)
        return stale

    def enqueue(self, run: SyncRun, slice_number: int, *, name: bool = True) -> None:
        task = SyncTask(
            tenant_id=run.tenant_id,
            connection_id=run.connection_id,
            sync=run.sync,
            run_id=run.id,
            slice=slice_number,
        )
        self._tasks().enqueue(
            SYNC_TASK, task.model_dump(), name=f"sync-{run.id}-{slice_number}" if name else None
        )

    # -- the task ---------------------------------------------------------------------------

    def run_task(self, payload: dict[str, Any]) -> None:
        """The ``sync`` task: one slice of a run."""
        try:
            task = SyncTask.model_validate(payload)
        except ValidationError:
            raise InvalidRequest("not a sync task", code="INVALID_TASK") from None
        run = self._state.get_run(task.tenant_id, task.connection_id, task.run_id)
        if run is None or not run.active or run.sync != task.sync:
            return
        checkpoint = checkpoint_of(run)
        if task.slice != checkpoint.slice:
            if task.slice == checkpoint.slice - 1 and checkpoint.owner is None:
                self.enqueue(run, checkpoint.slice)  # the hand-over's enqueue was lost
            return
        now = self._clock.now()
        if checkpoint.owner is not None and checkpoint.lease_until and checkpoint.lease_until > now:
            raise RunBusy("another task is working on this run")
        if checkpoint.owner is not None:
            checkpoint.recount = True  # a task died holding the run: its last pages count again
        checkpoint.owner = self._ids.token(8)
        checkpoint.lease_until = now + self._limits.lease
        held = HeldRun(self._state, run, checkpoint)
        try:
            held.save(status=RunStatus.RUNNING, started_at=run.started_at or now)
            self._work(held)
        except Superseded:
            log.info("sync run %s was taken over by another task", run.id)

    def _work(self, held: HeldRun) -> None:
        run = held.run
        principal = Principal(tenant_id=run.tenant_id, user_id=SYNC_ACTOR)
        try:
            connection = self._connections.get(principal, run.connection_id)
            schedule = self._state.get_sync(run.tenant_id, run.connection_id, run.sync)
            named = sync_named(self._catalog().get(connection.provider), run.sync, schedule)
        except NotFound as error:
            self._end_failed(held, None, None, error)
            return
        except InvalidRequest as error:
            # a stored definition that no longer reads: no retry reads it either
            self._end_failed(held, connection, None, error)
            return
        if connection.status == ConnectionStatus.NEEDS_REAUTH:
            self._pause(held, connection)
            return
        try:
            self._advance(held, principal, connection, named)
        except Superseded:
            raise
        except TetherError as error:
            self._attempt_failed(held, principal, connection, named, error)

    def _attempt_failed(
        self,
        held: HeldRun,
        principal: Principal,
        connection: Connection,
        named: NamedSync,
        error: TetherError,
    ) -> None:
        try:
            current = self._connections.get(principal, connection.id)
        except NotFound as gone:
            self._end_failed(held, None, None, gone)
            return
        if current.status == ConnectionStatus.NEEDS_REAUTH:
            self._pause(held, current)
            return
        checkpoint = held.checkpoint
        checkpoint.failures += 1
        if not error.retryable or checkpoint.failures >= self._limits.max_attempts:
            self._end_failed(held, current, named.definition.model, error)
            return
        checkpoint.owner = None
        checkpoint.lease_until = None
        held.save(error_code=error.code, error_message=error.message[:500])
        raise error

    # -- the phases -------------------------------------------------------------------------

    def _advance(
        self, held: HeldRun, principal: Principal, connection: Connection, named: NamedSync
    ) -> None:
        deadline = self._monotonic() + self._limits.slice_seconds
        checkpoint = held.checkpoint
        phases = RunPhases(
            records=self._records,
            clock=self._clock,
            monotonic=self._monotonic,
            checkpoint_pages=self._limits.checkpoint_pages,
            lease=self._limits.lease,
            max_pages=self._limits.max_pages,
        )
        if checkpoint.phase == "walk":
            walker = self._walker(principal, connection, named.definition)
            if not phases.walk(held, walker, named.definition, deadline):
                self._hand_over(held)
                return
            full_refresh = held.run.full and named.definition.deletes == "full_refresh"
            checkpoint.phase = "delete" if full_refresh else "tally"
            held.save()
        if checkpoint.phase == "delete":
            if not phases.delete_unseen(held, named.definition, deadline):
                self._hand_over(held)
                return
            checkpoint.phase = "tally"
            held.save()
        if checkpoint.recount and not phases.tally(held, named.definition, deadline):
            self._hand_over(held)
            return
        self._end_succeeded(held, connection, named)

    def _walker(
        self, principal: Principal, connection: Connection, definition: SyncDefinition
    ) -> PageWalker:
        # the record _work has just read for this task: the sender need not read it again
        sender = self._calls().sender(principal, connection.id, connection=connection)
        fetch = FetchService(sender, sender.base_url, redact=sender.redact)
        return PageWalker(fetch, definition, config=connection.config)

    # -- hand-over and the ends of a run ----------------------------------------------------

    def _hand_over(self, held: HeldRun) -> None:
        checkpoint = held.checkpoint
        checkpoint.slice += 1
        checkpoint.owner = None
        checkpoint.lease_until = None
        checkpoint.failures = 0
        held.save()
        self.enqueue(held.run, checkpoint.slice)

    def _release(self, held: HeldRun) -> None:
        held.checkpoint.owner = None
        held.checkpoint.lease_until = None

    def _end_succeeded(self, held: HeldRun, connection: Connection, named: NamedSync) -> None:
        checkpoint = held.checkpoint
        now = self._clock.now()
        definition = named.definition
        since = checkpoint.high_water or checkpoint.since
        began = held.run.started_at or held.run.created_at
        if definition.incremental is not None and definition.updated_at_path is None:
            since = began
        elif since is not None and since > began:
            # An updated-at past the run's start (a placeholder date, a provider's clock ahead)
            # would ask every later run for changes after it: none, or a moment no format can
            # write. From the run's start, a later run misses nothing.
            since = began
        run = held.run
        cursor = self._records.last_cursor(run.tenant_id, run.connection_id, definition.model)
        counts = checkpoint.tally if checkpoint.recount else checkpoint.written
        finished = held.run.model_copy(
            update={
                "status": RunStatus.SUCCEEDED,
                "finished_at": now,
                "added": counts.added,
                "updated": counts.updated,
                "deleted": counts.deleted,
                "rejected": checkpoint.rejected_records,
                "rejections": list(checkpoint.rejections),
                "error_code": None,
                "error_message": None,
            }
        )

        def record(schedule: SyncSchedule) -> None:
            schedule.watermark = Watermark(since).to_text()
            schedule.last_run = finished.summary()
            if schedule.enabled:
                schedule.next_run_at = now + self._interval(schedule, definition)

        change_schedule(
            self._state, held.run.tenant_id, held.run.connection_id, held.run.sync, record, now=now
        )
        self._events.completed(finished, connection, model=definition.model, cursor=cursor)
        self._release(held)
        held.save(
            status=RunStatus.SUCCEEDED,
            finished_at=now,
            added=finished.added,
            updated=finished.updated,
            deleted=finished.deleted,
            rejected=finished.rejected,
            rejections=finished.rejections,
            error_code=None,
            error_message=None,
        )
        log.info(
            "sync run %s succeeded: %d added, %d updated, %d deleted, %d rejected",
            finished.id,
            finished.added,
            finished.updated,
            finished.deleted,
            finished.rejected,
        )

    @staticmethod
    def _interval(schedule: SyncSchedule, definition: SyncDefinition) -> timedelta:
        return parse_frequency(schedule.frequency) if schedule.frequency else definition.interval

    def _end_failed(
        self,
        held: HeldRun,
        connection: Connection | None,
        model: str | None,
        error: TetherError,
    ) -> None:
        now = self._clock.now()
        run = held.run
        checkpoint = held.checkpoint
        failed = run.model_copy(
            update={
                "status": RunStatus.FAILED,
                "finished_at": now,
                "rejected": checkpoint.rejected_records,
                "rejections": list(checkpoint.rejections),
                "error_code": error.code,
                "error_message": error.message[:500],
            }
        )
        if connection is not None:

            def record(schedule: SyncSchedule) -> None:
                schedule.last_run = failed.summary()
                if schedule.enabled and schedule.next_run_at is not None:
                    schedule.next_run_at = max(schedule.next_run_at, now)

            change_schedule(
                self._state, run.tenant_id, run.connection_id, run.sync, record, now=now
            )
            self._events.failed(failed, connection, model=model)
        self._release(held)
        held.save(
            status=RunStatus.FAILED,
            finished_at=now,
            rejected=failed.rejected,
            rejections=failed.rejections,
            error_code=error.code,
            error_message=error.message[:500],
        )
        log.warning("sync run %s failed: %s", run.id, error.code)

    def _pause(self, held: HeldRun, connection: Connection) -> None:
        now = self._clock.now()
        run = held.run

        def pause(schedule: SyncSchedule) -> None:
            schedule.paused_reason = NEEDS_REAUTH

        change_schedule(self._state, run.tenant_id, run.connection_id, run.sync, pause, now=now)
        self._release(held)
        held.save(
            status=RunStatus.CANCELLED,
            finished_at=now,
            error_code="CONNECTION_NEEDS_REAUTH",
            error_message="the connection needs to be authorized again; the sync is paused",
        )
        log.info(
            "sync %s of %s paused: the connection needs reauthorization", run.sync, connection.id
        )
