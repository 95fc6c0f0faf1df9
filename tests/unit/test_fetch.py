"""FetchService with a fake ``send``: paths and hosts, one-request fetches, pagination walks,
limits and continuation cursors, provider errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from tether.domain.errors import InvalidRequest, TetherError
from tether.fetch.service import FetchRequest, FetchResult, FetchService, ProviderError
from tether.http.model import OutboundResponse
from tether.http.pagination import (
    CursorPagination,
    LinkPagination,
    OffsetPagination,
    PaginationError,
    PaginationLoop,
    RecordsPathError,
)
from tether.http.redact import Redactor

BASE = "https://api.example.com/v1"


def response(body: Any = None, status: int = 200, headers: Mapping[str, str] | None = None):
    content = b"" if body is None else json.dumps(body).encode()
    return OutboundResponse(
        status=status, headers=dict(headers or {}), content=content, url="redacted", elapsed_ms=1
    )


@dataclass
class FakeSend:
    """Answers with ``answer(call)``; records every call."""

    answer: Callable[[dict[str, Any]], OutboundResponse]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, method, url, *, params, json, headers):
        call = {"method": method, "url": url, "params": params, "json": json, "headers": headers}
        self.calls.append(call)
        return self.answer(call)


def fixed(*responses: OutboundResponse) -> FakeSend:
    queue = list(responses)
    return FakeSend(lambda call: queue.pop(0))


def dataset(total: int) -> list[dict[str, Any]]:
    return [{"id": i} for i in range(1, total + 1)]


def cursor_api(total: int, per_page: int = 10) -> FakeSend:
    """A cursor API: ``?cursor=<last id>``, body ``{"data", "meta": {"next_cursor"}}``."""

    def answer(call):
        after = int(call["params"].get("cursor") or 0)
        page = dataset(total)[after : after + per_page]
        more = after + per_page < total
        return response(
            {"data": page, "meta": {"next_cursor": str(after + per_page) if more else None}}
        )

    return FakeSend(answer)


def offset_api(total: int) -> FakeSend:
    def answer(call):
        offset, limit = int(call["params"]["offset"]), int(call["params"]["limit"])
        return response({"results": dataset(total)[offset : offset + limit]})

    return FakeSend(answer)


CURSOR = CursorPagination(cursor_path="meta.next_cursor", cursor_param="cursor")


def ids(result: FetchResult) -> list[int]:
    return [record["id"] for record in result.records]


# -- the request model ------------------------------------------------------------------------


def test_request_defaults_and_limits():
    request = FetchRequest()
    assert (request.method, request.path, request.max_pages, request.max_records) == (
        "GET",
        "",
        10,
        1000,
    )
    assert FetchRequest(method="post", body={"q": 1}).method == "POST"
    for bad in (
        {"max_pages": 1001},
        {"max_pages": 0},
        {"max_records": 100_001},
        {"method": "DELETE"},
        {"body": {"a": 1}},  # GET with a body
        {"records_path": "a..b"},
        {"unknown": 1},
        {"pagination": {"type": "cursor", "cursor_path": "x"}},
        {"params": {"": "x"}},
        {"params": {"q": "x" * 20_000}},
        {"method": "POST", "body": {"q": "x" * 40_000}},
    ):
        with pytest.raises(ValidationError):
            FetchRequest.model_validate(bad)


def test_base_url_must_be_http():
    with pytest.raises(InvalidRequest) as caught:
        FetchService(fixed(), "ftp://files.example.com")
    assert caught.value.code == "INVALID_BASE_URL"


# -- paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "url", "params"),
    [
        ("/users", f"{BASE}/users", {}),
        ("users", f"{BASE}/users", {}),
        ("", BASE, {}),
        ("/users?active=true&limit=5", f"{BASE}/users", {"active": "true", "limit": "5"}),
        ("https://api.example.com/v2/other", "https://api.example.com/v2/other", {}),
        ("HTTPS://API.example.com:443/x#frag", "https://API.example.com:443/x", {}),
        ("//evil.example.com/x", f"{BASE}/evil.example.com/x", {}),
        ("/a?tag=1&tag=2", f"{BASE}/a?tag=1&tag=2", None),  # a repeated name: all in the URL
    ],
)
def test_paths_resolve_under_the_base_url(path, url, params):
    send = fixed(response([]))
    FetchService(send, BASE).fetch(FetchRequest(path=path))
    assert send.calls[0]["url"] == url
    assert send.calls[0]["params"] == params


def test_repeated_query_names_with_params_all_go_in_the_url():
    send = fixed(response([]))
    FetchService(send, BASE).fetch(FetchRequest(path="/a?tag=1&tag=2", params={"n": 3}))
    assert send.calls[0]["url"] == f"{BASE}/a?tag=1&tag=2&n=3"
    assert send.calls[0]["params"] is None


def test_explicit_params_win_over_the_paths_query_and_are_text():
    send = fixed(response([]))
    FetchService(send, BASE).fetch(
        FetchRequest(path="/u?limit=5&x=1", params={"limit": 10, "flag": True, "r": 0.5})
    )
    assert send.calls[0]["params"] == {"limit": "10", "x": "1", "flag": "true", "r": "0.5"}
    assert send.calls[0]["headers"]["Accept"] == "application/json"


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example.com/v1/users",
        "http://api.example.com/v1/users",  # scheme downgrade
        "https://api.example.com:8443/v1/users",
        "https://api.example.com.evil.test/",
        "ftp://api.example.com/v1",
        "/users with space",
        "/users\r\nX-Injected: 1",
        # user info: credentials of the caller's own (the connection's are the only ones sent)
        "https://robot:hunter22@api.example.com/v1/users",
        "https://evil.test@api.example.com/v1/users",
    ],
)
def test_other_hosts_and_unsafe_paths_are_refused(path):
    send = fixed()
    with pytest.raises(InvalidRequest) as caught:
        FetchService(send, BASE).fetch(FetchRequest(path=path))
    assert caught.value.code == "INVALID_PATH"
    assert send.calls == []


# -- one request ------------------------------------------------------------------------------


def test_without_pagination_one_request():
    send = fixed(response({"data": {"items": [{"id": 1}, {"id": 2}]}, "next": "ignored"}))
    result = FetchService(send, BASE).fetch(FetchRequest(path="/x", records_path="data.items"))
    assert result == FetchResult(records=[{"id": 1}, {"id": 2}], pages=1)
    assert len(send.calls) == 1


def test_list_body_object_body_and_empty_body():
    service = FetchService(fixed(response([1, 2, 3])), BASE)
    assert service.fetch(FetchRequest()).records == [1, 2, 3]
    service = FetchService(fixed(response({"id": "me"})), BASE)
    assert service.fetch(FetchRequest()).records == [{"id": "me"}]
    service = FetchService(fixed(response({"shop": {"id": 9}})), BASE)
    assert service.fetch(FetchRequest(records_path="shop")).records == [{"id": 9}]
    service = FetchService(fixed(response(None, status=204)), BASE)
    assert service.fetch(FetchRequest()) == FetchResult(records=[], pages=1)


def test_records_path_that_is_not_there():
    service = FetchService(fixed(response({"data": []})), BASE)
    with pytest.raises(RecordsPathError) as caught:
        service.fetch(FetchRequest(records_path="items"))
    assert caught.value.code == "INVALID_RECORDS_PATH"


def test_post_sends_the_json_body():
    send = fixed(response({"rows": [1]}))
    FetchService(send, BASE).fetch(
        FetchRequest(method="POST", path="/search", body={"q": "x"}, records_path="rows")
    )
    assert send.calls[0]["method"] == "POST"
    assert send.calls[0]["json"] == {"q": "x"}


def test_max_records_without_pagination_and_continuation():
    send = FakeSend(lambda call: response(dataset(5)))
    service = FetchService(send, BASE)
    first = service.fetch(FetchRequest(max_records=3))
    assert ids(first) == [1, 2, 3]
    assert first.truncated and first.next_cursor
    rest = service.fetch(FetchRequest(max_records=3, cursor=first.next_cursor))
    assert ids(rest) == [4, 5]
    assert not rest.truncated and rest.next_cursor is None


# -- provider errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (404, False), (429, True), (503, True), (301, False)]
)
def test_non_2xx_is_a_provider_error_without_the_body(status, retryable):
    body = {"error": "nope", "records": [{"email": "alice@example.com"}]}
    service = FetchService(fixed(response(body, status, {"Retry-After": "7"})), BASE)
    with pytest.raises(ProviderError) as caught:
        service.fetch(FetchRequest())
    error = caught.value
    assert isinstance(error, TetherError)
    assert error.code == "PROVIDER_ERROR"
    assert error.http_status == 502
    assert error.details == {"provider_status": status, "retry_after": 7}
    assert error.retryable is retryable
    assert "alice" not in str(error) and "alice" not in json.dumps(error.to_dict())


@pytest.mark.parametrize("odd", ["\xb2", "\u0661", "9" * 40, "soon"])
def test_a_retry_after_that_is_not_ascii_digits_is_left_out(odd):
    # "²" passes str.isdigit() and fails int(); "\u0661" (Arabic-Indic one) int() reads as 1
    service = FetchService(fixed(response({}, 429, {"Retry-After": odd})), BASE)
    with pytest.raises(ProviderError) as caught:
        service.fetch(FetchRequest())
    assert caught.value.details == {"provider_status": 429}


@pytest.mark.parametrize("content", [b"NaN", b'{"n": Infinity}', b"[-Infinity]", b'{"n": 1e400}'])
def test_an_answer_with_non_finite_numbers_is_not_json(content):
    bad = OutboundResponse(status=200, headers={}, content=content, url="u", elapsed_ms=1)
    with pytest.raises(ProviderError) as caught:
        FetchService(fixed(bad), BASE).fetch(FetchRequest())
    assert caught.value.code == "PROVIDER_INVALID_RESPONSE"


@pytest.mark.parametrize(
    "state",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"v":1,"m":"GET","t":null,"u":"https://api.example.com/\\ud800"}',
    ],
)
def test_a_hostile_cursor_is_an_invalid_cursor(state):
    cursor = base64.urlsafe_b64encode(state).decode()
    with pytest.raises(InvalidRequest) as caught:
        FetchService(fixed(), BASE).fetch(FetchRequest(cursor=cursor, pagination=None))
    assert caught.value.code == "INVALID_CURSOR"


def test_error_on_a_later_page_stops_the_walk():
    send = fixed(
        response({"data": [1], "meta": {"next_cursor": "2"}}),
        response({"message": "boom"}, 500),
    )
    with pytest.raises(ProviderError) as caught:
        FetchService(send, BASE, CURSOR).fetch(FetchRequest(records_path="data"))
    assert caught.value.details == {"provider_status": 500}


def test_non_json_answer():
    bad = OutboundResponse(status=200, headers={}, content=b"<html>", url="u", elapsed_ms=1)
    with pytest.raises(ProviderError) as caught:
        FetchService(fixed(bad), BASE).fetch(FetchRequest())
    assert caught.value.code == "PROVIDER_INVALID_RESPONSE"


def test_graphql_errors_are_provider_errors():
    body = {"data": None, "errors": [{"message": "secret detail"}]}
    service = FetchService(fixed(response(body)), BASE)
    request = FetchRequest(
        method="POST",
        path="/graphql",
        body={"query": "{ items { edges { node { id } } } }"},
        records_path="data.items.edges",
        pagination={"type": "graphql"},
    )
    with pytest.raises(ProviderError) as caught:
        service.fetch(request)
    assert caught.value.code == "PROVIDER_GRAPHQL_ERROR"
    assert "secret detail" not in caught.value.message


# -- pagination walks -------------------------------------------------------------------------


def test_default_pagination_walks_to_the_end():
    send = cursor_api(95)
    result = FetchService(send, BASE, CURSOR).fetch(
        FetchRequest(path="/items", records_path="data", max_pages=100)
    )
    assert ids(result) == list(range(1, 96))
    assert result.pages == 10 and not result.truncated and result.next_cursor is None
    assert [call["params"].get("cursor") for call in send.calls][:3] == [None, "10", "20"]


def test_explicit_null_pagination_overrides_the_default():
    send = cursor_api(95)
    result = FetchService(send, BASE, CURSOR).fetch(
        FetchRequest(path="/items", records_path="data", pagination=None)
    )
    assert result.pages == 1 and len(result.records) == 10 and not result.truncated


def test_request_pagination_overrides_the_default():
    send = offset_api(25)
    result = FetchService(send, BASE, CURSOR).fetch(
        FetchRequest(records_path="results", pagination={"type": "offset", "limit": 10})
    )
    assert ids(result) == list(range(1, 26))
    assert [call["params"]["offset"] for call in send.calls] == ["0", "10", "20"]


def test_offset_exact_multiple_needs_one_empty_page():
    send = offset_api(20)
    result = FetchService(send, BASE, OffsetPagination(limit=10)).fetch(
        FetchRequest(records_path="results")
    )
    assert len(result.records) == 20 and result.pages == 3


def test_max_pages_truncates_with_a_cursor_that_continues():
    send = cursor_api(95)
    service = FetchService(send, BASE, CURSOR)
    request = {"path": "/items", "records_path": "data", "max_pages": 3}
    first = service.fetch(FetchRequest(**request))
    assert ids(first) == list(range(1, 31))
    assert first.pages == 3 and first.truncated and first.next_cursor is not None
    collected = ids(first)
    cursor = first.next_cursor
    while cursor:
        more = service.fetch(FetchRequest(**request, cursor=cursor))
        collected += ids(more)
        cursor = more.next_cursor
    assert collected == list(range(1, 96))


@pytest.mark.parametrize("max_records", [1, 7, 10, 15, 33, 94, 95])
def test_max_records_mid_page_continues_without_gaps_or_duplicates(max_records):
    service = FetchService(cursor_api(95), BASE, CURSOR)
    collected: list[int] = []
    cursor = None
    calls = 0
    while True:
        result = service.fetch(
            FetchRequest(
                records_path="data", max_records=max_records, max_pages=1000, cursor=cursor
            )
        )
        calls += 1
        assert len(result.records) <= max_records
        collected += ids(result)
        cursor = result.next_cursor
        assert result.truncated is (cursor is not None)
        if cursor is None:
            break
    assert collected == list(range(1, 96))
    assert calls == -(-95 // max_records)


def test_records_exactly_at_the_end_are_not_truncated():
    result = FetchService(cursor_api(30), BASE, CURSOR).fetch(
        FetchRequest(records_path="data", max_records=30)
    )
    assert len(result.records) == 30 and not result.truncated and result.next_cursor is None


def test_loop_raises():
    send = FakeSend(lambda call: response({"data": [1], "meta": {"next_cursor": "again"}}))
    with pytest.raises(PaginationLoop) as caught:
        FetchService(send, BASE, CURSOR).fetch(FetchRequest(records_path="data"))
    assert caught.value.code == "PAGINATION_LOOP"
    assert len(send.calls) == 2


def test_link_to_another_host_is_not_followed():
    send = fixed(response([1], headers={"Link": '<https://evil.example.net/steal>; rel="next"'}))
    with pytest.raises(PaginationError) as caught:
        FetchService(send, BASE, LinkPagination()).fetch(FetchRequest())
    assert caught.value.code == "PAGINATION_OFF_HOST"
    assert len(send.calls) == 1


def test_relative_link_is_followed_with_its_own_query():
    send = fixed(
        response([1], headers={"Link": '</v1/items?page=2>; rel="next"'}),
        response([2]),
    )
    result = FetchService(send, BASE, LinkPagination()).fetch(
        FetchRequest(path="/items", params={"page": 1})
    )
    assert result.records == [1, 2]
    # The link's query travels as parameters (clients differ on merging a URL's query).
    assert send.calls[1]["url"] == "https://api.example.com/v1/items"
    assert send.calls[1]["params"] == {"page": "2"}


def test_echoed_credentials_are_masked_in_records_and_in_the_cursor():
    """An API that echoes its API key in records and in its next-page link: the walk follows
    the link, and neither the records nor the cursor handed back hold the key."""
    secret = "k3y/with+odd=chars&more"
    encoded = "k3y%2Fwith%2Bodd%3Dchars%26more"
    next_link = f'</v1/items?page=2&api_key={encoded}>; rel="next"'
    send = fixed(
        response(
            [{"seen_key": secret, secret: "as a key", "n": [1, {"deep": f"x{secret}y"}]}],
            headers={"Link": next_link},
        ),
    )
    service = FetchService(send, BASE, LinkPagination(), redact=Redactor([secret]).scrub)
    result = service.fetch(FetchRequest(path="/items", max_pages=1))
    assert result.records == [
        {"seen_key": "[REDACTED]", "[REDACTED]": "as a key", "n": [1, {"deep": "x[REDACTED]y"}]}
    ]
    assert result.truncated and result.next_cursor is not None
    state = base64.urlsafe_b64decode(result.next_cursor + "=" * (-len(result.next_cursor) % 4))
    assert secret not in state.decode() and encoded not in state.decode()


def test_without_a_redactor_records_pass_unchanged():
    send = fixed(response([{"k": "k3y/with+odd=chars"}]))
    assert FetchService(send, BASE).fetch(FetchRequest()).records == [{"k": "k3y/with+odd=chars"}]


def test_graphql_walk_through_the_fake():
    def answer(call):
        after = int(call["json"].get("variables", {}).get("after") or 0)
        nodes = [{"node": {"id": i}} for i in range(after + 1, min(after + 5, 12) + 1)]
        last = after + len(nodes)
        info = {"hasNextPage": last < 12, "endCursor": str(last)}
        return response({"data": {"things": {"edges": nodes, "pageInfo": info}}})

    send = FakeSend(answer)
    result = FetchService(send, BASE).fetch(
        FetchRequest(
            method="POST",
            path="/graphql",
            body={"query": "query($after: String) { things(after: $after) { ... } }"},
            records_path="data.things.edges",
            pagination={"type": "graphql"},
        )
    )
    assert [edge["node"]["id"] for edge in result.records] == list(range(1, 13))
    assert [call["json"].get("variables") for call in send.calls] == [
        None,
        {"after": "5"},
        {"after": "10"},
    ]


def test_graphql_pagination_needs_post_and_a_query():
    service = FetchService(fixed(), BASE, {"type": "graphql"})
    with pytest.raises(PaginationError):
        service.fetch(FetchRequest(records_path="data.x.edges"))


# -- cursors ----------------------------------------------------------------------------------


def encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def truncated_cursor() -> str:
    result = FetchService(cursor_api(50), BASE, CURSOR).fetch(
        FetchRequest(records_path="data", max_pages=1)
    )
    assert result.next_cursor is not None
    return result.next_cursor


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!not-base64!!!",
        encode({"v": 99}),
        encode([1, 2]),
        encode({"v": 1, "m": "GET", "t": "cursor", "u": BASE, "p": {"a": 1}, "s": 0}),
        encode({"v": 1, "m": "GET", "t": "cursor", "u": BASE, "p": {}, "s": -1}),
        encode({"v": 1, "m": "GET", "t": "cursor", "u": "https://evil.test/x", "p": {}, "s": 0}),
        encode({"v": 1, "m": "GET", "t": "offset", "u": BASE, "p": {}, "s": 0}),
        encode({"v": 1, "m": "POST", "t": "cursor", "u": BASE, "p": {}, "s": 0}),
        encode({"v": 1, "m": "GET", "t": "cursor", "u": f"{BASE}/x\r\nX: 1", "p": {}, "s": 0}),
        encode(
            {"v": 1, "m": "GET", "t": "cursor", "u": "https://u:p@api.example.com/v1", "p": {}}
            | {"s": 0}
        ),
    ],
)
def test_bad_cursors_are_refused(cursor):
    send = fixed()
    with pytest.raises(InvalidRequest) as caught:
        FetchService(send, BASE, CURSOR).fetch(FetchRequest(records_path="data", cursor=cursor))
    assert caught.value.code == "INVALID_CURSOR"
    assert send.calls == []


def test_cursor_is_opaque_base64url_json():
    cursor = truncated_cursor()
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert state["u"] == BASE and state["p"] == {"cursor": "10"} and state["s"] == 0


def test_a_continued_walk_still_detects_loops():
    send = FakeSend(lambda call: response({"data": [1], "meta": {"next_cursor": "10"}}))
    with pytest.raises(PaginationLoop):
        FetchService(send, BASE, CURSOR).fetch(
            FetchRequest(records_path="data", cursor=truncated_cursor())
        )


def test_a_cursor_for_the_largest_request_is_accepted_back():
    def answer(call):
        after = int(call["json"].get("variables", {}).get("after") or 0)
        info = {"hasNextPage": True, "endCursor": str(after + 1)}
        return response({"data": {"x": {"edges": [{"id": after + 1}], "pageInfo": info}}})

    request = {
        "method": "POST",
        "path": "/graphql",
        "body": {"query": "{ x }" + " " * 31_000},
        "params": {f"p{i}": "v" * 100 for i in range(140)},
        "records_path": "data.x.edges",
        "pagination": {"type": "graphql"},
        "max_pages": 1,
    }
    service = FetchService(FakeSend(answer), BASE)
    first = service.fetch(FetchRequest(**request))
    assert first.next_cursor is not None
    second = service.fetch(FetchRequest(**request, cursor=first.next_cursor))
    assert second.records == [{"id": 2}]
