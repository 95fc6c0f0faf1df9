"""A service's audit entries, in the one shape every service of connections writes them: built
to commit with the write they record (``audit=`` of the store's writes, both or neither), or
appended on their own for what changes no record (a read of credentials, an OAuth start or
refusal)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tether.domain.audit import audit_entry

if TYPE_CHECKING:
    from tether.domain.clock import Clock
    from tether.domain.ids import IdGenerator
    from tether.domain.models import AuditAction, AuditEvent, Principal
    from tether.ports import AuditLog

__all__ = ["AuditTrail"]


class AuditTrail:
    def __init__(self, *, log: AuditLog, ids: IdGenerator, clock: Clock) -> None:
        self._log = log
        self._ids = ids
        self._clock = clock

    def entry(
        self, principal: Principal, connection_id: str | None, action: AuditAction, **detail: Any
    ) -> AuditEvent:
        """An entry to commit with the write it records."""
        return audit_entry(self._ids, self._clock, principal, connection_id, action.value, **detail)

    def append(
        self, principal: Principal, connection_id: str | None, action: AuditAction, **detail: Any
    ) -> None:
        """An entry on its own: what it records changes nothing to commit it with."""
        self._log.append_audit(self.entry(principal, connection_id, action, **detail))
