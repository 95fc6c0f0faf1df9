"""The interfaces every backend implements. Services depend on these and nothing else.

Each port has one contract test suite in ``tests/contract/`` that every adapter passes:
the embedded adapters always, the GCP adapters against emulators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tether.domain.models import (
    AuditEvent,
    Connection,
    CredentialRef,
    Delivery,
    Lease,
    OAuthState,
    Page,
    TenantSettings,
    WebhookEvent,
)

__all__ = ["ConnectionStore", "SecretStore", "TaskHandler", "TaskQueue"]


@runtime_checkable
class ConnectionStore(Protocol):
    """Tenant-scoped connection records plus the small records the flows around them need.

    Every read and write of a connection names its tenant; a record of another tenant is
    indistinguishable from a missing one.

    Unreadable records (stored JSON that no longer decodes: written by an older, laxer
    version, or damaged) never break a reader of others: a listing leaves them out of
    ``items`` and names their ids in ``Page.unreadable`` (listings returning plain lists just
    leave them out), each one logged by id, never by content. A read of one such record
    raises :class:`~tether.domain.errors.RecordUnreadable`; an unreadable connection can still
    be removed (:meth:`remove_unreadable_connection`).
    """

    # -- connections ------------------------------------------------------------------------
    def create_connection(
        self, connection: Connection, *, audit: Sequence[AuditEvent] = ()
    ) -> None:
        """Insert a new record. :class:`~tether.domain.errors.Conflict` if the id exists.

        ``audit``: entries written in the same atomic write as the record (see
        :meth:`append_audit`): both land or neither does."""
        ...

    def get_connection(
        self, tenant_id: str, connection_id: str, *, include_deleted: bool = False
    ) -> Connection | None: ...

    def list_connections(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Connection]:
        """Newest first; ``cursor`` is opaque and comes from a previous page. Soft-deleted
        records are never listed."""
        ...

    def update_connection(
        self,
        connection: Connection,
        *,
        expected_version: int,
        audit: Sequence[AuditEvent] = (),
    ) -> Connection:
        """Compare-and-set on ``version``: writes ``connection`` with ``version =
        expected_version + 1`` only if the stored record still has ``expected_version``;
        otherwise :class:`~tether.domain.errors.VersionConflict`. Returns what was stored.

        ``audit``: entries written in the same atomic write as the change: a refused
        compare-and-set writes none of them, and an entry that cannot be written (an id
        already used: :class:`~tether.domain.errors.Conflict`) leaves the record as it was."""
        ...

    def remove_unreadable_connection(
        self, tenant_id: str, connection_id: str, *, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        """Delete the tenant's connection record for good, with its webhook token and route,
        *only* if its stored record does not decode (a readable one is soft-deleted through
        :meth:`update_connection`, never here). ``True`` if it was removed; ``False`` when
        there is no such record or it is readable. ``audit`` as in :meth:`create_connection`.
        """
        ...

    def scan_connections(self, *, cursor: str | None = None, limit: int = 200) -> Page[Connection]:
        """Every record of every tenant, deleted ones included: for key rotation and sweeps."""
        ...

    def list_expiring(
        self, *, before: datetime, limit: int = 200, cursor: str | None = None
    ) -> Page[Connection]:
        """Live (not deleted) connections of every tenant whose ``token_expires_at`` is set and
        <= ``before``, soonest first; ``cursor`` (opaque) continues a previous page. Served by an
        index on the expiry, so its cost grows with the number of matches, not of connections.

        Records that share an expiry come in a fixed order of the backend's choosing, so pages
        neither skip nor repeat them. A malformed cursor is
        :class:`~tether.domain.errors.InvalidRequest` (code ``INVALID_CURSOR``); a ``limit``
        below 1 is :class:`~tether.domain.errors.InvalidRequest` too."""
        ...

    def find_connection_by_webhook_token(self, token_hash: str) -> Connection | None: ...

    def find_connection_by_route(self, provider: str, route: str) -> Connection | None:
        """The live connection of ``provider`` whose ``webhook_route`` is ``route`` (exact
        match), for app-level webhook deliveries. At most one live connection holds a
        ``(provider, route)``: :meth:`create_connection` and :meth:`update_connection` refuse a
        second one with :class:`~tether.domain.errors.Conflict` (code
        ``WEBHOOK_ROUTE_TAKEN``); a deleted connection holds none."""
        ...

    # -- audit ------------------------------------------------------------------------------
    def append_audit(self, event: AuditEvent) -> None:
        """Write one entry on its own: for what changed nothing in this store (a credential
        read, a test whose record could not be written, a revocation at the provider). A
        change audits through the ``audit`` argument of its write instead, so that a crash
        between the two can never leave a change without its entry.

        Entries passed to a write (here and there) must be of the written record's tenant
        (:class:`~tether.domain.errors.InvalidRequest` otherwise, nothing written); an id
        already used is :class:`~tether.domain.errors.Conflict`."""
        ...

    def list_audit(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """Newest first."""
        ...

    # -- OAuth states (single use) ----------------------------------------------------------
    def create_oauth_state(self, state: OAuthState) -> None:
        """Atomic create; :class:`~tether.domain.errors.Conflict` if the hash exists."""
        ...

    def consume_oauth_state(self, state_hash: str, *, now: datetime) -> OAuthState | None:
        """Atomically mark the state used and return it *as it was before*: a caller sees
        ``used_at`` set when the state had already been consumed (a replay). ``None`` when
        unknown."""
        ...

    def scan_oauth_states(self, *, cursor: str | None = None, limit: int = 200) -> Page[OAuthState]:
        """Every stored state, used and expired ones included until purged, in a fixed order
        of the backend's choosing; ``cursor`` (opaque) continues a previous page. For key
        rotation, which reseals the data of pending states."""
        ...

    def replace_oauth_state(self, state: OAuthState, *, expected: OAuthState) -> bool:
        """Write ``state`` over the stored state of the same hash, atomically, if that is
        still exactly ``expected`` and unused. ``False`` (nothing written) when it was
        consumed, purged or changed meanwhile. For key rotation: a state is single use, so
        nothing else ever rewrites one."""
        ...

    # -- webhook events (dedupe by atomic create) -------------------------------------------
    def create_webhook_event(self, event: WebhookEvent) -> bool:
        """``True`` if created, ``False`` if ``(provider, dedupe_key)`` already exists."""
        ...

    def get_webhook_event(self, provider: str, dedupe_key: str) -> WebhookEvent | None: ...

    def update_webhook_event(self, event: WebhookEvent) -> None: ...

    def delete_webhook_event(self, provider: str, dedupe_key: str) -> None: ...

    def list_webhook_events(
        self, tenant_id: str, connection_id: str, *, limit: int = 50
    ) -> list[WebhookEvent]:
        """The connection's stored events, newest ``received_at`` first (ties: a fixed order of
        the backend's choosing), at most ``limit``; events of no connection (unroutable) are
        never listed. A summary: ``body`` and ``headers`` come back empty, so a listing never
        reads payloads. A ``limit`` below 1 lists nothing."""
        ...

    # -- leases -----------------------------------------------------------------------------
    def acquire_lease(
        self, name: str, owner: str, *, ttl_seconds: float, now: datetime
    ) -> Lease | None:
        """Take ``name`` if it is free, expired, or already ours; ``None`` if someone else
        holds it."""
        ...

    def release_lease(self, name: str, owner: str) -> None:
        """Release only if ``owner`` still holds it."""
        ...

    # -- rate limits ------------------------------------------------------------------------
    def acquire_rate(self, key: str, *, per_minute: int, burst: int, now: datetime) -> float:
        """Token bucket ``key``, shared by every instance: refill at ``per_minute`` tokens per
        minute up to ``burst``; take one token and return 0.0 if one is there, else take nothing
        and return the seconds until the next token. Atomic across threads and processes.

        A bucket never used starts full. ``burst`` below 1 counts as 1; with ``per_minute``
        0 an empty bucket never refills (``inf``). A ``now`` earlier than the bucket's last
        grant (instances' clocks differ) refills nothing and never moves the bucket back. Only
        a grant writes; a refusal reads."""
        ...

    # -- tenant settings --------------------------------------------------------------------
    def get_tenant_settings(self, tenant_id: str) -> TenantSettings | None: ...

    def put_tenant_settings(
        self,
        settings: TenantSettings,
        *,
        expected_version: int | None,
        audit: Sequence[AuditEvent] = (),
    ) -> TenantSettings:
        """Compare-and-set of the tenant's one settings record. ``expected_version=None``
        creates it with ``version = 1``; otherwise writes ``version = expected_version + 1``
        only if the stored record still has ``expected_version``. Either way a mismatch (it
        exists already, is missing, or changed) is
        :class:`~tether.domain.errors.VersionConflict`: re-read and decide again. Returns
        what was stored. ``audit`` commits with the write, as for :meth:`update_connection`."""
        ...

    def scan_tenant_settings(
        self, *, cursor: str | None = None, limit: int = 200
    ) -> Page[TenantSettings]:
        """Every tenant's settings record, in a fixed order of the backend's choosing;
        ``cursor`` (opaque) continues a previous page. For key rotation."""
        ...

    # -- event deliveries -------------------------------------------------------------------
    def record_delivery(self, delivery: Delivery) -> None:
        """Insert or replace the record ``(delivery.tenant_id, delivery.id)`` (last writer
        wins: the queue runs one delivery at a time, give or take a rare duplicate)."""
        ...

    def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None: ...

    def list_deliveries(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """The tenant's deliveries (of one connection, when given), newest ``created_at``
        first, then by id descending. A ``limit`` below 1 is
        :class:`~tether.domain.errors.InvalidRequest`."""
        ...

    # -- housekeeping -----------------------------------------------------------------------
    def purge_expired(self, *, now: datetime) -> int:
        """Housekeeping: delete what has outlived its time at ``now`` and return how many.
        OAuth states (used or not), webhook events and leases past their ``expires_at``;
        deliveries (by ``created_at``) and audit entries (by ``at``) older than the store's
        :class:`~tether.domain.retention.Retention`; rate buckets full again (a missing
        bucket starts full). Records younger than that stay. Firestore's TTL policies delete
        the same on their own, and its rate buckets only that way."""
        ...


@runtime_checkable
class SecretStore(Protocol):
    """Durable credential payloads (API keys, client secrets, refresh tokens) of connections.

    A change is three steps so that a failure at any point leaves the record and the secret
    consistent: :meth:`put` a new version (others untouched), write the record that points at
    it, then :meth:`retire` the superseded version, or retire the new one if the record could
    not be written.
    """

    backend: str

    def put(
        self,
        *,
        tenant_id: str,
        connection_id: str,
        provider: str,
        payload: Mapping[str, Any],
    ) -> CredentialRef:
        """Store ``payload`` as a new version and return the reference to keep on the record.
        Raises (a retryable :class:`~tether.domain.errors.BackendUnavailable` when the
        backend failed) with nothing stored."""
        ...

    def get(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> dict[str, Any]:
        """The payload ``ref`` names. :class:`~tether.domain.errors.NotFound` when that version
        is gone or retired (re-read the record: it may point at a newer one)."""
        ...

    def retire(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> None:
        """Make one version unreadable for good (superseded, or written for a record that
        never landed). Idempotent."""
        ...

    def delete(self, *, tenant_id: str, connection_id: str, ref: CredentialRef | None) -> None:
        """Destroy every version of the connection's credentials: from then on :meth:`get`
        of any of them is :class:`~tether.domain.errors.NotFound`. Idempotent."""
        ...


TaskHandler = Callable[[str, dict[str, Any]], None]
"""``handler(kind, payload)``: returns on success; raises a retryable
:class:`~tether.domain.errors.TetherError` (or any unexpected exception) to be retried, a
non-retryable one to be recorded as failed and not retried."""


@runtime_checkable
class TaskQueue(Protocol):
    """Deferred work: token refresh, sync, webhook delivery."""

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        name: str | None = None,
        run_at: datetime | None = None,
    ) -> bool:
        """Schedule ``payload`` for the ``kind`` handler at ``run_at`` (default: now).

        ``name`` deduplicates: a second enqueue with a name already used returns ``False``
        and schedules nothing (best effort on Cloud Tasks; handlers stay idempotent). A
        ``payload`` that is not JSON is :class:`~tether.domain.errors.InvalidRequest`, with
        nothing scheduled. The handler runs at ``run_at`` or later, never before; a retryable
        failure (see :data:`TaskHandler`) runs it again, a permanent one does not."""
        ...
