"""SQLite :class:`~tether.ports.RecordStore`: the ``synced_records`` table (one row per record,
its payload as canonical JSON text) and ``record_streams`` (each stream's last sequence
number).

A batch reads the stored hashes of its ids, decides, writes the changed rows and moves the
stream's ``last_seq`` in one ``BEGIN IMMEDIATE`` transaction: SQLite has one writer at a time,
so sequence numbers are handed out in commit order and a reader (WAL: a snapshot of what was
committed) never sees number N+1 without N.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime

from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.synced_records import (
    ChangePage,
    IncomingRecord,
    PreparedRecord,
    RecordAction,
    StoredRecord,
    WriteResult,
    check_changes_limit,
    check_chunk_limit,
    decode_change_cursor,
    encode_change_cursor,
    prepare_batch,
)

__all__ = ["SqliteRecords"]

# Ids per "IN (…)" lookup, well below SQLite's limit on bound parameters.
_LOOKUP_CHUNK = 500
_STREAM = "tenant_id = ? AND connection_id = ? AND model = ?"
# A record becomes DELETED: its payload, hash, first-seen time and mark stay.
_MARK_DELETED = (
    "UPDATE synced_records SET seq = ?, action = 'DELETED', last_modified_at = ? "  # noqa: S608
    f"WHERE {_STREAM} AND record_id = ?"
)


def _chunks(items: Sequence[PreparedRecord], size: int) -> Iterator[Sequence[PreparedRecord]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqliteRecords:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def write_records(
        self,
        tenant_id: str,
        connection_id: str,
        model: str,
        records: Sequence[IncomingRecord],
        *,
        now: datetime,
        seen_by: str | None = None,
    ) -> WriteResult:
        prepared, rejected, superseded = prepare_batch(list(records))
        stream = (tenant_id, connection_id, model)
        at = format_time(now)
        added = updated = deleted = 0
        unchanged = superseded
        with self._database.write() as db:
            stored = self._stored(db, stream, prepared)
            seq = self._last_seq(db, stream)
            changed: list[tuple[object, ...]] = []
            gone: list[tuple[object, ...]] = []
            seen: list[tuple[object, ...]] = []
            for record in prepared:
                current = stored.get(record.id)
                action = _decide(record, current)
                if action is None:
                    unchanged += 1
                    if seen_by is not None and current is not None:
                        seen.append((seen_by, *stream, record.id))
                    continue
                seq += 1
                if action is RecordAction.DELETED:
                    deleted += 1
                    gone.append((seq, at, *stream, record.id))
                    continue
                added += action is RecordAction.ADDED
                updated += action is RecordAction.UPDATED
                changed.append(
                    (
                        *stream,
                        record.id,
                        seq,
                        action.value,
                        record.payload_hash,
                        at,
                        at,
                        seen_by or "",
                        record.payload_json,
                    )
                )
            self._upsert(db, changed)
            if gone:
                db.executemany(_MARK_DELETED, gone)
            if seen:
                db.executemany(
                    f"UPDATE synced_records SET seen_run = ? WHERE {_STREAM} AND record_id = ?",  # noqa: S608 - fixed text
                    seen,
                )
            if changed or gone:
                db.execute(
                    "INSERT INTO record_streams (tenant_id, connection_id, model, last_seq) "
                    "VALUES (?,?,?,?) ON CONFLICT (tenant_id, connection_id, model) "
                    "DO UPDATE SET last_seq = excluded.last_seq",
                    (*stream, seq),
                )
        return WriteResult(
            added=added, updated=updated, deleted=deleted, unchanged=unchanged, rejected=rejected
        )

    @staticmethod
    def _upsert(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
        """Insert or change the rows; a stored row keeps its ``first_seen_at``, and its
        seen mark unless the row carries one."""
        db.executemany(
            "INSERT INTO synced_records (tenant_id, connection_id, model, record_id, seq, "
            "action, payload_hash, first_seen_at, last_modified_at, seen_run, payload) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (tenant_id, connection_id, model, record_id) DO UPDATE SET "
            "seq = excluded.seq, action = excluded.action, "
            "payload_hash = excluded.payload_hash, last_modified_at = excluded.last_modified_at, "
            "seen_run = CASE excluded.seen_run WHEN '' THEN seen_run ELSE excluded.seen_run END, "
            "payload = excluded.payload",
            rows,
        )

    @staticmethod
    def _stored(
        db: sqlite3.Connection, stream: tuple[str, str, str], records: Sequence[PreparedRecord]
    ) -> dict[str, tuple[str, str]]:
        """``record id → (action, payload hash)`` of the batch's stored records."""
        found: dict[str, tuple[str, str]] = {}
        for part in _chunks(records, _LOOKUP_CHUNK):
            marks = ",".join("?" * len(part))
            rows = db.execute(
                "SELECT record_id, action, payload_hash FROM synced_records "  # noqa: S608
                f"WHERE {_STREAM} AND record_id IN ({marks})",
                (*stream, *(r.id for r in part)),
            )
            found.update((row[0], (row[1], row[2])) for row in rows)
        return found

    @staticmethod
    def _last_seq(db: sqlite3.Connection, stream: tuple[str, str, str]) -> int:
        row = db.execute(
            f"SELECT last_seq FROM record_streams WHERE {_STREAM}",  # noqa: S608 - fixed text
            stream,
        ).fetchone()
        return 0 if row is None else int(row[0])

    def delete_unseen(
        self,
        tenant_id: str,
        connection_id: str,
        model: str,
        *,
        run_id: str,
        now: datetime,
        limit: int = 500,
    ) -> int:
        chunk = check_chunk_limit(limit)
        stream = (tenant_id, connection_id, model)
        at = format_time(now)
        with self._database.write() as db:
            ids = [
                row[0]
                for row in db.execute(
                    "SELECT record_id FROM synced_records "  # noqa: S608 - fixed text
                    f"WHERE {_STREAM} AND action <> 'DELETED' AND seen_run <> ? LIMIT ?",
                    (*stream, run_id, chunk),
                )
            ]
            if not ids:
                return 0
            seq = self._last_seq(db, stream)
            db.executemany(
                _MARK_DELETED,
                [(seq + n, at, *stream, record_id) for n, record_id in enumerate(ids, start=1)],
            )
            db.execute(
                f"UPDATE record_streams SET last_seq = ? WHERE {_STREAM}",  # noqa: S608
                (seq + len(ids), *stream),
            )
        return len(ids)

    def last_cursor(self, tenant_id: str, connection_id: str, model: str) -> str | None:
        row = (
            self._database.db()
            .execute(
                "SELECT last_seq FROM record_streams "
                "WHERE tenant_id = ? AND connection_id = ? AND model = ?",
                (tenant_id, connection_id, model),
            )
            .fetchone()
        )
        return None if row is None else encode_change_cursor(int(row[0]))

    def read_changes(
        self,
        tenant_id: str,
        connection_id: str,
        model: str,
        *,
        cursor: str | None = None,
        modified_after: datetime | None = None,
        limit: int = 100,
    ) -> ChangePage:
        size = check_changes_limit(limit)
        after = decode_change_cursor(cursor)
        sql = (
            "SELECT record_id, seq, action, payload_hash, first_seen_at, last_modified_at, "
            "payload FROM synced_records "
            "WHERE tenant_id = ? AND connection_id = ? AND model = ? AND seq > ?"
        )
        args: list[object] = [tenant_id, connection_id, model, after]
        if modified_after is not None:
            sql += " AND last_modified_at > ?"
            args.append(format_time(modified_after))
        sql += " ORDER BY seq LIMIT ?"
        args.append(size + 1)
        rows = self._database.db().execute(sql, args).fetchall()
        records = [r for r in (_decoded(row) for row in rows[:size]) if r is not None]
        last = rows[:size][-1][1] if rows else None
        next_cursor = encode_change_cursor(last) if last is not None else cursor
        return ChangePage(records=records, next_cursor=next_cursor, has_more=len(rows) > size)

    def delete_connection_records(
        self, tenant_id: str, connection_id: str, *, limit: int = 500
    ) -> int:
        chunk = check_chunk_limit(limit)
        with self._database.write() as db:
            removed = db.execute(
                "DELETE FROM synced_records WHERE rowid IN (SELECT rowid FROM synced_records "
                "WHERE tenant_id = ? AND connection_id = ? LIMIT ?)",
                (tenant_id, connection_id, chunk),
            ).rowcount
            if removed < chunk:
                db.execute(
                    "DELETE FROM record_streams WHERE tenant_id = ? AND connection_id = ?",
                    (tenant_id, connection_id),
                )
        return int(removed)

    def purge_deleted_records(self, *, before: datetime, limit: int) -> int:
        """Remove up to ``limit`` records DELETED at or before ``before`` (the retention of
        deleted records, for :class:`~.purge.SqlitePurge`)."""
        with self._database.write() as db:
            return int(
                db.execute(
                    "DELETE FROM synced_records WHERE rowid IN (SELECT rowid FROM "
                    "synced_records WHERE action = 'DELETED' AND last_modified_at <= ? "
                    "LIMIT ?)",
                    (format_time(before), limit),
                ).rowcount
            )


def _decide(record: PreparedRecord, current: tuple[str, str] | None) -> RecordAction | None:
    """The change ``record`` makes to what is stored (``(action, hash)``), ``None`` for none."""
    if record.deleted:
        if current is None or current[0] == RecordAction.DELETED:
            return None
        return RecordAction.DELETED
    if current is None or current[0] == RecordAction.DELETED:
        return RecordAction.ADDED
    return None if current[1] == record.payload_hash else RecordAction.UPDATED


def _decoded(row: tuple[object, ...]) -> StoredRecord | None:
    record_id, seq, action, payload_hash, first_seen, last_modified, payload = row
    try:
        body = json.loads(str(payload))
        if not isinstance(body, dict):
            return None
        return StoredRecord(
            id=str(record_id),
            payload=body,
            payload_hash=str(payload_hash),
            action=RecordAction(str(action)),
            first_seen_at=datetime.fromisoformat(str(first_seen)),
            last_modified_at=datetime.fromisoformat(str(last_modified)),
            cursor=encode_change_cursor(int(str(seq))),
        )
    except ValueError:
        return None
