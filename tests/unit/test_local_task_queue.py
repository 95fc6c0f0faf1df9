"""The embedded task queue: deterministic with a FixedClock and ``run_due``, plus a few
bounded real-time checks of the worker thread."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.concurrency import wait_until
from tether.adapters.local_tasks import LocalTaskQueue, Periodic, TaskStatus, backoff_delay
from tether.domain.clock import FixedClock, SystemClock
from tether.domain.errors import (
    BackendUnavailable,
    ConfigurationError,
    InvalidRequest,
    NotFound,
)


class Crash(BaseException):
    """Stands in for the process dying mid-task: nothing below the handler catches it."""


class Handler:
    """Records calls; raises the scripted errors first, one per call."""

    def __init__(self, *failures: BaseException) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures = list(failures)
        self._lock = threading.Lock()

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((kind, payload))
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


class AlwaysFails:
    def __init__(self, make_error: Callable[[], Exception]) -> None:
        self.make_error = make_error
        self.calls = 0

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.calls += 1
        raise self.make_error()


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "tasks.db"


@pytest.fixture
def open_queue(db_path, clock):
    """Opens queues on one file (FixedClock, no jitter by default); closes them all after."""
    queues: list[LocalTaskQueue] = []

    def _open(handler: Any, **options: Any) -> LocalTaskQueue:
        options.setdefault("clock", clock)
        options.setdefault("jitter", False)
        queue = LocalTaskQueue(db_path, handler, **options)
        queues.append(queue)
        return queue

    yield _open
    for queue in queues:
        queue.close()


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible jitter, not a secret


# -- backoff policy ---------------------------------------------------------------------------
def test_backoff_doubles_from_the_minimum_up_to_the_cap():
    delays = [
        backoff_delay(attempt, min_seconds=1.0, max_seconds=30.0, jitter=False)
        for attempt in range(1, 8)
    ]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_survives_absurd_attempt_numbers():
    assert backoff_delay(10_000, min_seconds=1.0, max_seconds=600.0, jitter=False) == 600.0


def test_full_jitter_stays_within_the_cap_and_is_reproducible():
    first = [
        backoff_delay(4, min_seconds=1.0, max_seconds=60.0, jitter=True, rng=seeded(7))
        for _ in range(3)
    ]
    rng = seeded(42)
    many = [
        backoff_delay(4, min_seconds=1.0, max_seconds=60.0, jitter=True, rng=rng)
        for _ in range(200)
    ]
    assert len(set(first)) == 1
    assert all(0.0 <= delay <= 8.0 for delay in many)
    assert len(set(many)) > 100


@pytest.mark.parametrize(("attempt", "low", "high"), [(0, 1.0, 2.0), (1, -1.0, 2.0), (1, 3.0, 2.0)])
def test_backoff_rejects_nonsense(attempt, low, high):
    with pytest.raises(ValueError, match=r"attempt|bounds"):
        backoff_delay(attempt, min_seconds=low, max_seconds=high, jitter=False)


# -- retries, failure, dead letter -------------------------------------------------------------
def test_retryable_failures_back_off_exponentially(open_queue, clock):
    handler = AlwaysFails(lambda: BackendUnavailable("provider down"))
    queue = open_queue(handler, min_backoff_seconds=1.0, max_backoff_seconds=10.0)
    queue.enqueue("refresh", {"id": "con_1"}, name="refresh-con_1")

    waits = []
    for _ in range(5):
        before = clock.now()
        assert queue.run_due() == 1
        task = queue.get("refresh-con_1")
        waits.append((task.run_at - before).total_seconds())
        clock.advance(waits[-1] - 0.001)
        assert queue.run_due() == 0, "ran before its backoff elapsed"
        clock.advance(0.001)

    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert task.status == TaskStatus.PENDING
    assert task.attempts == 5
    assert task.last_error == "BACKEND_UNAVAILABLE: provider down"


def test_a_task_is_dead_lettered_after_max_attempts(open_queue, clock):
    handler = AlwaysFails(lambda: BackendUnavailable("down"))
    queue = open_queue(handler, max_attempts=3, min_backoff_seconds=0, max_backoff_seconds=0)
    queue.enqueue("deliver", {"n": 1}, name="d1")

    assert queue.run_due(limit=10) == 3

    task = queue.get("d1")
    assert (task.status, task.attempts, task.max_attempts) == ("dead", 3, 3)
    clock.advance(3600)
    assert queue.run_due() == 0
    assert handler.calls == 3


def test_a_permanent_error_fails_the_task_without_retry(open_queue, clock):
    handler = AlwaysFails(lambda: NotFound("the connection was deleted"))
    queue = open_queue(handler)
    queue.enqueue("sync", {"id": "con_9"}, name="s1")

    assert queue.run_due() == 1
    clock.advance(3600)
    assert queue.run_due() == 0

    task = queue.get("s1")
    assert (task.status, task.attempts) == ("failed", 1)
    assert task.last_error == "NOT_FOUND: the connection was deleted"


def test_the_text_of_an_unexpected_exception_is_never_stored_or_logged(open_queue, caplog):
    queue = open_queue(AlwaysFails(lambda: RuntimeError("sk_live_secret")))
    queue.enqueue("sync", {"id": "con_1"}, name="leaky")

    with caplog.at_level("DEBUG"):
        queue.run_due()

    assert queue.get("leaky").last_error == "RuntimeError"
    assert "sk_live_secret" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_replay_runs_a_failed_or_dead_task_again_with_fresh_attempts(open_queue, clock):
    handler = Handler(InvalidRequest("bad config"))
    queue = open_queue(handler)
    queue.enqueue("sync", {"id": "con_1"}, name="s1")
    queue.run_due()
    assert queue.get("s1").status == "failed"
    clock.advance(60)

    assert queue.replay("s1") is True
    task = queue.get(queue.get("s1").id)  # by id as well as by name
    assert (task.status, task.attempts, task.run_at) == ("pending", 0, clock.now())
    assert queue.run_due() == 1
    assert queue.get("s1").status == "done"
    assert queue.replay("s1") is False, "a done task is not replayed"
    assert queue.replay("nope") is False


# -- durability and leases --------------------------------------------------------------------
def test_pending_tasks_survive_a_restart(open_queue, clock):
    first = open_queue(Handler())
    first.enqueue(
        "refresh", {"id": "con_1"}, name="later", run_at=clock.now() + timedelta(minutes=1)
    )
    first.close()

    handler = Handler()
    second = open_queue(handler)
    assert second.get("later").status == "pending"
    assert second.enqueue("refresh", {"id": "other"}, name="later") is False
    clock.advance(60)
    assert second.run_due() == 1
    assert handler.calls == [("refresh", {"id": "con_1"})]


def test_a_task_left_running_by_a_crash_is_claimed_again_after_its_lease(open_queue, clock):
    crashed = open_queue(Handler(Crash()), lease_seconds=60)
    crashed.enqueue("sync", {"id": "con_1"}, name="s1")
    with pytest.raises(Crash):
        crashed.run_due()
    crashed.close()

    handler = Handler()
    restarted = open_queue(handler, lease_seconds=60)
    assert restarted.get("s1").status == "running"
    clock.advance(59)
    assert restarted.run_due() == 0, "the lease still holds"
    clock.advance(1)
    assert restarted.run_due() == 1

    task = restarted.get("s1")
    assert (task.status, task.attempts) == ("done", 2)
    assert handler.calls == [("sync", {"id": "con_1"})]


def test_a_crash_on_the_last_attempt_dead_letters_the_task(open_queue, clock):
    crashed = open_queue(Handler(Crash()), max_attempts=1, lease_seconds=60)
    crashed.enqueue("sync", {}, name="s1")
    with pytest.raises(Crash):
        crashed.run_due()

    clock.advance(61)
    assert crashed.run_due() == 0

    task = crashed.get("s1")
    assert (task.status, task.attempts) == ("dead", 1)
    assert task.last_error.startswith("LEASE_EXPIRED")


def test_an_outcome_after_a_lost_lease_does_not_overwrite_the_new_run(open_queue, clock):
    second_handler = Handler()
    second = open_queue(second_handler, lease_seconds=10)

    def slow_then_fail(kind: str, payload: dict[str, Any]) -> None:
        clock.advance(11)  # the lease runs out while this attempt is still busy
        assert second.run_due() == 1
        raise BackendUnavailable("too late")

    first = open_queue(slow_then_fail, lease_seconds=10)
    first.enqueue("sync", {}, name="s1")
    assert first.run_due() == 1

    task = first.get("s1")
    assert (task.status, task.attempts, task.last_error) == ("done", 2, None)


def test_two_queues_on_one_file_never_run_a_task_twice(open_queue):
    handler = Handler()
    queues = [open_queue(handler), open_queue(handler)]
    for n in range(100):
        queues[0].enqueue("sync", {"n": n})

    with ThreadPoolExecutor(max_workers=2) as pool:
        ran = sum(pool.map(lambda queue: queue.run_due(limit=1000), queues))

    assert ran == 100
    assert sorted(payload["n"] for _, payload in handler.calls) == list(range(100))


# -- concurrency --------------------------------------------------------------------------------
def test_concurrent_enqueues_are_each_stored_exactly_once(open_queue):
    queue = open_queue(Handler())
    start = threading.Barrier(8)

    def enqueue_many(thread: int) -> list[bool]:
        start.wait()
        return [
            queue.enqueue("sync", {"t": thread, "i": i}, name=f"t{thread}-{i}") for i in range(50)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [created for batch in pool.map(enqueue_many, range(8)) for created in batch]

    assert all(results)
    names = [task.name for task in queue.list_tasks(limit=1000)]
    assert len(names) == len(set(names)) == 400
    assert queue.stats()["pending"] == 400


def test_racing_enqueues_of_the_same_names_create_each_once(open_queue):
    queue = open_queue(Handler())
    start = threading.Barrier(8)

    def enqueue_shared(_: int) -> int:
        start.wait()
        return sum(queue.enqueue("sync", {"i": i}, name=f"shared-{i}") for i in range(50))

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = sum(pool.map(enqueue_shared, range(8)))

    assert created == 50
    assert queue.stats()["pending"] == 50


# -- the worker thread (real time, bounded waits) ---------------------------------------------
def test_the_worker_wakes_on_enqueue_and_stops_promptly(open_queue):
    handler = Handler()
    # A long poll interval: only the wake-ups can make this test fast.
    queue = open_queue(handler, clock=SystemClock(), poll_interval_seconds=30.0)
    queue.start()
    queue.start()  # idempotent
    assert queue.running

    queue.enqueue("sync", {"n": 1}, name="now")
    queue.enqueue("sync", {"n": 2}, name="soon", run_at=datetime.now(UTC) + timedelta(seconds=0.2))

    assert wait_until(lambda: len(handler.calls) == 2, timeout=1.5)
    assert [payload["n"] for _, payload in handler.calls] == [1, 2]
    began = time.monotonic()
    assert queue.stop(timeout=1.0) is True
    assert time.monotonic() - began < 0.5
    assert not queue.running
    assert queue.stats()["done"] == 2


def test_the_worker_retries_with_real_backoff(open_queue):
    handler = Handler(BackendUnavailable("blip"), ValueError("oops"))
    queue = open_queue(
        handler,
        clock=SystemClock(),
        jitter=True,
        min_backoff_seconds=0.01,
        max_backoff_seconds=0.05,
        poll_interval_seconds=0.02,
    )
    queue.start()
    queue.enqueue("sync", {}, name="flaky")

    assert wait_until(lambda: queue.get("flaky").status == "done", timeout=1.5)
    assert (queue.get("flaky").attempts, len(handler.calls)) == (3, 3)


# -- inspection and housekeeping ---------------------------------------------------------------
def test_list_stats_and_purge(open_queue, clock):
    queue = open_queue(Handler(InvalidRequest("no")))
    queue.enqueue("sync", {}, name="a")  # will fail
    queue.run_due()
    queue.enqueue("refresh", {}, name="b")  # will succeed
    queue.run_due()
    queue.enqueue("refresh", {}, name="c", run_at=clock.now() + timedelta(hours=1))

    assert queue.stats() == {"pending": 1, "running": 0, "done": 1, "failed": 1, "dead": 0}
    assert [t.name for t in queue.list_tasks()] == ["c", "b", "a"]
    assert [t.name for t in queue.list_tasks(kind="refresh")] == ["c", "b"]
    assert [t.name for t in queue.list_tasks(status="failed")] == ["a"]
    assert queue.list_tasks(status="done", kind="sync") == []
    assert queue.get("zzz") is None
    with pytest.raises(InvalidRequest):
        queue.list_tasks(status="bogus")

    assert queue.purge_finished(clock.now()) == 0, "strictly older than"
    clock.advance(1)
    assert queue.purge_finished(clock.now()) == 2
    assert queue.stats()["pending"] == 1
    assert queue.enqueue("sync", {}, name="a") is True, "a purged name is free again"


def test_records_carry_what_was_stored(open_queue, clock):
    queue = open_queue(Handler())
    run_at = clock.now() + timedelta(minutes=5)
    queue.enqueue("deliver", {"event": "evt_1", "n": [1, 2]}, name="d", run_at=run_at)

    task = queue.get("d")
    assert task.id.startswith("task_")
    assert (task.name, task.kind, task.payload) == ("d", "deliver", {"event": "evt_1", "n": [1, 2]})
    assert (task.status, task.attempts, task.max_attempts) == ("pending", 0, 8)
    assert (task.run_at, task.created_at, task.updated_at) == (run_at, clock.now(), clock.now())
    assert task.last_error is None
    assert "evt_1" not in repr(task), "payloads stay out of reprs and logs"


@pytest.mark.parametrize(
    ("kind", "payload", "options"),
    [
        ("sync", {"at": datetime(2026, 1, 1, tzinfo=UTC)}, {}),
        ("sync", {"x": float("nan")}, {}),
        ("sync", {}, {"run_at": datetime(2026, 1, 1)}),  # naive
        ("", {}, {}),
        ("sync", {}, {"name": ""}),
    ],
)
def test_enqueue_refuses_bad_input(open_queue, kind, payload, options):
    queue = open_queue(Handler())
    with pytest.raises(InvalidRequest):
        queue.enqueue(kind, payload, **options)
    assert queue.stats()["pending"] == 0


# -- schema and lifecycle --------------------------------------------------------------------
def test_the_file_is_wal_and_versioned(open_queue, db_path):
    open_queue(Handler()).close()
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (2,)


def test_a_file_from_newer_code_is_refused(open_queue, db_path):
    open_queue(Handler()).close()
    with closing(sqlite3.connect(db_path)) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigurationError):
        LocalTaskQueue(db_path, Handler())


def test_close_is_idempotent_and_final(open_queue):
    queue = open_queue(Handler())
    queue.start()
    queue.close()
    queue.close()
    assert not queue.running
    with pytest.raises(RuntimeError, match="closed"):
        queue.enqueue("sync", {})


# -- periodic tasks (the embedded stand-in for Cloud Scheduler) -------------------------------
HOURLY = Periodic("housekeeping", timedelta(hours=1))


def test_a_periodic_task_runs_once_per_period_and_restarts_do_not_pile_it_up(open_queue, clock):
    handler = Handler()
    queue = open_queue(handler, periodic=[HOURLY])
    clock.advance(5 * 60)  # 12:05

    assert queue.run_due() == 1
    assert handler.calls == [("housekeeping", {})]
    task = queue.get("housekeeping-20260301T120000Z")
    assert task is not None and task.status == "done"
    assert task.run_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC), "due when its period began"

    clock.advance(50 * 60)  # 12:55: same period, also for a restarted process on the file
    assert queue.run_due() == 0
    queue.close()
    assert open_queue(handler, periodic=[HOURLY]).run_due() == 0

    clock.advance(10 * 60)  # 13:05: the next period
    assert open_queue(handler, periodic=[HOURLY]).run_due() == 1
    assert [t.name for t in open_queue(handler).list_tasks(kind="housekeeping")] == [
        "housekeeping-20260301T130000Z",
        "housekeeping-20260301T120000Z",
    ]


def test_a_periodic_task_that_fails_is_retried_like_any_other(open_queue, clock):
    handler = Handler(BackendUnavailable("store busy"))
    queue = open_queue(handler, periodic=[HOURLY], min_backoff_seconds=1)
    assert queue.run_due() == 1
    clock.advance(2)
    assert queue.run_due() == 1
    assert queue.get("housekeeping-20260301T120000Z").status == "done"
    assert len(handler.calls) == 2


def test_the_worker_enqueues_periodic_tasks_by_itself(open_queue):
    handler = Handler()
    queue = open_queue(handler, clock=SystemClock(), periodic=[HOURLY], poll_interval_seconds=0.02)
    queue.start()
    assert wait_until(lambda: handler.calls == [("housekeeping", {})])
    queue.stop()
    assert [t.kind for t in queue.list_tasks()] == ["housekeeping"]


@pytest.mark.parametrize("every", [timedelta(0), timedelta(milliseconds=500)])
def test_a_periodic_task_needs_a_period_of_a_second_or_more(open_queue, every):
    with pytest.raises(ConfigurationError):
        open_queue(Handler(), periodic=[Periodic("housekeeping", every)])


def test_hourly_housekeeping_keeps_the_queue_bounded(open_queue, clock, db_path):
    """Three days of ten tasks an hour, with a housekeeping task purging what finished more
    than a day ago: the table holds about a day of tasks, not three, and the file stops
    growing once freed pages are reused."""
    retention = timedelta(days=1)
    queues: list[LocalTaskQueue] = []

    def handler(kind: str, payload: dict[str, Any]) -> None:
        if kind == "housekeeping":
            queues[0].purge_finished(clock.now() - retention)

    queue = open_queue(handler, periodic=[HOURLY])
    queues.append(queue)
    sizes = []
    for hour in range(72):
        for n in range(10):
            queue.enqueue("deliver", {"event": "x" * 400}, name=f"deliver-{hour}-{n}")
        queue.run_due()
        clock.advance(3600)
        if hour % 24 == 23:
            sizes.append(db_path.stat().st_size + (db_path.with_suffix(".db-wal").stat().st_size))
    total = sum(queue.stats().values())
    assert total <= 25 * 11, total  # a day and an hour of 10 deliveries + 1 housekeeping
    assert queue.get("deliver-0-0") is None and queue.get("deliver-71-9") is not None
    assert sizes[2] <= sizes[1] * 1.1, sizes
