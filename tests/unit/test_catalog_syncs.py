"""The catalog's syncs against their providers' published API descriptions.

``tests/fixtures/provider_apis/<provider>.json`` holds, per provider, a trimmed copy of the
provider's own description of the list operations the syncs read (an OpenAPI document, a
Google Discovery document, or, where a provider publishes neither, its reference written out
in OpenAPI form), naming its source in ``x-source``. For every catalog sync this test checks
that the operation exists at the sync's path and method, that its pagination parameters and
modified-since parameter are parameters (or body fields) of that operation, and that the
records, id, updated-at, tombstone and cursor paths are in its response.
"""

from __future__ import annotations

import pytest

from tests.support.provider_apis import Operation, base_path, fixture, operation_at
from tether.catalog import Catalog
from tether.catalog.loader import parse_packaged
from tether.catalog.sync_definition import SyncDefinition, Tombstone
from tether.http.pagination import (
    CursorPagination,
    LinkPagination,
    OffsetPagination,
    PagePagination,
)
from tether.sync.definitions import catalog_hook_problems

# The syncs the sync issue asks the catalog to ship.
EXPECTED = {
    "stripe": {"customers", "invoices", "charges", "subscriptions"},
    "shopify": {"orders", "products", "customers"},
    "xero": {"invoices", "contacts"},
    "square": {"payments", "orders"},
    "quickbooks": {"invoices", "customers"},
    "hubspot": {"contacts", "companies", "deals"},
    "google_drive": {"files"},
    "google_calendar": {"events"},
    "woocommerce": {"orders", "products"},
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_packaged(check_json_schema=True)


def _syncs(catalog: Catalog) -> list[tuple[str, str, SyncDefinition]]:
    return [
        (provider.key, name, definition)
        for provider in catalog
        for name, definition in provider.validated_syncs.items()
    ]


def test_the_catalog_ships_the_issues_syncs(catalog: Catalog) -> None:
    shipped = {p.key: set(p.validated_syncs) for p in catalog if p.syncs}
    assert shipped == EXPECTED


def test_every_hook_a_catalog_sync_names_is_registered(catalog: Catalog) -> None:
    syncs = {provider.key: provider.validated_syncs for provider in catalog}
    assert catalog_hook_problems(syncs) == []


def test_every_fixture_names_its_source() -> None:
    for provider in EXPECTED:
        source = fixture(provider).get("x-source")
        sources = source if isinstance(source, list) else [source]
        assert sources and all(s.startswith("https://") for s in sources), provider


def _check_param(operation: Operation, name: str, where: str, label: str) -> None:
    if where == "body":
        assert operation.at(operation.body, name) is not None, f"{label}: no body field {name}"
    else:
        assert operation.params.get(name) == where, f"{label}: no {where} parameter {name}"


def _check_pagination(operation: Operation, sync: SyncDefinition, label: str) -> None:
    pagination = sync.pagination
    query_language = sync.hooks.request == "quickbooks_query"
    if isinstance(pagination, CursorPagination):
        _check_param(operation, pagination.cursor_param, pagination.param_in, label)
        cursor = operation.at(operation.response, pagination.cursor_path)
        assert cursor is not None, f"{label}: no {pagination.cursor_path} in the response"
    elif isinstance(pagination, OffsetPagination | PagePagination) and query_language:
        # STARTPOSITION / MAXRESULTS are clauses of the query statement the hook writes.
        clauses = operation.raw_params["query"]["x-statement-clauses"]
        assert {"STARTPOSITION", "MAXRESULTS"} <= set(clauses), label
    elif isinstance(pagination, OffsetPagination):
        _check_param(operation, pagination.offset_param, pagination.param_in, label)
        if pagination.limit_param is not None:
            _check_param(operation, pagination.limit_param, pagination.param_in, label)
    elif isinstance(pagination, PagePagination):
        _check_param(operation, pagination.page_param, pagination.param_in, label)
        if pagination.limit_param is not None:
            _check_param(operation, pagination.limit_param, pagination.param_in, label)
    elif isinstance(pagination, LinkPagination):
        assert "link" in operation.headers, f"{label}: the response has no Link header"
    else:
        pytest.fail(f"{label}: a catalog sync pages its records")


def _check_incremental(operation: Operation, sync: SyncDefinition, label: str) -> None:
    incremental = sync.incremental
    if incremental is None:
        return
    if sync.hooks.request == "quickbooks_query":
        query = operation.raw_params["query"]
        assert "WHERE" in query["x-statement-clauses"], label
        assert incremental.param in query["x-example"], label
    elif sync.hooks.request == "hubspot_search_filter":
        # The hook turns the property into a filter group of the search body.
        assert operation.at(operation.body, "filterGroups") is not None, label
    else:
        _check_param(operation, incremental.param, incremental.param_in, label)


@pytest.mark.parametrize(
    ("provider_key", "name"),
    sorted((provider, name) for provider, names in EXPECTED.items() for name in names),
)
def test_a_catalog_sync_fits_its_providers_published_api(
    catalog: Catalog, provider_key: str, name: str
) -> None:
    provider = catalog.get(provider_key)
    sync = provider.validated_syncs[name]
    label = f"{provider_key}.{name}"
    path = base_path(provider) + sync.request.path
    operation = operation_at(provider_key, path, sync.request.method)
    assert operation is not None, f"{label}: no {sync.request.method} {path} in the fixture"

    for param in sync.request.params:
        _check_param(operation, param, "query", label)
    for key in sync.request.body or {}:
        _check_param(operation, key, "body", label)
    _check_pagination(operation, sync, label)
    _check_incremental(operation, sync, label)

    record = operation.records(sync.records_path)
    assert record is not None, f"{label}: no list of records at {sync.records_path}"
    for what in ("id_path", "updated_at_path"):
        dotted = getattr(sync, what)
        if dotted is not None:
            assert operation.at(record, dotted) is not None, f"{label}: {what} {dotted}"
    if isinstance(sync.deletes, Tombstone):
        assert operation.at(record, sync.deletes.tombstone_path) is not None, label
