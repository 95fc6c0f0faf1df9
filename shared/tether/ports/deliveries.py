"""Events delivered to tenants, one record per event. Their contract suite is
``tests/contract/test_delivery_contract.py``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tether.domain.models import Delivery

__all__ = ["DeliveryRepository"]


@runtime_checkable
class DeliveryRepository(Protocol):
    """Tenant-scoped delivery records, kept for the store's
    :class:`~tether.domain.retention.Retention` after their ``created_at``
    (:meth:`~tether.ports.ExpiredRecordPurge.purge_expired`)."""

    def record_delivery(self, delivery: Delivery) -> None:
        """Insert or replace the record ``(delivery.tenant_id, delivery.id)`` (last writer
        wins: the queue runs one delivery at a time, give or take a rare duplicate)."""
        ...

    def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        """The tenant's record as last written; ``None`` when unknown or another tenant's.
        One that no longer decodes is :class:`~tether.domain.errors.RecordUnreadable`."""
        ...

    def list_deliveries(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """The tenant's deliveries (of one connection, when given), newest ``created_at``
        first, then by id descending, at most ``limit``; records that no longer decode are
        left out. A ``limit`` below 1 is :class:`~tether.domain.errors.InvalidRequest`."""
        ...
