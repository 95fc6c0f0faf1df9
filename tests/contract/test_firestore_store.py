"""What the Firestore store must get right beyond the shared contract: ids Firestore refuses,
JSON Firestore maps cannot hold, its 1 MiB document limit, and its own lookup documents."""

from __future__ import annotations

import base64
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from tests.contract.records import T0, _delivery, _event, make
from tests.support.pages import walk
from tether.domain.errors import Conflict, InvalidRequest
from tether.domain.models import AuditEvent, WebhookInfo

if TYPE_CHECKING:
    from google.cloud import firestore

    from tether.adapters.firestore import FirestoreConnectionStore


@pytest.fixture
def fs_store(firestore_client: firestore.Client) -> FirestoreConnectionStore:
    from tether.adapters.firestore import FirestoreConnectionStore

    return FirestoreConnectionStore(firestore_client)


AWKWARD_TENANTS = [
    "acme/eu",  # "/" would make a path of it
    ".",
    "..",
    "__tenant__",  # reserved id form
    "a" * 2000,  # over the 1,500-byte id limit
    "tenant with spaces",
    "tënant",
]


@pytest.mark.parametrize("tenant", AWKWARD_TENANTS)
def test_awkward_tenant_ids_round_trip_and_stay_isolated(
    fs_store: FirestoreConnectionStore, tenant: str
) -> None:
    fs_store.create_connection(make("conn_x", tenant))
    fs_store.create_connection(make("conn_y", "acme"))
    got = fs_store.get_connection(tenant, "conn_x")
    assert got is not None and got.tenant_id == tenant
    assert [c.id for c in fs_store.list_connections(tenant).items] == ["conn_x"]
    assert fs_store.get_connection("acme", "conn_x") is None
    stored = fs_store.update_connection(
        got.model_copy(update={"display_name": "renamed"}), expected_version=1
    )
    assert stored.version == 2
    fs_store.append_audit(
        AuditEvent(
            id="aud_1",
            tenant_id=tenant,
            connection_id="conn_x",
            action="connection.updated",
            actor="u1",
            at=T0,
        )
    )
    assert [e.id for e in fs_store.list_audit(tenant, connection_id="conn_x")] == ["aud_1"]
    assert fs_store.list_audit("acme") == []
    scanned = {(c.tenant_id, c.id) for c in fs_store.scan_connections().items}
    assert scanned == {(tenant, "conn_x"), ("acme", "conn_y")}


def test_hashed_form_of_an_id_is_not_another_tenant(fs_store: FirestoreConnectionStore) -> None:
    from tether.adapters.firestore.paths import doc_id

    fs_store.create_connection(make("conn_x", "acme/eu"))
    assert fs_store.get_connection(doc_id("acme/eu"), "conn_x") is None


def test_json_firestore_maps_refuse_round_trips(fs_store: FirestoreConnectionStore) -> None:
    awkward: dict[str, Any] = {
        "matrix": [[1, 2], [3, [4]]],  # arrays in arrays
        "big": 2**70,  # beyond 64 bits
        "": "empty key",
        "__reserved__": 1,
        "a.b/c`d": {"nested": None},
    }
    original = make("conn_json", config=awkward, metadata=awkward)
    fs_store.create_connection(original)
    assert fs_store.get_connection("t1", "conn_json") == original


def test_record_over_one_mib_is_refused_and_nothing_is_written(
    fs_store: FirestoreConnectionStore,
) -> None:
    fs_store.create_connection(make("conn_ok", metadata={"pad": "x" * 1_040_000}))
    assert fs_store.get_connection("t1", "conn_ok") is not None
    with pytest.raises(InvalidRequest) as refused:
        fs_store.create_connection(make("conn_big", metadata={"pad": "x" * 1_048_576}))
    assert refused.value.code == "RECORD_TOO_LARGE"
    assert fs_store.get_connection("t1", "conn_big", include_deleted=True) is None
    current = fs_store.get_connection("t1", "conn_ok")
    assert current is not None
    with pytest.raises(InvalidRequest):
        fs_store.update_connection(
            current.model_copy(update={"metadata": {"pad": "y" * 1_100_000}}),
            expected_version=1,
        )
    assert fs_store.get_connection("t1", "conn_ok") == current
    big_event = _event("big").model_copy(update={"body": "b" * 1_048_576})
    with pytest.raises(InvalidRequest):
        fs_store.create_webhook_event(big_event)


def test_size_formula_matches_firestore_at_the_limit(firestore_client: firestore.Client) -> None:
    from google.api_core.exceptions import InvalidArgument

    from tether.adapters.firestore.paths import MAX_DOCUMENT_BYTES, document_size

    ref = firestore_client.collection("sizes").document("d")
    base = document_size(ref.path, {"pad": "", "n": 1, "at": T0, "ok": True, "none": None})

    def fields(extra: int) -> dict[str, Any]:
        pad = "x" * (MAX_DOCUMENT_BYTES - base + extra)
        return {"pad": pad, "n": 1, "at": T0, "ok": True, "none": None}

    assert document_size(ref.path, fields(0)) == MAX_DOCUMENT_BYTES
    ref.set(fields(0))
    with pytest.raises(InvalidArgument):
        ref.set(fields(1))


def test_webhook_token_lookup_follows_updates(fs_store: FirestoreConnectionStore) -> None:
    fs_store.create_connection(make("conn_a", webhook=WebhookInfo(url="u", token_hash="h/1")))
    with pytest.raises(Conflict):
        fs_store.create_connection(make("conn_b", webhook=WebhookInfo(url="u", token_hash="h/1")))
    assert fs_store.get_connection("t1", "conn_b") is None
    current = fs_store.get_connection("t1", "conn_a")
    assert current is not None
    moved = fs_store.update_connection(
        current.model_copy(update={"webhook": WebhookInfo(url="u", token_hash="h2")}),
        expected_version=1,
    )
    assert fs_store.find_connection_by_webhook_token("h/1") is None
    found = fs_store.find_connection_by_webhook_token("h2")
    assert found is not None and found.id == "conn_a"
    # the old hash is free again
    fs_store.create_connection(make("conn_b", webhook=WebhookInfo(url="u", token_hash="h/1")))
    fs_store.update_connection(moved.model_copy(update={"deleted_at": T0}), expected_version=2)
    assert fs_store.find_connection_by_webhook_token("h2") is None


def test_keys_and_names_with_slashes(fs_store: FirestoreConnectionStore) -> None:
    assert fs_store.create_webhook_event(_event("a/b/../c")) is True
    assert fs_store.create_webhook_event(_event("a/b/../c")) is False
    assert fs_store.get_webhook_event("stripe", "a/b/../c") is not None
    assert fs_store.get_webhook_event("stripe", "a/b") is None
    lease = fs_store.acquire_lease("sync/conn_1", "a", ttl_seconds=30, now=T0)
    assert lease is not None
    assert fs_store.acquire_lease("sync/conn_1", "b", ttl_seconds=30, now=T0) is None


def test_scan_cursor_is_checked(fs_store: FirestoreConnectionStore) -> None:
    for i in range(3):
        fs_store.create_connection(make(f"conn_{i}", f"tenant/{i}"))
    first = fs_store.scan_connections(limit=2)
    assert first.next_cursor is not None
    rest = fs_store.scan_connections(cursor=first.next_cursor, limit=2)
    assert len(first.items) + len(rest.items) == 3 and rest.next_cursor is None
    wrong_shape = base64.urlsafe_b64encode(b"tenants/t1/audit/aud_1").decode()
    for bad in ("!!", wrong_shape, "dGVuYW50cy94"):
        with pytest.raises(InvalidRequest) as refused:
            fs_store.scan_connections(cursor=bad)
        assert refused.value.code == "INVALID_CURSOR"


def test_list_expiring_pages_over_hashed_tenant_paths(fs_store: FirestoreConnectionStore) -> None:
    for i, tenant in enumerate(AWKWARD_TENANTS):
        expiry = T0 + timedelta(minutes=i % 2)  # ties across tenants
        fs_store.create_connection(make(f"conn_{i}", tenant, token_expires_at=expiry))
    expiring, _ = walk(partial(fs_store.list_expiring, before=T0 + timedelta(hours=1), limit=2))
    seen = [(c.tenant_id, c.id) for c in expiring]
    assert sorted(seen) == sorted((t, f"conn_{i}") for i, t in enumerate(AWKWARD_TENANTS))
    scan_cursor = fs_store.scan_connections(limit=1).next_cursor
    assert scan_cursor is not None
    with pytest.raises(InvalidRequest) as refused:
        fs_store.list_expiring(before=T0, cursor=scan_cursor)  # another query's cursor
    assert refused.value.code == "INVALID_CURSOR"


def test_expiry_field_is_top_level_and_older_documents_join_on_update(
    fs_store: FirestoreConnectionStore, firestore_client: firestore.Client
) -> None:
    from google.cloud.firestore import DELETE_FIELD

    fs_store.create_connection(make("conn_none"))
    fs_store.create_connection(make("conn_old", token_expires_at=T0))
    connections = firestore_client.collection("tenants").document("t1").collection("connections")
    assert connections.document("conn_none").get().get("token_expires_at") is None
    assert connections.document("conn_old").get().get("token_expires_at") == T0
    # as written before the field existed: the record has an expiry, the document no field
    connections.document("conn_old").update({"token_expires_at": DELETE_FIELD})
    assert fs_store.list_expiring(before=T0).items == []
    old = fs_store.get_connection("t1", "conn_old")
    assert old is not None
    fs_store.update_connection(old, expected_version=1)
    assert [c.id for c in fs_store.list_expiring(before=T0).items] == ["conn_old"]


def test_purge_also_removes_expired_leases_only(fs_store: FirestoreConnectionStore) -> None:
    fs_store.acquire_lease("old", "a", ttl_seconds=10, now=T0)
    fs_store.acquire_lease("new", "a", ttl_seconds=1000, now=T0)
    assert fs_store.purge_expired(now=T0 + timedelta(seconds=60)) == 1
    assert fs_store.acquire_lease("old", "b", ttl_seconds=10, now=T0) is not None
    assert fs_store.acquire_lease("new", "b", ttl_seconds=10, now=T0) is None


def test_deliveries_and_audit_entries_carry_their_ttl(
    firestore_client: firestore.Client,
) -> None:
    """``expires_at`` is what the TTL policies of the indexes file delete by: the time the
    record counts from plus the store's retention."""
    from tether.adapters.firestore import FirestoreConnectionStore
    from tether.domain.retention import Retention

    retention = Retention(deliveries=timedelta(days=3), audit=timedelta(days=90))
    fs_store = FirestoreConnectionStore(firestore_client, retention=retention)
    fs_store.record_delivery(_delivery("dlv_ttl"))
    fs_store.create_connection(
        make("conn_ttl"),
        audit=[
            AuditEvent(
                id="aud_ttl",
                tenant_id="t1",
                connection_id="conn_ttl",
                action="connection.created",
                actor="u1",
                at=T0,
            )
        ],
    )
    tenant = firestore_client.collection("tenants").document("t1")
    delivery = tenant.collection("deliveries").document("dlv_ttl").get()
    assert delivery.get("expires_at") == T0 + timedelta(days=3)
    entry = tenant.collection("audit").document("aud_ttl").get()
    assert entry.get("expires_at") == T0 + timedelta(days=90)
    assert fs_store.purge_expired(now=T0 + timedelta(days=3)) == 1
    assert fs_store.list_deliveries("t1") == []
    assert [e.id for e in fs_store.list_audit("t1")] == ["aud_ttl"]
