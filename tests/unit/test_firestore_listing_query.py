"""The Firestore store's connection listing, as the query it sends: every filter combination,
with and without a cursor, must match a composite index of ``infra/firestore.indexes.json``.

The emulator serves any query without indexes, so the contract suite cannot catch a missing
one; production Firestore refuses such a query (FAILED_PRECONDITION). Here the query is built
by the adapter itself, offline (a client with anonymous credentials sends nothing), and its
structured form is read back.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from tests.unit.test_firestore_layout import INDEXES_FILE, _covered
from tether.adapters.firestore import FirestoreConnectionStore
from tether.adapters.firestore.paths import encode_list_cursor


@pytest.fixture
def offline_store() -> Iterator[FirestoreConnectionStore]:
    client = firestore.Client(project="tether-offline", credentials=AnonymousCredentials())
    yield FirestoreConnectionStore(client)
    client.close()  # type: ignore[no-untyped-call]  # unannotated in the library


@pytest.mark.parametrize(
    ("status", "provider", "cursor", "end_user"),
    list(itertools.product([None, "error"], [None, "xero"], [False, True], [None, "user-a"])),
)
def test_every_listing_query_is_served_by_a_composite_index(
    offline_store: FirestoreConnectionStore,
    status: str | None,
    provider: str | None,
    cursor: bool,
    end_user: str | None,
) -> None:
    after = encode_list_cursor(datetime(2026, 3, 1, tzinfo=UTC), "conn_1") if cursor else None
    query = offline_store._listing_query(
        "t1", status=status, provider=provider, cursor=after, end_user_id=end_user
    )
    structured = query._to_protobuf()

    assert not structured.from_[0].all_descendants  # one tenant's collection
    filters = structured.where.composite_filter.filters or [structured.where]
    ops = {f.field_filter.field.field_path: f.field_filter.op.name for f in filters}
    assert set(ops.values()) == {"EQUAL"}  # no range filter: the cursor alone bounds the range
    assert set(ops) == {
        "deleted",
        *(["end_user_id"] if end_user else []),
        *(["status"] if status else []),
        *(["provider"] if provider else []),
    }
    orders = [f"{o.field.field_path} {o.direction.name}" for o in structured.order_by]
    assert orders == ["created_at DESCENDING", "id DESCENDING"]
    if cursor:
        assert len(structured.start_at.values) == 2 and not structured.start_at.before
    indexes = json.loads(INDEXES_FILE.read_text())["indexes"]
    assert _covered(indexes, "connections", set(ops), orders, "COLLECTION")
