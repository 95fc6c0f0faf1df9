"""Firestore implementation of :class:`~tether.ports.ConnectionStore`.

Layout (paths relative to the database; ``<t>`` etc. are :func:`~.paths.doc_id` of the id)::

    tenants/<t>/connections/<connection id>   record + tenant_id, id, provider, status,
                                              deleted, created_at, version, webhook_token_hash,
                                              token_expires_at, webhook_route_key
    tenants/<t>/audit/<event id>              record + id, connection_id, at, expires_at (TTL)
    tenants/<t>/settings/current              record + version          (tenant settings)
    tenants/<t>/deliveries/<event id>         record + id, connection_id, created_at,
                                              expires_at (TTL)
    tenants/<t>/retired_credentials/<hash>    connection_id, version, retired_at, key_id
                                              (the db secret store's tombstones, written by
                                              :mod:`.retired_versions`, not by this class)
    webhook_tokens/<token hash>               tenant_id, connection_id  (lookup, unique)
    webhook_routes/<sha256(provider NUL route)> tenant_id, connection_id (lookup, unique)
    oauth_states/<state hash>                 record + expires_at       (TTL)
    webhook_events/<sha256(provider NUL key)> record + provider, expires_at (TTL),
                                              tenant_id, connection_id, received_at, summary
    leases/<name>                             name, owner, expires_at   (TTL)
    rate_buckets/<rate key>                   tokens, updated_at, expires_at (TTL)

Why this shape:

- **Tenant in the path.** Every connection and audit read or query starts from
  ``tenants/<t>``, so a query cannot reach another tenant's records by a missing filter, and
  each tenant has its own index ranges. The tenant document itself is never written.
  Tenant ids come from tokens and may hold characters Firestore refuses in ids ("/", ".",
  "..", ``__x__``, over 1,500 bytes): those are stored under ``~`` + sha256 hex, a form no
  id used as-is can take (see :mod:`.paths`).
- **The record is one JSON string** (``record``, exactly what the SQLite store keeps), next
  to the few top-level fields queries filter or sort on. Not a Firestore map: JSON that
  callers may put in ``config``/``metadata`` is not always a valid Firestore value (arrays
  inside arrays, integers beyond 64 bits, ``""`` or ``__x__`` keys are all refused), and a
  map would create an index entry per nested field (up to the 40,000-entries-per-document
  limit). ``record`` is exempt from indexing (``infra/firestore.indexes.json``).
- **Optimistic concurrency with preconditions, not transactions.** Compare-and-set,
  single-use OAuth states and leases read the document, decide, and write with an
  ``update_time`` precondition (``create()`` when it must not exist); several writes that
  must go together (a connection and its webhook-token lookup) are one atomic batch. A
  failed precondition means exactly "someone wrote since I read": ``VersionConflict`` for
  :meth:`update_connection`, re-read and decide again for states and leases. Server-side
  transactions would take pessimistic locks instead: eight writers racing for one
  connection on the emulator took 2-4 s that way against some 50 ms with preconditions.
- **Rate buckets** (:meth:`acquire_rate`, the outbound rate limit every instance shares) are
  read, refilled from ``updated_at`` and written back the same way: ``create()`` for a new
  bucket, the ``update_time`` precondition otherwise, re-read on contention. Only a granted
  request writes; a refusal is a read. ``expires_at`` is when the bucket would be full again:
  from then on a missing bucket (a fresh one starts full) means the same, so the TTL policy
  may delete it. None of its fields is queried, so none is indexed (``updated_at`` and
  ``expires_at`` are sequential and written on every request, see below).
- **Webhook tokens** are looked up through ``webhook_tokens/<hash>`` documents written in
  the same batch as the connection (create, update, token change), which also makes the
  hash unique as in SQLite; no collection-group query on a hash field is needed.
- **Webhook routes** (the account id of app-level webhook deliveries,
  :meth:`find_connection_by_route`) work the same way: a ``webhook_routes/<id>`` document per
  live connection with a ``webhook_route``, created, moved or deleted in the batch that
  writes the connection (a deleted connection holds none, so the account can be connected
  again). ``create()`` makes ``(provider, route)`` unique among live connections. The
  connection keeps the id of its lookup as ``webhook_route_key`` (never queried, not indexed)
  so an update knows which lookup to remove without reading the old record.
- **Tenant settings** are one document per tenant, replaced by compare-and-set on
  ``version`` with the same ``update_time`` precondition (``create()`` for the first one).
  The signing secrets in it are sealed envelopes inside ``record``, never indexed.
- **Deliveries** (one per event delivered to the tenant) are upserted whole (``set``) and
  listed per tenant, newest ``created_at`` first, optionally of one connection: the two
  ``COLLECTION`` indexes on ``deliveries`` of the indexes file.
- ``list_connections`` (one tenant's live connections, newest first, optionally of one
  status and/or provider) is a query on the tenant's collection with equality on
  ``deleted`` and the filters, ordered by ``created_at`` then ``id``, both descending; the
  cursor is the last item's pair, given to ``start_after``. Each of the four filter
  combinations has its composite ``COLLECTION`` index in the indexes file, so a page reads
  its own entries only, at any depth.
- ``scan_connections`` is a collection-group query over ``connections`` ordered by document
  name (ascending, served by the built-in index); its cursor is the last document's path.
  ``scan_tenant_settings`` (a collection-group query over ``settings``) and
  ``scan_oauth_states`` (key rotation) are ordered the same way; their cursors are the last
  record's tenant id or state hash, which name its document.
- ``list_expiring`` (the OAuth refresh sweep) is a collection-group query over
  ``connections``: ``deleted == false`` and ``token_expires_at <= before``, ordered by
  ``token_expires_at`` then document name, served by the composite ``COLLECTION_GROUP``
  index (deleted, token_expires_at) of the indexes file, so it reads only the matches. Its
  cursor is the last item's expiry and path. ``token_expires_at`` is a top-level timestamp
  (null when the record has none; a range filter never matches null). Documents written
  before the field existed lack it, and are invisible to the sweep until their next
  :meth:`update_connection` writes every top-level field again.

Firestore limits considered:

- **1 MiB per document.** The stored size is computed with Firestore's own formula before
  every write; a larger record is refused with ``InvalidRequest`` (code
  ``RECORD_TOO_LARGE``) rather than failing inside the backend. The API's body cap is also
  1 MiB, so a webhook event with a body close to it cannot be stored here.
- **Hot documents** (about one sustained write per second per document): a lease or a
  single connection changes at human or scheduler pace. A rate bucket is written once per
  granted outbound request of its connection, so at most ``per_minute`` times a minute
  after the initial burst: the default 60/min is the guidance itself. For a connection
  configured well above it, shard its bucket (N documents ``<key>#<i>`` each with
  ``per_minute / N`` and ``burst / N``, a request picking one at random and trying another
  when it is empty), or give that connection the in-process limiter
  (:class:`~tether.http.rate_limit.LocalRateLimiter`) with its rate divided by the number
  of instances. Contention on one bucket costs retries (``contention_attempts``), then
  ``BackendUnavailable``.
- **500 writes/s on sequential indexed values.** ``created_at`` and ``at`` grow
  monotonically, but their indexes are per tenant collection (``COLLECTION`` scope), so the
  ceiling applies per tenant (deliveries too: each attempt rewrites its record). Document
  ids are random (connection and audit ids carry 128 random bits), event ids or hashes, so
  writes spread over the key range. ``expires_at`` of the
  top-level TTL collections is sequential and keeps an ascending index only for
  :meth:`purge_expired`: that caps webhook intake near 500 events/s; past that, drop the
  index in the indexes file and let the TTL policies alone do the purging. The same goes
  for ``expires_at`` of deliveries and audit entries (``at`` or ``created_at`` plus their
  retention), indexed across tenants (``COLLECTION_GROUP``) for :meth:`purge_expired`: a
  ceiling of some 500 deliveries plus audit entries per second over all tenants, before the
  same remedy. ``received_at``
  of webhook events is sequential too: it has no index of its own, only the composite one of
  :meth:`list_webhook_events`, which starts with the tenant and connection ids.
  ``token_expires_at`` is indexed across tenants (``COLLECTION_GROUP`` scope) and clusters
  near "now + token lifetime", so that ceiling applies to token writes of all tenants
  together: far above the pace of OAuth grants and refreshes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.document import DocumentReference
from pydantic import BaseModel

from tether.adapters.audited_writes import entries_of
from tether.adapters.firestore.paths import (
    MAX_DOCUMENT_BYTES,
    decode_expiry_cursor,
    decode_list_cursor,
    decode_scan_cursor,
    doc_id,
    document_size,
    encode_expiry_cursor,
    encode_list_cursor,
    encode_scan_cursor,
    webhook_event_id,
    webhook_route_id,
)
from tether.adapters.record_decoding import decode_many, decode_one, is_readable
from tether.adapters.token_bucket import full_at, take_token
from tether.domain.errors import BackendUnavailable, Conflict, InvalidRequest, VersionConflict
from tether.domain.models import (
    AuditEvent,
    Connection,
    Delivery,
    Lease,
    OAuthState,
    Page,
    TenantSettings,
    WebhookEvent,
)
from tether.domain.retention import Retention

__all__ = [
    "AUDIT",
    "CONNECTIONS",
    "DELIVERIES",
    "LEASES",
    "OAUTH_STATES",
    "RATE_BUCKETS",
    "SETTINGS",
    "SETTINGS_DOCUMENT",
    "TENANTS",
    "WEBHOOK_EVENTS",
    "WEBHOOK_ROUTES",
    "WEBHOOK_TOKENS",
    "FirestoreConnectionStore",
    "firestore_client",
]

TENANTS = "tenants"
CONNECTIONS = "connections"
AUDIT = "audit"
WEBHOOK_TOKENS = "webhook_tokens"
WEBHOOK_ROUTES = "webhook_routes"
OAUTH_STATES = "oauth_states"
WEBHOOK_EVENTS = "webhook_events"
LEASES = "leases"
RATE_BUCKETS = "rate_buckets"
SETTINGS = "settings"
SETTINGS_DOCUMENT = "current"
DELIVERIES = "deliveries"

# The special field path of the document's own name (``FieldPath.document_id()``).
_DOCUMENT_NAME = "__name__"

# Writes per commit when purging (Firestore's historical per-commit limit).
_PURGE_BATCH = 500

_DESC: str = firestore.Query.DESCENDING

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
_Snapshot = DocumentSnapshot[DocumentReference]


def firestore_client(project: str, database: str = "(default)") -> firestore.Client:
    """A client for ``project``/``database``. The library itself talks to the emulator when
    ``FIRESTORE_EMULATOR_HOST`` is set. Create it when it is needed, never at import."""
    return firestore.Client(project=project, database=database)


@contextmanager
def _backend() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BackendUnavailable("the Firestore store is unavailable; try again") from exc


class _Stale(Exception):
    """A precondition failed: the document changed since it was read. Read it again."""


def _stored(snapshot: _Snapshot, field: str = "record") -> object:
    """The stored JSON of a document (``None`` when it has none: then it is unreadable)."""
    return (snapshot.to_dict() or {}).get(field)


def _decoded(model: type[M], snapshots: Sequence[_Snapshot], field: str = "record") -> Page[M]:
    """The documents that decode as ``model`` and the ids of those that do not."""
    items, unreadable = decode_many(model, ((s.id, _stored(s, field)) for s in snapshots))
    return Page(items=items, unreadable=unreadable)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value


def _too_large() -> InvalidRequest:
    return InvalidRequest(
        f"the record is larger than the {MAX_DOCUMENT_BYTES // 1024} KiB a document may hold",
        code="RECORD_TOO_LARGE",
    )


class FirestoreConnectionStore:
    """Tenant-scoped records in Firestore. Thread-safe: share one per process.

    ``client`` is used as given (the caller owns it, unless ``owns_client``: then
    :meth:`close` closes it). ``contention_attempts`` bounds the re-reads of a state or
    lease that keeps changing under us before giving up with ``BackendUnavailable``.
    """

    def __init__(
        self,
        client: firestore.Client,
        *,
        owns_client: bool = False,
        contention_attempts: int = 10,
        retention: Retention | None = None,
    ) -> None:
        if contention_attempts < 1:
            raise ValueError("contention_attempts must be at least 1")
        self._retention = retention or Retention()
        self._client = client
        self._owns_client = owns_client
        self._attempts = contention_attempts

    @classmethod
    def for_project(
        cls, project: str, database: str = "(default)", *, retention: Retention | None = None
    ) -> FirestoreConnectionStore:
        """A store with a client of its own for ``project``/``database``."""
        return cls(firestore_client(project, database), owns_client=True, retention=retention)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()  # type: ignore[no-untyped-call]  # unannotated in the library

    # -- plumbing ---------------------------------------------------------------------------
    def _tenant(self, tenant_id: str) -> DocumentReference:
        return self._client.collection(TENANTS).document(doc_id(tenant_id))

    def _connection_ref(self, tenant_id: str, connection_id: str) -> DocumentReference:
        connections: CollectionReference = self._tenant(tenant_id).collection(CONNECTIONS)
        return connections.document(doc_id(connection_id))

    def _token_ref(self, token_hash: str) -> DocumentReference:
        return self._client.collection(WEBHOOK_TOKENS).document(doc_id(token_hash))

    def _route_ref(self, route_key: str) -> DocumentReference:
        return self._client.collection(WEBHOOK_ROUTES).document(route_key)

    def _state_ref(self, state_hash: str) -> DocumentReference:
        return self._client.collection(OAUTH_STATES).document(doc_id(state_hash))

    def _event_ref(self, provider: str, dedupe_key: str) -> DocumentReference:
        return self._client.collection(WEBHOOK_EVENTS).document(
            webhook_event_id(provider, dedupe_key)
        )

    def _lease_ref(self, name: str) -> DocumentReference:
        return self._client.collection(LEASES).document(doc_id(name))

    def _rate_ref(self, key: str) -> DocumentReference:
        return self._client.collection(RATE_BUCKETS).document(doc_id(key))

    def _settings_ref(self, tenant_id: str) -> DocumentReference:
        settings: CollectionReference = self._tenant(tenant_id).collection(SETTINGS)
        return settings.document(SETTINGS_DOCUMENT)

    def _delivery_ref(self, tenant_id: str, delivery_id: str) -> DocumentReference:
        deliveries: CollectionReference = self._tenant(tenant_id).collection(DELIVERIES)
        return deliveries.document(doc_id(delivery_id))

    def _unchanged_since(self, snapshot: _Snapshot) -> Any:
        """Write option: only if the document still has the ``update_time`` we read."""
        return self._client.write_option(last_update_time=snapshot.update_time)

    @staticmethod
    def _checked(ref: DocumentReference, fields: dict[str, Any]) -> dict[str, Any]:
        if document_size(ref.path, fields) > MAX_DOCUMENT_BYTES:
            raise _too_large()
        return fields

    def _optimistic(self, attempt: Callable[[], T]) -> T:
        """Run read-decide-write ``attempt`` until no one else wrote in between."""
        for n in range(self._attempts):
            try:
                return attempt()
            except _Stale:
                if n + 1 < self._attempts:
                    # jitter, not security: spreads the retries of racing writers
                    time.sleep(random.uniform(0, min(0.2, 0.005 * 2**n)))  # noqa: S311
        raise BackendUnavailable("the record is busy; try again")

    def _newest(
        self,
        tenant_id: str,
        collection: str,
        time_field: str,
        connection_id: str | None,
        limit: int,
    ) -> list[_Snapshot]:
        """The ``record`` of a tenant's newest documents in ``collection`` (ties by id),
        optionally of one connection (a composite index each, in the indexes file)."""
        query = self._tenant(tenant_id).collection(collection)
        if connection_id is not None:
            query = query.where(filter=FieldFilter("connection_id", "==", connection_id))
        query = (
            query.order_by(time_field, direction=_DESC)
            .order_by("id", direction=_DESC)
            .select(["record"])
            .limit(limit)
        )
        with _backend():
            return list(query.stream())

    # -- connections ------------------------------------------------------------------------
    @staticmethod
    def _connection_fields(connection: Connection) -> dict[str, Any]:
        return {
            "record": connection.model_dump_json(),
            "tenant_id": connection.tenant_id,
            "id": connection.id,
            "provider": connection.provider,
            "status": connection.status.value,
            "deleted": connection.deleted_at is not None,
            "created_at": _aware(connection.created_at),
            "version": connection.version,
            "webhook_token_hash": _token_hash(connection),
            "token_expires_at": (
                None if connection.token_expires_at is None else _aware(connection.token_expires_at)
            ),
            "webhook_route_key": _route_key(connection),
        }

    @staticmethod
    def _token_fields(connection: Connection) -> dict[str, Any]:
        return {"tenant_id": connection.tenant_id, "connection_id": connection.id}

    def create_connection(
        self, connection: Connection, *, audit: Sequence[AuditEvent] = ()
    ) -> None:
        ref = self._connection_ref(connection.tenant_id, connection.id)
        fields = self._checked(ref, self._connection_fields(connection))
        entries = self._audit_writes(entries_of(connection.tenant_id, audit))
        token_hash, route_key = _token_hash(connection), _route_key(connection)
        with _backend():
            batch = self._client.batch()
            batch.create(ref, fields)
            if token_hash is not None:
                batch.create(self._token_ref(token_hash), self._token_fields(connection))
            if route_key is not None:
                batch.create(self._route_ref(route_key), self._token_fields(connection))
            for audit_ref, audit_fields in entries:
                batch.create(audit_ref, audit_fields)
            try:
                batch.commit()
            except gexc.AlreadyExists:
                if ref.get(field_paths=["version"]).exists:
                    raise Conflict("a connection with this id already exists") from None
                raise self._audit_clash(entries) or self._lookup_clash(route_key) from None

    def get_connection(
        self, tenant_id: str, connection_id: str, *, include_deleted: bool = False
    ) -> Connection | None:
        with _backend():
            snapshot = self._connection_ref(tenant_id, connection_id).get(
                field_paths=["record", "deleted"]
            )
        if not snapshot.exists or (snapshot.get("deleted") and not include_deleted):
            return None
        return decode_one(Connection, _stored(snapshot), record_id=connection_id)

    def _listing_query(
        self, tenant_id: str, *, status: str | None, provider: str | None, cursor: str | None
    ) -> firestore.Query:
        """A tenant's live connections, newest first, from the cursor on: equality on
        ``deleted`` and each filter given, ordered by ``created_at`` then ``id``. Each filter
        combination is one composite ``COLLECTION`` index of ``infra/firestore.indexes.json``
        (equality fields, then the two sort fields descending), so Firestore reads only the
        page's entries, from the cursor's position in that index, at any depth."""
        query: firestore.Query = (
            self._tenant(tenant_id)
            .collection(CONNECTIONS)
            .where(filter=FieldFilter("deleted", "==", False))
        )
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        if provider is not None:
            query = query.where(filter=FieldFilter("provider", "==", provider))
        query = query.order_by("created_at", direction=_DESC).order_by("id", direction=_DESC)
        if cursor is not None:
            created_at, record_id = decode_list_cursor(cursor)
            query = query.start_after({"created_at": created_at, "id": record_id})
        return query

    def list_connections(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Connection]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = self._listing_query(tenant_id, status=status, provider=provider, cursor=cursor)
        query = query.select(["record", "created_at", "id"]).limit(limit + 1)
        with _backend():
            snapshots = list(query.stream())
        page = _decoded(Connection, snapshots[:limit])
        if len(snapshots) > limit:
            last = snapshots[limit - 1]
            cursor = encode_list_cursor(last.get("created_at"), last.get("id"))
            page = Page(items=page.items, next_cursor=cursor, unreadable=page.unreadable)
        return page

    def update_connection(
        self,
        connection: Connection,
        *,
        expected_version: int,
        audit: Sequence[AuditEvent] = (),
    ) -> Connection:
        stored = connection.model_copy(update={"version": expected_version + 1})
        ref = self._connection_ref(stored.tenant_id, stored.id)
        fields = self._checked(ref, self._connection_fields(stored))
        entries = self._audit_writes(entries_of(stored.tenant_id, audit))
        stale = VersionConflict("the connection was changed by someone else; re-read it")
        with _backend():
            current = ref.get(field_paths=["version", "webhook_token_hash", "webhook_route_key"])
            if not current.exists or current.get("version") != expected_version:
                raise stale
            known = current.to_dict() or {}
            batch = self._client.batch()
            batch.update(ref, fields, option=self._unchanged_since(current))
            old_hash, new_hash = known.get("webhook_token_hash"), _token_hash(stored)
            if old_hash != new_hash:
                if old_hash is not None:
                    batch.delete(self._token_ref(old_hash))
                if new_hash is not None:
                    batch.create(self._token_ref(new_hash), self._token_fields(stored))
            old_route, new_route = known.get("webhook_route_key"), _route_key(stored)
            if old_route != new_route:
                if old_route is not None:
                    batch.delete(self._route_ref(old_route))
                if new_route is not None:
                    batch.create(self._route_ref(new_route), self._token_fields(stored))
            for audit_ref, audit_fields in entries:
                batch.create(audit_ref, audit_fields)
            try:
                batch.commit()
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise stale from None
            except gexc.AlreadyExists:
                raise self._audit_clash(entries) or self._lookup_clash(
                    new_route if old_route != new_route else None
                ) from None
        return stored

    def remove_unreadable_connection(
        self, tenant_id: str, connection_id: str, *, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        """See :meth:`~tether.ports.ConnectionRepository.remove_unreadable_connection`: one batch
        deletes the document (if unchanged since it was read undecodable) and its webhook
        token and route lookups, which its top-level fields name without the record."""
        ref = self._connection_ref(tenant_id, connection_id)
        entries = self._audit_writes(entries_of(tenant_id, audit))

        def attempt() -> bool:
            current = ref.get(field_paths=["record", "webhook_token_hash", "webhook_route_key"])
            if not current.exists or is_readable(Connection, _stored(current)):
                return False
            known = current.to_dict() or {}
            batch = self._client.batch()
            batch.delete(ref, option=self._unchanged_since(current))
            if isinstance(token_hash := known.get("webhook_token_hash"), str):
                batch.delete(self._token_ref(token_hash))
            if isinstance(route_key := known.get("webhook_route_key"), str):
                batch.delete(self._route_ref(route_key))
            for audit_ref, audit_fields in entries:
                batch.create(audit_ref, audit_fields)
            try:
                batch.commit()
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise _Stale from None
            except gexc.AlreadyExists:
                raise self._audit_clash(entries) or _audit_taken() from None
            return True

        with _backend():
            return self._optimistic(attempt)

    def _lookup_clash(self, route_key: str | None) -> Conflict:
        """Which lookup a failed ``create()`` of a connection batch hit: the route's (when
        one was created and it exists now) or else the webhook token's."""
        if (
            route_key is not None
            and self._route_ref(route_key).get(field_paths=["connection_id"]).exists
        ):
            return Conflict(
                "another connection already receives this account's webhooks",
                code="WEBHOOK_ROUTE_TAKEN",
            )
        return Conflict("this webhook token is already in use")

    def scan_connections(self, *, cursor: str | None = None, limit: int = 200) -> Page[Connection]:
        return self._scan_tenant_group(Connection, CONNECTIONS, cursor=cursor, limit=limit)

    def _scan_tenant_group(
        self, model: type[M], collection: str, *, cursor: str | None, limit: int
    ) -> Page[M]:
        """Every tenant's ``collection`` by a collection-group query in document-name order;
        the cursor is the last document's path (a tenant id cannot be read back from an
        unreadable record, nor from a hashed path)."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = self._client.collection_group(collection).order_by(_DOCUMENT_NAME)
        if cursor is not None:
            path = decode_scan_cursor(cursor, parent=TENANTS, collection=collection)
            query = query.start_after({_DOCUMENT_NAME: self._client.document(path)})
        query = query.select(["record"]).limit(limit + 1)
        with _backend():
            snapshots = list(query.stream())
        page = _decoded(model, snapshots[:limit])
        next_cursor = None
        if len(snapshots) > limit:
            next_cursor = encode_scan_cursor(snapshots[limit - 1].reference.path)
        return Page(items=page.items, next_cursor=next_cursor, unreadable=page.unreadable)

    def list_expiring(
        self, *, before: datetime, limit: int = 200, cursor: str | None = None
    ) -> Page[Connection]:
        """See :meth:`~tether.ports.ConnectionRepository.list_expiring`. Documents written before
        ``token_expires_at`` became a top-level field lack it and are not found until their
        next update rewrites them."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = (
            self._client.collection_group(CONNECTIONS)
            .where(filter=FieldFilter("deleted", "==", False))
            .where(filter=FieldFilter("token_expires_at", "<=", _aware(before)))
            .order_by("token_expires_at")
            .order_by(_DOCUMENT_NAME)
        )
        if cursor is not None:
            at, path = decode_expiry_cursor(cursor, parent=TENANTS, collection=CONNECTIONS)
            query = query.start_after(
                {"token_expires_at": at, _DOCUMENT_NAME: self._client.document(path)}
            )
        query = query.select(["record", "token_expires_at"]).limit(limit + 1)
        with _backend():
            snapshots = list(query.stream())
        page = _decoded(Connection, snapshots[:limit])
        next_cursor = None
        if len(snapshots) > limit:
            last = snapshots[limit - 1]
            next_cursor = encode_expiry_cursor(last.get("token_expires_at"), last.reference.path)
        return Page(items=page.items, next_cursor=next_cursor, unreadable=page.unreadable)

    def find_connection_by_webhook_token(self, token_hash: str) -> Connection | None:
        with _backend():
            lookup = self._token_ref(token_hash).get()
        if not lookup.exists:
            return None
        found = self.get_connection(lookup.get("tenant_id"), lookup.get("connection_id"))
        if found is None or _token_hash(found) != token_hash:
            return None
        return found

    def find_connection_by_route(self, provider: str, route: str) -> Connection | None:
        with _backend():
            lookup = self._route_ref(webhook_route_id(provider, route)).get()
        if not lookup.exists:
            return None
        found = self.get_connection(lookup.get("tenant_id"), lookup.get("connection_id"))
        if found is None or found.provider != provider or found.webhook_route != route:
            return None
        return found

    # -- audit ------------------------------------------------------------------------------
    def append_audit(self, event: AuditEvent) -> None:
        ((ref, fields),) = self._audit_writes((event,))
        with _backend():
            try:
                ref.create(fields)
            except gexc.AlreadyExists:
                raise _audit_taken() from None

    def _audit_writes(
        self, events: Sequence[AuditEvent]
    ) -> list[tuple[DocumentReference, dict[str, Any]]]:
        """The ``create()`` of each entry, for the batch of the write it records."""
        writes = []
        for event in events:
            ref = self._tenant(event.tenant_id).collection(AUDIT).document(doc_id(event.id))
            fields = {
                "record": event.model_dump_json(),
                "id": event.id,
                "connection_id": event.connection_id,
                "at": _aware(event.at),
                "expires_at": event.at + self._retention.audit,  # TTL
            }
            writes.append((ref, self._checked(ref, fields)))
        return writes

    @staticmethod
    def _audit_clash(writes: Sequence[tuple[DocumentReference, dict[str, Any]]]) -> Conflict | None:
        """:class:`Conflict` when a failed batch's ``create()`` of an entry hit an existing one."""
        for ref, _ in writes:
            if ref.get(field_paths=["id"]).exists:
                return _audit_taken()
        return None

    def list_audit(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        if limit < 1:
            return []
        snapshots = self._newest(tenant_id, AUDIT, "at", connection_id, limit)
        return _decoded(AuditEvent, snapshots).items

    # -- OAuth states -----------------------------------------------------------------------
    def create_oauth_state(self, state: OAuthState) -> None:
        ref = self._state_ref(state.state_hash)
        fields = {"record": state.model_dump_json(), "expires_at": _aware(state.expires_at)}
        with _backend():
            try:
                ref.create(self._checked(ref, fields))
            except gexc.AlreadyExists:
                raise Conflict("this OAuth state already exists") from None

    def consume_oauth_state(self, state_hash: str, *, now: datetime) -> OAuthState | None:
        ref = self._state_ref(state_hash)

        def attempt() -> OAuthState | None:
            snapshot = ref.get(field_paths=["record"])
            if not snapshot.exists:
                return None
            # the hash of a single-use state, shortened: enough to find it, no more
            before = decode_one(OAuthState, _stored(snapshot), record_id=state_hash[:16])
            if before.used_at is not None:
                return before
            used = before.model_copy(update={"used_at": now})
            try:
                ref.update(
                    {"record": used.model_dump_json()}, option=self._unchanged_since(snapshot)
                )
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise _Stale from None
            return before

        with _backend():
            return self._optimistic(attempt)

    def scan_oauth_states(self, *, cursor: str | None = None, limit: int = 200) -> Page[OAuthState]:
        """By document name; the cursor is the last state's hash."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = self._client.collection(OAUTH_STATES).order_by(_DOCUMENT_NAME)
        if cursor is not None:
            query = query.start_after({_DOCUMENT_NAME: self._state_ref(cursor)})
        query = query.select(["record"]).limit(limit + 1)
        with _backend():
            snapshots = list(query.stream())
        page = _decoded(OAuthState, snapshots[:limit])
        # the document id is the hash itself (hex, a safe id), readable record or not
        next_cursor = snapshots[limit - 1].id if len(snapshots) > limit else None
        return Page(items=page.items, next_cursor=next_cursor, unreadable=page.unreadable)

    def replace_oauth_state(self, state: OAuthState, *, expected: OAuthState) -> bool:
        """Read, compare, then update on the ``update_time`` read: a consume in between fails
        the precondition, and the state is left as the consume wrote it."""
        if state.state_hash != expected.state_hash:
            raise ValueError("a state can only replace the state of the same hash")
        ref = self._state_ref(state.state_hash)
        fields = self._checked(
            ref, {"record": state.model_dump_json(), "expires_at": _aware(state.expires_at)}
        )
        with _backend():
            snapshot = ref.get(field_paths=["record"])
            if not snapshot.exists:
                return False
            stored = decode_one(OAuthState, _stored(snapshot), record_id=state.state_hash)
            if stored != expected or stored.used_at is not None:
                return False
            try:
                ref.update(fields, option=self._unchanged_since(snapshot))
            except (gexc.FailedPrecondition, gexc.NotFound):
                return False
        return True

    # -- webhook events ---------------------------------------------------------------------
    @staticmethod
    def _event_fields(event: WebhookEvent) -> dict[str, Any]:
        return {
            "record": event.model_dump_json(),
            "provider": event.provider,
            "expires_at": _aware(event.expires_at),
            # list_webhook_events: filtered on the ids, ordered by received_at, and reading
            # only the summary (the record without body and headers), never the payload
            "tenant_id": event.tenant_id,
            "connection_id": event.connection_id,
            "received_at": _aware(event.received_at),
            "summary": event.model_dump_json(exclude={"body", "headers"}),
        }

    def create_webhook_event(self, event: WebhookEvent) -> bool:
        ref = self._event_ref(event.provider, event.dedupe_key)
        fields = self._checked(ref, self._event_fields(event))
        with _backend():
            try:
                ref.create(fields)
            except gexc.AlreadyExists:
                return False
        return True

    def get_webhook_event(self, provider: str, dedupe_key: str) -> WebhookEvent | None:
        with _backend():
            snapshot = self._event_ref(provider, dedupe_key).get(field_paths=["record"])
        if not snapshot.exists:
            return None
        event = decode_one(WebhookEvent, _stored(snapshot), record_id=dedupe_key)
        if event.provider != provider or event.dedupe_key != dedupe_key:
            return None
        return event

    def update_webhook_event(self, event: WebhookEvent) -> None:
        ref = self._event_ref(event.provider, event.dedupe_key)
        fields = self._checked(ref, self._event_fields(event))
        with _backend():
            try:
                ref.update(fields)
            except gexc.NotFound:
                return

    def delete_webhook_event(self, provider: str, dedupe_key: str) -> None:
        with _backend():
            self._event_ref(provider, dedupe_key).delete()

    def list_webhook_events(
        self, tenant_id: str, connection_id: str, *, limit: int = 50
    ) -> list[WebhookEvent]:
        """See :meth:`~tether.ports.WebhookEventRepository.list_webhook_events`: equality on
        the ids, newest ``received_at`` first, served by the composite index of the indexes file.
        Documents written before these fields existed are not listed (they expire within the
        event TTL)."""
        if limit < 1:
            return []
        query = (
            self._client.collection(WEBHOOK_EVENTS)
            .where(filter=FieldFilter("tenant_id", "==", tenant_id))
            .where(filter=FieldFilter("connection_id", "==", connection_id))
            .order_by("received_at", direction=_DESC)
            .select(["summary"])
            .limit(limit)
        )
        with _backend():
            snapshots = list(query.stream())
        return _decoded(WebhookEvent, snapshots, "summary").items

    # -- leases -----------------------------------------------------------------------------
    def acquire_lease(
        self, name: str, owner: str, *, ttl_seconds: float, now: datetime
    ) -> Lease | None:
        ref = self._lease_ref(name)
        lease = Lease(name=name, owner=owner, expires_at=now + timedelta(seconds=ttl_seconds))
        fields = {"name": name, "owner": owner, "expires_at": _aware(lease.expires_at)}

        def attempt() -> Lease | None:
            current = ref.get()
            try:
                if not current.exists:
                    ref.create(fields)
                    return lease
                if current.get("owner") != owner and current.get("expires_at") > now:
                    return None
                ref.update(fields, option=self._unchanged_since(current))
            except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound):
                raise _Stale from None
            return lease

        with _backend():
            return self._optimistic(attempt)

    def release_lease(self, name: str, owner: str) -> None:
        ref = self._lease_ref(name)

        def attempt() -> None:
            current = ref.get(field_paths=["owner"])
            if not current.exists or current.get("owner") != owner:
                return
            try:
                ref.delete(option=self._unchanged_since(current))
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise _Stale from None

        with _backend():
            self._optimistic(attempt)

    # -- rate limits ------------------------------------------------------------------------
    def acquire_rate(self, key: str, *, per_minute: int, burst: int, now: datetime) -> float:
        """See :meth:`~tether.ports.RateBuckets.acquire_rate`: read the bucket, and when
        it holds a token write it back only if no one wrote it since (else read again)."""
        ref = self._rate_ref(key)
        at = _aware(now)

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
                    ref.update(fields, option=self._unchanged_since(current))
                else:
                    ref.create(fields)
            except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound):
                raise _Stale from None
            return 0.0

        with _backend():
            return self._optimistic(attempt)

    # -- tenant settings --------------------------------------------------------------------
    def get_tenant_settings(self, tenant_id: str) -> TenantSettings | None:
        with _backend():
            snapshot = self._settings_ref(tenant_id).get(field_paths=["record"])
        if not snapshot.exists:
            return None
        settings = decode_one(TenantSettings, _stored(snapshot), record_id=tenant_id)
        return settings if settings.tenant_id == tenant_id else None

    def put_tenant_settings(
        self,
        settings: TenantSettings,
        *,
        expected_version: int | None,
        audit: Sequence[AuditEvent] = (),
    ) -> TenantSettings:
        """See :meth:`~tether.ports.TenantSettingsRepository.put_tenant_settings`: ``create()``
        for the first record, else an update on the ``update_time`` read with the version; one batch
        with the audit entries."""
        version = 1 if expected_version is None else expected_version + 1
        stored = settings.model_copy(update={"version": version})
        ref = self._settings_ref(stored.tenant_id)
        fields = self._checked(ref, {"record": stored.model_dump_json(), "version": version})
        entries = self._audit_writes(entries_of(stored.tenant_id, audit))
        stale = VersionConflict("the tenant settings were changed by someone else; re-read them")
        with _backend():
            batch = self._client.batch()
            if expected_version is None:
                batch.create(ref, fields)
            else:
                current = ref.get(field_paths=["version"])
                if not current.exists or current.get("version") != expected_version:
                    raise stale
                batch.update(ref, fields, option=self._unchanged_since(current))
            for audit_ref, audit_fields in entries:
                batch.create(audit_ref, audit_fields)
            try:
                batch.commit()
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise stale from None
            except gexc.AlreadyExists:
                raise self._audit_clash(entries) or stale from None
        return stored

    def scan_tenant_settings(
        self, *, cursor: str | None = None, limit: int = 200
    ) -> Page[TenantSettings]:
        return self._scan_tenant_group(TenantSettings, SETTINGS, cursor=cursor, limit=limit)

    # -- event deliveries -------------------------------------------------------------------
    def record_delivery(self, delivery: Delivery) -> None:
        ref = self._delivery_ref(delivery.tenant_id, delivery.id)
        fields = {
            "record": delivery.model_dump_json(),
            "id": delivery.id,
            "connection_id": delivery.connection_id,
            "created_at": _aware(delivery.created_at),
            "expires_at": delivery.created_at + self._retention.deliveries,  # TTL
        }
        fields = self._checked(ref, fields)
        with _backend():
            ref.set(fields)

    def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        with _backend():
            snapshot = self._delivery_ref(tenant_id, delivery_id).get(field_paths=["record"])
        if not snapshot.exists:
            return None
        delivery = decode_one(Delivery, _stored(snapshot), record_id=delivery_id)
        if delivery.tenant_id != tenant_id or delivery.id != delivery_id:
            return None
        return delivery

    def list_deliveries(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        snapshots = self._newest(tenant_id, DELIVERIES, "created_at", connection_id, limit)
        return _decoded(Delivery, snapshots).items

    # -- housekeeping -----------------------------------------------------------------------
    def purge_expired(self, *, now: datetime) -> int:
        """Delete expired OAuth states, webhook events, leases, deliveries and audit entries
        (the TTL policies do the same lazily in production; deliveries and audit entries are
        found across tenants by collection-group queries). A document changed since the query
        saw it is left alone: a lease taken again must not be deleted under its new owner.
        Rate buckets are left to their TTL policy alone: their ``expires_at`` is not indexed.
        Deliveries and audit entries written before they carried ``expires_at`` are never
        found: delete those once by hand, or let them be."""
        cutoff = _aware(now)
        removed = 0
        with _backend():
            for query_of in (
                self._client.collection(OAUTH_STATES),
                self._client.collection(WEBHOOK_EVENTS),
                self._client.collection(LEASES),
                self._client.collection_group(DELIVERIES),
                self._client.collection_group(AUDIT),
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

    def _delete_unchanged(self, snapshots: Sequence[_Snapshot]) -> int:
        batch = self._client.batch()
        for snapshot in snapshots:
            batch.delete(snapshot.reference, option=self._unchanged_since(snapshot))
        try:
            batch.commit()
        except (gexc.FailedPrecondition, gexc.NotFound):
            pass  # one of them changed meanwhile: one at a time, skipping the changed ones
        else:
            return len(snapshots)
        deleted = 0
        for snapshot in snapshots:
            try:
                snapshot.reference.delete(option=self._unchanged_since(snapshot))
            except (gexc.FailedPrecondition, gexc.NotFound):
                continue
            deleted += 1
        return deleted


def _audit_taken() -> Conflict:
    return Conflict("an audit event with this id already exists")


def _token_hash(connection: Connection) -> str | None:
    return connection.webhook.token_hash if connection.webhook else None


def _route_key(connection: Connection) -> str | None:
    """The ``webhook_routes`` lookup id the connection holds: none once it is deleted."""
    if connection.webhook_route is None or connection.deleted_at is not None:
        return None
    return webhook_route_id(connection.provider, connection.webhook_route)
