"""The embedded queue's ``enqueue_soon``: tasks taken in memory, written in batches by a thread
of the queue (real SQLite file, real threads, bounded waits)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.support.concurrency import wait_until
from tether.adapters.local_tasks import LocalTaskQueue
from tether.adapters.local_tasks.batched_enqueues import BatchedEnqueues, SoonTask
from tether.domain.errors import BackendUnavailable, InvalidRequest

HOUR = 3600.0  # a batch window no test waits out: only flush, run_due or close write


class Handler:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((kind, payload))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tasks.db"


@pytest.fixture
def open_queue(db_path: Path) -> Iterator[Callable[..., LocalTaskQueue]]:
    queues: list[LocalTaskQueue] = []

    def _open(handler: Any = None, **options: Any) -> LocalTaskQueue:
        queue = LocalTaskQueue(db_path, handler or Handler(), **options)
        queues.append(queue)
        return queue

    yield _open
    for queue in queues:
        queue.close()


def statements_of(queue: LocalTaskQueue, action: Callable[[], object]) -> list[str]:
    """The SQL the queue's connection ran during ``action``."""
    seen: list[str] = []
    db = queue._db
    assert db is not None
    db.set_trace_callback(seen.append)
    try:
        action()
    finally:
        db.set_trace_callback(None)
    return seen


def test_the_queue_thread_writes_a_task_within_its_window(open_queue):
    queue = open_queue(batch_window_seconds=0.01)
    queue.enqueue_soon("deliver", {"n": 1}, names=("soon-1",))

    assert wait_until(lambda: queue.get("soon-1") is not None, timeout=3.0)
    record = queue.get("soon-1")
    assert record is not None and (record.kind, record.status) == ("deliver", "pending")
    assert record.payload == {"n": 1}


def test_a_batch_is_one_transaction_of_a_statement_per_hundred_tasks(open_queue):
    queue = open_queue(batch_window_seconds=HOUR)
    for n in range(250):
        queue.enqueue_soon("deliver", {"n": n}, names=(f"t{n}",))
    assert queue.stats()["pending"] == 0  # nothing written before the batch

    written: list[int] = []
    sql = statements_of(queue, lambda: written.append(queue.flush()))

    assert written == [250] and queue.stats()["pending"] == 250
    assert [statement.split()[0] for statement in sql] == [
        "BEGIN",
        "INSERT",
        "INSERT",
        "INSERT",
        "COMMIT",
    ]
    handler = Handler()
    runner = open_queue(handler)
    assert runner.run_due(limit=1000) == 250
    assert [payload["n"] for _, payload in handler.calls] == list(range(250))  # in order


def test_each_task_gets_its_first_free_name_in_the_order_taken(open_queue):
    queue = open_queue(batch_window_seconds=HOUR)
    assert queue.enqueue("deliver", {"v": 0}, name="a") is True
    queue.enqueue_soon("deliver", {"v": 1}, names=("a", "b"))  # a taken: b
    queue.enqueue_soon("deliver", {"v": 2}, names=("b", "c"))  # b taken by the one before: c
    queue.enqueue_soon("deliver", {"v": 3}, names=("a", "b", "c"))  # all taken: nothing
    queue.enqueue_soon("deliver", {"v": 4}, names=("d",))
    queue.enqueue_soon("deliver", {"v": 5}, names=("d", "e"))  # d taken in the same batch

    assert queue.flush() == 4

    names = {name: queue.get(name) for name in "abcde"}
    assert {name: record.payload["v"] for name, record in names.items() if record} == {
        "a": 0,
        "b": 1,
        "c": 2,
        "d": 4,
        "e": 5,
    }


def test_run_due_writes_what_was_taken_before_running(open_queue):
    handler = Handler()
    queue = open_queue(handler, batch_window_seconds=HOUR)
    queue.enqueue_soon("sync", {"id": "x"}, names=("s-1",))

    assert queue.run_due() == 1
    assert handler.calls == [("sync", {"id": "x"})]


def test_close_writes_what_is_left_and_the_next_process_runs_it(open_queue):
    first = open_queue(batch_window_seconds=HOUR)
    first.enqueue_soon("sync", {"id": "kept"}, names=("kept",))
    first.close()

    handler = Handler()
    second = open_queue(handler)
    assert second.run_due() == 1
    assert handler.calls == [("sync", {"id": "kept"})]


def test_a_batch_that_cannot_be_written_is_kept_and_written_on_the_next_turn(
    open_queue, db_path, caplog
):
    queue = open_queue(
        batch_window_seconds=0.01, poll_interval_seconds=0.02, busy_timeout_seconds=0.05
    )
    blocker = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    with closing(blocker):
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the file
        queue_short = open_queue(batch_window_seconds=HOUR, busy_timeout_seconds=0.05)
        queue_short.enqueue_soon("sync", {"n": 1}, names=("blocked-1",))
        with pytest.raises(BackendUnavailable):
            queue_short.flush()
        queue.enqueue_soon("sync", {"n": 2}, names=("blocked-2",))  # its thread retries
        time.sleep(0.2)
        blocker.execute("ROLLBACK")

    assert queue_short.flush() == 1
    assert wait_until(lambda: queue.get("blocked-2") is not None, timeout=3.0)
    assert queue.get("blocked-1") is not None
    # the thread's failed turns were logged, without the payload
    failures = [r for r in caplog.records if "could not be written yet" in r.getMessage()]
    assert failures and all('"n"' not in r.getMessage() for r in failures)


def test_a_full_buffer_refuses_more_and_loses_none_it_took(open_queue):
    queue = open_queue(batch_window_seconds=HOUR, batch_limit=3)
    for n in range(3):
        queue.enqueue_soon("sync", {"n": n}, names=(f"f{n}",))
    with pytest.raises(BackendUnavailable) as full:
        queue.enqueue_soon("sync", {"n": 3}, names=("f3",))
    assert full.value.retryable

    assert queue.flush() == 3
    queue.enqueue_soon("sync", {"n": 3}, names=("f3",))  # room again
    assert queue.flush() == 1


@pytest.mark.parametrize(
    ("kind", "payload", "names"),
    [
        ("sync", {"x": object()}, ("n",)),
        ("sync", {"x": float("nan")}, ("n",)),
        ("", {}, ("n",)),
        ("sync", {}, ()),
        ("sync", {}, ("ok", "")),
        ("sync", {}, ("x" * 501,)),
    ],
)
def test_bad_input_is_refused_at_the_call_with_nothing_taken(open_queue, kind, payload, names):
    queue = open_queue(batch_window_seconds=HOUR)
    with pytest.raises(InvalidRequest):
        queue.enqueue_soon(kind, payload, names=names)
    assert queue.flush() == 0


def test_a_closed_queue_refuses(open_queue):
    queue = open_queue(batch_window_seconds=HOUR)
    queue.close()
    with pytest.raises(BackendUnavailable):
        queue.enqueue_soon("sync", {}, names=("late",))


def test_the_batch_thread_survives_any_failure_and_backs_off(caplog):
    """A write that raises anything (here a bug's RuntimeError) keeps the batch, in order; the
    thread tries again after the retry interval, doubling, and writes it once it can."""
    written: list[list[str]] = []
    failures = [RuntimeError("boom"), RuntimeError("boom again")]
    attempts: list[float] = []

    def write(batch: Sequence[SoonTask]) -> int:
        attempts.append(time.monotonic())
        if failures:
            raise failures.pop(0)
        written.append([task.body for task in batch])
        return len(batch)

    buffer = BatchedEnqueues(write, lambda: None, window_seconds=0.0, retry_seconds=0.05)
    try:
        buffer.add(SoonTask("sync", "1", ("a",), 0))
        buffer.add(SoonTask("sync", "2", ("b",), 0))
        assert wait_until(lambda: bool(written), timeout=3.0)
        buffer.add(SoonTask("sync", "3", ("c",), 0))
        assert wait_until(lambda: len(written) == 2, timeout=3.0)
    finally:
        buffer.close(timeout=1.0)

    assert [body for batch in written for body in batch] == ["1", "2", "3"]
    assert len(attempts) >= 4
    assert attempts[2] - attempts[1] >= 2 * 0.05 * 0.9  # the second wait doubled the first
    logged = [r.getMessage() for r in caplog.records if "not be written yet" in r.getMessage()]
    assert [message.rsplit("(", 1)[1] for message in logged] == ["attempt 1)", "attempt 2)"]
