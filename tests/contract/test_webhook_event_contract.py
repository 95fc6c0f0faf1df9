"""The WebhookEventRepository contract: every backend passes all of it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.conftest import RecordPoisoner
from tests.contract.records import (
    T0,
    _event,
    _received,
)
from tests.support.concurrency import together
from tether.domain.models import WebhookEvent
from tether.ports import (
    WebhookEventRepository,
)


def test_webhook_event_dedupe_by_atomic_create(webhook_events: WebhookEventRepository) -> None:
    assert webhook_events.create_webhook_event(_event("e1")) is True
    assert webhook_events.create_webhook_event(_event("e1")) is False
    got = webhook_events.get_webhook_event("stripe", "e1")
    assert got is not None and got.body == '{"id": "evt_1"}'
    webhook_events.update_webhook_event(got.model_copy(update={"status": "enqueued"}))
    updated = webhook_events.get_webhook_event("stripe", "e1")
    assert updated is not None and updated.status == "enqueued"
    webhook_events.delete_webhook_event("stripe", "e1")
    assert webhook_events.get_webhook_event("stripe", "e1") is None
    assert webhook_events.create_webhook_event(_event("e1")) is True


def test_webhook_event_concurrent_create_has_one_winner(
    webhook_events: WebhookEventRepository,
) -> None:

    def create() -> bool:
        return webhook_events.create_webhook_event(_event("race"))

    results = [f.result() for f in together([create] * 8)]
    assert results.count(True) == 1


def test_list_webhook_events_is_per_connection_newest_first_without_payloads(
    webhook_events: WebhookEventRepository,
) -> None:
    for i in range(4):
        webhook_events.create_webhook_event(_received(f"e{i}", minutes=i))
    webhook_events.create_webhook_event(_received("other", minutes=9, connection_id="conn_2"))
    webhook_events.create_webhook_event(_received("foreign", minutes=9, tenant="t2"))
    webhook_events.create_webhook_event(_received("unrouted", minutes=9, connection_id=None))
    listed = webhook_events.list_webhook_events("t1", "conn_1")
    assert [e.id for e in listed] == ["whe_e3", "whe_e2", "whe_e1", "whe_e0"]
    assert all(e.body == "" and e.headers == {} for e in listed)
    assert listed[0].detail == {"type": "order.created"}
    assert listed[0].received_at == T0 + timedelta(minutes=3)
    assert [e.id for e in webhook_events.list_webhook_events("t1", "conn_1", limit=2)] == [
        "whe_e3",
        "whe_e2",
    ]
    assert webhook_events.list_webhook_events("t1", "conn_1", limit=0) == []
    assert webhook_events.list_webhook_events("t2", "conn_2") == []
    # a status change is seen by the listing; a deleted event is gone from it
    first = webhook_events.get_webhook_event("webhook", "conn_1/e0")
    assert first is not None
    webhook_events.update_webhook_event(first.model_copy(update={"status": "processed"}))
    webhook_events.delete_webhook_event("webhook", "conn_1/e1")
    listed = webhook_events.list_webhook_events("t1", "conn_1")
    assert [(e.id, e.status) for e in listed] == [
        ("whe_e3", "received"),
        ("whe_e2", "received"),
        ("whe_e0", "processed"),
    ]


def test_updating_or_deleting_a_missing_event_writes_nothing(
    webhook_events: WebhookEventRepository,
) -> None:
    webhook_events.update_webhook_event(_event("never"))
    assert webhook_events.get_webhook_event("stripe", "never") is None
    webhook_events.create_webhook_event(_event("gone"))
    webhook_events.delete_webhook_event("stripe", "gone")
    webhook_events.delete_webhook_event("stripe", "gone")  # idempotent
    webhook_events.update_webhook_event(_event("gone"))
    assert webhook_events.get_webhook_event("stripe", "gone") is None
    assert webhook_events.create_webhook_event(_event("gone")) is True


def test_webhook_events_of_other_providers_are_other_events(
    webhook_events: WebhookEventRepository,
) -> None:
    assert webhook_events.create_webhook_event(_event("e1")) is True
    other = _event("e1").model_copy(update={"provider": "xero", "id": "evt_x"})
    assert webhook_events.create_webhook_event(other) is True
    got = webhook_events.get_webhook_event("xero", "e1")
    assert got is not None and got.id == "evt_x"
    assert webhook_events.get_webhook_event("hubspot", "e1") is None


def _stored(
    webhook_events: WebhookEventRepository,
    key: str,
    *,
    minutes: int,
    status: str,
    tenant: str = "t1",
    connection_id: str | None = "conn_1",
) -> WebhookEvent:
    event = _received(key, minutes=minutes, tenant=tenant, connection_id=connection_id)
    event = event.model_copy(update={"status": status})
    assert webhook_events.create_webhook_event(event) is True
    return event


def _waiting_ids(
    webhook_events: WebhookEventRepository, *, minutes: float, limit: int = 500
) -> list[str]:
    before = T0 + timedelta(minutes=minutes)
    return [e.id for e in webhook_events.waiting_webhook_events(before, limit=limit)]


def test_waiting_webhook_events_are_the_waiting_ones_of_every_tenant_oldest_first(
    webhook_events: WebhookEventRepository,
) -> None:
    _stored(webhook_events, "late", minutes=4, status="enqueued")
    _stored(webhook_events, "other_tenant", minutes=1, status="enqueued", tenant="t2")
    _stored(webhook_events, "legacy", minutes=2, status="received", connection_id=None)
    _stored(webhook_events, "other_conn", minutes=3, status="received", connection_id="conn_2")
    for n, status in enumerate(["unroutable", "processed", "dropped", "duplicate", "queued"]):
        _stored(webhook_events, status, minutes=n, status=status)
    waiting = webhook_events.waiting_webhook_events(T0 + timedelta(hours=1))
    assert [(e.id, e.tenant_id, e.status) for e in waiting] == [
        ("whe_other_tenant", "t2", "enqueued"),
        ("whe_legacy", None, "received"),
        ("whe_other_conn", "t1", "received"),
        ("whe_late", "t1", "enqueued"),
    ]
    # summaries: everything but the payload
    assert all(e.body == "" and e.headers == {} for e in waiting)
    assert waiting[3].detail == {"type": "order.created"}
    assert waiting[3].received_at == T0 + timedelta(minutes=4)
    assert (waiting[3].provider, waiting[3].dedupe_key) == ("webhook", "conn_1/late")


def test_waiting_webhook_events_were_received_strictly_before_the_bound(
    webhook_events: WebhookEventRepository,
) -> None:
    _stored(webhook_events, "e0", minutes=0, status="enqueued")
    _stored(webhook_events, "e5", minutes=5, status="enqueued")
    assert _waiting_ids(webhook_events, minutes=0) == []
    assert _waiting_ids(webhook_events, minutes=5) == ["whe_e0"]
    assert _waiting_ids(webhook_events, minutes=5 + 1 / 60_000_000) == ["whe_e0", "whe_e5"]


def test_waiting_webhook_events_honour_the_limit(
    webhook_events: WebhookEventRepository,
) -> None:
    for i in (3, 0, 2, 1):
        _stored(webhook_events, f"e{i}", minutes=i, status="enqueued")
    assert _waiting_ids(webhook_events, minutes=9, limit=3) == ["whe_e0", "whe_e1", "whe_e2"]
    assert _waiting_ids(webhook_events, minutes=9, limit=1) == ["whe_e0"]
    assert _waiting_ids(webhook_events, minutes=9, limit=0) == []
    assert _waiting_ids(webhook_events, minutes=9, limit=-1) == []
    assert len(webhook_events.waiting_webhook_events(T0 + timedelta(minutes=9))) == 4


def test_waiting_webhook_events_with_one_receipt_time_come_in_a_fixed_order(
    webhook_events: WebhookEventRepository,
) -> None:
    for key in ("b", "d", "a", "c"):
        _stored(webhook_events, key, minutes=1, status="enqueued")
    first = _waiting_ids(webhook_events, minutes=2)
    assert sorted(first) == ["whe_a", "whe_b", "whe_c", "whe_d"]
    assert _waiting_ids(webhook_events, minutes=2) == first
    assert _waiting_ids(webhook_events, minutes=2, limit=2) == first[:2]


def test_pages_after_an_event_walk_every_waiting_event_once_ties_included(
    webhook_events: WebhookEventRepository,
) -> None:
    """Five events share one receipt time, so pages of two split the tie: each page starts
    right after the last event of the one before, in the same order, and none is seen twice
    or skipped."""
    for key in ("t3", "t1", "t4", "t0", "t2"):
        _stored(webhook_events, key, minutes=1, status="enqueued")
    _stored(webhook_events, "first", minutes=0, status="received")
    _stored(webhook_events, "last", minutes=2, status="enqueued")
    _stored(webhook_events, "not_waiting", minutes=1, status="processed")
    before = T0 + timedelta(minutes=9)
    whole = [e.id for e in webhook_events.waiting_webhook_events(before)]
    walked: list[str] = []
    after = None
    for _ in range(10):
        page = webhook_events.waiting_webhook_events(before, limit=2, after=after)
        if not page:
            break
        walked.extend(e.id for e in page)
        after = page[-1]
    assert walked == whole
    assert len(walked) == 7 and walked[0] == "whe_first" and walked[-1] == "whe_last"


def test_an_event_stops_waiting_once_processed_or_deleted(
    webhook_events: WebhookEventRepository,
) -> None:
    done = _stored(webhook_events, "done", minutes=0, status="received")
    _stored(webhook_events, "gone", minutes=1, status="enqueued")
    later = _stored(webhook_events, "later", minutes=2, status="unroutable")
    assert _waiting_ids(webhook_events, minutes=9) == ["whe_done", "whe_gone"]
    webhook_events.update_webhook_event(done.model_copy(update={"status": "processed"}))
    webhook_events.delete_webhook_event("webhook", "conn_1/gone")
    # and an update that makes one waiting is seen as well
    webhook_events.update_webhook_event(later.model_copy(update={"status": "enqueued"}))
    waiting = webhook_events.waiting_webhook_events(T0 + timedelta(minutes=9))
    assert [(e.id, e.status) for e in waiting] == [("whe_later", "enqueued")]


@pytest.mark.parametrize("raw", ['{"id": "whe_e1", "provider": ', '{"id": 7}', "[]"])
def test_waiting_webhook_events_leave_an_unreadable_one_out(
    webhook_events: WebhookEventRepository, poison: RecordPoisoner, raw: str
) -> None:
    for i in range(3):
        _stored(webhook_events, f"e{i}", minutes=i, status="enqueued")
    poison.webhook_event("webhook", "conn_1/e1", raw)
    assert _waiting_ids(webhook_events, minutes=9) == ["whe_e0", "whe_e2"]
