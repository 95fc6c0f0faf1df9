"""A Cloud Tasks v2 emulator: the real ``google.cloud.tasks.v2.CloudTasks`` gRPC API, in memory,
dispatching HTTP tasks for real.

Google ships no Cloud Tasks emulator. This one is built from the request and response types of
the ``google-cloud-tasks`` package, so the unmodified ``CloudTasksClient`` talks to it over an
insecure channel (see ``tether.adapters.cloud_tasks.client``). Run it in the foreground with::

    python -m tether_emulators.cloud_tasks --host 127.0.0.1 --port 8123 [--http-port N]

or in-process with :class:`CloudTasksEmulator` (``start()`` / ``stop()``).

What it implements, with the documented semantics of the real service:

- queues: ``CreateQueue``, ``GetQueue``, ``ListQueues`` (paging, ``state:`` filter),
  ``UpdateQueue`` (with or without ``update_mask``; creates a missing queue, as the real one
  does), ``DeleteQueue``, ``PurgeQueue``, ``PauseQueue``, ``ResumeQueue``. ``retry_config``
  and ``rate_limits`` get the documented defaults for what is left unspecified (max_attempts
  100, min_backoff 0.1 s, max_backoff 3600 s, max_doublings 16; 500 dispatches/s, 1000
  concurrent) and are enforced: a token bucket per queue and a cap on concurrent dispatches;
- tasks: ``CreateTask`` (HTTP targets; optional name, validated; names of existing, completed,
  deleted or purged tasks are refused with ALREADY_EXISTS for ``tombstone_seconds``, 24 h by
  default; ``schedule_time`` at most 30 days ahead; ``dispatch_deadline`` in [15 s, 30 min],
  10 min by default), ``GetTask``, ``ListTasks`` (paging), ``DeleteTask``, ``RunTask``
  (dispatches at once, even on a paused queue). ``BASIC`` views (the default) leave out the
  request body, ``FULL`` ones include it. A task-level ``retry_config`` overrides the queue's;
- dispatch: a scheduler thread hands due tasks to a small pool of worker threads, which send
  the task's method, headers and body to its URL with the headers Cloud Tasks adds
  (``X-CloudTasks-QueueName``, ``-TaskName``, ``-TaskRetryCount``, ``-TaskExecutionCount``,
  ``-TaskETA``, ``-TaskPreviousResponse``, ``User-Agent: Google-Cloud-Tasks``, a default
  ``Content-Type: application/octet-stream``). A 2xx completes the task; anything else, a
  network error or the dispatch deadline passing is retried with the queue's backoff
  (``min_backoff`` doubling ``max_doublings`` times, then growing linearly, capped at
  ``max_backoff``) until ``max_attempts`` and ``max_retry_duration`` are both spent, and then
  the task is deleted. ``dispatch_count``, ``response_count``, ``first_attempt`` and
  ``last_attempt`` (with the response status) are kept up to date;
- OIDC: a task with ``oidc_token`` is sent with ``Authorization: Bearer <ID token>``, an RS256
  JWT with Google's claims (``iss`` ``https://accounts.google.com``, ``aud`` = the audience or
  the task URL, ``email``, ``email_verified``, ``sub``, ``azp``, one-hour ``exp``), signed by a
  key each emulator generates for itself, whose JWKS is served at ``http://host:http_port/oauth2/v3/certs``
  (see :mod:`tether_emulators.cloud_tasks_oidc`). A verifier that accepts Google's tokens
  accepts these once pointed at that JWKS URL.

What it does not implement: App Engine tasks and queue-level ``http_target`` overrides
(refused: INVALID_ARGUMENT and UNIMPLEMENTED), ``oauth_token`` (refused with
INVALID_ARGUMENT: the emulator cannot mint Google access tokens; use ``oidc_token``), the
batch and CMEK methods, IAM and locations (UNIMPLEMENTED), persistence (state lives in
memory), the 7-day wait before a deleted queue's name can be reused, system throttling
(``Retry-After``, 429/503 backoff), and redirects (a 3xx counts as a failed attempt). Backoffs
are not truncated to whole seconds as the real service does, so tests can use short ones.
Requests go straight to the target with ``http.client``, ignoring proxy settings, as the real
service would; ``dispatch_deadline`` bounds each socket operation rather than the whole
exchange.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.client
import logging
import math
import queue as queue_module
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import tasks_v2
from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    timestamp_pb2,
)
from google.rpc import status_pb2  # type: ignore[import-untyped, unused-ignore]

from tether_emulators.cloud_tasks_oidc import JwksServer, OidcSigner, connectable_host
from tether_emulators.foreground import stop_signals
from tether_emulators.grpc_service import Method, RpcError, serve

__all__ = ["SERVICE_NAME", "CloudTasksEmulator", "main"]

log = logging.getLogger("tether_emulators.cloud_tasks")

SERVICE_NAME = "google.cloud.tasks.v2.CloudTasks"

# Documented defaults and limits of Cloud Tasks v2.
DEFAULT_MAX_ATTEMPTS = 100
DEFAULT_MIN_BACKOFF = 0.1
DEFAULT_MAX_BACKOFF = 3600.0
DEFAULT_MAX_DOUBLINGS = 16
DEFAULT_MAX_DISPATCHES_PER_SECOND = 500.0
MAX_DISPATCHES_PER_SECOND = 500.0
DEFAULT_MAX_CONCURRENT_DISPATCHES = 1000
MAX_CONCURRENT_DISPATCHES = 5000
MAX_BURST_SIZE = 100
DEFAULT_DISPATCH_DEADLINE = 600.0
MIN_DISPATCH_DEADLINE = 15.0
MAX_DISPATCH_DEADLINE = 1800.0
MAX_SCHEDULE_AHEAD = 30 * 24 * 3600.0
MAX_URL_LENGTH = 2083
MAX_HEADERS_BYTES = 80 * 1024
MAX_TASK_BYTES = 1024 * 1024
MAX_PAGE_SIZE = 1000
DEFAULT_TOMBSTONE_SECONDS = 24 * 3600.0
USER_AGENT = "Google-Cloud-Tasks"

_PROJECT = r"[A-Za-z0-9][A-Za-z0-9\-:.]*"
_LOCATION = r"[A-Za-z0-9][A-Za-z0-9\-]*"
_PARENT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}")
_QUEUE_RE = re.compile(
    rf"(?P<parent>{_PARENT_RE.pattern})/queues/(?P<queue>[A-Za-z0-9\-]{{1,100}})"
)
_TASK_RE = re.compile(
    rf"(?P<queue_name>{_QUEUE_RE.pattern})/tasks/(?P<task>[A-Za-z0-9_\-]{{1,500}})"
)
_STATE_FILTER_RE = re.compile(r"\s*state\s*[:=]\s*(?P<state>[A-Z_]+)\s*")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Headers Cloud Tasks computes itself or keeps for Google: whatever the task says is dropped.
_REPLACED_HEADERS = frozenset({"host", "content-length", "user-agent", "connection"})
_RESERVED_HEADER_PREFIXES = ("x-google-", "x-appengine-", "x-cloudtasks-")
_UPDATABLE_QUEUE_FIELDS = (
    "retry_config",
    "rate_limits",
    "stackdriver_logging_config",
    "app_engine_routing_override",
    "http_target",
)

# (Called, not just read: proto-plus enum members look like plain ints to a type checker.)
_RUNNING = tasks_v2.Queue.State(tasks_v2.Queue.State.RUNNING)
_PAUSED = tasks_v2.Queue.State(tasks_v2.Queue.State.PAUSED)
_FULL = tasks_v2.Task.View(tasks_v2.Task.View.FULL)
_BASIC = tasks_v2.Task.View(tasks_v2.Task.View.BASIC)

_INVALID = grpc.StatusCode.INVALID_ARGUMENT
_NOT_FOUND = grpc.StatusCode.NOT_FOUND
_EXISTS = grpc.StatusCode.ALREADY_EXISTS
_UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED


class _EmptyType:
    """``google.protobuf.Empty`` with the ``serialize``/``deserialize`` pair of proto-plus
    types, which is what :func:`tether_emulators.grpc_service.serve` calls."""

    @staticmethod
    def serialize(message: Any) -> bytes:
        data: bytes = message.SerializeToString()
        return data

    @staticmethod
    def deserialize(data: bytes) -> Any:
        return empty_pb2.Empty.FromString(data)


# --- small helpers -------------------------------------------------------------------------


def _raw(message: Any) -> Any:
    """The protobuf message under a proto-plus one (shared, not a copy)."""
    return type(message).pb(message)


def _copy_task(task: tasks_v2.Task) -> tasks_v2.Task:
    copied: tasks_v2.Task = tasks_v2.Task.deserialize(tasks_v2.Task.serialize(task))
    return copied


def _copy_queue(queue: tasks_v2.Queue) -> tasks_v2.Queue:
    copied: tasks_v2.Queue = tasks_v2.Queue.deserialize(tasks_v2.Queue.serialize(queue))
    return copied


def _timestamp(seconds: float) -> Any:
    micros = round(seconds * 1_000_000)
    whole, rest = divmod(micros, 1_000_000)
    return timestamp_pb2.Timestamp(seconds=whole, nanos=rest * 1000)


def _duration_seconds(message: Any, name: str) -> float | None:
    """The seconds in duration (or timestamp) field ``name`` of proto-plus ``message``, or
    ``None`` when unset."""
    raw = _raw(message)
    if not raw.HasField(name):
        return None
    value = getattr(raw, name)
    return float(value.seconds) + float(value.nanos) / 1e9


def _duration(seconds: float) -> Any:
    micros = round(seconds * 1_000_000)
    whole, rest = divmod(micros, 1_000_000)
    return duration_pb2.Duration(seconds=whole, nanos=rest * 1000)


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise RpcError(_INVALID, "invalid page_token") from None


def _page_size(requested: int) -> int:
    if requested < 0:
        raise RpcError(_INVALID, "page_size must not be negative")
    return min(requested or MAX_PAGE_SIZE, MAX_PAGE_SIZE)


def _http_status_code(status: int) -> grpc.StatusCode:
    """How a worker's HTTP status reads as a ``google.rpc.Code`` in ``Attempt.response_status``."""
    if 200 <= status < 300:
        return grpc.StatusCode.OK
    known = {
        400: grpc.StatusCode.INVALID_ARGUMENT,
        401: grpc.StatusCode.UNAUTHENTICATED,
        403: grpc.StatusCode.PERMISSION_DENIED,
        404: grpc.StatusCode.NOT_FOUND,
        409: grpc.StatusCode.ABORTED,
        412: grpc.StatusCode.FAILED_PRECONDITION,
        429: grpc.StatusCode.RESOURCE_EXHAUSTED,
        499: grpc.StatusCode.CANCELLED,
        501: grpc.StatusCode.UNIMPLEMENTED,
        503: grpc.StatusCode.UNAVAILABLE,
        504: grpc.StatusCode.DEADLINE_EXCEEDED,
    }
    if status in known:
        return known[status]
    if 400 <= status < 500:
        return grpc.StatusCode.FAILED_PRECONDITION
    if 500 <= status < 600:
        return grpc.StatusCode.INTERNAL
    return grpc.StatusCode.UNKNOWN


def _rpc_status(code: grpc.StatusCode, message: str) -> Any:
    return status_pb2.Status(code=int(code.value[0]), message=message)


# --- retry and rate settings ---------------------------------------------------------------


@dataclass(frozen=True)
class _Retry:
    max_attempts: int
    min_backoff: float
    max_backoff: float
    max_doublings: int
    max_retry_duration: float

    def backoff(self, attempts: int) -> float:
        """The wait before retrying after ``attempts`` attempts (>= 1): ``min_backoff``
        doubled ``max_doublings`` times, then growing by that last step, capped at
        ``max_backoff`` (10 s, 300 s, 3 doublings: 10, 20, 40, 80, 160, 240, 300, 300...)."""
        retry = max(attempts, 1)
        doublings = min(self.max_doublings, 62)
        if retry - 1 <= doublings:
            interval = math.ldexp(self.min_backoff, retry - 1)
        else:
            interval = math.ldexp(self.min_backoff, doublings) * (retry - doublings)
        return min(interval, self.max_backoff)

    def exhausted(self, attempts: int, since_first_attempt: float) -> bool:
        attempts_spent = self.max_attempts != -1 and attempts >= self.max_attempts
        duration_spent = (
            self.max_retry_duration <= 0 or since_first_attempt >= self.max_retry_duration
        )
        return attempts_spent and duration_spent


def _check_retry_config(config: tasks_v2.RetryConfig) -> None:
    if config.max_attempts < -1:
        raise RpcError(_INVALID, "retry_config.max_attempts must be >= -1")
    if config.max_doublings < 0:
        raise RpcError(_INVALID, "retry_config.max_doublings must be >= 0")
    for name in ("min_backoff", "max_backoff", "max_retry_duration"):
        value = _duration_seconds(config, name)
        if value is not None and value < 0:
            raise RpcError(_INVALID, f"retry_config.{name} must not be negative")
    low = _duration_seconds(config, "min_backoff")
    high = _duration_seconds(config, "max_backoff")
    if low is not None and high is not None and low > high:
        raise RpcError(_INVALID, "retry_config.min_backoff must not exceed max_backoff")


def _retry_with_defaults(config: tasks_v2.RetryConfig | None) -> tasks_v2.RetryConfig:
    """``config`` with the documented defaults where it says nothing (proto3: zero is unset)."""
    given = config if config is not None else tasks_v2.RetryConfig()
    _check_retry_config(given)
    low = _duration_seconds(given, "min_backoff")
    high = _duration_seconds(given, "max_backoff")
    low = DEFAULT_MIN_BACKOFF if low is None else low
    high = DEFAULT_MAX_BACKOFF if high is None else high
    if low > high:
        raise RpcError(_INVALID, "retry_config.min_backoff must not exceed max_backoff")
    filled = tasks_v2.RetryConfig(
        max_attempts=given.max_attempts or DEFAULT_MAX_ATTEMPTS,
        max_doublings=given.max_doublings or DEFAULT_MAX_DOUBLINGS,
    )
    raw = _raw(filled)
    raw.min_backoff.CopyFrom(_duration(low))
    raw.max_backoff.CopyFrom(_duration(high))
    raw.max_retry_duration.CopyFrom(_duration(_duration_seconds(given, "max_retry_duration") or 0))
    return filled


def _effective_retry(queue: tasks_v2.Queue, task: tasks_v2.Task) -> _Retry:
    """The queue's retry settings, with whatever a task-level ``retry_config`` sets on top."""
    layers = [queue.retry_config]
    if "retry_config" in task:
        layers.append(task.retry_config)
    values: dict[str, Any] = {
        "max_attempts": DEFAULT_MAX_ATTEMPTS,
        "min_backoff": DEFAULT_MIN_BACKOFF,
        "max_backoff": DEFAULT_MAX_BACKOFF,
        "max_doublings": DEFAULT_MAX_DOUBLINGS,
        "max_retry_duration": 0.0,
    }
    for layer in layers:
        if layer.max_attempts:
            values["max_attempts"] = layer.max_attempts
        if layer.max_doublings:
            values["max_doublings"] = layer.max_doublings
        for name in ("min_backoff", "max_backoff", "max_retry_duration"):
            seconds = _duration_seconds(layer, name)
            if seconds is not None:
                values[name] = seconds
    values["max_backoff"] = max(values["max_backoff"], values["min_backoff"])
    return _Retry(**values)


def _rate_limits_with_defaults(limits: tasks_v2.RateLimits | None) -> tasks_v2.RateLimits:
    given = limits if limits is not None else tasks_v2.RateLimits()
    rate = given.max_dispatches_per_second or DEFAULT_MAX_DISPATCHES_PER_SECOND
    if not 0 < rate <= MAX_DISPATCHES_PER_SECOND:
        raise RpcError(
            _INVALID,
            f"rate_limits.max_dispatches_per_second must be in (0, {MAX_DISPATCHES_PER_SECOND:g}]",
        )
    concurrent = given.max_concurrent_dispatches or DEFAULT_MAX_CONCURRENT_DISPATCHES
    if not 0 < concurrent <= MAX_CONCURRENT_DISPATCHES:
        raise RpcError(
            _INVALID,
            f"rate_limits.max_concurrent_dispatches must be in (0, {MAX_CONCURRENT_DISPATCHES}]",
        )
    # max_burst_size is output only; the real service picks it from the rate (100 by default).
    burst = min(MAX_BURST_SIZE, max(1, math.ceil(rate)))
    return tasks_v2.RateLimits(
        max_dispatches_per_second=rate,
        max_burst_size=burst,
        max_concurrent_dispatches=concurrent,
    )


def _normalized_queue(source: tasks_v2.Queue, name: str) -> tasks_v2.Queue:
    """A queue as stored and returned: ``source``'s settings, validated, defaults filled in."""
    if "http_target" in source:
        raise RpcError(_UNIMPLEMENTED, "queue-level http_target is not emulated")
    queue = tasks_v2.Queue(name=name)
    if "app_engine_routing_override" in source:
        queue.app_engine_routing_override = source.app_engine_routing_override
    if "stackdriver_logging_config" in source:
        ratio = source.stackdriver_logging_config.sampling_ratio
        if not 0 <= ratio <= 1:
            raise RpcError(_INVALID, "stackdriver_logging_config.sampling_ratio must be in [0, 1]")
        queue.stackdriver_logging_config = source.stackdriver_logging_config
    queue.retry_config = _retry_with_defaults(
        source.retry_config if "retry_config" in source else None
    )
    queue.rate_limits = _rate_limits_with_defaults(
        source.rate_limits if "rate_limits" in source else None
    )
    return queue


# --- state ---------------------------------------------------------------------------------


@dataclass(eq=False)
class _QueueState:
    queue: tasks_v2.Queue
    tokens: float
    refilled: float  # time.monotonic() of the last refill
    in_flight: int = 0

    def refill(self, now: float) -> None:
        limits = self.queue.rate_limits
        elapsed = max(0.0, now - self.refilled)
        self.tokens = min(
            float(limits.max_burst_size), self.tokens + elapsed * limits.max_dispatches_per_second
        )
        self.refilled = now


@dataclass(eq=False)
class _TaskState:
    task: tasks_v2.Task  # the FULL view, kept current
    queue: _QueueState
    seq: int
    due: float  # schedule_time, seconds since the epoch
    in_flight: int = 0
    first_dispatch: float | None = None
    last_http_status: int | None = None


@dataclass(frozen=True)
class _Dispatch:
    state: _TaskState
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    oidc_email: str | None
    oidc_audience: str


@dataclass(frozen=True)
class _Outcome:
    http_status: int | None  # None: no response
    code: grpc.StatusCode
    message: str


@dataclass
class _Stats:
    counters: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, by: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + by


class CloudTasksEmulator:
    """An in-memory Cloud Tasks v2 service on gRPC that dispatches HTTP tasks for real.

    ``start()`` opens the gRPC port and the JWKS HTTP port (``http_port``; 0 picks a free
    one) and starts the scheduler and ``workers`` dispatch threads; ``stop()`` ends them.
    """

    def __init__(
        self,
        *,
        http_port: int = 0,
        workers: int = 8,
        tombstone_seconds: float = DEFAULT_TOMBSTONE_SECONDS,
        signer: OidcSigner | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._http_port = http_port
        self._workers_count = workers
        self._tombstone_seconds = tombstone_seconds
        self.signer = signer or OidcSigner()
        self._cond = threading.Condition(threading.RLock())
        self._queues: dict[str, _QueueState] = {}
        self._tasks: dict[str, _TaskState] = {}
        self._tombstones: dict[str, float] = {}  # task name -> monotonic expiry
        self._seq = 0
        self._stats = _Stats()
        self._work: queue_module.SimpleQueue[_Dispatch | None] = queue_module.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._server: grpc.Server | None = None
        self._jwks: JwksServer | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._ssl_context = ssl.create_default_context()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Start serving on ``host:port`` (0 picks a free port); returns the gRPC port."""
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("an emulator starts once; make a new one after stop()")
        jwks = JwksServer(self.signer, host=host, port=self._http_port)
        jwks.start()
        try:
            server, bound = serve(SERVICE_NAME, self._methods(), host=host, port=port)
        except BaseException:
            jwks.stop()
            raise
        self._jwks, self._server = jwks, server
        self._host, self._port = host, bound
        self._threads = [
            threading.Thread(target=self._schedule_loop, name="cloud-tasks-scheduler", daemon=True)
        ]
        self._threads += [
            threading.Thread(target=self._work_loop, name=f"cloud-tasks-worker-{i}", daemon=True)
            for i in range(self._workers_count)
        ]
        for thread in self._threads:
            thread.start()
        log.info("Cloud Tasks emulator on %s (JWKS %s)", self.address, self.jwks_url)
        return bound

    def stop(self) -> None:
        """Stop dispatching (attempts under way are abandoned), then the servers."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        while True:  # drop dispatches not yet picked up
            try:
                self._work.get_nowait()
            except queue_module.Empty:
                break
        for _ in range(self._workers_count):
            self._work.put(None)
        deadline = time.monotonic() + 1.0
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads = []
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=0.2).wait(timeout=2)
        jwks, self._jwks = self._jwks, None
        if jwks is not None:
            jwks.stop()

    def __enter__(self) -> CloudTasksEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """``host:port`` of the gRPC service, as ``CLOUD_TASKS_EMULATOR_HOST`` wants it."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"{connectable_host(self._host)}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def jwks_url(self) -> str:
        if self._jwks is None:
            raise RuntimeError("the emulator is not started")
        return self._jwks.jwks_url

    @property
    def issuer(self) -> str:
        return self.signer.issuer

    @property
    def stats(self) -> dict[str, int]:
        """Counters: ``calls.<Method>``, ``tasks_created``, ``dispatches``, ``retries``,
        ``completed``, ``attempt_failures``, ``exhausted`` (deleted after the last attempt)."""
        with self._cond:
            return dict(self._stats.counters)

    # --- the gRPC surface --------------------------------------------------------------------

    def _methods(self) -> dict[str, Method]:
        t = tasks_v2
        table: list[tuple[str, Callable[[Any], Any], Any, Any]] = [
            ("ListQueues", self.list_queues, t.ListQueuesRequest, t.ListQueuesResponse),
            ("GetQueue", self.get_queue, t.GetQueueRequest, t.Queue),
            ("CreateQueue", self.create_queue, t.CreateQueueRequest, t.Queue),
            ("UpdateQueue", self.update_queue, t.UpdateQueueRequest, t.Queue),
            ("DeleteQueue", self.delete_queue, t.DeleteQueueRequest, _EmptyType),
            ("PurgeQueue", self.purge_queue, t.PurgeQueueRequest, t.Queue),
            ("PauseQueue", self.pause_queue, t.PauseQueueRequest, t.Queue),
            ("ResumeQueue", self.resume_queue, t.ResumeQueueRequest, t.Queue),
            ("ListTasks", self.list_tasks, t.ListTasksRequest, t.ListTasksResponse),
            ("GetTask", self.get_task, t.GetTaskRequest, t.Task),
            ("CreateTask", self.create_task, t.CreateTaskRequest, t.Task),
            ("DeleteTask", self.delete_task, t.DeleteTaskRequest, _EmptyType),
            ("RunTask", self.run_task, t.RunTaskRequest, t.Task),
        ]
        return {
            name: Method(self._counted(name, handler), request_type, response_type)
            for name, handler, request_type, response_type in table
        }

    def _counted(self, name: str, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(request: Any) -> Any:
            with self._cond:
                self._stats.bump(f"calls.{name}")
            return handler(request)

        return call

    # --- queues ------------------------------------------------------------------------------

    def create_queue(self, request: tasks_v2.CreateQueueRequest) -> tasks_v2.Queue:
        parent = request.parent
        if not _PARENT_RE.fullmatch(parent):
            raise RpcError(_INVALID, f"invalid parent {parent!r}: want projects/P/locations/L")
        name = request.queue.name
        match = _QUEUE_RE.fullmatch(name)
        if not match:
            raise RpcError(
                _INVALID,
                f"invalid queue name {name!r}: want {parent}/queues/QUEUE_ID "
                "(letters, digits, hyphens; at most 100)",
            )
        if match["parent"] != parent:
            raise RpcError(_INVALID, f"queue {name!r} is not under {parent!r}")
        queue = _normalized_queue(request.queue, name)
        queue.state = _RUNNING
        with self._cond:
            if name in self._queues:
                raise RpcError(_EXISTS, f"queue {name} already exists")
            self._queues[name] = self._new_queue_state(queue)
            return _copy_queue(queue)

    def get_queue(self, request: tasks_v2.GetQueueRequest) -> tasks_v2.Queue:
        with self._cond:
            return _copy_queue(self._queue(request.name).queue)

    def list_queues(self, request: tasks_v2.ListQueuesRequest) -> tasks_v2.ListQueuesResponse:
        parent = request.parent
        if not _PARENT_RE.fullmatch(parent):
            raise RpcError(_INVALID, f"invalid parent {parent!r}: want projects/P/locations/L")
        wanted_state: tasks_v2.Queue.State | None = None
        if request.filter.strip():
            match = _STATE_FILTER_RE.fullmatch(request.filter)
            if not match or match["state"] not in tasks_v2.Queue.State.__members__:
                raise RpcError(_INVALID, f"unsupported filter {request.filter!r} (want state: X)")
            wanted_state = tasks_v2.Queue.State(tasks_v2.Queue.State.__members__[match["state"]])
        size = _page_size(request.page_size)
        after = _decode_token(request.page_token) if request.page_token else ""
        prefix = parent + "/queues/"
        with self._cond:
            names = sorted(
                name
                for name, state in self._queues.items()
                if name.startswith(prefix)
                and name > after
                and (wanted_state is None or state.queue.state == wanted_state)
            )
            page = names[:size]
            queues = [_copy_queue(self._queues[name].queue) for name in page]
        token = _encode_token(page[-1]) if len(names) > size else ""
        return tasks_v2.ListQueuesResponse(queues=queues, next_page_token=token)

    def update_queue(self, request: tasks_v2.UpdateQueueRequest) -> tasks_v2.Queue:
        source = request.queue
        name = source.name
        if not _QUEUE_RE.fullmatch(name):
            raise RpcError(_INVALID, f"invalid queue name {name!r}")
        paths = list(_raw(request).update_mask.paths)
        for path in paths:
            if path.split(".", 1)[0] not in _UPDATABLE_QUEUE_FIELDS:
                raise RpcError(_INVALID, f"update_mask path {path!r} cannot be updated")
        raw_source = _raw(source)
        with self._cond:
            existing = self._queues.get(name)
            base = _copy_queue(existing.queue) if existing else tasks_v2.Queue(name=name)
            raw_base = _raw(base)
            if paths:
                mask = field_mask_pb2.FieldMask(paths=paths)
                if not mask.IsValidForDescriptor(raw_base.DESCRIPTOR):
                    raise RpcError(_INVALID, f"invalid update_mask {paths!r}")
                mask.MergeMessage(
                    raw_source, raw_base, replace_message_field=True, replace_repeated_field=True
                )
            else:  # no mask: every updatable field takes the request's value, set or not
                for field_name in _UPDATABLE_QUEUE_FIELDS:
                    raw_base.ClearField(field_name)
                    if raw_source.HasField(field_name):
                        getattr(raw_base, field_name).CopyFrom(getattr(raw_source, field_name))
            queue = _normalized_queue(base, name)
            if existing is None:
                queue.state = _RUNNING
                self._queues[name] = self._new_queue_state(queue)
            else:
                queue.state = existing.queue.state
                if "purge_time" in existing.queue:
                    _raw(queue).purge_time.CopyFrom(_raw(existing.queue).purge_time)
                existing.queue = queue
                existing.tokens = min(existing.tokens, float(queue.rate_limits.max_burst_size))
            self._cond.notify_all()
            return _copy_queue(queue)

    def delete_queue(self, request: tasks_v2.DeleteQueueRequest) -> Any:
        with self._cond:
            state = self._queue(request.name)
            del self._queues[request.name]
            self._drop_tasks(state)
            return empty_pb2.Empty()

    def purge_queue(self, request: tasks_v2.PurgeQueueRequest) -> tasks_v2.Queue:
        with self._cond:
            state = self._queue(request.name)
            self._drop_tasks(state)
            _raw(state.queue).purge_time.CopyFrom(_timestamp(time.time()))
            return _copy_queue(state.queue)

    def pause_queue(self, request: tasks_v2.PauseQueueRequest) -> tasks_v2.Queue:
        with self._cond:
            state = self._queue(request.name)
            state.queue.state = _PAUSED
            return _copy_queue(state.queue)

    def resume_queue(self, request: tasks_v2.ResumeQueueRequest) -> tasks_v2.Queue:
        with self._cond:
            state = self._queue(request.name)
            state.queue.state = _RUNNING
            self._cond.notify_all()
            return _copy_queue(state.queue)

    # --- tasks -------------------------------------------------------------------------------

    def create_task(self, request: tasks_v2.CreateTaskRequest) -> tasks_v2.Task:
        parent = request.parent
        if not _QUEUE_RE.fullmatch(parent):
            raise RpcError(_INVALID, f"invalid parent {parent!r}: want a queue name")
        source = request.task
        http_request = _validated_http_request(source)
        now = time.time()
        due = _duration_seconds(source, "schedule_time")
        due = now if due is None else round(due, 6)
        if due > now + MAX_SCHEDULE_AHEAD:
            raise RpcError(_INVALID, "schedule_time must be at most 30 days in the future")
        deadline = _duration_seconds(source, "dispatch_deadline")
        if deadline is None:
            deadline = DEFAULT_DISPATCH_DEADLINE
        elif not MIN_DISPATCH_DEADLINE <= deadline <= MAX_DISPATCH_DEADLINE:
            raise RpcError(_INVALID, "dispatch_deadline must be in [15s, 30m]")
        task = tasks_v2.Task(http_request=http_request, view=_FULL)
        if "retry_config" in source:
            _check_retry_config(source.retry_config)
            task.retry_config = source.retry_config
        raw = _raw(task)
        raw.schedule_time.CopyFrom(_timestamp(due))
        raw.create_time.CopyFrom(_timestamp(math.floor(now)))
        raw.dispatch_deadline.CopyFrom(_duration(deadline))
        with self._cond:
            queue = self._queue(parent)
            if source.name:
                match = _TASK_RE.fullmatch(source.name)
                if not match:
                    raise RpcError(
                        _INVALID,
                        f"invalid task name {source.name!r}: want {parent}/tasks/TASK_ID "
                        "(letters, digits, hyphens, underscores; at most 500)",
                    )
                if match["queue_name"] != parent:
                    raise RpcError(_INVALID, f"task {source.name!r} is not in queue {parent!r}")
                if source.name in self._tasks or self._tombstoned(source.name):
                    raise RpcError(_EXISTS, f"task {source.name} already exists or existed")
                task.name = source.name
            else:
                task.name = self._new_task_name(parent)
            self._seq += 1
            self._tasks[task.name] = _TaskState(task=task, queue=queue, seq=self._seq, due=due)
            self._stats.bump("tasks_created")
            self._cond.notify_all()
            return _view(task, request.response_view)

    def get_task(self, request: tasks_v2.GetTaskRequest) -> tasks_v2.Task:
        with self._cond:
            return _view(self._task(request.name).task, request.response_view)

    def list_tasks(self, request: tasks_v2.ListTasksRequest) -> tasks_v2.ListTasksResponse:
        size = _page_size(request.page_size)
        after = _decode_token(request.page_token) if request.page_token else ""
        with self._cond:
            queue = self._queue(request.parent)
            names = sorted(
                name for name, state in self._tasks.items() if state.queue is queue and name > after
            )
            page = names[:size]
            tasks = [_view(self._tasks[name].task, request.response_view) for name in page]
        token = _encode_token(page[-1]) if len(names) > size else ""
        return tasks_v2.ListTasksResponse(tasks=tasks, next_page_token=token)

    def delete_task(self, request: tasks_v2.DeleteTaskRequest) -> Any:
        with self._cond:
            self._task(request.name)
            self._remove_task(request.name)
            return empty_pb2.Empty()

    def run_task(self, request: tasks_v2.RunTaskRequest) -> tasks_v2.Task:
        """Dispatch now, whatever the schedule, the rate limits or the queue's state; the answer
        is the task as dispatched, before the worker has replied."""
        with self._cond:
            state = self._task(request.name)
            job = self._begin_attempt(state, time.time())
            answer = _view(state.task, request.response_view)
        self._work.put(job)
        return answer

    # --- state helpers (call with the lock held) ---------------------------------------------

    def _new_queue_state(self, queue: tasks_v2.Queue) -> _QueueState:
        return _QueueState(
            queue=queue,
            tokens=float(queue.rate_limits.max_burst_size),
            refilled=time.monotonic(),
        )

    def _queue(self, name: str) -> _QueueState:
        if not _QUEUE_RE.fullmatch(name):
            raise RpcError(_INVALID, f"invalid queue name {name!r}")
        state = self._queues.get(name)
        if state is None:
            raise RpcError(_NOT_FOUND, f"queue {name} does not exist")
        return state

    def _task(self, name: str) -> _TaskState:
        if not _TASK_RE.fullmatch(name):
            raise RpcError(_INVALID, f"invalid task name {name!r}")
        state = self._tasks.get(name)
        if state is None:
            raise RpcError(_NOT_FOUND, f"task {name} does not exist")
        return state

    def _tombstoned(self, name: str) -> bool:
        now = time.monotonic()
        expired = [key for key, until in self._tombstones.items() if until <= now]
        for key in expired:
            del self._tombstones[key]
        return name in self._tombstones

    def _remove_task(self, name: str) -> None:
        self._tasks.pop(name, None)
        self._tombstones[name] = time.monotonic() + self._tombstone_seconds

    def _drop_tasks(self, queue: _QueueState) -> None:
        for name in [name for name, state in self._tasks.items() if state.queue is queue]:
            self._remove_task(name)

    def _new_task_name(self, queue_name: str) -> str:
        while True:  # the real service's generated ids are long decimal numbers too
            name = f"{queue_name}/tasks/{secrets.randbelow(9 * 10**18) + 10**18}"
            if name not in self._tasks and name not in self._tombstones:
                return name

    # --- dispatching -------------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                if self._stopping.is_set():
                    return
                try:
                    jobs, wait = self._take_due()
                except Exception:
                    log.exception("Cloud Tasks emulator scheduler failed; retrying")
                    jobs, wait = [], 0.5
                if not jobs:
                    self._cond.wait(timeout=wait)
                    continue
            for job in jobs:
                self._work.put(job)

    def _take_due(self) -> tuple[list[_Dispatch], float]:
        """Start an attempt for every task that is due and allowed to go; returns them and how
        long to sleep before something else may become due."""
        now, mono = time.time(), time.monotonic()
        jobs: list[_Dispatch] = []
        wait = 1.0  # wall clocks move: look again at least this often
        idle = sorted(
            (state for state in self._tasks.values() if state.in_flight == 0),
            key=lambda state: (state.due, state.seq),
        )
        for state in idle:
            if state.due > now:
                wait = min(wait, state.due - now)
                break
            queue = state.queue
            if queue.queue.state != _RUNNING:
                continue  # ResumeQueue wakes us
            if queue.in_flight >= queue.queue.rate_limits.max_concurrent_dispatches:
                continue  # a finished attempt wakes us
            queue.refill(mono)
            if queue.tokens < 1:
                rate = queue.queue.rate_limits.max_dispatches_per_second
                wait = min(wait, (1 - queue.tokens) / rate)
                continue
            queue.tokens -= 1
            jobs.append(self._begin_attempt(state, now))
        return jobs, max(wait, 0.001)

    def _begin_attempt(self, state: _TaskState, now: float) -> _Dispatch:
        task = state.task
        http_request = task.http_request
        retry_count, execution_count = task.dispatch_count, task.response_count
        task.dispatch_count += 1
        raw = _raw(task)
        if state.first_dispatch is None:
            state.first_dispatch = now
            raw.first_attempt.dispatch_time.CopyFrom(_timestamp(now))
        raw.last_attempt.Clear()
        raw.last_attempt.schedule_time.CopyFrom(_timestamp(state.due))
        raw.last_attempt.dispatch_time.CopyFrom(_timestamp(now))
        state.in_flight += 1
        state.queue.in_flight += 1
        self._stats.bump("dispatches")
        if retry_count:
            self._stats.bump("retries")

        oidc = "oidc_token" in http_request
        headers: dict[str, str] = {}
        for key, value in http_request.headers.items():
            lower = key.lower()
            if lower in _REPLACED_HEADERS or lower.startswith(_RESERVED_HEADER_PREFIXES):
                continue
            if oidc and lower == "authorization":
                continue
            headers[key] = value
        body = http_request.body or None
        if body is not None and not any(key.lower() == "content-type" for key in headers):
            headers["Content-Type"] = "application/octet-stream"
        headers["User-Agent"] = USER_AGENT
        queue_match = _QUEUE_RE.fullmatch(state.queue.queue.name)
        task_match = _TASK_RE.fullmatch(task.name)
        headers["X-CloudTasks-QueueName"] = queue_match["queue"] if queue_match else ""
        headers["X-CloudTasks-TaskName"] = task_match["task"] if task_match else task.name
        headers["X-CloudTasks-TaskRetryCount"] = str(retry_count)
        headers["X-CloudTasks-TaskExecutionCount"] = str(execution_count)
        headers["X-CloudTasks-TaskETA"] = f"{state.due:.6f}"
        if state.last_http_status is not None:
            headers["X-CloudTasks-TaskPreviousResponse"] = str(state.last_http_status)
        return _Dispatch(
            state=state,
            url=http_request.url,
            method=tasks_v2.HttpMethod(http_request.http_method).name,
            headers=headers,
            body=body,
            timeout=_duration_seconds(task, "dispatch_deadline") or DEFAULT_DISPATCH_DEADLINE,
            oidc_email=http_request.oidc_token.service_account_email if oidc else None,
            oidc_audience=(http_request.oidc_token.audience or http_request.url) if oidc else "",
        )

    def _work_loop(self) -> None:
        while True:
            job = self._work.get()
            if job is None or self._stopping.is_set():
                return
            try:
                outcome = self._send(job)
            except Exception as exc:  # whatever happens, the attempt must end
                log.exception("Cloud Tasks emulator could not send %s", job.state.task.name)
                outcome = _Outcome(None, grpc.StatusCode.INTERNAL, f"not sent: {exc!r}")
            try:
                self._finish(job, outcome)
            except Exception:
                log.exception("Cloud Tasks emulator failed to record an attempt")

    def _send(self, job: _Dispatch) -> _Outcome:
        headers = dict(job.headers)
        if job.oidc_email is not None:
            token = self.signer.sign(
                service_account_email=job.oidc_email, audience=job.oidc_audience
            )
            headers["Authorization"] = f"Bearer {token}"
        parts = urllib.parse.urlsplit(job.url)
        host = parts.netloc.rpartition("@")[2]  # no user info: the task's headers carry auth
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, timeout=job.timeout, context=self._ssl_context
            )
        else:
            connection = http.client.HTTPConnection(host, timeout=job.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(job.method, target, body=job.body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except TimeoutError:
            return _Outcome(None, grpc.StatusCode.DEADLINE_EXCEEDED, "dispatch deadline exceeded")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return _Outcome(None, grpc.StatusCode.UNAVAILABLE, f"no response: {exc!r}")
        finally:
            connection.close()
        return _Outcome(status, _http_status_code(status), f"HTTP status code {status}")

    def _finish(self, job: _Dispatch, outcome: _Outcome) -> None:
        state = job.state
        now = time.time()
        with self._cond:
            state.in_flight -= 1
            state.queue.in_flight -= 1
            self._cond.notify_all()
            task = state.task
            name = task.name
            if self._tasks.get(name) is not state:
                return  # deleted (or its queue purged) while the attempt was under way
            raw = _raw(task)
            if outcome.http_status is not None:
                task.response_count += 1
                state.last_http_status = outcome.http_status
            raw.last_attempt.response_time.CopyFrom(_timestamp(now))
            raw.last_attempt.response_status.CopyFrom(_rpc_status(outcome.code, outcome.message))
            if outcome.code == grpc.StatusCode.OK:
                self._stats.bump("completed")
                self._remove_task(name)
                log.info("task %s completed (%s)", name, outcome.message)
                return
            self._stats.bump("attempt_failures")
            if state.in_flight:
                return  # a RunTask attempt is still out; its outcome decides what comes next
            retry = _effective_retry(state.queue.queue, task)
            since_first = now - (state.first_dispatch or now)
            if retry.exhausted(task.dispatch_count, since_first):
                self._stats.bump("exhausted")
                self._remove_task(name)
                log.info("task %s deleted after %d attempts", name, task.dispatch_count)
                return
            state.due = now + retry.backoff(task.dispatch_count)
            raw.schedule_time.CopyFrom(_timestamp(state.due))
            log.info(
                "task %s attempt %d failed (%s); retry in %.3fs",
                name,
                task.dispatch_count,
                outcome.message,
                state.due - now,
            )


def _validated_http_request(task: tasks_v2.Task) -> tasks_v2.HttpRequest:
    if "app_engine_http_request" in task:
        raise RpcError(_INVALID, "App Engine tasks are not emulated; use http_request")
    if "http_request" not in task:
        raise RpcError(_INVALID, "the task needs an http_request")
    source = task.http_request
    url = source.url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RpcError(_INVALID, f"http_request.url must start with http:// or https://: {url!r}")
    if len(url) > MAX_URL_LENGTH:
        raise RpcError(_INVALID, f"http_request.url is longer than {MAX_URL_LENGTH} characters")
    method = tasks_v2.HttpMethod(source.http_method or tasks_v2.HttpMethod.POST)
    if source.body and method.name not in _BODY_METHODS:
        raise RpcError(_INVALID, "a body is allowed only with POST, PUT or PATCH")
    if "oauth_token" in source:
        raise RpcError(
            _INVALID, "oauth_token is not emulated (no Google access tokens here); use oidc_token"
        )
    if "oidc_token" in source and not source.oidc_token.service_account_email:
        raise RpcError(_INVALID, "oidc_token.service_account_email is required")
    headers_size = sum(len(key) + len(value) + 4 for key, value in source.headers.items())
    if headers_size >= MAX_HEADERS_BYTES:
        raise RpcError(_INVALID, "the task's headers must be smaller than 80KB")
    if headers_size + len(source.body) + len(url) > MAX_TASK_BYTES:
        raise RpcError(_INVALID, "the task is larger than 1MB")
    http_request: tasks_v2.HttpRequest = tasks_v2.HttpRequest.deserialize(
        tasks_v2.HttpRequest.serialize(source)
    )
    http_request.http_method = method
    return http_request


def _view(task: tasks_v2.Task, view: tasks_v2.Task.View | int) -> tasks_v2.Task:
    """A copy of ``task`` as ``view`` shows it: ``BASIC`` (the default) leaves out the body."""
    shown = _copy_task(task)
    if view == _FULL:
        shown.view = _FULL
    else:
        shown.view = _BASIC
        _raw(shown).http_request.ClearField("body")
    return shown


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tether_emulators.cloud_tasks",
        description="Cloud Tasks v2 emulator (gRPC), dispatching HTTP tasks for real.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8123, help="gRPC port (0: any free one)")
    parser.add_argument("--http-port", type=int, default=0, help="JWKS HTTP port (0: any)")
    parser.add_argument("--workers", type=int, default=8, help="dispatch threads")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")

    emulator = CloudTasksEmulator(http_port=args.http_port, workers=args.workers)
    emulator.start(host=args.host, port=args.port)
    try:
        with stop_signals() as done:
            print(f"export CLOUD_TASKS_EMULATOR_HOST={emulator.address}")
            print(f"export CLOUD_TASKS_EMULATOR_JWKS_URL={emulator.jwks_url}", flush=True)
            while not done.wait(timeout=1.0):
                pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
