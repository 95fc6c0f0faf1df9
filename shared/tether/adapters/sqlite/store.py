"""SQLite implementation of :class:`~tether.ports.ConnectionStore`.

One file, WAL journal (readers never block the writer), one connection per live thread (closed
when its thread ends), explicit ``BEGIN IMMEDIATE`` for every read-modify-write so
compare-and-set, single-use states, dedupe, leases and rate buckets are atomic across threads
*and* processes sharing the file.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from tether.adapters.audited_writes import entries_of
from tether.adapters.record_decoding import decode_many, decode_one, is_readable
from tether.adapters.sqlite.migrations import enable_wal
from tether.adapters.sqlite.schema import format_time, migrate
from tether.adapters.sqlite.thread_connections import ThreadConnections
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

__all__ = ["SqliteConnectionStore", "format_time"]


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


def _expiry(connection: Connection) -> str | None:
    at = connection.token_expires_at
    return None if at is None else format_time(at)


# The refresh sweep's query. Its WHERE repeats the partial index's condition word for word so
# SQLite serves it from ``connections_by_token_expiry`` (schema step 2), in index order.
_EXPIRING_SQL = (
    "SELECT doc, token_expires_at, id FROM connections "
    "WHERE deleted = 0 AND token_expires_at IS NOT NULL AND token_expires_at <= ?{after} "
    "ORDER BY token_expires_at, id LIMIT ?"
)
_EXPIRING_AFTER = " AND (token_expires_at, id) > (?, ?)"


def listing_sql(*, status: bool, provider: bool, after: bool) -> str:
    """The query of one page of a tenant's live connections, newest first; parameters: the
    tenant, the status and provider when filtered, the cursor's ``(created_at, id)`` when
    ``after``, the row limit.

    The cursor is a row-value comparison, which SQLite turns into the start of a range of
    the index (an ``OR`` of the two halves cannot be, and makes a page deep in the listing
    read every row before it). Each filter combination has an index (``connections_by_tenant``
    of schema step 1, the three partial ones of step 7) whose equality columns are exactly
    the filters, followed by the sort order, so a page reads ``limit + 1`` index entries at
    any depth and needs no sort."""
    sql = "SELECT doc, created_at, id FROM connections WHERE tenant_id = ? AND deleted = 0"
    if status:
        sql += " AND status = ?"
    if provider:
        sql += " AND provider = ?"
    if after:
        sql += " AND (created_at, id) < (?, ?)"
    return sql + " ORDER BY created_at DESC, id DESC LIMIT ?"


# A connection's recent inbound events, newest first, from ``webhook_events_by_connection``
# (schema step 5), without the payload: ``json_remove`` drops body and headers in SQL (and
# would fail the whole query on one malformed document: those come back NULL, unreadable).
_WEBHOOK_EVENTS_SQL = (
    "SELECT dedupe_key, CASE WHEN json_valid(doc) "
    "THEN json_remove(doc, '$.body', '$.headers') END FROM webhook_events "
    "WHERE tenant_id = ? AND connection_id = ? ORDER BY received_at DESC LIMIT ?"
)


def _route_clash(error: sqlite3.IntegrityError) -> bool:
    """Whether ``error`` is the unique index on ``(provider, webhook_route)`` (schema step 6)
    refusing a second live holder; SQLite names the index's columns in its message."""
    return "webhook_route" in str(error)


def _route_taken() -> Conflict:
    return Conflict(
        "another connection already receives this account's webhooks",
        code="WEBHOOK_ROUTE_TAKEN",
    )


# Rows per DELETE when purging: each batch is its own short write transaction, so a large
# purge never holds the writer lock for long.
_PURGE_BATCH = 1000


class SqliteConnectionStore:
    """``retention`` says how long deliveries and audit entries are kept (purged by
    :meth:`purge_expired`); the other records carry their own expiry."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_ms: int = 10_000,
        retention: Retention | None = None,
    ) -> None:
        self._retention = retention or Retention()
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        self._connections = ThreadConnections(self._connect)
        try:
            migrate(self._db())
        except BaseException:
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            enable_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms:d}")
            db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            db.close()
            raise
        return db

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (see :class:`ThreadConnections`: closed when the thread
        ends, so a thread per request does not leave a connection per request open)."""
        return self._connections.get()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable("the local store is busy; try again") from exc
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def _insert(self, sql: str, args: tuple[object, ...]) -> None:
        """One INSERT in autocommit: a single statement is atomic by itself, so it needs no
        explicit transaction (two statements fewer on the hot paths: events, audit)."""
        try:
            self._db().execute(sql, args)
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable("the local store is busy; try again") from exc

    def close(self) -> None:
        self._connections.close()

    # -- connections ------------------------------------------------------------------------
    def create_connection(
        self, connection: Connection, *, audit: Sequence[AuditEvent] = ()
    ) -> None:
        entries = entries_of(connection.tenant_id, audit)
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO connections (id, tenant_id, provider, status, created_at, "
                    "version, deleted, webhook_token_hash, token_expires_at, webhook_route, doc) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        connection.id,
                        connection.tenant_id,
                        connection.provider,
                        connection.status.value,
                        format_time(connection.created_at),
                        connection.version,
                        int(connection.deleted_at is not None),
                        connection.webhook.token_hash if connection.webhook else None,
                        _expiry(connection),
                        connection.webhook_route,
                        connection.model_dump_json(),
                    ),
                )
                self._insert_audit(db, entries)
        except sqlite3.IntegrityError as exc:
            if _route_clash(exc):
                raise _route_taken() from None
            raise Conflict("a connection with this id already exists") from None

    def get_connection(
        self, tenant_id: str, connection_id: str, *, include_deleted: bool = False
    ) -> Connection | None:
        row = (
            self._db()
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
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Connection]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        args: list[object] = [tenant_id]
        args += [value for value in (status, provider) if value is not None]
        if cursor is not None:
            args += _decode_cursor(cursor)
        args.append(limit + 1)
        sql = listing_sql(
            status=status is not None, provider=provider is not None, after=cursor is not None
        )
        rows = self._db().execute(sql, args).fetchall()
        items, unreadable = decode_many(Connection, ((r[2], r[0]) for r in rows[:limit]))
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = _encode_cursor(last[1], last[2])
        return Page(items=items, next_cursor=next_cursor, unreadable=unreadable)

    def update_connection(
        self,
        connection: Connection,
        *,
        expected_version: int,
        audit: Sequence[AuditEvent] = (),
    ) -> Connection:
        entries = entries_of(connection.tenant_id, audit)
        stored = connection.model_copy(update={"version": expected_version + 1})
        with self._write() as db:
            try:
                cur = db.execute(
                    "UPDATE connections SET provider = ?, status = ?, version = ?, deleted = ?, "
                    "webhook_token_hash = ?, token_expires_at = ?, webhook_route = ?, doc = ? "
                    "WHERE id = ? AND tenant_id = ? AND version = ?",
                    (
                        stored.provider,
                        stored.status.value,
                        stored.version,
                        int(stored.deleted_at is not None),
                        stored.webhook.token_hash if stored.webhook else None,
                        _expiry(stored),
                        stored.webhook_route,
                        stored.model_dump_json(),
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
        return stored

    def remove_unreadable_connection(
        self, tenant_id: str, connection_id: str, *, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        """See :meth:`~tether.ports.ConnectionRepository.remove_unreadable_connection`: the row goes
        (its webhook token and route with it) only if its document still does not decode."""
        entries = entries_of(tenant_id, audit)
        with self._write() as db:
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
        return True

    def scan_connections(self, *, cursor: str | None = None, limit: int = 200) -> Page[Connection]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        after = cursor or ""
        rows = (
            self._db()
            .execute(
                "SELECT id, doc FROM connections WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit + 1),
            )
            .fetchall()
        )
        items, unreadable = decode_many(Connection, ((r[0], r[1]) for r in rows[:limit]))
        next_cursor = rows[limit - 1][0] if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor, unreadable=unreadable)

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
        rows = self._db().execute(_EXPIRING_SQL.format(after=after), args).fetchall()
        items, unreadable = decode_many(Connection, ((r[2], r[0]) for r in rows[:limit]))
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = _encode_cursor(last[1], last[2])
        return Page(items=items, next_cursor=next_cursor, unreadable=unreadable)

    def find_connection_by_webhook_token(self, token_hash: str) -> Connection | None:
        row = (
            self._db()
            .execute(
                "SELECT doc, id FROM connections WHERE webhook_token_hash = ? AND deleted = 0",
                (token_hash,),
            )
            .fetchone()
        )
        return None if row is None else decode_one(Connection, row[0], record_id=row[1])

    def find_connection_by_route(self, provider: str, route: str) -> Connection | None:
        row = (
            self._db()
            .execute(
                "SELECT doc, id FROM connections "
                "WHERE provider = ? AND webhook_route = ? AND deleted = 0",
                (provider, route),
            )
            .fetchone()
        )
        return None if row is None else decode_one(Connection, row[0], record_id=row[1])

    # -- audit ------------------------------------------------------------------------------
    def append_audit(self, event: AuditEvent) -> None:
        with self._write() as db:
            self._insert_audit(db, (event,))

    def _insert_audit(self, db: sqlite3.Connection, events: Sequence[AuditEvent]) -> None:
        """Insert ``events`` inside the caller's transaction, so they commit or roll back
        with the write they record."""
        try:
            db.executemany(
                "INSERT INTO audit (id, tenant_id, connection_id, at, doc) VALUES (?,?,?,?,?)",
                [
                    (
                        event.id,
                        event.tenant_id,
                        event.connection_id,
                        format_time(event.at),
                        event.model_dump_json(),
                    )
                    for event in events
                ],
            )
        except sqlite3.IntegrityError:
            raise Conflict("an audit event with this id already exists") from None

    def list_audit(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        if limit < 1:
            return []
        if connection_id is None:
            rows = (
                self._db()
                .execute(
                    "SELECT id, doc FROM audit WHERE tenant_id = ? ORDER BY seq DESC LIMIT ?",
                    (tenant_id, limit),
                )
                .fetchall()
            )
        else:
            rows = (
                self._db()
                .execute(
                    "SELECT id, doc FROM audit WHERE tenant_id = ? AND connection_id = ? "
                    "ORDER BY seq DESC LIMIT ?",
                    (tenant_id, connection_id, limit),
                )
                .fetchall()
            )
        return decode_many(AuditEvent, ((r[0], r[1]) for r in rows))[0]

    # -- OAuth states -----------------------------------------------------------------------
    def create_oauth_state(self, state: OAuthState) -> None:
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO oauth_states (state_hash, expires_at, doc) VALUES (?,?,?)",
                    (state.state_hash, format_time(state.expires_at), state.model_dump_json()),
                )
        except sqlite3.IntegrityError:
            raise Conflict("this OAuth state already exists") from None

    def consume_oauth_state(self, state_hash: str, *, now: datetime) -> OAuthState | None:
        with self._write() as db:
            row = db.execute(
                "SELECT doc FROM oauth_states WHERE state_hash = ?", (state_hash,)
            ).fetchone()
            if row is None:
                return None
            before = decode_one(OAuthState, row[0], record_id=state_hash)
            if before.used_at is None:
                used = before.model_copy(update={"used_at": now})
                db.execute(
                    "UPDATE oauth_states SET doc = ? WHERE state_hash = ?",
                    (used.model_dump_json(), state_hash),
                )
        return before

    def scan_oauth_states(self, *, cursor: str | None = None, limit: int = 200) -> Page[OAuthState]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        rows = (
            self._db()
            .execute(
                "SELECT state_hash, doc FROM oauth_states WHERE state_hash > ? "
                "ORDER BY state_hash LIMIT ?",
                (cursor or "", limit + 1),
            )
            .fetchall()
        )
        items, unreadable = decode_many(OAuthState, ((r[0], r[1]) for r in rows[:limit]))
        next_cursor = rows[limit - 1][0] if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor, unreadable=unreadable)

    def replace_oauth_state(self, state: OAuthState, *, expected: OAuthState) -> bool:
        if state.state_hash != expected.state_hash:
            raise ValueError("a state can only replace the state of the same hash")
        with self._write() as db:
            row = db.execute(
                "SELECT doc FROM oauth_states WHERE state_hash = ?", (expected.state_hash,)
            ).fetchone()
            if row is None:
                return False
            stored = decode_one(OAuthState, row[0], record_id=expected.state_hash)
            if stored != expected or stored.used_at is not None:
                return False
            db.execute(
                "UPDATE oauth_states SET expires_at = ?, doc = ? WHERE state_hash = ?",
                (format_time(state.expires_at), state.model_dump_json(), state.state_hash),
            )
        return True

    # -- webhook events ---------------------------------------------------------------------
    def create_webhook_event(self, event: WebhookEvent) -> bool:
        try:
            self._insert(
                "INSERT INTO webhook_events (provider, dedupe_key, expires_at, tenant_id, "
                "connection_id, received_at, doc) VALUES (?,?,?,?,?,?,?)",
                (
                    event.provider,
                    event.dedupe_key,
                    format_time(event.expires_at),
                    event.tenant_id,
                    event.connection_id,
                    format_time(event.received_at),
                    event.model_dump_json(),
                ),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def get_webhook_event(self, provider: str, dedupe_key: str) -> WebhookEvent | None:
        row = (
            self._db()
            .execute(
                "SELECT doc FROM webhook_events WHERE provider = ? AND dedupe_key = ?",
                (provider, dedupe_key),
            )
            .fetchone()
        )
        return None if row is None else decode_one(WebhookEvent, row[0], record_id=dedupe_key)

    def update_webhook_event(self, event: WebhookEvent) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE webhook_events SET doc = ?, expires_at = ?, tenant_id = ?, "
                "connection_id = ?, received_at = ? WHERE provider = ? AND dedupe_key = ?",
                (
                    event.model_dump_json(),
                    format_time(event.expires_at),
                    event.tenant_id,
                    event.connection_id,
                    format_time(event.received_at),
                    event.provider,
                    event.dedupe_key,
                ),
            )

    def delete_webhook_event(self, provider: str, dedupe_key: str) -> None:
        with self._write() as db:
            db.execute(
                "DELETE FROM webhook_events WHERE provider = ? AND dedupe_key = ?",
                (provider, dedupe_key),
            )

    def list_webhook_events(
        self, tenant_id: str, connection_id: str, *, limit: int = 50
    ) -> list[WebhookEvent]:
        """See :meth:`~tether.ports.WebhookEventRepository.list_webhook_events`; served by
        ``webhook_events_by_connection`` (schema step 5), bodies left out in SQL."""
        if limit < 1:
            return []
        rows = self._db().execute(_WEBHOOK_EVENTS_SQL, (tenant_id, connection_id, limit))
        return decode_many(WebhookEvent, ((r[0], r[1]) for r in rows.fetchall()))[0]

    # -- leases -----------------------------------------------------------------------------
    def acquire_lease(
        self, name: str, owner: str, *, ttl_seconds: float, now: datetime
    ) -> Lease | None:
        expires = now + timedelta(seconds=ttl_seconds)
        with self._write() as db:
            row = db.execute(
                "SELECT owner, expires_at FROM leases WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != owner and row[1] > format_time(now):
                return None
            db.execute(
                "INSERT INTO leases (name, owner, expires_at) VALUES (?,?,?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at",
                (name, owner, format_time(expires)),
            )
        return Lease(name=name, owner=owner, expires_at=expires)

    def release_lease(self, name: str, owner: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    # -- rate limits ------------------------------------------------------------------------
    def acquire_rate(self, key: str, *, per_minute: int, burst: int, now: datetime) -> float:
        """See :meth:`~tether.ports.RateBuckets.acquire_rate`. The read and the write share
        one ``BEGIN IMMEDIATE`` transaction, so racing threads and processes take turns."""
        stamp = format_time(now)
        with self._write() as db:
            row = db.execute(
                "SELECT tokens, updated_at FROM rate_buckets WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                tokens, updated = float(max(1, burst)), stamp
            else:
                tokens, updated = float(row[0]), str(row[1])
            elapsed = (now - datetime.fromisoformat(updated)).total_seconds()
            left, wait = take_token(tokens, elapsed, per_minute=per_minute, burst=burst)
            if wait == 0.0:
                latest = max(stamp, updated)
                full = full_at(
                    datetime.fromisoformat(latest), left, per_minute=per_minute, burst=burst
                )
                db.execute(
                    "INSERT INTO rate_buckets (key, tokens, updated_at, expires_at) "
                    "VALUES (?,?,?,?) ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, "
                    "updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                    (key, left, latest, None if full is None else format_time(full)),
                )
        return wait

    # -- tenant settings --------------------------------------------------------------------
    def get_tenant_settings(self, tenant_id: str) -> TenantSettings | None:
        row = (
            self._db()
            .execute("SELECT doc FROM tenant_settings WHERE tenant_id = ?", (tenant_id,))
            .fetchone()
        )
        return None if row is None else decode_one(TenantSettings, row[0], record_id=tenant_id)

    def put_tenant_settings(
        self,
        settings: TenantSettings,
        *,
        expected_version: int | None,
        audit: Sequence[AuditEvent] = (),
    ) -> TenantSettings:
        entries = entries_of(settings.tenant_id, audit)
        stale = VersionConflict("the tenant settings were changed by someone else; re-read them")
        version = 1 if expected_version is None else expected_version + 1
        stored = settings.model_copy(update={"version": version})
        with self._write() as db:
            if expected_version is None:
                cur = db.execute(
                    "INSERT INTO tenant_settings (tenant_id, version, doc) VALUES (?,?,?) "
                    "ON CONFLICT (tenant_id) DO NOTHING",
                    (stored.tenant_id, stored.version, stored.model_dump_json()),
                )
            else:
                cur = db.execute(
                    "UPDATE tenant_settings SET version = ?, doc = ? "
                    "WHERE tenant_id = ? AND version = ?",
                    (stored.version, stored.model_dump_json(), stored.tenant_id, expected_version),
                )
            if cur.rowcount != 1:
                raise stale
            self._insert_audit(db, entries)
        return stored

    def scan_tenant_settings(
        self, *, cursor: str | None = None, limit: int = 200
    ) -> Page[TenantSettings]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        rows = (
            self._db()
            .execute(
                "SELECT tenant_id, doc FROM tenant_settings WHERE tenant_id > ? "
                "ORDER BY tenant_id LIMIT ?",
                (cursor or "", limit + 1),
            )
            .fetchall()
        )
        items, unreadable = decode_many(TenantSettings, ((r[0], r[1]) for r in rows[:limit]))
        next_cursor = rows[limit - 1][0] if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor, unreadable=unreadable)

    # -- event deliveries -------------------------------------------------------------------
    def record_delivery(self, delivery: Delivery) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO deliveries (tenant_id, id, connection_id, created_at, doc) "
                "VALUES (?,?,?,?,?) ON CONFLICT (tenant_id, id) DO UPDATE SET "
                "connection_id = excluded.connection_id, created_at = excluded.created_at, "
                "doc = excluded.doc",
                (
                    delivery.tenant_id,
                    delivery.id,
                    delivery.connection_id,
                    format_time(delivery.created_at),
                    delivery.model_dump_json(),
                ),
            )

    def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        row = (
            self._db()
            .execute(
                "SELECT doc FROM deliveries WHERE tenant_id = ? AND id = ?",
                (tenant_id, delivery_id),
            )
            .fetchone()
        )
        return None if row is None else decode_one(Delivery, row[0], record_id=delivery_id)

    def list_deliveries(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        sql = "SELECT id, doc FROM deliveries WHERE tenant_id = ?"
        args: list[object] = [tenant_id]
        if connection_id is not None:
            sql += " AND connection_id = ?"
            args.append(connection_id)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        rows = self._db().execute(sql, args).fetchall()
        return decode_many(Delivery, ((r[0], r[1]) for r in rows))[0]

    # -- housekeeping -----------------------------------------------------------------------
    def purge_expired(self, *, now: datetime) -> int:
        """See :meth:`~tether.ports.ExpiredRecordPurge.purge_expired`: records past their
        expiry, deliveries and audit entries older than their retention, in batches."""
        cutoff = format_time(now)
        purges = (
            ("oauth_states", "expires_at", cutoff),
            ("webhook_events", "expires_at", cutoff),
            ("leases", "expires_at", cutoff),
            ("rate_buckets", "expires_at", cutoff),
            ("deliveries", "created_at", format_time(now - self._retention.deliveries)),
            ("audit", "at", format_time(now - self._retention.audit)),
        )
        removed = 0
        for table, column, before in purges:
            while True:
                with self._write() as db:
                    deleted = db.execute(
                        f"DELETE FROM {table} WHERE rowid IN "  # noqa: S608 - names are ours
                        f"(SELECT rowid FROM {table} WHERE {column} <= ? LIMIT ?)",
                        (before, _PURGE_BATCH),
                    ).rowcount
                removed += deleted
                if deleted < _PURGE_BATCH:
                    break
        return removed
