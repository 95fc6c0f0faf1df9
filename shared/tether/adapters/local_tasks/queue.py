"""The embedded task queue: Tether's local stand-in for Cloud Tasks.

Durable in one SQLite file (WAL) and served by one daemon worker thread, it keeps the Cloud
Tasks behaviours services rely on:

- a named task deduplicates: enqueueing a name already used returns ``False`` and changes
  nothing (Cloud Tasks answers ``ALREADY_EXISTS``); here a name stays taken until the task is
  purged;
- a schedule time (``run_at``);
- at-least-once execution: a running task holds a lease, and if the process dies mid-task the
  lease expires and the task runs again, so handlers stay idempotent;
- retries with capped exponential backoff and jitter, then a dead letter after
  ``max_attempts``. A non-retryable :class:`~tether.domain.errors.TetherError` is recorded as
  failed and not retried (the cloud tasks function answers 2xx for it);
- ``enqueue_soon``: tasks taken in memory and written in batches a few milliseconds later, one
  statement for many request threads (:mod:`.batched_enqueues` says why and what it risks);
- and, standing in for Cloud Scheduler, ``periodic`` tasks it enqueues by itself once per
  period under a name per period (:mod:`.schedule`), e.g. hourly housekeeping, which also
  purges the finished tasks of this file (:meth:`LocalTaskQueue.purge_finished`).

States::

    pending ──claim──▶ running ──ok──────────────────▶ done
       ▲                  ├──── permanent error ──────▶ failed ─┐
       └── retryable ─────┴──── attempts exhausted ───▶ dead ───┤
       └───────────────────────── replay() ◀────────────────────┘

One connection behind a lock serves every thread (request threads enqueueing, the worker
claiming); each statement is short and handlers run outside the lock. Claims run inside
``BEGIN IMMEDIATE``, so several queues (or processes) on one file never claim the same task.
Times are stored as integer microseconds since the Unix epoch, UTC.

Size: one durable queue: enqueue (at once or in batches), claim, run, retry, dead-letter,
periodic tasks and purge share one table and one lock.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from tether.adapters.local_tasks.backoff import backoff_delay
from tether.adapters.local_tasks.batched_enqueues import BatchedEnqueues, SoonTask
from tether.adapters.local_tasks.records import (
    TaskRecord,
    TaskStatus,
    from_db,
    migrate,
    record,
    require_aware,
    to_db,
)
from tether.adapters.local_tasks.schedule import Periodic
from tether.adapters.sqlite.migrations import enable_wal
from tether.domain.clock import Clock, SystemClock
from tether.domain.errors import (
    BackendUnavailable,
    ConfigurationError,
    InvalidRequest,
    TetherError,
)
from tether.domain.ids import IdGenerator, RandomIds
from tether.logs import secret_scope
from tether.ports import TaskHandler

__all__ = ["LocalTaskQueue", "Periodic", "TaskRecord", "TaskStatus"]

_log = logging.getLogger(__name__)

_MAX_NAME_LENGTH = 500  # Cloud Tasks' limit on a task id
_MAX_ERROR_LENGTH = 1000
_LEASE_LOST = "LEASE_EXPIRED: the worker stopped during the last attempt"
# What json.dumps(payload, allow_nan=False, separators=(",", ":")) would build for every task.
_PAYLOAD_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_INSERT = (
    "INSERT INTO tasks (id, name, kind, payload, status, attempts, max_attempts, "
    "run_at, created_at, updated_at) VALUES "
)
_ROW = "(?, ?, ?, ?, ?, 0, ?, ?, ?, ?)"
_BATCH_ROWS = 100  # rows per statement of a batch write: 900 values, far under SQLite's limit


class _Claim(NamedTuple):
    id: str
    kind: str
    payload: str
    attempts: int  # including the attempt this claim starts
    max_attempts: int


class _ClosedError(RuntimeError):
    pass


def _checked(kind: str, payload: Mapping[str, Any], names: Sequence[str]) -> str:
    """The payload's JSON, once the kind, names and payload are known to be acceptable."""
    if not kind:
        raise InvalidRequest("a task needs a kind")
    for name in names:
        if not 0 < len(name) <= _MAX_NAME_LENGTH:
            raise InvalidRequest(f"a task name has 1 to {_MAX_NAME_LENGTH} characters")
    try:
        return _PAYLOAD_JSON.encode(dict(payload))
    except (TypeError, ValueError):
        raise InvalidRequest("a task payload must be JSON-serialisable") from None


def _describe(exc: Exception) -> str:
    """``code: message`` of a TetherError (its messages are safe to show); only the type name
    of anything else, whose text may carry a credential."""
    if isinstance(exc, TetherError):
        return f"{exc.code}: {exc.message}"[:_MAX_ERROR_LENGTH]
    return type(exc).__name__


class LocalTaskQueue:
    """A :class:`~tether.ports.TaskQueue` in a SQLite file, run by a worker thread.

    ``start()`` runs due tasks in the background; ``run_due()`` runs them in the caller's
    thread (deterministic tests with a :class:`~tether.domain.clock.FixedClock`).
    """

    def __init__(
        self,
        path: Path | str,
        handler: TaskHandler,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        rng: random.Random | None = None,
        max_attempts: int = 8,
        min_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 600.0,
        poll_interval_seconds: float = 0.2,
        lease_seconds: float = 300.0,
        jitter: bool = True,
        busy_timeout_seconds: float = 10.0,
        periodic: Sequence[Periodic] = (),
        batch_window_seconds: float = 0.02,
        batch_limit: int = 10_000,
    ) -> None:
        for schedule in periodic:
            schedule.check()
        if max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if not 0 <= min_backoff_seconds <= max_backoff_seconds:
            raise ConfigurationError("backoff needs 0 <= min_backoff_seconds <= max_backoff")
        if poll_interval_seconds <= 0 or lease_seconds <= 0:
            raise ConfigurationError("poll_interval_seconds and lease_seconds must be positive")
        if batch_window_seconds < 0:
            raise ConfigurationError("batch_window_seconds must not be negative")
        self._handler = handler
        self._clock: Clock = clock or SystemClock()
        self._ids: IdGenerator = ids or RandomIds()
        self._rng = rng or random.SystemRandom()
        self._max_attempts = max_attempts
        self._min_backoff = min_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._poll = poll_interval_seconds
        self._lease_us = int(lease_seconds * 1_000_000)
        self._jitter = jitter
        self._periodic = tuple(periodic)
        self._scheduled: dict[str, datetime] = {}  # kind -> start of the period enqueued
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = self._open(str(path), busy_timeout_seconds)
        self._soon = BatchedEnqueues(
            self._write_batch,
            self._wake.set,
            window_seconds=batch_window_seconds,
            retry_seconds=poll_interval_seconds,
            limit=batch_limit,
        )

    @staticmethod
    def _open(path: str, busy_timeout: float) -> sqlite3.Connection:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            db.row_factory = sqlite3.Row
            enable_wal(db, timeout_seconds=busy_timeout)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000):d}")
            migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; ``write`` wraps the block in ``BEGIN IMMEDIATE``."""
        with self._lock:
            db = self._db
            if db is None:
                raise _ClosedError("the task queue is closed")
            try:
                if not write:
                    yield db
                    return
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise BackendUnavailable("the local task queue database is unavailable") from exc

    # -- TaskQueue --------------------------------------------------------------------------
    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        name: str | None = None,
        run_at: datetime | None = None,
    ) -> bool:
        body = _checked(kind, payload, () if name is None else (name,))
        if run_at is not None:
            require_aware(run_at, "run_at")
        now = to_db(self._clock.now())
        # One INSERT: atomic by itself in autocommit, no explicit transaction needed.
        with self._session(write=False) as db:
            cursor = db.execute(
                "INSERT INTO tasks (id, name, kind, payload, status, attempts, max_attempts, "
                "run_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (
                    self._ids.new("task"),
                    name,
                    kind,
                    body,
                    TaskStatus.PENDING,
                    self._max_attempts,
                    now if run_at is None else to_db(run_at),
                    now,
                    now,
                ),
            )
            created = cursor.rowcount == 1
        if created:
            self._wake.set()
        return created

    def enqueue_soon(self, kind: str, payload: Mapping[str, Any], *, names: Sequence[str]) -> None:
        if not names:
            raise InvalidRequest("enqueue_soon needs at least one task name")
        body = _checked(kind, payload, names)
        if self._db is None:
            raise BackendUnavailable("the local task queue is closed")
        self._soon.add(SoonTask(kind, body, tuple(names), to_db(self._clock.now())))

    def flush(self) -> int:
        """Write the tasks ``enqueue_soon`` took and not written yet (its thread does so
        within ``batch_window_seconds``); returns how many were scheduled."""
        return self._soon.flush()

    def _write_batch(self, batch: Sequence[SoonTask]) -> int:
        """One transaction giving each task, in order, what ``enqueue`` would have: its first
        name neither in the table nor given to an earlier task of the batch (none when every
        name is taken). A round tries the current name of every task that no earlier task may
        still want (the usual batch, names all distinct, is one round); a name tried is taken
        after the round either way. Returns how many tasks were scheduled."""
        scheduled = 0
        taken: set[str] = set()
        waiting = [(position, task, 0) for position, task in enumerate(batch)]
        with self._session(write=True) as db:
            while waiting:
                trying: list[tuple[int, SoonTask, int]] = []
                later: list[tuple[int, SoonTask, int]] = []
                wanted: set[str] = set()  # names an earlier task of this round may still get
                for position, task, index in waiting:
                    while index < len(task.names) and task.names[index] in taken:
                        index += 1
                    if index == len(task.names):
                        continue  # every name taken: nothing scheduled
                    if task.names[index] in wanted:
                        later.append((position, task, index))
                    else:
                        trying.append((position, task, index))
                    wanted.update(task.names[index:])
                inserted = self._insert_rows(db, [(task, index) for _, task, index in trying])
                for position, task, index in trying:
                    taken.add(task.names[index])
                    if task.names[index] in inserted:
                        scheduled += 1
                    else:
                        later.append((position, task, index + 1))
                waiting = sorted(later, key=lambda item: item[0])
        return scheduled

    def _insert_rows(
        self, db: sqlite3.Connection, rows: Sequence[tuple[SoonTask, int]]
    ) -> set[str]:
        """Insert each ``(task, name index)``, a name in use skipped; the names inserted."""
        inserted: set[str] = set()
        pending = iter(rows)
        while chunk := list(islice(pending, _BATCH_ROWS)):
            values: list[object] = []
            for task, index in chunk:
                values += (
                    self._ids.new("task"),
                    task.names[index],
                    task.kind,
                    task.body,
                    TaskStatus.PENDING,
                    self._max_attempts,
                    task.at,
                    task.at,
                    task.at,
                )
            statement = (
                f"{_INSERT}{', '.join([_ROW] * len(chunk))} "
                "ON CONFLICT (name) DO NOTHING RETURNING name"
            )
            inserted.update(name for (name,) in db.execute(statement, values))
        return inserted

    # -- running tasks ----------------------------------------------------------------------
    def run_due(self, *, limit: int = 100) -> int:
        """Run up to ``limit`` due tasks in this thread (periodic ones enqueued first);
        returns how many ran. Tasks ``enqueue_soon`` took are written first."""
        self.flush()
        self._schedule_periodic()
        ran = 0
        while ran < limit and self._run_next():
            ran += 1
        return ran

    def start(self) -> None:
        """Start the worker thread (no-op if it is running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        if self._db is None:
            raise _ClosedError("the task queue is closed")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._work, name="tether-local-tasks", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> bool:
        """Stop the worker after its current task; ``False`` if it is still busy after
        ``timeout`` seconds (its task's lease then lets a later worker run it again)."""
        thread = self._thread
        if thread is None:
            return True
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            _log.warning("local task worker still busy after %.1fs; leaving it", timeout)
            return False
        self._thread = None
        return True

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self._schedule_periodic()
                if self._run_next():
                    continue
                delay = self._idle_delay()
            except _ClosedError:
                return
            except (BackendUnavailable, sqlite3.Error):
                _log.exception("local task worker: database error; retrying")
                delay = self._poll
            if self._stopping.is_set():
                return
            self._wake.wait(delay)

    def _idle_delay(self) -> float:
        """Seconds until the next task may become due, capped at the poll interval."""
        with self._session(write=False) as db:
            (next_due,) = db.execute(
                "SELECT MIN(CASE status WHEN 'pending' THEN run_at ELSE locked_until END) "
                "FROM tasks WHERE status IN ('pending', 'running')"
            ).fetchone()
        if next_due is None:
            return self._poll
        wait = (from_db(next_due) - self._clock.now()).total_seconds()
        return min(self._poll, max(wait, 0.001))

    def _schedule_periodic(self) -> None:
        """Enqueue each periodic task of the current period, once per period and process
        (cheap to call on every turn of the worker: one dictionary look-up per schedule)."""
        now = self._clock.now()
        for schedule in self._periodic:
            start = schedule.period_start(now)
            if self._scheduled.get(schedule.kind) == start:
                continue
            self.enqueue(schedule.kind, {}, name=schedule.task_name(start), run_at=start)
            self._scheduled[schedule.kind] = start

    def _run_next(self) -> bool:
        claim = self._claim()
        if claim is None:
            return False
        try:
            # Secrets a handler registers for log redaction are dropped with its task.
            with secret_scope():
                self._handler(claim.kind, json.loads(claim.payload))
        except TetherError as exc:
            self._settle_failure(claim, _describe(exc), retry=exc.retryable)
        except Exception as exc:  # noqa: BLE001 - a queue records whatever its handler raises
            self._settle_failure(claim, _describe(exc), retry=True)
        else:
            self._settle(claim, TaskStatus.DONE, run_at=None, error=None)
        return True

    def _claim(self) -> _Claim | None:
        now = to_db(self._clock.now())
        with self._session(write=True) as db:
            # A lease that ran out on the last allowed attempt: the worker died on it.
            db.execute(
                "UPDATE tasks SET status = ?, locked_until = NULL, updated_at = ?, "
                "last_error = ? WHERE status = ? AND locked_until <= ? "
                "AND attempts >= max_attempts",
                (TaskStatus.DEAD, now, _LEASE_LOST, TaskStatus.RUNNING, now),
            )
            row = db.execute(
                "SELECT id, kind, payload, attempts, max_attempts FROM tasks "
                "WHERE (status = 'pending' AND run_at <= ?) "
                "OR (status = 'running' AND locked_until <= ?) "
                "ORDER BY run_at, rowid LIMIT 1",
                (now, now),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE tasks SET status = ?, attempts = attempts + 1, locked_until = ?, "
                "updated_at = ? WHERE id = ?",
                (TaskStatus.RUNNING, now + self._lease_us, now, row["id"]),
            )
        return _Claim(
            row["id"], row["kind"], row["payload"], row["attempts"] + 1, row["max_attempts"]
        )

    def _settle_failure(self, claim: _Claim, error: str, *, retry: bool) -> None:
        if not retry:
            status, run_at = TaskStatus.FAILED, None
        elif claim.attempts >= claim.max_attempts:
            status, run_at = TaskStatus.DEAD, None
        else:
            delay = backoff_delay(
                claim.attempts,
                min_seconds=self._min_backoff,
                max_seconds=self._max_backoff,
                jitter=self._jitter,
                rng=self._rng,
            )
            status, run_at = TaskStatus.PENDING, self._clock.now() + timedelta(seconds=delay)
        _log.warning(
            "task %s (%s) attempt %d/%d failed with %s: now %s",
            claim.id,
            claim.kind,
            claim.attempts,
            claim.max_attempts,
            error,
            status,
        )
        self._settle(claim, status, run_at=run_at, error=error)

    def _settle(
        self, claim: _Claim, status: TaskStatus, *, run_at: datetime | None, error: str | None
    ) -> None:
        """Record an attempt's outcome, unless the lease was lost and the task re-claimed
        meanwhile (``attempts`` fences stale outcomes)."""
        with self._session(write=True) as db:
            cursor = db.execute(
                "UPDATE tasks SET status = ?, run_at = COALESCE(?, run_at), "
                "locked_until = NULL, updated_at = ?, last_error = COALESCE(?, last_error) "
                "WHERE id = ? AND status = ? AND attempts = ?",
                (
                    status,
                    None if run_at is None else to_db(run_at),
                    to_db(self._clock.now()),
                    error,
                    claim.id,
                    TaskStatus.RUNNING,
                    claim.attempts,
                ),
            )
        if cursor.rowcount == 0:
            _log.warning("task %s finished after its lease ran out; outcome dropped", claim.id)

    # -- inspection -------------------------------------------------------------------------
    def get(self, task_id_or_name: str) -> TaskRecord | None:
        with self._session(write=False) as db:
            row = db.execute(
                "SELECT * FROM tasks WHERE id = :key OR name = :key "
                "ORDER BY id = :key DESC LIMIT 1",  # the id wins over a look-alike name
                {"key": task_id_or_name},
            ).fetchone()
        return None if row is None else record(row)

    def list_tasks(
        self, *, status: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Newest first, optionally filtered by status and kind."""
        if status is not None and status not in set(TaskStatus):
            raise InvalidRequest(f"unknown task status; use one of {', '.join(TaskStatus)}")
        if not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be between 1 and 1000")
        with self._session(write=False) as db:
            rows = db.execute(
                "SELECT * FROM tasks WHERE (:status IS NULL OR status = :status) "
                "AND (:kind IS NULL OR kind = :kind) "
                "ORDER BY created_at DESC, rowid DESC LIMIT :limit",
                {"status": status, "kind": kind, "limit": limit},
            ).fetchall()
        return [record(row) for row in rows]

    def replay(self, task_id_or_name: str) -> bool:
        """Run a failed or dead task again now, with a fresh attempt budget. ``False`` if
        unknown or not failed/dead. (``last_error`` always holds the latest failure, also on
        a task that later succeeded.)"""
        now = to_db(self._clock.now())
        with self._session(write=True) as db:
            cursor = db.execute(
                "UPDATE tasks SET status = :pending, attempts = 0, run_at = :now, "
                "locked_until = NULL, updated_at = :now "
                "WHERE id = (SELECT id FROM tasks WHERE id = :key OR name = :key "
                "ORDER BY id = :key DESC LIMIT 1) AND status IN ('failed', 'dead')",
                {"pending": TaskStatus.PENDING, "now": now, "key": task_id_or_name},
            )
            replayed = cursor.rowcount == 1
        if replayed:
            self._wake.set()
        return replayed

    def stats(self) -> dict[str, int]:
        """Task counts by status, every status present."""
        counts = dict.fromkeys(TaskStatus, 0)
        with self._session(write=False) as db:
            for status, count in db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status"):
                counts[TaskStatus(status)] = count
        return {str(status): count for status, count in counts.items()}

    def purge_finished(self, older_than: datetime) -> int:
        """Delete done, failed and dead tasks last updated before ``older_than``; their names
        become free again. Returns how many were deleted."""
        require_aware(older_than, "older_than")
        with self._session(write=True) as db:
            cursor = db.execute(
                "DELETE FROM tasks WHERE status IN ('done', 'failed', 'dead') AND updated_at < ?",
                (to_db(older_than),),
            )
            return cursor.rowcount

    # -- lifecycle --------------------------------------------------------------------------
    def close(self, *, timeout: float = 5.0) -> None:
        """Stop the worker, write the tasks ``enqueue_soon`` took, close the database.
        Idempotent."""
        self.stop(timeout=timeout)
        self._stopping.set()
        self._soon.close(timeout)
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> LocalTaskQueue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
