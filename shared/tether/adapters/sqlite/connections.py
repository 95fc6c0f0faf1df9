"""SQLite :class:`~tether.ports.ConnectionRepository`: the ``connections`` table, its
listing, scan and expiry queries, and the unique webhook-token and route lookups (indexes of
the table itself). Audit entries of a change go in its transaction (:class:`AuditedWrites`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tether.adapters.audited_writes import entries_of
from tether.adapters.record_decoding import decode_many, decode_one, is_readable
from tether.adapters.sqlite.audit import AuditedWrites
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.errors import Conflict, InvalidRequest, VersionConflict
from tether.domain.models import AuditEvent, Connection, Page

__all__ = ["SqliteConnections", "listing_sql"]


def _encode_cursor(at: str, record_id: str) -> str:
    """The opaque cursor after a row: its sort time (as stored) and id."""
    raw = json.dumps([at, record_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# What format_time writes, and so the only time a cursor may carry.
_FIXED_WIDTH_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """``(time, id)`` of the last item of the previous page (``created_at`` of a listing,
    ``token_expires_at`` of the expiry sweep), checked strictly: anything else is the
    caller's mistake (400 INVALID_CURSOR)."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        at, record_id = json.loads(raw)
        if not isinstance(at, str) or not isinstance(record_id, str):
            raise TypeError
        if not _FIXED_WIDTH_TIME.fullmatch(at):
            raise ValueError
    except (binascii.Error, ValueError, TypeError):
        raise InvalidRequest("cursor is not valid", code="INVALID_CURSOR") from None
    return at, record_id


def _changing_columns(connection: Connection) -> tuple[object, ...]:
    """What every write of the record sets, in this order: ``provider, status, version,
    deleted, webhook_token_hash, token_expires_at, webhook_route, doc`` (the columns beside
    the document serve lookups, listings and the refresh sweep's index)."""
    expires_at = connection.token_expires_at
    return (
        connection.provider,
        connection.status.value,
        connection.version,
        int(connection.deleted_at is not None),
        connection.webhook.token_hash if connection.webhook else None,
        None if expires_at is None else format_time(expires_at),
        connection.webhook_route,
        connection.model_dump_json(),
    )


# The refresh sweep's query. Its WHERE repeats the partial index's condition word for word so
# SQLite serves it from ``connections_by_token_expiry`` (schema step 2), in index order.
_EXPIRING_SQL = (
    "SELECT doc, token_expires_at, id FROM connections "
    "WHERE deleted = 0 AND token_expires_at IS NOT NULL AND token_expires_at <= ?{after} "
    "ORDER BY token_expires_at, id LIMIT ?"
)
_EXPIRING_AFTER = " AND (token_expires_at, id) > (?, ?)"


def listing_sql(*, status: bool, provider: bool, after: bool, end_user: bool = False) -> str:
    """The query of one page of a tenant's live connections, newest first; parameters: the
    tenant, the end user, status and provider when filtered, the cursor's ``(created_at, id)``
    when ``after``, the row limit.

    The cursor is a row-value comparison, which SQLite turns into the start of a range of
    the index (an ``OR`` of the two halves cannot be, and makes a page deep in the listing
    read every row before it). Each filter combination has an index (``connections_by_tenant``
    of schema step 1, the three partial ones of step 7) whose equality columns are exactly
    the filters, followed by the sort order, so a page reads ``limit + 1`` index entries at
    any depth and needs no sort. An end user's listing is served by ``connections_by_end_user``
    (step 12), status and provider then filtering its few rows."""
    sql = "SELECT doc, created_at, id FROM connections WHERE tenant_id = ? AND deleted = 0"
    if end_user:
        sql += " AND end_user_id = ?"
    if status:
        sql += " AND status = ?"
    if provider:
        sql += " AND provider = ?"
    if after:
        sql += " AND (created_at, id) < (?, ?)"
    return sql + " ORDER BY created_at DESC, id DESC LIMIT ?"


def _route_clash(error: sqlite3.IntegrityError) -> bool:
    """Whether ``error`` is the unique index on ``(provider, webhook_route)`` (schema step 6)
    refusing a second live holder; SQLite names the index's columns in its message."""
    return "webhook_route" in str(error)


def _route_taken() -> Conflict:
    return Conflict(
        "another connection already receives this account's webhooks",
        code="WEBHOOK_ROUTE_TAKEN",
    )


class SqliteConnections(AuditedWrites):
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def create_connection(
        self, connection: Connection, *, audit: Sequence[AuditEvent] = ()
    ) -> None:
        entries = entries_of(connection.tenant_id, audit)
        try:
            with self._database.write() as db:
                db.execute(
                    "INSERT INTO connections (id, tenant_id, created_at, end_user_id, provider, "
                    "status, version, deleted, webhook_token_hash, token_expires_at, "
                    "webhook_route, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        connection.id,
                        connection.tenant_id,
                        format_time(connection.created_at),
                        connection.end_user_id,
                        *_changing_columns(connection),
                    ),
                )
                self._insert_audit(db, entries)
        except sqlite3.IntegrityError as exc:
            if _route_clash(exc):
                raise _route_taken() from None
            raise Conflict("a connection with this id already exists") from None
        self._database.connection_writes.add()

    def connection_writes(self) -> int:
        return self._database.connection_writes.value

    def get_connection(
        self, tenant_id: str, connection_id: str, *, include_deleted: bool = False
    ) -> Connection | None:
        row = (
            self._database.db()
            .execute(
                "SELECT doc, deleted FROM connections WHERE id = ? AND tenant_id = ?",
                (connection_id, tenant_id),
            )
            .fetchone()
        )
        if row is None or (row[1] and not include_deleted):
            return None
        return decode_one(Connection, row[0], record_id=connection_id)

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
        args: list[object] = [tenant_id]
        args += [value for value in (end_user_id, status, provider) if value is not None]
        if cursor is not None:
            args += _decode_cursor(cursor)
        args.append(limit + 1)
        sql = listing_sql(
            status=status is not None,
            provider=provider is not None,
            after=cursor is not None,
            end_user=end_user_id is not None,
        )
        rows = self._database.db().execute(sql, args).fetchall()
        return _page(rows, limit)

    def update_connection(
        self,
        connection: Connection,
        *,
        expected_version: int,
        audit: Sequence[AuditEvent] = (),
    ) -> Connection:
        entries = entries_of(connection.tenant_id, audit)
        stored = connection.model_copy(update={"version": expected_version + 1})
        with self._database.write() as db:
            try:
                cur = db.execute(
                    "UPDATE connections SET provider = ?, status = ?, version = ?, deleted = ?, "
                    "webhook_token_hash = ?, token_expires_at = ?, webhook_route = ?, doc = ? "
                    "WHERE id = ? AND tenant_id = ? AND version = ?",
                    (
                        *_changing_columns(stored),
                        stored.id,
                        stored.tenant_id,
                        expected_version,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                if _route_clash(exc):
                    raise _route_taken() from None
                raise Conflict("this webhook token is already in use") from None
            if cur.rowcount != 1:
                raise VersionConflict("the connection was changed by someone else; re-read it")
            self._insert_audit(db, entries)
        self._database.connection_writes.add()
        return stored

    def remove_unreadable_connection(
        self, tenant_id: str, connection_id: str, *, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        """See :meth:`~tether.ports.ConnectionRepository.remove_unreadable_connection`: the row goes
        (its webhook token and route with it) only if its document still does not decode."""
        entries = entries_of(tenant_id, audit)
        with self._database.write() as db:
            row = db.execute(
                "SELECT doc FROM connections WHERE id = ? AND tenant_id = ?",
                (connection_id, tenant_id),
            ).fetchone()
            if row is None or is_readable(Connection, row[0]):
                return False
            db.execute(
                "DELETE FROM connections WHERE id = ? AND tenant_id = ?",
                (connection_id, tenant_id),
            )
            self._insert_audit(db, entries)
        self._database.connection_writes.add()
        return True

    def scan_connections(self, *, cursor: str | None = None, limit: int = 200) -> Page[Connection]:
        return self._database.scan(
            Connection,
            "SELECT id, doc FROM connections WHERE id > ? ORDER BY id LIMIT ?",
            cursor=cursor,
            limit=limit,
        )

    def list_expiring(
        self, *, before: datetime, limit: int = 200, cursor: str | None = None
    ) -> Page[Connection]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        args: list[object] = [format_time(before)]
        after = ""
        if cursor is not None:
            expires_at, record_id = _decode_cursor(cursor)
            after = _EXPIRING_AFTER
            args += [expires_at, record_id]
        args.append(limit + 1)
        rows = self._database.db().execute(_EXPIRING_SQL.format(after=after), args).fetchall()
        return _page(rows, limit)

    def find_connection_by_webhook_token(self, token_hash: str) -> Connection | None:
        row = (
            self._database.db()
            .execute(
                "SELECT doc, id FROM connections WHERE webhook_token_hash = ? AND deleted = 0",
                (token_hash,),
            )
            .fetchone()
        )
        return None if row is None else decode_one(Connection, row[0], record_id=row[1])

    def find_connection_by_route(self, provider: str, route: str) -> Connection | None:
        row = (
            self._database.db()
            .execute(
                "SELECT doc, id FROM connections "
                "WHERE provider = ? AND webhook_route = ? AND deleted = 0",
                (provider, route),
            )
            .fetchone()
        )
        return None if row is None else decode_one(Connection, row[0], record_id=row[1])


def _page(rows: Sequence[tuple[Any, ...]], limit: int) -> Page[Connection]:
    """A page of ``(doc, sort key, id)`` rows fetched with ``limit + 1``: the extra row only
    says that more follow, and the last kept row's key is the next cursor."""
    items, unreadable = decode_many(Connection, ((r[2], r[0]) for r in rows[:limit]))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last[1], last[2])
    return Page(items=items, next_cursor=next_cursor, unreadable=unreadable)
