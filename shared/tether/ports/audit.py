"""The audit trail: who changed or read what, per tenant. Its contract suite is
``tests/contract/test_audit_log_contract.py``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tether.domain.models import AuditEvent

__all__ = ["AuditLog"]


@runtime_checkable
class AuditLog(Protocol):
    """A tenant's audit entries. A change of another record writes its entries through the
    ``audit`` argument of that write (:class:`~tether.ports.ConnectionRepository`,
    :class:`~tether.ports.TenantSettingsRepository`), so a crash between the two can never
    leave a change without its entry; they are listed here like the others. Entries older
    than the store's :class:`~tether.domain.retention.Retention` go with
    :meth:`~tether.ports.ExpiredRecordPurge.purge_expired`."""

    def append_audit(self, event: AuditEvent) -> None:
        """Write one entry on its own: for what changed nothing in the store (a credential
        read, a test whose record could not be written, a revocation at the provider). An id
        already used in the tenant is :class:`~tether.domain.errors.Conflict`, nothing
        written."""
        ...

    def list_audit(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """The tenant's entries (of one connection, when given), newest first, at most
        ``limit``; a ``limit`` below 1 lists nothing. Entries that no longer decode are left
        out (each logged by id)."""
        ...
