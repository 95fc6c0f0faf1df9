"""The ConnectionRepository contract (connections, their scans and lookups, and the audit
entries a change writes with it): every backend passes all of it."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from functools import partial

import pytest

from tests.contract.records import (
    T0,
    _entry,
    make,
)
from tests.support.concurrency import together
from tests.support.pages import every_page, walk
from tether.domain.errors import Conflict, InvalidRequest, VersionConflict
from tether.domain.models import (
    Connection,
    WebhookInfo,
)
from tether.domain.status import ConnectionStatus
from tether.ports import (
    AuditLog,
    ConnectionRepository,
)


def test_create_then_get_round_trips_every_field(connections: ConnectionRepository) -> None:
    original = make(
        "conn_a1",
        config={"shop": "acme", "nested": {"n": 1}},
        metadata={"team": "x"},
        credential_hints={"api_key": "sk_live_…4242"},
        scopes=["read", "write"],
        status=ConnectionStatus.ACTIVE,
        webhook=WebhookInfo(url="https://h/x", token_hash="abc"),
    )
    connections.create_connection(original)
    assert connections.get_connection("t1", "conn_a1") == original


def test_duplicate_id_conflicts(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_dup"))
    with pytest.raises(Conflict):
        connections.create_connection(make("conn_dup"))


def test_other_tenant_sees_nothing(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_t1", "t1"))
    assert connections.get_connection("t2", "conn_t1") is None
    assert connections.list_connections("t2").items == []
    with pytest.raises(VersionConflict):
        connections.update_connection(make("conn_t1", "t2"), expected_version=1)
    assert connections.get_connection("t1", "conn_t1") is not None


def test_list_is_newest_first_paginated_and_filtered(connections: ConnectionRepository) -> None:
    for i in range(7):
        connections.create_connection(
            make(
                f"conn_{i:02d}",
                minutes=i,
                provider="xero" if i % 2 else "stripe",
                status=ConnectionStatus.ACTIVE if i < 5 else ConnectionStatus.ERROR,
            )
        )
    connections.create_connection(make("conn_other", "t2"))
    seen, _ = walk(partial(connections.list_connections, "t1", limit=3))
    assert [c.id for c in seen] == [f"conn_{i:02d}" for i in reversed(range(7))]
    assert [c.id for c in connections.list_connections("t1", provider="xero").items] == [
        "conn_05",
        "conn_03",
        "conn_01",
    ]
    assert [c.id for c in connections.list_connections("t1", status="error").items] == [
        "conn_06",
        "conn_05",
    ]


def test_same_timestamp_pages_do_not_skip_or_repeat(connections: ConnectionRepository) -> None:
    for i in range(5):
        connections.create_connection(make(f"conn_same{i}"))
    first = connections.list_connections("t1", limit=2)
    rest = connections.list_connections("t1", limit=10, cursor=first.next_cursor)
    ids = [c.id for c in first.items + rest.items]
    assert sorted(ids) == sorted(f"conn_same{i}" for i in range(5))
    assert len(set(ids)) == 5


def _listing_fixture(connections: ConnectionRepository) -> list[Connection]:
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
        connections.create_connection(connection)
        live.append(connection)
    for i in range(4):
        gone = make(f"conn_gone{i}", minutes=i, status=ConnectionStatus.ERROR, provider="xero")
        connections.create_connection(gone)
        connections.update_connection(
            gone.model_copy(update={"deleted_at": T0}), expected_version=1
        )
        connections.create_connection(make(f"conn_t2_{i}", "t2", minutes=i, status="error"))
    return sorted(live, key=lambda c: (c.created_at, c.id), reverse=True)


@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "error"}, {"provider": "xero"}, {"status": "active", "provider": "xero"}],
)
@pytest.mark.parametrize("limit", [1, 3, 5])
def test_filtered_pages_across_equal_times_neither_skip_nor_repeat(
    connections: ConnectionRepository, filters: dict[str, str], limit: int
) -> None:
    expected = [
        c.id
        for c in _listing_fixture(connections)
        if c.status.value == filters.get("status", c.status.value)
        and c.provider == filters.get("provider", c.provider)
    ]
    seen: list[str] = []
    cursor = None
    for _ in range(len(expected) + 1):
        page = connections.list_connections("t1", limit=limit, cursor=cursor, **filters)
        assert len(page.items) <= limit
        seen += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert len(expected) >= 4  # the filter keeps several of one created_at


def test_a_cursor_from_the_last_item_ends_the_listing(connections: ConnectionRepository) -> None:
    for i in range(4):
        connections.create_connection(make(f"conn_end{i}", status="error"))
    page = connections.list_connections("t1", status="error", limit=4)
    assert len(page.items) == 4 and page.next_cursor is None
    first = connections.list_connections("t1", status="error", limit=3)
    assert first.next_cursor is not None
    last = connections.list_connections("t1", status="error", limit=3, cursor=first.next_cursor)
    assert [c.id for c in last.items] == ["conn_end0"] and last.next_cursor is None


# Cursors no listing ever handed out: not base64, not JSON, or not a (time, id) pair.
BAD_CURSORS = [
    "!!not-a-cursor",
    "a b",
    base64.urlsafe_b64encode(b"not json").decode(),
    base64.urlsafe_b64encode(json.dumps(["2026-03-01"]).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps(["yesterday", "conn_1"]).encode()).decode(),
]


@pytest.mark.parametrize(
    "cursor",
    [*BAD_CURSORS, base64.urlsafe_b64encode(json.dumps({"created_at": "x"}).encode()).decode()],
)
def test_bad_cursor_is_a_client_error(connections: ConnectionRepository, cursor: str) -> None:
    for filters in ({}, {"status": "error"}, {"provider": "xero", "status": "active"}):
        with pytest.raises(InvalidRequest) as refused:
            connections.list_connections("t1", cursor=cursor, **filters)
        assert refused.value.code == "INVALID_CURSOR"


def test_update_is_compare_and_set(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_cas"))
    current = connections.get_connection("t1", "conn_cas")
    assert current is not None
    stored = connections.update_connection(
        current.model_copy(update={"display_name": "renamed"}), expected_version=1
    )
    assert stored.version == 2
    with pytest.raises(VersionConflict):
        connections.update_connection(
            current.model_copy(update={"display_name": "stale"}), expected_version=1
        )
    again = connections.get_connection("t1", "conn_cas")
    assert again is not None and again.display_name == "renamed" and again.version == 2


def test_concurrent_updates_exactly_one_wins(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_race"))
    base = connections.get_connection("t1", "conn_race")
    assert base is not None

    def attempt(name: str) -> bool:
        try:
            connections.update_connection(
                base.model_copy(update={"display_name": name}), expected_version=1
            )
        except VersionConflict:
            return False
        return True

    names = [f"w{i}" for i in range(8)]
    won = [f.result() for f in together([partial(attempt, name) for name in names])]
    wins = [name for name, ok in zip(names, won, strict=True) if ok]
    losses = [name for name, ok in zip(names, won, strict=True) if not ok]
    assert len(wins) == 1 and len(losses) == 7
    final = connections.get_connection("t1", "conn_race")
    assert final is not None and final.display_name == wins[0]


def test_soft_deleted_is_hidden_but_scannable(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_gone"))
    current = connections.get_connection("t1", "conn_gone")
    assert current is not None
    connections.update_connection(current.model_copy(update={"deleted_at": T0}), expected_version=1)
    assert connections.get_connection("t1", "conn_gone") is None
    assert connections.get_connection("t1", "conn_gone", include_deleted=True) is not None
    assert connections.list_connections("t1").items == []
    assert [c.id for c in connections.scan_connections().items] == ["conn_gone"]


def test_scan_walks_every_tenant_in_pages(connections: ConnectionRepository) -> None:
    for i in range(5):
        connections.create_connection(make(f"conn_s{i}", f"tenant{i % 2}"))
    seen, _ = walk(partial(connections.scan_connections, limit=2))
    assert sorted(c.id for c in seen) == [f"conn_s{i}" for i in range(5)]


def _expiring(connection: Connection, expires_at: datetime | None) -> Connection:
    return connection.model_copy(update={"auth_mode": "oauth2", "token_expires_at": expires_at})


def _all_expiring(
    connections: ConnectionRepository, before: datetime, *, limit: int
) -> list[Connection]:
    pages = every_page(partial(connections.list_expiring, before=before, limit=limit))
    assert all(len(page.items) <= limit for page in pages)
    return [connection for page in pages for connection in page.items]


def test_list_expiring_finds_live_due_connections_soonest_first(
    connections: ConnectionRepository,
) -> None:
    plus_five = timezone(timedelta(hours=5))
    connections.create_connection(_expiring(make("conn_late", "t2"), T0 + timedelta(minutes=50)))
    connections.create_connection(_expiring(make("conn_soon", "t1"), T0 + timedelta(minutes=5)))
    # another zone, and a microsecond after conn_soon: order is by instant, not by text
    connections.create_connection(
        _expiring(
            make("conn_zoned", "t3"),
            (T0 + timedelta(minutes=5, microseconds=1)).astimezone(plus_five),
        )
    )
    connections.create_connection(_expiring(make("conn_past", "t2"), T0 - timedelta(days=3)))
    connections.create_connection(_expiring(make("conn_edge", "t1"), T0 + timedelta(hours=1)))
    connections.create_connection(_expiring(make("conn_later", "t1"), T0 + timedelta(hours=2)))
    connections.create_connection(make("conn_apikey", "t1"))  # no expiry at all
    connections.create_connection(
        _expiring(make("conn_deleted", "t2", deleted_at=T0), T0 + timedelta(minutes=1))
    )
    due = connections.list_expiring(before=T0 + timedelta(hours=1))
    assert [(c.tenant_id, c.id) for c in due.items] == [
        ("t2", "conn_past"),
        ("t1", "conn_soon"),
        ("t3", "conn_zoned"),
        ("t2", "conn_late"),
        ("t1", "conn_edge"),  # <= before: an expiry equal to it is due
    ]
    assert due.next_cursor is None
    zoned = connections.get_connection("t3", "conn_zoned")
    assert zoned is not None and due.items[2] == zoned  # whole records, as stored
    assert connections.list_expiring(before=T0 - timedelta(days=4)).items == []


def test_list_expiring_follows_updates(connections: ConnectionRepository) -> None:
    connections.create_connection(_expiring(make("conn_a"), T0 + timedelta(hours=3)))
    connections.create_connection(_expiring(make("conn_b", "t2"), T0 + timedelta(minutes=10)))
    before = T0 + timedelta(hours=1)
    assert [c.id for c in connections.list_expiring(before=before).items] == ["conn_b"]

    # a record refreshed further out leaves the sweep; one brought forward enters it
    b = connections.get_connection("t2", "conn_b")
    assert b is not None
    connections.update_connection(
        b.model_copy(update={"token_expires_at": T0 + timedelta(hours=5)}), expected_version=1
    )
    a = connections.get_connection("t1", "conn_a")
    assert a is not None
    a = connections.update_connection(
        a.model_copy(update={"token_expires_at": T0 + timedelta(minutes=20)}), expected_version=1
    )
    due = connections.list_expiring(before=before).items
    assert [c.id for c in due] == ["conn_a"] and due[0].version == 2

    # a cleared expiry (revoked, API key) or a deleted record is never due
    a = connections.update_connection(
        a.model_copy(update={"token_expires_at": None}), expected_version=2
    )
    assert connections.list_expiring(before=before).items == []
    a = connections.update_connection(
        a.model_copy(update={"token_expires_at": T0 + timedelta(minutes=20)}), expected_version=3
    )
    assert [c.id for c in connections.list_expiring(before=before).items] == ["conn_a"]
    connections.update_connection(a.model_copy(update={"deleted_at": T0}), expected_version=4)
    assert connections.list_expiring(before=before).items == []
    assert connections.list_expiring(before=T0 + timedelta(days=1)).items[0].id == "conn_b"


def test_list_expiring_pages_neither_skip_nor_repeat(connections: ConnectionRepository) -> None:
    expected: list[tuple[str, str]] = []
    for i in range(9):
        # three expiry times, three records each, in three tenants: ties across tenants
        tenant = f"tenant{i % 3}"
        connections.create_connection(
            _expiring(make(f"conn_p{i}", tenant), T0 + timedelta(minutes=i // 3))
        )
        expected.append((tenant, f"conn_p{i}"))
    connections.create_connection(_expiring(make("conn_out"), T0 + timedelta(days=1)))
    connections.create_connection(
        _expiring(make("conn_gone", deleted_at=T0), T0 + timedelta(minutes=1))
    )
    before = T0 + timedelta(hours=1)
    for limit in (1, 2, 4, 9, 50):
        seen = _all_expiring(connections, before, limit=limit)
        keys = [(c.tenant_id, c.id) for c in seen]
        assert sorted(keys) == sorted(expected), limit
        times = [c.token_expires_at for c in seen if c.token_expires_at is not None]
        assert len(times) == len(seen)
        assert times == sorted(times), limit  # soonest first, ties in any fixed order
    full = connections.list_expiring(before=before, limit=9)
    assert len(full.items) == 9 and full.next_cursor is None


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_list_expiring_bad_cursor_is_a_client_error(
    connections: ConnectionRepository, cursor: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        connections.list_expiring(before=T0, cursor=cursor)
    assert refused.value.code == "INVALID_CURSOR"


def test_list_expiring_needs_a_positive_limit(connections: ConnectionRepository) -> None:
    with pytest.raises(InvalidRequest):
        connections.list_expiring(before=T0, limit=0)


def test_find_by_webhook_token_hash(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_wh", webhook=WebhookInfo(url="u", token_hash="h1")))
    found = connections.find_connection_by_webhook_token("h1")
    assert found is not None and found.id == "conn_wh"
    assert connections.find_connection_by_webhook_token("h2") is None


def test_find_by_route_finds_the_live_connection_of_that_provider(
    connections: ConnectionRepository,
) -> None:
    connections.create_connection(make("conn_r1", "t1", webhook_route="acct/1"))
    connections.create_connection(make("conn_r2", "t2", webhook_route="acct_2"))
    # the same value under another provider is another account
    connections.create_connection(make("conn_r3", "t1", provider="slack", webhook_route="acct/1"))
    connections.create_connection(make("conn_none", "t1"))
    found = connections.find_connection_by_route("stripe", "acct/1")
    assert found is not None and (found.tenant_id, found.id) == ("t1", "conn_r1")
    assert found.webhook_route == "acct/1"
    other = connections.find_connection_by_route("stripe", "acct_2")
    assert other is not None and (other.tenant_id, other.id) == ("t2", "conn_r2")
    slack = connections.find_connection_by_route("slack", "acct/1")
    assert slack is not None and slack.id == "conn_r3"
    assert connections.find_connection_by_route("stripe", "ACCT/1") is None
    assert connections.find_connection_by_route("stripe", "acct") is None
    assert connections.find_connection_by_route("hubspot", "acct_2") is None


def test_a_deleted_connection_is_not_found_by_route_and_frees_it(
    connections: ConnectionRepository,
) -> None:
    connections.create_connection(make("conn_del", webhook_route="acct_1"))
    current = connections.get_connection("t1", "conn_del")
    assert current is not None
    connections.update_connection(current.model_copy(update={"deleted_at": T0}), expected_version=1)
    assert connections.find_connection_by_route("stripe", "acct_1") is None
    # the account can be connected again, by anyone
    connections.create_connection(make("conn_again", "t2", webhook_route="acct_1"))
    found = connections.find_connection_by_route("stripe", "acct_1")
    assert found is not None and found.id == "conn_again"


def test_a_second_live_connection_cannot_claim_a_route(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_first", webhook_route="acct_1"))
    with pytest.raises(Conflict) as refused:
        connections.create_connection(make("conn_second", "t2", webhook_route="acct_1"))
    assert refused.value.code == "WEBHOOK_ROUTE_TAKEN"
    assert connections.get_connection("t2", "conn_second") is None
    connections.create_connection(make("conn_third", webhook_route="acct_3"))
    third = connections.get_connection("t1", "conn_third")
    assert third is not None
    with pytest.raises(Conflict) as refused:
        connections.update_connection(
            third.model_copy(update={"webhook_route": "acct_1"}), expected_version=1
        )
    assert refused.value.code == "WEBHOOK_ROUTE_TAKEN"
    assert connections.get_connection("t1", "conn_third") == third
    found = connections.find_connection_by_route("stripe", "acct_1")
    assert found is not None and found.id == "conn_first"
    # unchanged routes do not conflict with themselves
    connections.update_connection(
        third.model_copy(update={"display_name": "x"}), expected_version=1
    )
    assert connections.find_connection_by_route("stripe", "acct_3") is not None


def test_a_route_change_moves_the_lookup(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_mv", webhook_route="acct_old"))
    current = connections.get_connection("t1", "conn_mv")
    assert current is not None
    moved = connections.update_connection(
        current.model_copy(update={"webhook_route": "acct_new"}), expected_version=1
    )
    assert connections.find_connection_by_route("stripe", "acct_old") is None
    found = connections.find_connection_by_route("stripe", "acct_new")
    assert found is not None and found.id == "conn_mv" and found.version == 2
    # the old value is free again; clearing the route frees the new one too
    connections.create_connection(make("conn_old", webhook_route="acct_old"))
    connections.update_connection(
        moved.model_copy(update={"webhook_route": None}), expected_version=2
    )
    assert connections.find_connection_by_route("stripe", "acct_new") is None
    connections.create_connection(make("conn_new", webhook_route="acct_new"))


def test_a_write_commits_its_audit_entries_with_it(
    connections: ConnectionRepository, audit_log: AuditLog
) -> None:
    connections.create_connection(make("conn_au"), audit=[_entry("aud_c1"), _entry("aud_c2")])
    current = connections.get_connection("t1", "conn_au")
    assert current is not None
    connections.update_connection(
        current.model_copy(update={"display_name": "renamed"}),
        expected_version=1,
        audit=[_entry("aud_u1")],
    )
    stored = connections.get_connection("t1", "conn_au")
    assert stored is not None and stored.display_name == "renamed" and stored.version == 2
    assert {e.id for e in audit_log.list_audit("t1", connection_id="conn_au")} == {
        "aud_c1",
        "aud_c2",
        "aud_u1",
    }


def test_a_create_whose_audit_entry_fails_leaves_neither(
    audit_log: AuditLog, connections: ConnectionRepository
) -> None:
    """The entry cannot be written (its id is taken): the record is not created either."""
    audit_log.append_audit(_entry("aud_taken", connection_id="conn_other"))
    with pytest.raises(Conflict):
        connections.create_connection(
            make("conn_au"), audit=[_entry("aud_new"), _entry("aud_taken")]
        )
    assert connections.get_connection("t1", "conn_au", include_deleted=True) is None
    assert [e.id for e in audit_log.list_audit("t1")] == ["aud_taken"]
    # nothing half-written blocks a retry with fresh entries
    connections.create_connection(make("conn_au"), audit=[_entry("aud_new")])
    assert [e.id for e in audit_log.list_audit("t1", connection_id="conn_au")] == ["aud_new"]


def test_an_update_whose_audit_entry_fails_leaves_neither(
    connections: ConnectionRepository, audit_log: AuditLog
) -> None:
    connections.create_connection(
        make("conn_au", webhook=WebhookInfo(url="https://h/x", token_hash="h1"))
    )
    audit_log.append_audit(_entry("aud_taken"))
    current = connections.get_connection("t1", "conn_au")
    assert current is not None
    changed = current.model_copy(
        update={
            "display_name": "renamed",
            "webhook": WebhookInfo(url="https://h/y", token_hash="h2"),
        }
    )
    with pytest.raises(Conflict):
        connections.update_connection(changed, expected_version=1, audit=[_entry("aud_taken")])
    assert connections.get_connection("t1", "conn_au") == current
    assert [e.id for e in audit_log.list_audit("t1")] == ["aud_taken"]
    # the webhook-token lookup written with it is rolled back too
    assert connections.find_connection_by_webhook_token("h1") == current
    assert connections.find_connection_by_webhook_token("h2") is None


def test_a_refused_compare_and_set_writes_no_audit_entry(
    connections: ConnectionRepository, audit_log: AuditLog
) -> None:
    connections.create_connection(make("conn_au"))
    current = connections.get_connection("t1", "conn_au")
    assert current is not None
    with pytest.raises(VersionConflict):
        connections.update_connection(current, expected_version=7, audit=[_entry("aud_lost")])
    assert audit_log.list_audit("t1") == []


def test_audit_entries_of_another_tenant_never_commit(
    connections: ConnectionRepository, audit_log: AuditLog
) -> None:
    with pytest.raises(InvalidRequest):
        connections.create_connection(make("conn_au"), audit=[_entry("aud_x", tenant="t2")])
    assert connections.get_connection("t1", "conn_au") is None
    connections.create_connection(make("conn_au"))
    current = connections.get_connection("t1", "conn_au")
    assert current is not None
    with pytest.raises(InvalidRequest):
        connections.update_connection(
            current, expected_version=1, audit=[_entry("aud_x", tenant="t2")]
        )
    assert connections.get_connection("t1", "conn_au") == current
    assert audit_log.list_audit("t1") == [] and audit_log.list_audit("t2") == []


def test_listings_and_scans_need_a_positive_limit(connections: ConnectionRepository) -> None:
    connections.create_connection(make("conn_1"))
    for limit in (0, -1):
        with pytest.raises(InvalidRequest):
            connections.list_connections("t1", limit=limit)
        with pytest.raises(InvalidRequest):
            connections.scan_connections(limit=limit)


def test_a_webhook_token_hash_is_held_by_one_record(connections: ConnectionRepository) -> None:
    hooked = make("conn_h1", webhook=WebhookInfo(url="u", token_hash="h_same"))
    connections.create_connection(hooked)
    with pytest.raises(Conflict):
        connections.create_connection(
            make("conn_h2", "t2", webhook=WebhookInfo(url="u", token_hash="h_same"))
        )
    assert connections.get_connection("t2", "conn_h2") is None
    connections.create_connection(make("conn_h3"))
    third = connections.get_connection("t1", "conn_h3")
    assert third is not None
    with pytest.raises(Conflict):
        connections.update_connection(
            third.model_copy(update={"webhook": WebhookInfo(url="u", token_hash="h_same")}),
            expected_version=1,
        )
    assert connections.get_connection("t1", "conn_h3") == third
    found = connections.find_connection_by_webhook_token("h_same")
    assert found is not None and found.id == "conn_h1"


def test_the_webhook_token_lookup_follows_updates_and_deletes(
    connections: ConnectionRepository,
) -> None:
    connections.create_connection(make("conn_wt", webhook=WebhookInfo(url="u", token_hash="h1")))
    current = connections.get_connection("t1", "conn_wt")
    assert current is not None
    rotated = connections.update_connection(
        current.model_copy(update={"webhook": WebhookInfo(url="u", token_hash="h2")}),
        expected_version=1,
    )
    assert connections.find_connection_by_webhook_token("h1") is None
    found = connections.find_connection_by_webhook_token("h2")
    assert found is not None and found.version == 2
    connections.update_connection(rotated.model_copy(update={"deleted_at": T0}), expected_version=2)
    assert connections.find_connection_by_webhook_token("h2") is None


def test_connection_writes_count_the_committed_changes(connections: ConnectionRepository) -> None:
    """What an in-process cache of connections compares: every committed create, update and
    removal moves the count; reads and refused writes do not."""
    start = connections.connection_writes()
    connections.create_connection(make("conn_w1"))
    assert connections.connection_writes() == start + 1
    with pytest.raises(Conflict):
        connections.create_connection(make("conn_w1"))
    stored = connections.get_connection("t1", "conn_w1")
    assert stored is not None
    connections.find_connection_by_webhook_token("no-such-hash")
    assert connections.connection_writes() == start + 1
    connections.update_connection(stored, expected_version=stored.version)
    assert connections.connection_writes() == start + 2
    with pytest.raises(VersionConflict):
        connections.update_connection(stored, expected_version=stored.version)
    assert connections.connection_writes() == start + 2
