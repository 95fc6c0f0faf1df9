"""Each catalog sync walked against a simulator of its provider's pagination and modified-since
parameters (tests/support/provider_simulator.py; every request checked against the provider's
published API description): a full walk sees every record once; after the provider changes
records, an incremental walk from the full walk's high-water mark sees exactly the changed
records (and, where the provider's filter is at-or-after, the one at the mark); a walk saved
after its first page goes on in a new walker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.fetch_over_httpx import httpx_send
from tests.support.provider_apis import base_path
from tests.support.provider_simulator import ProviderSimulator
from tests.unit.test_catalog_syncs import EXPECTED
from tether.catalog import Catalog
from tether.catalog.loader import parse_packaged
from tether.catalog.sync_definition import SyncDefinition, Tombstone
from tether.fetch.service import FetchService
from tether.http.pagination import CursorPagination, GraphQLPagination, LinkPagination
from tether.sync.walker import PageWalker, WalkState

CONFIG = {"realm_id": "4620816365", "shop": "demo", "store_url": "https://shop.example"}
SYNCS = sorted((provider, name) for provider, names in EXPECTED.items() for name in names)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_packaged()


def _page_size(definition: SyncDefinition) -> int:
    pagination = definition.pagination
    if isinstance(pagination, CursorPagination | LinkPagination | GraphQLPagination):
        params: dict[str, Any] = {**definition.request.params, **(definition.request.body or {})}
        for name in ("limit", "pageSize", "maxResults", "per_page"):
            if name in params:
                return int(params[name])
        return 100
    assert pagination is not None
    return pagination.limit


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as opened:
        yield opened


def _simulated(catalog: Catalog, provider_key: str, name: str) -> ProviderSimulator:
    provider = catalog.get(provider_key)
    definition = provider.validated_syncs[name]
    path = base_path(provider).replace("{realm_id}", CONFIG["realm_id"])
    return ProviderSimulator(provider_key, name, definition, base_path=path)


def _walker(sim: ProviderSimulator, client: httpx.Client) -> PageWalker:
    fetch = FetchService(httpx_send(client), sim.url + sim.base_path)
    return PageWalker(fetch, sim.definition, config=CONFIG)


@pytest.mark.parametrize(("provider_key", "name"), SYNCS)
def test_a_catalog_sync_walks_its_providers_pages_and_changes(
    catalog, client, provider_key, name
) -> None:
    with _simulated(catalog, provider_key, name) as sim:
        definition = sim.definition
        total = 2 * _page_size(definition) + 7
        sim.add(total)
        walker = _walker(sim, client)

        pages = list(walker.walk())
        assert len(pages) >= 3
        records = [r for page in pages for r in page.records]
        assert [r.id for r in records] == [sim.record_id(n) for n in range(1, total + 1)]
        assert not any(r.deleted for r in records)
        if definition.updated_at_path is not None:
            assert all(isinstance(r.updated_at, datetime) for r in records)

        mark = max((r.updated_at for r in records if r.updated_at), default=None)
        sim.update([2, total // 2])
        sim.delete([3])
        added = sim.add(2)
        changed = [2, 3, total // 2, *added]
        tombstones = isinstance(definition.deletes, Tombstone)
        if definition.incremental is None:
            walked = [r for page in walker.walk() for r in page.records]
            expected = [n for n in range(1, total + 3) if n != 3 or tombstones]
        else:
            walked = [r for page in walker.walk(since=mark) for r in page.records]
            at_mark = [total] if sim.dialect.inclusive else []
            expected = sorted(n for n in {*changed, *at_mark} if n != 3 or tombstones)
        assert sorted(r.id for r in walked) == sorted(sim.record_id(n) for n in expected)
        deleted = [r.id for r in walked if r.deleted]
        assert deleted == ([sim.record_id(3)] if tombstones else [])


@pytest.mark.parametrize(("provider_key", "name"), SYNCS)
def test_a_catalog_sync_walk_goes_on_from_its_saved_state(
    catalog, client, provider_key, name
) -> None:
    with _simulated(catalog, provider_key, name) as sim:
        total = 2 * _page_size(sim.definition) + 7
        sim.add(total)
        first = next(iter(_walker(sim, client).walk()))
        assert first.next is not None
        state = WalkState.from_json(json.loads(json.dumps(first.next.to_json())))
        rest = [r.id for page in _walker(sim, client).walk(resume=state) for r in page.records]
        ids = [r.id for r in first.records] + rest
        assert ids == [sim.record_id(n) for n in range(1, total + 1)]
