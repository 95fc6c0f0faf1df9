"""The SQLite records store's seen marks: a full run over unchanged data writes one row a
batch, not one per record, and a run that began before the marks were kept per batch (its
records marked one by one) keeps what it marked."""

from __future__ import annotations

from pathlib import Path

from tests.contract.records import T0
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.records import SqliteRecords
from tether.domain.synced_records import IncomingRecord

STREAM = ("t1", "conn_1", "Invoice")


def _batch(start: int, count: int, version: int = 1) -> list[IncomingRecord]:
    return [
        IncomingRecord(f"r{n}", {"id": n, "version": version}) for n in range(start, start + count)
    ]


def test_a_full_run_over_unchanged_data_writes_a_row_per_batch(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "store.sqlite3")
    records = SqliteRecords(database)
    for start in range(0, 3000, 1000):
        records.write_records(*STREAM, _batch(start, 1000), now=T0, seen_by="run_1")
    db = database.db()
    before = db.total_changes
    for start in range(0, 3000, 1000):
        result = records.write_records(*STREAM, _batch(start, 1000), now=T0, seen_by="run_2")
        assert result.unchanged == 1000
    # one row of noted ids a batch (run_1 noted none: it wrote every record)
    assert db.total_changes - before == 3
    assert records.delete_unseen(*STREAM, run_id="run_2", now=T0) == 0
    # a changed record is written with its run's mark, not noted
    before = db.total_changes
    records.write_records(*STREAM, _batch(0, 1, version=2) + _batch(1, 1), now=T0, seen_by="r3")
    # the record, the stream's number, one row of ids; and run_2's three rows go
    assert db.total_changes - before == 6
    deleted = 0
    while (n := records.delete_unseen(*STREAM, run_id="r3", now=T0, limit=1000)) > 0:
        deleted += n
    assert deleted == 2998


def test_a_run_marked_record_by_record_before_the_upgrade_keeps_its_marks(
    tmp_path: Path,
) -> None:
    database = SqliteDatabase(tmp_path / "store.sqlite3")
    records = SqliteRecords(database)
    records.write_records(*STREAM, _batch(0, 4), now=T0)
    with database.write() as db:  # what the per-record marks of a run left behind
        db.execute("UPDATE synced_records SET seen_run = 'run_old' WHERE record_id IN ('r0','r1')")
    records.write_records(*STREAM, _batch(2, 1), now=T0, seen_by="run_old")
    assert records.delete_unseen(*STREAM, run_id="run_old", now=T0) == 1  # r3 only
    live = database.db().execute(
        "SELECT record_id FROM synced_records WHERE action <> 'DELETED' ORDER BY record_id"
    )
    assert [row[0] for row in live] == ["r0", "r1", "r2"]


def test_deleting_a_connections_records_drops_its_noted_ids(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "store.sqlite3")
    records = SqliteRecords(database)
    records.write_records(*STREAM, _batch(0, 3), now=T0)
    records.write_records(*STREAM, _batch(0, 3), now=T0, seen_by="run_1")
    count = "SELECT count(*) FROM record_seen_ids"
    assert database.db().execute(count).fetchone()[0] == 1
    while records.delete_connection_records("t1", "conn_1") > 0:
        pass
    assert database.db().execute(count).fetchone()[0] == 0
