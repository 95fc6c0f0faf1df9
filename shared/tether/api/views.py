"""What callers see of a connection: an explicit allow-list of fields, never a model dump,
so a new secret-bearing field can never leak by default."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tether.domain.clock import iso_utc
from tether.domain.models import AuditEvent, Connection

__all__ = ["audit_view", "connection_view", "etag"]


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def connection_view(connection: Connection) -> dict[str, Any]:
    return {
        "id": connection.id,
        "provider": connection.provider,
        "auth_mode": connection.auth_mode,
        "display_name": connection.display_name,
        "status": connection.status.value,
        "status_detail": None
        if connection.status_detail is None
        else {
            "code": connection.status_detail.code,
            "message": connection.status_detail.message,
            "at": _time(connection.status_detail.at),
        },
        "config": connection.config,
        "metadata": connection.metadata,
        "credential_hints": connection.credential_hints,
        "has_credentials": connection.credential_ref is not None,
        "scopes": connection.scopes,
        "token_expires_at": _time(connection.token_expires_at),
        "last_test": None
        if connection.last_test is None
        else {
            "ok": connection.last_test.ok,
            "code": connection.last_test.code,
            "at": _time(connection.last_test.at),
            "latency_ms": connection.last_test.latency_ms,
        },
        "last_sync_at": _time(connection.last_sync_at),
        "notify_url": connection.notify_url,
        "webhook": None
        if connection.webhook is None or connection.webhook.url is None
        else {"url": connection.webhook.url},
        "created_at": _time(connection.created_at),
        "updated_at": _time(connection.updated_at),
        "created_by": connection.created_by,
        "version": connection.version,
    }


def audit_view(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action,
        "actor": event.actor,
        "at": _time(event.at),
        "detail": event.detail,
    }


def etag(connection: Connection) -> str:
    return f'"{connection.version}"'
