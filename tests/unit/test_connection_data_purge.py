"""A deleted connection's synced records and syncs go by tasks, a few chunks each, round by
round, on the embedded store; a live connection's never do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.contract.records import T0, make
from tests.support.recording_queue import RecordingQueue
from tether.adapters.sqlite import SqliteConnectionStore
from tether.connections.data_purge import (
    PURGE_CONNECTION_DATA_TASK,
    ConnectionDataPurge,
    schedule_data_purge,
)
from tether.domain.clock import FixedClock
from tether.domain.errors import InvalidRequest
from tether.domain.sync_runs import SyncRun, SyncSchedule
from tether.domain.synced_records import IncomingRecord


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteConnectionStore]:
    built = SqliteConnectionStore(tmp_path / "store.sqlite3")
    yield built
    built.close()


def _fill(store: SqliteConnectionStore, connection_id: str, *, records: int) -> None:
    store.create_connection(make(connection_id))
    for model in ("Invoice", "Contact"):
        batch = [IncomingRecord(f"{model}_{i}", {"i": i}) for i in range(records)]
        store.write_records("t1", connection_id, model, batch, now=T0)
    for name in ("invoices", "contacts"):
        store.put_sync(
            SyncSchedule(tenant_id="t1", connection_id=connection_id, name=name, updated_at=T0),
            expected_version=None,
        )
        run = SyncRun(
            id=f"run_{connection_id}_{name}",
            tenant_id="t1",
            connection_id=connection_id,
            sync=name,
            created_at=T0,
        )
        store.start_run(run)


def _delete(store: SqliteConnectionStore, connection_id: str) -> None:
    current = store.get_connection("t1", connection_id)
    assert current is not None
    gone = current.model_copy(update={"deleted_at": T0 + timedelta(hours=1)})
    store.update_connection(gone, expected_version=current.version)


def test_the_purge_goes_round_by_round_until_nothing_is_left(store: SqliteConnectionStore) -> None:
    _fill(store, "conn_gone", records=9)
    _fill(store, "conn_kept", records=3)
    _delete(store, "conn_gone")
    queue = RecordingQueue()
    purge = ConnectionDataPurge(
        connections=store,
        records=store,
        syncs=store,
        tasks=lambda: queue,
        clock=FixedClock(T0),
        chunk=4,
        chunks_per_task=2,
    )
    schedule_data_purge(queue, "t1", "conn_gone")
    rounds = 0
    while any(t.run_at is None for t in queue.of(PURGE_CONNECTION_DATA_TASK)):
        rounds += 1
        assert rounds < 20
        queue.run_due(lambda kind, payload: purge.purge_task(payload), now=T0)
    # 18 records and 4 sync records, 4 at a time, 2 writes a task: several rounds
    assert rounds >= 3 and queue.failed == []
    # then one late round, an hour on, for what a run still going wrote meanwhile
    [late] = queue.of(PURGE_CONNECTION_DATA_TASK)
    assert late.payload["late"] is True and late.run_at == T0 + timedelta(hours=1)
    assert store.read_changes("t1", "conn_gone", "Invoice").records == []
    assert store.read_changes("t1", "conn_gone", "Contact").records == []
    assert store.list_syncs("t1", "conn_gone") == []
    assert store.get_run("t1", "conn_gone", "run_conn_gone_invoices") is None
    assert len(store.read_changes("t1", "conn_kept", "Invoice").records) == 3
    assert len(store.list_syncs("t1", "conn_kept")) == 2


def test_a_round_retried_schedules_its_successor_once(store: SqliteConnectionStore) -> None:
    _fill(store, "conn_gone", records=9)
    _delete(store, "conn_gone")
    queue = RecordingQueue()
    purge = ConnectionDataPurge(
        connections=store,
        records=store,
        syncs=store,
        tasks=lambda: queue,
        clock=FixedClock(T0),
        chunk=2,
        chunks_per_task=1,
    )
    payload = {"tenant_id": "t1", "connection_id": "conn_gone", "round": 0}
    purge.purge_task(payload)
    purge.purge_task(payload)  # the queue ran it twice
    assert [t.payload["round"] for t in queue.of(PURGE_CONNECTION_DATA_TASK)] == [1]


def test_a_live_connections_data_is_never_purged(store: SqliteConnectionStore) -> None:
    _fill(store, "conn_live", records=3)
    queue = RecordingQueue()
    purge = ConnectionDataPurge(
        connections=store, records=store, syncs=store, tasks=lambda: queue, clock=FixedClock(T0)
    )
    purge.purge_task({"tenant_id": "t1", "connection_id": "conn_live"})
    assert len(store.read_changes("t1", "conn_live", "Invoice").records) == 3
    assert len(store.list_syncs("t1", "conn_live")) == 2
    assert queue.tasks == []
    with pytest.raises(InvalidRequest):
        purge.purge_task({"tenant_id": "t1"})


def test_the_late_round_purges_what_a_run_wrote_meanwhile_and_stops(
    store: SqliteConnectionStore,
) -> None:
    _fill(store, "conn_gone", records=2)
    _delete(store, "conn_gone")
    queue = RecordingQueue()
    purge = ConnectionDataPurge(
        connections=store, records=store, syncs=store, tasks=lambda: queue, clock=FixedClock(T0)
    )
    purge.purge_task({"tenant_id": "t1", "connection_id": "conn_gone", "round": 0})
    [late] = queue.of(PURGE_CONNECTION_DATA_TASK)
    assert late.payload["late"] is True
    # a run's last page lands after the purge
    store.write_records("t1", "conn_gone", "Invoice", [IncomingRecord("straggler")], now=T0)
    queue.run_due(lambda kind, payload: purge.purge_task(payload), now=T0 + timedelta(hours=1))
    assert store.read_changes("t1", "conn_gone", "Invoice").records == []
    assert queue.tasks == []  # a late round that finds the rest gone schedules nothing more
