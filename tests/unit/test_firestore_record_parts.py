"""The Firestore records store splits a batch into commits by the UTF-8 size of its payloads,
as they go on the wire, so no commit passes Firestore's 10 MiB request limit however many
bytes a character of a payload takes; a batch of small records stays one commit."""

from __future__ import annotations

from tether.adapters.firestore.records import _PART_BYTES, _parts
from tether.domain.synced_records import MAX_WRITE_BATCH, IncomingRecord, prepare_batch


def _sizes(records: list[IncomingRecord]) -> list[tuple[int, int]]:
    prepared, rejected, _ = prepare_batch(records)
    assert rejected == []
    return [
        (len(part), sum(len(r.payload_json.encode("utf-8")) for r in part))
        for part in _parts(prepared)
    ]


def test_payloads_past_8_mib_in_utf8_take_more_commits() -> None:
    # 6 million characters but 12 million bytes: more than one request may carry
    text = "\u00e9" * 150_000
    sizes = _sizes([IncomingRecord(f"r{n}", {"id": n, "text": text}) for n in range(40)])

    assert sum(count for count, _ in sizes) == 40
    assert len(sizes) == 2
    assert all(size <= _PART_BYTES for _, size in sizes)


def test_a_full_batch_of_small_records_is_one_commit() -> None:
    sizes = _sizes([IncomingRecord(f"r{n}", {"id": n}) for n in range(MAX_WRITE_BATCH)])

    assert [count for count, _ in sizes] == [MAX_WRITE_BATCH]
