"""What a deleted connection leaves besides its record and credentials: its synced records
and its syncs' schedules and runs. They go after the delete, by a task, in bounded chunks.

One task kind, ``purge_connection_data``. Each task deletes up to ``chunks_per_task`` chunks
of records (each chunk one short write, :meth:`~tether.ports.RecordStore.delete_connection_records`)
and enqueues its successor while some remain, so a connection with millions of records holds
neither one transaction nor one task for long. A task that fails is retried by the queue and
starts again where the last committed chunk left off (deleting is idempotent). It never
touches a connection that is live (the record says so), whatever the payload says.

A sync run may still be writing when the connection goes (a run's slice notices at its next
look at the connection). So once nothing is left, one more round runs ``late_sweep_after``
later (longer than a run's slice), and purges what such a run wrote meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tether.domain.clock import Clock
from tether.domain.errors import InvalidRequest, TetherError

if TYPE_CHECKING:
    from tether.ports import ConnectionRepository, RecordStore, SyncStateStore, TaskQueue

__all__ = [
    "PURGE_CONNECTION_DATA_TASK",
    "ConnectionDataPurge",
    "schedule_data_purge",
    "schedule_quietly",
]

PURGE_CONNECTION_DATA_TASK = "purge_connection_data"

log = logging.getLogger("tether.connections")


def schedule_data_purge(
    tasks: TaskQueue,
    tenant_id: str,
    connection_id: str,
    *,
    round_number: int = 0,
    late: bool = False,
    run_at: datetime | None = None,
) -> None:
    """Enqueue round ``round_number`` of the purge (one task name per round, so a round is
    scheduled once however often its predecessor is retried); ``late``: the sweep after the
    purge, and the rounds it takes."""
    payload: dict[str, Any] = {
        "tenant_id": tenant_id,
        "connection_id": connection_id,
        "round": round_number,
    }
    if late:
        payload["late"] = True
    tasks.enqueue(
        PURGE_CONNECTION_DATA_TASK,
        payload,
        name=f"purge-data-{connection_id}-{round_number}",
        run_at=run_at,
    )


def schedule_quietly(tasks: TaskQueue, tenant_id: str, connection_id: str) -> None:
    """:func:`schedule_data_purge` after a delete that has happened: a queue outage is
    logged with the connection's id (its data stays until the purge is enqueued by hand:
    ``POST /tasks/purge_connection_data``) rather than failing a delete that succeeded."""
    try:
        schedule_data_purge(tasks, tenant_id, connection_id)
    except TetherError as exc:
        log.error(
            "synced data of deleted connection %s not scheduled for deletion (%s)",
            connection_id,
            exc.code,
            extra={"connection_id": connection_id},
        )


class ConnectionDataPurge:
    """``chunk``: records (or sync records) per write; ``chunks_per_task``: writes per task
    before the next task takes over; ``late_sweep_after``: when the last round runs once
    nothing is left."""

    def __init__(
        self,
        *,
        connections: ConnectionRepository,
        records: RecordStore,
        syncs: SyncStateStore,
        tasks: Callable[[], TaskQueue],
        clock: Clock,
        chunk: int = 400,
        chunks_per_task: int = 25,
        late_sweep_after: timedelta = timedelta(hours=1),
    ) -> None:
        if chunk < 1 or chunks_per_task < 1:
            raise ValueError("chunk and chunks_per_task must be at least 1")
        self._connections = connections
        self._records = records
        self._syncs = syncs
        self._tasks = tasks
        self._clock = clock
        self._chunk = chunk
        self._chunks_per_task = chunks_per_task
        self._late_sweep_after = late_sweep_after

    def purge_task(self, payload: Mapping[str, Any]) -> None:
        """``purge_connection_data`` as a task handler (payload: tenant_id, connection_id,
        round, late)."""
        tenant_id, connection_id = payload.get("tenant_id"), payload.get("connection_id")
        round_number = payload.get("round", 0)
        if (
            not isinstance(tenant_id, str)
            or not isinstance(connection_id, str)
            or not isinstance(round_number, int)
        ):
            raise InvalidRequest("purge_connection_data needs tenant_id and connection_id")
        record = self._connections.get_connection(tenant_id, connection_id, include_deleted=True)
        if record is not None and record.deleted_at is None:
            log.warning("not purging the synced data of a live connection %s", connection_id)
            return
        late = payload.get("late") is True
        if not self.purge_some(tenant_id, connection_id):
            schedule_data_purge(
                self._tasks(), tenant_id, connection_id, round_number=round_number + 1, late=late
            )
        elif not late:
            schedule_data_purge(
                self._tasks(),
                tenant_id,
                connection_id,
                round_number=round_number + 1,
                late=True,
                run_at=self._clock.now() + self._late_sweep_after,
            )

    def purge_some(self, tenant_id: str, connection_id: str) -> bool:
        """Delete up to ``chunks_per_task`` chunks; whether nothing is left."""
        for _ in range(self._chunks_per_task):
            removed = self._records.delete_connection_records(
                tenant_id, connection_id, limit=self._chunk
            )
            if removed == 0:
                removed = self._syncs.delete_connection_syncs(
                    tenant_id, connection_id, limit=self._chunk
                )
                if removed == 0:
                    return True
        return False
