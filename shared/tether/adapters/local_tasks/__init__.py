"""The embedded task queue (``TETHER_TASKS=local``): SQLite-backed, one worker thread."""

from __future__ import annotations

from tether.adapters.local_tasks.backoff import backoff_delay
from tether.adapters.local_tasks.queue import LocalTaskQueue, TaskRecord, TaskStatus
from tether.adapters.local_tasks.schedule import Periodic

__all__ = ["LocalTaskQueue", "Periodic", "TaskRecord", "TaskStatus", "backoff_delay"]
