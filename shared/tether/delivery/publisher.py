"""The one way an event reaches a tenant: an :class:`EventPublisher`, which owns the
``deliver`` task kind.

Provider events (webhook processing) and Tether's own (connection lifecycle) are published
the same way: one ``deliver`` task per event, named after the event id so that publishing
the same event again adds nothing, carrying the event and the notify URL that overrides the
tenant's (a connection's own). The delivery service runs those tasks: it signs, sends,
retries and dead-letters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tether.domain.events import TetherEvent

if TYPE_CHECKING:
    from tether.ports import TaskQueue

__all__ = ["DELIVER_TASK", "EventPublisher", "QueuedEventPublisher"]

DELIVER_TASK = "deliver"


class EventPublisher(Protocol):
    def publish(self, event: TetherEvent, *, notify_url: str | None = None) -> bool:
        """Schedule ``event`` for delivery (to ``notify_url`` when given, else the tenant's);
        ``False`` when that event was published already. Raises the queue's
        :class:`~tether.domain.errors.TetherError` when it could not be scheduled."""
        ...


class QueuedEventPublisher:
    """:class:`EventPublisher` on a task queue (or a zero-argument factory of it, built on
    first use)."""

    def __init__(self, tasks: Callable[[], TaskQueue]) -> None:
        self._tasks = tasks

    def publish(self, event: TetherEvent, *, notify_url: str | None = None) -> bool:
        return self._tasks().enqueue(
            DELIVER_TASK,
            {"event": event.as_dict(), "notify_url": notify_url},
            name=f"deliver-{event.id}",
        )
