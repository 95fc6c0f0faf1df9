"""Records the store contract suites write, and small helpers over the ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tether.domain.models import (
    AuditEvent,
    Connection,
    Delivery,
    OAuthState,
    TenantSettings,
    WebhookEvent,
)
from tether.ports import RateBuckets

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make(
    connection_id: str, tenant: str = "t1", *, minutes: int = 0, **extra: object
) -> Connection:
    at = T0 + timedelta(minutes=minutes)
    fields: dict[str, object] = {
        "id": connection_id,
        "tenant_id": tenant,
        "provider": "stripe",
        "auth_mode": "api_key",
        "display_name": f"conn {connection_id}",
        "created_at": at,
        "updated_at": at,
        "created_by": "u1",
    }
    fields.update(extra)
    return Connection.model_validate(fields)


def _entry(event_id: str, tenant: str = "t1", connection_id: str | None = "conn_au") -> AuditEvent:
    return AuditEvent(
        id=event_id,
        tenant_id=tenant,
        connection_id=connection_id,
        action="connection.updated",
        actor="u1",
        at=T0,
        detail={"fields": ["display_name"]},
    )


def _state(state_hash: str, *, expires_in: int = 600) -> OAuthState:
    return OAuthState(
        state_hash=state_hash,
        tenant_id="t1",
        user_id="u1",
        provider="google_drive",
        redirect_uri="https://tether.example/oauth_callback/",
        created_at=T0,
        expires_at=T0 + timedelta(seconds=expires_in),
        data={"verifier_sealed": "tg1.x"},
    )


def _event(key: str, *, expires_in: int = 3600) -> WebhookEvent:
    return WebhookEvent(
        id=f"evt_{key}",
        provider="stripe",
        dedupe_key=key,
        tenant_id="t1",
        connection_id="conn_1",
        received_at=T0,
        expires_at=T0 + timedelta(seconds=expires_in),
        body='{"id": "evt_1"}',
    )


def _delivery(
    delivery_id: str,
    tenant: str = "t1",
    *,
    connection_id: str | None = "conn_1",
    minutes: int = 0,
    **extra: object,
) -> Delivery:
    at = T0 + timedelta(minutes=minutes)
    fields: dict[str, object] = {
        "id": delivery_id,
        "tenant_id": tenant,
        "connection_id": connection_id,
        "event_type": "stripe.invoice.paid",
        "provider": "stripe",
        "created_at": at,
        "updated_at": at,
        "event": {
            "id": delivery_id,
            "type": "stripe.invoice.paid",
            "data": {"n": [1, {"x": None}]},
        },
        "notify_url_host": "hooks.example.com",
    }
    fields.update(extra)
    return Delivery.model_validate(fields)


def _received(
    key: str, *, minutes: int, tenant: str = "t1", connection_id: str | None = "conn_1"
) -> WebhookEvent:
    at = T0 + timedelta(minutes=minutes)
    return WebhookEvent(
        id=f"whe_{key}",
        provider="webhook",
        dedupe_key=f"{connection_id}/{key}",
        tenant_id=tenant if connection_id is not None else None,
        connection_id=connection_id,
        received_at=at,
        expires_at=at + timedelta(days=7),
        headers={"content-type": "application/json"},
        body='{"type": "order.created"}',
        detail={"type": "order.created"},
    )


def _settings(tenant: str = "t1", **extra: object) -> TenantSettings:
    fields: dict[str, object] = {"tenant_id": tenant, "updated_at": T0}
    fields.update(extra)
    return TenantSettings.model_validate(fields)


DAY = timedelta(days=1)


def _drain(
    rate_buckets: RateBuckets, key: str, *, per_minute: int, burst: int, now: datetime
) -> int:
    """Acquire on ``key`` at ``now`` until refused; how many were granted."""
    granted = 0
    while rate_buckets.acquire_rate(key, per_minute=per_minute, burst=burst, now=now) == 0.0:
        granted += 1
        assert granted <= burst, "granted more than the burst"
    return granted
