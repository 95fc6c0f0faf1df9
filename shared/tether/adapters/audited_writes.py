"""The audit entries a store write carries (``audit=`` of
:meth:`~tether.ports.ConnectionRepository.update_connection` and friends), checked the same way by
every adapter before anything is written."""

from __future__ import annotations

from collections.abc import Sequence

from tether.domain.errors import InvalidRequest
from tether.domain.models import AuditEvent

__all__ = ["entries_of"]


def entries_of(tenant_id: str, audit: Sequence[AuditEvent]) -> tuple[AuditEvent, ...]:
    """``audit`` as a tuple, refused whole when an entry belongs to another tenant than the
    record it commits with: a write never lands in two tenants' trails."""
    entries = tuple(audit)
    if any(entry.tenant_id != tenant_id for entry in entries):
        raise InvalidRequest("an audit entry of another tenant cannot commit with this write")
    return entries
