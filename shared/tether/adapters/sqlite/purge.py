"""SQLite :class:`~tether.ports.ExpiredRecordPurge`: expired rows of every table of the file,
in short batches."""

from __future__ import annotations

from datetime import datetime

from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.records import SqliteRecords
from tether.adapters.sqlite.schema import format_time
from tether.domain.retention import Retention

__all__ = ["SqlitePurge"]

# Rows per DELETE when purging: each batch is its own short write transaction, so a large
# purge never holds the writer lock for long.
_PURGE_BATCH = 1000


class SqlitePurge:
    """``retention`` says how long deliveries and audit entries are kept; the other records
    carry their own expiry."""

    def __init__(self, database: SqliteDatabase, *, retention: Retention | None = None) -> None:
        self._database = database
        self._retention = retention or Retention()

    def purge_expired(self, *, now: datetime) -> int:
        """See :meth:`~tether.ports.ExpiredRecordPurge.purge_expired`: records past their
        expiry (idempotency keys 24 hours after their run, or once an unfinished claim
        lapsed), deliveries and audit entries older than their retention, and synced records
        deleted longer ago than theirs (when one is set), in batches."""
        cutoff = format_time(now)
        purges = (
            ("oauth_states", "expires_at", cutoff, "rowid"),
            ("webhook_events", "expires_at", cutoff, "rowid"),
            ("leases", "expires_at", cutoff, "rowid"),
            ("connect_sessions", "expires_at", cutoff, "rowid"),
            ("rate_buckets", "expires_at", cutoff, "rowid"),
            # WITHOUT ROWID: its rows are named by their primary key.
            ("idempotency_keys", "expires_at", cutoff, "tenant_id, key"),
            ("deliveries", "created_at", format_time(now - self._retention.deliveries), "rowid"),
            ("audit", "at", format_time(now - self._retention.audit), "rowid"),
        )
        removed = 0
        for table, column, before, row in purges:
            while True:
                with self._database.write() as db:
                    deleted = db.execute(
                        f"DELETE FROM {table} WHERE ({row}) IN "  # noqa: S608 - names are ours
                        f"(SELECT {row} FROM {table} WHERE {column} <= ? LIMIT ?)",
                        (before, _PURGE_BATCH),
                    ).rowcount
                removed += deleted
                if deleted < _PURGE_BATCH:
                    break
        if self._retention.deleted_records is not None:
            records = SqliteRecords(self._database)
            gone_before = now - self._retention.deleted_records
            while (
                deleted := records.purge_deleted_records(before=gone_before, limit=_PURGE_BATCH)
            ) > 0:
                removed += deleted
        return removed
