"""The contract every TaskQueue backend passes.

Backends run in real time (a cloud queue cannot be given a fake clock), so delays here are
short real ones and waits are bounded. A backend plugs in through ``_BACKENDS``: a function
that builds the queue around ``harness.handle`` and attaches it with how to shut it down.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.recording_queue import RecordingQueue
from tether.adapters.cloud_tasks import CloudTasksQueue
from tether.adapters.cloud_tasks.client import cloud_tasks_client
from tether.adapters.local_tasks import LocalTaskQueue
from tether.domain.errors import BackendUnavailable, InvalidRequest
from tether.ports import TaskQueue


@dataclass(frozen=True)
class Call:
    kind: str
    payload: dict[str, Any]
    at: datetime
    ok: bool


class QueueHarness:
    """Owns the handler a backend calls; records every call and fails on request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._failures: dict[str, list[Exception]] = {}
        self.queue: TaskQueue
        # How long to keep watching before concluding that something did *not* happen.
        self.settle_seconds = 0.3
        self._shutdown: Callable[[], None] = lambda: None

    def attach(self, queue: TaskQueue, shutdown: Callable[[], None]) -> None:
        self.queue = queue
        self._shutdown = shutdown

    def handle(self, kind: str, payload: dict[str, Any]) -> None:
        with self._cond:
            scripted = self._failures.get(kind)
            failure = scripted.pop(0) if scripted else None
            self._calls.append(Call(kind, payload, datetime.now(UTC), ok=failure is None))
            self._cond.notify_all()
        if failure is not None:
            raise failure

    def fail_next(self, kind: str, *errors: Exception) -> None:
        """The next calls for ``kind`` raise ``errors``, in order."""
        with self._cond:
            self._failures.setdefault(kind, []).extend(errors)

    def calls(self, kind: str | None = None) -> list[Call]:
        with self._cond:
            return [call for call in self._calls if kind is None or call.kind == kind]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (re-checked on each handler call); ``False`` on
        timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def settle(self) -> None:
        time.sleep(self.settle_seconds)

    def close(self) -> None:
        self._shutdown()


def _local(harness: QueueHarness, tmp_path: Path) -> None:
    queue = LocalTaskQueue(
        tmp_path / "tasks.db",
        harness.handle,
        min_backoff_seconds=0.02,
        max_backoff_seconds=0.1,
        poll_interval_seconds=0.05,
    )
    harness.attach(queue, queue.close)
    queue.start()


def _cloud_tasks(harness: QueueHarness, tmp_path: Path, emulator: Any) -> None:
    """Cloud Tasks on the emulator, dispatching over real HTTP to a loopback server that does
    what the `tasks` function does: verify the OIDC token, run the task, answer 200 or 503."""
    from flask import Flask, Response, request
    from werkzeug.serving import make_server

    from tether.api.task_auth import OidcTaskCallerVerifier
    from tether.api.tasks import execute

    service_account = "tether-tasks@contract.iam.gserviceaccount.com"
    app = Flask("contract-tasks")

    @app.post("/tasks/<kind>")
    def run(kind: str) -> Response:
        verifier.verify(request.headers.get("Authorization"))
        return execute(harness.handle, kind, request.get_json())

    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}/tasks"
    verifier = OidcTaskCallerVerifier(
        jwks_url=emulator.jwks_url, audience=url, service_account=service_account
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = cloud_tasks_client(emulator.address)
    queue = CloudTasksQueue(
        client,
        project=f"contract-{uuid.uuid4().hex[:8]}",
        location="us-central1",
        queue_for=lambda kind: f"tether-{kind}",
        tasks_url=url,
        service_account=service_account,
    )
    queue.ensure_queues(
        [f"tether-{kind}" for kind in ("sync", "refresh", "deliver", "flaky", "bad")],
        min_backoff_seconds=0.02,
    )

    def shutdown() -> None:
        server.shutdown()
        server.server_close()
        client.transport.close()

    harness.attach(queue, shutdown)


def _recording(harness: QueueHarness, tmp_path: Path) -> None:
    """The unit tests' fake, with a thread that runs what is due the way a worker would."""
    queue = RecordingQueue()
    stop = threading.Event()

    def work() -> None:
        while not stop.wait(0.01):
            queue.run_due(harness.handle, now=datetime.now(UTC))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()

    def shutdown() -> None:
        stop.set()
        worker.join(timeout=2)

    harness.attach(queue, shutdown)


_BACKENDS: dict[str, Callable[[QueueHarness, Path], None]] = {
    "local": _local,
    "recording": _recording,
}
_EMULATED: dict[str, Callable[[QueueHarness, Path, Any], None]] = {"cloud_tasks": _cloud_tasks}


@pytest.fixture(params=sorted([*_BACKENDS, *_EMULATED]))
def queue_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueHarness]:
    harness = QueueHarness()
    if request.param in _EMULATED:
        emulator = request.getfixturevalue("cloud_tasks_emulator")
        _EMULATED[request.param](harness, tmp_path, emulator)
    else:
        _BACKENDS[request.param](harness, tmp_path)
    try:
        yield harness
    finally:
        harness.close()


def test_backend_is_a_task_queue(queue_harness):
    assert isinstance(queue_harness.queue, TaskQueue)


def test_enqueue_runs_the_handler_with_kind_and_payload(queue_harness):
    payload = {"connection_id": "con_1", "pages": [1, 2], "nested": {"ok": True}}

    assert queue_harness.queue.enqueue("sync", payload) is True

    assert queue_harness.wait_for(lambda: len(queue_harness.calls()) == 1, timeout=2.0)
    (call,) = queue_harness.calls()
    assert (call.kind, call.payload) == ("sync", payload)


def test_a_name_used_twice_schedules_once(queue_harness):
    queue = queue_harness.queue

    assert queue.enqueue("refresh", {"v": 1}, name="refresh-con_1") is True
    assert queue.enqueue("refresh", {"v": 2}, name="refresh-con_1") is False

    assert queue_harness.wait_for(lambda: len(queue_harness.calls()) == 1, timeout=2.0)
    queue_harness.settle()
    assert [call.payload for call in queue_harness.calls()] == [{"v": 1}]


def test_a_future_task_runs_at_its_time_not_before(queue_harness):
    run_at = datetime.now(UTC) + timedelta(seconds=0.6)

    assert queue_harness.queue.enqueue("deliver", {"n": 1}, run_at=run_at) is True

    assert not queue_harness.wait_for(lambda: bool(queue_harness.calls()), timeout=0.4)
    assert queue_harness.wait_for(lambda: bool(queue_harness.calls()), timeout=1.5)
    assert queue_harness.calls()[0].at >= run_at


def test_a_retryable_failure_is_retried_until_it_succeeds(queue_harness):
    queue_harness.fail_next("flaky", BackendUnavailable("provider down"), RuntimeError("boom"))

    queue_harness.queue.enqueue("flaky", {"id": "x"})

    assert queue_harness.wait_for(
        lambda: any(call.ok for call in queue_harness.calls("flaky")), timeout=2.0
    )
    calls = queue_harness.calls("flaky")
    assert [call.ok for call in calls] == [False, False, True]
    assert all(call.payload == {"id": "x"} for call in calls)


def test_a_permanent_failure_is_not_retried(queue_harness):
    queue_harness.fail_next("bad", InvalidRequest("the connection no longer exists"))

    queue_harness.queue.enqueue("bad", {"id": "y"})

    assert queue_harness.wait_for(lambda: len(queue_harness.calls("bad")) == 1, timeout=2.0)
    queue_harness.settle()
    assert len(queue_harness.calls("bad")) == 1


def test_a_payload_that_is_not_json_is_refused(queue_harness):
    with pytest.raises(InvalidRequest):
        queue_harness.queue.enqueue("sync", {"when": object()})


def test_enqueue_soon_runs_the_task_under_its_first_free_name(queue_harness):
    """``enqueue_soon`` schedules as ``enqueue`` does, perhaps a moment later: under the first
    name of ``names`` not used yet, and not at all when every one is."""
    queue = queue_harness.queue
    assert queue.enqueue("refresh", {"v": 0}, name="soon-a") is True

    queue.enqueue_soon("refresh", {"v": 1}, names=("soon-a", "soon-b"))
    queue.enqueue_soon("refresh", {"v": 2}, names=("soon-a", "soon-b"))  # both taken
    queue.enqueue_soon("sync", {"v": 3}, names=("soon-c",))

    assert queue_harness.wait_for(lambda: len(queue_harness.calls()) == 3, timeout=3.0)
    queue_harness.settle()
    assert sorted((call.kind, call.payload["v"]) for call in queue_harness.calls()) == [
        ("refresh", 0),
        ("refresh", 1),
        ("sync", 3),
    ]
    assert queue.enqueue("refresh", {"v": 4}, name="soon-b") is False
    assert queue.enqueue("sync", {"v": 5}, name="soon-c") is False


@pytest.mark.parametrize(
    ("payload", "names"),
    [({"when": object()}, ("soon-x",)), ({"ok": True}, ())],
    ids=["not-json", "no-name"],
)
def test_enqueue_soon_refuses_bad_input_at_the_call(queue_harness, payload, names):
    with pytest.raises(InvalidRequest):
        queue_harness.queue.enqueue_soon("sync", payload, names=names)
    queue_harness.settle()
    assert queue_harness.calls() == []
