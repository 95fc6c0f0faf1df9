"""The scheduler path: the ``sync_due`` task kind (Cloud Scheduler → the ``tasks`` function in
the cloud; the embedded queue's own periodic task under ``tether dev``) starts the runs of the
syncs that are due.

Each due sync's ``next_run_at`` moves one interval on before its run starts, so a sync whose
start fails is not started again on every tick. A connection that is gone disables its syncs;
one in ``needs_reauth`` pauses them (a reconnect resumes them). A due sync whose run is still
going gets that run's task again when nothing seems to work on it (a lost task), never a
second run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tether.catalog import Catalog
from tether.catalog.sync_definition import parse_frequency
from tether.connections.service import ConnectionService
from tether.domain.clock import Clock
from tether.domain.errors import InvalidRequest, NotFound, TetherError
from tether.domain.models import Principal
from tether.domain.status import ConnectionStatus
from tether.domain.sync_runs import SyncSchedule
from tether.ports import SyncStateStore
from tether.sync.connection_syncs import sync_named
from tether.sync.lifecycle import SyncLifecycle
from tether.sync.runner import SYNC_ACTOR, SyncRunner
from tether.sync.schedules import change_schedule

__all__ = ["SYNC_DUE_TASK", "SyncScheduler"]

log = logging.getLogger("tether.sync")

SYNC_DUE_TASK = "sync_due"


class SyncScheduler:
    def __init__(
        self,
        *,
        state: SyncStateStore,
        runner: SyncRunner,
        lifecycle: SyncLifecycle,
        connections: ConnectionService,
        catalog: Callable[[], Catalog],
        clock: Clock,
        batch: int = 100,
    ) -> None:
        self._state = state
        self._runner = runner
        self._lifecycle = lifecycle
        self._connections = connections
        self._catalog = catalog
        self._clock = clock
        self._batch = batch

    def due_task(self, payload: dict[str, Any]) -> None:
        """The ``sync_due`` task (no parameters): start every due sync's run."""
        started = 0
        for schedule in self._state.list_due_syncs(now=self._clock.now(), limit=self._batch):
            try:
                started += self._start(schedule)
            except TetherError as error:
                if error.retryable:
                    raise
                log.warning(
                    "sync %s of %s not started: %s",
                    schedule.name,
                    schedule.connection_id,
                    error.code,
                )
        if started:
            log.info("started %d due sync runs", started)

    def _start(self, schedule: SyncSchedule) -> int:
        now = self._clock.now()
        tenant, connection_id = schedule.tenant_id, schedule.connection_id
        principal = Principal(tenant_id=tenant, user_id=SYNC_ACTOR)
        try:
            connection = self._connections.get(principal, connection_id)
            named = sync_named(self._catalog().get(connection.provider), schedule.name, schedule)
        except (NotFound, InvalidRequest) as error:
            # Gone, or a stored definition that no longer reads (a hook since removed, a rule
            # it breaks): not due again until it is written again, or it would be found due on
            # every tick, ahead of every sync due after it.
            if isinstance(error, InvalidRequest):
                log.warning(
                    "sync %s of %s not started: %s", schedule.name, connection_id, error.code
                )

            def stop(stored: SyncSchedule) -> None:
                stored.next_run_at = None

            change_schedule(self._state, tenant, connection_id, schedule.name, stop, now=now)
            return 0
        if connection.status == ConnectionStatus.NEEDS_REAUTH:
            self._lifecycle.pause(connection)
            return 0
        frequency = schedule.frequency
        interval = parse_frequency(frequency) if frequency else named.definition.interval

        def advance(stored: SyncSchedule) -> None:
            stored.next_run_at = now + interval

        change_schedule(self._state, tenant, connection_id, schedule.name, advance, now=now)
        started = self._runner.start(connection, named, full=False)
        if not started.started:
            self._runner.revive(started.run)
            return 0
        return 1
