"""The Cloud Tasks emulator, driven by the real ``CloudTasksClient`` over loopback gRPC, with a
real HTTP server on loopback as the tasks' target."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, field_mask_pb2

from tests.fixtures.cloud_tasks import CloudTasksEndpoint
from tests.support.module_process import module_process
from tether_emulators.cloud_tasks_oidc import subject_for

SERVICE_ACCOUNT = "tasks-invoker@demo-project.iam.gserviceaccount.com"
WAIT = 3.0  # upper bound for anything that should happen "soon"; tests normally take far less


# --- a recording HTTP target ---------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: Message
    body: bytes
    at: float


class Target:
    """Records every request; answers with the next of ``statuses``, then ``200``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self._cond = threading.Condition()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with target._cond:
                    status = target.statuses.pop(0) if target.statuses else 200
                    target.requests.append(
                        Received(self.command, self.path, self.headers, body, time.time())
                    )
                    target._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            assert len(self.requests) >= count, f"{len(self.requests)} requests, wanted {count}"
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


def poll(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def gone(client: tasks_v2.CloudTasksClient, name: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            client.get_task(name=name)
        except exceptions.NotFound:
            return True
        return False

    return check


def seconds(value: float) -> duration_pb2.Duration:
    whole = int(value)
    return duration_pb2.Duration(seconds=whole, nanos=round((value - whole) * 1e9))


def fast_retries(max_attempts: int = 3) -> tasks_v2.RetryConfig:
    return tasks_v2.RetryConfig(
        max_attempts=max_attempts, min_backoff=seconds(0.05), max_backoff=seconds(0.2)
    )


def make_queue(
    client: tasks_v2.CloudTasksClient,
    location: str,
    queue_id: str = "work",
    retry: tasks_v2.RetryConfig | None = None,
) -> str:
    queue = tasks_v2.Queue(name=f"{location}/queues/{queue_id}", retry_config=retry)
    return client.create_queue(parent=location, queue=queue).name


def http_task(url: str, **fields: object) -> tasks_v2.Task:
    name = fields.pop("name", "")
    schedule_time = fields.pop("schedule_time", None)
    return tasks_v2.Task(
        name=name,
        schedule_time=schedule_time,
        http_request=tasks_v2.HttpRequest(url=url, **fields),
    )


# --- queues --------------------------------------------------------------------------------


def test_queue_lifecycle(cloud_tasks_client, cloud_tasks_location):
    client, location = cloud_tasks_client, cloud_tasks_location
    created = client.create_queue(
        parent=location,
        queue=tasks_v2.Queue(
            name=f"{location}/queues/alpha",
            retry_config=tasks_v2.RetryConfig(max_attempts=5, min_backoff=seconds(1)),
            rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=10),
        ),
    )
    assert created.state == tasks_v2.Queue.State.RUNNING
    assert created.retry_config.max_attempts == 5
    assert created.retry_config.min_backoff == timedelta(seconds=1)
    # What was left unspecified gets the documented defaults.
    assert created.retry_config.max_backoff == timedelta(seconds=3600)
    assert created.retry_config.max_doublings == 16
    assert created.rate_limits.max_dispatches_per_second == 10
    assert created.rate_limits.max_concurrent_dispatches == 1000

    with pytest.raises(exceptions.AlreadyExists):
        client.create_queue(parent=location, queue=tasks_v2.Queue(name=created.name))

    assert client.get_queue(name=created.name) == created
    make_queue(client, location, "beta")
    assert [q.name.rsplit("/", 1)[1] for q in client.list_queues(parent=location)] == [
        "alpha",
        "beta",
    ]
    first_page = client.list_queues(
        request=tasks_v2.ListQueuesRequest(parent=location, page_size=1)
    )
    assert len(first_page.queues) == 1 and first_page.next_page_token

    updated = client.update_queue(
        queue=tasks_v2.Queue(name=created.name, retry_config=tasks_v2.RetryConfig(max_attempts=9)),
        update_mask=field_mask_pb2.FieldMask(paths=["retry_config.max_attempts"]),
    )
    assert updated.retry_config.max_attempts == 9
    assert updated.retry_config.min_backoff == timedelta(seconds=1)  # outside the mask: kept
    assert updated.rate_limits.max_dispatches_per_second == 10

    assert client.pause_queue(name=created.name).state == tasks_v2.Queue.State.PAUSED
    paused = client.list_queues(request={"parent": location, "filter": "state: PAUSED"})
    assert [q.name for q in paused] == [created.name]
    assert client.resume_queue(name=created.name).state == tasks_v2.Queue.State.RUNNING
    purged = client.purge_queue(name=created.name)
    assert purged.purge_time is not None

    client.delete_queue(name=created.name)
    with pytest.raises(exceptions.NotFound):
        client.get_queue(name=created.name)
    assert [q.name.rsplit("/", 1)[1] for q in client.list_queues(parent=location)] == ["beta"]


def test_missing_queue_is_not_found(cloud_tasks_client, cloud_tasks_location, target):
    client, missing = cloud_tasks_client, f"{cloud_tasks_location}/queues/nope"
    for call in (
        client.get_queue,
        client.delete_queue,
        client.pause_queue,
        client.resume_queue,
        client.purge_queue,
    ):
        with pytest.raises(exceptions.NotFound):
            call(name=missing)
    with pytest.raises(exceptions.NotFound):
        client.list_tasks(parent=missing)
    with pytest.raises(exceptions.NotFound):
        client.create_task(parent=missing, task=http_task(target.url))
    with pytest.raises(exceptions.NotFound):
        client.delete_task(name=f"{missing}/tasks/t1")


def test_invalid_arguments_are_refused(cloud_tasks_client, cloud_tasks_location, target):
    client, location = cloud_tasks_client, cloud_tasks_location
    queue = make_queue(client, location)
    other = make_queue(client, location, "other")
    for bad_queue in (f"{location}/queues/has_underscore", "projects/p/locations/l/queues/q"):
        with pytest.raises(exceptions.InvalidArgument):
            client.create_queue(parent=location, queue=tasks_v2.Queue(name=bad_queue))
    with pytest.raises(exceptions.InvalidArgument):
        client.create_queue(
            parent=location,
            queue=tasks_v2.Queue(
                name=f"{location}/queues/backwards",
                retry_config=tasks_v2.RetryConfig(min_backoff=seconds(9), max_backoff=seconds(1)),
            ),
        )

    bad_tasks = [
        http_task(target.url, name=f"{queue}/tasks/white space"),
        http_task(target.url, name=f"{queue}/tasks/" + "x" * 501),
        http_task(target.url, name=f"{other}/tasks/elsewhere"),  # not the parent queue
        http_task(target.url, name="tasks/short"),
        http_task("ftp://127.0.0.1/file"),
        http_task(target.url, http_method=tasks_v2.HttpMethod.GET, body=b"no body on GET"),
        http_task(target.url, oauth_token=tasks_v2.OAuthToken(service_account_email="a@b.c")),
        http_task(target.url, schedule_time=datetime.now(UTC) + timedelta(days=31)),
        tasks_v2.Task(app_engine_http_request=tasks_v2.AppEngineHttpRequest(relative_uri="/x")),
        tasks_v2.Task(),
    ]
    for task in bad_tasks:
        with pytest.raises(exceptions.InvalidArgument):
            client.create_task(parent=queue, task=task)
    with pytest.raises(exceptions.InvalidArgument):
        client.get_task(name=f"{queue}/tasks/bad!id")
    assert list(client.list_tasks(parent=queue)) == []
    time.sleep(0.05)
    assert target.requests == []


# --- dispatch ------------------------------------------------------------------------------


def test_task_is_posted_with_cloud_tasks_headers(cloud_tasks_client, cloud_tasks_location, target):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location, "mail")
    before = time.time()
    task = client.create_task(
        parent=queue,
        task=http_task(
            f"{target.url}/run?job=1",
            name=f"{queue}/tasks/send-1",
            headers={"Content-Type": "application/json", "X-Custom": "yes", "User-Agent": "me"},
            body=b'{"hello": "world"}',
        ),
    )
    assert task.name == f"{queue}/tasks/send-1"
    assert task.view == tasks_v2.Task.View.BASIC and task.http_request.body == b""
    assert task.http_request.http_method == tasks_v2.HttpMethod.POST
    assert task.dispatch_deadline == timedelta(minutes=10)

    (request,) = target.wait_for(1)
    assert (request.method, request.path) == ("POST", "/run?job=1")
    assert request.body == b'{"hello": "world"}'
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Custom"] == "yes"
    assert headers["User-Agent"] == "Google-Cloud-Tasks"
    assert headers["X-CloudTasks-QueueName"] == "mail"
    assert headers["X-CloudTasks-TaskName"] == "send-1"
    assert headers["X-CloudTasks-TaskRetryCount"] == "0"
    assert headers["X-CloudTasks-TaskExecutionCount"] == "0"
    assert before - 1 <= float(headers["X-CloudTasks-TaskETA"]) <= request.at
    assert "Authorization" not in headers
    poll(gone(client, task.name))  # a 2xx completes the task


def test_generated_names_methods_and_default_content_type(
    cloud_tasks_client, cloud_tasks_location, target
):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location)
    put = client.create_task(
        parent=queue,
        task=http_task(f"{target.url}/put", http_method=tasks_v2.HttpMethod.PUT, body=b"\x00\x01"),
    )
    assert put.name.startswith(f"{queue}/tasks/") and put.name.rsplit("/", 1)[1].isdigit()
    (request,) = target.wait_for(1)
    assert (request.method, request.body) == ("PUT", b"\x00\x01")
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert request.headers["X-CloudTasks-TaskName"] == put.name.rsplit("/", 1)[1]

    client.create_task(
        parent=queue, task=http_task(f"{target.url}/get", http_method=tasks_v2.HttpMethod.GET)
    )
    requests = target.wait_for(2)
    assert (requests[1].method, requests[1].path, requests[1].body) == ("GET", "/get", b"")


def test_named_task_is_deduplicated_while_pending_and_after_completion(
    cloud_tasks_client, cloud_tasks_location, target
):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location)
    client.pause_queue(name=queue)
    name = f"{queue}/tasks/once"
    client.create_task(parent=queue, task=http_task(target.url, name=name))
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=queue, task=http_task(target.url, name=name))

    client.resume_queue(name=queue)
    target.wait_for(1)
    poll(gone(client, name))
    with pytest.raises(exceptions.AlreadyExists):  # the name is remembered after completion
        client.create_task(parent=queue, task=http_task(target.url, name=name))

    client.pause_queue(name=queue)
    deleted = f"{queue}/tasks/deleted"
    client.create_task(parent=queue, task=http_task(target.url, name=deleted))
    client.delete_task(name=deleted)
    with pytest.raises(exceptions.AlreadyExists):  # ... and after deletion
        client.create_task(parent=queue, task=http_task(target.url, name=deleted))
    assert len(target.requests) == 1


def test_future_schedule_time_is_not_dispatched_early(
    cloud_tasks_client, cloud_tasks_location, target
):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location)
    eta = datetime.now(UTC) + timedelta(seconds=0.5)
    task = client.create_task(parent=queue, task=http_task(target.url, schedule_time=eta))
    assert task.schedule_time == eta
    time.sleep(0.2)
    assert target.requests == []
    assert client.get_task(name=task.name).dispatch_count == 0

    (request,) = target.wait_for(1)
    assert request.at >= eta.timestamp()
    eta_header = float(request.headers["X-CloudTasks-TaskETA"])
    assert eta_header == pytest.approx(eta.timestamp(), abs=1e-3)


def test_failures_are_retried_with_backoff_until_max_attempts(
    cloud_tasks_client, cloud_tasks_location, target
):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location, retry=fast_retries(max_attempts=3))
    target.statuses = [500] * 10
    task = client.create_task(parent=queue, task=http_task(target.url, body=b"x"))

    requests = target.wait_for(3)
    headers = [r.headers for r in requests]
    assert [h["X-CloudTasks-TaskRetryCount"] for h in headers] == ["0", "1", "2"]
    assert [h["X-CloudTasks-TaskExecutionCount"] for h in headers] == ["0", "1", "2"]
    assert [h["X-CloudTasks-TaskPreviousResponse"] for h in headers] == [None, "500", "500"]
    # min_backoff 0.05 s, doubling: the second retry waits about twice as long as the first.
    first_gap = requests[1].at - requests[0].at
    second_gap = requests[2].at - requests[1].at
    assert first_gap >= 0.045 and second_gap >= 0.095

    poll(gone(client, task.name))  # deleted after its last attempt
    time.sleep(0.25)  # longer than max_backoff: no fourth attempt comes
    assert len(target.requests) == 3


def test_attempts_are_recorded_and_a_later_success_completes(
    cloud_tasks_client, cloud_tasks_location, target
):
    client = cloud_tasks_client
    retry = tasks_v2.RetryConfig(max_attempts=5, min_backoff=seconds(0.3), max_backoff=seconds(0.3))
    queue = make_queue(client, cloud_tasks_location, retry=retry)
    target.statuses = [503]
    task = client.create_task(parent=queue, task=http_task(target.url))

    target.wait_for(1)
    poll(lambda: client.get_task(name=task.name).response_count == 1)
    failed = client.get_task(name=task.name)
    assert failed.dispatch_count == 1
    assert failed.first_attempt.dispatch_time is not None
    assert failed.last_attempt.response_status.code == 14  # UNAVAILABLE, from HTTP 503
    assert failed.schedule_time > failed.last_attempt.dispatch_time  # pushed back by the backoff

    requests = target.wait_for(2)
    assert requests[1].headers["X-CloudTasks-TaskRetryCount"] == "1"
    poll(gone(client, task.name))


def test_unreachable_target_counts_as_a_failed_attempt(cloud_tasks_client, cloud_tasks_location):
    client = cloud_tasks_client
    retry = tasks_v2.RetryConfig(max_attempts=2, min_backoff=seconds(0.2), max_backoff=seconds(0.2))
    queue = make_queue(client, cloud_tasks_location, retry=retry)
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}/"
    closed.server_close()  # nothing listens there any more
    task = client.create_task(parent=queue, task=http_task(url))

    poll(lambda: client.get_task(name=task.name).last_attempt.response_time is not None)
    failed = client.get_task(name=task.name)
    assert (failed.dispatch_count, failed.response_count) == (1, 0)
    assert failed.last_attempt.response_status.code == 14  # UNAVAILABLE: no response at all
    poll(gone(client, task.name))  # the second attempt fails too, and that was the last


def test_paused_queue_holds_tasks_until_resumed(cloud_tasks_client, cloud_tasks_location, target):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location)
    client.pause_queue(name=queue)
    task = client.create_task(parent=queue, task=http_task(target.url))
    time.sleep(0.15)
    assert target.requests == []
    assert client.get_task(name=task.name).dispatch_count == 0

    client.resume_queue(name=queue)
    target.wait_for(1)
    poll(gone(client, task.name))


def test_deleted_task_is_never_dispatched(cloud_tasks_client, cloud_tasks_location, target):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location)
    eta = datetime.now(UTC) + timedelta(seconds=0.3)
    task = client.create_task(parent=queue, task=http_task(target.url, schedule_time=eta))
    client.delete_task(name=task.name)
    with pytest.raises(exceptions.NotFound):
        client.delete_task(name=task.name)
    time.sleep(0.4)
    assert target.requests == []


def test_run_task_dispatches_now_even_when_paused(cloud_tasks_client, cloud_tasks_location, target):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location)
    client.pause_queue(name=queue)
    eta = datetime.now(UTC) + timedelta(days=1)
    task = client.create_task(parent=queue, task=http_task(target.url, schedule_time=eta))
    ran = client.run_task(name=task.name)
    assert ran.dispatch_count == 1 and ran.last_attempt.dispatch_time is not None
    target.wait_for(1)
    poll(gone(client, task.name))
    with pytest.raises(exceptions.NotFound):
        client.run_task(name=task.name)


def test_list_tasks_pages_and_views(cloud_tasks_client, cloud_tasks_location, target):
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location)
    client.pause_queue(name=queue)
    for n in range(3):
        client.create_task(
            parent=queue, task=http_task(target.url, name=f"{queue}/tasks/t{n}", body=b"secret")
        )
    page = client.list_tasks(request=tasks_v2.ListTasksRequest(parent=queue, page_size=2))
    assert [t.name.rsplit("/", 1)[1] for t in page.tasks] == ["t0", "t1"]
    rest = client.list_tasks(
        request=tasks_v2.ListTasksRequest(parent=queue, page_token=page.next_page_token)
    )
    assert [t.name.rsplit("/", 1)[1] for t in rest.tasks] == ["t2"] and not rest.next_page_token
    assert len(list(client.list_tasks(parent=queue))) == 3  # the pager follows the tokens

    assert client.get_task(name=f"{queue}/tasks/t0").http_request.body == b""
    full = client.get_task(
        request=tasks_v2.GetTaskRequest(
            name=f"{queue}/tasks/t0", response_view=tasks_v2.Task.View.FULL
        )
    )
    assert full.view == tasks_v2.Task.View.FULL and full.http_request.body == b"secret"

    client.purge_queue(name=queue)
    assert list(client.list_tasks(parent=queue)) == []
    with pytest.raises(exceptions.AlreadyExists):  # purged names are remembered too
        client.create_task(parent=queue, task=http_task(target.url, name=f"{queue}/tasks/t0"))


# --- OIDC ----------------------------------------------------------------------------------


def test_oidc_token_verifies_against_the_emulator_jwks(
    cloud_tasks_client, cloud_tasks_location, cloud_tasks_emulator: CloudTasksEndpoint, target
):
    if not cloud_tasks_emulator.jwks_url:
        pytest.skip("CLOUD_TASKS_EMULATOR_JWKS_URL is not set for the external emulator")
    client = cloud_tasks_client
    queue = make_queue(client, cloud_tasks_location)
    oidc = tasks_v2.OidcToken(service_account_email=SERVICE_ACCOUNT, audience="https://tether")
    client.create_task(
        parent=queue,
        task=http_task(
            f"{target.url}/tasks",
            oidc_token=oidc,
            headers={"Authorization": "Bearer replaced-by-the-oidc-token"},
        ),
    )
    default_audience = f"{target.url}/default?x=1"
    client.create_task(
        parent=queue,
        task=http_task(
            default_audience,
            oidc_token=tasks_v2.OidcToken(service_account_email=SERVICE_ACCOUNT),
        ),
    )
    requests = sorted(target.wait_for(2), key=lambda r: r.path != "/tasks")

    keys = jwt.PyJWKClient(cloud_tasks_emulator.jwks_url)
    audiences = []
    for request in requests:
        scheme, token = request.headers["Authorization"].split(" ", 1)
        assert scheme == "Bearer"
        signing_key = keys.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=jwt.decode(token, options={"verify_signature": False})["aud"],
            issuer=cloud_tasks_emulator.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "email"]},
        )
        assert claims["iss"] == "https://accounts.google.com"
        assert claims["email"] == SERVICE_ACCOUNT and claims["email_verified"] is True
        assert claims["sub"] == claims["azp"] == subject_for(SERVICE_ACCOUNT)
        assert claims["sub"].isdigit() and len(claims["sub"]) == 21
        assert claims["exp"] - claims["iat"] == 3600
        assert jwt.get_unverified_header(token)["kid"] == signing_key.key_id
        audiences.append(claims["aud"])
    assert audiences == ["https://tether", default_audience]

    token = requests[0].headers["Authorization"].split(" ", 1)[1]
    key = keys.get_signing_key_from_jwt(token).key
    with pytest.raises(jwt.InvalidAudienceError):  # the audience is really checked
        jwt.decode(token, key, algorithms=["RS256"], audience="https://someone-else")


# --- the process ---------------------------------------------------------------------------


def test_stats_count_calls_dispatches_and_retries(
    cloud_tasks_client, cloud_tasks_location, cloud_tasks_emulator: CloudTasksEndpoint, target
):
    emulator = cloud_tasks_emulator.emulator
    if emulator is None:
        pytest.skip("stats are only visible for the in-process emulator")
    before = emulator.stats
    queue = make_queue(cloud_tasks_client, cloud_tasks_location, retry=fast_retries(2))
    target.statuses = [500]
    task = cloud_tasks_client.create_task(parent=queue, task=http_task(target.url))
    target.wait_for(2)
    poll(gone(cloud_tasks_client, task.name))
    after = emulator.stats

    def delta(key: str) -> int:
        return after.get(key, 0) - before.get(key, 0)

    assert delta("calls.CreateQueue") == 1 and delta("calls.CreateTask") == 1
    assert delta("dispatches") >= 2 and delta("retries") >= 1 and delta("completed") >= 1


def test_command_line_prints_exports_and_stops_on_sigterm():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with module_process(
        "tether_emulators.cloud_tasks", "--port", "0", stderr=subprocess.DEVNULL, env=env
    ) as process:
        assert process.stdout is not None
        host_line = process.stdout.readline().strip()
        jwks_line = process.stdout.readline().strip()
        assert host_line.startswith("export CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:")
        assert jwks_line.startswith("export CLOUD_TASKS_EMULATOR_JWKS_URL=http://127.0.0.1:")
        assert jwks_line.endswith("/oauth2/v3/certs")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
