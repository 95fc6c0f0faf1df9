"""The RecordStore contract: every backend passes all of it."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta

import pytest

from tests.contract.conftest import RecordPoisoner
from tests.contract.records import T0
from tests.support.concurrency import together
from tether.domain.errors import InvalidRequest
from tether.domain.retention import Retention
from tether.domain.synced_records import (
    INVALID_PAYLOAD,
    INVALID_RECORD_ID,
    MAX_CHANGES_PAGE,
    MAX_CHANGES_PAGE_BYTES,
    MAX_RECORD_BYTES,
    MAX_RECORD_ID_CHARS,
    MAX_WRITE_BATCH,
    RECORD_TOO_LARGE,
    IncomingRecord,
    RecordAction,
    StoredRecord,
)
from tether.ports import ConnectionStore, ExpiredRecordPurge, RecordStore

STREAM = ("t1", "conn_1", "Invoice")


def _rec(record_id: str, **payload: object) -> IncomingRecord:
    return IncomingRecord(record_id, {"id": record_id, **payload})


def _all(records: RecordStore, stream: tuple[str, str, str] = STREAM) -> list[StoredRecord]:
    """Every change of ``stream`` from the start, page by page."""
    found: list[StoredRecord] = []
    cursor = None
    while True:
        page = records.read_changes(*stream, cursor=cursor, limit=7)
        found.extend(page.records)
        cursor = page.next_cursor
        if not page.has_more:
            return found


def test_new_records_are_added_in_change_order(records: RecordStore) -> None:
    result = records.write_records(*STREAM, [_rec(f"inv_{i}", n=i) for i in range(5)], now=T0)
    assert (result.added, result.updated, result.deleted, result.unchanged) == (5, 0, 0, 0)
    assert result.rejected == []
    page = records.read_changes(*STREAM)
    assert [r.id for r in page.records] == [f"inv_{i}" for i in range(5)]
    assert not page.has_more and page.next_cursor == page.records[-1].cursor
    first = page.records[0]
    assert first.action is RecordAction.ADDED and first.payload == {"id": "inv_0", "n": 0}
    assert first.first_seen_at == T0 and first.last_modified_at == T0
    canonical = json.dumps({"id": "inv_0", "n": 0}, sort_keys=True, separators=(",", ":"))
    assert first.payload_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert len({r.cursor for r in page.records}) == 5


def test_the_payload_hash_decides_updated_or_unchanged(records: RecordStore) -> None:
    records.write_records(*STREAM, [_rec("a", x=1, y=[1, 2]), _rec("b", x=1)], now=T0)
    later = T0 + timedelta(hours=1)
    same_other_order = IncomingRecord("a", {"y": [1, 2], "x": 1, "id": "a"})
    result = records.write_records(*STREAM, [same_other_order, _rec("b", x=2)], now=later)
    assert (result.added, result.updated, result.unchanged) == (0, 1, 1)
    changes = _all(records)
    # the unchanged record was not re-sequenced; the updated one moved to the end
    assert [(r.id, r.action) for r in changes] == [("a", "ADDED"), ("b", "UPDATED")]
    a, b = changes
    assert a.last_modified_at == T0
    assert b.payload == {"id": "b", "x": 2}
    assert b.first_seen_at == T0 and b.last_modified_at == later
    # a reader that had seen both sees only the update
    after_a = records.read_changes(*STREAM, cursor=a.cursor)
    assert [r.id for r in after_a.records] == ["b"]


def test_a_record_without_a_payload_is_stored_as_an_empty_object(records: RecordStore) -> None:
    result = records.write_records(*STREAM, [IncomingRecord("bare"), _rec("full")], now=T0)
    assert (result.added, result.rejected) == (2, [])
    assert [(r.id, r.payload) for r in _all(records)] == [("bare", {}), ("full", {"id": "full"})]


def test_tombstones_delete_and_a_deleted_record_comes_back_added(records: RecordStore) -> None:
    records.write_records(*STREAM, [_rec("a", v=1), _rec("b", v=1)], now=T0)
    later = T0 + timedelta(minutes=5)
    result = records.write_records(
        *STREAM,
        [IncomingRecord("a", deleted=True), IncomingRecord("ghost", deleted=True)],
        now=later,
    )
    assert (result.deleted, result.unchanged) == (1, 1)
    again = records.write_records(*STREAM, [IncomingRecord("a", deleted=True)], now=later)
    assert (again.deleted, again.unchanged) == (0, 1)
    changes = _all(records)
    assert [(r.id, r.action) for r in changes] == [("b", "ADDED"), ("a", "DELETED")]
    assert changes[1].payload == {"id": "a", "v": 1}  # the last payload stays
    assert changes[1].last_modified_at == later
    back_at = T0 + timedelta(minutes=9)
    back = records.write_records(*STREAM, [_rec("a", v=1)], now=back_at)
    assert back.added == 1
    (a,) = [r for r in _all(records) if r.id == "a"]
    assert a.action is RecordAction.ADDED
    assert a.first_seen_at == T0 and a.last_modified_at == back_at
    assert [r.id for r in _all(records)] == ["b", "a"]
    # ghost never existed: no change of it is ever read
    assert all(r.id != "ghost" for r in _all(records))


def test_bad_records_fail_alone(records: RecordStore) -> None:
    big = "x" * (MAX_RECORD_BYTES + 1)
    batch = [
        _rec("ok_1"),
        IncomingRecord("big", {"blob": big}),
        IncomingRecord("", {"a": 1}),
        IncomingRecord("bad\nid", {"a": 1}),
        IncomingRecord("i" * (MAX_RECORD_ID_CHARS + 1), {"a": 1}),
        IncomingRecord("nan", {"a": float("nan")}),
        IncomingRecord("not_object", ["a"]),  # type: ignore[arg-type]
        IncomingRecord("not_json", {"a": object()}),
        _rec("ok_2"),
    ]
    result = records.write_records(*STREAM, batch, now=T0)
    assert result.added == 2
    assert [(r.index, r.code) for r in result.rejected] == [
        (1, RECORD_TOO_LARGE),
        (2, INVALID_RECORD_ID),
        (3, INVALID_RECORD_ID),
        (4, INVALID_RECORD_ID),
        (5, INVALID_PAYLOAD),
        (6, INVALID_PAYLOAD),
        (7, INVALID_PAYLOAD),
    ]
    assert result.rejected[0].id == "big" and len(result.rejected[3].id) == MAX_RECORD_ID_CHARS
    assert big not in result.rejected[0].message
    assert [r.id for r in _all(records)] == ["ok_1", "ok_2"]


def test_a_payload_holding_a_lone_surrogate_is_kept_as_its_escape(records: RecordStore) -> None:
    """A provider's JSON may escape half a UTF-16 pair ("\\ud800"): the payload is stored as
    JSON text with that escape (valid UTF-8, hashed as such) and read back as it came."""
    odd = {"id": "odd", "name": "a\ud800b", "\udc00": ["\U0001f600"]}
    result = records.write_records(*STREAM, [IncomingRecord("odd", odd)], now=T0)
    assert (result.added, result.rejected) == (1, [])
    [stored] = _all(records)
    assert stored.payload == odd
    text = '{"id":"odd","name":"a\\ud800b","\\udc00":["\U0001f600"]}'
    assert stored.payload_hash == hashlib.sha256(text.encode()).hexdigest()


def test_ids_any_backend_would_mangle_are_kept_apart(records: RecordStore) -> None:
    ids = ["a/b", "a", "..", "__x__", "ünï", "a b", "~" + "0" * 64, "x" * MAX_RECORD_ID_CHARS]
    records.write_records(*STREAM, [_rec(i) for i in ids], now=T0)
    assert [r.id for r in _all(records)] == ids
    assert [r.payload["id"] for r in _all(records)] == ids


def test_the_last_write_of_an_id_in_a_batch_counts(records: RecordStore) -> None:
    result = records.write_records(*STREAM, [_rec("a", v=1), _rec("b"), _rec("a", v=2)], now=T0)
    assert (result.added, result.unchanged) == (2, 1)
    assert [(r.id, r.payload.get("v")) for r in _all(records)] == [("b", None), ("a", 2)]


def test_a_payload_nested_beyond_what_json_can_encode_fails_alone(records: RecordStore) -> None:
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(100_000):
        inner["a"] = inner = {}
    result = records.write_records(*STREAM, [IncomingRecord("deep", deep), _rec("ok")], now=T0)
    assert [(r.id, r.code) for r in result.rejected] == [("deep", INVALID_PAYLOAD)]
    assert [r.id for r in _all(records)] == ["ok"]


def test_a_record_that_no_longer_decodes_is_passed_over(
    records: RecordStore, poison: RecordPoisoner
) -> None:
    records.write_records(*STREAM, [_rec("a"), _rec("b"), _rec("c")], now=T0)
    poison.synced_record(STREAM, "b", "{not json")
    poison.synced_record(STREAM, "c", "[1, 2]")
    page = records.read_changes(*STREAM)
    assert [r.id for r in page.records] == ["a"]
    records.write_records(*STREAM, [_rec("d")], now=T0)
    after = records.read_changes(*STREAM, cursor=page.next_cursor)
    assert [r.id for r in after.records] == ["d"]
    # a change of the record stores it whole again
    assert records.write_records(*STREAM, [_rec("b", v=2)], now=T0).updated == 1
    assert [r.id for r in _all(records)] == ["a", "d", "b"]


def test_a_batch_has_a_size_limit(records: RecordStore) -> None:
    with pytest.raises(InvalidRequest):
        records.write_records(*STREAM, [_rec(f"r{i}") for i in range(MAX_WRITE_BATCH + 1)], now=T0)


def test_streams_are_apart_per_tenant_connection_and_model(records: RecordStore) -> None:
    streams = [
        STREAM,
        ("t2", "conn_1", "Invoice"),
        ("t1", "conn_2", "Invoice"),
        ("t1", "conn_1", "Contact"),
    ]
    for n, stream in enumerate(streams):
        records.write_records(*stream, [_rec(f"r{n}_{i}") for i in range(n + 1)], now=T0)
    for n, stream in enumerate(streams):
        assert [r.id for r in _all(records, stream)] == [f"r{n}_{i}" for i in range(n + 1)]
    # each stream has its own sequence: a cursor of one is a position in any other
    assert records.read_changes("t3", "conn_1", "Invoice").records == []


def test_reading_changes_pages_from_a_cursor(records: RecordStore) -> None:
    empty = records.read_changes(*STREAM)
    assert empty.records == [] and empty.next_cursor is None and not empty.has_more
    records.write_records(*STREAM, [_rec(f"r{i:02}") for i in range(10)], now=T0)
    first = records.read_changes(*STREAM, limit=4)
    assert [r.id for r in first.records] == ["r00", "r01", "r02", "r03"] and first.has_more
    second = records.read_changes(*STREAM, cursor=first.next_cursor, limit=4)
    assert [r.id for r in second.records] == ["r04", "r05", "r06", "r07"]
    last = records.read_changes(*STREAM, cursor=second.next_cursor, limit=4)
    assert [r.id for r in last.records] == ["r08", "r09"] and not last.has_more
    # at the end, the cursor stays where it is, and picks up what comes later
    idle = records.read_changes(*STREAM, cursor=last.next_cursor)
    assert idle.records == [] and idle.next_cursor == last.next_cursor
    records.write_records(*STREAM, [_rec("r03", v=2), _rec("r10")], now=T0)
    later = records.read_changes(*STREAM, cursor=idle.next_cursor)
    assert [(r.id, r.action) for r in later.records] == [("r03", "UPDATED"), ("r10", "ADDED")]


def test_limits_of_a_changes_page(records: RecordStore) -> None:
    for bad in (0, -1):
        with pytest.raises(InvalidRequest):
            records.read_changes(*STREAM, limit=bad)
    for start in range(0, MAX_CHANGES_PAGE + 1, MAX_WRITE_BATCH):
        end = min(start + MAX_WRITE_BATCH, MAX_CHANGES_PAGE + 1)
        records.write_records(*STREAM, [_rec(f"r{i}") for i in range(start, end)], now=T0)
    page = records.read_changes(*STREAM, limit=MAX_CHANGES_PAGE * 5)
    assert len(page.records) == MAX_CHANGES_PAGE and page.has_more


def test_a_changes_page_holds_at_most_its_bytes_of_payloads(records: RecordStore) -> None:
    # Records near the largest a record may be: a page of the largest limit would be about a
    # gigabyte, past what a reader's instance holds or an HTTP answer carries.
    pad = "x" * (MAX_RECORD_BYTES - 100)
    total = 2 * MAX_CHANGES_PAGE_BYTES // MAX_RECORD_BYTES + 3
    for number in range(total):
        records.write_records(*STREAM, [_rec(f"big{number:02d}", pad=pad)], now=T0)

    first = records.read_changes(*STREAM, limit=MAX_CHANGES_PAGE)

    assert first.has_more and 1 <= len(first.records) < total
    assert len(first.records) * (MAX_RECORD_BYTES - 100) <= MAX_CHANGES_PAGE_BYTES
    seen = [r.id for r in first.records]
    cursor = first.next_cursor
    while True:
        page = records.read_changes(*STREAM, cursor=cursor, limit=MAX_CHANGES_PAGE)
        assert len(page.records) * (MAX_RECORD_BYTES - 100) <= MAX_CHANGES_PAGE_BYTES
        seen += [r.id for r in page.records]
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert seen == [f"big{number:02d}" for number in range(total)]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "nope",
        "c1.",
        "c1.!!",
        "c1.LTE",
        "c1.MDE",
        "c1." + "MQ" * 40,
        "c1.OTIyMzM3MjAzNjg1NDc3NTgwOA",
    ],
)
def test_cursors_not_handed_out_are_refused(records: RecordStore, cursor: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        records.read_changes(*STREAM, cursor=cursor)
    assert refused.value.code == "INVALID_CURSOR"


def test_modified_after_leaves_out_older_changes(records: RecordStore) -> None:
    for minute in range(6):
        records.write_records(*STREAM, [_rec(f"m{minute}")], now=T0 + timedelta(minutes=minute))
    records.write_records(*STREAM, [_rec("m1", v=2)], now=T0 + timedelta(minutes=10))
    seen: list[str] = []
    cursor = None
    while True:
        page = records.read_changes(
            *STREAM, cursor=cursor, modified_after=T0 + timedelta(minutes=3), limit=1
        )
        seen.extend(r.id for r in page.records)
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert seen == ["m4", "m5", "m1"]


def test_a_full_run_deletes_what_it_did_not_see_in_chunks(records: RecordStore) -> None:
    records.write_records(*STREAM, [_rec(f"r{i:02}") for i in range(25)], now=T0)
    records.write_records(*STREAM, [IncomingRecord("r24", deleted=True)], now=T0)
    later = T0 + timedelta(hours=1)
    seen = [_rec(f"r{i:02}") for i in range(20)] + [_rec("new")]
    result = records.write_records(*STREAM, seen, now=later, seen_by="run_full")
    assert (result.added, result.unchanged) == (1, 20)  # unchanged ones are marked all the same
    before = _all(records)
    removed = []
    while (n := records.delete_unseen(*STREAM, run_id="run_full", now=later, limit=2)) > 0:
        assert n <= 2
        removed.append(n)
    assert sum(removed) == 4  # r20..r23; r24 was deleted already
    changes = _all(records)
    deleted = [r.id for r in changes if r.action is RecordAction.DELETED]
    assert sorted(deleted) == ["r20", "r21", "r22", "r23", "r24"]
    # the new deletions come after everything a reader had seen
    tail = records.read_changes(*STREAM, cursor=before[-1].cursor)
    assert sorted(r.id for r in tail.records) == ["r20", "r21", "r22", "r23"]
    assert all(r.last_modified_at == later for r in tail.records)
    # another full run that saw everything deletes nothing
    records.write_records(*STREAM, seen, now=later, seen_by="run_next")
    assert records.delete_unseen(*STREAM, run_id="run_next", now=later) == 0
    with pytest.raises(InvalidRequest):
        records.delete_unseen(*STREAM, run_id="run_next", now=later, limit=0)


def test_seen_marks_hold_over_batches_rewrites_and_belong_to_their_run(
    records: RecordStore,
) -> None:
    records.write_records(*STREAM, [_rec(f"r{i}") for i in range(6)], now=T0, seen_by="run_1")
    later = T0 + timedelta(hours=1)
    # run_2 sees r0..r3 over two batches, unchanged but for r3; a resumed task writes the
    # first batch again
    first, second = [_rec("r0"), _rec("r1")], [_rec("r2"), _rec("r3", v=2)]
    for batch in (first, second, first):
        records.write_records(*STREAM, batch, now=later, seen_by="run_2")
    assert records.delete_unseen(*STREAM, run_id="run_2", now=later) == 2  # r4, r5
    assert records.delete_unseen(*STREAM, run_id="run_2", now=later) == 0
    # run_3 sees r0 and r3 only: run_2's marks do not count for it
    records.write_records(*STREAM, [_rec("r0"), _rec("r3", v=2)], now=later, seen_by="run_3")
    assert records.delete_unseen(*STREAM, run_id="run_3", now=later) == 2  # r1, r2
    live = {r.id: r.action for r in _all(records)}
    assert live == {
        "r0": "ADDED",
        "r3": "UPDATED",
        "r1": "DELETED",
        "r2": "DELETED",
        "r4": "DELETED",
        "r5": "DELETED",
    }


def test_an_incremental_write_keeps_the_full_runs_marks(records: RecordStore) -> None:
    records.write_records(*STREAM, [_rec("a"), _rec("b")], now=T0, seen_by="run_1")
    records.write_records(*STREAM, [_rec("a", v=2)], now=T0)  # no mark: an incremental run
    assert records.delete_unseen(*STREAM, run_id="run_1", now=T0) == 0


def test_deleting_a_connections_records_goes_in_chunks(records: RecordStore) -> None:
    for model in ("Invoice", "Contact"):
        records.write_records(
            "t1", "conn_1", model, [_rec(f"{model}{i}") for i in range(6)], now=T0
        )
    records.write_records("t1", "conn_2", "Invoice", [_rec("keep")], now=T0)
    records.write_records("t2", "conn_1", "Invoice", [_rec("keep")], now=T0)
    removed = []
    while (n := records.delete_connection_records("t1", "conn_1", limit=5)) > 0:
        assert n <= 5
        removed.append(n)
    assert sum(removed) == 12
    assert _all(records) == [] and _all(records, ("t1", "conn_1", "Contact")) == []
    assert [r.id for r in _all(records, ("t1", "conn_2", "Invoice"))] == ["keep"]
    assert [r.id for r in _all(records, ("t2", "conn_1", "Invoice"))] == ["keep"]
    with pytest.raises(InvalidRequest):
        records.delete_connection_records("t1", "conn_1", limit=0)


def test_a_reader_following_cursors_sees_each_change_once_while_writers_commit(
    records: RecordStore,
) -> None:
    writers, batches, size = 2, 12, 10
    done = threading.Event()
    seen: list[StoredRecord] = []

    def write(writer: int) -> None:
        for b in range(batches):
            batch = [_rec(f"w{writer}_{b}_{i}") for i in range(size)]
            records.write_records(*STREAM, batch, now=T0)

    def read() -> None:
        cursor = None
        while True:
            finished = done.is_set()
            page = records.read_changes(*STREAM, cursor=cursor, limit=25)
            seen.extend(page.records)
            cursor = page.next_cursor
            if finished and not page.has_more:
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        futures = together([lambda w=w: write(w) for w in range(writers)])
        for future in futures:
            future.result()
    finally:
        done.set()
        reader.join(timeout=120)
    ids = [r.id for r in seen]
    assert len(ids) == writers * batches * size
    assert len(set(ids)) == len(ids)  # each change once, none lost
    cursors = [r.cursor for r in seen]
    assert len(set(cursors)) == len(cursors)


def test_deleted_records_go_after_their_retention_if_one_is_set(
    records_and_purge: tuple[RecordStore, ExpiredRecordPurge, Retention],
) -> None:
    records, purge, retention = records_and_purge
    records.write_records(*STREAM, [_rec("gone"), _rec("recent"), _rec("live")], now=T0)
    records.write_records(*STREAM, [IncomingRecord("gone", deleted=True)], now=T0)
    day_later = T0 + timedelta(days=1)
    records.write_records(*STREAM, [IncomingRecord("recent", deleted=True)], now=day_later)
    kept = ["gone", "live", "recent"]
    if retention.deleted_records is None:  # the default: kept for good
        assert purge.purge_expired(now=day_later + timedelta(days=3650)) == 0
    else:
        assert purge.purge_expired(now=day_later) == 1
        assert purge.purge_expired(now=day_later) == 0
        kept.remove("gone")
    assert sorted(r.id for r in _all(records)) == kept


def test_the_backends_facade_serves_the_same_records(
    store: ConnectionStore, records: RecordStore
) -> None:
    """The composition root's one object per backend is the records store too, over the same
    storage (and its retention reaches the purge)."""
    assert isinstance(store, RecordStore)
    store.write_records(*STREAM, [_rec("via_facade")], now=T0)
    assert [r.id for r in _all(records)] == ["via_facade"]
    assert [r.id for r in _all(store)] == ["via_facade"]


def test_the_last_cursor_is_where_later_changes_begin(records: RecordStore) -> None:
    assert records.last_cursor(*STREAM) is None
    records.write_records(*STREAM, [_rec("a", v=1), _rec("b", v=1)], now=T0)
    cursor = records.last_cursor(*STREAM)
    assert cursor is not None and cursor == records.read_changes(*STREAM).next_cursor
    assert records.read_changes(*STREAM, cursor=cursor).records == []
    records.write_records(*STREAM, [_rec("a", v=2), _rec("b", v=1)], now=T0)
    page = records.read_changes(*STREAM, cursor=cursor)
    assert [r.id for r in page.records] == ["a"]
    assert page.next_cursor == records.last_cursor(*STREAM)
    assert records.last_cursor("t2", "conn_1", "Invoice") is None
    assert records.last_cursor("t1", "conn_1", "Other") is None
