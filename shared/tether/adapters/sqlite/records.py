"""SQLite :class:`~tether.ports.RecordStore`: the ``synced_records`` table (one row per record,
its payload as canonical JSON text) and ``record_streams`` (each stream's last sequence
number). A stream also has a number of its own (``record_stream_keys``): the records and
their indexes, by id and by change number, hold it instead of the tenant, connection and
model names, which makes every row and index entry a record writes smaller.

A batch reads the stored hashes of its ids, decides, writes the changed rows and moves the
stream's ``last_seq`` in one ``BEGIN IMMEDIATE`` transaction: SQLite has one writer at a time,
so sequence numbers are handed out in commit order and a reader (WAL: a snapshot of what was
committed) never sees number N+1 without N. A batch costs one statement per kind of change
(``executemany``), not one per record.

A full run's seen marks (for :meth:`SqliteRecords.delete_unseen`) cost nothing per unchanged
record: a record the run writes carries the run's id (``seen_run``), and the ids of a batch's
unchanged records are noted as one JSON row of ``record_seen_ids``. So a full run over
unchanged data reads every page's hashes and writes one row a batch. The deletion then keeps
the stored records that carry the run's id or are among its noted ids (one pass, the noted ids
read into a transient index of SQLite's only when a record was not written by the run).

The rules of records (:mod:`tether.domain.synced_records`) are imported by the methods that
use them: the embedded store is one object over every record port, and a function that never
touches synced records (the connection list) does not load them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time

if TYPE_CHECKING:
    from tether.domain.synced_records import (
        ChangePage,
        IncomingRecord,
        PreparedRecord,
        StoredRecord,
        WriteResult,
    )

__all__ = ["SqliteRecords"]

# Ids per "IN (…)" lookup, well below SQLite's limit on bound parameters.
_LOOKUP_CHUNK = 500
_STREAM = "tenant_id = ? AND connection_id = ? AND model = ?"
# A new record: ADDED, first seen when last modified (seven values bound a row, not nine).
_INSERT = (
    "INSERT INTO synced_records (stream, record_id, seq, action, payload_hash, "
    "first_seen_at, last_modified_at, seen_run, payload) "
    "VALUES (?1, ?2, ?3, 'ADDED', ?4, ?5, ?5, ?6, ?7)"
)
# A stored record changes (UPDATED, or ADDED again after DELETED): its first-seen time
# stays, and its seen mark unless a full run writes it.
_CHANGE = (
    "UPDATE synced_records SET seq = ?, action = ?, payload_hash = ?, "
    "last_modified_at = ?, payload = ?, seen_run = IFNULL(?, seen_run) "
    "WHERE stream = ? AND record_id = ?"
)
# A record becomes DELETED: its payload, hash and first-seen time stay.
_MARK_DELETED = (
    "UPDATE synced_records SET seq = ?, action = 'DELETED', last_modified_at = ? "
    "WHERE stream = ? AND record_id = ?"
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
        from tether.domain.synced_records import RecordAction, WriteResult, prepare_batch

        prepared, rejected, superseded = prepare_batch(list(records))
        stream = (tenant_id, connection_id, model)
        at = format_time(now)
        added = updated = deleted = 0
        unchanged = superseded
        deleted_action = RecordAction.DELETED.value
        with self._database.write() as db:
            key = self._key(db, stream, create=True)
            assert key is not None  # made when missing
            stored = self._stored(db, key, prepared)
            seq = self._last_seq(db, stream)
            new: list[tuple[object, ...]] = []
            changed: list[tuple[object, ...]] = []
            gone: list[tuple[object, ...]] = []
            kept: list[str] = []  # stored and unchanged
            for record in prepared:
                record_id = record.id
                current = stored.get(record_id)
                if record.deleted:
                    if current is None or current[0] == deleted_action:
                        unchanged += 1
                        continue
                    seq += 1
                    deleted += 1
                    gone.append((seq, at, key, record_id))
                    continue
                if current is None:
                    seq += 1
                    added += 1
                    new.append(
                        (
                            key,
                            record_id,
                            seq,
                            record.payload_hash,
                            at,
                            seen_by or "",
                            record.payload_json,
                        )
                    )
                    continue
                if current[0] == deleted_action:
                    action = "ADDED"
                    added += 1
                elif current[1] != record.payload_hash:
                    action = "UPDATED"
                    updated += 1
                else:
                    unchanged += 1
                    kept.append(record_id)
                    continue
                seq += 1
                changed.append(
                    (
                        seq,
                        action,
                        record.payload_hash,
                        at,
                        record.payload_json,
                        seen_by,
                        key,
                        record_id,
                    )
                )
            if new:
                db.executemany(_INSERT, new)
            if changed:
                db.executemany(_CHANGE, changed)
            if gone:
                db.executemany(_MARK_DELETED, gone)
            if seen_by is not None:
                self._mark_seen(db, stream, seen_by, kept)
            if new or changed or gone:
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
    def _mark_seen(
        db: sqlite3.Connection, stream: tuple[str, str, str], run_id: str, kept: list[str]
    ) -> None:
        """Note the ids of the batch's unchanged records as seen by ``run_id``: one row for
        the batch, not a write per record (a record the run writes carries the run's id in
        ``seen_run`` anyway). The notes of the stream's earlier runs go (a run of a stream
        starts only when the one before it ended)."""
        db.execute(
            f"DELETE FROM record_seen_ids WHERE {_STREAM} AND run_id <> ?",  # noqa: S608
            (*stream, run_id),
        )
        if kept:
            db.execute(
                "INSERT INTO record_seen_ids (tenant_id, connection_id, model, run_id, ids) "
                "VALUES (?,?,?,?,?)",
                (*stream, run_id, json.dumps(kept, ensure_ascii=False)),
            )

    @staticmethod
    def _key(
        db: sqlite3.Connection, stream: tuple[str, str, str], *, create: bool = False
    ) -> int | None:
        """The stream's number in ``synced_records.stream`` (made when missing and
        ``create``): the records' indexes hold it instead of the three names."""
        row = db.execute(
            f"SELECT id FROM record_stream_keys WHERE {_STREAM}",  # noqa: S608 - fixed text
            stream,
        ).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        made = db.execute(
            "INSERT INTO record_stream_keys (tenant_id, connection_id, model) VALUES (?,?,?)",
            stream,
        ).lastrowid
        assert made is not None
        return int(made)

    @staticmethod
    def _stored(
        db: sqlite3.Connection, key: int, records: Sequence[PreparedRecord]
    ) -> dict[str, tuple[str, str]]:
        """``record id → (action, payload hash)`` of the batch's stored records."""
        found: dict[str, tuple[str, str]] = {}
        for part in _chunks(records, _LOOKUP_CHUNK):
            marks = ",".join("?" * len(part))
            args: list[object] = [key]
            args += [r.id for r in part]
            rows = db.execute(
                "SELECT record_id, action, payload_hash FROM synced_records "  # noqa: S608
                f"WHERE stream = ? AND record_id IN ({marks})",
                args,
            )
            for record_id, action, payload_hash in rows:
                found[record_id] = (action, payload_hash)
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
        from tether.domain.synced_records import check_chunk_limit

        chunk = check_chunk_limit(limit)
        stream = (tenant_id, connection_id, model)
        at = format_time(now)
        with self._database.write() as db:
            key = self._key(db, stream)
            if key is None:
                return 0
            # Seen: written by the run (``seen_run``), or noted unchanged by it (its rows of
            # ids, read only when a record was not written). In change order: the records
            # this makes DELETED move to the end of it, so the next call does not pass over
            # them again.
            ids = [
                row[0]
                for row in db.execute(
                    "SELECT record_id FROM synced_records "  # noqa: S608 - fixed text
                    "WHERE stream = ? AND action <> 'DELETED' AND seen_run <> ? "
                    "AND record_id NOT IN (SELECT seen.value FROM record_seen_ids, "
                    f"json_each(record_seen_ids.ids) AS seen WHERE {_STREAM} AND run_id = ?) "
                    "ORDER BY seq LIMIT ?",
                    (key, run_id, *stream, run_id, chunk),
                )
            ]
            if not ids:
                return 0
            seq = self._last_seq(db, stream)
            db.executemany(
                _MARK_DELETED,
                [(seq + n, at, key, record_id) for n, record_id in enumerate(ids, start=1)],
            )
            db.execute(
                f"UPDATE record_streams SET last_seq = ? WHERE {_STREAM}",  # noqa: S608
                (seq + len(ids), *stream),
            )
        return len(ids)

    def last_cursor(self, tenant_id: str, connection_id: str, model: str) -> str | None:
        from tether.domain.synced_records import encode_change_cursor

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
        from tether.domain.synced_records import (
            MAX_CHANGES_PAGE_BYTES,
            ChangePage,
            check_changes_limit,
            decode_change_cursor,
            encode_change_cursor,
            payload_bytes,
        )

        size = check_changes_limit(limit)
        after = decode_change_cursor(cursor)
        db = self._database.db()
        key = self._key(db, (tenant_id, connection_id, model))
        if key is None:
            return ChangePage(records=[], next_cursor=cursor, has_more=False)
        sql = (
            "SELECT record_id, seq, action, payload_hash, first_seen_at, last_modified_at, "
            "payload FROM synced_records WHERE stream = ? AND seq > ?"
        )
        args: list[object] = [key, after]
        if modified_after is not None:
            sql += " AND last_modified_at > ?"
            args.append(format_time(modified_after))
        sql += " ORDER BY seq LIMIT ?"
        args.append(size + 1)
        # Read a row at a time: the page ends at its limit or before the row whose payload
        # would pass its bytes (one row at least), and no further row is read.
        page: list[tuple[object, ...]] = []
        weight = 0
        has_more = False
        for row in db.execute(sql, args):
            row_weight = payload_bytes(row[6])
            if len(page) == size or (page and weight + row_weight > MAX_CHANGES_PAGE_BYTES):
                has_more = True
                break
            page.append(row)
            weight += row_weight
        records = _decoded(page)
        last = page[-1][1] if page else None
        next_cursor = encode_change_cursor(int(str(last))) if last is not None else cursor
        return ChangePage(records=records, next_cursor=next_cursor, has_more=has_more)

    def delete_connection_records(
        self, tenant_id: str, connection_id: str, *, limit: int = 500
    ) -> int:
        from tether.domain.synced_records import check_chunk_limit

        chunk = check_chunk_limit(limit)
        with self._database.write() as db:
            removed = db.execute(
                "DELETE FROM synced_records WHERE rowid IN (SELECT rowid FROM synced_records "
                "WHERE stream IN (SELECT id FROM record_stream_keys "
                "WHERE tenant_id = ? AND connection_id = ?) LIMIT ?)",
                (tenant_id, connection_id, chunk),
            ).rowcount
            if removed < chunk:
                for table in ("record_streams", "record_seen_ids", "record_stream_keys"):
                    db.execute(
                        f"DELETE FROM {table} WHERE tenant_id = ? AND connection_id = ?",  # noqa: S608
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


def _decoded(rows: Sequence[tuple[object, ...]]) -> list[StoredRecord]:
    """The rows' records, leaving out any that no longer decode."""
    from tether.domain.synced_records import RecordAction, StoredRecord, encode_change_cursor

    records: list[StoredRecord] = []
    for record_id, seq, action, payload_hash, first_seen, last_modified, payload in rows:
        try:
            body = json.loads(str(payload))
            if not isinstance(body, dict):
                continue
            records.append(
                StoredRecord(
                    id=str(record_id),
                    payload=body,
                    payload_hash=str(payload_hash),
                    action=RecordAction(str(action)),
                    first_seen_at=datetime.fromisoformat(str(first_seen)),
                    last_modified_at=datetime.fromisoformat(str(last_modified)),
                    cursor=encode_change_cursor(int(str(seq))),
                )
            )
        except ValueError:
            continue
    return records
