"""Records a run cannot store are counted and shown, never their content: a record with no
usable id at ``id_path``, one too large for a stored record, one whose id a record id cannot
be. The runs list, the sync's last run and ``sync.completed`` say how many; the run views
name the first few by page, position, id (when valid) and code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functions.test_sync_flow import ACME, Stack, stack_reaching
from tether.config import Settings
from tether.domain.synced_records import MAX_RECORD_BYTES
from tether_emulators.sample_api import SampleApi

SECRET = "sk_live_rejected0record0secret0value"
BIG = "x" * (MAX_RECORD_BYTES + 10)
DEFINITION: dict[str, Any] = {
    "model": "Item",
    "request": {"path": "/rejections"},
    "records_path": "items",
    "id_path": "id",
    "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"},
    "frequency": "1h",
}
FIRST_PAGE = [
    {"id": "a1", "name": "fine"},
    {"name": "no id here", "token": SECRET},
    {"id": "big", "blob": BIG},
    {"id": "bad\u0001id", "name": "control character in its id"},
    {"id": "a2"},
]
SECOND_PAGE = [{"id": {"nested": SECRET}}, {"id": "a3"}, {}, {"id": ""}]


@pytest.fixture
def api() -> Iterator[SampleApi]:
    with SampleApi() as started:
        started.inject(
            "/rejections", status=200, body=json.dumps({"items": FIRST_PAGE, "next": "p2"})
        )
        started.inject(
            "/rejections", status=200, body=json.dumps({"items": SECOND_PAGE, "next": None})
        )
        yield started


@pytest.fixture
def stack(settings: Settings, api: SampleApi) -> Iterator[Stack]:
    with stack_reaching(settings, api.port) as made:
        yield made


def test_rejected_records_are_counted_and_named_without_their_content(
    stack: Stack, api: SampleApi
) -> None:
    connection_id = stack.connect(api)  # type: ignore[arg-type]
    put = stack.syncs.put(
        f"/{connection_id}/invoices", json={**DEFINITION, "enabled": False}, headers=ACME
    )
    assert put.status_code == 200, put.get_json()

    run = stack.run(connection_id)

    assert run["status"] == "succeeded", run
    assert (run["added"], run["rejected"]) == (3, 6)
    # The first five, by page and position: never more than five.
    assert run["rejections"] == [
        {"page": 1, "index": 1, "code": "MISSING_RECORD_ID"},
        {"page": 1, "index": 2, "id": "big", "code": "RECORD_TOO_LARGE"},
        {"page": 1, "index": 3, "code": "INVALID_RECORD_ID"},
        {"page": 2, "index": 0, "code": "MISSING_RECORD_ID"},
        {"page": 2, "index": 2, "code": "MISSING_RECORD_ID"},
    ]
    listed = stack.syncs.get(f"/{connection_id}", headers=ACME)
    [sync] = [s for s in listed.get_json()["syncs"] if s["name"] == "invoices"]
    last = sync["last_run"]
    assert (last["id"], last["rejected"], last["rejections"]) == (
        run["id"],
        6,
        run["rejections"],
    )
    [completed] = [e for e in stack.events(connection_id) if e["type"] == "sync.completed"]
    assert (completed["data"]["added"], completed["data"]["rejected"]) == (3, 6)

    runs = stack.syncs.get(f"/{connection_id}/invoices/runs", headers=ACME)
    for shown in (runs.get_data(as_text=True), listed.get_data(as_text=True), str(completed)):
        assert SECRET not in shown and "no id here" not in shown and BIG[:100] not in shown
    stored = stack.records.get(f"/{connection_id}/Item", headers=ACME).get_json()["records"]
    assert sorted(r["_tether"]["id"] for r in stored) == ["a1", "a2", "a3"]
