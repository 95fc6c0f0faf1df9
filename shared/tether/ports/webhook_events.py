"""Inbound webhook events, deduplicated by an atomic create. Their contract suite is
``tests/contract/test_webhook_event_contract.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from tether.domain.models import WebhookEvent

__all__ = ["WebhookEventRepository"]


@runtime_checkable
class WebhookEventRepository(Protocol):
    """Stored webhook events keyed by ``(provider, dedupe_key)``, kept until their
    ``expires_at`` (:meth:`~tether.ports.ExpiredRecordPurge.purge_expired`). A stored event
    that no longer decodes is :class:`~tether.domain.errors.RecordUnreadable` when read, left
    out of a listing."""

    def create_webhook_event(self, event: WebhookEvent) -> bool:
        """``True`` if created, ``False`` (nothing written) if ``(provider, dedupe_key)``
        already exists: of racing creates of one key exactly one wins."""
        ...

    def get_webhook_event(self, provider: str, dedupe_key: str) -> WebhookEvent | None:
        """The event as last written, body and headers included; ``None`` when unknown."""
        ...

    def update_webhook_event(self, event: WebhookEvent) -> None:
        """Replace the stored event of ``(event.provider, event.dedupe_key)``; an event that
        is not stored (purged or deleted meanwhile) stays gone: nothing is written."""
        ...

    def delete_webhook_event(self, provider: str, dedupe_key: str) -> None:
        """Remove the event, freeing its key for a new create. Idempotent."""
        ...

    def list_webhook_events(
        self, tenant_id: str, connection_id: str, *, limit: int = 50
    ) -> list[WebhookEvent]:
        """The connection's stored events, newest ``received_at`` first (ties: a fixed order of
        the backend's choosing), at most ``limit``; events of no connection (unroutable) are
        never listed. A summary: ``body`` and ``headers`` come back empty, so a listing never
        reads payloads. A ``limit`` below 1 lists nothing."""
        ...

    def waiting_webhook_events(
        self,
        received_before: datetime,
        *,
        limit: int = 500,
        after: WebhookEvent | None = None,
    ) -> list[WebhookEvent]:
        """Events still waiting to be processed (status ``received`` or ``enqueued``) with
        ``received_at`` strictly before ``received_before``, of every tenant and of none
        (a system sweep, not a tenant's listing): oldest ``received_at`` first (ties: a fixed
        order of the backend's choosing), at most ``limit``; with ``after`` (the last event
        of a page this method returned), the ones that come after it in that order, so pages
        walk every waiting event once. Summaries like :meth:`list_webhook_events`: ``body``
        and ``headers`` come back empty. Unreadable records are left out. A ``limit`` below
        1 lists nothing."""
        ...
