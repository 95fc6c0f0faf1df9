"""Firestore :class:`~tether.ports.LeaseStore`: ``leases/<name>``, taken and released with an
``update_time`` precondition."""

from __future__ import annotations

from datetime import datetime, timedelta

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import LEASES, FirestoreDatabase, Stale, aware, backend
from tether.adapters.firestore.paths import doc_id
from tether.domain.models import Lease

__all__ = ["FirestoreLeases"]


class FirestoreLeases:
    def __init__(self, database: FirestoreDatabase) -> None:
        self._database = database

    def _lease_ref(self, name: str) -> DocumentReference:
        return self._database.client.collection(LEASES).document(doc_id(name))

    def acquire_lease(
        self, name: str, owner: str, *, ttl_seconds: float, now: datetime
    ) -> Lease | None:
        ref = self._lease_ref(name)
        lease = Lease(name=name, owner=owner, expires_at=now + timedelta(seconds=ttl_seconds))
        fields = {"name": name, "owner": owner, "expires_at": aware(lease.expires_at)}

        def attempt() -> Lease | None:
            current = ref.get()
            try:
                if not current.exists:
                    ref.create(fields)
                    return lease
                if current.get("owner") != owner and current.get("expires_at") > now:
                    return None
                ref.update(fields, option=self._database.unchanged_since(current))
            except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound):
                raise Stale from None
            return lease

        with backend():
            return self._database.optimistic(attempt)

    def release_lease(self, name: str, owner: str) -> None:
        ref = self._lease_ref(name)

        def attempt() -> None:
            current = ref.get(field_paths=["owner"])
            if not current.exists or current.get("owner") != owner:
                return
            try:
                ref.delete(option=self._database.unchanged_since(current))
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise Stale from None

        with backend():
            self._database.optimistic(attempt)
