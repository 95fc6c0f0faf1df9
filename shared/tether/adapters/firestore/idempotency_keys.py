"""Firestore :class:`~tether.ports.IdempotencyKeys`::

    tenants/<t>/idempotency_keys/<key>     record (JSON), owner, expires_at

A claim creates the document (an atomic ``create``: of racing claims of a free key one wins)
or, when the holder has expired, overwrites it under an ``update_time`` precondition; completing
and releasing check the owner the same way. ``expires_at`` is the field a TTL policy purges by.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import FirestoreDatabase, Stale, aware, backend
from tether.adapters.firestore.paths import doc_id
from tether.domain.models import IdempotencyRecord

__all__ = ["IDEMPOTENCY_KEYS", "FirestoreIdempotencyKeys"]

IDEMPOTENCY_KEYS = "idempotency_keys"


class FirestoreIdempotencyKeys:
    def __init__(self, client: firestore.Client) -> None:
        self._database = FirestoreDatabase(client)

    def _ref(self, tenant_id: str, key: str) -> DocumentReference:
        ref: DocumentReference = (
            self._database.tenant(tenant_id).collection(IDEMPOTENCY_KEYS).document(doc_id(key))
        )
        return ref

    @staticmethod
    def _fields(record: IdempotencyRecord) -> dict[str, Any]:
        return {
            "record": record.model_dump_json(),
            "owner": record.owner,
            "expires_at": aware(record.expires_at),
        }

    def claim_idempotency_key(
        self, record: IdempotencyRecord, *, now: datetime
    ) -> IdempotencyRecord | None:
        ref = self._ref(record.tenant_id, record.key)

        def attempt() -> IdempotencyRecord | None:
            current = ref.get()
            try:
                if not current.exists:
                    ref.create(self._fields(record))
                    return None
                held = IdempotencyRecord.model_validate_json(current.get("record"))
                if held.expires_at > now:
                    return held
                ref.update(self._fields(record), option=self._database.unchanged_since(current))
            except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound):
                raise Stale from None
            return None

        with backend():
            return self._database.optimistic(attempt)

    def complete_idempotency_key(
        self, tenant_id: str, key: str, *, owner: str, answer: dict[str, Any], expires_at: datetime
    ) -> None:
        ref = self._ref(tenant_id, key)

        def attempt() -> None:
            current = ref.get()
            if not current.exists or current.get("owner") != owner:
                return
            done = IdempotencyRecord.model_validate_json(current.get("record")).model_copy(
                update={"state": "done", "answer": answer, "expires_at": expires_at}
            )
            try:
                ref.update(self._fields(done), option=self._database.unchanged_since(current))
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise Stale from None

        with backend():
            self._database.optimistic(attempt)

    def release_idempotency_key(self, tenant_id: str, key: str, *, owner: str) -> None:
        ref = self._ref(tenant_id, key)

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
