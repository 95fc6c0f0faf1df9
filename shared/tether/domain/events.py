"""The event tenants receive: :class:`TetherEvent`, one envelope for provider events and
Tether's own (a connection's lifecycle), whichever capability made it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tether.domain.clock import iso_utc

__all__ = ["TetherEvent"]


@dataclass(frozen=True)
class TetherEvent:
    """The one envelope every tenant receives, for provider events and Tether's own.

    ``source_event_id``: the provider's own id of the event it delivered (Stripe's ``evt_…``,
    GitHub's delivery GUID, Slack's ``event_id``, HubSpot's ``eventId``), for correlating with
    the provider's logs and retries; ``None`` for Tether's own events and for providers that
    name none (Xero)."""

    id: str
    type: str
    provider: str | None
    connection_id: str | None
    tenant_id: str
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    source_event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "provider": self.provider,
            "connection_id": self.connection_id,
            "tenant_id": self.tenant_id,
            "occurred_at": iso_utc(self.occurred_at),
            "source_event_id": self.source_event_id,
            "data": dict(self.data),
        }
