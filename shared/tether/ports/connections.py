"""The connection records: tenant-scoped, versioned, soft-deleted, found by webhook token
or route. Their contract suite is ``tests/contract/test_connection_repository_contract.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from tether.domain.models import AuditEvent, Connection, Page

__all__ = ["ConnectionRepository"]


@runtime_checkable
class ConnectionRepository(Protocol):
    """Tenant-scoped connection records.

    Every read and write of a connection names its tenant; a record of another tenant is
    indistinguishable from a missing one.

    A change and its audit entries are written together: the ``audit`` argument of
    :meth:`create_connection`, :meth:`update_connection` and
    :meth:`remove_unreadable_connection` lands in the same atomic write as the change (both
    or neither), where :meth:`~tether.ports.AuditLog.list_audit` then lists it. Entries of
    another tenant than the record's are :class:`~tether.domain.errors.InvalidRequest` with
    nothing written; an entry id already used is :class:`~tether.domain.errors.Conflict`
    with nothing written.

    Unreadable records (stored JSON that no longer decodes: written by an older, laxer
    version, or damaged) never break a reader of others: a listing leaves them out of
    ``items`` and names their ids in ``Page.unreadable``, each one logged by id, never by
    content. A read of one such record raises
    :class:`~tether.domain.errors.RecordUnreadable`; an unreadable connection can still be
    removed (:meth:`remove_unreadable_connection`).
    """

    def create_connection(
        self, connection: Connection, *, audit: Sequence[AuditEvent] = ()
    ) -> None:
        """Insert a new record. :class:`~tether.domain.errors.Conflict` if the id exists in
        the tenant, if its webhook token hash is another record's, or (code
        ``WEBHOOK_ROUTE_TAKEN``) if a live connection holds its ``(provider, route)``.
        ``audit`` commits with it (see the class docstring)."""
        ...

    def get_connection(
        self, tenant_id: str, connection_id: str, *, include_deleted: bool = False
    ) -> Connection | None:
        """The tenant's record as last stored, or ``None`` (unknown, another tenant's, or
        soft-deleted unless ``include_deleted``)."""
        ...

    def list_connections(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        provider: str | None = None,
        end_user_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Connection]:
        """The tenant's live records (of ``end_user_id``, ``status`` and ``provider`` when
        given; a connection's end user is fixed at its creation), newest
        ``created_at`` first (ties: a fixed order of the backend's choosing, so pages neither
        skip nor repeat them), at most ``limit`` a page; ``cursor`` is opaque and comes from
        a previous page (a malformed one is :class:`~tether.domain.errors.InvalidRequest`,
        code ``INVALID_CURSOR``). Soft-deleted records are never listed. A ``limit`` below 1
        is :class:`~tether.domain.errors.InvalidRequest`."""
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

        A webhook token hash or a live ``(provider, route)`` held by another record is
        :class:`~tether.domain.errors.Conflict` (code ``WEBHOOK_ROUTE_TAKEN`` for the route),
        nothing written. ``audit``: entries written in the same atomic write as the change: a
        refused compare-and-set writes none of them, and an entry that cannot be written (an
        id already used: :class:`~tether.domain.errors.Conflict`) leaves the record, and its
        webhook-token and route lookups, as they were."""
        ...

    def remove_unreadable_connection(
        self, tenant_id: str, connection_id: str, *, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        """Delete the tenant's connection record for good, with its webhook token and route,
        *only* if its stored record does not decode (a readable one is soft-deleted through
        :meth:`update_connection`, never here). ``True`` if it was removed; ``False`` when
        there is no such record or it is readable. ``audit`` commits with it."""
        ...

    def scan_connections(self, *, cursor: str | None = None, limit: int = 200) -> Page[Connection]:
        """Every record of every tenant, deleted ones included, in a fixed order of the
        backend's choosing; ``cursor`` (opaque) continues a previous page. For key rotation
        and sweeps."""
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

    def connection_writes(self) -> int:
        """How many writes of connection records (creations, updates, removals) this store
        has committed in this process, through any repository over the same backend: an
        in-process cache of connections reads again what it kept before the count moved.
        Writes by other processes are not counted."""
        ...

    def find_connection_by_webhook_token(self, token_hash: str) -> Connection | None:
        """The live connection of any tenant whose ``webhook.token_hash`` is ``token_hash``
        (a hash is held by one record at most); ``None`` when none, or when its holder is
        deleted. Follows updates: a replaced hash no longer finds the record."""
        ...

    def find_connection_by_route(self, provider: str, route: str) -> Connection | None:
        """The live connection of ``provider`` whose ``webhook_route`` is ``route`` (exact
        match), for app-level webhook deliveries. At most one live connection holds a
        ``(provider, route)``: :meth:`create_connection` and :meth:`update_connection` refuse a
        second one with :class:`~tether.domain.errors.Conflict` (code
        ``WEBHOOK_ROUTE_TAKEN``); a deleted connection holds none."""
        ...
