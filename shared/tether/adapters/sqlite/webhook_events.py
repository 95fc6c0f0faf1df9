"""SQLite :class:`~tether.ports.WebhookEventRepository`: the ``webhook_events`` table; the
dedupe is its primary key ``(provider, dedupe_key)``."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from tether.adapters.record_decoding import decode_many, decode_one
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.models import WebhookEvent

__all__ = ["SqliteWebhookEvents"]

# A connection's recent inbound events, newest first, from ``webhook_events_by_connection``
# (schema step 5), without the payload: ``json_remove`` drops body and headers in SQL (and
# would fail the whole query on one malformed document: those come back NULL, unreadable).
_WEBHOOK_EVENTS_SQL = (
    "SELECT dedupe_key, CASE WHEN json_valid(doc) "
    "THEN json_remove(doc, '$.body', '$.headers') END FROM webhook_events "
    "WHERE tenant_id = ? AND connection_id = ? ORDER BY received_at DESC LIMIT ?"
)

# Events still waiting to be processed, oldest first, across tenants: a range of the partial
# index ``webhook_events_waiting`` (schema step 18), whose WHERE this query repeats word for
# word (SQLite uses a partial index only for a query that implies its WHERE), in its order.
_WAITING_SQL = (
    "SELECT dedupe_key, CASE WHEN json_valid(doc) "
    "THEN json_remove(doc, '$.body', '$.headers') END FROM webhook_events "
    "WHERE status IN ('received', 'enqueued') AND received_at < ? "
    "ORDER BY received_at, provider, dedupe_key LIMIT ?"
)
# The page after an event: the index's own order, compared as one row value.
_WAITING_AFTER_SQL = _WAITING_SQL.replace(
    "ORDER BY", "AND (received_at, provider, dedupe_key) > (?, ?, ?) ORDER BY"
)


class SqliteWebhookEvents:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def create_webhook_event(self, event: WebhookEvent) -> bool:
        try:
            self._database.insert(
                "INSERT INTO webhook_events (provider, dedupe_key, expires_at, tenant_id, "
                "connection_id, received_at, status, doc) VALUES (?,?,?,?,?,?,?,?)",
                (
                    event.provider,
                    event.dedupe_key,
                    format_time(event.expires_at),
                    event.tenant_id,
                    event.connection_id,
                    format_time(event.received_at),
                    event.status,
                    event.model_dump_json(),
                ),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def get_webhook_event(self, provider: str, dedupe_key: str) -> WebhookEvent | None:
        row = (
            self._database.db()
            .execute(
                "SELECT doc FROM webhook_events WHERE provider = ? AND dedupe_key = ?",
                (provider, dedupe_key),
            )
            .fetchone()
        )
        return None if row is None else decode_one(WebhookEvent, row[0], record_id=dedupe_key)

    def update_webhook_event(self, event: WebhookEvent) -> None:
        with self._database.write() as db:
            db.execute(
                "UPDATE webhook_events SET doc = ?, expires_at = ?, tenant_id = ?, "
                "connection_id = ?, received_at = ?, status = ? "
                "WHERE provider = ? AND dedupe_key = ?",
                (
                    event.model_dump_json(),
                    format_time(event.expires_at),
                    event.tenant_id,
                    event.connection_id,
                    format_time(event.received_at),
                    event.status,
                    event.provider,
                    event.dedupe_key,
                ),
            )

    def delete_webhook_event(self, provider: str, dedupe_key: str) -> None:
        with self._database.write() as db:
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
        rows = self._database.db().execute(_WEBHOOK_EVENTS_SQL, (tenant_id, connection_id, limit))
        return decode_many(WebhookEvent, ((r[0], r[1]) for r in rows.fetchall()))[0]

    def waiting_webhook_events(
        self,
        received_before: datetime,
        *,
        limit: int = 500,
        after: WebhookEvent | None = None,
    ) -> list[WebhookEvent]:
        """See :meth:`~tether.ports.WebhookEventRepository.waiting_webhook_events`; served by
        ``webhook_events_waiting`` (schema step 18), bodies left out in SQL."""
        if limit < 1:
            return []
        args: tuple[object, ...] = (format_time(received_before),)
        if after is not None:
            args += (format_time(after.received_at), after.provider, after.dedupe_key)
        sql = _WAITING_SQL if after is None else _WAITING_AFTER_SQL
        rows = self._database.db().execute(sql, (*args, limit))
        return decode_many(WebhookEvent, ((r[0], r[1]) for r in rows.fetchall()))[0]
