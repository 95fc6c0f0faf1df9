"""Firestore :class:`~tether.ports.WebhookEventRepository`: ``webhook_events/<sha256(provider
NUL key)>``, deduplicated by ``create()``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import (
    DESC,
    WEBHOOK_EVENTS,
    FirestoreDatabase,
    aware,
    backend,
    decoded,
)
from tether.adapters.firestore.paths import webhook_event_id
from tether.domain.models import WebhookEvent

__all__ = ["FirestoreWebhookEvents"]

# The statuses of an event still waiting to be processed (waiting_webhook_events).
_WAITING = ["received", "enqueued"]


class FirestoreWebhookEvents:
    def __init__(self, database: FirestoreDatabase) -> None:
        self._database = database

    def _event_ref(self, provider: str, dedupe_key: str) -> DocumentReference:
        return self._database.client.collection(WEBHOOK_EVENTS).document(
            webhook_event_id(provider, dedupe_key)
        )

    @staticmethod
    def _event_fields(event: WebhookEvent) -> dict[str, Any]:
        return {
            "record": event.model_dump_json(),
            "provider": event.provider,
            "expires_at": aware(event.expires_at),
            # list_webhook_events: filtered on the ids, ordered by received_at, and reading
            # only the summary (the record without body and headers), never the payload
            "tenant_id": event.tenant_id,
            "connection_id": event.connection_id,
            "received_at": aware(event.received_at),
            "summary": event.model_dump_json(exclude={"body", "headers"}),
            # waiting_webhook_events: the waiting statuses, ordered by received_at
            "status": event.status,
        }

    def create_webhook_event(self, event: WebhookEvent) -> bool:
        ref = self._event_ref(event.provider, event.dedupe_key)
        fields = self._database.checked(ref, self._event_fields(event))
        with backend():
            try:
                ref.create(fields)
            except gexc.AlreadyExists:
                return False
        return True

    def get_webhook_event(self, provider: str, dedupe_key: str) -> WebhookEvent | None:
        ref = self._event_ref(provider, dedupe_key)
        event = self._database.read_record(WebhookEvent, ref, dedupe_key)
        if event is None or event.provider != provider or event.dedupe_key != dedupe_key:
            return None
        return event

    def update_webhook_event(self, event: WebhookEvent) -> None:
        ref = self._event_ref(event.provider, event.dedupe_key)
        fields = self._database.checked(ref, self._event_fields(event))
        with backend():
            try:
                ref.update(fields)
            except gexc.NotFound:
                return

    def delete_webhook_event(self, provider: str, dedupe_key: str) -> None:
        with backend():
            self._event_ref(provider, dedupe_key).delete()

    def list_webhook_events(
        self, tenant_id: str, connection_id: str, *, limit: int = 50
    ) -> list[WebhookEvent]:
        """See :meth:`~tether.ports.WebhookEventRepository.list_webhook_events`: equality on
        the ids, newest ``received_at`` first, served by the composite index of the indexes file.
        Documents written before these fields existed are not listed (they expire within the
        event TTL)."""
        if limit < 1:
            return []
        query = (
            self._database.client.collection(WEBHOOK_EVENTS)
            .where(filter=FieldFilter("tenant_id", "==", tenant_id))
            .where(filter=FieldFilter("connection_id", "==", connection_id))
            .order_by("received_at", direction=DESC)
            .select(["summary"])
            .limit(limit)
        )
        with backend():
            snapshots = list(query.stream())
        return decoded(WebhookEvent, snapshots, "summary").items

    def waiting_webhook_events(
        self,
        received_before: datetime,
        *,
        limit: int = 500,
        after: WebhookEvent | None = None,
    ) -> list[WebhookEvent]:
        """See :meth:`~tether.ports.WebhookEventRepository.waiting_webhook_events`: ``status``
        one of the waiting ones and ``received_at`` before the bound, oldest first (ties by
        document name), served by the composite index (status, received_at) of the indexes
        file, reading the summaries only. Documents written before ``status`` was a field are
        not found (they expire within the event TTL)."""
        if limit < 1:
            return []
        query = (
            self._database.client.collection(WEBHOOK_EVENTS)
            .where(filter=FieldFilter("status", "in", _WAITING))
            .where(filter=FieldFilter("received_at", "<", aware(received_before)))
            .order_by("received_at")
            .order_by("__name__")  # the tie order, named so a page can start after an event
            .select(["summary"])
            .limit(limit)
        )
        if after is not None:
            query = query.start_after(
                {
                    "received_at": aware(after.received_at),
                    "__name__": webhook_event_id(after.provider, after.dedupe_key),
                }
            )
        with backend():
            snapshots = list(query.stream())
        return decoded(WebhookEvent, snapshots, "summary").items
