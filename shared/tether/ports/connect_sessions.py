"""Connect sessions: one end user's short-lived browser access. Their contract suite is
``tests/contract/test_connect_session_contract.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from tether.domain.models import ConnectSession

__all__ = ["ConnectSessionRepository"]


@runtime_checkable
class ConnectSessionRepository(Protocol):
    """Sessions keyed by their id. A record holds the hash of the token's secret, never the
    token; it is written once, may be revoked, and is purged after ``expires_at``
    (:meth:`~tether.ports.ExpiredRecordPurge.purge_expired`)."""

    def create_connect_session(self, session: ConnectSession) -> None:
        """Atomic create; :class:`~tether.domain.errors.Conflict` if the id exists."""
        ...

    def get_connect_session(self, session_id: str) -> ConnectSession | None:
        """The session as stored (revoked and expired ones too, until purged), or ``None``. A
        stored session that no longer decodes is
        :class:`~tether.domain.errors.RecordUnreadable`."""
        ...

    def revoke_connect_session(self, tenant_id: str, session_id: str, *, at: datetime) -> bool:
        """Mark the tenant's session revoked at ``at`` (idempotent: a revoked one keeps its
        first ``revoked_at``). ``False`` when there is no such session of this tenant (another
        tenant's is indistinguishable from a missing one)."""
        ...
