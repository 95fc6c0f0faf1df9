"""The pure parts of the Firestore layout: document ids, cursors, document sizes, and how
backend failures are reported."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from tether.adapters.firestore.paths import (
    HASHED_ID_PREFIX,
    decode_expiry_cursor,
    decode_list_cursor,
    decode_scan_cursor,
    doc_id,
    document_size,
    encode_expiry_cursor,
    encode_list_cursor,
    encode_scan_cursor,
    webhook_event_id,
    webhook_route_id,
)
from tether.domain.errors import BackendUnavailable, InvalidRequest


@pytest.mark.parametrize("value", ["t1", "acme-eu", "conn_AbC123", "refresh:conn_1", "a.b", "x@y"])
def test_safe_ids_are_kept(value: str) -> None:
    assert doc_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", ".", "..", "a/b", "__x__", "_x", "-x", "~abc", "a" * 201, "é", "a b", "a\x00b"],
)
def test_other_ids_are_hashed(value: str) -> None:
    hashed = doc_id(value)
    assert hashed.startswith(HASHED_ID_PREFIX) and len(hashed) == 65
    assert "/" not in hashed and not hashed.startswith("__")
    assert doc_id(hashed) != hashed  # a hashed form is never taken as-is: no aliasing


def test_hashed_ids_are_distinct() -> None:
    values = ["a/b", "a/c", "", ".", "..", "é", "a" * 5000]
    assert len({doc_id(v) for v in values}) == len(values)


def test_webhook_event_id_separates_provider_and_key() -> None:
    assert webhook_event_id("ab", "c") != webhook_event_id("a", "bc")
    assert "/" not in webhook_event_id("stripe", "evt/1")


def test_webhook_route_id_separates_provider_and_route() -> None:
    assert webhook_route_id("ab", "c") != webhook_route_id("a", "bc")
    assert webhook_route_id("shopify", "a.myshopify.com") != webhook_route_id(
        "shopify", "b.myshopify.com"
    )
    assert len(webhook_route_id("github", "123/4")) == 64
    assert "/" not in webhook_route_id("github", "123/4")


def test_list_cursor_round_trips() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert decode_list_cursor(encode_list_cursor(at, "conn_1")) == (at, "conn_1")
    other_zone = at.astimezone(timezone(timedelta(hours=5)))
    assert decode_list_cursor(encode_list_cursor(other_zone, "c")) == (at, "c")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!not-a-cursor",
        "a b",
        _b64(b"not json"),
        _b64(json.dumps(["2026-03-01T12:00:00Z"]).encode()),
        _b64(json.dumps([1, "c"]).encode()),
        _b64(json.dumps(["yesterday", "c"]).encode()),
        _b64(json.dumps(["2026-03-01T12:00:00", "c"]).encode()),  # no zone
        _b64(b"\xff\xfe"),
    ],
)
def test_bad_list_cursors_are_client_errors(cursor: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        decode_list_cursor(cursor)
    assert refused.value.code == "INVALID_CURSOR"


def test_scan_cursor_round_trips_and_is_checked() -> None:
    path = f"tenants/{doc_id('a/b')}/connections/conn_1"
    assert decode_scan_cursor(encode_scan_cursor(path), parent="tenants", collection="connections")
    for bad in [
        "tenants/t1/audit/x",
        "tenants/t1/connections",
        "other/t1/connections/c",
        "tenants/t1/connections/c/more/x",
        "tenants/../connections/c",
        "tenants/~nothex/connections/c",
    ]:
        with pytest.raises(InvalidRequest):
            decode_scan_cursor(encode_scan_cursor(bad), parent="tenants", collection="connections")


def test_expiry_cursor_round_trips_and_is_checked() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    path = f"tenants/{doc_id('a/b')}/connections/conn_1"
    cursor = encode_expiry_cursor(at.astimezone(timezone(timedelta(hours=-3))), path)
    assert decode_expiry_cursor(cursor, parent="tenants", collection="connections") == (at, path)
    stamp = "2026-03-01T12:00:00.000000Z"
    for bad in [
        "!!not-a-cursor",
        _b64(b"not json"),
        _b64(json.dumps([stamp]).encode()),
        _b64(json.dumps(["2026-03-01T12:00:00", "tenants/t1/connections/c"]).encode()),
        _b64(json.dumps(["soon", "tenants/t1/connections/c"]).encode()),
        _b64(json.dumps([stamp, "tenants/t1/audit/x"]).encode()),
        _b64(json.dumps([stamp, "tenants/../connections/c"]).encode()),
        _b64(json.dumps([stamp, 7]).encode()),
        encode_scan_cursor("tenants/t1/connections/c"),  # another query's cursor
    ]:
        with pytest.raises(InvalidRequest) as refused:
            decode_expiry_cursor(bad, parent="tenants", collection="connections")
        assert refused.value.code == "INVALID_CURSOR"


def test_document_size_follows_firestore_formula() -> None:
    # The worked example of Firestore's "storage size calculations" page: 147 bytes.
    fields = {
        "type": "Personal",
        "done": False,
        "priority": 1,
        "description": "Learn Cloud Firestore",
    }
    assert document_size("users/jeff/tasks/my_task_id", fields) == 147
    nested: dict[str, Any] = {"m": {"a": [1, 2.5, None, "é"]}, "at": datetime.now(UTC), "b": b"xy"}
    # m(2) + a(2) + 8 + 8 + 1 + 3  |  at(3) + 8  |  b(2) + 2
    assert document_size("c/d", nested) == (2 + 2 + 16) + (2 + 2 + 8 + 8 + 1 + 3) + 11 + 4 + 32


@pytest.mark.parametrize(
    "failure", ["ServiceUnavailable", "DeadlineExceeded", "InternalServerError"]
)
def test_backend_failures_become_backend_unavailable(failure: str) -> None:
    from google.api_core import exceptions as gexc

    from tether.adapters.firestore import FirestoreConnectionStore

    client = MagicMock()
    tenant = client.collection.return_value.document.return_value
    connection = tenant.collection.return_value.document.return_value
    connection.get.side_effect = getattr(gexc, failure)("tenants/secret-tenant: refused")
    store = FirestoreConnectionStore(client)
    with pytest.raises(BackendUnavailable) as failed:
        store.get_connection("secret-tenant", "conn_1")
    assert failed.value.retryable and "secret-tenant" not in failed.value.message


INDEXES_FILE = Path(__file__).resolve().parents[2] / "infra" / "firestore.indexes.json"


def _covered(
    indexes: list[dict[str, Any]],
    group: str,
    equal: set[str],
    order: list[str],
    scope: str = "COLLECTION",
) -> bool:
    """An index on ``group`` (``scope``: one collection, or all of that name) with the
    equality fields first (any order) then ``order``."""
    for index in indexes:
        fields = [(f["fieldPath"], f.get("order")) for f in index["fields"]]
        head, tail = fields[: len(equal)], fields[len(equal) :]
        if (
            index["collectionGroup"] == group
            and index["queryScope"] == scope
            and {name for name, _ in head} == equal
            and [f"{name} {direction}" for name, direction in tail] == order
        ):
            return True
    return False


@pytest.mark.parametrize(
    ("group", "equal", "order", "scope"),
    [
        ("connections", {"deleted"}, ["created_at DESCENDING", "id DESCENDING"], "COLLECTION"),
        (
            "connections",
            {"deleted", "status"},
            ["created_at DESCENDING", "id DESCENDING"],
            "COLLECTION",
        ),
        (
            "connections",
            {"deleted", "provider"},
            ["created_at DESCENDING", "id DESCENDING"],
            "COLLECTION",
        ),
        (
            "connections",
            {"deleted", "status", "provider"},
            ["created_at DESCENDING", "id DESCENDING"],
            "COLLECTION",
        ),
        ("audit", set(), ["at DESCENDING", "id DESCENDING"], "COLLECTION"),
        ("audit", {"connection_id"}, ["at DESCENDING", "id DESCENDING"], "COLLECTION"),
        # list_expiring, across tenants: then by document name, which every index ends with
        # in the direction of its last field (ascending here), so it is not listed
        ("connections", {"deleted"}, ["token_expires_at ASCENDING"], "COLLECTION_GROUP"),
        # list_deliveries, per tenant, of every connection or one
        ("deliveries", set(), ["created_at DESCENDING", "id DESCENDING"], "COLLECTION"),
        (
            "deliveries",
            {"connection_id"},
            ["created_at DESCENDING", "id DESCENDING"],
            "COLLECTION",
        ),
        # delete_unseen: a stream's live records another run did not see ("!=" orders by it)
        ("records", {"live"}, ["seen_run ASCENDING"], "COLLECTION"),
        # list_due_syncs, across tenants
        ("sync_schedules", {"schedulable"}, ["next_run_at ASCENDING"], "COLLECTION_GROUP"),
        # list_runs, per connection and sync
        ("sync_runs", {"sync"}, ["created_at DESCENDING", "id DESCENDING"], "COLLECTION"),
        # waiting_webhook_events: "status in [...]" (an equality for indexes), oldest first
        ("webhook_events", {"status"}, ["received_at ASCENDING"], "COLLECTION"),
    ],
)
def test_indexes_file_covers_the_store_queries(
    group: str, equal: set[str], order: list[str], scope: str
) -> None:
    indexes = json.loads(INDEXES_FILE.read_text())["indexes"]
    assert _covered(indexes, group, equal, order, scope)


def test_indexes_file_has_ttl_policies_and_exempts_records() -> None:
    overrides = json.loads(INDEXES_FILE.read_text())["fieldOverrides"]
    by_field = {(o["collectionGroup"], o["fieldPath"]): o for o in overrides}
    for group in ("oauth_states", "webhook_events", "leases"):
        ttl = by_field[(group, "expires_at")]
        # TTL, and the one index purge_expired's "expires_at <= now" query needs
        assert ttl["ttl"] is True
        assert ttl["indexes"] == [{"order": "ASCENDING", "queryScope": "COLLECTION"}]
    for group in (
        "connections",
        "audit",
        "oauth_states",
        "webhook_events",
        "settings",
        "deliveries",
        "sync_schedules",
        "sync_runs",
    ):
        assert by_field[(group, "record")]["indexes"] == []


def test_indexes_file_indexes_no_synced_payload_and_purges_deleted_records() -> None:
    """A record's payload (and the fields no query reads) are not indexed: a payload can be
    as large as a document, and ``last_modified_at`` is sequential. Deleted records carry
    ``expires_at`` only when a retention is set: a TTL policy, and the purge's collection-group
    query across tenants."""
    overrides = json.loads(INDEXES_FILE.read_text())["fieldOverrides"]
    by_field = {(o["collectionGroup"], o["fieldPath"]): o for o in overrides}
    for field in ("payload", "payload_hash", "id", "first_seen_at", "last_modified_at"):
        assert by_field[("records", field)]["indexes"] == []
    ttl = by_field[("records", "expires_at")]
    assert ttl["ttl"] is True
    assert ttl["indexes"] == [{"order": "ASCENDING", "queryScope": "COLLECTION_GROUP"}]


def test_indexes_file_has_ttl_policies_for_deliveries_and_audit_across_tenants() -> None:
    """Housekeeping finds expired deliveries, audit entries and idempotency keys of every
    tenant with one collection-group query each (``expires_at <= now``); the TTL policies
    delete them too."""
    overrides = json.loads(INDEXES_FILE.read_text())["fieldOverrides"]
    by_field = {(o["collectionGroup"], o["fieldPath"]): o for o in overrides}
    for group in ("deliveries", "audit", "idempotency_keys"):
        ttl = by_field[(group, "expires_at")]
        assert ttl["ttl"] is True
        assert ttl["indexes"] == [{"order": "ASCENDING", "queryScope": "COLLECTION_GROUP"}]


def test_indexes_file_does_not_index_the_route_lookup_key() -> None:
    """``webhook_route_key`` only tells an update which lookup to remove; never queried."""
    overrides = json.loads(INDEXES_FILE.read_text())["fieldOverrides"]
    by_field = {(o["collectionGroup"], o["fieldPath"]): o for o in overrides}
    assert by_field[("connections", "webhook_route_key")]["indexes"] == []


def test_indexes_file_has_rate_bucket_ttl_and_indexes_none_of_its_fields() -> None:
    """A bucket is written on every granted request and never queried: indexing its
    sequential times would cap all buckets together at Firestore's 500 writes/s."""
    overrides = json.loads(INDEXES_FILE.read_text())["fieldOverrides"]
    by_field = {(o["collectionGroup"], o["fieldPath"]): o for o in overrides}
    assert by_field[("rate_buckets", "expires_at")]["ttl"] is True
    for field in ("tokens", "updated_at", "expires_at"):
        assert by_field[("rate_buckets", field)]["indexes"] == []


def test_indexes_file_serves_the_secret_tombstone_queries_across_tenants() -> None:
    """``tether keys retire`` (by ``key_id``) and housekeeping (by ``retired_at``, past the
    tombstones' retention) query every tenant's tombstones with one collection-group query."""
    overrides = json.loads(INDEXES_FILE.read_text())["fieldOverrides"]
    by_field = {(o["collectionGroup"], o["fieldPath"]): o for o in overrides}
    for field in ("key_id", "retired_at"):
        scopes = {i["queryScope"] for i in by_field[("retired_credentials", field)]["indexes"]}
        assert "COLLECTION_GROUP" in scopes
