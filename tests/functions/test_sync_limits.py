"""A sync run is bounded by what a provider answers: pages that never end (an offset it
ignores, a cursor new on every page) fail the run with ``SYNC_TOO_MANY_PAGES`` once it has
walked ``sync_max_pages`` pages, instead of running task after task for ever; an updated-at
in the future does not carry the next incremental run past the moment the run began; a next
page too large for the run's checkpoint fails the run instead of leaving it held."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.functions.test_sync_flow import ACME, Stack, stack_reaching
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether_emulators.sample_api import SampleApi

MAX_PAGES = 5
# /loop/items answers the same full page whatever the offset: an offset walk never ends.
ENDLESS: dict[str, Any] = {
    "model": "Item",
    "request": {"path": "/loop/items"},
    "records_path": "data",
    "id_path": "id",
    "pagination": {"type": "offset", "limit": 2},
    "frequency": "1h",
    "enabled": False,
}


@pytest.fixture
def api() -> Iterator[SampleApi]:
    with SampleApi() as started:
        yield started


@pytest.fixture
def stack(settings: Settings, api: SampleApi) -> Iterator[Stack]:
    # A task a page: the run goes on in a new task after every page.
    with stack_reaching(
        settings,
        api.port,
        sync_slice_seconds=0.001,
        sync_checkpoint_pages=1,
        sync_max_pages=MAX_PAGES,
    ) as made:
        yield made


def test_a_run_whose_pages_never_end_fails_at_the_page_limit(stack: Stack, api: SampleApi) -> None:
    connection_id = stack.connect(api)  # type: ignore[arg-type]
    put = stack.syncs.put(f"/{connection_id}/items", json=ENDLESS, headers=ACME)
    assert put.status_code == 200, put.get_json()
    started = stack.syncs.post(f"/{connection_id}/items/run", headers=ACME)
    assert started.status_code == 202, started.get_json()

    queue: Any = stack.container.tasks
    for _ in range(MAX_PAGES * 4):
        if not queue.run_due():
            break

    [run] = stack.syncs.get(f"/{connection_id}/items/runs", headers=ACME).get_json()["runs"]
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "SYNC_TOO_MANY_PAGES"
    assert len(api.requests_to("/loop/items")) == MAX_PAGES
    # What the pages held is kept; the failure is the sync's last run.
    records = stack.records.get(f"/{connection_id}/Item", headers=ACME).get_json()["records"]
    assert sorted(r["_tether"]["id"] for r in records) == ["1", "2"]
    listed = stack.syncs.get(f"/{connection_id}", headers=ACME).get_json()["syncs"]
    [sync] = [s for s in listed if s["name"] == "items"]
    assert sync["last_run"]["status"] == "failed"


# A record whose updated-at is far in the future (a placeholder date, a provider's bad clock),
# one at the last moment a datetime holds, west of UTC (past the year 9999 in UTC).
FUTURE_PAGE = {
    "items": [
        {"id": "a", "updated_at": "2999-01-01T00:00:00Z"},
        {"id": "b", "updated_at": "9999-12-31T23:59:59-14:00"},
        {"id": "c", "updated_at": "2026-01-01T00:00:00Z"},
    ]
}
INCREMENTAL: dict[str, Any] = {
    "model": "Item",
    "request": {"path": "/changes"},
    "records_path": "items",
    "id_path": "id",
    "updated_at_path": "updated_at",
    "incremental": {"param": "updated_since", "format": "iso8601"},
    "frequency": "1h",
    "enabled": False,
}


def test_a_future_updated_at_does_not_move_the_next_run_past_now(
    stack: Stack, api: SampleApi
) -> None:
    api.inject("/changes", status=200, body=json.dumps(FUTURE_PAGE), times=2)
    connection_id = stack.connect(api)  # type: ignore[arg-type]
    put = stack.syncs.put(f"/{connection_id}/invoices", json=INCREMENTAL, headers=ACME)
    assert put.status_code == 200, put.get_json()

    first = stack.run(connection_id)
    assert (first["status"], first["added"]) == ("succeeded", 3), first
    second = stack.run(connection_id)

    assert second["status"] == "succeeded" and second["full"] is False, second
    [asked] = [r.query["updated_since"] for r in api.requests_to("/changes")[1:]]
    since = datetime.fromisoformat(asked)
    assert since <= datetime.now(UTC)  # a change made meanwhile is asked for


GRAPHQL: dict[str, Any] = {
    "model": "Item",
    "request": {
        "path": "/graphql",
        "method": "POST",
        "body": {
            "query": "query($after: String) { items(after: $after) { edges { node { id } } } }"
        },
    },
    "records_path": "data.items.edges",
    "id_path": "node.id",
    "pagination": {"type": "graphql"},
    "frequency": "1h",
    "enabled": False,
}


@pytest.fixture
def firestore_stack(settings: Settings, api: SampleApi, firestore_client: Any) -> Iterator[Stack]:
    from tether.adapters.firestore import FirestoreConnectionStore

    update = {"egress_allowlist": f"127.0.0.1:{api.port}", "sync_checkpoint_pages": 1}
    container = Container(
        settings.model_copy(update=update), store=FirestoreConnectionStore(firestore_client)
    )
    reset_container(container)
    try:
        yield Stack(container)
    finally:
        reset_container(None)
        container.close()


def test_a_next_page_too_large_for_the_checkpoint_fails_the_run(
    firestore_stack: Stack, api: SampleApi
) -> None:
    # A GraphQL endCursor goes in the body: one past what a run's checkpoint (one Firestore
    # document) holds cannot be saved to go on from.
    page = {
        "data": {
            "items": {
                "edges": [{"node": {"id": "a"}}],
                "pageInfo": {"hasNextPage": True, "endCursor": "e" * 1_100_000},
            }
        }
    }
    api.inject("/graphql", status=200, body=json.dumps(page), times=20)
    stack = firestore_stack
    connection_id = stack.connect(api)  # type: ignore[arg-type]
    put = stack.syncs.put(f"/{connection_id}/invoices", json=GRAPHQL, headers=ACME)
    assert put.status_code == 200, put.get_json()
    started = stack.syncs.post(f"/{connection_id}/invoices/run", headers=ACME)
    assert started.status_code == 202, started.get_json()

    queue: Any = stack.container.tasks
    for _ in range(20):
        if not queue.run_due():
            break

    [run] = stack.syncs.get(f"/{connection_id}/invoices/runs", headers=ACME).get_json()["runs"]
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "PROVIDER_INVALID_RESPONSE"
