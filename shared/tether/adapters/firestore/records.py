"""Firestore :class:`~tether.ports.RecordStore`: one document per record under its stream,
``tenants/<t>/connections/<c>/record_models/<m>/records/<r>``, and the stream's document
``…/record_models/<m>`` holding ``last_seq``, the stream's last change number.

A batch (or each part of one whose payloads pass 8 MiB) reads the stream document and the
records, decides, and commits one batch:
the changed records with their new numbers, and ``last_seq`` moved on, on the condition
(``update_time`` precondition, ``create()`` for a first change) that the stream document is
still what was read. So writers of one stream commit one after the other, each part's numbers
follow the last committed ones. A writer that lost the race reads again and decides again
(:meth:`FirestoreDatabase.optimistic`), as every other compare-and-set of this package does.

A reader first reads ``last_seq``, then the records with ``cursor < seq <= last_seq``: every
number up to a committed ``last_seq`` is committed, so a page never passes over a change that
becomes visible later. Firestore makes a commit visible at once anyway; the emulator applies
a batch's writes one by one (a query can see part of one), and the stream document is the
batch's last write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import (
    RECORD_MODELS,
    RECORDS,
    FirestoreDatabase,
    Snapshot,
    Stale,
    aware,
    backend,
)
from tether.adapters.firestore.paths import doc_id
from tether.domain.retention import Retention
from tether.domain.synced_records import (
    MAX_CHANGES_PAGE_BYTES,
    MAX_WRITE_BATCH,
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
    payload_bytes,
    prepare_batch,
)

__all__ = ["FirestoreRecords"]

# One commit holds a whole batch (a page) when its payloads fit this many bytes (UTF-8, as
# they go on the wire), well inside Firestore's request limit (10 MiB; a commit has no limit
# on its number of writes any more): so the stream document, written by every commit that
# changes something, is written at most once a page (Firestore sustains about one write a
# second to one document). A batch of larger payloads takes a commit per 8 MiB.
_PART_RECORDS = MAX_WRITE_BATCH
_PART_BYTES = 8 * 1024 * 1024
# A chunk of a deletion: what it writes stays one commit of moderate size.
_CHUNK_RECORDS = 500
# A changes page filtered by modified_after reads at most this many documents.
_SCAN_CAP = 5000
_READ_FIELDS = [
    "id",
    "seq",
    "action",
    "payload_hash",
    "first_seen_at",
    "last_modified_at",
    "payload",
]
# A stream's document is written by every change of the stream: a writer that keeps losing
# the race to another (two runs of one stream, which only overlapping runs make) tries this
# often, for some seconds, before BackendUnavailable.
_STREAM_ATTEMPTS = 40
_STALE = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound)


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _parts(records: Sequence[PreparedRecord]) -> Iterator[list[PreparedRecord]]:
    part: list[PreparedRecord] = []
    size = 0
    for record in records:
        payload = _utf8_size(record.payload_json)
        if part and (len(part) >= _PART_RECORDS or size + payload > _PART_BYTES):
            yield part
            part, size = [], 0
        part.append(record)
        size += payload
    if part:
        yield part


class _Tally:
    def __init__(self) -> None:
        self.added = self.updated = self.deleted = self.unchanged = 0


class FirestoreRecords:
    """``retention``: a DELETED record carries ``expires_at`` (deletion time plus the
    retention of deleted records, for the TTL policy and the purge) when one is set."""

    def __init__(self, database: FirestoreDatabase, *, retention: Retention | None = None) -> None:
        self._database = database
        self._retention = retention or Retention()

    def _stream(self, tenant_id: str, connection_id: str, model: str) -> DocumentReference:
        models: CollectionReference = self._database.connection(
            tenant_id, connection_id
        ).collection(RECORD_MODELS)
        return models.document(doc_id(model))

    def _deleted_fields(self, seq: int, now: datetime) -> dict[str, Any]:
        kept = self._retention.deleted_records
        return {
            "seq": seq,
            "action": RecordAction.DELETED.value,
            "live": False,
            "last_modified_at": now,
            "expires_at": firestore.DELETE_FIELD if kept is None else now + kept,  # TTL
        }

    # -- writes -------------------------------------------------------------------------------
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
        stream = self._stream(tenant_id, connection_id, model)
        total = _Tally()
        total.unchanged = superseded
        with backend():
            for part in _parts(prepared):
                tally = self._database.optimistic(
                    partial(self._write_part, stream, part, aware(now), seen_by),
                    at_least=_STREAM_ATTEMPTS,
                )
                total.added += tally.added
                total.updated += tally.updated
                total.deleted += tally.deleted
                total.unchanged += tally.unchanged
        return WriteResult(
            added=total.added,
            updated=total.updated,
            deleted=total.deleted,
            unchanged=total.unchanged,
            rejected=rejected,
        )

    def _write_part(
        self,
        stream: DocumentReference,
        part: list[PreparedRecord],
        now: datetime,
        seen_by: str | None,
    ) -> _Tally:
        records = stream.collection(RECORDS)
        refs = {record.id: records.document(doc_id(record.id)) for record in part}
        # The stream's counter and the part's records in one read: each document answers only
        # the fields it has of these.
        read = {
            snapshot.reference.path: snapshot
            for snapshot in self._database.client.get_all(
                [stream, *refs.values()], field_paths=["action", "payload_hash", "last_seq"]
            )
        }
        counter = read.pop(stream.path)
        stored = {path: snapshot for path, snapshot in read.items() if snapshot.exists}
        seq = int(counter.get("last_seq")) if counter.exists else 0
        tally = _Tally()
        batch = self._database.client.batch()
        for record in part:
            ref = refs[record.id]
            current = stored.get(ref.path)
            action = _decide(record, current)
            if action is None:
                tally.unchanged += 1
                if seen_by is not None and current is not None:
                    batch.update(
                        ref, {"seen_run": seen_by}, option=self._database.unchanged_since(current)
                    )
                continue
            seq += 1
            if action is RecordAction.DELETED and current is not None:
                tally.deleted += 1
                fields = self._deleted_fields(seq, now)
                batch.update(ref, fields, option=self._database.unchanged_since(current))
                continue
            fields = {
                "id": record.id,
                "seq": seq,
                "action": action.value,
                "live": True,
                "payload_hash": record.payload_hash,
                "payload": record.payload_json,
                "last_modified_at": now,
            }
            if seen_by is not None:
                fields["seen_run"] = seen_by
            if current is None:
                tally.added += 1
                batch.create(ref, {**fields, "first_seen_at": now, "seen_run": seen_by or ""})
                continue
            tally.added += action is RecordAction.ADDED
            tally.updated += action is RecordAction.UPDATED
            fields["expires_at"] = firestore.DELETE_FIELD
            batch.update(ref, fields, option=self._database.unchanged_since(current))
        if counter.exists:
            if seq != int(counter.get("last_seq")):
                batch.update(
                    stream, {"last_seq": seq}, option=self._database.unchanged_since(counter)
                )
        elif seq:
            batch.create(stream, {"last_seq": seq})
        if not len(batch):
            return tally  # nothing changed and nothing to mark seen: no commit
        try:
            batch.commit()
        except _STALE:
            raise Stale from None
        return tally

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
        chunk = min(check_chunk_limit(limit), _CHUNK_RECORDS)
        stream = self._stream(tenant_id, connection_id, model)
        query = (
            stream.collection(RECORDS)
            .where(filter=FieldFilter("live", "==", True))
            .where(filter=FieldFilter("seen_run", "!=", run_id))
            .select([])
            .limit(chunk)
        )

        def attempt() -> int:
            unseen = list(query.stream())
            if not unseen:
                return 0
            counter = stream.get()
            seq = int(counter.get("last_seq"))
            batch = self._database.client.batch()
            for snapshot in unseen:
                seq += 1
                batch.update(
                    snapshot.reference,
                    self._deleted_fields(seq, aware(now)),
                    option=self._database.unchanged_since(snapshot),
                )
            batch.update(stream, {"last_seq": seq}, option=self._database.unchanged_since(counter))
            try:
                batch.commit()
            except _STALE:
                raise Stale from None
            return len(unseen)

        with backend():
            return self._database.optimistic(attempt, at_least=_STREAM_ATTEMPTS)

    # -- reads --------------------------------------------------------------------------------
    def last_cursor(self, tenant_id: str, connection_id: str, model: str) -> str | None:
        counter = self._stream(tenant_id, connection_id, model).get(field_paths=["last_seq"])
        return encode_change_cursor(int(counter.get("last_seq"))) if counter.exists else None

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
        position = after = decode_change_cursor(cursor)
        stream = self._stream(tenant_id, connection_id, model)
        records = stream.collection(RECORDS)
        found: list[StoredRecord] = []
        scanned = 0
        weight = 0
        has_more = False
        with backend():
            counter = stream.get(field_paths=["last_seq"])
            # Changes up to the committed last_seq only: a commit still being applied (its
            # counter is written last) is read whole by a later page, never in part.
            last_seq = int(counter.get("last_seq")) if counter.exists else 0
            while position < last_seq:
                query = (
                    records.where(filter=FieldFilter("seq", ">", position))
                    .where(filter=FieldFilter("seq", "<=", last_seq))
                    .order_by("seq")
                    .select(_READ_FIELDS)
                    .limit(size + 1)
                )
                # Read a record at a time: the page ends at its limit or before the record
                # whose payload would pass its bytes (one record at least).
                snapshots = iter(query.stream())
                fetched = 0
                full = False
                for snapshot in snapshots:
                    fetched += 1
                    if fetched > size:
                        break
                    payload_weight = _payload_weight(snapshot)
                    if found and weight + payload_weight > MAX_CHANGES_PAGE_BYTES:
                        full = has_more = True
                        break
                    position = int(snapshot.get("seq"))
                    scanned += 1
                    record = _decoded(snapshot)
                    if record is not None and (
                        modified_after is None or record.last_modified_at > modified_after
                    ):
                        found.append(record)
                        weight += payload_weight
                    if len(found) == size:
                        full, has_more = True, next(snapshots, None) is not None
                        break
                if full or fetched <= size:
                    break
                if scanned >= _SCAN_CAP:
                    has_more = True
                    break
        next_cursor = encode_change_cursor(position) if position > after else cursor
        return ChangePage(records=found, next_cursor=next_cursor, has_more=has_more)

    # -- deletion -----------------------------------------------------------------------------
    def delete_connection_records(
        self, tenant_id: str, connection_id: str, *, limit: int = 500
    ) -> int:
        chunk = min(check_chunk_limit(limit), _CHUNK_RECORDS)
        models = self._database.connection(tenant_id, connection_id).collection(RECORD_MODELS)
        removed = 0
        with backend():
            for stream in models.select([]).limit(100).stream():
                want = chunk - removed
                snapshots = list(
                    stream.reference.collection(RECORDS).select([]).limit(want).stream()
                )
                batch = self._database.client.batch()
                for snapshot in snapshots:
                    batch.delete(snapshot.reference)
                if len(snapshots) < want:
                    batch.delete(stream.reference)  # none left: its sequence goes too
                batch.commit()
                removed += len(snapshots)
                if removed >= chunk:
                    break
        return removed


def _decide(record: PreparedRecord, current: Snapshot | None) -> RecordAction | None:
    """The change ``record`` makes to the stored document, ``None`` for none."""
    action = None if current is None else current.get("action")
    if record.deleted:
        if current is None or action == RecordAction.DELETED:
            return None
        return RecordAction.DELETED
    if current is None or action == RecordAction.DELETED:
        return RecordAction.ADDED
    return None if current.get("payload_hash") == record.payload_hash else RecordAction.UPDATED


def _payload_weight(snapshot: Snapshot) -> int:
    """The bytes of the stored payload's text (0 when it has none: it will not decode)."""
    try:
        return payload_bytes(snapshot.get("payload"))
    except KeyError:
        return 0


def _decoded(snapshot: Snapshot) -> StoredRecord | None:
    data = snapshot.to_dict() or {}
    try:
        payload = json.loads(data["payload"])
        if not isinstance(payload, dict):
            return None
        return StoredRecord(
            id=str(data["id"]),
            payload=payload,
            payload_hash=str(data["payload_hash"]),
            action=RecordAction(data["action"]),
            first_seen_at=aware(data["first_seen_at"]),
            last_modified_at=aware(data["last_modified_at"]),
            cursor=encode_change_cursor(int(data["seq"])),
        )
    except (KeyError, TypeError, ValueError):
        return None
