"""Every record port on Firestore as one object (:class:`FirestoreConnectionStore`, a
:class:`~tether.ports.ConnectionStore`), and the layout all of them share.

The facade holds nothing of its own: it is the repositories of this package
(:mod:`.connections`, :mod:`.audit`, :mod:`.oauth_states`, :mod:`.connect_sessions`,
:mod:`.webhook_events`,
:mod:`.leases`, :mod:`.rate_buckets`, :mod:`.tenant_settings`, :mod:`.deliveries`,
:mod:`.records`, :mod:`.sync_state`, :mod:`.purge`) over one
:class:`~.documents.FirestoreDatabase`; a change and its audit entries are still one batch.

Layout (paths relative to the database; ``<t>`` etc. are :func:`~.paths.doc_id` of the id)::

    tenants/<t>/connections/<connection id>   record + tenant_id, id, provider, end_user_id,
                                              status, deleted, created_at, version,
                                              webhook_token_hash, token_expires_at,
                                              webhook_route_key
    tenants/<t>/audit/<event id>              record + id, connection_id, at, expires_at (TTL)
    tenants/<t>/settings/current              record + version          (tenant settings)
    tenants/<t>/deliveries/<event id>         record + id, connection_id, created_at,
                                              expires_at (TTL)
    tenants/<t>/retired_credentials/<hash>    connection_id, version, retired_at, key_id
                                              (the db secret store's tombstones, written by
                                              :mod:`.retired_versions`, not by this store)
    tenants/<t>/connections/<c>/record_models/<m>
                                              last_seq  (a records stream's change number)
    tenants/<t>/connections/<c>/record_models/<m>/records/<r>
                                              id, payload (canonical JSON), payload_hash,
                                              action, live, seq, seen_run, first_seen_at,
                                              last_modified_at, expires_at (DELETED, TTL,
                                              only with a retention of deleted records)
    tenants/<t>/connections/<c>/sync_schedules/<name>
                                              record + version, schedulable, next_run_at
    tenants/<t>/connections/<c>/sync_runs/<run id>
                                              record + id, sync, created_at, version
    tenants/<t>/connections/<c>/sync_holds/<name>
                                              run_id  (the sync's one active run)
    webhook_tokens/<token hash>               tenant_id, connection_id  (lookup, unique)
    webhook_routes/<sha256(provider NUL route)> tenant_id, connection_id (lookup, unique)
    oauth_states/<state hash>                 record + expires_at       (TTL)
    connect_sessions/<session id>             record + tenant_id, expires_at (TTL)
    webhook_events/<sha256(provider NUL key)> record + provider, expires_at (TTL),
                                              tenant_id, connection_id, received_at, summary,
                                              status
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
  its own entries only, at any depth. An end user's listing (``end_user_id``) adds that
  equality first, with its own four indexes.
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

- ``waiting_webhook_events`` (the sweep for events whose ``process_webhook`` task was lost)
  is a query over ``webhook_events``: ``status in [received, enqueued]`` and ``received_at <
  before``, ordered by ``received_at`` then document name, served by the composite
  ``COLLECTION`` index (status, received_at) of the indexes file and reading ``summary`` only.
  Documents written before ``status`` was a top-level field lack it, and are invisible to
  the sweep until their next :meth:`update_webhook_event` (or their expiry).

- **Synced records** (:mod:`.records`) live under their connection's document, one
  collection per model, so a stream's queries (changes after a cursor: ``seq`` between the
  cursor and the stream's ``last_seq``; live records a full run did not see: ``live`` and
  ``seen_run``, a ``COLLECTION`` index) read that stream's entries only. Every change of a
  stream moves ``last_seq`` in its batch, with the ``update_time`` precondition: commits of
  one stream are serial, which is what makes a reader's cursor lose nothing. The payload is a
  JSON string, not indexed, like ``record`` elsewhere.
- **Syncs and runs** (:mod:`.sync_state`): the due scan is the one collection-group query
  (``schedulable == true``, ``next_run_at <= now``, a ``COLLECTION_GROUP`` index); one active
  run per sync is a ``sync_holds`` document created with the run in one batch.

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
  retention) and of idempotency keys (24 hours after their action run), indexed across
  tenants (``COLLECTION_GROUP``) for :meth:`purge_expired`: a ceiling of some 500
  deliveries, audit entries and keyed action runs per second over all tenants, before the
  same remedy. ``received_at``
  of webhook events is sequential too: it has no index of its own, only the composite one of
  :meth:`list_webhook_events`, which starts with the tenant and connection ids, and the one
  of :meth:`waiting_webhook_events`, which starts with ``status``: a handful of values, so
  every new event lands at the end of the "enqueued" range, the same ceiling of some 500
  events/s as ``expires_at``'s (past it, shard that range: a small random number as a field
  between ``status`` and ``received_at``, which the sweep queries once per value).
  A records stream's ``seq`` is sequential too, per stream collection: a ceiling of some
  500 changes a second per (connection, model). Its ``last_seq`` document takes one write
  per committed part of a page (up to 400 records): a run committing several a second goes
  past the guidance of one sustained write a second per document, which Firestore answers
  with latency, not errors; that bounds one stream's pace, not the other streams'.
  ``token_expires_at`` is indexed across tenants (``COLLECTION_GROUP`` scope) and clusters
  near "now + token lifetime", so that ceiling applies to token writes of all tenants
  together: far above the pace of OAuth grants and refreshes.
"""

from __future__ import annotations

from google.cloud import firestore

from tether.adapters.firestore.audit import FirestoreAuditLog
from tether.adapters.firestore.connect_sessions import FirestoreConnectSessions
from tether.adapters.firestore.connections import FirestoreConnections
from tether.adapters.firestore.deliveries import FirestoreDeliveries
from tether.adapters.firestore.documents import FirestoreDatabase, firestore_client
from tether.adapters.firestore.leases import FirestoreLeases
from tether.adapters.firestore.oauth_states import FirestoreOAuthStates
from tether.adapters.firestore.purge import FirestorePurge
from tether.adapters.firestore.rate_buckets import FirestoreRateBuckets
from tether.adapters.firestore.records import FirestoreRecords
from tether.adapters.firestore.sync_state import FirestoreSyncState
from tether.adapters.firestore.tenant_settings import FirestoreTenantSettings
from tether.adapters.firestore.webhook_events import FirestoreWebhookEvents
from tether.domain.retention import Retention

__all__ = ["FirestoreConnectionStore", "firestore_client"]


class FirestoreConnectionStore(
    FirestoreConnections,
    FirestoreAuditLog,
    FirestoreOAuthStates,
    FirestoreConnectSessions,
    FirestoreWebhookEvents,
    FirestoreLeases,
    FirestoreRateBuckets,
    FirestoreTenantSettings,
    FirestoreDeliveries,
    FirestoreRecords,
    FirestoreSyncState,
    FirestorePurge,
):
    """Tenant-scoped records in Firestore. Thread-safe: share one per process.

    ``client`` is used as given (the caller owns it, unless ``owns_client``: then
    :meth:`close` closes it). ``contention_attempts`` bounds the re-reads of a state or
    lease that keeps changing under us before giving up with ``BackendUnavailable``.
    ``retention``: how long deliveries and audit entries are kept. Each base class keeps its
    ``_database`` (and ``_retention``), set here once for all of them.
    """

    def __init__(
        self,
        client: firestore.Client,
        *,
        owns_client: bool = False,
        contention_attempts: int = 10,
        retention: Retention | None = None,
    ) -> None:
        self._database = FirestoreDatabase(client, contention_attempts=contention_attempts)
        self._retention = retention or Retention()
        self._owns_client = owns_client

    @classmethod
    def for_project(
        cls, project: str, database: str = "(default)", *, retention: Retention | None = None
    ) -> FirestoreConnectionStore:
        """A store with a client of its own for ``project``/``database``."""
        return cls(firestore_client(project, database), owns_client=True, retention=retention)

    @property
    def database(self) -> FirestoreDatabase:
        """The shared client, to build a single repository over it."""
        return self._database

    def close(self) -> None:
        if self._owns_client:
            self._database.client.close()  # type: ignore[no-untyped-call]  # unannotated
