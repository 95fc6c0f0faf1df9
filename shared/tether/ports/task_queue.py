"""Deferred work. Its contract suite is ``tests/contract/test_task_queue_contract.py``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tether.domain.errors import InvalidRequest

__all__ = ["TaskHandler", "TaskQueue", "enqueue_first_free"]

TaskHandler = Callable[[str, dict[str, Any]], None]
"""``handler(kind, payload)``: returns on success; raises a retryable
:class:`~tether.domain.errors.TetherError` (or any unexpected exception) to be retried, a
non-retryable one to be recorded as failed and not retried."""


@runtime_checkable
class TaskQueue(Protocol):
    """Deferred work: token refresh, sync, webhook delivery."""

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        name: str | None = None,
        run_at: datetime | None = None,
    ) -> bool:
        """Schedule ``payload`` for the ``kind`` handler at ``run_at`` (default: now).

        ``name`` deduplicates: a second enqueue with a name already used returns ``False``
        and schedules nothing (best effort on Cloud Tasks; handlers stay idempotent). A
        ``payload`` that is not JSON is :class:`~tether.domain.errors.InvalidRequest`, with
        nothing scheduled. The handler runs at ``run_at`` or later, never before; a retryable
        failure (see :data:`TaskHandler`) runs it again, a permanent one does not."""
        ...

    def enqueue_soon(self, kind: str, payload: Mapping[str, Any], *, names: Sequence[str]) -> None:
        """Schedule ``payload`` for ``kind`` now, under the first of ``names`` not used yet
        (nothing when every one is), written by the queue shortly after this call returns
        rather than before it: the embedded queue writes such tasks in batches a few
        milliseconds later, one write for many callers; Cloud Tasks takes each at once.

        A task not written yet is lost if the process dies, so this is only for work that a
        durable record of the caller's brings back (the webhook intake's stored events, which
        housekeeping queues again when their task went missing). ``names`` holds at least one
        name. A payload that is not JSON is :class:`~tether.domain.errors.InvalidRequest`, a
        queue that cannot take the task :class:`~tether.domain.errors.BackendUnavailable`,
        both raised by this call with nothing scheduled."""
        ...


def enqueue_first_free(
    enqueue: Callable[..., bool], kind: str, payload: Mapping[str, Any], names: Sequence[str]
) -> None:
    """``enqueue_soon`` for a queue that writes each task at once: ``enqueue`` under each of
    ``names`` in turn until one is free."""
    if not names:
        raise InvalidRequest("enqueue_soon needs at least one task name")
    for name in names:
        if enqueue(kind, payload, name=name):
            return
