"""Pure data: the records Tether stores and the shapes its services exchange. No I/O."""

# No `from __future__ import annotations`: pydantic would compile every annotation of these
# models back from its text as each class is created, a cost paid on every cold start.

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tether.domain.connect_scope import ConnectScope
from tether.domain.status import ConnectionStatus

__all__ = [
    "AuditAction",
    "AuditEvent",
    "ConnectSession",
    "Connection",
    "CredentialRef",
    "Delivery",
    "DeliveryStatus",
    "LastTest",
    "Lease",
    "NotifySecret",
    "OAuthState",
    "Page",
    "Principal",
    "StatusDetail",
    "TenantSettings",
    "WebhookEvent",
    "WebhookInfo",
]


class _Record(BaseModel):
    # defer_build: a model's validator is built on first use, so a cold instance pays only for
    # the records its first request touches.
    model_config = ConfigDict(
        extra="forbid", frozen=False, validate_assignment=True, defer_build=True
    )


class Principal(_Record):
    """Who is calling: always taken from a verified token, never from the request.
    ``session``: set when the token is a connect session's (one end user's browser), whose
    reach :mod:`tether.domain.connect_scope` checks."""

    tenant_id: str
    user_id: str
    claims: dict[str, Any] = Field(default_factory=dict, repr=False)
    session: ConnectScope | None = None


class CredentialRef(_Record):
    """Where a connection's credential payload lives.

    ``backend == "db"``: ``locator`` is the AES-GCM envelope itself, stored on the record.
    ``backend == "secret_manager"``: ``locator`` is ``projects/…/secrets/…/versions/N``.
    """

    backend: Literal["db", "secret_manager"]
    locator: str = Field(repr=False)
    key_id: str | None = None


class StatusDetail(_Record):
    code: str
    message: str
    at: datetime


class LastTest(_Record):
    ok: bool
    code: str
    at: datetime
    latency_ms: int | None = None


class WebhookInfo(_Record):
    url: str | None = None
    token_hash: str | None = None


class Connection(_Record):
    """One tenant's connection to one provider account.

    Secret material is only ever referenced (``credential_ref``) or sealed
    (``sealed_access_token``); views for callers are built by the API layer, never by
    dumping this model.
    """

    id: str
    tenant_id: str
    provider: str
    auth_mode: str
    display_name: str
    # The tenant's end user the connection belongs to (the tenant's own id for them), set by a
    # connect session or by the tenant at creation; ``None``: the tenant's own connection.
    end_user_id: str | None = None
    status: ConnectionStatus = ConnectionStatus.PENDING
    status_detail: StatusDetail | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    credential_ref: CredentialRef | None = None
    credential_hints: dict[str, str] = Field(default_factory=dict)
    sealed_access_token: str | None = Field(default=None, repr=False)
    token_expires_at: datetime | None = None
    token_refreshed_at: datetime | None = None
    # Consecutive refresh attempts that failed in a retryable way (network, 5xx); reset by a
    # successful refresh. Past the retry budget the connection moves to ``error``.
    refresh_failures: int = 0
    scopes: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    created_by: str
    last_test: LastTest | None = None
    last_sync_at: datetime | None = None
    webhook: WebhookInfo | None = None
    # The account id app-level webhook deliveries name (the catalog's ``route_field``), as the
    # provider proved it when the connection was authorized. Only Tether sets it, never a
    # tenant: whoever holds a route value receives that account's events. Unique per
    # provider among live connections.
    webhook_route: str | None = None
    # Where this connection's events go instead of the tenant's notify URL.
    notify_url: str | None = None
    version: int = 1
    deleted_at: datetime | None = None


class AuditAction(StrEnum):
    CREATED = "connection.created"
    UPDATED = "connection.updated"
    DELETED = "connection.deleted"
    CREDENTIALS_READ = "credentials.read"
    CREDENTIALS_UPDATED = "credentials.updated"
    CREDENTIALS_ROTATED = "credentials.rotated"
    TESTED = "connection.tested"
    OAUTH_STARTED = "oauth.started"
    OAUTH_CONNECTED = "oauth.connected"
    OAUTH_FAILED = "oauth.failed"
    TOKEN_REFRESHED = "token.refreshed"  # noqa: S105 - an action name
    TOKEN_REFRESH_FAILED = "token.refresh_failed"  # noqa: S105 - an action name
    NEEDS_REAUTH = "connection.needs_reauth"
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 - an action name
    TOKEN_REVOCATION_FAILED = "token.revocation_failed"  # noqa: S105 - an action name


class AuditEvent(_Record):
    """An audit entry. ``detail`` holds field *names* and outcomes, never values of secrets."""

    id: str
    tenant_id: str
    connection_id: str | None
    action: str
    actor: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class OAuthState(_Record):
    """A single-use OAuth authorization state, stored under the hash of the state value."""

    state_hash: str
    tenant_id: str
    user_id: str
    provider: str
    redirect_uri: str
    created_at: datetime
    expires_at: datetime
    data: dict[str, Any] = Field(default_factory=dict, repr=False)
    used_at: datetime | None = None


class WebhookEvent(_Record):
    """A received provider event, keyed for dedupe by ``(provider, dedupe_key)``."""

    id: str
    provider: str
    dedupe_key: str
    tenant_id: str | None
    connection_id: str | None
    received_at: datetime
    expires_at: datetime
    status: str = "received"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str = Field(default="", repr=False)
    detail: dict[str, Any] = Field(default_factory=dict)


class ConnectSession(_Record):
    """A connect session: one end user's short-lived access from a browser. Stored under its
    ``id``; the token is ``<id>.<secret>`` and only the secret's SHA-256 is kept
    (``secret_hash``), so a read of the store yields no usable token."""

    id: str
    tenant_id: str
    secret_hash: str = Field(repr=False)
    end_user_id: str
    end_user_display_name: str | None = None
    allowed_providers: list[str] | None = None
    allowed_origins: list[str] = Field(default_factory=list)
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class Lease(_Record):
    name: str
    owner: str
    expires_at: datetime


class IdempotencyRecord(_Record):
    """An action run under an ``Idempotency-Key``: ``key`` is the hash of the caller's key,
    ``request_hash`` of what was asked (connection, action, input), ``owner`` the run that
    claimed it. ``pending`` until the run ends (expiring soon, so a crashed run frees it);
    then ``done`` with the ``answer`` (status and body), kept until ``expires_at``."""

    tenant_id: str
    key: str
    request_hash: str
    owner: str
    state: Literal["pending", "done"] = "pending"
    answer: dict[str, Any] | None = None
    created_at: datetime
    expires_at: datetime


class NotifySecret(_Record):
    """One signing secret of a tenant's event deliveries (Standard Webhooks ``whsec_…``).

    ``sealed`` is the secret sealed for the tenant, with the secret's ``id`` as record id and
    purpose ``notify_secret``; the plaintext is never stored. The current secret has no
    ``expires_at``; a rotated-out one keeps signing, next to the new one, until it expires
    (the overlap during which receivers move to the new secret)."""

    id: str
    sealed: str = Field(repr=False)
    created_at: datetime
    expires_at: datetime | None = None


class TenantSettings(_Record):
    """Per-tenant settings: where Tether delivers the tenant's events and what it signs them
    with. Stored whole and replaced by compare-and-set on ``version``."""

    tenant_id: str
    notify_url: str | None = None
    notify_secrets: list[NotifySecret] = Field(default_factory=list)
    version: int = 1
    updated_at: datetime


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not delivered yet; the queue will try again
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # cannot be delivered as things are (no URL, refused URL); not retried
    DEAD = "dead"  # every attempt failed; dead-lettered, replayable


class Delivery(_Record):
    """One event's delivery to a tenant, for visibility and replay. ``id`` is the event id
    (one record per event and tenant). ``event`` is the envelope as sent (Tether's normalized
    event, never a secret); ``last_error`` is a code, never a message or a response body;
    ``notify_url_host`` is the host only (a URL may carry a token)."""

    id: str
    tenant_id: str
    connection_id: str | None = None
    event_type: str
    provider: str | None = None
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None
    event: dict[str, Any] = Field(default_factory=dict)
    notify_url_host: str | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing. A plain dataclass: it carries already-validated records, and a
    parametrized pydantic model would cost a schema build per item type on a cold start."""

    items: list[T]
    next_cursor: str | None = None
    # Ids of records of this page the store could not decode: left out of ``items`` (and
    # logged by id) so one damaged record never breaks a listing; readers that must account
    # for every record (key rotation, the refresh sweep) count them.
    unreadable: list[str] = field(default_factory=list)
