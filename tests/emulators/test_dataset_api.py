"""The local dataset API over real HTTP on loopback: mutable records in every pagination style,
the modified-since filter, deletions with and without tombstones, control in process and over
HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tether_emulators.dataset_api import DatasetApi, decode_cursor, encode_cursor


@pytest.fixture
def api() -> Iterator[DatasetApi]:
    with DatasetApi(default_limit=10) as started:
        yield started


@pytest.fixture
def http(api: DatasetApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=10.0) as client:
        yield client


def _walk_cursor(http: httpx.Client, name: str, **params: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = http.get(f"/{name}/cursor", params=query)
        assert answer.status_code == 200
        records += answer.json()["data"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return records


def test_records_are_served_in_id_order_with_their_change_stamp(api, http) -> None:
    ids = api.dataset("invoices").add(3)
    assert ids == [1, 2, 3]
    body = http.get("/invoices/cursor").json()
    assert [r["id"] for r in body["data"]] == [1, 2, 3]
    assert body["next_cursor"] is None
    first = body["data"][0]
    assert first["name"] == "invoices 1" and first["version"] == 1
    assert first["updated_at"].endswith("Z")
    stamps = [datetime.fromisoformat(r["updated_at"]) for r in body["data"]]
    assert stamps == sorted(set(stamps))  # strictly increasing, never shared


def test_every_style_lists_the_same_records(api, http) -> None:
    api.dataset("orders").add(25)
    expected = list(range(1, 26))
    assert [r["id"] for r in _walk_cursor(http, "orders", limit=7)] == expected

    search, cursor = [], None
    while True:
        answer = http.post("/orders/search", json={"limit": 7, "cursor": cursor}).json()
        search += [r["id"] for r in answer["data"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert search == expected

    pages = [
        r["id"]
        for page in range(1, 5)
        for r in http.get("/orders/page", params={"page": page, "per_page": 7}).json()["items"]
    ]
    assert pages == expected
    offsets = [
        r["id"]
        for offset in range(0, 28, 7)
        for r in http.get("/orders/offset", params={"offset": offset, "limit": 7}).json()["results"]
    ]
    assert offsets == expected

    linked, url = [], "/orders/link?per_page=7"
    while url:
        answer = http.get(url)
        linked += [r["id"] for r in answer.json()]
        url = answer.links.get("next", {}).get("url")
    assert linked == expected
    assert answer.headers["X-Total-Count"] == "25"

    graphql, after = [], None
    while True:
        variables = {"first": 7, "after": after}
        data = http.post("/orders/graphql", json={"query": "{ records }", "variables": variables})
        connection = data.json()["data"]["records"]
        graphql += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert graphql == expected


def test_modified_since_returns_exactly_what_changed_after_it(api, http) -> None:
    dataset = api.dataset("invoices")
    dataset.add(1234)
    mark = max(r["updated_at"] for r in dataset.records())
    dataset.update([10, 20, 30])
    dataset.delete([40, 50])
    dataset.add(5)

    changed = _walk_cursor(http, "invoices", updated_since=mark, limit=100)
    assert [r["id"] for r in changed] == [10, 20, 30, 1235, 1236, 1237, 1238, 1239]
    assert [r["version"] for r in changed[:3]] == [2, 2, 2]
    everything = _walk_cursor(http, "invoices", limit=1000)
    ids = [r["id"] for r in everything]
    assert len(ids) == 1234 - 2 + 5 and 40 not in ids and 50 not in ids
    assert http.get("/invoices/page", params={"updated_since": mark}).json()["total"] == 8


def test_a_tombstone_dataset_keeps_deletions_listed_as_changes(api, http) -> None:
    dataset = api.dataset("files", tombstones=True)
    dataset.add(5)
    mark = max(r["updated_at"] for r in dataset.records())
    assert dataset.delete([2]) == [2]
    changed = _walk_cursor(http, "files", updated_since=mark)
    assert [(r["id"], r.get("deleted")) for r in changed] == [(2, True)]
    assert dataset.ids() == [1, 3, 4, 5]
    with pytest.raises(KeyError):
        dataset.update([2])  # a deleted record is not changed again


def test_a_cursor_walk_sees_each_record_once_while_records_are_added(api, http) -> None:
    dataset = api.dataset("events")
    dataset.add(500)
    started = threading.Event()

    def add_while_walking() -> None:
        started.wait(5)
        for _ in range(100):
            dataset.add(3)

    writer = threading.Thread(target=add_while_walking)
    writer.start()
    seen: list[int] = []
    cursor = None
    while True:
        answer = http.get("/events/cursor", params={"limit": 20, "cursor": cursor or ""}).json()
        started.set()
        seen += [record["id"] for record in answer["data"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    writer.join()
    assert len(seen) == len(set(seen)) and seen == sorted(seen)  # none twice, in order
    assert seen[:500] == list(range(1, 501))  # none that existed at the start was missed
    assert seen == list(range(1, len(seen) + 1))  # added ones are seen without gaps


def test_control_over_http(api, http) -> None:
    assert http.post("/_control/contacts/add", json={"count": 4}).json() == {"ids": [1, 2, 3, 4]}
    assert http.post("/_control/contacts/update", json={"ids": [2]}).json() == {"ids": [2]}
    assert http.post("/_control/contacts/delete", json={"ids": [3]}).json() == {"ids": [3]}
    state = http.get("/_control/contacts").json()
    assert state["count"] == 3 and state["deleted"] == 0
    assert [(r["id"], r["version"]) for r in state["records"]] == [(1, 1), (2, 2), (4, 1)]
    assert api.dataset("contacts").ids() == [1, 2, 4]

    missing = http.post("/_control/contacts/update", json={"ids": [2, 99]})
    assert missing.status_code == 404 and "99" in missing.json()["error"]
    assert api.dataset("contacts").records()[1]["version"] == 2  # nothing changed
    assert http.post("/_control/contacts/delete", json={"ids": ["2"]}).status_code == 400
    assert http.post("/_control/contacts/add", json={"count": -1}).status_code == 400
    assert http.post("/_control/contacts/rename", json={}).status_code == 404
    assert http.get("/_control/contacts/add").status_code == 405


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/invoices/cursor", {"params": {"cursor": "nope"}}, 400),
        ("GET", "/invoices/cursor", {"params": {"limit": "x"}}, 400),
        ("GET", "/invoices/cursor", {"params": {"updated_since": "yesterday"}}, 400),
        ("GET", "/invoices/page", {"params": {"page": 0}}, 400),
        ("GET", "/invoices/offset", {"params": {"offset": -1}}, 400),
        ("GET", "/invoices/scroll", {}, 404),
        ("GET", "/in-voices/cursor", {}, 404),
        ("POST", "/invoices/cursor", {}, 405),
        ("GET", "/invoices/search", {}, 405),
        ("POST", "/invoices/search", {"content": b"[1]"}, 400),
        ("POST", "/invoices/graphql", {"json": {"variables": {}}}, 400),
    ],
)
def test_bad_requests_are_refused(http, method, path, kwargs, status) -> None:
    assert http.request(method, path, **kwargs).status_code == status


def test_page_sizes_are_capped_and_cursors_are_opaque() -> None:
    with DatasetApi(default_limit=5, max_limit=8) as small, httpx.Client(base_url=small.url) as c:
        small.dataset("items").add(20)
        assert len(c.get("/items/cursor").json()["data"]) == 5
        assert len(c.get("/items/cursor", params={"limit": 100}).json()["data"]) == 8
    assert decode_cursor(encode_cursor(41)) == 41
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(encode_cursor(41)[:-2] + "!!")


def test_an_injected_clock_stamps_changes() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with DatasetApi(clock=lambda: moment) as fixed:
        dataset = fixed.dataset("items")
        dataset.add(2)
        stamps = [r["updated_at"] for r in dataset.records()]
    assert stamps == ["2026-01-02T03:04:05.000Z", "2026-01-02T03:04:05.001Z"]
    assert datetime.fromisoformat(stamps[1]) - datetime.fromisoformat(stamps[0]) == timedelta(
        milliseconds=1
    )
