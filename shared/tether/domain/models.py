"""Pure data: the records Tether stores and the shapes its services exchange. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tether.domain.status import ConnectionStatus

__all__ = [
    "AuditAction",
    "AuditEvent",
    "Connection",
    "CredentialRef",
    "LastTest",
    "Lease",
    "OAuthState",
    "Page",
    "Principal",
    "StatusDetail",
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
    """Who is calling: always taken from a verified token, never from the request."""

    tenant_id: str
    user_id: str
    claims: dict[str, Any] = Field(default_factory=dict, repr=False)


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
    version: int = 1
    deleted_at: datetime | None = None


class AuditAction(StrEnum):
    CREATED = "connection.created"
    UPDATED = "connection.updated"
    DELETED = "connection.deleted"
    CREDENTIALS_READ = "credentials.read"
    CREDENTIALS_UPDATED = "credentials.updated"
    CREDENTIALS_ROTATED = "credentials.rotated"
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


class Lease(_Record):
    name: str
    owner: str
    expires_at: datetime


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing. A plain dataclass: it carries already-validated records, and a
    parametrized pydantic model would cost a schema build per item type on a cold start."""

    items: list[T]
    next_cursor: str | None = None
