"""One audit entry as every service writes it: a new id, now, the acting user and tenant.
``detail`` names fields and outcomes, never secret values."""

from __future__ import annotations

from typing import Any

from tether.domain.clock import Clock
from tether.domain.ids import IdGenerator
from tether.domain.models import AuditEvent, Principal

__all__ = ["audit_entry"]


def audit_entry(
    ids: IdGenerator,
    clock: Clock,
    principal: Principal,
    connection_id: str | None,
    action: str,
    **detail: Any,
) -> AuditEvent:
    return AuditEvent(
        id=ids.new("aud"),
        tenant_id=principal.tenant_id,
        connection_id=connection_id,
        action=action,
        actor=principal.user_id,
        at=clock.now(),
        detail=detail,
    )
