"""The page walker over the local dataset API, in every pagination style, over real HTTP on
loopback: a full walk sees every record once; an incremental walk (the watermark as the
style's modified-since parameter) sees exactly the changes; a walk stopped after any page goes
on from its saved state (through JSON, in a new walker) with no record twice and none lost;
tombstones are read as deletions; records without an id are skipped, not fatal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.fetch_over_httpx import httpx_send
from tether.domain.errors import TetherError
from tether.fetch.service import FetchService
from tether.sync import SyncDefinition
from tether.sync.walker import PageWalker, WalkState
from tether_emulators.dataset_api import DatasetApi

TOTAL = 1234
QUERY = (
    "query($first: Int, $after: String, $updatedSince: String) { records(first: $first, "
    "after: $after, updatedSince: $updatedSince) { edges { node { id updated_at } } "
    "pageInfo { hasNextPage endCursor } } }"
)
SINCE = {"format": "iso8601"}


def _definition(**fields: Any) -> SyncDefinition:
    return SyncDefinition.model_validate(
        {"model": "Invoice", "frequency": "1h", "updated_at_path": "updated_at", **fields}
    )


# Each style of the dataset API as a sync definition, with its modified-since parameter.
STYLES: dict[str, dict[str, Any]] = {
    "cursor": {
        "request": {"path": "/invoices/cursor", "params": {"limit": 50}},
        "records_path": "data",
        "id_path": "id",
        "pagination": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
        "incremental": {"param": "updated_since", **SINCE},
    },
    "cursor in the body": {
        "request": {"path": "/invoices/search", "method": "POST", "body": {"limit": 50}},
        "records_path": "data",
        "id_path": "id",
        "pagination": {
            "type": "cursor",
            "cursor_path": "next_cursor",
            "cursor_param": "cursor",
            "param_in": "body",
        },
        "incremental": {"param": "updated_since", "param_in": "body", **SINCE},
    },
    "page": {
        "request": {"path": "/invoices/page"},
        "records_path": "items",
        "id_path": "id",
        "pagination": {
            "type": "page",
            "page_param": "page",
            "limit_param": "per_page",
            "limit": 50,
        },
        "incremental": {"param": "updated_since", **SINCE},
    },
    "offset": {
        "request": {"path": "/invoices/offset"},
        "records_path": "results",
        "id_path": "id",
        "pagination": {"type": "offset", "limit": 50},
        "incremental": {"param": "updated_since", **SINCE},
    },
    "link": {
        "request": {"path": "/invoices/link", "params": {"per_page": 50}},
        "id_path": "id",
        "pagination": {"type": "link"},
        "incremental": {"param": "updated_since", **SINCE},
    },
    "graphql": {
        "request": {
            "path": "/invoices/graphql",
            "method": "POST",
            "body": {"query": QUERY, "variables": {"first": 50}},
        },
        "records_path": "data.records.edges",
        "id_path": "node.id",
        "updated_at_path": "node.updated_at",
        "pagination": {"type": "graphql"},
        "incremental": {"param": "variables.updatedSince", "param_in": "body", **SINCE},
    },
}


class Clock:
    """The dataset's clock, a second a change: the modified-since values of these
    definitions are whole seconds (an exact watermark, so "exactly the changes" holds)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(clock: Clock) -> Iterator[DatasetApi]:
    with DatasetApi(clock=clock) as started:
        started.dataset("invoices").add(TOTAL)
        yield started


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as opened:
        yield opened


def _walker(api: DatasetApi, client: httpx.Client, style: str, **extra: Any) -> PageWalker:
    fetch = FetchService(httpx_send(client), api.url)
    return PageWalker(fetch, _definition(**{**STYLES[style], **extra}))


def _ids(walker: PageWalker, **kwargs: Any) -> list[int]:
    return [int(r.id) for page in walker.walk(**kwargs) for r in page.records]


@pytest.mark.parametrize("style", list(STYLES))
def test_a_full_walk_sees_every_record_once_with_its_updated_at(api, client, style) -> None:
    pages = list(_walker(api, client, style).walk())
    assert [page.number for page in pages] == list(range(1, 26))
    assert all(page.next is not None for page in pages[:-1]) and pages[-1].next is None
    records = [r for page in pages for r in page.records]
    assert [int(r.id) for r in records] == list(range(1, TOTAL + 1))
    served = {row["id"]: row["updated_at"] for row in api.dataset("invoices").records()}
    assert all(r.updated_at is not None for r in records)
    assert all(
        r.updated_at == datetime.fromisoformat(served[int(r.id)]) for r in records
    ) and not any(r.deleted for r in records)


@pytest.mark.parametrize("style", list(STYLES))
def test_an_incremental_walk_sees_exactly_the_changes_since_the_watermark(
    api, client, clock, style
) -> None:
    walker = _walker(api, client, style)
    watermark = max(r.updated_at for p in walker.walk() for r in p.records)
    clock.now += timedelta(minutes=1)
    dataset = api.dataset("invoices")
    dataset.update([3, 600, 1234])
    dataset.delete([7, 8])
    added = dataset.add(5)
    assert _ids(walker, since=watermark) == [3, 600, 1234, *added]
    assert len(_ids(walker)) == TOTAL - 2 + 5


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("stop_after", [1, 13, 24])
def test_a_walk_goes_on_from_its_saved_state_in_a_new_walker(
    api, client, style, stop_after
) -> None:
    seen: list[int] = []
    saved: str | None = None
    for page in _walker(api, client, style).walk():
        seen.extend(int(r.id) for r in page.records)
        if page.number == stop_after:
            assert page.next is not None
            saved = json.dumps(page.next.to_json())
            break
    assert saved is not None
    state = WalkState.from_json(json.loads(saved))
    resumed = list(_walker(api, client, style).walk(resume=state))
    assert resumed[0].number == stop_after + 1 and resumed[-1].number == 25
    seen.extend(int(r.id) for page in resumed for r in page.records)
    assert seen == list(range(1, TOTAL + 1))


def test_an_incremental_walk_resumes_with_its_modified_since_value(api, client, clock) -> None:
    walker = _walker(
        api, client, "cursor", request={"path": "/invoices/cursor", "params": {"limit": 2}}
    )
    watermark = max(r.updated_at for p in walker.walk() for r in p.records)
    clock.now += timedelta(minutes=1)
    api.dataset("invoices").update([10, 20, 30, 40, 50])
    first = next(iter(walker.walk(since=watermark)))
    assert first.next is not None
    state = WalkState.from_json(json.loads(json.dumps(first.next.to_json())))
    rest = [int(r.id) for page in walker.walk(resume=state) for r in page.records]
    assert [int(r.id) for r in first.records] + rest == [10, 20, 30, 40, 50]


def test_a_header_modified_since_goes_on_every_page(api, client) -> None:
    sent: list[str | None] = []

    def send(method: str, url: str, **kwargs: Any) -> Any:
        sent.append((kwargs.get("headers") or {}).get("X-Since"))
        return httpx_send(client)(method, url, **kwargs)

    definition = _definition(
        **{**STYLES["offset"], "incremental": {"param": "X-Since", "param_in": "header", **SINCE}}
    )
    walker = PageWalker(FetchService(send, api.url), definition)
    list(walker.walk(since=datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert len(sent) == 25 and set(sent) == {"2020-01-02T03:04:05Z"}


def test_tombstones_are_read_as_deletions(client) -> None:
    with DatasetApi() as api:
        dataset = api.dataset("files", tombstones=True)
        dataset.add(120)
        dataset.delete([5, 77])
        walker = PageWalker(
            FetchService(httpx_send(client), api.url),
            _definition(
                **{**STYLES["cursor"], "request": {"path": "/files/cursor"}},
                deletes={"tombstone_path": "deleted"},
            ),
        )
        records = [r for page in walker.walk() for r in page.records]
    assert len(records) == 120
    assert sorted(int(r.id) for r in records if r.deleted) == [5, 77]


def test_records_without_a_usable_id_are_skipped_not_fatal(api, client) -> None:
    walker = _walker(api, client, "cursor", id_path="missing")
    pages = list(walker.walk())
    assert sum(page.skipped for page in pages) == TOTAL
    assert not any(page.records for page in pages)


def test_a_state_that_is_not_one_of_ours_is_refused() -> None:
    for state in ({}, {"v": 1, "url": 3}, {"v": 1, "url": "x", "params": {}, "headers": {}}):
        with pytest.raises(TetherError) as raised:
            WalkState.from_json(state)
        assert raised.value.code == "INVALID_WALK_STATE"
