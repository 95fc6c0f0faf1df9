"""Event delivery to tenants, end to end on loopback: a real HTTP receiver (allowlisted in the
egress guard) verifies every delivery with ``standardwebhooks.Webhook(secret).verify``, as a
tenant's endpoint would. Real SQLite store, real sealer, the real outbound client; the task
queue is the real embedded one where retries are under test."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.notify_receiver import Receiver, receiver
from tether.adapters.local_tasks import LocalTaskQueue, TaskStatus
from tether.adapters.sqlite import SqliteConnectionStore
from tether.crypto import Keyring, Sealer
from tether.delivery.service import DELIVER_TASK, DeliveryFailed, DeliveryService
from tether.delivery.settings import NotifySettingsService
from tether.domain.clock import FixedClock
from tether.domain.errors import Conflict, InvalidRequest, NotFound, TetherError
from tether.domain.events import TetherEvent
from tether.domain.ids import RandomIds
from tether.domain.models import DeliveryStatus, Principal
from tether.http.client import OutboundClient
from tether.http.guard import EgressGuard

__all__ = ["receiver"]  # fixture

ALICE = Principal(tenant_id="t-alice", user_id="u1")
MAX_ATTEMPTS = 3


# -- the stack ---------------------------------------------------------------------------------
@dataclass
class Stack:
    store: SqliteConnectionStore
    clock: FixedClock
    settings: NotifySettingsService
    delivery: DeliveryService
    client: OutboundClient


def _now() -> datetime:
    # Standard Webhooks receivers refuse timestamps more than five minutes from their clock,
    # so the injected clock starts at the real time (tests move it only by small steps, or
    # start it in the past and move it up to now).
    return datetime.now(UTC).replace(microsecond=0)


def _stack(tmp_path: Path, receiver: Receiver, clock: FixedClock) -> Stack:
    port = receiver.url.split(":")[2].split("/")[0]
    guard = EgressGuard([f"127.0.0.1:{port}"])
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    settings = NotifySettingsService(
        store, Sealer(Keyring.generate("kd")), clock, RandomIds(), guard
    )
    client = OutboundClient(guard, max_retries=0, max_redirects=0, total_timeout=5.0)
    delivery = DeliveryService(
        store,
        settings,
        client,
        clock,
        MAX_ATTEMPTS,
        timeout=5.0,
        retry_delay=lambda attempt: 30.0 * attempt,
    )
    return Stack(store, clock, settings, delivery, client)


@pytest.fixture
def stack(tmp_path: Path, receiver: Receiver) -> Iterator[Stack]:
    built = _stack(tmp_path, receiver, FixedClock(_now()))
    yield built
    built.client.close()
    built.store.close()


def _event(event_id: str = "evt_0001", **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": event_id,
        "type": "stripe.invoice.paid",
        "provider": "stripe",
        "connection_id": "conn_1",
        "tenant_id": ALICE.tenant_id,
        "occurred_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "data": {"invoice": "in_1", "amount": 1200, "note": "café"},
    }
    fields.update(extra)
    return TetherEvent(**fields).as_dict()


# -- delivering --------------------------------------------------------------------------------
def test_a_delivery_is_signed_and_verifies(stack: Stack, receiver: Receiver) -> None:
    stack.settings.set_notify_url(ALICE, receiver.url)
    secret = stack.settings.rotate_secret(ALICE)
    receiver.keys = {"tenant": secret}
    event = _event()

    stack.delivery.deliver({"event": event})

    [got] = receiver.received
    assert got.verified_by == ["tenant"]
    assert Webhook(secret).verify(got.body, got.headers) == event
    assert got.path == "/hooks/tether"
    assert got.headers["webhook-id"] == "evt_0001"
    assert got.headers["content-type"] == "application/json"
    assert int(got.headers["webhook-timestamp"]) == int(stack.clock.now().timestamp())
    assert json.loads(got.body) == event
    record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert record is not None
    assert record.status is DeliveryStatus.DELIVERED
    assert (record.attempts, record.last_status_code, record.last_error) == (1, 200, None)
    assert record.notify_url_host == "127.0.0.1"
    assert record.event == event
    assert (record.connection_id, record.event_type, record.provider) == (
        "conn_1",
        "stripe.invoice.paid",
        "stripe",
    )
    # a duplicate task (at-least-once queues) sends nothing again
    stack.delivery.deliver({"event": event})
    assert len(receiver.received) == 1


def test_the_first_delivery_creates_the_tenants_secret(stack: Stack, receiver: Receiver) -> None:
    stack.settings.set_notify_url(ALICE, receiver.url)
    assert stack.settings.get(ALICE).secrets == ()
    stack.delivery.deliver({"event": _event()})
    [secret] = stack.settings.signing_secrets(ALICE.tenant_id)
    assert len(stack.settings.get(ALICE).secrets) == 1
    [got] = receiver.received
    Webhook(secret).verify(got.body, got.headers)


def test_the_per_connection_url_overrides_the_tenants(stack: Stack, receiver: Receiver) -> None:
    stack.settings.set_notify_url(ALICE, receiver.url)
    override = receiver.url.replace("/hooks/tether", "/hooks/conn_1")
    stack.delivery.deliver({"event": _event(), "notify_url": override})
    [got] = receiver.received
    assert got.path == "/hooks/conn_1"
    record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert record is not None and record.status is DeliveryStatus.DELIVERED


def test_no_notify_url_is_a_permanent_failure(stack: Stack, receiver: Receiver) -> None:
    stack.delivery.deliver({"event": _event()})  # returns: nothing to retry
    record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert record is not None
    assert record.status is DeliveryStatus.FAILED and record.last_error == "NO_NOTIFY_URL"
    assert record.attempts == 0 and receiver.received == []
    assert stack.settings.get(ALICE).secrets == ()  # nothing signed, nothing created


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://10.1.2.3/hook", "BLOCKED_DESTINATION"),
        ("https://169.254.169.254/latest/meta-data", "BLOCKED_DESTINATION"),
        ("ftp://hooks.example.com/x", "INVALID_NOTIFY_URL"),
    ],
)
def test_a_refused_override_is_a_permanent_failure(
    stack: Stack, receiver: Receiver, url: str, code: str
) -> None:
    stack.delivery.deliver({"event": _event(), "notify_url": url})
    record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert record is not None
    assert record.status is DeliveryStatus.FAILED and record.last_error == code
    assert receiver.received == []


def test_plain_http_to_a_host_not_allowlisted_is_refused(stack: Stack, receiver: Receiver) -> None:
    other_port = receiver.url.replace(receiver.url.split(":")[2].split("/")[0], "1")
    stack.delivery.deliver({"event": _event(), "notify_url": other_port})
    record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert record is not None and record.last_error == "BLOCKED_DESTINATION"
    assert record.status is DeliveryStatus.FAILED


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"event": "evt_1"},
        {"event": {"id": "evt_1"}},
        {"event": {**_event(), "occurred_at": "yesterday"}},
        {"event": _event(), "notify_url": 7},
    ],
)
def test_a_malformed_task_is_not_retried(stack: Stack, payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        stack.delivery.deliver(payload)
    assert not refused.value.retryable and refused.value.code == "INVALID_TASK_PAYLOAD"


# -- retries, dead letters, replay -------------------------------------------------------------
def test_failures_are_retryable_until_the_delivery_is_dead_then_replay(
    stack: Stack, receiver: Receiver
) -> None:
    stack.settings.set_notify_url(ALICE, receiver.url)
    secret = stack.settings.rotate_secret(ALICE)
    receiver.keys = {"tenant": secret}
    receiver.fail_next = [503, 500, 404]
    payload = {"event": _event()}

    for attempt in (1, 2):
        with pytest.raises(DeliveryFailed) as failed:
            stack.delivery.deliver(payload)
        assert failed.value.retryable
        assert failed.value.details == {
            "delivery_id": "evt_0001",
            "attempt": attempt,
            "reason": "UNEXPECTED_STATUS",
        }
        record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
        assert record is not None and record.status is DeliveryStatus.PENDING
        assert record.attempts == attempt
        assert record.next_attempt_at == record.updated_at + timedelta(seconds=30 * attempt)
        stack.clock.advance(2)
    stack.delivery.deliver(payload)  # the last allowed attempt: returns, dead-lettered

    dead = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert dead is not None
    assert dead.status is DeliveryStatus.DEAD
    assert (dead.attempts, dead.last_status_code, dead.last_error) == (3, 404, "UNEXPECTED_STATUS")
    assert dead.next_attempt_at is None
    assert [r.verified_by for r in receiver.received] == [["tenant"]] * 3  # signed every time
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    stack.delivery.deliver(payload)  # a stray duplicate does not resurrect it
    assert len(receiver.received) == 3
    assert [d.status for d in stack.store.list_deliveries(ALICE.tenant_id)] == [DeliveryStatus.DEAD]

    # the receiver recovers; replay sends it now
    assert stack.delivery.replay(ALICE.tenant_id, "evt_0001") is True
    replayed = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert replayed is not None
    assert replayed.status is DeliveryStatus.DELIVERED
    assert (replayed.attempts, replayed.last_status_code, replayed.last_error) == (1, 200, None)
    last = receiver.received[-1]
    assert last.verified_by == ["tenant"]
    assert Webhook(secret).verify(last.body, last.headers) == _event()


def test_a_failed_replay_leaves_the_delivery_failed(stack: Stack, receiver: Receiver) -> None:
    stack.settings.set_notify_url(ALICE, receiver.url)
    receiver.keys = {"tenant": stack.settings.rotate_secret(ALICE)}
    receiver.fail_next = [500] * MAX_ATTEMPTS + [502]
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(DeliveryFailed):
            stack.delivery.deliver({"event": _event()})
    stack.delivery.deliver({"event": _event()})
    assert stack.delivery.replay(ALICE.tenant_id, "evt_0001") is False
    record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert record is not None
    assert record.status is DeliveryStatus.FAILED
    assert (record.attempts, record.last_status_code) == (1, 502)
    assert stack.delivery.replay(ALICE.tenant_id, "evt_0001") is True


def test_replay_is_tenant_scoped_and_refuses_pending(stack: Stack, receiver: Receiver) -> None:
    stack.settings.set_notify_url(ALICE, receiver.url)
    receiver.fail_next = [503]
    with pytest.raises(DeliveryFailed):
        stack.delivery.deliver({"event": _event()})
    with pytest.raises(Conflict) as busy:
        stack.delivery.replay(ALICE.tenant_id, "evt_0001")
    assert busy.value.code == "DELIVERY_IN_PROGRESS"
    with pytest.raises(NotFound):
        stack.delivery.replay("t-mallory", "evt_0001")
    with pytest.raises(NotFound):
        stack.delivery.replay(ALICE.tenant_id, "evt_unknown")


def test_a_network_failure_is_retryable_and_recorded_as_a_code(tmp_path: Path) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # an allowlisted address where nothing listens
    clock = FixedClock(_now())
    guard = EgressGuard([f"127.0.0.1:{port}"])
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    settings = NotifySettingsService(
        store, Sealer(Keyring.generate("kn")), clock, RandomIds(), guard
    )
    with OutboundClient(guard, max_retries=0, max_redirects=0, total_timeout=5.0) as client:
        delivery = DeliveryService(store, settings, client, clock, MAX_ATTEMPTS)
        payload = {"event": _event(), "notify_url": f"http://127.0.0.1:{port}/x"}
        try:
            with pytest.raises(DeliveryFailed) as failed:
                delivery.deliver(payload)
            assert failed.value.details["reason"] == "OUTBOUND_CONNECT"
            record = store.get_delivery(ALICE.tenant_id, "evt_0001")
            assert record is not None
            assert record.status is DeliveryStatus.PENDING and record.attempts == 1
            assert record.last_status_code is None and record.last_error == "OUTBOUND_CONNECT"
            assert record.next_attempt_at is None  # no retry_delay given: unknown
        finally:
            store.close()


def test_a_redirect_is_not_followed(stack: Stack, receiver: Receiver) -> None:
    """A 302 would turn the POST into a body-less GET: a failed attempt instead."""
    stack.settings.set_notify_url(ALICE, receiver.url)
    receiver.redirect_to = receiver.url + "/elsewhere"
    with pytest.raises(DeliveryFailed) as failed:
        stack.delivery.deliver({"event": _event()})
    assert failed.value.details["reason"] == "OUTBOUND_TOO_MANY_REDIRECTS"
    assert len(receiver.received) == 1


def test_the_task_queue_retries_with_backoff_then_the_delivery_is_dead(
    stack: Stack, receiver: Receiver, tmp_path: Path
) -> None:
    stack.settings.set_notify_url(ALICE, receiver.url)
    receiver.keys = {"tenant": stack.settings.rotate_secret(ALICE)}
    receiver.fail_next = [503] * 10

    def handler(kind: str, payload: dict[str, Any]) -> None:
        assert kind == DELIVER_TASK
        stack.delivery.deliver(payload)

    queue = LocalTaskQueue(
        tmp_path / "tasks.sqlite3",
        handler,
        clock=stack.clock,
        max_attempts=MAX_ATTEMPTS + 2,  # the queue's budget covers the service's
        min_backoff_seconds=1.0,
        max_backoff_seconds=8.0,
        jitter=False,
    )
    try:
        queue.enqueue(DELIVER_TASK, {"event": _event()}, name="deliver:evt_0001")
        ran = 0
        for _ in range(10):
            ran += queue.run_due()
            stack.clock.advance(8)
        assert ran == MAX_ATTEMPTS
        task = queue.get("deliver:evt_0001")
        assert task is not None and task.status is TaskStatus.DONE
    finally:
        queue.close()
    record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert record is not None and record.status is DeliveryStatus.DEAD
    assert record.attempts == MAX_ATTEMPTS == len(receiver.received)


# -- rotation overlap --------------------------------------------------------------------------
def _rotated_twice(tmp_path: Path, receiver: Receiver, *, hours_later: float) -> Stack:
    """Rotate at ``now - hours_later`` (the old secret), rotate again an instant later with a
    24-hour overlap (the new one), then move the clock up to the real now."""
    start = _now() - timedelta(hours=hours_later)
    built = _stack(tmp_path, receiver, FixedClock(start))
    built.settings.set_notify_url(ALICE, receiver.url)
    old = built.settings.rotate_secret(ALICE)
    new = built.settings.rotate_secret(ALICE, overlap_hours=24)
    receiver.keys = {"old": old, "new": new}
    built.clock.advance(hours_later * 3600)
    return built


def test_during_the_overlap_receivers_on_either_secret_verify(
    tmp_path: Path, receiver: Receiver
) -> None:
    built = _rotated_twice(tmp_path, receiver, hours_later=23)
    try:
        built.delivery.deliver({"event": _event()})
        [got] = receiver.received
        assert sorted(got.verified_by) == ["new", "old"]
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        for secret in receiver.keys.values():  # each receiver alone
            assert Webhook(secret).verify(got.body, got.headers) == _event()
    finally:
        built.client.close()
        built.store.close()


def test_after_the_overlap_only_the_new_secret_verifies(tmp_path: Path, receiver: Receiver) -> None:
    built = _rotated_twice(tmp_path, receiver, hours_later=24.5)
    try:
        built.delivery.deliver({"event": _event()})
        [got] = receiver.received
        assert got.verified_by == ["new"]
        assert len(got.headers["webhook-signature"].split(" ")) == 1
        with pytest.raises(WebhookVerificationError):
            Webhook(receiver.keys["old"]).verify(got.body, got.headers)
    finally:
        built.client.close()
        built.store.close()


# -- secrets stay secret -----------------------------------------------------------------------
def test_no_secret_in_logs_records_or_errors(
    stack: Stack, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url_with_token = receiver.url + "?token=s3cr3t-in-url"
    stack.settings.set_notify_url(ALICE, url_with_token)
    secret = stack.settings.rotate_secret(ALICE)
    receiver.keys = {"tenant": secret}
    receiver.fail_next = [500]
    errors: list[TetherError] = []
    try:
        stack.delivery.deliver({"event": _event()})
    except DeliveryFailed as exc:
        errors.append(exc)
    stack.delivery.deliver({"event": _event()})
    record = stack.store.get_delivery(ALICE.tenant_id, "evt_0001")
    assert record is not None and record.status is DeliveryStatus.DELIVERED
    texts = [caplog.text, record.model_dump_json(), repr(record)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(e) + str(e.to_dict()) for e in errors]
    secret_body = secret.removeprefix("whsec_")
    for text in texts:
        assert secret_body not in text
        assert "s3cr3t-in-url" not in text
