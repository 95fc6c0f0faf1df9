"""Firestore :class:`~tether.ports.AuditLog`: ``tenants/<t>/audit/<event id>`` with a TTL of
the retention; and the entries other repositories create in their own batches
(:class:`AuditedWrites`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import AUDIT, FirestoreDatabase, aware, backend, decoded
from tether.adapters.firestore.paths import doc_id
from tether.domain.errors import Conflict
from tether.domain.models import AuditEvent
from tether.domain.retention import Retention

__all__ = ["AuditedWrites", "FirestoreAuditLog", "audit_taken"]

AuditWrite = tuple[DocumentReference, dict[str, Any]]


def audit_taken() -> Conflict:
    return Conflict("an audit event with this id already exists")


class AuditedWrites:
    """Base of the repositories whose writes carry audit entries (``audit=``): they add the
    ``create()`` of each entry (:meth:`_audit_writes`) to the batch of the change, so both
    commit or neither does."""

    def __init__(self, database: FirestoreDatabase, *, retention: Retention | None = None) -> None:
        self._database = database
        self._retention = retention or Retention()

    def _audit_writes(self, events: Sequence[AuditEvent]) -> list[AuditWrite]:
        """The ``create()`` of each entry, for the batch of the write it records."""
        writes = []
        for event in events:
            tenant = self._database.tenant(event.tenant_id)
            ref = tenant.collection(AUDIT).document(doc_id(event.id))
            fields = {
                "record": event.model_dump_json(),
                "id": event.id,
                "connection_id": event.connection_id,
                "at": aware(event.at),
                "expires_at": event.at + self._retention.audit,  # TTL
            }
            writes.append((ref, self._database.checked(ref, fields)))
        return writes

    @staticmethod
    def _audit_clash(writes: Sequence[AuditWrite]) -> Conflict | None:
        """:class:`Conflict` when a failed batch's ``create()`` of an entry hit an existing one."""
        for ref, _ in writes:
            if ref.get(field_paths=["id"]).exists:
                return audit_taken()
        return None


class FirestoreAuditLog(AuditedWrites):
    """``retention``: how long an entry is kept (its ``expires_at``, for the TTL policy and
    the purge)."""

    def append_audit(self, event: AuditEvent) -> None:
        ((ref, fields),) = self._audit_writes((event,))
        with backend():
            try:
                ref.create(fields)
            except gexc.AlreadyExists:
                raise audit_taken() from None

    def list_audit(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        if limit < 1:
            return []
        snapshots = self._database.newest(tenant_id, AUDIT, "at", connection_id, limit)
        return decoded(AuditEvent, snapshots).items
