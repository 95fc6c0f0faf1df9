"""Sync definitions: the model (tether.catalog.sync_definition), a tenant's definition checked
with field errors (tether.sync.definitions), and catalog entries carrying syncs."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from tether.catalog import Provider, parse_catalog
from tether.catalog.sync_definition import SyncDefinition, Tombstone, parse_frequency
from tether.domain.errors import ConfigurationError, InvalidRequest
from tether.sync import INVALID_SYNC, parse_definition

# The example of the sync issue, as a tenant would PUT it.
EXAMPLE: dict[str, Any] = {
    "model": "Invoice",
    "request": {"path": "/invoices", "params": {"limit": 100}},
    "records_path": "data",
    "id_path": "id",
    "updated_at_path": "updated_at",
    "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"},
    "incremental": {"param": "updated_since", "format": "iso8601"},
    "deletes": "full_refresh",
    "frequency": "1h",
}


def _with(**changes: Any) -> dict[str, Any]:
    definition = copy.deepcopy(EXAMPLE)
    for key, value in changes.items():
        if value is None:
            definition.pop(key, None)
        else:
            definition[key] = value
    return definition


def _errors(data: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as info:
        parse_definition(data, **kwargs)
    assert info.value.code == INVALID_SYNC
    assert info.value.http_status == 400
    errors = info.value.details["errors"]
    assert info.value.message.startswith(f"The sync definition is invalid: {errors[0]['field']}")
    return {error["field"]: error["problem"] for error in errors}


def test_the_issue_example_validates() -> None:
    definition = parse_definition(EXAMPLE)
    assert definition.model == "Invoice"
    assert definition.request.method == "GET"
    assert definition.request.params == {"limit": 100}
    assert definition.pagination is not None and definition.pagination.type == "cursor"
    assert definition.incremental is not None and definition.incremental.param_in == "query"
    assert definition.deletes == "full_refresh"
    assert definition.interval == timedelta(hours=1)
    assert definition.hooks.named() == {}


def test_incremental_is_optional_and_deletes_defaults_to_full_refresh() -> None:
    definition = parse_definition(_with(incremental=None, deletes=None, pagination=None))
    assert definition.incremental is None
    assert definition.pagination is None
    assert definition.deletes == "full_refresh"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m", timedelta(minutes=1)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("90m", timedelta(minutes=90)),
        ("366d", timedelta(days=366)),
    ],
)
def test_frequency_parser(text: str, expected: timedelta) -> None:
    assert parse_frequency(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("30s", "a unit: m (minutes), h (hours) or d (days)"),
        ("0m", "a whole number"),
        ("1", "a unit"),
        ("h", "a whole number"),
        ("1.5h", "a whole number"),
        ("1H", "a unit"),
        (" 1h", "a whole number"),
        ("1h30m", "a unit"),
        ("-1m", "a whole number"),
        ("367d", "at most 366d"),
        ("999999h", "at most 366d"),
    ],
)
def test_frequency_parser_refuses_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="frequency") as info:
        parse_frequency(text)
    assert fragment in str(info.value)


def test_frequency_is_a_field_error() -> None:
    errors = _errors(_with(frequency="30s"))
    assert list(errors) == ["frequency"]
    assert "1m, 15m, 1h or 1d" in errors["frequency"]
    assert "frequency" in _errors(_with(frequency=None))
    assert "frequency" in _errors(_with(frequency=60))


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"model": "Sales Invoice"}, "model", "pattern"),
        ({"model": ""}, "model", "pattern"),
        ({"id_path": None}, "id_path", "required"),
        ({"id_path": "data..id"}, "id_path", "pattern"),
        ({"records_path": "data items"}, "records_path", "pattern"),
        ({"updated_at_path": "a/b"}, "updated_at_path", "pattern"),
        ({"request": None}, "request", "required"),
        ({"request": {"path": "invoices"}}, "request.path", "starts with '/'"),
        ({"request": {"path": "https://api.example.com/x"}}, "request.path", "starts with '/'"),
        ({"request": {"path": "/x/{Shop}"}}, "request.path", "braces"),
        ({"request": {"path": "/x y"}}, "request.path", "whitespace"),
        ({"request": {"path": "/x#frag"}}, "request.path", "fragment"),
        ({"request": {"path": "/x", "params": {"a b": 1}}}, "request.params", "not a query"),
        ({"request": {"path": "/x", "params": {"a": [1]}}}, "request.params.a.str", "string"),
        ({"request": {"path": "/x", "method": "DELETE"}}, "request.method", "'GET' or 'POST'"),
        ({"request": {"path": "/x", "body": {"a": 1}}}, "request", "a body needs method POST"),
        ({"request": {"path": "/x", "extra": 1}}, "request.extra", "not permitted"),
        ({"unknown": 1}, "unknown", "not permitted"),
        ({"deletes": "soft"}, "deletes", "'none' or 'full_refresh'"),
        ({"deletes": 3}, "deletes", "tombstone_path"),
        ({"deletes": {"tombstone_path": "a b"}}, "deletes.tombstone_path", "pattern"),
        ({"deletes": {"path": "deleted"}}, "deletes.tombstone_path", "required"),
        ({"pagination": {"type": "cursor", "cursor_path": "next"}}, "pagination.cursor_param", ""),
        ({"pagination": {"type": "pages"}}, "pagination", "type"),
        ({"pagination": {"type": "offset", "limit": 0}}, "pagination.limit", "greater than"),
        (
            {"pagination": {"type": "cursor", "cursor_path": "n", "cursor_param": "c", "x": 1}},
            "pagination.x",
            "not permitted",
        ),
        ({"incremental": {"param": "since"}}, "incremental.format", "required"),
        ({"incremental": {"param": "since", "format": "rfc822"}}, "incremental.format", ""),
        ({"incremental": {"param": "a b", "format": "unix"}}, "incremental", "query parameter"),
        (
            {"incremental": {"param": "If Modified", "format": "unix", "param_in": "header"}},
            "incremental",
            "header name",
        ),
        (
            {"incremental": {"param": "filter..a", "format": "unix", "param_in": "body"}},
            "incremental",
            "dotted path",
        ),
        ({"hooks": {"request": "Not A Name"}}, "hooks.request", "pattern"),
        ({"hooks": {"transform": "x"}}, "hooks.transform", "not permitted"),
    ],
)
def test_each_rule_is_a_field_error(changes: dict[str, Any], field: str, fragment: str) -> None:
    errors = _errors(_with(**changes))
    assert field in errors, errors
    assert fragment.lower() in errors[field].lower()


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (
            {"pagination": {"type": "graphql"}},
            "pagination: graphql pagination needs method POST",
        ),
        (
            {
                "pagination": {
                    "type": "cursor",
                    "cursor_path": "next",
                    "cursor_param": "cursor",
                    "param_in": "body",
                }
            },
            "pagination: param_in 'body' needs a JSON object body",
        ),
        (
            {"incremental": {"param": "filter.since", "format": "unix", "param_in": "body"}},
            "incremental.param_in 'body' needs a POST request with a body",
        ),
        ({"hooks": {"next_cursor": "stripe_last_id"}, "pagination": None}, "needs cursor"),
    ],
)
def test_cross_field_rules(changes: dict[str, Any], fragment: str) -> None:
    errors = _errors(_with(**changes))
    assert fragment in errors["body"], errors


def test_a_body_cursor_and_a_body_modified_since_fit_a_post_request() -> None:
    definition = parse_definition(
        _with(
            request={"path": "/search", "method": "POST", "body": {"limit": 100}},
            pagination={
                "type": "cursor",
                "cursor_path": "cursor",
                "cursor_param": "cursor",
                "param_in": "body",
            },
            incremental={
                "param": "query.updated.start_at",
                "format": "iso8601",
                "param_in": "body",
            },
        )
    )
    assert definition.incremental is not None and definition.incremental.param_in == "body"


def test_every_problem_is_reported_at_once_and_input_is_not_echoed() -> None:
    secret_looking = "sk_live_do_not_echo"
    errors = _errors(
        _with(model=secret_looking + " x", frequency="5s", deletes=secret_looking),
        name="Bad Name",
    )
    assert {"name", "model", "frequency", "deletes"} <= set(errors)
    assert all(secret_looking not in problem for problem in errors.values())


def test_a_tombstone_names_a_path_and_optionally_a_value() -> None:
    truthy = parse_definition(_with(deletes={"tombstone_path": "trashed"}))
    assert truthy.deletes == Tombstone(tombstone_path="trashed")
    valued = parse_definition(
        _with(deletes={"tombstone_path": "status", "tombstone_value": "cancelled"})
    )
    assert isinstance(valued.deletes, Tombstone)
    assert valued.deletes.tombstone_value == "cancelled"
    assert parse_definition(_with(deletes="none")).deletes == "none"


def test_unknown_hooks_are_field_errors_naming_the_known_ones() -> None:
    errors = _errors(_with(hooks={"request": "no_such_hook", "updated_at": "also_missing"}))
    assert "unknown request hook" in errors["hooks.request"]
    assert "quickbooks_query" in errors["hooks.request"]
    assert "microsoft_json_date" in errors["hooks.updated_at"]


def test_registered_hooks_are_accepted() -> None:
    definition = parse_definition(
        _with(
            hooks={"updated_at": "microsoft_json_date"},
            pagination={"type": "cursor", "cursor_path": "has_more", "cursor_param": "after"},
        )
    )
    assert definition.hooks.named() == {"updated_at": "microsoft_json_date"}


def test_definitions_are_frozen() -> None:
    definition = parse_definition(EXAMPLE)
    with pytest.raises(ValueError, match="frozen"):
        definition.model = "Other"  # type: ignore[misc]


# -- catalog entries with syncs ------------------------------------------------------------------


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": "shop",
        "display_name": "Shop",
        "description": "A shop.",
        "categories": ["ecommerce"],
        "regions": ["global"],
        "docs_url": "https://example.com/docs",
        "api_base_url": "https://api.example.com",
        "auth": {"mode": "none"},
        "config_schema": {
            "type": "object",
            "additionalProperties": False,
            "required": [],
            "properties": {
                "store": {"type": "string", "title": "Store", "description": "The store id."}
            },
        },
        "syncs": {"invoices": copy.deepcopy(EXAMPLE)},
    }
    entry.update(overrides)
    return entry


def test_a_catalog_entry_carries_validated_syncs() -> None:
    provider = Provider.model_validate(_entry())
    syncs = provider.validated_syncs
    assert list(syncs) == ["invoices"]
    assert isinstance(syncs["invoices"], SyncDefinition)
    assert provider.validated_syncs is syncs  # built once
    assert Provider.model_validate(_entry(syncs=None) | {"syncs": {}}).validated_syncs == {}


@pytest.mark.parametrize(
    ("syncs", "fragment"),
    [
        ({"invoices": _with(frequency="10s")}, "syncs.invoices.frequency:"),
        ({"invoices": _with(pagination={"type": "link", "x": 1})}, "syncs.invoices.pagination"),
        ({"Invoices": copy.deepcopy(EXAMPLE)}, "the name 'Invoices' is not lowercase"),
        (
            {"invoices": _with(request={"path": "/stores/{shop}/invoices"})},
            "syncs.invoices.request.path names undefined config ['shop']",
        ),
    ],
)
def test_the_catalog_schema_refuses_a_broken_sync(syncs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match="syncs") as info:
        Provider.model_validate(_entry(syncs=syncs))
    assert fragment in str(info.value)


def test_a_sync_needs_the_entrys_api_base_url() -> None:
    with pytest.raises(ValueError, match=r"syncs\.invoices needs the entry.s api_base_url"):
        Provider.model_validate(_entry(api_base_url=None))


def test_a_path_may_name_config_properties() -> None:
    syncs = {"invoices": _with(request={"path": "/stores/{store}/invoices"})}
    provider = Provider.model_validate(_entry(syncs=syncs))
    assert provider.validated_syncs["invoices"].request.path == "/stores/{store}/invoices"


def _yaml(sync_lines: str) -> str:
    return f"""
version: 1
providers:
  shop:
    display_name: Shop
    description: A shop.
    categories: [ecommerce]
    regions: [global]
    docs_url: https://example.com/docs
    api_base_url: https://api.example.com
    auth: {{mode: none}}
    syncs:
{sync_lines}
"""


BROKEN_SYNC = """\
      orders:
        model: Order
        request: {path: /orders}
        id_path: id
        frequency: 30s
"""


def test_a_catalog_file_with_a_broken_sync_names_provider_and_field() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_catalog(_yaml(BROKEN_SYNC))
    assert info.value.code == "CATALOG_INVALID"
    assert "provider 'shop'" in info.value.message
    assert "syncs.orders.frequency" in info.value.message


def test_a_deferred_check_still_refuses_a_broken_sync_on_first_use() -> None:
    # The packaged file's mode: syncs are validated when first read, not at load.
    provider = parse_catalog(_yaml(BROKEN_SYNC), check_json_schema=False).get("shop")
    assert provider.syncs["orders"]["frequency"] == "30s"
    with pytest.raises(ValueError, match=r"syncs\.orders\.frequency: frequency"):
        _ = provider.validated_syncs
