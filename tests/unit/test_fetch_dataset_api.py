"""fetch (FetchService) walks every pagination style of the local dataset API to the end over
real HTTP on loopback, and with the dataset's modified-since filter returns exactly the
records changed since a mark: what a sync's full and incremental runs will rest on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fetch_over_httpx import httpx_send, record_id
from tether.fetch.service import FetchRequest, FetchService
from tether_emulators.dataset_api import DatasetApi

TOTAL = 1234
QUERY = (
    "query($first: Int, $after: String, $updatedSince: String) { records(first: $first, "
    "after: $after, updatedSince: $updatedSince) { edges { node { id updated_at } } "
    "pageInfo { hasNextPage endCursor } } }"
)

# Each style of the dataset API as fetch is told to walk it, and where updated_since goes.
STYLES: dict[str, dict[str, Any]] = {
    "cursor": {
        "path": "/invoices/cursor",
        "params": {"limit": 50},
        "records_path": "data",
        "pagination": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
    },
    "cursor in the body": {
        "method": "POST",
        "path": "/invoices/search",
        "body": {"limit": 50},
        "records_path": "data",
        "pagination": {
            "type": "cursor",
            "cursor_path": "next_cursor",
            "cursor_param": "cursor",
            "param_in": "body",
        },
    },
    "page": {
        "path": "/invoices/page",
        "records_path": "items",
        "pagination": {
            "type": "page",
            "page_param": "page",
            "limit_param": "per_page",
            "limit": 50,
        },
    },
    "offset": {
        "path": "/invoices/offset",
        "records_path": "results",
        "pagination": {
            "type": "offset",
            "offset_param": "offset",
            "limit_param": "limit",
            "limit": 50,
        },
    },
    "link": {
        "path": "/invoices/link",
        "params": {"per_page": 50},
        "pagination": {"type": "link"},
    },
    "graphql": {
        "method": "POST",
        "path": "/invoices/graphql",
        "body": {"query": QUERY, "variables": {"first": 50}},
        "records_path": "data.records.edges",
        "pagination": {"type": "graphql"},
    },
}


def _since(style: dict[str, Any], mark: str) -> dict[str, Any]:
    """``style`` asking only for records changed after ``mark``."""
    if style["path"].endswith("/graphql"):
        variables = {**style["body"]["variables"], "updatedSince": mark}
        return {**style, "body": {**style["body"], "variables": variables}}
    if style.get("method") == "POST":
        return {**style, "body": {**style["body"], "updated_since": mark}}
    return {**style, "params": {**style.get("params", {}), "updated_since": mark}}


@pytest.fixture
def api() -> Iterator[DatasetApi]:
    with DatasetApi() as started:
        started.dataset("invoices").add(TOTAL)
        yield started


@pytest.fixture
def fetcher(api: DatasetApi) -> Iterator[FetchService]:
    with httpx.Client(timeout=10.0) as client:
        yield FetchService(httpx_send(client), api.url)


def _fetch_all(fetcher: FetchService, style: dict[str, Any]) -> list[int]:
    result = fetcher.fetch(FetchRequest(**style, max_pages=1000, max_records=100_000))
    assert not result.truncated and result.next_cursor is None
    return [record_id(record) for record in result.records]


@pytest.mark.parametrize("style", list(STYLES))
def test_fetch_walks_every_style_to_the_end(api, fetcher, style) -> None:
    before = api.requests
    assert _fetch_all(fetcher, STYLES[style]) == list(range(1, TOTAL + 1))
    assert api.requests - before == 25  # 24 full pages and a short one


@pytest.mark.parametrize("style", list(STYLES))
def test_fetch_with_modified_since_returns_exactly_the_changes(api, fetcher, style) -> None:
    dataset = api.dataset("invoices")
    mark = max(record["updated_at"] for record in dataset.records())
    dataset.update([3, 600, 1234])
    dataset.delete([7, 8])
    added = dataset.add(5)

    changed = _fetch_all(fetcher, _since(STYLES[style], mark))
    assert changed == [3, 600, 1234, *added]
    everything = _fetch_all(fetcher, STYLES[style])
    assert len(everything) == TOTAL - 2 + 5
    assert {7, 8}.isdisjoint(everything) and everything == sorted(set(everything))
