"""The "db" secret store's tombstones in Firestore, next to the tenant's records::

    tenants/<t>/retired_credentials/<sha256(connection id NUL version)>
        connection_id, version, retired_at, key_id

A point read of two documents (the version's and the connection's ``*``) answers
:meth:`is_retired` in one round trip. Retiring every version writes the ``*`` document first
(from then on nothing of the connection reads), then deletes the connection's other tombstones.
:meth:`forget_key` and :meth:`purge_retired` are collection-group queries on ``key_id`` and
``retired_at``, served by their field overrides in ``infra/firestore.indexes.json``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.db_secrets.retired_versions import ALL_VERSIONS
from tether.adapters.firestore.documents import FirestoreDatabase, Snapshot, backend
from tether.domain.clock import Clock, SystemClock

__all__ = ["RETIRED_CREDENTIALS", "FirestoreRetiredVersions"]

RETIRED_CREDENTIALS = "retired_credentials"
_BATCH = 500


class FirestoreRetiredVersions:
    def __init__(self, client: firestore.Client, *, clock: Clock | None = None) -> None:
        self._database = FirestoreDatabase(client)
        self._client = self._database.client
        self._clock: Clock = clock or SystemClock()

    def _tombstones(self, tenant_id: str) -> firestore.CollectionReference:
        tombstones: firestore.CollectionReference = self._database.tenant(tenant_id).collection(
            RETIRED_CREDENTIALS
        )
        return tombstones

    def _ref(self, tenant_id: str, connection_id: str, version: str) -> DocumentReference:
        key = hashlib.sha256(f"{connection_id}\0{version}".encode()).hexdigest()
        ref: DocumentReference = self._tombstones(tenant_id).document(key)
        return ref

    def retire(
        self, tenant_id: str, connection_id: str, version: str, *, key_id: str | None = None
    ) -> None:
        fields = {
            "connection_id": connection_id,
            "version": version,
            "retired_at": self._clock.now(),
            "key_id": None if version == ALL_VERSIONS else key_id,
        }
        with backend():
            self._ref(tenant_id, connection_id, version).set(fields)
            if version == ALL_VERSIONS:
                query = self._tombstones(tenant_id).where(
                    filter=FieldFilter("connection_id", "==", connection_id)
                )
                self._delete(query, keep=lambda snapshot: snapshot.get("version") == ALL_VERSIONS)

    def forget_key(self, key_id: str) -> int:
        """A collection-group query over every tenant's tombstones of that key."""
        query = self._client.collection_group(RETIRED_CREDENTIALS).where(
            filter=FieldFilter("key_id", "==", key_id)
        )
        with backend():
            return self._delete(query)

    def purge_retired(self, before: datetime) -> int:
        """A collection-group query over every tenant's tombstones on ``retired_at``."""
        query = self._client.collection_group(RETIRED_CREDENTIALS).where(
            filter=FieldFilter("retired_at", "<=", before)
        )
        with backend():
            return self._delete(query)

    def _delete(
        self, query: firestore.Query, *, keep: Callable[[Snapshot], bool] = lambda _: False
    ) -> int:
        """Delete what ``query`` finds but ``keep``, in batches of Firestore's 500 writes;
        returns how many."""
        batch, pending, gone = self._client.batch(), 0, 0
        for snapshot in query.stream():
            if keep(snapshot):
                continue
            batch.delete(snapshot.reference)
            pending += 1
            if pending == _BATCH:
                batch.commit()
                gone += pending
                batch, pending = self._client.batch(), 0
        if pending:
            batch.commit()
            gone += pending
        return gone

    def is_retired(self, tenant_id: str, connection_id: str, version: str) -> bool:
        refs = [
            self._ref(tenant_id, connection_id, version),
            self._ref(tenant_id, connection_id, ALL_VERSIONS),
        ]
        with backend():
            return any(snapshot.exists for snapshot in self._client.get_all(refs))
