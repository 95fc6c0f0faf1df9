"""A sync run is bounded: a provider whose pages never end (an offset it ignores, a cursor
that is new on every page) fails the run with ``SYNC_TOO_MANY_PAGES`` once it has walked
``sync_max_pages`` pages, instead of running task after task for ever."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.functions.test_sync_flow import ACME, Stack, stack_reaching
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
