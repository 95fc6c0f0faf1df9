"""Firestore :class:`~tether.ports.DeliveryRepository`: ``tenants/<t>/deliveries/<id>``, upserted
whole, with a TTL of the retention."""

from __future__ import annotations

from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import (
    DELIVERIES,
    FirestoreDatabase,
    aware,
    backend,
    decoded,
)
from tether.adapters.firestore.paths import doc_id
from tether.domain.errors import InvalidRequest
from tether.domain.models import Delivery
from tether.domain.retention import Retention

__all__ = ["FirestoreDeliveries"]


class FirestoreDeliveries:
    """``retention``: how long a delivery is kept after its ``created_at`` (its
    ``expires_at``, for the TTL policy and the purge)."""

    def __init__(self, database: FirestoreDatabase, *, retention: Retention | None = None) -> None:
        self._database = database
        self._retention = retention or Retention()

    def _delivery_ref(self, tenant_id: str, delivery_id: str) -> DocumentReference:
        deliveries: CollectionReference = self._database.tenant(tenant_id).collection(DELIVERIES)
        return deliveries.document(doc_id(delivery_id))

    def record_delivery(self, delivery: Delivery) -> None:
        ref = self._delivery_ref(delivery.tenant_id, delivery.id)
        fields = {
            "record": delivery.model_dump_json(),
            "id": delivery.id,
            "connection_id": delivery.connection_id,
            "created_at": aware(delivery.created_at),
            "expires_at": delivery.created_at + self._retention.deliveries,  # TTL
        }
        fields = self._database.checked(ref, fields)
        with backend():
            ref.set(fields)

    def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        ref = self._delivery_ref(tenant_id, delivery_id)
        delivery = self._database.read_record(Delivery, ref, delivery_id)
        if delivery is None or delivery.tenant_id != tenant_id or delivery.id != delivery_id:
            return None
        return delivery

    def list_deliveries(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        snapshots = self._database.newest(tenant_id, DELIVERIES, "created_at", connection_id, limit)
        return decoded(Delivery, snapshots).items
