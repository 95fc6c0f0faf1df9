"""HTTP routes of the ``tasks`` function: ``POST /<kind>`` runs one task.

Called by Cloud Tasks (and Cloud Scheduler for ``/sweep``) with an OIDC token, or with the
task token under ``tether dev``. The answer tells the queue what to do next: 2xx when the task
is done *or* failed for good (recorded in the log, not retried), 503 when it failed in a way
worth retrying (Cloud Tasks retries any non-2xx with backoff).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Request, Response
from pydantic import BaseModel, ValidationError

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import read_json_object
from tether.api.responses import body_response
from tether.api.routing import Router
from tether.api.schemas import ErrorDetail, TaskAnswer
from tether.domain.errors import InvalidRequest, TetherError

if TYPE_CHECKING:
    from tether.api.task_auth import TaskCallerVerifier
    from tether.delivery.service import DeliveryService

__all__ = ["ReplayDelivery", "Services", "execute", "handle", "router"]

log = logging.getLogger("tether.tasks")


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: who may call (``caller``), the task runner (``dispatch``: kind,
    payload; unknown kinds fail for good) and the delivery service for replays, each built on
    first use."""

    caller: Callable[[], TaskCallerVerifier]
    dispatch: Callable[[str, dict[str, Any]], None]
    delivery: Callable[[], DeliveryService]
    max_body_bytes: int


class ReplayDelivery(BaseModel):
    """Which delivery to send again (other fields are ignored)."""

    tenant_id: str
    delivery_id: str


def run(call: Call[Services]) -> Response:
    services = call.services
    services.caller().verify(call.request.headers.get("Authorization"))
    payload = (
        read_json_object(call.request, max_bytes=services.max_body_bytes)
        if _has_body(call.request)
        else {}  # `curl -X POST …/tasks/sweep`: a task with no parameters
    )
    attempt = call.request.headers.get("X-CloudTasks-TaskRetryCount", "0")
    return execute(services.dispatch, call.params["kind"], payload, attempt=attempt)


def _has_body(request: Request) -> bool:
    if request.content_length is not None:
        return request.content_length > 0
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def execute(
    dispatch: Callable[[str, dict[str, Any]], None],
    kind: str,
    payload: dict[str, Any],
    *,
    attempt: str = "0",
) -> Response:
    """Run one task and answer the queue: 200 done or failed for good, 503 retry."""
    extra = {"task_kind": kind, "attempt": attempt}
    try:
        dispatch(kind, payload)
    except TetherError as error:
        if error.retryable:
            log.warning(
                "task %s failed, will be retried: %s",
                kind,
                error.code,
                extra={**extra, "error_code": error.code},
            )
            return body_response(TaskAnswer(ok=False, error=ErrorDetail(**error.to_dict())), 503)
        log.error(
            "task %s failed for good: %s",
            kind,
            error.code,
            extra={**extra, "error_code": error.code},
        )
        return body_response(
            TaskAnswer(ok=False, retry=False, error=ErrorDetail(**error.to_dict()))
        )
    except Exception:
        log.exception("task %s crashed; will be retried", kind, extra=extra)
        internal = ErrorDetail(code="INTERNAL", message="internal error")
        return body_response(TaskAnswer(ok=False, error=internal), 503)
    return body_response(TaskAnswer(ok=True))


def replay_delivery(call: Call[Services]) -> Response:
    """``POST /deliver/replay`` ``{tenant_id, delivery_id}``: send a dead or failed delivery
    again now (after the tenant's endpoint recovered)."""
    services = call.services
    services.caller().verify(call.request.headers.get("Authorization"))
    body = read_json_object(call.request, max_bytes=services.max_body_bytes)
    try:
        wanted = ReplayDelivery.model_validate(body, strict=True)
    except ValidationError:
        raise InvalidRequest("give tenant_id and delivery_id", code="INVALID_REQUEST") from None
    delivered = services.delivery().replay(wanted.tenant_id, wanted.delivery_id)
    return body_response(TaskAnswer(ok=delivered))


router: Router[Services] = Router()
router.add("POST", "/deliver/replay", replay_delivery, public=True)
# Public as far as tenants go: the caller is checked against the task credentials instead.
router.add("POST", "/:kind", run, public=True)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("tasks", request, router, wiring)
