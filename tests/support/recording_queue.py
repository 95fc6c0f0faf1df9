"""The one fake :class:`~tether.ports.TaskQueue` of the unit tests.

It records what was scheduled instead of running it, so a test looks at the tasks a service
left behind; :meth:`RecordingQueue.run_due` runs the due ones when a test wants them run. It
keeps the port's promises (names deduplicate, a payload is JSON, retryable failures are run
again, permanent ones are not) and is checked by the same contract suite as the real queues
(``tests/contract/test_task_queue_contract.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from tether.domain.errors import BackendUnavailable, InvalidRequest, TetherError
from tether.ports import TaskHandler
from tether.ports.task_queue import enqueue_first_free

__all__ = ["RecordingQueue", "Scheduled"]


class Scheduled(NamedTuple):
    kind: str
    payload: dict[str, Any]
    name: str | None
    run_at: datetime | None


class RecordingQueue:
    """``tasks``: scheduled and not run yet, in order; ``calls``: every enqueue received
    (refused and deduplicated ones too); ``failed``: tasks dropped by a permanent failure.
    Set ``fail`` to make that many next enqueues raise as a queue outage would."""

    def __init__(self) -> None:
        self.tasks: list[Scheduled] = []
        self.calls: list[Scheduled] = []
        self.failed: list[Scheduled] = []
        self.fail = 0
        self._names: set[str] = set()
        self._lock = threading.RLock()

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        name: str | None = None,
        run_at: datetime | None = None,
    ) -> bool:
        with self._lock:
            task = Scheduled(kind, dict(payload), name, run_at)
            self.calls.append(task)
            if self.fail:
                self.fail -= 1
                raise BackendUnavailable("the queue is down")
            try:
                json.dumps(task.payload, allow_nan=False)
            except (TypeError, ValueError):
                raise InvalidRequest("a task payload must be JSON-serialisable") from None
            if name is not None and name in self._names:
                return False
            if name is not None:
                self._names.add(name)
            self.tasks.append(task)
            return True

    def enqueue_soon(self, kind: str, payload: Mapping[str, Any], *, names: Sequence[str]) -> None:
        """Scheduled at once (a fake has no batch to wait for), under the first free name."""
        enqueue_first_free(self.enqueue, kind, payload, names)

    def lose(self, kind: str) -> None:
        """Drop the scheduled tasks of ``kind`` and free their names, as a queue that died
        before writing them would have."""
        with self._lock:
            lost = [task for task in self.tasks if task.kind == kind]
            self.tasks = [task for task in self.tasks if task.kind != kind]
            self._names.difference_update(task.name for task in lost if task.name is not None)

    def of(self, kind: str) -> list[Scheduled]:
        with self._lock:
            return [task for task in self.tasks if task.kind == kind]

    def run_due(self, handler: TaskHandler, *, now: datetime) -> int:
        """Run every task due at ``now`` once, in order, and return how many ran. A task
        whose handler raises a retryable error (or anything not a TetherError) stays
        scheduled for the next call; a permanent failure moves it to ``failed``."""
        with self._lock:
            due = [t for t in self.tasks if t.run_at is None or t.run_at <= now]
        for task in due:
            try:
                handler(task.kind, task.payload)
            except TetherError as exc:
                if exc.retryable:
                    continue
                with self._lock:
                    self.failed.append(task)
            except Exception:  # noqa: BLE001, S112 - the port: an unexpected error is retried
                continue
            with self._lock:
                self.tasks.remove(task)
        return len(due)
