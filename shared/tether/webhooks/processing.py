"""Processing a stored inbound event (task kind ``process_webhook``): normalize it into a
:class:`~tether.domain.events.TetherEvent` and publish it to the tenant.

The event was verified, deduplicated and stored by :mod:`tether.webhooks.intake`, which
enqueued this task. Processing is idempotent: the published event's id is derived from the
provider and the dedupe key (:func:`event_id_for`), so its ``deliver`` task is named once
however often the task runs; an event already final, or gone (expired), is left alone; an
event whose connection is gone is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from tether.delivery.publisher import EventPublisher, QueuedEventPublisher
from tether.domain.bounded_json import holds_lone_surrogate, replace_lone_surrogates
from tether.domain.errors import InvalidRequest, NotFound
from tether.domain.events import TetherEvent
from tether.domain.models import Connection, WebhookEvent
from tether.webhooks.normalizers import RawEvent, normalize
from tether.webhooks.routing import field_text, parse_payload

if TYPE_CHECKING:
    from tether.catalog import Catalog
    from tether.ports import ConnectionRepository, TaskQueue, WebhookEventRepository

    class ProcessingRecords(ConnectionRepository, WebhookEventRepository, Protocol):
        """The record ports processing uses: the stored events and their connections."""


__all__ = ["PROCESS_WEBHOOK_TASK", "WebhookProcessing", "event_id_for"]

log = logging.getLogger("tether.webhooks")

PROCESS_WEBHOOK_TASK = "process_webhook"
# Statuses after which an event is never processed again.
_FINAL = frozenset({"processed", "unroutable", "dropped"})


def event_id_for(provider: str, key: str) -> str:
    """The stable :class:`TetherEvent` id of a provider event: ``evt_`` + 32 hex digits."""
    digest = hashlib.sha256(provider.encode("utf-8") + b"\x00" + key.encode("utf-8"))
    return "evt_" + digest.hexdigest()[:32]


def _stored_body(event: WebhookEvent) -> bytes:
    if event.detail.get("body_encoding") == "base64":
        return base64.b64decode(event.body)
    return event.body.encode("utf-8")


class WebhookProcessing:
    def __init__(
        self,
        *,
        store: ProcessingRecords,
        catalog: Callable[[], Catalog],
        tasks: Callable[[], TaskQueue],
        events: EventPublisher | None = None,
    ) -> None:
        """``events``: where processed events are published (default: ``deliver`` tasks on
        ``tasks``)."""
        self._store = store
        self._catalog = catalog
        self._events = events or QueuedEventPublisher(tasks)

    def process_webhook(self, payload: Mapping[str, Any]) -> None:
        """Task handler of ``process_webhook``: normalize the stored event and enqueue its
        ``deliver`` task (named after the event, so at most one), then mark it
        ``processed``. Idempotent; an event gone (expired) or already final is left alone."""
        provider_key, key = payload.get("provider"), payload.get("dedupe_key")
        if not isinstance(provider_key, str) or not isinstance(key, str):
            raise InvalidRequest("process_webhook needs provider and dedupe_key")
        event = self._store.get_webhook_event(provider_key, key)
        if event is None:
            log.info("webhook event of %s is gone; nothing to process", provider_key)
            return
        if event.status in _FINAL:
            return
        connection = None
        if event.tenant_id is not None and event.connection_id is not None:
            connection = self._store.get_connection(event.tenant_id, event.connection_id)
        if connection is None:
            self._store.update_webhook_event(
                event.model_copy(
                    update={"status": "dropped", "detail": {**event.detail, "reason": "gone"}}
                )
            )
            log.info("webhook event %s dropped: its connection is gone", event.id)
            return
        tether_event = self._normalize(event, connection)
        self._events.publish(tether_event, notify_url=connection.notify_url)
        self._store.update_webhook_event(
            event.model_copy(
                update={
                    "status": "processed",
                    "detail": {
                        **event.detail,
                        "type": tether_event.type,
                        "event_id": tether_event.id,
                    },
                }
            )
        )

    def _normalize(self, event: WebhookEvent, connection: Connection) -> TetherEvent:
        try:
            spec = self._catalog().get(event.provider).webhook
        except NotFound:
            spec = None
        body = _stored_body(event)
        payload = parse_payload(body, event.headers.get("content-type"))
        if holds_lone_surrogate(payload, raw=body):
            # Half a UTF-16 pair ("\ud800" in the JSON) can be no text of the event sent on:
            # its data carries U+FFFD there; the stored delivery keeps the body as sent.
            payload = replace_lone_surrogates(payload)
        raw = RawEvent(provider=event.provider, payload=payload, headers=event.headers, spec=spec)
        normalized = normalize(raw)
        return TetherEvent(
            id=event_id_for(event.provider, event.dedupe_key),
            type=normalized.type,
            provider=event.provider,
            connection_id=connection.id,
            tenant_id=connection.tenant_id,
            occurred_at=normalized.occurred_at or event.received_at,
            data=normalized.data,
            source_event_id=_source_event_id(event, raw),
        )


def _source_event_id(event: WebhookEvent, raw: RawEvent) -> str | None:
    """The provider's own id of the event: as intake kept it, or (a record stored before it
    kept one) read again from the stored payload and headers."""
    kept = event.detail.get("source_event_id")
    if isinstance(kept, str) and kept:
        return kept
    if "source_event_id" in event.detail or raw.spec is None:
        return None
    return field_text(raw.spec.event_id_path, raw.headers, raw.payload)
