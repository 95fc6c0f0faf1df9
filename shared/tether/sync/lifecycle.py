"""A connection's syncs follow its lifecycle (a listener of
:class:`~tether.connections.events.ConnectionEvents`):

* ``connection.needs_reauth`` pauses every stored sync with ``paused_reason =
  needs_reauth`` (a run that meets the status pauses its sync too, see the runner);
* ``connection.reconnected`` / ``connection.recovered`` resume the syncs paused for that
  reason, due at once when enabled;
* ``connection.deleted`` enqueues the ``sync_purge`` task, which deletes the connection's
  records and sync state in bounded chunks (a task retried after a crash goes on where the
  last one stopped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tether.connections.events import ConnectionEvent
from tether.domain.clock import Clock
from tether.domain.errors import InvalidRequest
from tether.domain.models import Connection
from tether.domain.sync_runs import SyncSchedule
from tether.ports import RecordStore, SyncStateStore, TaskQueue
from tether.sync.schedules import change_schedule

__all__ = ["NEEDS_REAUTH", "SYNC_PURGE_TASK", "SyncLifecycle"]

NEEDS_REAUTH = "needs_reauth"
SYNC_PURGE_TASK = "sync_purge"
_CHUNK = 500


class _Purge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    connection_id: str


class SyncLifecycle:
    def __init__(
        self,
        *,
        state: SyncStateStore,
        records: RecordStore,
        tasks: Callable[[], TaskQueue],
        clock: Clock,
    ) -> None:
        self._state = state
        self._records = records
        self._tasks = tasks
        self._clock = clock

    def follow(self, event: ConnectionEvent, connection: Connection) -> None:
        """The listener of connection events."""
        if event == ConnectionEvent.NEEDS_REAUTH:
            self.pause(connection)
        elif event in (ConnectionEvent.RECONNECTED, ConnectionEvent.RECOVERED):
            self.resume(connection)
        elif event == ConnectionEvent.DELETED:
            payload = {"tenant_id": connection.tenant_id, "connection_id": connection.id}
            self._tasks().enqueue(SYNC_PURGE_TASK, payload, name=f"sync-purge-{connection.id}")

    def pause(self, connection: Connection) -> None:
        """Pause every stored sync of ``connection`` for ``needs_reauth``."""
        self._set_paused(connection, NEEDS_REAUTH)

    def resume(self, connection: Connection) -> None:
        """Resume the syncs paused for ``needs_reauth``: due at once when enabled."""
        self._set_paused(connection, None)

    def _set_paused(self, connection: Connection, reason: str | None) -> None:
        now = self._clock.now()
        for stored in self._state.list_syncs(connection.tenant_id, connection.id):
            if reason is None and stored.paused_reason != NEEDS_REAUTH:
                continue
            if reason is not None and stored.paused_reason == reason:
                continue

            def change(schedule: SyncSchedule) -> None:
                schedule.paused_reason = reason
                if reason is None and schedule.enabled:
                    schedule.next_run_at = now

            change_schedule(
                self._state, connection.tenant_id, connection.id, stored.name, change, now=now
            )

    def purge_task(self, payload: dict[str, Any]) -> None:
        """The ``sync_purge`` task: a deleted connection's records, syncs and runs."""
        try:
            purge = _Purge.model_validate(payload)
        except ValidationError:
            raise InvalidRequest("not a sync purge task", code="INVALID_TASK") from None
        tenant, connection = purge.tenant_id, purge.connection_id
        while self._records.delete_connection_records(tenant, connection, limit=_CHUNK):
            pass
        while self._state.delete_connection_syncs(tenant, connection, limit=_CHUNK):
            pass
