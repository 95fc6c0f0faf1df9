"""The embedded queue's ``enqueue_soon``: tasks taken in memory, written in batches.

Every SQLite statement a request thread runs hands Python's GIL to another thread and waits to
get it back; with many requests in flight that hand-off, not the write, is what a webhook's
acceptance costs (measured by ``make bench-webhooks``). So the webhook intake stores its event
(the durable record) and leaves the event's task here: a thread of this buffer wakes on the
first task, waits ``window`` seconds for more, and writes all of them in one transaction (a
statement per hundred tasks).

A task not written yet is lost if the process dies (the port says who may use this: callers
whose own record brings it back). A write that fails puts its batch back, in order, for the next
turn (after the retry interval, doubling up to 30 s while the writes keep failing); a buffer
that holds ``limit`` tasks refuses more (``BackendUnavailable``), so an unwritable file turns
into retryable errors, not into memory. ``close`` writes what is left, and so does a process
that exits normally without closing it (a server stopped by SIGTERM).

Hand-written because it is a few lines around the queue's own table: no library batches
inserts into a SQLite file for us.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

from tether.domain.errors import BackendUnavailable, TetherError

__all__ = ["BatchedEnqueues", "SoonTask"]

_log = logging.getLogger(__name__)
_MAX_RETRY = 30.0  # seconds between two attempts to write a batch, at most


class SoonTask(NamedTuple):
    kind: str
    body: str  # the payload's JSON
    names: tuple[str, ...]  # tried in order; the first free one is used
    at: int  # when it was taken, in the queue's stored time (microseconds)


class BatchedEnqueues:
    """``write(batch)`` stores a batch in one transaction (all or nothing) and returns how many
    tasks it scheduled; ``written()`` is called after a batch that scheduled any."""

    def __init__(
        self,
        write: Callable[[Sequence[SoonTask]], int],
        written: Callable[[], None],
        *,
        window_seconds: float,
        retry_seconds: float,
        limit: int = 10_000,
    ) -> None:
        self._write = write
        self._written = written
        self._window = window_seconds
        self._retry = retry_seconds
        self._limit = limit
        self._tasks: deque[SoonTask] = deque()
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._flushing = threading.Lock()  # one batch at a time, in order
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, task: SoonTask) -> None:
        if self._closing.is_set():
            raise BackendUnavailable("the local task queue is closed")
        if len(self._tasks) >= self._limit:
            raise BackendUnavailable(
                "the local task queue is behind on its writes; try again",
                code="TASK_QUEUE_UNAVAILABLE",
            )
        self._tasks.append(task)
        if self._thread is None:
            self._start()
        self._ready.set()

    def __len__(self) -> int:
        return len(self._tasks)

    def _start(self) -> None:
        with self._starting:
            if self._thread is None:
                thread = threading.Thread(
                    target=self._run, name="tether-local-task-batches", daemon=True
                )
                thread.start()
                self._thread = thread
                atexit.register(self._at_exit)

    def _run(self) -> None:
        failures = 0
        while not self._closing.is_set():
            self._ready.wait()
            self._closing.wait(self._window)  # gather the batch (cut short by close)
            self._ready.clear()
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - the thread lives on: the batch is kept
                failures += 1
                _log.error(
                    "local task queue: %d tasks could not be written yet, %s (attempt %d)",
                    len(self._tasks),
                    _described(exc),
                    failures,
                )
                self._ready.set()
                # The retry interval, doubling while the file stays unwritable (at most 30 s).
                self._closing.wait(min(self._retry * 2 ** min(failures - 1, 16), _MAX_RETRY))
            else:
                failures = 0

    def flush(self) -> int:
        """Write every task taken so far; returns how many were scheduled. On failure the
        batch is back at the front of the buffer and the error raised."""
        with self._flushing:
            batch: list[SoonTask] = []
            while self._tasks:
                batch.append(self._tasks.popleft())
            if not batch:
                return 0
            try:
                scheduled = self._write(batch)
            except BaseException:
                self._tasks.extendleft(reversed(batch))
                raise
        if scheduled:
            self._written()
        return scheduled

    def close(self, timeout: float) -> None:
        """Stop the thread and write what is left (a failure is logged: those tasks are
        lost here, and their callers' records bring them back)."""
        atexit.unregister(self._at_exit)
        self._closing.set()
        self._ready.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - closing never raises; the records remain
            _log.error(
                "local task queue closed with %d tasks unwritten, %s",
                len(self._tasks),
                _described(exc),
            )

    def _at_exit(self) -> None:
        self.close(timeout=1.0)


def _described(exc: Exception) -> str:
    """What a log line may say of a failed write: a TetherError's code and message and
    SQLite's own text (neither quotes a value), only the type name of anything else, whose
    text may quote a task's payload."""
    if isinstance(exc, TetherError):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, sqlite3.Error):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__
