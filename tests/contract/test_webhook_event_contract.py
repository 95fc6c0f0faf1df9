"""The WebhookEventRepository contract: every backend passes all of it."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.records import (
    T0,
    _event,
    _received,
)
from tests.support.concurrency import together
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
