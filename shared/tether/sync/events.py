"""Telling the tenant how a run ended, through the one publisher
(:class:`~tether.delivery.publisher.QueuedEventPublisher`): signed, retried and dead-lettered
by the delivery service like every other event.

==================  ========================================================================
``sync.completed``  ``{connection_id, sync, model, run_id, added, updated, deleted,
                    rejected, cursor, full}``: ``rejected`` counts the records not stored
                    (the run's view names the first few); ``cursor`` is the records cursor
                    after the run's last change (read ``/records/<connection>/<model>`` up
                    to it to see the run's changes)
``sync.failed``     ``{connection_id, sync, model, run_id, error: {code, message}}``, after
                    the run's last attempt, or at once for a failure no retry can fix
==================  ========================================================================

One run, one event of each type: the event id is derived from the run id and the type, so a
run that announces its end twice (a task retried after the enqueue) names the same ``deliver``
task, which the queue keeps once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from tether.delivery.publisher import QueuedEventPublisher
from tether.domain.events import TetherEvent
from tether.domain.models import Connection
from tether.domain.sync_runs import SyncRun
from tether.ports import TaskQueue

__all__ = ["SYNC_COMPLETED", "SYNC_FAILED", "SyncEvents"]

SYNC_COMPLETED = "sync.completed"
SYNC_FAILED = "sync.failed"


def _event_id(run: SyncRun, event_type: str) -> str:
    key = f"{run.tenant_id}\n{run.connection_id}\n{run.id}\n{event_type}"
    return "evt_" + hashlib.sha256(key.encode()).hexdigest()[:32]


class SyncEvents:
    def __init__(self, tasks: Callable[[], TaskQueue]) -> None:
        self._publisher = QueuedEventPublisher(tasks)

    def _publish(
        self, event_type: str, run: SyncRun, connection: Connection, data: dict[str, Any]
    ) -> bool:
        envelope = TetherEvent(
            id=_event_id(run, event_type),
            type=event_type,
            provider=connection.provider,
            connection_id=connection.id,
            tenant_id=connection.tenant_id,
            occurred_at=run.finished_at or run.created_at,
            data={"connection_id": connection.id, "sync": run.sync, "run_id": run.id, **data},
        )
        return self._publisher.publish(envelope, notify_url=connection.notify_url)

    def completed(
        self, run: SyncRun, connection: Connection, *, model: str, cursor: str | None
    ) -> bool:
        return self._publish(
            SYNC_COMPLETED,
            run,
            connection,
            {
                "model": model,
                "added": run.added,
                "updated": run.updated,
                "deleted": run.deleted,
                "rejected": run.rejected,
                "cursor": cursor,
                "full": run.full,
            },
        )

    def failed(self, run: SyncRun, connection: Connection, *, model: str | None) -> bool:
        error = {"code": run.error_code, "message": run.error_message}
        return self._publish(SYNC_FAILED, run, connection, {"model": model, "error": error})
