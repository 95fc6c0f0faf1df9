"""A batch's records are prepared exactly as one record alone would be: the batch's own path
for the common records (short printable ids, dict payloads) gives the same canonical text and
SHA-256 as :func:`prepare_record`, and every other record gets prepare_record's answer."""

from __future__ import annotations

import json
from collections import OrderedDict
from hashlib import sha256
from types import MappingProxyType
from typing import Any

import pytest

from tether.domain.synced_records import (
    INVALID_PAYLOAD,
    INVALID_RECORD_ID,
    MAX_RECORD_BYTES,
    MAX_RECORD_ID_CHARS,
    RECORD_TOO_LARGE,
    IncomingRecord,
    PreparedRecord,
    RecordRejection,
    prepare_batch,
    prepare_record,
)

RECORDS: list[IncomingRecord] = [
    IncomingRecord("inv_1", {"b": 2, "a": 1, "nested": {"z": [1, 2.5, None], "y": True}}),
    IncomingRecord("2", {"id": 2, "name": "Ünïcode ✓", "emoji": "🦊"}),
    IncomingRecord("x" * MAX_RECORD_ID_CHARS, {"id": "long but allowed"}),
    IncomingRecord("x" * (MAX_RECORD_ID_CHARS + 1), {"id": "too long"}),
    IncomingRecord("", {"id": "empty"}),
    IncomingRecord("tab\there", {"id": "control character"}),
    IncomingRecord("café", {"id": "non-ASCII printable id"}),
    IncomingRecord("nan", {"value": float("nan")}),
    IncomingRecord("inf", {"value": float("inf")}),
    IncomingRecord("set", {"value": {1, 2}}),
    IncomingRecord("surrogate", {"value": "\ud800"}),
    IncomingRecord("big", {"blob": "x" * MAX_RECORD_BYTES}),
    IncomingRecord("proxy", MappingProxyType({"b": 1, "a": 2})),
    IncomingRecord("ordered", OrderedDict([("b", 1), ("a", 2)])),
    IncomingRecord("gone", {"ignored": True}, deleted=True),
    IncomingRecord("not-a-dict", [1, 2]),  # type: ignore[arg-type]
]


def test_every_record_of_a_batch_is_prepared_as_it_would_be_alone() -> None:
    prepared, rejected, superseded = prepare_batch(RECORDS)

    alone = [prepare_record(i, r) for i, r in enumerate(RECORDS)]
    assert prepared == [p for p in alone if isinstance(p, PreparedRecord)]
    assert rejected == [r for r in alone if isinstance(r, RecordRejection)]
    assert superseded == 0
    assert {r.code for r in rejected} == {INVALID_RECORD_ID, INVALID_PAYLOAD, RECORD_TOO_LARGE}


def test_a_payload_hash_is_the_sha256_of_sorted_compact_json() -> None:
    payload: dict[str, Any] = {
        "name": "Ünïcode",
        "id": 7,
        "tags": ["b", "a"],
        "n": {"y": 1, "x": 0},
    }
    [record], _, _ = prepare_batch([IncomingRecord("7", payload)])

    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record.payload_json == text
    assert record.payload_hash == sha256(text.encode("utf-8")).hexdigest()


def test_the_last_write_of_a_repeated_id_wins_at_its_last_position() -> None:
    batch = [
        IncomingRecord("a", {"v": 1}),
        IncomingRecord("b", {"v": 1}),
        IncomingRecord("a", {"v": 2}),
    ]
    prepared, rejected, superseded = prepare_batch(batch)

    assert [(p.id, p.payload_json) for p in prepared] == [("b", '{"v":1}'), ("a", '{"v":2}')]
    assert (rejected, superseded) == ([], 1)


def test_the_default_payload_is_one_no_record_can_change() -> None:
    first, second = IncomingRecord("a"), IncomingRecord("b")
    with pytest.raises(TypeError):
        first.payload["leak"] = True  # type: ignore[index]
    assert dict(second.payload) == {}
    prepared, rejected, _ = prepare_batch([first, second])
    assert rejected == []
    assert [(p.id, p.payload_json) for p in prepared] == [("a", "{}"), ("b", "{}")]
