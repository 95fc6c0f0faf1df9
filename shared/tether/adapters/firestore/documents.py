"""What every Firestore record adapter of this package shares: the collection names, the
client with its optimistic read-decide-write loop, and the small conversions between
documents and records. The layout and why it has this shape: :mod:`.store`."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.document import DocumentReference
from pydantic import BaseModel

from tether.adapters.firestore.paths import (
    MAX_DOCUMENT_BYTES,
    decode_scan_cursor,
    doc_id,
    document_size,
    encode_scan_cursor,
)
from tether.adapters.record_decoding import decode_many, decode_one
from tether.adapters.write_count import WriteCount
from tether.domain.errors import BackendUnavailable, InvalidRequest
from tether.domain.models import Page

__all__ = [
    "AUDIT",
    "CONNECTIONS",
    "CONNECT_SESSIONS",
    "DELIVERIES",
    "DESC",
    "DOCUMENT_NAME",
    "LEASES",
    "OAUTH_STATES",
    "RATE_BUCKETS",
    "RECORDS",
    "RECORD_MODELS",
    "SETTINGS",
    "SETTINGS_DOCUMENT",
    "SYNC_HOLDS",
    "SYNC_RUNS",
    "SYNC_SCHEDULES",
    "TENANTS",
    "WEBHOOK_EVENTS",
    "WEBHOOK_ROUTES",
    "WEBHOOK_TOKENS",
    "FirestoreDatabase",
    "Snapshot",
    "Stale",
    "aware",
    "backend",
    "decoded",
    "firestore_client",
    "stored_json",
]

TENANTS = "tenants"
CONNECTIONS = "connections"
AUDIT = "audit"
WEBHOOK_TOKENS = "webhook_tokens"
WEBHOOK_ROUTES = "webhook_routes"
OAUTH_STATES = "oauth_states"
CONNECT_SESSIONS = "connect_sessions"
WEBHOOK_EVENTS = "webhook_events"
LEASES = "leases"
RATE_BUCKETS = "rate_buckets"
SETTINGS = "settings"
SETTINGS_DOCUMENT = "current"
DELIVERIES = "deliveries"
# under tenants/<t>/connections/<c>: synced records per model, and the connection's syncs
RECORD_MODELS = "record_models"
RECORDS = "records"
SYNC_SCHEDULES = "sync_schedules"
SYNC_RUNS = "sync_runs"
SYNC_HOLDS = "sync_holds"

# The special field path of the document's own name (``FieldPath.document_id()``).
DOCUMENT_NAME = "__name__"

DESC: str = firestore.Query.DESCENDING

# Failures of the backend itself, worth retrying; everything else is a bug or a refusal.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.ResourceExhausted,
    gexc.Aborted,
    gexc.RetryError,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Snapshot = DocumentSnapshot[DocumentReference]


def firestore_client(project: str, database: str = "(default)") -> firestore.Client:
    """A client for ``project``/``database``. The library itself talks to the emulator when
    ``FIRESTORE_EMULATOR_HOST`` is set. Create it when it is needed, never at import."""
    return firestore.Client(project=project, database=database)


@contextmanager
def backend() -> Iterator[None]:
    """Failures of Firestore itself as a retryable :class:`BackendUnavailable`."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BackendUnavailable("the Firestore store is unavailable; try again") from exc


class Stale(Exception):
    """A precondition failed: the document changed since it was read. Read it again."""


def stored_json(snapshot: Snapshot, field: str = "record") -> object:
    """The stored JSON of a document (``None`` when it has none: then it is unreadable)."""
    return (snapshot.to_dict() or {}).get(field)


def decoded(model: type[M], snapshots: Sequence[Snapshot], field: str = "record") -> Page[M]:
    """The documents that decode as ``model`` and the ids of those that do not."""
    items, unreadable = decode_many(model, ((s.id, stored_json(s, field)) for s in snapshots))
    return Page(items=items, unreadable=unreadable)


def aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value


class FirestoreDatabase:
    """The client every repository of this package uses (thread-safe: share one per
    process). ``contention_attempts`` bounds the re-reads of a document that keeps changing
    under us before giving up with ``BackendUnavailable``."""

    def __init__(self, client: firestore.Client, *, contention_attempts: int = 10) -> None:
        if contention_attempts < 1:
            raise ValueError("contention_attempts must be at least 1")
        self.client = client
        self._attempts = contention_attempts
        # Connection writes committed through this client object (see WriteCount).
        self.connection_writes = WriteCount()

    def tenant(self, tenant_id: str) -> DocumentReference:
        return self.client.collection(TENANTS).document(doc_id(tenant_id))

    def connection(self, tenant_id: str, connection_id: str) -> DocumentReference:
        """The connection's document, parent of its synced records and syncs."""
        connections: CollectionReference = self.tenant(tenant_id).collection(CONNECTIONS)
        return connections.document(doc_id(connection_id))

    def read_record(self, model: type[M], ref: DocumentReference, record_id: str) -> M | None:
        """The ``record`` of the document at ``ref`` as ``model``, ``None`` when there is no
        such document (one whose record no longer decodes raises, see :func:`decode_one`).
        The caller checks the record is the one it asked for."""
        with backend():
            snapshot = ref.get(field_paths=["record"])
        if not snapshot.exists:
            return None
        return decode_one(model, stored_json(snapshot), record_id=record_id)

    def unchanged_since(self, snapshot: Snapshot) -> Any:
        """Write option: only if the document still has the ``update_time`` we read."""
        return self.client.write_option(last_update_time=snapshot.update_time)

    @staticmethod
    def checked(ref: DocumentReference, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields``, unless the document would exceed Firestore's 1 MiB: then
        :class:`InvalidRequest` (``RECORD_TOO_LARGE``), before anything is sent."""
        if document_size(ref.path, fields) > MAX_DOCUMENT_BYTES:
            raise InvalidRequest(
                f"the record is larger than the {MAX_DOCUMENT_BYTES // 1024} KiB a document "
                "may hold",
                code="RECORD_TOO_LARGE",
            )
        return fields

    def optimistic(self, attempt: Callable[[], T], *, at_least: int = 1) -> T:
        """Run read-decide-write ``attempt`` until no one else wrote in between (it raises
        :class:`Stale` when someone did); ``at_least`` raises the number of attempts for a
        document written in a loop by design (a records stream's sequence)."""
        attempts = max(self._attempts, at_least)
        for n in range(attempts):
            try:
                return attempt()
            except Stale:
                if n + 1 < attempts:
                    # jitter, not security: spreads the retries of racing writers
                    time.sleep(random.uniform(0, min(0.2, 0.005 * 2**n)))  # noqa: S311
        raise BackendUnavailable("the record is busy; try again")

    def newest(
        self,
        tenant_id: str,
        collection: str,
        time_field: str,
        connection_id: str | None,
        limit: int,
    ) -> list[Snapshot]:
        """The ``record`` of a tenant's newest documents in ``collection`` (ties by id),
        optionally of one connection (a composite index each, in the indexes file)."""
        query = self.tenant(tenant_id).collection(collection)
        if connection_id is not None:
            query = query.where(filter=FieldFilter("connection_id", "==", connection_id))
        query = (
            query.order_by(time_field, direction=DESC)
            .order_by("id", direction=DESC)
            .select(["record"])
            .limit(limit)
        )
        with backend():
            return list(query.stream())

    def scan_tenant_group(
        self, model: type[M], collection: str, *, cursor: str | None, limit: int
    ) -> Page[M]:
        """Every tenant's ``collection`` by a collection-group query in document-name order;
        the cursor is the last document's path (a tenant id cannot be read back from an
        unreadable record, nor from a hashed path)."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = self.client.collection_group(collection).order_by(DOCUMENT_NAME)
        if cursor is not None:
            path = decode_scan_cursor(cursor, parent=TENANTS, collection=collection)
            query = query.start_after({DOCUMENT_NAME: self.client.document(path)})
        query = query.select(["record"]).limit(limit + 1)
        with backend():
            snapshots = list(query.stream())
        page = decoded(model, snapshots[:limit])
        next_cursor = None
        if len(snapshots) > limit:
            next_cursor = encode_scan_cursor(snapshots[limit - 1].reference.path)
        return Page(items=page.items, next_cursor=next_cursor, unreadable=page.unreadable)
