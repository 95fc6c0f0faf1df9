"""The ConnectionStore contract: every backend passes all of it."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tether.domain.errors import Conflict, InvalidRequest, VersionConflict
from tether.domain.models import (
    AuditEvent,
    Connection,
    Delivery,
    DeliveryStatus,
    NotifySecret,
    OAuthState,
    TenantSettings,
    WebhookEvent,
    WebhookInfo,
)
from tether.domain.retention import Retention
from tether.domain.status import ConnectionStatus
from tether.ports import ConnectionStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make(
    connection_id: str, tenant: str = "t1", *, minutes: int = 0, **extra: object
) -> Connection:
    at = T0 + timedelta(minutes=minutes)
    fields: dict[str, object] = {
        "id": connection_id,
        "tenant_id": tenant,
        "provider": "stripe",
        "auth_mode": "api_key",
        "display_name": f"conn {connection_id}",
        "created_at": at,
        "updated_at": at,
        "created_by": "u1",
    }
    fields.update(extra)
    return Connection.model_validate(fields)


def test_create_then_get_round_trips_every_field(store: ConnectionStore) -> None:
    original = make(
        "conn_a1",
        config={"shop": "acme", "nested": {"n": 1}},
        metadata={"team": "x"},
        credential_hints={"api_key": "sk_live_…4242"},
        scopes=["read", "write"],
        status=ConnectionStatus.ACTIVE,
        webhook=WebhookInfo(url="https://h/x", token_hash="abc"),
    )
    store.create_connection(original)
    assert store.get_connection("t1", "conn_a1") == original


def test_duplicate_id_conflicts(store: ConnectionStore) -> None:
    store.create_connection(make("conn_dup"))
    with pytest.raises(Conflict):
        store.create_connection(make("conn_dup"))


def test_other_tenant_sees_nothing(store: ConnectionStore) -> None:
    store.create_connection(make("conn_t1", "t1"))
    assert store.get_connection("t2", "conn_t1") is None
    assert store.list_connections("t2").items == []
    with pytest.raises(VersionConflict):
        store.update_connection(make("conn_t1", "t2"), expected_version=1)
    assert store.get_connection("t1", "conn_t1") is not None


def test_list_is_newest_first_paginated_and_filtered(store: ConnectionStore) -> None:
    for i in range(7):
        store.create_connection(
            make(
                f"conn_{i:02d}",
                minutes=i,
                provider="xero" if i % 2 else "stripe",
                status=ConnectionStatus.ACTIVE if i < 5 else ConnectionStatus.ERROR,
            )
        )
    store.create_connection(make("conn_other", "t2"))
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_connections("t1", limit=3, cursor=cursor)
        seen += [c.id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"conn_{i:02d}" for i in reversed(range(7))]
    assert [c.id for c in store.list_connections("t1", provider="xero").items] == [
        "conn_05",
        "conn_03",
        "conn_01",
    ]
    assert [c.id for c in store.list_connections("t1", status="error").items] == [
        "conn_06",
        "conn_05",
    ]


def test_same_timestamp_pages_do_not_skip_or_repeat(store: ConnectionStore) -> None:
    for i in range(5):
        store.create_connection(make(f"conn_same{i}"))
    first = store.list_connections("t1", limit=2)
    rest = store.list_connections("t1", limit=10, cursor=first.next_cursor)
    ids = [c.id for c in first.items + rest.items]
    assert sorted(ids) == sorted(f"conn_same{i}" for i in range(5))
    assert len(set(ids)) == 5


def _listing_fixture(store: ConnectionStore) -> list[Connection]:
    """24 live connections of t1, four to a ``created_at`` (so page ends fall between equal
    times), statuses and providers mixed, plus soft-deleted ones and another tenant's, none
    of which a listing may show. Returns the live ones, newest first as listings order them
    (``created_at`` then id, both descending)."""
    live = []
    statuses = (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR, ConnectionStatus.ACTIVE)
    for i in range(24):
        connection = make(
            f"conn_{(i * 7) % 24:02d}",
            minutes=i // 4,
            status=statuses[i % 3],
            provider="xero" if i % 2 else "stripe",
        )
        store.create_connection(connection)
        live.append(connection)
    for i in range(4):
        gone = make(f"conn_gone{i}", minutes=i, status=ConnectionStatus.ERROR, provider="xero")
        store.create_connection(gone)
        store.update_connection(gone.model_copy(update={"deleted_at": T0}), expected_version=1)
        store.create_connection(make(f"conn_t2_{i}", "t2", minutes=i, status="error"))
    return sorted(live, key=lambda c: (c.created_at, c.id), reverse=True)


@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "error"}, {"provider": "xero"}, {"status": "active", "provider": "xero"}],
)
@pytest.mark.parametrize("limit", [1, 3, 5])
def test_filtered_pages_across_equal_times_neither_skip_nor_repeat(
    store: ConnectionStore, filters: dict[str, str], limit: int
) -> None:
    expected = [
        c.id
        for c in _listing_fixture(store)
        if c.status.value == filters.get("status", c.status.value)
        and c.provider == filters.get("provider", c.provider)
    ]
    seen: list[str] = []
    cursor = None
    for _ in range(len(expected) + 1):
        page = store.list_connections("t1", limit=limit, cursor=cursor, **filters)
        assert len(page.items) <= limit
        seen += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert len(expected) >= 4  # the filter keeps several of one created_at


def test_a_cursor_from_the_last_item_ends_the_listing(store: ConnectionStore) -> None:
    for i in range(4):
        store.create_connection(make(f"conn_end{i}", status="error"))
    page = store.list_connections("t1", status="error", limit=4)
    assert len(page.items) == 4 and page.next_cursor is None
    first = store.list_connections("t1", status="error", limit=3)
    assert first.next_cursor is not None
    last = store.list_connections("t1", status="error", limit=3, cursor=first.next_cursor)
    assert [c.id for c in last.items] == ["conn_end0"] and last.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        "!!not-a-cursor",
        "a b",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-03-01"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["yesterday", "conn_1"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"created_at": "x"}).encode()).decode(),
    ],
)
def test_bad_cursor_is_a_client_error(store: ConnectionStore, cursor: str) -> None:
    for filters in ({}, {"status": "error"}, {"provider": "xero", "status": "active"}):
        with pytest.raises(InvalidRequest) as refused:
            store.list_connections("t1", cursor=cursor, **filters)
        assert refused.value.code == "INVALID_CURSOR"


def test_update_is_compare_and_set(store: ConnectionStore) -> None:
    store.create_connection(make("conn_cas"))
    current = store.get_connection("t1", "conn_cas")
    assert current is not None
    stored = store.update_connection(
        current.model_copy(update={"display_name": "renamed"}), expected_version=1
    )
    assert stored.version == 2
    with pytest.raises(VersionConflict):
        store.update_connection(
            current.model_copy(update={"display_name": "stale"}), expected_version=1
        )
    again = store.get_connection("t1", "conn_cas")
    assert again is not None and again.display_name == "renamed" and again.version == 2


def test_concurrent_updates_exactly_one_wins(store: ConnectionStore) -> None:
    store.create_connection(make("conn_race"))
    base = store.get_connection("t1", "conn_race")
    assert base is not None
    wins: list[str] = []
    losses: list[str] = []

    def attempt(name: str) -> None:
        try:
            store.update_connection(
                base.model_copy(update={"display_name": name}), expected_version=1
            )
            wins.append(name)
        except VersionConflict:
            losses.append(name)

    threads = [threading.Thread(target=attempt, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    final = store.get_connection("t1", "conn_race")
    assert final is not None and final.display_name == wins[0]


def test_soft_deleted_is_hidden_but_scannable(store: ConnectionStore) -> None:
    store.create_connection(make("conn_gone"))
    current = store.get_connection("t1", "conn_gone")
    assert current is not None
    store.update_connection(current.model_copy(update={"deleted_at": T0}), expected_version=1)
    assert store.get_connection("t1", "conn_gone") is None
    assert store.get_connection("t1", "conn_gone", include_deleted=True) is not None
    assert store.list_connections("t1").items == []
    assert [c.id for c in store.scan_connections().items] == ["conn_gone"]


def test_scan_walks_every_tenant_in_pages(store: ConnectionStore) -> None:
    for i in range(5):
        store.create_connection(make(f"conn_s{i}", f"tenant{i % 2}"))
    seen: list[str] = []
    cursor = None
    while True:
        page = store.scan_connections(cursor=cursor, limit=2)
        seen += [c.id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == [f"conn_s{i}" for i in range(5)]


def _expiring(connection: Connection, expires_at: datetime | None) -> Connection:
    return connection.model_copy(update={"auth_mode": "oauth2", "token_expires_at": expires_at})


def _all_expiring(store: ConnectionStore, before: datetime, *, limit: int) -> list[Connection]:
    seen: list[Connection] = []
    cursor = None
    while True:
        page = store.list_expiring(before=before, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        seen += page.items
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_list_expiring_finds_live_due_connections_soonest_first(store: ConnectionStore) -> None:
    plus_five = timezone(timedelta(hours=5))
    store.create_connection(_expiring(make("conn_late", "t2"), T0 + timedelta(minutes=50)))
    store.create_connection(_expiring(make("conn_soon", "t1"), T0 + timedelta(minutes=5)))
    # another zone, and a microsecond after conn_soon: order is by instant, not by text
    store.create_connection(
        _expiring(
            make("conn_zoned", "t3"),
            (T0 + timedelta(minutes=5, microseconds=1)).astimezone(plus_five),
        )
    )
    store.create_connection(_expiring(make("conn_past", "t2"), T0 - timedelta(days=3)))
    store.create_connection(_expiring(make("conn_edge", "t1"), T0 + timedelta(hours=1)))
    store.create_connection(_expiring(make("conn_later", "t1"), T0 + timedelta(hours=2)))
    store.create_connection(make("conn_apikey", "t1"))  # no expiry at all
    store.create_connection(
        _expiring(make("conn_deleted", "t2", deleted_at=T0), T0 + timedelta(minutes=1))
    )
    due = store.list_expiring(before=T0 + timedelta(hours=1))
    assert [(c.tenant_id, c.id) for c in due.items] == [
        ("t2", "conn_past"),
        ("t1", "conn_soon"),
        ("t3", "conn_zoned"),
        ("t2", "conn_late"),
        ("t1", "conn_edge"),  # <= before: an expiry equal to it is due
    ]
    assert due.next_cursor is None
    zoned = store.get_connection("t3", "conn_zoned")
    assert zoned is not None and due.items[2] == zoned  # whole records, as stored
    assert store.list_expiring(before=T0 - timedelta(days=4)).items == []


def test_list_expiring_follows_updates(store: ConnectionStore) -> None:
    store.create_connection(_expiring(make("conn_a"), T0 + timedelta(hours=3)))
    store.create_connection(_expiring(make("conn_b", "t2"), T0 + timedelta(minutes=10)))
    before = T0 + timedelta(hours=1)
    assert [c.id for c in store.list_expiring(before=before).items] == ["conn_b"]

    # a record refreshed further out leaves the sweep; one brought forward enters it
    b = store.get_connection("t2", "conn_b")
    assert b is not None
    store.update_connection(
        b.model_copy(update={"token_expires_at": T0 + timedelta(hours=5)}), expected_version=1
    )
    a = store.get_connection("t1", "conn_a")
    assert a is not None
    a = store.update_connection(
        a.model_copy(update={"token_expires_at": T0 + timedelta(minutes=20)}), expected_version=1
    )
    due = store.list_expiring(before=before).items
    assert [c.id for c in due] == ["conn_a"] and due[0].version == 2

    # a cleared expiry (revoked, API key) or a deleted record is never due
    a = store.update_connection(a.model_copy(update={"token_expires_at": None}), expected_version=2)
    assert store.list_expiring(before=before).items == []
    a = store.update_connection(
        a.model_copy(update={"token_expires_at": T0 + timedelta(minutes=20)}), expected_version=3
    )
    assert [c.id for c in store.list_expiring(before=before).items] == ["conn_a"]
    store.update_connection(a.model_copy(update={"deleted_at": T0}), expected_version=4)
    assert store.list_expiring(before=before).items == []
    assert store.list_expiring(before=T0 + timedelta(days=1)).items[0].id == "conn_b"


def test_list_expiring_pages_neither_skip_nor_repeat(store: ConnectionStore) -> None:
    expected: list[tuple[str, str]] = []
    for i in range(9):
        # three expiry times, three records each, in three tenants: ties across tenants
        tenant = f"tenant{i % 3}"
        store.create_connection(
            _expiring(make(f"conn_p{i}", tenant), T0 + timedelta(minutes=i // 3))
        )
        expected.append((tenant, f"conn_p{i}"))
    store.create_connection(_expiring(make("conn_out"), T0 + timedelta(days=1)))
    store.create_connection(_expiring(make("conn_gone", deleted_at=T0), T0 + timedelta(minutes=1)))
    before = T0 + timedelta(hours=1)
    for limit in (1, 2, 4, 9, 50):
        seen = _all_expiring(store, before, limit=limit)
        keys = [(c.tenant_id, c.id) for c in seen]
        assert sorted(keys) == sorted(expected), limit
        times = [c.token_expires_at for c in seen if c.token_expires_at is not None]
        assert len(times) == len(seen)
        assert times == sorted(times), limit  # soonest first, ties in any fixed order
    full = store.list_expiring(before=before, limit=9)
    assert len(full.items) == 9 and full.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        "!!not-a-cursor",
        "a b",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-03-01"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["yesterday", "conn_1"]).encode()).decode(),
    ],
)
def test_list_expiring_bad_cursor_is_a_client_error(store: ConnectionStore, cursor: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        store.list_expiring(before=T0, cursor=cursor)
    assert refused.value.code == "INVALID_CURSOR"


def test_list_expiring_needs_a_positive_limit(store: ConnectionStore) -> None:
    with pytest.raises(InvalidRequest):
        store.list_expiring(before=T0, limit=0)


def test_find_by_webhook_token_hash(store: ConnectionStore) -> None:
    store.create_connection(make("conn_wh", webhook=WebhookInfo(url="u", token_hash="h1")))
    found = store.find_connection_by_webhook_token("h1")
    assert found is not None and found.id == "conn_wh"
    assert store.find_connection_by_webhook_token("h2") is None


def test_find_by_route_finds_the_live_connection_of_that_provider(
    store: ConnectionStore,
) -> None:
    store.create_connection(make("conn_r1", "t1", webhook_route="acct/1"))
    store.create_connection(make("conn_r2", "t2", webhook_route="acct_2"))
    # the same value under another provider is another account
    store.create_connection(make("conn_r3", "t1", provider="slack", webhook_route="acct/1"))
    store.create_connection(make("conn_none", "t1"))
    found = store.find_connection_by_route("stripe", "acct/1")
    assert found is not None and (found.tenant_id, found.id) == ("t1", "conn_r1")
    assert found.webhook_route == "acct/1"
    other = store.find_connection_by_route("stripe", "acct_2")
    assert other is not None and (other.tenant_id, other.id) == ("t2", "conn_r2")
    slack = store.find_connection_by_route("slack", "acct/1")
    assert slack is not None and slack.id == "conn_r3"
    assert store.find_connection_by_route("stripe", "ACCT/1") is None
    assert store.find_connection_by_route("stripe", "acct") is None
    assert store.find_connection_by_route("hubspot", "acct_2") is None


def test_a_deleted_connection_is_not_found_by_route_and_frees_it(store: ConnectionStore) -> None:
    store.create_connection(make("conn_del", webhook_route="acct_1"))
    current = store.get_connection("t1", "conn_del")
    assert current is not None
    store.update_connection(current.model_copy(update={"deleted_at": T0}), expected_version=1)
    assert store.find_connection_by_route("stripe", "acct_1") is None
    # the account can be connected again, by anyone
    store.create_connection(make("conn_again", "t2", webhook_route="acct_1"))
    found = store.find_connection_by_route("stripe", "acct_1")
    assert found is not None and found.id == "conn_again"


def test_a_second_live_connection_cannot_claim_a_route(store: ConnectionStore) -> None:
    store.create_connection(make("conn_first", webhook_route="acct_1"))
    with pytest.raises(Conflict) as refused:
        store.create_connection(make("conn_second", "t2", webhook_route="acct_1"))
    assert refused.value.code == "WEBHOOK_ROUTE_TAKEN"
    assert store.get_connection("t2", "conn_second") is None
    store.create_connection(make("conn_third", webhook_route="acct_3"))
    third = store.get_connection("t1", "conn_third")
    assert third is not None
    with pytest.raises(Conflict) as refused:
        store.update_connection(
            third.model_copy(update={"webhook_route": "acct_1"}), expected_version=1
        )
    assert refused.value.code == "WEBHOOK_ROUTE_TAKEN"
    assert store.get_connection("t1", "conn_third") == third
    found = store.find_connection_by_route("stripe", "acct_1")
    assert found is not None and found.id == "conn_first"
    # unchanged routes do not conflict with themselves
    store.update_connection(third.model_copy(update={"display_name": "x"}), expected_version=1)
    assert store.find_connection_by_route("stripe", "acct_3") is not None


def test_a_route_change_moves_the_lookup(store: ConnectionStore) -> None:
    store.create_connection(make("conn_mv", webhook_route="acct_old"))
    current = store.get_connection("t1", "conn_mv")
    assert current is not None
    moved = store.update_connection(
        current.model_copy(update={"webhook_route": "acct_new"}), expected_version=1
    )
    assert store.find_connection_by_route("stripe", "acct_old") is None
    found = store.find_connection_by_route("stripe", "acct_new")
    assert found is not None and found.id == "conn_mv" and found.version == 2
    # the old value is free again; clearing the route frees the new one too
    store.create_connection(make("conn_old", webhook_route="acct_old"))
    store.update_connection(moved.model_copy(update={"webhook_route": None}), expected_version=2)
    assert store.find_connection_by_route("stripe", "acct_new") is None
    store.create_connection(make("conn_new", webhook_route="acct_new"))


def test_audit_is_tenant_scoped_newest_first(store: ConnectionStore) -> None:
    for i in range(3):
        store.append_audit(
            AuditEvent(
                id=f"aud_{i}",
                tenant_id="t1",
                connection_id="conn_1" if i < 2 else "conn_2",
                action="connection.updated",
                actor="u1",
                at=T0 + timedelta(seconds=i),
                detail={"fields": ["display_name"]},
            )
        )
    assert [e.id for e in store.list_audit("t1")] == ["aud_2", "aud_1", "aud_0"]
    assert [e.id for e in store.list_audit("t1", connection_id="conn_1")] == ["aud_1", "aud_0"]
    assert store.list_audit("t2") == []


def _entry(event_id: str, tenant: str = "t1", connection_id: str | None = "conn_au") -> AuditEvent:
    return AuditEvent(
        id=event_id,
        tenant_id=tenant,
        connection_id=connection_id,
        action="connection.updated",
        actor="u1",
        at=T0,
        detail={"fields": ["display_name"]},
    )


def test_a_write_commits_its_audit_entries_with_it(store: ConnectionStore) -> None:
    store.create_connection(make("conn_au"), audit=[_entry("aud_c1"), _entry("aud_c2")])
    current = store.get_connection("t1", "conn_au")
    assert current is not None
    store.update_connection(
        current.model_copy(update={"display_name": "renamed"}),
        expected_version=1,
        audit=[_entry("aud_u1")],
    )
    stored = store.get_connection("t1", "conn_au")
    assert stored is not None and stored.display_name == "renamed" and stored.version == 2
    assert {e.id for e in store.list_audit("t1", connection_id="conn_au")} == {
        "aud_c1",
        "aud_c2",
        "aud_u1",
    }


def test_a_create_whose_audit_entry_fails_leaves_neither(store: ConnectionStore) -> None:
    """The entry cannot be written (its id is taken): the record is not created either."""
    store.append_audit(_entry("aud_taken", connection_id="conn_other"))
    with pytest.raises(Conflict):
        store.create_connection(make("conn_au"), audit=[_entry("aud_new"), _entry("aud_taken")])
    assert store.get_connection("t1", "conn_au", include_deleted=True) is None
    assert [e.id for e in store.list_audit("t1")] == ["aud_taken"]
    # nothing half-written blocks a retry with fresh entries
    store.create_connection(make("conn_au"), audit=[_entry("aud_new")])
    assert [e.id for e in store.list_audit("t1", connection_id="conn_au")] == ["aud_new"]


def test_an_update_whose_audit_entry_fails_leaves_neither(store: ConnectionStore) -> None:
    store.create_connection(
        make("conn_au", webhook=WebhookInfo(url="https://h/x", token_hash="h1"))
    )
    store.append_audit(_entry("aud_taken"))
    current = store.get_connection("t1", "conn_au")
    assert current is not None
    changed = current.model_copy(
        update={
            "display_name": "renamed",
            "webhook": WebhookInfo(url="https://h/y", token_hash="h2"),
        }
    )
    with pytest.raises(Conflict):
        store.update_connection(changed, expected_version=1, audit=[_entry("aud_taken")])
    assert store.get_connection("t1", "conn_au") == current
    assert [e.id for e in store.list_audit("t1")] == ["aud_taken"]
    # the webhook-token lookup written with it is rolled back too
    assert store.find_connection_by_webhook_token("h1") == current
    assert store.find_connection_by_webhook_token("h2") is None


def test_a_refused_compare_and_set_writes_no_audit_entry(store: ConnectionStore) -> None:
    store.create_connection(make("conn_au"))
    current = store.get_connection("t1", "conn_au")
    assert current is not None
    with pytest.raises(VersionConflict):
        store.update_connection(current, expected_version=7, audit=[_entry("aud_lost")])
    assert store.list_audit("t1") == []


def test_audit_entries_of_another_tenant_never_commit(store: ConnectionStore) -> None:
    with pytest.raises(InvalidRequest):
        store.create_connection(make("conn_au"), audit=[_entry("aud_x", tenant="t2")])
    assert store.get_connection("t1", "conn_au") is None
    store.create_connection(make("conn_au"))
    current = store.get_connection("t1", "conn_au")
    assert current is not None
    with pytest.raises(InvalidRequest):
        store.update_connection(current, expected_version=1, audit=[_entry("aud_x", tenant="t2")])
    assert store.get_connection("t1", "conn_au") == current
    assert store.list_audit("t1") == [] and store.list_audit("t2") == []


def test_tenant_settings_commit_their_audit_entries_with_them(store: ConnectionStore) -> None:
    settings = TenantSettings(tenant_id="t1", notify_url="https://a.example/hook", updated_at=T0)
    first = store.put_tenant_settings(
        settings, expected_version=None, audit=[_entry("aud_s1", connection_id=None)]
    )
    store.append_audit(_entry("aud_taken", connection_id=None))
    changed = first.model_copy(update={"notify_url": "https://b.example/hook"})
    with pytest.raises(Conflict):
        store.put_tenant_settings(
            changed, expected_version=1, audit=[_entry("aud_taken", connection_id=None)]
        )
    assert store.get_tenant_settings("t1") == first
    with pytest.raises(VersionConflict):
        store.put_tenant_settings(
            changed, expected_version=5, audit=[_entry("aud_lost", connection_id=None)]
        )
    store.put_tenant_settings(
        changed, expected_version=1, audit=[_entry("aud_s2", connection_id=None)]
    )
    stored = store.get_tenant_settings("t1")
    assert stored is not None and stored.notify_url == "https://b.example/hook"
    assert {e.id for e in store.list_audit("t1")} == {"aud_s1", "aud_taken", "aud_s2"}


def _state(state_hash: str, *, expires_in: int = 600) -> OAuthState:
    return OAuthState(
        state_hash=state_hash,
        tenant_id="t1",
        user_id="u1",
        provider="google_drive",
        redirect_uri="https://tether.example/oauth_callback/",
        created_at=T0,
        expires_at=T0 + timedelta(seconds=expires_in),
        data={"verifier_sealed": "tg1.x"},
    )


def test_oauth_state_is_single_use(store: ConnectionStore) -> None:
    store.create_oauth_state(_state("s1"))
    with pytest.raises(Conflict):
        store.create_oauth_state(_state("s1"))
    first = store.consume_oauth_state("s1", now=T0)
    assert first is not None and first.used_at is None
    replay = store.consume_oauth_state("s1", now=T0 + timedelta(seconds=5))
    assert replay is not None and replay.used_at == T0
    assert store.consume_oauth_state("unknown", now=T0) is None


def test_oauth_state_concurrent_consume_has_one_winner(store: ConnectionStore) -> None:
    store.create_oauth_state(_state("race"))
    fresh: list[bool] = []
    lock = threading.Lock()

    def consume() -> None:
        got = store.consume_oauth_state("race", now=T0)
        with lock:
            fresh.append(got is not None and got.used_at is None)

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fresh.count(True) == 1


def _event(key: str, *, expires_in: int = 3600) -> WebhookEvent:
    return WebhookEvent(
        id=f"evt_{key}",
        provider="stripe",
        dedupe_key=key,
        tenant_id="t1",
        connection_id="conn_1",
        received_at=T0,
        expires_at=T0 + timedelta(seconds=expires_in),
        body='{"id": "evt_1"}',
    )


def test_webhook_event_dedupe_by_atomic_create(store: ConnectionStore) -> None:
    assert store.create_webhook_event(_event("e1")) is True
    assert store.create_webhook_event(_event("e1")) is False
    got = store.get_webhook_event("stripe", "e1")
    assert got is not None and got.body == '{"id": "evt_1"}'
    store.update_webhook_event(got.model_copy(update={"status": "enqueued"}))
    updated = store.get_webhook_event("stripe", "e1")
    assert updated is not None and updated.status == "enqueued"
    store.delete_webhook_event("stripe", "e1")
    assert store.get_webhook_event("stripe", "e1") is None
    assert store.create_webhook_event(_event("e1")) is True


def test_webhook_event_concurrent_create_has_one_winner(store: ConnectionStore) -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def create() -> None:
        ok = store.create_webhook_event(_event("race"))
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_leases_exclude_others_until_expiry(store: ConnectionStore) -> None:
    lease = store.acquire_lease("refresh:conn_1", "a", ttl_seconds=30, now=T0)
    assert lease is not None and lease.owner == "a"
    assert store.acquire_lease("refresh:conn_1", "b", ttl_seconds=30, now=T0) is None
    # the holder may extend
    assert store.acquire_lease("refresh:conn_1", "a", ttl_seconds=30, now=T0) is not None
    # expired → someone else may take it
    later = T0 + timedelta(seconds=31)
    taken = store.acquire_lease("refresh:conn_1", "b", ttl_seconds=30, now=later)
    assert taken is not None and taken.owner == "b"
    # a stale owner's release does nothing
    store.release_lease("refresh:conn_1", "a")
    assert store.acquire_lease("refresh:conn_1", "c", ttl_seconds=30, now=later) is None
    store.release_lease("refresh:conn_1", "b")
    assert store.acquire_lease("refresh:conn_1", "c", ttl_seconds=30, now=later) is not None


def test_purge_expired_removes_only_expired(store: ConnectionStore) -> None:
    store.create_oauth_state(_state("old", expires_in=10))
    store.create_oauth_state(_state("new", expires_in=1000))
    store.create_webhook_event(_event("old", expires_in=10))
    store.create_webhook_event(_event("new", expires_in=1000))
    removed = store.purge_expired(now=T0 + timedelta(seconds=60))
    assert removed == 2
    assert store.consume_oauth_state("old", now=T0) is None
    assert store.consume_oauth_state("new", now=T0) is not None
    assert store.get_webhook_event("stripe", "old") is None
    assert store.get_webhook_event("stripe", "new") is not None


def _drain(store: ConnectionStore, key: str, *, per_minute: int, burst: int, now: datetime) -> int:
    """Acquire on ``key`` at ``now`` until refused; how many were granted."""
    granted = 0
    while store.acquire_rate(key, per_minute=per_minute, burst=burst, now=now) == 0.0:
        granted += 1
        assert granted <= burst, "granted more than the burst"
    return granted


def test_rate_bucket_allows_the_burst_then_says_how_long_to_wait(store: ConnectionStore) -> None:
    for _ in range(4):
        assert store.acquire_rate("rate:conn_a", per_minute=30, burst=4, now=T0) == 0.0
    wait = store.acquire_rate("rate:conn_a", per_minute=30, burst=4, now=T0)
    assert wait == pytest.approx(60 / 30)
    # a refusal takes nothing: asking again at the same time gets the same answer
    assert store.acquire_rate("rate:conn_a", per_minute=30, burst=4, now=T0) == wait
    half = T0 + timedelta(seconds=1)
    assert store.acquire_rate("rate:conn_a", per_minute=30, burst=4, now=half) == pytest.approx(1.0)


def test_rate_bucket_refills_with_time_up_to_the_burst(store: ConnectionStore) -> None:
    key, rate = "rate:conn_refill", {"per_minute": 60, "burst": 3}
    assert _drain(store, key, now=T0, **rate) == 3
    # one token a second
    assert _drain(store, key, now=T0 + timedelta(seconds=1), **rate) == 1
    assert _drain(store, key, now=T0 + timedelta(seconds=3.5), **rate) == 2
    wait = store.acquire_rate(key, now=T0 + timedelta(seconds=3.5), **rate)
    assert wait == pytest.approx(0.5)
    # sleeping exactly the wait is enough
    assert store.acquire_rate(key, now=T0 + timedelta(seconds=3.5 + wait), **rate) == 0.0
    # a long pause refills to the burst, not beyond
    assert _drain(store, key, now=T0 + timedelta(hours=1), **rate) == 3


def test_rate_bucket_wait_of_an_odd_rate_is_enough(store: ConnectionStore) -> None:
    key, rate = "rate:conn_odd", {"per_minute": 7, "burst": 1}
    assert store.acquire_rate(key, now=T0, **rate) == 0.0
    wait = store.acquire_rate(key, now=T0, **rate)
    assert wait == pytest.approx(60 / 7, abs=1e-5)
    assert store.acquire_rate(key, now=T0 + timedelta(seconds=wait), **rate) == 0.0


def test_rate_bucket_keys_are_independent(store: ConnectionStore) -> None:
    assert _drain(store, "rate:conn_1", per_minute=60, burst=2, now=T0) == 2
    assert _drain(store, "rate:conn_2", per_minute=60, burst=5, now=T0) == 5
    assert store.acquire_rate("rate:conn/with/slashes", per_minute=60, burst=1, now=T0) == 0.0
    assert store.acquire_rate("rate:conn_1", per_minute=60, burst=2, now=T0) > 0


def test_rate_bucket_clock_behind_refills_nothing(store: ConnectionStore) -> None:
    key, rate = "rate:conn_skew", {"per_minute": 60, "burst": 2}
    later = T0 + timedelta(seconds=10)
    assert _drain(store, key, now=later, **rate) == 2
    # another instance whose clock is behind: no refill, and the bucket keeps its time
    assert store.acquire_rate(key, now=T0, **rate) == pytest.approx(1.0)
    assert _drain(store, key, now=later + timedelta(seconds=1), **rate) == 1


def test_rate_bucket_edge_rates(store: ConnectionStore) -> None:
    # a burst below 1 counts as 1; no refill at all means waiting forever
    assert store.acquire_rate("rate:conn_zero", per_minute=0, burst=0, now=T0) == 0.0
    assert store.acquire_rate("rate:conn_zero", per_minute=0, burst=0, now=T0) == float("inf")
    later = T0 + timedelta(days=30)
    assert store.acquire_rate("rate:conn_zero", per_minute=0, burst=0, now=later) == float("inf")


def test_rate_bucket_concurrent_acquires_grant_exactly_the_burst(store: ConnectionStore) -> None:
    results: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def acquire() -> None:
        start.wait()
        wait = store.acquire_rate("rate:conn_race", per_minute=60, burst=5, now=T0)
        with lock:
            results.append(wait)

    threads = [threading.Thread(target=acquire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert results.count(0.0) == 5
    assert all(w == pytest.approx(1.0) for w in results if w != 0.0)


def test_store_rate_limiter_is_shared_by_every_instance(store: ConnectionStore) -> None:
    from tether.domain.clock import FixedClock
    from tether.http.model import RateSpec
    from tether.http.rate_limit_store import StoreRateLimiter

    clock = FixedClock(T0)
    one, two = StoreRateLimiter(store, clock), StoreRateLimiter(store, clock)
    rate = RateSpec(per_minute=120, burst=2)
    assert one.acquire("rate:conn_shared", rate) == 0.0
    assert two.acquire("rate:conn_shared", rate) == 0.0
    wait = one.acquire("rate:conn_shared", rate)
    assert wait == pytest.approx(0.5) and two.acquire("rate:conn_shared", rate) == wait
    clock.advance(wait)
    assert two.acquire("rate:conn_shared", rate) == 0.0
    assert one.acquire("rate:conn_other", rate) == 0.0


# -- tenant settings ---------------------------------------------------------------------------
def _settings(tenant: str = "t1", **extra: object) -> TenantSettings:
    fields: dict[str, object] = {"tenant_id": tenant, "updated_at": T0}
    fields.update(extra)
    return TenantSettings.model_validate(fields)


def test_tenant_settings_round_trip_every_field(store: ConnectionStore) -> None:
    assert store.get_tenant_settings("t1") is None
    original = _settings(
        notify_url="https://hooks.example.com/tether?x=1",
        notify_secrets=[
            NotifySecret(id="whs_new", sealed="tg1.k1.nonce.body", created_at=T0),
            NotifySecret(
                id="whs_old",
                sealed="tg1.k1.nonce2.body2",
                created_at=T0 - timedelta(days=3),
                expires_at=T0 + timedelta(hours=24),
            ),
        ],
        updated_at=T0 + timedelta(microseconds=7),
    )
    stored = store.put_tenant_settings(original, expected_version=None)
    assert stored.version == 1
    assert store.get_tenant_settings("t1") == stored == original.model_copy(update={"version": 1})
    assert "tg1.k1" not in repr(stored)  # sealed secrets stay out of reprs


def test_tenant_settings_are_compare_and_set(store: ConnectionStore) -> None:
    with pytest.raises(VersionConflict):  # nothing to update yet
        store.put_tenant_settings(_settings(), expected_version=1)
    first = store.put_tenant_settings(
        _settings(notify_url="https://a.example"), expected_version=None
    )
    with pytest.raises(VersionConflict):  # a second create: it exists
        store.put_tenant_settings(_settings(notify_url="https://b.example"), expected_version=None)
    second = store.put_tenant_settings(
        first.model_copy(update={"notify_url": "https://c.example"}), expected_version=1
    )
    assert second.version == 2
    with pytest.raises(VersionConflict):  # stale
        store.put_tenant_settings(
            first.model_copy(update={"notify_url": "https://d.example"}), expected_version=1
        )
    again = store.get_tenant_settings("t1")
    assert again is not None and again.notify_url == "https://c.example" and again.version == 2


def test_tenant_settings_are_per_tenant(store: ConnectionStore) -> None:
    store.put_tenant_settings(
        _settings("t1", notify_url="https://one.example"), expected_version=None
    )
    assert store.get_tenant_settings("t2") is None
    with pytest.raises(VersionConflict):
        store.put_tenant_settings(_settings("t2"), expected_version=1)
    store.put_tenant_settings(
        _settings("t2", notify_url="https://two.example"), expected_version=None
    )
    one, two = store.get_tenant_settings("t1"), store.get_tenant_settings("t2")
    assert one is not None and one.notify_url == "https://one.example"
    assert two is not None and two.notify_url == "https://two.example"
    # tenant ids Firestore cannot use as document ids are kept apart too
    store.put_tenant_settings(
        _settings("a/b", notify_url="https://ab.example"), expected_version=None
    )
    ab = store.get_tenant_settings("a/b")
    assert ab is not None and ab.notify_url == "https://ab.example"


@pytest.mark.parametrize("expected", [None, 1])
def test_tenant_settings_concurrent_writes_have_one_winner(
    store: ConnectionStore, expected: int | None
) -> None:
    if expected is not None:
        store.put_tenant_settings(_settings(), expected_version=None)
    wins: list[str] = []
    losses: list[str] = []
    lock = threading.Lock()

    def attempt(name: str) -> None:
        try:
            store.put_tenant_settings(
                _settings(notify_url=f"https://{name}.example"), expected_version=expected
            )
        except VersionConflict:
            with lock:
                losses.append(name)
        else:
            with lock:
                wins.append(name)

    threads = [threading.Thread(target=attempt, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    final = store.get_tenant_settings("t1")
    assert final is not None and final.notify_url == f"https://{wins[0]}.example"
    assert final.version == (1 if expected is None else 2)


# -- deliveries --------------------------------------------------------------------------------
def _delivery(
    delivery_id: str,
    tenant: str = "t1",
    *,
    connection_id: str | None = "conn_1",
    minutes: int = 0,
    **extra: object,
) -> Delivery:
    at = T0 + timedelta(minutes=minutes)
    fields: dict[str, object] = {
        "id": delivery_id,
        "tenant_id": tenant,
        "connection_id": connection_id,
        "event_type": "stripe.invoice.paid",
        "provider": "stripe",
        "created_at": at,
        "updated_at": at,
        "event": {
            "id": delivery_id,
            "type": "stripe.invoice.paid",
            "data": {"n": [1, {"x": None}]},
        },
        "notify_url_host": "hooks.example.com",
    }
    fields.update(extra)
    return Delivery.model_validate(fields)


def test_delivery_round_trips_and_upserts(store: ConnectionStore) -> None:
    assert store.get_delivery("t1", "evt_1") is None
    first = _delivery("evt_1")
    store.record_delivery(first)
    assert store.get_delivery("t1", "evt_1") == first
    settled = first.model_copy(
        update={
            "status": DeliveryStatus.DEAD,
            "attempts": 5,
            "last_status_code": 503,
            "last_error": "UNEXPECTED_STATUS",
            "updated_at": T0 + timedelta(hours=1, microseconds=3),
            "next_attempt_at": T0 + timedelta(hours=2),
        }
    )
    store.record_delivery(settled)
    assert store.get_delivery("t1", "evt_1") == settled
    assert [d.status for d in store.list_deliveries("t1")] == [DeliveryStatus.DEAD]


def test_deliveries_are_tenant_scoped(store: ConnectionStore) -> None:
    store.record_delivery(_delivery("evt_same", "t1", minutes=1))
    store.record_delivery(_delivery("evt_same", "t2", attempts=3))
    one, two = store.get_delivery("t1", "evt_same"), store.get_delivery("t2", "evt_same")
    assert one is not None and one.attempts == 0
    assert two is not None and two.attempts == 3
    assert store.get_delivery("t3", "evt_same") is None
    assert store.list_deliveries("t3") == []
    assert [d.tenant_id for d in store.list_deliveries("t1")] == ["t1"]


def test_deliveries_list_newest_first_by_connection_and_limited(store: ConnectionStore) -> None:
    for i in range(6):
        store.record_delivery(
            _delivery(f"evt_{i}", connection_id="conn_a" if i % 2 else "conn_b", minutes=i)
        )
    store.record_delivery(_delivery("evt_own", connection_id=None, minutes=10))
    store.record_delivery(_delivery("evt_tie_a", minutes=20))
    store.record_delivery(_delivery("evt_tie_b", minutes=20))
    assert [d.id for d in store.list_deliveries("t1")] == [
        "evt_tie_b",
        "evt_tie_a",
        "evt_own",
        "evt_5",
        "evt_4",
        "evt_3",
        "evt_2",
        "evt_1",
        "evt_0",
    ]
    assert [d.id for d in store.list_deliveries("t1", limit=2)] == ["evt_tie_b", "evt_tie_a"]
    assert [d.id for d in store.list_deliveries("t1", connection_id="conn_a")] == [
        "evt_5",
        "evt_3",
        "evt_1",
    ]
    assert [d.id for d in store.list_deliveries("t1", connection_id="conn_b", limit=2)] == [
        "evt_4",
        "evt_2",
    ]
    with pytest.raises(InvalidRequest):
        store.list_deliveries("t1", limit=0)


def _received(
    key: str, *, minutes: int, tenant: str = "t1", connection_id: str | None = "conn_1"
) -> WebhookEvent:
    at = T0 + timedelta(minutes=minutes)
    return WebhookEvent(
        id=f"whe_{key}",
        provider="webhook",
        dedupe_key=f"{connection_id}/{key}",
        tenant_id=tenant if connection_id is not None else None,
        connection_id=connection_id,
        received_at=at,
        expires_at=at + timedelta(days=7),
        headers={"content-type": "application/json"},
        body='{"type": "order.created"}',
        detail={"type": "order.created"},
    )


def test_list_webhook_events_is_per_connection_newest_first_without_payloads(
    store: ConnectionStore,
) -> None:
    for i in range(4):
        store.create_webhook_event(_received(f"e{i}", minutes=i))
    store.create_webhook_event(_received("other", minutes=9, connection_id="conn_2"))
    store.create_webhook_event(_received("foreign", minutes=9, tenant="t2"))
    store.create_webhook_event(_received("unrouted", minutes=9, connection_id=None))
    listed = store.list_webhook_events("t1", "conn_1")
    assert [e.id for e in listed] == ["whe_e3", "whe_e2", "whe_e1", "whe_e0"]
    assert all(e.body == "" and e.headers == {} for e in listed)
    assert listed[0].detail == {"type": "order.created"}
    assert listed[0].received_at == T0 + timedelta(minutes=3)
    assert [e.id for e in store.list_webhook_events("t1", "conn_1", limit=2)] == [
        "whe_e3",
        "whe_e2",
    ]
    assert store.list_webhook_events("t1", "conn_1", limit=0) == []
    assert store.list_webhook_events("t2", "conn_2") == []
    # a status change is seen by the listing; a deleted event is gone from it
    first = store.get_webhook_event("webhook", "conn_1/e0")
    assert first is not None
    store.update_webhook_event(first.model_copy(update={"status": "processed"}))
    store.delete_webhook_event("webhook", "conn_1/e1")
    listed = store.list_webhook_events("t1", "conn_1")
    assert [(e.id, e.status) for e in listed] == [
        ("whe_e3", "received"),
        ("whe_e2", "received"),
        ("whe_e0", "processed"),
    ]


# -- housekeeping: nothing grows without bound -------------------------------------------------
DAY = timedelta(days=1)


def test_housekeeping_purges_what_outlived_its_retention_and_keeps_the_rest(
    store: ConnectionStore,
) -> None:
    """Default :class:`Retention`: deliveries 30 days, audit entries 365 days; states, events
    and leases by their own expiry. ``now`` is T0; "old" is just past, "fresh" just short."""
    retention = Retention()
    # OAuth states: a used one and an unused one past their expiry, a live one
    store.create_oauth_state(_state("used", expires_in=-60))
    store.consume_oauth_state("used", now=T0 - timedelta(seconds=90))
    store.create_oauth_state(_state("unused", expires_in=-1))
    store.create_oauth_state(_state("live", expires_in=600))
    # webhook events: expired yesterday, expiring tomorrow
    store.create_webhook_event(_event("old", expires_in=-86_400))
    store.create_webhook_event(_event("fresh", expires_in=86_400))
    # leases
    store.acquire_lease("old", "a", ttl_seconds=10, now=T0 - timedelta(seconds=60))
    store.acquire_lease("held", "a", ttl_seconds=600, now=T0)
    # deliveries, by creation, of two tenants
    old_at = -int((retention.deliveries + timedelta(minutes=1)) / timedelta(minutes=1))
    fresh_at = -int((retention.deliveries - timedelta(minutes=1)) / timedelta(minutes=1))
    store.record_delivery(_delivery("dlv_old", minutes=old_at, status=DeliveryStatus.DELIVERED))
    store.record_delivery(_delivery("dlv_old2", "t2", minutes=old_at, status=DeliveryStatus.DEAD))
    store.record_delivery(_delivery("dlv_fresh", minutes=fresh_at))
    # audit entries, by time, of two tenants
    for event_id, tenant, age in (
        ("aud_old", "t1", retention.audit + DAY),
        ("aud_old2", "t2", retention.audit + DAY),
        ("aud_fresh", "t1", retention.audit - DAY),
    ):
        store.append_audit(_entry(event_id, tenant).model_copy(update={"at": T0 - age}))

    assert store.purge_expired(now=T0) == 8

    assert store.consume_oauth_state("used", now=T0) is None
    assert store.consume_oauth_state("unused", now=T0) is None
    assert store.consume_oauth_state("live", now=T0) is not None
    assert store.get_webhook_event("stripe", "old") is None
    assert store.get_webhook_event("stripe", "fresh") is not None
    assert store.acquire_lease("old", "b", ttl_seconds=10, now=T0) is not None
    assert store.acquire_lease("held", "b", ttl_seconds=10, now=T0) is None
    assert [d.id for d in store.list_deliveries("t1")] == ["dlv_fresh"]
    assert store.list_deliveries("t2") == []
    assert [e.id for e in store.list_audit("t1")] == ["aud_fresh"]
    assert store.list_audit("t2") == []
    # idempotent: a second run in a row finds nothing more
    store.release_lease("old", "b")
    assert store.purge_expired(now=T0) == 0


def test_an_idle_rate_bucket_may_be_purged_once_full_again(store: ConnectionStore) -> None:
    """A bucket drained at T0 refills one token a second up to 3: full again at T0 + 3 s.
    Purging before that changes nothing; after it, the bucket grants a full burst again."""
    assert _drain(store, "rk_idle", per_minute=60, burst=3, now=T0) == 3
    second = T0 + timedelta(seconds=1)
    store.purge_expired(now=second)
    assert _drain(store, "rk_idle", per_minute=60, burst=3, now=second) == 1, "kept: one refilled"
    later = T0 + timedelta(seconds=30)
    store.purge_expired(now=later)
    assert _drain(store, "rk_idle", per_minute=60, burst=3, now=later) == 3
