"""Bodies of the ``connections`` function: connections as callers see them, their audit trail,
inbound events and deliveries.
"""

# No `from __future__ import annotations`: pydantic would compile every annotation of these
# models back from its text as each class is created, a cost paid on every cold start.

from typing import Any

from pydantic import Field

from tether.api.schemas.body import Body, UtcTime
from tether.domain.status import ConnectionStatus

__all__ = [
    "AuditEntry",
    "AuditTrail",
    "ConnectionEvents",
    "ConnectionList",
    "ConnectionView",
    "DeliveryView",
    "InboundEventView",
    "LastTestView",
    "StatusDetailView",
    "WebhookUrl",
]


class StatusDetailView(Body):
    code: str
    message: str
    at: UtcTime
    suggestion: str | None = Field(
        default=None, description="what to do about it, when the code is a test outcome's"
    )


class LastTestView(Body):
    ok: bool
    code: str
    at: UtcTime
    latency_ms: int | None


class WebhookUrl(Body):
    """The connection's webhook URL: masked on reads; in full, with a generated signing
    secret where there is one, in the answer that created or rotated it (shown once)."""

    omitted_when_none = frozenset(
        {"secret", "routing", "signed_with", "provider_url", "route_field"}
    )

    url: str
    secret: str | None = None
    routing: str | None = Field(
        default=None,
        description="connection_url: deliveries to this URL are this connection's, whatever "
        "their payload names; register it with senders whose payload names no account (a "
        "GitHub repository webhook, a generic sender). Shown with the full URL only.",
    )
    signed_with: str | None = Field(
        default=None,
        description="credentials.<field>: the connection's own signing secret verifies "
        "deliveries to this URL; app: Tether's app-level secret of the provider",
    )
    provider_url: str | None = Field(
        default=None,
        description="the provider's app-level URL, which routes a delivery by route_field",
    )
    route_field: str | None = Field(
        default=None, description="the payload field the provider's app-level URL routes by"
    )


class ConnectionView(Body):
    """A connection as callers see it: never a credential, only masked hints."""

    id: str = Field(pattern="^conn_")
    provider: str
    auth_mode: str
    display_name: str
    end_user_id: str | None = Field(
        description="the tenant's end user the connection belongs to (connect sessions)"
    )
    status: ConnectionStatus
    status_detail: StatusDetailView | None
    config: dict[str, Any]
    metadata: dict[str, Any]
    credential_hints: dict[str, str]
    has_credentials: bool
    scopes: list[str]
    token_expires_at: UtcTime | None
    last_test: LastTestView | None
    last_sync_at: UtcTime | None
    notify_url: str | None
    webhook: WebhookUrl | None
    created_at: UtcTime
    updated_at: UtcTime
    created_by: str
    version: int


class ConnectionList(Body):
    connections: list[ConnectionView]
    next_cursor: str | None
    unreadable: list[str] = Field(
        description="ids of records of this page that can no longer be read (left out of "
        "connections; DELETE removes them)"
    )


class AuditEntry(Body):
    id: str
    action: str
    actor: str
    at: UtcTime
    detail: dict[str, Any]


class AuditTrail(Body):
    audit: list[AuditEntry]


class InboundEventView(Body):
    """One inbound webhook event: no body, no headers."""

    id: str
    provider: str
    status: str
    type: str | None
    received_at: UtcTime
    dedupe_key: str


class DeliveryView(Body):
    """One event's delivery to the tenant: ``last_error`` is a code, ``notify_url_host``
    the host only (a URL may carry a token)."""

    id: str
    type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: UtcTime
    updated_at: UtcTime
    notify_url_host: str | None


class ConnectionEvents(Body):
    events: list[InboundEventView]
    deliveries: list[DeliveryView]
