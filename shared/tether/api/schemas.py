"""Response bodies as pydantic models: routes build their answers from these, and
``/openapi.json`` is generated from the same classes, so the contract cannot drift from what
the functions send.

What callers see of a record is an explicit allow-list of fields, never a model dump, so a
new secret-bearing field can never leak by default. Times are ISO 8601 with ``Z``
(:data:`UtcTime`); a field that is ``None`` is sent as ``null`` unless its model lists it in
``omitted_when_none`` (then it is left out, as the API has always done for it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from tether.domain.clock import iso_utc
from tether.domain.status import ConnectionStatus

__all__ = [
    "AuditEntry",
    "AuditTrail",
    "Body",
    "ConnectSessionCreated",
    "ConnectSessionView",
    "ConnectionEvents",
    "ConnectionList",
    "ConnectionView",
    "DeliveryView",
    "EndUserView",
    "ErrorBody",
    "ErrorDetail",
    "InboundEventView",
    "LastTestView",
    "NotifySecretView",
    "NotifySettingsBody",
    "OAuthStarted",
    "ProviderDetail",
    "ProviderList",
    "ProviderSummary",
    "RotatedNotifySecret",
    "StatusDetailView",
    "TaskAnswer",
    "UtcTime",
    "WebhookAccepted",
    "WebhookAnswer",
    "WebhookChallenge",
    "WebhookUrl",
]

UtcTime = Annotated[
    datetime,
    PlainSerializer(iso_utc, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Body(BaseModel):
    """A response body. ``omitted_when_none``: fields left out of the JSON when ``None``."""

    # defer_build: a function builds the validators of the bodies it sends, on first use.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for name in self.omitted_when_none:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class ErrorDetail(Body):
    omitted_when_none = frozenset({"details"})

    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(Body):
    error: ErrorDetail


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


class NotifySecretView(Body):
    """A signing secret's id and lifetime, never its value; ``current`` signs new events."""

    id: str
    current: bool
    created_at: UtcTime
    expires_at: UtcTime | None


class NotifySettingsBody(Body):
    """``version`` and ``updated_at`` are ``null`` before anything was stored."""

    notify_url: str | None
    secrets: list[NotifySecretView]
    version: int | None
    updated_at: UtcTime | None


class RotatedNotifySecret(NotifySettingsBody):
    secret: str = Field(description="the new whsec_ signing secret, shown this once")


class EndUserView(Body):
    id: str
    display_name: str | None


class ConnectSessionView(Body):
    """A connect session as its bearer and its tenant see it (never the token)."""

    id: str = Field(pattern="^csess_")
    end_user: EndUserView
    allowed_providers: list[str] | None = Field(
        description="the providers the session offers; null: the whole catalog"
    )
    allowed_origins: list[str]
    expires_at: UtcTime


class ConnectSessionCreated(ConnectSessionView):
    """A new connect session: ``token`` is shown this once (hand it to the end user's
    browser); ``url`` is the hosted page with the token in its fragment."""

    token: str
    url: str


class OAuthStarted(Body):
    authorization_url: str
    state: str
    expires_at: UtcTime


class WebhookAccepted(Body):
    ok: bool
    duplicate: bool


class WebhookChallenge(Body):
    """The answer to a provider's handshake (Slack's ``url_verification``): its challenge."""

    challenge: str


class WebhookAnswer(RootModel[WebhookAccepted | WebhookChallenge]):
    """What a webhook URL answers a delivery: accepted, or a handshake's challenge."""


class TaskAnswer(Body):
    """``ok``; on failure the error, and ``retry: false`` when the queue must not retry."""

    omitted_when_none = frozenset({"retry", "error"})

    ok: bool
    retry: bool | None = None
    error: ErrorDetail | None = None


class ProviderSummary(Body):
    key: str
    display_name: str
    description: str
    auth_mode: str
    categories: list[str]
    regions: list[str]
    docs_url: str
    webhooks: bool = Field(description="whether the provider sends webhooks Tether verifies")


class ProviderList(Body):
    providers: list[ProviderSummary]


class ProviderDetail(RootModel[dict[str, Any]]):
    """A catalog entry as the catalog declares it (null fields left out) with the summary's
    fields; its schema is the catalog's own ``Provider`` schema plus those fields."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        from tether.catalog import Provider

        schema: dict[str, Any] = handler(Provider.__pydantic_core_schema__)
        target = handler.resolve_ref_schema(schema)
        summary = handler(ProviderSummary.__pydantic_core_schema__)
        extra = handler.resolve_ref_schema(summary)["properties"]
        target["properties"] = {**target["properties"], **extra}
        return schema
