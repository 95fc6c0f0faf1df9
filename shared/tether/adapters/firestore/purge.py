"""Firestore :class:`~tether.ports.ExpiredRecordPurge`: what the TTL policies delete lazily,
deleted now, by queries on ``expires_at``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from tether.adapters.firestore.documents import (
    AUDIT,
    CONNECT_SESSIONS,
    DELIVERIES,
    LEASES,
    OAUTH_STATES,
    RECORDS,
    WEBHOOK_EVENTS,
    FirestoreDatabase,
    Snapshot,
    aware,
    backend,
)
from tether.adapters.firestore.idempotency_keys import IDEMPOTENCY_KEYS

__all__ = ["FirestorePurge"]

# Writes per commit when purging (Firestore's historical per-commit limit).
_PURGE_BATCH = 500


class FirestorePurge:
    def __init__(self, database: FirestoreDatabase) -> None:
        self._database = database

    def purge_expired(self, *, now: datetime) -> int:
        """Delete expired OAuth states, webhook events, leases, connect sessions, deliveries,
        audit entries, idempotency keys of action runs (24 hours after the run, or once an
        unfinished claim lapsed) and synced records deleted at the source (which carry
        ``expires_at`` only when a retention of deleted records is set). The TTL policies do
        the same lazily in production; deliveries, audit entries, idempotency keys and records
        are found across tenants by collection-group queries. A document changed since the query
        saw it is left alone: a lease taken again must not be deleted under its new owner.
        Rate buckets are left to their TTL policy alone: their ``expires_at`` is not indexed.
        Deliveries and audit entries written before they carried ``expires_at`` are never
        found: delete those once by hand, or let them be."""
        cutoff = aware(now)
        removed = 0
        with backend():
            for query_of in (
                self._database.client.collection(OAUTH_STATES),
                self._database.client.collection(WEBHOOK_EVENTS),
                self._database.client.collection(LEASES),
                self._database.client.collection(CONNECT_SESSIONS),
                self._database.client.collection_group(DELIVERIES),
                self._database.client.collection_group(AUDIT),
                self._database.client.collection_group(IDEMPOTENCY_KEYS),
                self._database.client.collection_group(RECORDS),
            ):
                query = (
                    query_of.where(filter=FieldFilter("expires_at", "<=", cutoff))
                    .select([])
                    .limit(_PURGE_BATCH)
                )
                while True:
                    snapshots = list(query.stream())
                    deleted = self._delete_unchanged(snapshots) if snapshots else 0
                    removed += deleted
                    if len(snapshots) < _PURGE_BATCH or deleted == 0:
                        break
        return removed

    def _delete_unchanged(self, snapshots: Sequence[Snapshot]) -> int:
        batch = self._database.client.batch()
        for snapshot in snapshots:
            batch.delete(snapshot.reference, option=self._database.unchanged_since(snapshot))
        try:
            batch.commit()
        except (gexc.FailedPrecondition, gexc.NotFound):
            pass  # one of them changed meanwhile: one at a time, skipping the changed ones
        else:
            return len(snapshots)
        deleted = 0
        for snapshot in snapshots:
            try:
                snapshot.reference.delete(option=self._database.unchanged_since(snapshot))
            except (gexc.FailedPrecondition, gexc.NotFound):
                continue
            deleted += 1
        return deleted
