"""The named quirk hooks of syncs, with each provider's documented request and response
shapes, and the generic parts they build on (timestamps, where the modified-since value goes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tether.http.pagination import PageRequest, first_request, next_request
from tether.sync import SyncDefinition, parse_definition
from tether.sync.hooks import (
    HOOK_KINDS,
    NEXT_CURSOR_HOOKS,
    REQUEST_HOOKS,
    UPDATED_AT_HOOKS,
    registered,
)
from tether.sync.outgoing import OutgoingRequest, set_body_path, with_modified_since
from tether.sync.timestamps import format_since, parse_updated_at

MOMENT = datetime(2024, 6, 1, 12, 30, 5, 250_000, tzinfo=UTC)


def _definition(**fields: Any) -> SyncDefinition:
    base: dict[str, Any] = {
        "model": "Thing",
        "request": {"path": "/things"},
        "id_path": "id",
        "frequency": "1h",
    }
    return parse_definition(base | fields)


def _first(definition: SyncDefinition) -> OutgoingRequest:
    request = definition.request
    page = PageRequest(
        url="https://api.example.com" + request.path,
        params={name: str(value) for name, value in request.params.items()},
        body=request.body,
    )
    return OutgoingRequest(page=first_request(definition.pagination, page))


# -- timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("iso8601", "2024-06-01T12:30:05Z"),
        ("iso8601_date", "2024-06-01"),
        ("unix", "1717245005"),
        ("unix_ms", "1717245005250"),
    ],
)
def test_format_since(fmt: Any, expected: str) -> None:
    assert format_since(MOMENT, fmt) == expected
    shifted = MOMENT.astimezone(timezone(timedelta(hours=-7)))
    assert format_since(shifted, fmt) == expected  # always written in UTC


def test_format_since_refuses_a_naive_moment() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_since(datetime(2024, 6, 1), "iso8601")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-06-01T12:30:05Z", datetime(2024, 6, 1, 12, 30, 5, tzinfo=UTC)),
        ("2024-06-01T05:30:05-07:00", datetime(2024, 6, 1, 12, 30, 5, tzinfo=UTC)),
        ("2024-06-01T12:30:05", datetime(2024, 6, 1, 12, 30, 5, tzinfo=UTC)),
        ("2024-06-01", datetime(2024, 6, 1, tzinfo=UTC)),
        (1717245005, datetime(2024, 6, 1, 12, 30, 5, tzinfo=UTC)),
        (1717245005250, datetime(2024, 6, 1, 12, 30, 5, 250_000, tzinfo=UTC)),
        ("not a date", None),
        ("", None),
        (None, None),
        (True, None),
        ({"at": 1}, None),
        (10**30, None),
    ],
)
def test_parse_updated_at(value: Any, expected: datetime | None) -> None:
    assert parse_updated_at(value) == expected


# -- where the modified-since value goes ---------------------------------------------------------


def test_the_value_goes_in_the_query_a_header_or_the_body() -> None:
    query = _definition(incremental={"param": "updated_since", "format": "iso8601"})
    assert query.incremental is not None
    placed = with_modified_since(_first(query), query.incremental, "2024-06-01T00:00:00Z")
    assert placed.page.params == {"updated_since": "2024-06-01T00:00:00Z"}

    header = _definition(
        incremental={"param": "If-Modified-Since", "format": "iso8601", "param_in": "header"}
    )
    assert header.incremental is not None
    placed = with_modified_since(_first(header), header.incremental, "2024-06-01T00:00:00Z")
    assert placed.headers == {"If-Modified-Since": "2024-06-01T00:00:00Z"}
    assert placed.page.params == {}

    body = _definition(
        request={"path": "/search", "method": "POST", "body": {"query": {"sort": "x"}}},
        incremental={
            "param": "query.filter.updated_at.start_at",
            "format": "iso8601",
            "param_in": "body",
        },
    )
    assert body.incremental is not None
    first = _first(body)
    placed = with_modified_since(first, body.incremental, "2024-06-01T00:00:00Z")
    assert placed.page.body == {
        "query": {"sort": "x", "filter": {"updated_at": {"start_at": "2024-06-01T00:00:00Z"}}}
    }
    assert first.page.body == {"query": {"sort": "x"}}  # the definition's body is not changed


def test_a_body_path_through_a_non_object_is_refused() -> None:
    with pytest.raises(ValueError, match="'query' is not an object"):
        set_body_path({"query": [1]}, "query.filter", 1)


# -- the registry --------------------------------------------------------------------------------


def test_every_kind_has_its_registry() -> None:
    assert HOOK_KINDS == ("request", "next_cursor", "updated_at")
    assert registered("request") == tuple(sorted(REQUEST_HOOKS))
    assert registered("next_cursor") == ("stripe_last_id",)
    assert registered("updated_at") == ("microsoft_json_date",)
    with pytest.raises(TypeError):
        REQUEST_HOOKS["mine"] = REQUEST_HOOKS["quickbooks_query"]  # type: ignore[index]


# -- Stripe: the next cursor is the last object's id while has_more -------------------------------

STRIPE = {
    "request": {"path": "/v1/customers", "params": {"limit": 100}},
    "records_path": "data",
    "pagination": {"type": "cursor", "cursor_path": "has_more", "cursor_param": "starting_after"},
    "hooks": {"next_cursor": "stripe_last_id"},
}


def test_stripe_next_cursor() -> None:
    definition = _definition(**STRIPE)
    hook = NEXT_CURSOR_HOOKS["stripe_last_id"]
    page = {
        "object": "list",
        "url": "/v1/customers",
        "has_more": True,
        "data": [{"id": "cus_1", "object": "customer"}, {"id": "cus_2", "object": "customer"}],
    }
    assert hook(page, page["data"], definition) == "cus_2"
    assert hook({**page, "has_more": False}, page["data"], definition) is None
    assert hook({**page, "has_more": "yes"}, page["data"], definition) is None
    assert hook(page, [], definition) is None
    assert hook(page, [{"object": "customer"}], definition) is None
    assert hook([1, 2], [], definition) is None


# -- Xero: Microsoft JSON dates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/Date(1573755038314)/", datetime(2019, 11, 14, 18, 10, 38, 314_000, tzinfo=UTC)),
        ("/Date(1573755038314+0000)/", datetime(2019, 11, 14, 18, 10, 38, 314_000, tzinfo=UTC)),
        ("/Date(1573755038314+1300)/", datetime(2019, 11, 14, 18, 10, 38, 314_000, tzinfo=UTC)),
        ("/Date(-1000)/", datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2019-11-14T18:10:38", None),
        ("/Date(abc)/", None),
        (1573755038314, None),
        ("/Date(999999999999999)/", None),
    ],
)
def test_microsoft_json_date(value: Any, expected: datetime | None) -> None:
    assert UPDATED_AT_HOOKS["microsoft_json_date"](value) == expected


# -- QuickBooks: one query statement --------------------------------------------------------------

QUICKBOOKS = {
    "request": {"path": "/query", "params": {"query": "SELECT * FROM Invoice", "minorversion": 75}},
    "records_path": "QueryResponse.Invoice",
    "id_path": "Id",
    "pagination": {
        "type": "offset",
        "offset_param": "startposition",
        "limit_param": "maxresults",
        "limit": 1000,
    },
    "incremental": {"param": "Metadata.LastUpdatedTime", "format": "iso8601"},
    "hooks": {"request": "quickbooks_query"},
}


def test_quickbooks_query_statement_on_a_full_and_an_incremental_run() -> None:
    definition = _definition(**QUICKBOOKS)
    hook = REQUEST_HOOKS["quickbooks_query"]
    first = _first(definition)
    full = hook(first, definition)
    assert full.page.params == {
        "query": "SELECT * FROM Invoice STARTPOSITION 1 MAXRESULTS 1000",
        "minorversion": "75",
    }
    assert definition.incremental is not None
    since = with_modified_since(first, definition.incremental, "2024-06-01T00:00:00Z")
    incremental = hook(since, definition)
    assert incremental.page.params["query"] == (
        "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '2024-06-01T00:00:00Z' "
        "STARTPOSITION 1 MAXRESULTS 1000"
    )
    # Pagination advances the request it built, not the rewritten one.
    second = next_request(definition.pagination, since.page, body={}, headers={}, record_count=1000)
    assert second is not None
    rewritten = hook(OutgoingRequest(page=second), definition)
    assert rewritten.page.params["query"].endswith("STARTPOSITION 1001 MAXRESULTS 1000")


def test_quickbooks_modified_since_goes_before_the_order() -> None:
    request = {"path": "/query", "params": {"query": "SELECT * FROM Invoice ORDERBY Id"}}
    definition = _definition(**{**QUICKBOOKS, "request": request})
    assert definition.incremental is not None
    hook = REQUEST_HOOKS["quickbooks_query"]
    full = hook(_first(definition), definition).page.params["query"]
    assert full == "SELECT * FROM Invoice ORDERBY Id STARTPOSITION 1 MAXRESULTS 1000"
    since = with_modified_since(_first(definition), definition.incremental, "2024-06-01")
    assert hook(since, definition).page.params["query"] == (
        "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '2024-06-01' ORDERBY Id "
        "STARTPOSITION 1 MAXRESULTS 1000"
    )


def test_quickbooks_query_joins_an_existing_where_and_refuses_odd_statements() -> None:
    fields = {
        **QUICKBOOKS,
        "request": {
            "path": "/query",
            "params": {"query": "SELECT * FROM Invoice WHERE Balance > '0'"},
        },
    }
    definition = _definition(**fields)
    assert definition.incremental is not None
    since = with_modified_since(_first(definition), definition.incremental, "2024-06-01")
    statement = REQUEST_HOOKS["quickbooks_query"](since, definition).page.params["query"]
    assert "WHERE Balance > '0' AND Metadata.LastUpdatedTime >= '2024-06-01' " in statement

    hook = REQUEST_HOOKS["quickbooks_query"]
    with pytest.raises(ValueError, match="no quote"):
        hook(
            with_modified_since(_first(definition), definition.incremental, "x' OR 1=1"), definition
        )
    paged = {
        **QUICKBOOKS,
        "request": {"path": "/query", "params": {"query": "SELECT * FROM Invoice MAXRESULTS 5"}},
    }
    with pytest.raises(ValueError, match="STARTPOSITION and MAXRESULTS"):
        hook(_first(_definition(**paged)), _definition(**paged))
    bare = {**QUICKBOOKS, "request": {"path": "/query"}}
    with pytest.raises(ValueError, match="needs a 'query' parameter"):
        hook(_first(_definition(**bare)), _definition(**bare))


# -- HubSpot: a search filter --------------------------------------------------------------------

HUBSPOT = {
    "request": {
        "path": "/crm/v3/objects/companies/search",
        "method": "POST",
        "body": {
            "limit": 100,
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        },
    },
    "records_path": "results",
    "pagination": {
        "type": "cursor",
        "cursor_path": "paging.next.after",
        "cursor_param": "after",
        "param_in": "body",
    },
    "incremental": {"param": "hs_lastmodifieddate", "format": "unix_ms", "param_in": "body"},
    "hooks": {"request": "hubspot_search_filter"},
}


def test_hubspot_search_filter() -> None:
    definition = _definition(**HUBSPOT)
    hook = REQUEST_HOOKS["hubspot_search_filter"]
    first = _first(definition)
    assert hook(first, definition) == first  # a full run sends the body as it is
    assert definition.incremental is not None
    since = with_modified_since(first, definition.incremental, "1717200000000")
    body = hook(since, definition).page.body
    assert body == {
        "limit": 100,
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "hs_lastmodifieddate",
                        "operator": "GTE",
                        "value": "1717200000000",
                    }
                ]
            }
        ],
    }


def test_hubspot_search_filter_joins_every_existing_group() -> None:
    request = dict(HUBSPOT["request"])  # type: ignore[arg-type]
    groups = [
        {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "won"}]},
        {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "lost"}]},
    ]
    request["body"] = {**request["body"], "filterGroups": groups}
    definition = _definition(**{**HUBSPOT, "request": request})
    assert definition.incremental is not None
    since = with_modified_since(_first(definition), definition.incremental, "1")
    body = REQUEST_HOOKS["hubspot_search_filter"](since, definition).page.body
    assert [len(group["filters"]) for group in body["filterGroups"]] == [2, 2]
    assert all(
        g["filters"][-1]["propertyName"] == "hs_lastmodifieddate" for g in body["filterGroups"]
    )


# -- Google Drive: a q term ----------------------------------------------------------------------

DRIVE = {
    "request": {"path": "/files", "params": {"pageSize": 1000}},
    "records_path": "files",
    "pagination": {"type": "cursor", "cursor_path": "nextPageToken", "cursor_param": "pageToken"},
    "incremental": {"param": "q", "format": "iso8601"},
    "hooks": {"request": "google_drive_modified_time"},
}


def test_google_drive_modified_time_query() -> None:
    definition = _definition(**DRIVE)
    hook = REQUEST_HOOKS["google_drive_modified_time"]
    first = _first(definition)
    assert hook(first, definition) == first
    assert definition.incremental is not None
    since = with_modified_since(first, definition.incremental, "2024-06-01T00:00:00Z")
    assert hook(since, definition).page.params == {
        "pageSize": "1000",
        "q": "modifiedTime > '2024-06-01T00:00:00Z'",
    }
    with pytest.raises(ValueError, match="no quote"):
        hook(with_modified_since(first, definition.incremental, "x' or '1"), definition)


def test_google_drive_modified_time_joins_the_definitions_own_q() -> None:
    request = {"path": "/files", "params": {"pageSize": 1000, "q": "'me' in owners"}}
    definition = _definition(**{**DRIVE, "request": request})
    hook = REQUEST_HOOKS["google_drive_modified_time"]
    first = _first(definition)
    assert hook(first, definition).page.params["q"] == "'me' in owners"
    assert definition.incremental is not None
    since = with_modified_since(first, definition.incremental, "2024-06-01T00:00:00Z")
    assert hook(since, definition).page.params["q"] == (
        "('me' in owners) and modifiedTime > '2024-06-01T00:00:00Z'"
    )
