"""FetchService against the local sample API over real HTTP on loopback, with a plain httpx
``send`` that binds the credentials as the real caller would: every pagination style walked to
the end with exact counts, loops, provider errors, and limits whose ``next_cursor`` continues
exactly where the walk stopped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fetch_over_httpx import httpx_send, record_id
from tether.fetch.service import (
    MAX_WALK_BYTES,
    MAX_WALK_SECONDS,
    FetchRequest,
    FetchResult,
    FetchService,
    ProviderError,
)
from tether.http.pagination import PaginationLoop
from tether_emulators.sample_api import AuthRequirement, SampleApi

TOTAL = 1234
TOKEN = "local-api-token"
QUERY = (
    "query($first: Int, $after: String) { items(first: $first, after: $after) "
    "{ edges { node { id name } } pageInfo { hasNextPage endCursor } } }"
)

# Each style: the request (path, params, body, records_path, pagination) and how to read an id.
STYLES: dict[str, dict[str, Any]] = {
    "cursor": {
        "path": "/cursor/items",
        "params": {"limit": 50},
        "records_path": "data",
        "pagination": {
            "type": "cursor",
            "cursor_path": "meta.next_cursor",
            "cursor_param": "cursor",
        },
    },
    "link": {
        "path": "/link/items",
        "params": {"per_page": 50},
        "pagination": {"type": "link"},
    },
    "offset": {
        "path": "/offset/items",
        "records_path": "results",
        "pagination": {
            "type": "offset",
            "offset_param": "offset",
            "limit_param": "limit",
            "limit": 50,
        },
    },
    "page": {
        "path": "/page/items",
        "records_path": "items",
        "pagination": {
            "type": "page",
            "page_param": "page",
            "limit_param": "per_page",
            "limit": 50,
        },
    },
    "graphql": {
        "method": "POST",
        "path": "/graphql",
        "body": {"query": QUERY, "variables": {"first": 50}},
        "records_path": "data.items.edges",
        "pagination": {"type": "graphql"},
    },
}


def ids(result: FetchResult) -> list[int]:
    return [record_id(record) for record in result.records]


@pytest.fixture
def api(sample_api_factory) -> SampleApi:
    return sample_api_factory(items=TOTAL, auth=AuthRequirement("bearer", secret=TOKEN))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http


def service(api: SampleApi, client: httpx.Client, token: str = TOKEN) -> FetchService:
    return FetchService(httpx_send(client, token), api.url)


@pytest.mark.parametrize("style", list(STYLES))
def test_walks_every_style_to_the_end(api, client, style):
    result = service(api, client).fetch(
        FetchRequest(**STYLES[style], max_pages=1000, max_records=100_000)
    )
    assert ids(result) == list(range(1, TOTAL + 1))
    assert not result.truncated and result.next_cursor is None
    assert result.pages == len(api.requests) == 25
    assert all(r.header("authorization") == f"Bearer {TOKEN}" for r in api.requests)


def test_relative_link_pages(api, client):
    api.relative_links = True
    result = service(api, client).fetch(
        FetchRequest(**STYLES["link"], max_pages=1000, max_records=100_000)
    )
    assert ids(result) == list(range(1, TOTAL + 1))


def test_offset_exact_multiple_of_the_page_size(sample_api_factory, client):
    api = sample_api_factory(items=1000, auth=AuthRequirement("bearer", secret=TOKEN))
    result = service(api, client).fetch(
        FetchRequest(**STYLES["offset"], max_pages=1000, max_records=100_000)
    )
    assert len(result.records) == 1000 and result.pages == 21  # the last page is empty


def test_loop_stops_with_pagination_loop(api, client):
    request = FetchRequest(
        path="/loop/items",
        records_path="data",
        pagination=STYLES["cursor"]["pagination"],
        max_pages=1000,
    )
    with pytest.raises(PaginationLoop) as caught:
        service(api, client).fetch(request)
    assert caught.value.code == "PAGINATION_LOOP"
    assert len(api.requests) == 2


def continue_to_the_end(fetcher: FetchService, request: dict[str, Any]) -> tuple[list[int], int]:
    """Fetch, then follow next_cursor until done; the ids and the number of fetch calls."""
    collected: list[int] = []
    cursor = None
    calls = 0
    while True:
        result = fetcher.fetch(FetchRequest(**request, cursor=cursor))
        calls += 1
        assert len(result.records) <= request.get("max_records", 1000)
        assert result.pages <= request.get("max_pages", 10)
        collected += ids(result)
        assert result.truncated is (result.next_cursor is not None)
        cursor = result.next_cursor
        if cursor is None:
            return collected, calls


@pytest.mark.parametrize("style", list(STYLES))
def test_max_records_continues_exactly(api, client, style):
    request = {**STYLES[style], "max_records": 77, "max_pages": 1000}
    collected, calls = continue_to_the_end(service(api, client), request)
    assert collected == list(range(1, TOTAL + 1))  # no duplicates, no gaps
    assert calls == -(-TOTAL // 77)


@pytest.mark.parametrize("style", list(STYLES))
def test_max_pages_continues_exactly(api, client, style):
    request = {**STYLES[style], "max_pages": 4, "max_records": 100_000}
    fetcher = service(api, client)
    first = fetcher.fetch(FetchRequest(**request))
    assert ids(first) == list(range(1, 201)) and first.pages == 4 and first.truncated
    collected, calls = continue_to_the_end(fetcher, request)
    assert collected == list(range(1, TOTAL + 1))
    assert calls == 7  # 25 pages, 4 at a time
    assert len(api.requests) == 4 + 25  # no page fetched twice by the continuation


def test_default_limits_truncate(api, client):
    result = service(api, client).fetch(FetchRequest(**STYLES["cursor"]))
    assert len(result.records) == 500 and result.pages == 10 and result.truncated


def test_provider_errors_carry_the_status(api, client):
    api.inject("/page/items", status=503, retry_after="1")
    with pytest.raises(ProviderError) as caught:
        service(api, client).fetch(FetchRequest(**STYLES["page"]))
    assert caught.value.details == {"provider_status": 503, "retry_after": 1}
    assert caught.value.retryable
    with pytest.raises(ProviderError) as caught:
        service(api, client, token="forbidden").fetch(FetchRequest(**STYLES["page"]))
    assert caught.value.details == {"provider_status": 403}
    with pytest.raises(ProviderError) as caught:
        service(api, client, token="wrong").fetch(FetchRequest(path="/me"))
    assert caught.value.details == {"provider_status": 401}
    assert not caught.value.retryable


def test_an_error_mid_walk_leaks_no_records(api, client):
    fetcher = service(api, client)
    first = fetcher.fetch(FetchRequest(**STYLES["offset"], max_pages=2))
    api.inject("/offset/items", status=500)
    with pytest.raises(ProviderError) as caught:
        fetcher.fetch(FetchRequest(**STYLES["offset"], max_pages=2, cursor=first.next_cursor))
    assert "Item" not in str(caught.value) and "Item" not in str(caught.value.to_dict())


def test_single_object_without_pagination(api, client):
    result = service(api, client).fetch(FetchRequest(path="/me"))
    assert result.pages == 1 and result.records[0]["id"] == "user-1"


def test_absolute_path_on_the_same_host(api, client):
    result = service(api, client).fetch(
        FetchRequest(path=f"{api.url}/cursor/items?limit=5", records_path="data", pagination=None)
    )
    assert ids(result) == [1, 2, 3, 4, 5]


def test_a_walk_stops_once_it_has_read_its_bytes_and_continues_from_there(api, client):
    # Pages of about a third of what one fetch reads: the walk stops after the page that
    # reaches the limit, with a cursor to the next, however many pages the caller allowed.
    pad = "x" * (MAX_WALK_BYTES // 3 + 1)
    for number in range(1, 5):
        following = f"p{number + 1}" if number < 4 else None
        page = {"data": [{"id": number, "pad": pad}], "meta": {"next_cursor": following}}
        api.inject("/cursor/items", status=200, body=json.dumps(page))
    request = {**STYLES["cursor"], "max_pages": 1000}
    fetcher = service(api, client)

    first = fetcher.fetch(FetchRequest(**request))

    assert ids(first) == [1, 2, 3] and first.pages == 3 and first.truncated
    rest = fetcher.fetch(FetchRequest(**request, cursor=first.next_cursor))
    assert ids(rest) == [4] and not rest.truncated and rest.next_cursor is None
    assert len(api.requests_to("/cursor/items")) == 4


class SlowPages:
    """A monotonic clock on which every page takes ``seconds``: the provider is slow."""

    def __init__(self, api: SampleApi, seconds: float) -> None:
        self._api = api
        self._seconds = seconds

    def __call__(self) -> float:
        return len(self._api.requests) * self._seconds


def test_a_walk_stops_once_its_time_is_spent_and_continues_from_there(api, client):
    request = {**STYLES["cursor"], "max_pages": 1000, "max_records": 100_000}
    per_page = MAX_WALK_SECONDS / 2.5
    fetcher = FetchService(httpx_send(client, TOKEN), api.url, monotonic=SlowPages(api, per_page))

    first = fetcher.fetch(FetchRequest(**request))

    # The third page ends past the walk's time: it stops there, whatever max_pages allows.
    assert ids(first) == list(range(1, 151)) and first.pages == 3 and first.truncated
    rest = fetcher.fetch(FetchRequest(**request, cursor=first.next_cursor))
    assert ids(rest) == list(range(151, 301)) and rest.pages == 3


def test_a_cursor_too_large_to_pass_back_is_never_handed_out(api, client):
    # A GraphQL endCursor goes in the body, where no URL length stops it; a next_cursor
    # carrying it would be one the next fetch refuses (its cursor has a length limit).
    end_cursor = "e" * 120_000
    page = {
        "data": {
            "items": {
                "edges": [{"node": {"id": 1}}],
                "pageInfo": {"hasNextPage": True, "endCursor": end_cursor},
            }
        }
    }
    api.inject("/graphql", status=200, body=json.dumps(page))
    request = {**STYLES["graphql"], "max_pages": 1}

    with pytest.raises(ProviderError) as caught:
        service(api, client).fetch(FetchRequest(**request))

    assert caught.value.code == "PROVIDER_INVALID_RESPONSE" and not caught.value.retryable
    assert end_cursor not in caught.value.message
