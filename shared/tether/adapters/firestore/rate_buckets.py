"""Firestore :class:`~tether.ports.RateBuckets`: ``rate_buckets/<key>``, read, refilled and
written back with an ``update_time`` precondition (the arithmetic:
:mod:`tether.adapters.token_bucket`)."""

from __future__ import annotations

from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import (
    RATE_BUCKETS,
    FirestoreDatabase,
    Stale,
    aware,
    backend,
)
from tether.adapters.firestore.paths import doc_id
from tether.adapters.token_bucket import full_at, take_token

__all__ = ["FirestoreRateBuckets"]


class FirestoreRateBuckets:
    def __init__(self, database: FirestoreDatabase) -> None:
        self._database = database

    def _rate_ref(self, key: str) -> DocumentReference:
        return self._database.client.collection(RATE_BUCKETS).document(doc_id(key))

    def acquire_rate(self, key: str, *, per_minute: int, burst: int, now: datetime) -> float:
        """See :meth:`~tether.ports.RateBuckets.acquire_rate`: read the bucket, and when
        it holds a token write it back only if no one wrote it since (else read again)."""
        ref = self._rate_ref(key)
        at = aware(now)

        def attempt() -> float:
            current = ref.get()
            if current.exists:
                tokens, updated = float(current.get("tokens")), current.get("updated_at")
            else:
                tokens, updated = float(max(1, burst)), at
            elapsed = (at - updated).total_seconds()
            left, wait = take_token(tokens, elapsed, per_minute=per_minute, burst=burst)
            if wait > 0.0:
                return wait
            stamp = max(at, updated)
            fields = {
                "tokens": left,
                "updated_at": stamp,
                "expires_at": full_at(stamp, left, per_minute=per_minute, burst=burst),
            }
            try:
                if current.exists:
                    ref.update(fields, option=self._database.unchanged_since(current))
                else:
                    ref.create(fields)
            except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound):
                raise Stale from None
            return 0.0

        with backend():
            return self._database.optimistic(attempt)
