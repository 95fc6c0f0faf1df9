"""Delivering events to tenants: signed per Standard Webhooks, retried by the task queue.

:meth:`DeliveryService.deliver` is the handler of task kind ``deliver`` (payload
``{"event": <TetherEvent.as_dict()>, "notify_url": <optional per-connection override>}``).
One run is one attempt:

- The URL is the connection's own notify URL as it is at this attempt (the task's copy once
  the connection is gone), else the tenant's notify URL. None at all: the delivery is
  recorded ``failed`` (``NO_NOTIFY_URL``) and the task ends normally (nothing to retry). A URL
  the rules refuse (not https, a private or internal target) is ``failed`` the same way.
- The body is the envelope as compact JSON. It is signed with every signing secret of the
  tenant (the current one and those still in a rotation overlap): ``webhook-signature``
  carries one ``v1,<base64>`` per secret, space-separated, so a receiver holding either
  secret verifies. ``webhook-id`` is the event id (the same on every attempt: receivers
  dedupe on it), ``webhook-timestamp`` the attempt's time.
- It is POSTed through the outbound client (the SSRF guard checks every hop) with
  ``retry_unsafe=False``. Build that client with ``max_retries=0`` and ``max_redirects=0``:
  the queue owns retries, and a POST must not be followed through a redirect (301/302 would
  turn it into a body-less GET that "succeeds").
- A 2xx marks the delivery ``delivered``. Anything else (a non-2xx answer, a network error)
  counts as a failed attempt: the record says so (``last_status_code``, ``last_error`` as a
  code) and a retryable :class:`DeliveryFailed` is raised so the queue retries with backoff,
  until the ``max_attempts``-th failure, which marks the delivery ``dead`` and ends the task
  normally (dead-lettered, visible, replayable). The queue's own attempt budget must be at
  least ``max_attempts``, so it is this service that gives up.

Runs are idempotent: a delivery already ``delivered`` or ``dead`` is not sent again by a
duplicate task (Cloud Tasks is at-least-once); only :meth:`DeliveryService.replay` re-sends.

Nothing logged or recorded carries a secret, a signature's key, a response body, or the full
URL (which may hold a token): the host at most.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from standardwebhooks import Webhook

from tether.delivery.publisher import DELIVER_TASK
from tether.delivery.settings import NotifySettingsService
from tether.domain.clock import Clock
from tether.domain.errors import Conflict, InvalidRequest, NotFound, TetherError
from tether.domain.events import TetherEvent
from tether.domain.models import Connection, Delivery, DeliveryStatus
from tether.http.model import OutboundError, OutboundResponse
from tether.ports import DeliveryRepository

__all__ = ["DELIVER_TASK", "DeliveryFailed", "DeliveryService", "NotifyClient"]

log = logging.getLogger("tether.delivery")

NO_NOTIFY_URL = "NO_NOTIFY_URL"
UNEXPECTED_STATUS = "UNEXPECTED_STATUS"
INVALID_EVENT = "INVALID_EVENT"
# URL refusals that no retry can cure: recorded ``failed`` at once.
_PERMANENT_URL_CODES = frozenset({"INVALID_NOTIFY_URL", "BLOCKED_DESTINATION"})


class NotifyClient(Protocol):
    """What delivery needs of :class:`~tether.http.client.OutboundClient`."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        retry_unsafe: bool = False,
        timeout: float | None = None,
    ) -> OutboundResponse: ...


class DeliveryFailed(TetherError):
    """One attempt did not get a 2xx; retryable, so the queue tries again later.
    ``details``: the delivery id, the attempt number and the failure code."""

    default_code: ClassVar[str] = "DELIVERY_FAILED"
    default_status: ClassVar[int] = 502
    default_retryable: ClassVar[bool] = True


def _event_from(payload: Mapping[str, Any]) -> tuple[TetherEvent, str | None]:
    """The task payload's envelope and URL override; :class:`InvalidRequest` when malformed
    (not retried: no later run can read it better)."""
    raw = payload.get("event")
    override = payload.get("notify_url")
    if not isinstance(raw, Mapping) or (override is not None and not isinstance(override, str)):
        raise InvalidRequest("the deliver task payload is malformed", code="INVALID_TASK_PAYLOAD")
    try:
        occurred = datetime.fromisoformat(str(raw["occurred_at"]))
        data = raw.get("data") or {}
        event = TetherEvent(
            id=_text(raw["id"]),
            type=_text(raw["type"]),
            provider=_optional_text(raw.get("provider")),
            connection_id=_optional_text(raw.get("connection_id")),
            tenant_id=_text(raw["tenant_id"]),
            occurred_at=occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC),
            data=dict(data),
            source_event_id=_optional_text(raw.get("source_event_id")),
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidRequest(
            "the deliver task payload has no valid event", code="INVALID_TASK_PAYLOAD"
        ) from None
    return event, override or None


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


class DeliveryService:
    """See the module documentation. ``retry_delay(attempt)`` (optional) is the queue's
    backoff in seconds after failed attempt ``attempt``, used only to show ``next_attempt_at``;
    ``timeout`` bounds one attempt (connect, send, response) in seconds;
    ``connection_of(tenant_id, connection_id)`` (optional) reads the live connection of a
    delivery: its own ``notify_url`` as it is now is where its events go (the task's copy is
    used only once the connection is gone), on each attempt and on a replay."""

    def __init__(
        self,
        store: DeliveryRepository,
        settings: NotifySettingsService,
        client: NotifyClient,
        clock: Clock,
        max_attempts: int,
        *,
        timeout: float = 15.0,
        retry_delay: Callable[[int], float] | None = None,
        connection_of: Callable[[str, str], Connection | None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._store = store
        self._settings = settings
        self._client = client
        self._clock = clock
        self._max_attempts = max_attempts
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._connection_of = connection_of

    # -- the task handler -------------------------------------------------------------------
    def deliver(self, payload: Mapping[str, Any]) -> None:
        """One attempt at delivering ``payload["event"]``; see the module documentation.
        Returns when the delivery is settled (delivered, failed, dead, or already settled);
        raises :class:`DeliveryFailed` (retryable) for the queue to try again."""
        event, override = _event_from(payload)
        existing = self._store.get_delivery(event.tenant_id, event.id)
        if existing is not None and existing.status in (
            DeliveryStatus.DELIVERED,
            DeliveryStatus.DEAD,
        ):
            log.info("delivery %s is already %s; not sent again", event.id, existing.status.value)
            return
        delivery = existing or self._new_delivery(event)
        delivery.event = event.as_dict()
        outcome = self._attempt(delivery, self._own_notify_url(delivery, override))
        if outcome is None:
            return
        if delivery.attempts >= self._max_attempts:
            self._settle(delivery, DeliveryStatus.DEAD)
            log.warning(
                "delivery %s is dead after %d attempts (%s)",
                delivery.id,
                delivery.attempts,
                delivery.last_error,
            )
            return
        delivery.next_attempt_at = (
            None
            if self._retry_delay is None
            else delivery.updated_at + timedelta(seconds=self._retry_delay(delivery.attempts))
        )
        self._store.record_delivery(delivery)
        raise DeliveryFailed(
            f"delivery attempt {delivery.attempts} of {self._max_attempts} failed",
            details={"delivery_id": delivery.id, "attempt": delivery.attempts, "reason": outcome},
        )

    # -- replay -----------------------------------------------------------------------------
    def replay(self, tenant_id: str, delivery_id: str, *, notify_url: str | None = None) -> bool:
        """Send a settled delivery (``dead``, ``failed``, or ``delivered`` again) once more,
        now and synchronously, with a fresh attempt count; ``True`` if the receiver answered
        2xx. On any failure the delivery is left ``failed`` with the reason (no queue retry
        follows: replay again, or enqueue a ``deliver`` task).

        The stored envelope is sent to ``notify_url`` when given, else to the notify URL of
        the delivery's connection when it has one of its own (records keep only its host),
        else to the tenant's notify URL.
        :class:`NotFound` for an unknown id (or another tenant's); :class:`Conflict`
        (``DELIVERY_IN_PROGRESS``) while the queue still owns it (``pending``)."""
        delivery = self._store.get_delivery(tenant_id, delivery_id)
        if delivery is None:
            raise NotFound("no such delivery", code="DELIVERY_NOT_FOUND")
        if delivery.status is DeliveryStatus.PENDING:
            raise Conflict(
                "the delivery is still being retried; replay it once it is settled",
                code="DELIVERY_IN_PROGRESS",
            )
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = None
        outcome = self._attempt(delivery, notify_url or self._own_notify_url(delivery, None))
        if outcome is None:
            return delivery.status is DeliveryStatus.DELIVERED
        self._settle(delivery, DeliveryStatus.FAILED)
        return False

    def _own_notify_url(self, delivery: Delivery, queued: str | None) -> str | None:
        """The notify URL of the delivery's connection as it is now (``None``: it has none of
        its own, so the tenant's); ``queued``, the copy the task carries, once the connection
        is gone (its ``connection.deleted`` event) or when connections cannot be read. A
        retry after the connection's URL changed must not go to the URL it left."""
        if self._connection_of is None or delivery.connection_id is None:
            return queued
        connection = self._connection_of(delivery.tenant_id, delivery.connection_id)
        return queued if connection is None else connection.notify_url

    # -- one attempt ------------------------------------------------------------------------
    def _new_delivery(self, event: TetherEvent) -> Delivery:
        now = self._clock.now()
        return Delivery(
            id=event.id,
            tenant_id=event.tenant_id,
            connection_id=event.connection_id,
            event_type=event.type,
            provider=event.provider,
            created_at=now,
            updated_at=now,
            event=event.as_dict(),
        )

    def _attempt(self, delivery: Delivery, override: str | None) -> str | None:
        """Resolve, sign and send once. Records the outcome and returns ``None`` when the
        delivery is settled (delivered, or ``failed`` for good); returns the failure code of
        a retryable failure, with the attempt counted but the record not yet written."""
        url = override or self._settings.notify_url(delivery.tenant_id)
        if url is None:
            delivery.last_error = NO_NOTIFY_URL
            self._settle(delivery, DeliveryStatus.FAILED)
            log.info("delivery %s has no notify URL; recorded as failed", delivery.id)
            return None
        try:
            target = self._settings.check_notify_url(url)
        except InvalidRequest as exc:
            delivery.last_error = exc.code
            if exc.code in _PERMANENT_URL_CODES:
                self._settle(delivery, DeliveryStatus.FAILED)
                log.warning("delivery %s: notify URL refused (%s)", delivery.id, exc.code)
                return None
            delivery.attempts += 1
            delivery.last_status_code = None
            delivery.updated_at = self._clock.now()
            return exc.code
        delivery.notify_url_host = target.host
        try:
            body = json.dumps(
                delivery.event, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
        except (TypeError, ValueError):
            delivery.last_error = INVALID_EVENT
            self._settle(delivery, DeliveryStatus.FAILED)
            return None

        secrets = self._settings.signing_secrets(delivery.tenant_id)
        sent_at = self._clock.now().astimezone(UTC)
        signatures = " ".join(
            Webhook(secret).sign(msg_id=delivery.id, timestamp=sent_at, data=body)
            for secret in secrets
        )
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(math.floor(sent_at.timestamp())),
            "webhook-signature": signatures,
        }

        delivery.attempts += 1
        delivery.status = DeliveryStatus.PENDING
        delivery.updated_at = sent_at
        delivery.next_attempt_at = None
        # Written before sending: an attempt cut short by a crash still counts and shows.
        self._store.record_delivery(delivery)
        try:
            response = self._client.request(
                "POST",
                url,
                headers=headers,
                content=body.encode("utf-8"),
                retry_unsafe=False,
                timeout=self._timeout,
            )
        except OutboundError as exc:
            delivery.last_status_code = None
            delivery.last_error = exc.code
            delivery.updated_at = self._clock.now()
            log.info(
                "delivery %s attempt %d to %s failed (%s)",
                delivery.id,
                delivery.attempts,
                target.host,
                exc.code,
            )
            if exc.failure in ("blocked", "invalid_url"):
                self._settle(delivery, DeliveryStatus.FAILED)
                return None
            return exc.code

        delivery.last_status_code = response.status
        delivery.updated_at = self._clock.now()
        if 200 <= response.status < 300:
            delivery.last_error = None
            self._settle(delivery, DeliveryStatus.DELIVERED)
            log.info(
                "delivery %s attempt %d to %s: %d",
                delivery.id,
                delivery.attempts,
                target.host,
                response.status,
            )
            return None
        delivery.last_error = UNEXPECTED_STATUS
        log.info(
            "delivery %s attempt %d to %s answered %d",
            delivery.id,
            delivery.attempts,
            target.host,
            response.status,
        )
        return UNEXPECTED_STATUS

    def _settle(self, delivery: Delivery, status: DeliveryStatus) -> None:
        delivery.status = status
        delivery.next_attempt_at = None
        delivery.updated_at = max(delivery.updated_at, self._clock.now())
        self._store.record_delivery(delivery)
