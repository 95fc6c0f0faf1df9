"""Firestore :class:`~tether.ports.ConnectionRepository`: ``tenants/<t>/connections``, and the
``webhook_tokens`` and ``webhook_routes`` lookups written in the same batch as the record
(with its audit entries: :class:`AuditedWrites`). Layout and indexes: :mod:`.store`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.audited_writes import entries_of
from tether.adapters.firestore.audit import AuditedWrites, audit_taken
from tether.adapters.firestore.documents import (
    CONNECTIONS,
    DESC,
    DOCUMENT_NAME,
    TENANTS,
    WEBHOOK_ROUTES,
    WEBHOOK_TOKENS,
    Stale,
    aware,
    backend,
    decoded,
    stored_json,
)
from tether.adapters.firestore.paths import (
    decode_expiry_cursor,
    decode_list_cursor,
    doc_id,
    encode_expiry_cursor,
    encode_list_cursor,
    webhook_route_id,
)
from tether.adapters.record_decoding import decode_one, is_readable
from tether.domain.errors import Conflict, InvalidRequest, VersionConflict
from tether.domain.models import AuditEvent, Connection, Page

__all__ = ["FirestoreConnections"]


class FirestoreConnections(AuditedWrites):
    """``retention``: how long the audit entries its changes write are kept."""

    def _connection_ref(self, tenant_id: str, connection_id: str) -> DocumentReference:
        connections: CollectionReference = self._database.tenant(tenant_id).collection(CONNECTIONS)
        return connections.document(doc_id(connection_id))

    def _token_ref(self, token_hash: str) -> DocumentReference:
        return self._database.client.collection(WEBHOOK_TOKENS).document(doc_id(token_hash))

    def _route_ref(self, route_key: str) -> DocumentReference:
        return self._database.client.collection(WEBHOOK_ROUTES).document(route_key)

    @staticmethod
    def _connection_fields(connection: Connection) -> dict[str, Any]:
        return {
            "record": connection.model_dump_json(),
            "tenant_id": connection.tenant_id,
            "id": connection.id,
            "provider": connection.provider,
            "end_user_id": connection.end_user_id,
            "status": connection.status.value,
            "deleted": connection.deleted_at is not None,
            "created_at": aware(connection.created_at),
            "version": connection.version,
            "webhook_token_hash": _token_hash(connection),
            "token_expires_at": (
                None if connection.token_expires_at is None else aware(connection.token_expires_at)
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
        fields = self._database.checked(ref, self._connection_fields(connection))
        entries = self._audit_writes(entries_of(connection.tenant_id, audit))
        token_hash, route_key = _token_hash(connection), _route_key(connection)
        with backend():
            batch = self._database.client.batch()
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
        self._database.connection_writes.add()

    def connection_writes(self) -> int:
        return self._database.connection_writes.value

    def get_connection(
        self, tenant_id: str, connection_id: str, *, include_deleted: bool = False
    ) -> Connection | None:
        with backend():
            snapshot = self._connection_ref(tenant_id, connection_id).get(
                field_paths=["record", "deleted"]
            )
        if not snapshot.exists or (snapshot.get("deleted") and not include_deleted):
            return None
        return decode_one(Connection, stored_json(snapshot), record_id=connection_id)

    def _listing_query(
        self,
        tenant_id: str,
        *,
        status: str | None,
        provider: str | None,
        cursor: str | None,
        end_user_id: str | None = None,
    ) -> firestore.Query:
        """A tenant's live connections, newest first, from the cursor on: equality on
        ``deleted`` and each filter given, ordered by ``created_at`` then ``id``. Each filter
        combination is one composite ``COLLECTION`` index of ``infra/firestore.indexes.json``
        (equality fields, then the two sort fields descending), so Firestore reads only the
        page's entries, from the cursor's position in that index, at any depth."""
        query: firestore.Query = (
            self._database.tenant(tenant_id)
            .collection(CONNECTIONS)
            .where(filter=FieldFilter("deleted", "==", False))
        )
        if end_user_id is not None:
            query = query.where(filter=FieldFilter("end_user_id", "==", end_user_id))
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        if provider is not None:
            query = query.where(filter=FieldFilter("provider", "==", provider))
        query = query.order_by("created_at", direction=DESC).order_by("id", direction=DESC)
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
        end_user_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Connection]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = self._listing_query(
            tenant_id, status=status, provider=provider, cursor=cursor, end_user_id=end_user_id
        )
        query = query.select(["record", "created_at", "id"]).limit(limit + 1)
        with backend():
            snapshots = list(query.stream())
        page = decoded(Connection, snapshots[:limit])
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
        fields = self._database.checked(ref, self._connection_fields(stored))
        entries = self._audit_writes(entries_of(stored.tenant_id, audit))
        stale = VersionConflict("the connection was changed by someone else; re-read it")
        with backend():
            current = ref.get(field_paths=["version", "webhook_token_hash", "webhook_route_key"])
            if not current.exists or current.get("version") != expected_version:
                raise stale
            known = current.to_dict() or {}
            batch = self._database.client.batch()
            batch.update(ref, fields, option=self._database.unchanged_since(current))
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
        self._database.connection_writes.add()
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
            if not current.exists or is_readable(Connection, stored_json(current)):
                return False
            known = current.to_dict() or {}
            batch = self._database.client.batch()
            batch.delete(ref, option=self._database.unchanged_since(current))
            if isinstance(token_hash := known.get("webhook_token_hash"), str):
                batch.delete(self._token_ref(token_hash))
            if isinstance(route_key := known.get("webhook_route_key"), str):
                batch.delete(self._route_ref(route_key))
            for audit_ref, audit_fields in entries:
                batch.create(audit_ref, audit_fields)
            try:
                batch.commit()
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise Stale from None
            except gexc.AlreadyExists:
                raise self._audit_clash(entries) or audit_taken() from None
            return True

        with backend():
            removed = self._database.optimistic(attempt)
        if removed:
            self._database.connection_writes.add()
        return removed

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
        return self._database.scan_tenant_group(Connection, CONNECTIONS, cursor=cursor, limit=limit)

    def list_expiring(
        self, *, before: datetime, limit: int = 200, cursor: str | None = None
    ) -> Page[Connection]:
        """See :meth:`~tether.ports.ConnectionRepository.list_expiring`. Documents written before
        ``token_expires_at`` became a top-level field lack it and are not found until their
        next update rewrites them."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = (
            self._database.client.collection_group(CONNECTIONS)
            .where(filter=FieldFilter("deleted", "==", False))
            .where(filter=FieldFilter("token_expires_at", "<=", aware(before)))
            .order_by("token_expires_at")
            .order_by(DOCUMENT_NAME)
        )
        if cursor is not None:
            at, path = decode_expiry_cursor(cursor, parent=TENANTS, collection=CONNECTIONS)
            query = query.start_after(
                {"token_expires_at": at, DOCUMENT_NAME: self._database.client.document(path)}
            )
        query = query.select(["record", "token_expires_at"]).limit(limit + 1)
        with backend():
            snapshots = list(query.stream())
        page = decoded(Connection, snapshots[:limit])
        next_cursor = None
        if len(snapshots) > limit:
            last = snapshots[limit - 1]
            next_cursor = encode_expiry_cursor(last.get("token_expires_at"), last.reference.path)
        return Page(items=page.items, next_cursor=next_cursor, unreadable=page.unreadable)

    def find_connection_by_webhook_token(self, token_hash: str) -> Connection | None:
        with backend():
            lookup = self._token_ref(token_hash).get()
        if not lookup.exists:
            return None
        found = self.get_connection(lookup.get("tenant_id"), lookup.get("connection_id"))
        if found is None or _token_hash(found) != token_hash:
            return None
        return found

    def find_connection_by_route(self, provider: str, route: str) -> Connection | None:
        with backend():
            lookup = self._route_ref(webhook_route_id(provider, route)).get()
        if not lookup.exists:
            return None
        found = self.get_connection(lookup.get("tenant_id"), lookup.get("connection_id"))
        if found is None or found.provider != provider or found.webhook_route != route:
            return None
        return found


def _token_hash(connection: Connection) -> str | None:
    return connection.webhook.token_hash if connection.webhook else None


def _route_key(connection: Connection) -> str | None:
    """The ``webhook_routes`` lookup id the connection holds: none once it is deleted."""
    if connection.webhook_route is None or connection.deleted_at is not None:
        return None
    return webhook_route_id(connection.provider, connection.webhook_route)
