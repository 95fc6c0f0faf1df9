"""The ConnectionStore contract for records that can no longer be read (stored JSON that does
not parse or does not validate): a reader of many skips them and names them, a reader of one
gets ``RecordUnreadable``, and an unreadable connection can still be removed. Every backend
passes all of it; the poisoned JSON is written behind the store's back (``poison``)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from tests.contract.conftest import RecordPoisoner
from tests.contract.records import (
    T0,
    _delivery,
    _received,
    _settings,
    make,
)
from tests.support.pages import walk
from tether.domain.errors import RecordUnreadable
from tether.domain.models import AuditEvent, Connection, OAuthState, TenantSettings, WebhookInfo
from tether.ports import (
    AuditLog,
    ConnectionRepository,
    DeliveryRepository,
    OAuthStateRepository,
    TenantSettingsRepository,
    WebhookEventRepository,
)


def _deep(depth: int) -> str:
    """A connection record as the API stored it before bodies were bounded: config nested
    ``depth`` levels, valid JSON that pydantic's JSON parser (200 levels at most) refuses."""
    record = make("conn_placeholder").model_dump_json()
    return record.replace('"config":{}', '"config":' + '{"a":' * depth + "{}" + "}" * depth)


POISONS = {
    "deep": _deep(250),
    "not_json": '{"id": "conn_b", "tenant_id": "t1", ',
    "wrong_shape": '{"id": 7}',
    "not_an_object": "[]",
}


@pytest.fixture(params=sorted(POISONS))
def poisoned(request: pytest.FixtureRequest) -> str:
    return POISONS[request.param]


def _oauth(connection_id: str, tenant: str = "t1", *, minutes: int) -> Connection:
    return make(
        connection_id,
        tenant,
        minutes=minutes,
        auth_mode="oauth2",
        token_expires_at=T0 + timedelta(minutes=minutes),
    )


def _three_with_the_middle_poisoned(
    connections: ConnectionRepository, poison: RecordPoisoner, raw: str
) -> None:
    for i, cid in enumerate(["conn_a", "conn_b", "conn_c"]):
        connections.create_connection(_oauth(cid, minutes=i))
    poison.connection("t1", "conn_b", raw)


def test_a_listing_skips_an_unreadable_connection_and_names_it(
    connections: ConnectionRepository, poison: RecordPoisoner, poisoned: str
) -> None:
    _three_with_the_middle_poisoned(connections, poison, poisoned)
    connections.create_connection(_oauth("conn_other", "t2", minutes=5))
    page = connections.list_connections("t1")
    assert [c.id for c in page.items] == ["conn_c", "conn_a"]
    assert page.unreadable == ["conn_b"]
    other = connections.list_connections("t2")
    assert ([c.id for c in other.items], other.unreadable) == (["conn_other"], [])


def test_pages_walk_past_an_unreadable_connection(
    connections: ConnectionRepository, poison: RecordPoisoner
) -> None:
    _three_with_the_middle_poisoned(connections, poison, POISONS["deep"])
    seen, unreadable = walk(partial(connections.list_connections, "t1", limit=1))
    assert ([c.id for c in seen], unreadable) == (["conn_c", "conn_a"], ["conn_b"])


def test_scan_and_the_expiry_listing_skip_it_for_every_tenant(
    connections: ConnectionRepository, poison: RecordPoisoner, poisoned: str
) -> None:
    _three_with_the_middle_poisoned(connections, poison, poisoned)
    connections.create_connection(_oauth("conn_other", "t2", minutes=1))
    for limit in (1, 2, 200):
        scanned, unreadable_scanned = walk(partial(connections.scan_connections, limit=limit))
        expiring, unreadable_expiring = walk(
            partial(connections.list_expiring, before=T0 + timedelta(hours=1), limit=limit)
        )
        assert sorted(c.id for c in scanned) == ["conn_a", "conn_c", "conn_other"]
        assert [c.id for c in expiring] == ["conn_a", "conn_other", "conn_c"]
        assert unreadable_scanned + unreadable_expiring == ["conn_b", "conn_b"]


def test_reading_an_unreadable_connection_is_record_unreadable(
    connections: ConnectionRepository, poison: RecordPoisoner, poisoned: str
) -> None:
    _three_with_the_middle_poisoned(connections, poison, poisoned)
    with pytest.raises(RecordUnreadable) as caught:
        connections.get_connection("t1", "conn_b")
    assert caught.value.code == "RECORD_UNREADABLE"
    assert caught.value.http_status == 409
    assert "{" not in caught.value.message and "config" not in caught.value.message
    with pytest.raises(RecordUnreadable):
        connections.get_connection("t1", "conn_b", include_deleted=True)
    assert connections.get_connection("t2", "conn_b") is None  # another tenant still sees nothing


def test_an_unreadable_connection_can_be_removed_and_only_an_unreadable_one(
    connections: ConnectionRepository, poison: RecordPoisoner, poisoned: str
) -> None:
    hooked = make(
        "conn_b",
        webhook=WebhookInfo(url="https://h/x", token_hash="hash_b"),
        webhook_route="acct_1",
    )
    connections.create_connection(make("conn_a"))
    connections.create_connection(hooked)
    poison.connection("t1", "conn_b", poisoned)
    assert connections.remove_unreadable_connection("t1", "conn_a") is False
    assert connections.remove_unreadable_connection("t2", "conn_b") is False
    assert connections.remove_unreadable_connection("t1", "conn_missing") is False
    assert connections.remove_unreadable_connection("t1", "conn_b") is True
    assert connections.get_connection("t1", "conn_b", include_deleted=True) is None
    assert connections.get_connection("t1", "conn_a") is not None
    page = connections.list_connections("t1")
    assert ([c.id for c in page.items], page.unreadable) == (["conn_a"], [])
    # its webhook token and route are free again
    assert connections.find_connection_by_webhook_token("hash_b") is None
    assert connections.find_connection_by_route("stripe", "acct_1") is None
    connections.create_connection(
        make("conn_new", webhook=WebhookInfo(url="https://h/y", token_hash="hash_b"))
    )
    connections.create_connection(make("conn_new2", webhook_route="acct_1"))
    assert connections.remove_unreadable_connection("t1", "conn_b") is False


def test_listings_of_audit_deliveries_and_events_skip_unreadable_records(
    audit_log: AuditLog,
    deliveries: DeliveryRepository,
    webhook_events: WebhookEventRepository,
    poison: RecordPoisoner,
    poisoned: str,
) -> None:
    for i in range(3):
        audit_log.append_audit(
            AuditEvent(
                id=f"aud_{i}",
                tenant_id="t1",
                connection_id="conn_1",
                action="connection.updated",
                actor="u1",
                at=T0 + timedelta(seconds=i),
            )
        )
        deliveries.record_delivery(_delivery(f"evt_{i}", minutes=i))
        webhook_events.create_webhook_event(_received(f"e{i}", minutes=i))
    poison.audit("t1", "aud_1", poisoned)
    poison.delivery("t1", "evt_1", poisoned)
    poison.webhook_event("webhook", "conn_1/e1", poisoned)
    assert [e.id for e in audit_log.list_audit("t1")] == ["aud_2", "aud_0"]
    assert [e.id for e in audit_log.list_audit("t1", connection_id="conn_1")] == ["aud_2", "aud_0"]
    assert [d.id for d in deliveries.list_deliveries("t1")] == ["evt_2", "evt_0"]
    assert [d.id for d in deliveries.list_deliveries("t1", connection_id="conn_1")] == [
        "evt_2",
        "evt_0",
    ]
    assert [e.id for e in webhook_events.list_webhook_events("t1", "conn_1")] == [
        "whe_e2",
        "whe_e0",
    ]


def test_single_reads_of_other_unreadable_records_are_record_unreadable(
    deliveries: DeliveryRepository,
    webhook_events: WebhookEventRepository,
    tenant_settings: TenantSettingsRepository,
    poison: RecordPoisoner,
    poisoned: str,
) -> None:
    deliveries.record_delivery(_delivery("evt_1"))
    webhook_events.create_webhook_event(_received("e1", minutes=1))
    tenant_settings.put_tenant_settings(_settings(), expected_version=None)
    poison.delivery("t1", "evt_1", poisoned)
    poison.webhook_event("webhook", "conn_1/e1", poisoned)
    poison.tenant_settings("t1", poisoned)
    with pytest.raises(RecordUnreadable):
        deliveries.get_delivery("t1", "evt_1")
    with pytest.raises(RecordUnreadable):
        webhook_events.get_webhook_event("webhook", "conn_1/e1")
    with pytest.raises(RecordUnreadable):
        tenant_settings.get_tenant_settings("t1")


def test_the_rotation_scans_of_settings_and_states_skip_and_name_unreadable_ones(
    tenant_settings: TenantSettingsRepository,
    oauth_states: OAuthStateRepository,
    poison: RecordPoisoner,
    poisoned: str,
) -> None:
    tenants = ["t1", "a/b", "t3", "..", "t5"]  # "a/b" and ".." are stored under hashed ids
    for tenant in tenants:
        tenant_settings.put_tenant_settings(
            TenantSettings(tenant_id=tenant, updated_at=T0), expected_version=None
        )
        oauth_states.create_oauth_state(
            OAuthState(
                state_hash=f"h_{len(tenant)}{tenant.encode().hex()}",
                tenant_id=tenant,
                user_id="u1",
                provider="google_drive",
                redirect_uri="https://tether.example/oauth_callback/",
                created_at=T0,
                expires_at=T0 + timedelta(minutes=10),
            )
        )
    for bad in ("a/b", ".."):
        poison.tenant_settings(bad, poisoned)
        poison.oauth_state(f"h_{len(bad)}{bad.encode().hex()}", poisoned)
    for limit in (1, 2, 100):  # a page may end on an unreadable record, or hold only those
        settings, unreadable_settings = walk(
            partial(tenant_settings.scan_tenant_settings, limit=limit)
        )
        states, unreadable_states = walk(partial(oauth_states.scan_oauth_states, limit=limit))
        assert (
            sorted(s.tenant_id for s in settings)
            == sorted(s.tenant_id for s in states)
            == ["t1", "t3", "t5"]
        )
        assert len(unreadable_settings) == len(unreadable_states) == 2
