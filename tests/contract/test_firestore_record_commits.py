"""The Firestore records store writes a stream's document (its ``last_seq``) once a batch:
a page of records and the stream's number go in one commit, so the document sees a write a
page, not one per few hundred records (Firestore sustains about one write a second to one
document)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.contract.records import T0
from tether.domain.synced_records import MAX_WRITE_BATCH, IncomingRecord

if TYPE_CHECKING:
    from google.cloud import firestore

STREAM = ("t1", "conn_1", "Invoice")


def test_a_full_batch_and_its_stream_number_are_one_commit(
    firestore_client: firestore.Client,
) -> None:
    from tether.adapters.firestore import FirestoreConnectionStore
    from tether.adapters.firestore.records import FirestoreRecords

    store = FirestoreConnectionStore(firestore_client)
    records = FirestoreRecords(store.database)
    batch = [IncomingRecord(f"r{n}", {"id": n}) for n in range(MAX_WRITE_BATCH)]
    result = records.write_records(*STREAM, batch, now=T0)
    assert result.added == MAX_WRITE_BATCH
    stream = (
        store.database.connection("t1", "conn_1").collection("record_models").document("Invoice")
    )
    counter = stream.get()
    assert counter.get("last_seq") == MAX_WRITE_BATCH
    written = {snapshot.update_time for snapshot in stream.collection("records").stream()}
    # every record was written by the commit that wrote the stream's number
    assert written == {counter.update_time}


def test_an_unchanged_batch_costs_one_read_and_no_commit(
    firestore_client: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incremental run's page of records it already has (the modified-since boundary sends
    them again) reads the stream's number and the records in one request and writes nothing."""
    from google.cloud.firestore_v1.batch import WriteBatch
    from google.cloud.firestore_v1.document import DocumentReference

    from tether.adapters.firestore import FirestoreConnectionStore
    from tether.adapters.firestore.records import FirestoreRecords

    store = FirestoreConnectionStore(firestore_client)
    records = FirestoreRecords(store.database)
    batch = [IncomingRecord(f"r{n}", {"id": n}) for n in range(3)]
    assert records.write_records(*STREAM, batch, now=T0).added == 3
    calls: list[str] = []

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(WriteBatch, "commit", counted("commit", WriteBatch.commit))
    monkeypatch.setattr(DocumentReference, "get", counted("get", DocumentReference.get))
    monkeypatch.setattr(firestore_client, "get_all", counted("get_all", firestore_client.get_all))
    again = records.write_records(*STREAM, batch, now=T0)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert calls == ["get_all"]
    changed = records.write_records(*STREAM, [IncomingRecord("r1", {"id": "new"})], now=T0)
    assert changed.updated == 1
    assert calls == ["get_all", "get_all", "commit"]
