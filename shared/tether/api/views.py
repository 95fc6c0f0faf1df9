"""What callers see of a connection and its audit trail, built field by field into the
response models of :mod:`tether.api.schemas`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.api.schemas import (
    AuditEntry,
    ConnectionView,
    LastTestView,
    StatusDetailView,
    WebhookUrl,
)
from tether.domain.models import AuditEvent, Connection

if TYPE_CHECKING:
    from tether.webhooks.provisioning import IssuedWebhook

__all__ = ["audit_view", "connection_view", "etag", "webhook_answer"]


def webhook_answer(issued: IssuedWebhook) -> WebhookUrl:
    """A webhook URL as issued (shown once): with its secret if Tether minted one, and how
    deliveries to it are verified and routed."""
    routing = issued.routing
    if routing is None:
        return WebhookUrl(url=issued.url, secret=issued.secret)
    return WebhookUrl(
        url=issued.url,
        secret=issued.secret,
        routing=routing.routing,
        signed_with=routing.signed_with,
        provider_url=routing.provider_url,
        route_field=routing.route_field,
    )


def connection_view(connection: Connection, *, webhook: WebhookUrl | None = None) -> ConnectionView:
    """``webhook``: the full URL (and secret) shown once, instead of the stored masked URL."""
    detail, test, hook = connection.status_detail, connection.last_test, connection.webhook
    if webhook is None and hook is not None and hook.url is not None:
        webhook = WebhookUrl(url=hook.url)
    return ConnectionView(
        id=connection.id,
        provider=connection.provider,
        auth_mode=connection.auth_mode,
        display_name=connection.display_name,
        end_user_id=connection.end_user_id,
        status=connection.status,
        status_detail=None
        if detail is None
        else StatusDetailView(
            code=detail.code,
            message=detail.message,
            at=detail.at,
            suggestion=_suggestion(detail.code, connection.auth_mode),
        ),
        config=connection.config,
        metadata=connection.metadata,
        credential_hints=connection.credential_hints,
        has_credentials=connection.credential_ref is not None,
        scopes=connection.scopes,
        token_expires_at=connection.token_expires_at,
        last_test=None
        if test is None
        else LastTestView(ok=test.ok, code=test.code, at=test.at, latency_ms=test.latency_ms),
        last_sync_at=connection.last_sync_at,
        notify_url=connection.notify_url,
        webhook=webhook,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
        created_by=connection.created_by,
        version=connection.version,
    )


def _suggestion(code: str, auth_mode: str) -> str | None:
    """The advice a connection test gives for ``code``, when it is a test outcome's."""
    # Imported here: only a connection with a status detail needs the outcomes.
    from tether.fetch.outcomes import OutcomeCode, suggestion_for

    try:
        outcome = OutcomeCode(code)
    except ValueError:
        return None
    return suggestion_for(outcome, auth_kind=auth_mode)


def audit_view(event: AuditEvent) -> AuditEntry:
    return AuditEntry(
        id=event.id, action=event.action, actor=event.actor, at=event.at, detail=event.detail
    )


def etag(connection: Connection) -> str:
    return f'"{connection.version}"'
