"""Telling the tenant about a connection's lifecycle: one publisher for every path.

Every lifecycle change reaches the tenant the same way, whichever service made it: one
``deliver`` task carrying a :class:`~tether.domain.events.TetherEvent` (sent to the
connection's ``notify_url`` when it has one, else the tenant's), signed and retried by the
delivery service.

========================================  ==================================================
``connection.created``                    the API's create, and the OAuth callback's
``connection.credentials_updated``        a PATCH that carries credentials (a refreshed or
                                          rotated OAuth token is not announced)
``connection.reconnected``                the OAuth flow authorized an existing connection
``connection.needs_reauth``               the provider refused the grant for good
``connection.recovered``                  back to ``active`` from ``error`` or
                                          ``needs_reauth`` (a refresh that worked, new
                                          credentials)
``connection.deleted``                    the connection was deleted
========================================  ==================================================

One occurrence, one event id. A change is a record write, and a record's ``version`` only
grows, so the id is derived from the connection, the event type and the version the write
stored: a second ``needs_reauth`` of the same connection (after a reconnect) is a new event,
while announcing the same transition again (a task re-announcing after a failed enqueue)
names the same ``deliver`` task, which the queue keeps once. ``occurred_at`` is the write's
``updated_at``, so a re-announcement carries the same envelope too.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tether.connections.event_types import ConnectionEvent
from tether.delivery.publisher import DELIVER_TASK, QueuedEventPublisher
from tether.domain.errors import TetherError
from tether.domain.events import TetherEvent
from tether.domain.models import Connection

if TYPE_CHECKING:
    from tether.ports import TaskQueue

__all__ = ["DELIVER_TASK", "ConnectionEvent", "ConnectionEvents", "event_id"]

log = logging.getLogger("tether.events")


def event_id(event: ConnectionEvent, connection: Connection) -> str:
    """``evt_<32 hex>``: one per (tenant, connection, type, stored version)."""
    key = f"{connection.tenant_id}\n{connection.id}\n{event.value}\n{connection.version}"
    return "evt_" + hashlib.sha256(key.encode()).hexdigest()[:32]


class ConnectionEvents:
    """Connection lifecycle events, published through the one
    :class:`~tether.delivery.publisher.EventPublisher`; ``tasks`` is the queue (or a
    zero-argument factory of it, built on first use) that publisher schedules on."""

    def __init__(
        self,
        tasks: Callable[[], TaskQueue],
        *,
        listeners: Sequence[Callable[[ConnectionEvent, Connection], None]] = (),
    ) -> None:
        self._publisher = QueuedEventPublisher(tasks)
        self._listeners = tuple(listeners)

    def publish(self, event: ConnectionEvent, connection: Connection, **data: Any) -> bool:
        """Enqueue the ``deliver`` task of ``event`` about ``connection`` — the record as the
        write that made the change stored it. ``data`` adds to ``status`` and
        ``display_name``. ``False`` when that occurrence was already enqueued; raises the
        queue's :class:`~tether.domain.errors.TetherError` when it could not be."""
        envelope = TetherEvent(
            id=event_id(event, connection),
            type=event.value,
            provider=connection.provider,
            connection_id=connection.id,
            tenant_id=connection.tenant_id,
            occurred_at=connection.updated_at,
            data={
                "status": connection.status.value,
                "display_name": connection.display_name,
                **data,
            },
        )
        published = self._publisher.publish(envelope, notify_url=connection.notify_url)
        self._tell_listeners(event, connection)
        return published

    def _tell_listeners(self, event: ConnectionEvent, connection: Connection) -> None:
        """The other capabilities that follow a connection's lifecycle (its syncs pause on
        ``needs_reauth`` and resume on a reconnect): best effort, the change stays made."""
        for listener in self._listeners:
            try:
                listener(event, connection)
            except TetherError as exc:
                log.warning(
                    "a follower of %s for %s failed (%s)", event.value, connection.id, exc.code
                )

    def publish_quietly(self, event: ConnectionEvent, connection: Connection, **data: Any) -> None:
        """:meth:`publish`, best effort: the change is made and stays made when the queue
        fails; the failure is logged (by code, never with the connection's data)."""
        try:
            self.publish(event, connection, **data)
        except TetherError as exc:
            log.warning("could not announce %s for %s (%s)", event.value, connection.id, exc.code)
