"""TaskQueue on Google Cloud Tasks: HTTP-target tasks to the ``tasks`` function.

* Each task is ``POST <tasks_url>/<kind>`` with the JSON payload as its body and an OIDC token
  (service account + audience from configuration) that the ``tasks`` function verifies.
* Kinds go to their own queues (``<prefix>refresh``, ``<prefix>sync``, ``<prefix>deliver``,
  everything else to ``<prefix>default``), so a flood of deliveries never delays refreshes;
  retry policy and rate limits are queue settings (see infra).
* A ``name`` becomes the task id ``<kind>-<sha256(name)>``: hashed ids spread evenly (Cloud
  Tasks warns that sequential names slow dispatch) and a name already used answers
  ``ALREADY_EXISTS``, reported as ``False``. Cloud Tasks remembers names only for a while after
  a task ran, so this is best-effort dedupe; handlers stay idempotent.
* ``run_at`` becomes the schedule time; Cloud Tasks refuses times more than 30 days ahead.

The queues are created by infra; :meth:`CloudTasksQueue.ensure_queues` exists for the emulator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_transient_error

from tether.domain.errors import BackendUnavailable, InvalidRequest
from tether.ports.task_queue import enqueue_first_free

if TYPE_CHECKING:
    from google.cloud.tasks_v2 import CloudTasksClient

__all__ = ["CloudTasksQueue", "task_id_for"]

MAX_SCHEDULE_AHEAD = timedelta(days=30)
MAX_TASK_BYTES = 1024 * 1024  # Cloud Tasks' limit on an HTTP task


def task_id_for(kind: str, name: str) -> str:
    digest = hashlib.sha256(kind.encode() + b"\x00" + name.encode()).hexdigest()
    return f"{kind}-{digest}"


class CloudTasksQueue:
    def __init__(
        self,
        client: CloudTasksClient,
        *,
        project: str,
        location: str,
        queue_for: Callable[[str], str],
        tasks_url: str,
        service_account: str,
        audience: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._client = client
        self._project = project
        self._location = location
        self._queue_for = queue_for
        self._tasks_url = tasks_url.rstrip("/")
        self._service_account = service_account
        self._audience = audience or self._tasks_url
        self._timeout = timeout_seconds
        self._retry = Retry(
            predicate=if_transient_error, initial=0.1, maximum=1.0, multiplier=2.0, timeout=5.0
        )

    def enqueue_soon(self, kind: str, payload: Mapping[str, Any], *, names: Sequence[str]) -> None:
        """At once: a Cloud Tasks create is its own durable write, and a function's CPU may be
        throttled once it has answered, so nothing waits for later here."""
        enqueue_first_free(self.enqueue, kind, payload, names)

    def queue_path(self, kind: str) -> str:
        return f"projects/{self._project}/locations/{self._location}/queues/{self._queue_for(kind)}"

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        name: str | None = None,
        run_at: datetime | None = None,
    ) -> bool:
        if not kind.replace("_", "").isalnum():
            raise InvalidRequest(f"task kind {kind!r} is not a plain word")
        try:
            body = json.dumps(dict(payload), separators=(",", ":")).encode()
        except (TypeError, ValueError):
            raise InvalidRequest("a task payload must be JSON", code="INVALID_TASK") from None
        if len(body) > MAX_TASK_BYTES:
            raise InvalidRequest("a task payload must be under 1 MiB", code="INVALID_TASK")
        parent = self.queue_path(kind)
        task: dict[str, Any] = {
            "http_request": {
                "http_method": "POST",
                "url": f"{self._tasks_url}/{kind}",
                "headers": {"Content-Type": "application/json"},
                "body": body,
                "oidc_token": {
                    "service_account_email": self._service_account,
                    "audience": self._audience,
                },
            }
        }
        if name is not None:
            task["name"] = f"{parent}/tasks/{task_id_for(kind, name)}"
        if run_at is not None:
            if run_at.tzinfo is None:
                raise InvalidRequest("run_at must carry a time zone")
            if run_at - datetime.now(UTC) > MAX_SCHEDULE_AHEAD:
                raise InvalidRequest("Cloud Tasks schedules at most 30 days ahead")
            task["schedule_time"] = run_at
        try:
            self._client.create_task(
                request={"parent": parent, "task": task}, retry=self._retry, timeout=self._timeout
            )
        except gexc.AlreadyExists:
            return False
        except gexc.GoogleAPICallError as exc:
            raise BackendUnavailable(
                f"Cloud Tasks did not take the task ({type(exc).__name__}); try again",
                code="TASK_QUEUE_UNAVAILABLE",
            ) from None
        return True

    def ensure_queues(
        self, names: Sequence[str], *, min_backoff_seconds: float = 1.0, max_attempts: int = 8
    ) -> None:
        """Create missing queues (for the emulator; deployed queues come from infra)."""
        parent = f"projects/{self._project}/locations/{self._location}"
        for queue in names:
            try:
                self._client.create_queue(
                    request={
                        "parent": parent,
                        "queue": {
                            "name": f"{parent}/queues/{queue}",
                            "retry_config": {
                                "max_attempts": max_attempts,
                                "min_backoff": timedelta(seconds=min_backoff_seconds),
                                "max_backoff": timedelta(seconds=min_backoff_seconds * 16),
                            },
                        },
                    },
                    timeout=self._timeout,
                )
            except gexc.AlreadyExists:
                continue
