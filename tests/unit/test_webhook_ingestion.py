"""Inbound webhook ingestion on real parts (SQLite store, database secret store, connection
service, the real signature schemes) with a recording task queue: verified, deduplicated,
stored, enqueued, processed once, and the token never logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from standardwebhooks.webhooks import Webhook
from twilio.request_validator import RequestValidator

from tests.support.recording_queue import RecordingQueue, Scheduled
from tether import wiring
from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.local_tasks import LocalTaskQueue
from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.schema import MIGRATIONS, _utc_text, format_time
from tether.adapters.sqlite.webhook_events import _WEBHOOK_EVENTS_SQL
from tether.api.endpoint import Wired
from tether.api.webhooks import Services, handle, masked_path
from tether.bootstrap import Container, reset_container
from tether.catalog import Catalog, load_catalog
from tether.connections.commands import CreateConnection, UpdateConnection
from tether.connections.service import ConnectionService
from tether.crypto import Keyring, Sealer
from tether.delivery.publisher import DELIVER_TASK
from tether.domain.clock import FixedClock
from tether.domain.errors import BackendUnavailable, NotFound, PayloadTooLarge
from tether.domain.ids import RandomIds
from tether.domain.models import Connection, Principal, WebhookEvent
from tether.logs import JsonFormatter
from tether.webhooks.connection_cache import WebhookConnections
from tether.webhooks.intake import CONNECTION_CACHE_SECONDS, WebhookIntake, process_task_name
from tether.webhooks.model import InboundRequest, SignatureError, SignatureScheme
from tether.webhooks.processing import PROCESS_WEBHOOK_TASK, WebhookProcessing, event_id_for
from tether.webhooks.provisioning import WebhookProvisioning, hash_token, new_signing_secret
from tether.webhooks.signatures import scheme_for

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TENANT = "t1"
PUBLIC = "https://tether.example.com"
SHOPIFY_APP_SECRET = "shpss_app_secret_0123456789abcdef"
XERO_WEBHOOK_KEY = "xero-webhook-key-0123456789abcdefghij"
STRIPE_SECRET = "whsec_stripeendpointsecret0123456789"
TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"
PRINCIPAL = Principal(tenant_id=TENANT, user_id="user-1")


@dataclass
class Stack:
    store: SqliteConnectionStore
    connections: ConnectionService
    intake: WebhookIntake
    provisioning: WebhookProvisioning
    processing: WebhookProcessing
    queue: RecordingQueue
    clock: FixedClock
    catalog: Catalog
    app_secrets: dict[str, list[str]]
    routes: dict[tuple[str, str], Connection]

    def build(self, **overrides: Any) -> WebhookIntake:
        """Another service on the same parts (a smaller body cap, no router...)."""
        args: dict[str, Any] = {
            "store": self.store,
            "connections": self.connections,
            "catalog": lambda: self.catalog,
            "tasks": lambda: self.queue,
            "clock": self.clock,
            "ids": RandomIds(),
            "app_secrets": lambda key: list(self.app_secrets.get(key, [])),
            "find_by_route": lambda provider, value: self.routes.get((provider, value)),
        }
        args.update(overrides)
        return WebhookIntake(**args)

    def stored(self, connection_id: str) -> list[WebhookEvent]:
        return self.store.list_webhook_events(TENANT, connection_id)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    catalog = load_catalog()
    clock = FixedClock(T0)
    connections = ConnectionService(
        store=store,
        secrets=DbSecretStore(Sealer(Keyring.generate("ktest")), retired=MemoryRetiredVersions()),
        catalog=lambda: catalog,
        clock=clock,
        ids=RandomIds(),
    )
    built = Stack(
        store=store,
        connections=connections,
        intake=None,  # type: ignore[arg-type]
        provisioning=WebhookProvisioning(
            store=store,
            connections=connections,
            catalog=lambda: catalog,
            clock=clock,
            ids=RandomIds(),
            public_url=PUBLIC,
        ),
        processing=None,  # type: ignore[arg-type]
        queue=RecordingQueue(),
        clock=clock,
        catalog=catalog,
        app_secrets={"shopify": [SHOPIFY_APP_SECRET], "xero": [XERO_WEBHOOK_KEY]},
        routes={},
    )
    built.intake = built.build()
    built.processing = WebhookProcessing(
        store=store, catalog=lambda: catalog, tasks=lambda: built.queue
    )
    yield built
    store.close()


# -- deliveries ------------------------------------------------------------------------------
def standard_request(
    secret: str,
    payload: Any,
    *,
    at: datetime = T0,
    msg_id: str = "msg_1",
    url: str = f"{PUBLIC}/webhooks/x",
) -> InboundRequest:
    body = json.dumps(payload).encode()
    return InboundRequest(
        method="POST",
        url=url,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
            "user-agent": "sender/1.0",
            "authorization": "Bearer should-not-be-kept",
        },
        body=body,
        received_at=at,
    )


def body_hmac_request(
    header: str, secret: str, payload: Any, *, headers: dict[str, str] | None = None
) -> InboundRequest:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return InboundRequest(
        method="POST",
        url=f"{PUBLIC}/webhooks/providers/x",
        headers={
            "content-type": "application/json",
            header: base64.b64encode(digest).decode(),
            **(headers or {}),
        },
        body=body,
        received_at=T0,
    )


def stripe_request(secret: str, payload: Any, *, at: datetime = T0) -> InboundRequest:
    body = json.dumps(payload).encode()
    stamp = str(int(at.timestamp()))
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return InboundRequest(
        method="POST",
        url=f"{PUBLIC}/webhooks/providers/stripe",
        headers={
            "content-type": "application/json",
            "stripe-signature": f"t={stamp},v1={signature.hexdigest()}",
        },
        body=body,
        received_at=at,
    )


def create(stack: Stack, command: CreateConnection) -> tuple[Connection, str | None, str | None]:
    """``POST /connections``'s service: the connection, its webhook URL and the signing secret
    Tether minted for it (each shown once, ``None`` when there is none)."""
    connection, issued = stack.provisioning.create_connection(PRINCIPAL, command)
    if issued is None:
        return connection, None, None
    return connection, issued.url, issued.secret


def routed_stripe_connection(stack: Stack, account: str) -> Connection:
    """A Stripe connection with its own webhook secret, to which app-level deliveries for
    ``account`` are routed."""
    created = stack.connections.create(
        PRINCIPAL,
        CreateConnection(
            provider="stripe",
            credentials={"api_key": "sk_test_abcdefghijklmnop", "webhook_secret": STRIPE_SECRET},
        ),
    )
    stack.routes[("stripe", account)] = created
    return created


def generic_connection(stack: Stack, secret: str) -> tuple[Connection, str]:
    """A generic ``webhook`` connection with the tenant's own secret, and its URL token."""
    connection, url, minted = create(
        stack,
        CreateConnection(provider="webhook", credentials={"signing_secret": secret}),
    )
    assert url is not None and minted is None
    token = url.rsplit("/", 1)[1]
    return connection, token


@pytest.fixture
def secret() -> str:
    return new_signing_secret()


# -- issuing URLs ------------------------------------------------------------------------------
def test_the_url_is_shown_once_and_only_its_hash_is_stored(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    assert len(base64.urlsafe_b64decode(token + "=")) == 32  # 256 bits
    assert connection.webhook is not None
    assert connection.webhook.token_hash == hash_token(token)
    assert connection.webhook.url == f"{PUBLIC}/webhooks/…{token[-4:]}"
    record = stack.store.get_connection(TENANT, connection.id)
    assert record is not None and token not in record.model_dump_json()


def test_rotation_replaces_the_url_and_the_old_one_stops_working(stack: Stack, secret: str) -> None:
    connection, old = generic_connection(stack, secret)
    url = stack.provisioning.rotate_webhook(PRINCIPAL, connection.id)
    new = url.rsplit("/", 1)[1]
    assert url == f"{PUBLIC}/webhooks/{new}" and new != old
    with pytest.raises(NotFound):
        stack.intake.receive_for_token(old, standard_request(secret, {"type": "a"}))
    accepted = stack.intake.receive_for_token(new, standard_request(secret, {"type": "a"}))
    assert accepted.status == "enqueued"
    trail = stack.store.list_audit(TENANT, connection_id=connection.id)
    assert any(e.detail.get("fields") == ["webhook"] for e in trail)
    with pytest.raises(NotFound):
        stack.provisioning.rotate_webhook(Principal(tenant_id="t2", user_id="u"), connection.id)


def test_a_generic_connection_without_a_secret_gets_one_minted(stack: Stack) -> None:
    connection, url, minted = create(stack, CreateConnection(provider="webhook"))
    assert url is not None and minted is not None and minted.startswith("whsec_")
    stored = stack.connections.read_credentials(PRINCIPAL, connection.id, purpose="test")
    assert stored == {"signing_secret": minted}
    token = url.rsplit("/", 1)[1]
    accepted = stack.intake.receive_for_token(token, standard_request(minted, {"type": "x"}))
    assert accepted.status == "enqueued"


def test_providers_with_app_level_secrets_get_no_url_of_their_own(stack: Stack) -> None:
    # Stripe's secret is per connection: it gets a URL (the secret comes from Stripe later)
    _, url, minted = create(
        stack,
        CreateConnection(provider="stripe", credentials={"api_key": "sk_test_abcdefghijklmnop"}),
    )
    assert url is not None and minted is None


# -- receiving on a connection's URL -----------------------------------------------------------
def test_a_verified_delivery_is_stored_and_enqueued_once(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    delivery = standard_request(secret, {"type": "order.created", "data": {"id": 7}})
    accepted = stack.intake.receive_for_token(token, delivery)
    assert (accepted.status, accepted.duplicate) == ("enqueued", False)
    assert accepted.dedupe_key == f"{connection.id}/msg_1"
    [event] = stack.stored(connection.id)
    assert (event.status, event.detail["type"]) == ("enqueued", "order.created")
    full = stack.store.get_webhook_event("webhook", accepted.dedupe_key)
    assert full is not None and full.body == delivery.body.decode()
    assert full.expires_at == T0 + timedelta(days=7)
    # sensitive headers are never stored; the rest is
    assert "webhook-signature" not in full.headers and "authorization" not in full.headers
    assert full.headers["user-agent"] == "sender/1.0"
    assert stack.queue.tasks == [
        Scheduled(
            PROCESS_WEBHOOK_TASK,
            {"provider": "webhook", "dedupe_key": accepted.dedupe_key},
            process_task_name("webhook", accepted.dedupe_key),
            None,
        )
    ]
    name = stack.queue.tasks[0].name
    assert name is not None and name.startswith("wh-webhook-") and len(name) == 43


def test_a_duplicate_is_answered_without_a_second_task(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    delivery = standard_request(secret, {"type": "a"})
    stack.intake.receive_for_token(token, delivery)
    again = stack.intake.receive_for_token(token, delivery)
    assert (again.status, again.duplicate) == ("duplicate", True)
    assert len(stack.stored(connection.id)) == 1
    assert len(stack.queue.calls) == 1


def test_fifty_concurrent_deliveries_of_one_event_store_and_enqueue_it_once(
    stack: Stack, secret: str
) -> None:
    connection, token = generic_connection(stack, secret)
    delivery = standard_request(secret, {"type": "a"}, msg_id="msg_race")
    outcomes: list[bool] = []
    errors: list[Exception] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def deliver() -> None:
        start.wait()
        try:
            accepted = stack.intake.receive_for_token(token, delivery)
        except Exception as exc:  # noqa: BLE001 - every failure is collected and asserted on
            with lock:
                errors.append(exc)
            return
        with lock:
            outcomes.append(accepted.duplicate)

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(outcomes) == [False] + [True] * 49
    assert len(stack.stored(connection.id)) == 1
    # one enqueue call at all, not 50 calls deduplicated by the queue
    assert len(stack.queue.calls) == 1 and len(stack.queue.of(PROCESS_WEBHOOK_TASK)) == 1


def test_a_failed_enqueue_forgets_the_event_so_the_retry_succeeds(
    stack: Stack, secret: str
) -> None:
    connection, token = generic_connection(stack, secret)
    delivery = standard_request(secret, {"type": "a"})
    stack.queue.fail = 1
    with pytest.raises(BackendUnavailable) as failed:
        stack.intake.receive_for_token(token, delivery)
    assert failed.value.http_status == 503 and failed.value.retryable
    assert stack.stored(connection.id) == []
    retry = stack.intake.receive_for_token(token, delivery)
    assert (retry.status, retry.duplicate) == ("enqueued", False)
    assert len(stack.queue.of(PROCESS_WEBHOOK_TASK)) == 1
    assert [e.status for e in stack.stored(connection.id)] == ["enqueued"]


def test_a_task_name_taken_by_an_earlier_record_gets_a_task_of_its_own(
    stack: Stack, secret: str
) -> None:
    """The queue said "already exists" (an earlier record under this key ran, or the failed
    enqueue had in fact landed): this record still gets processed."""
    connection, token = generic_connection(stack, secret)
    delivery = standard_request(secret, {"type": "a"})
    first = stack.intake.receive_for_token(token, delivery)
    assert first.dedupe_key is not None
    stack.store.delete_webhook_event("webhook", first.dedupe_key)  # as if it had expired
    stack.intake.receive_for_token(token, delivery)
    names = [task.name for task in stack.queue.of(PROCESS_WEBHOOK_TASK)]
    [event] = stack.stored(connection.id)
    assert names == [
        process_task_name("webhook", first.dedupe_key),
        f"{process_task_name('webhook', first.dedupe_key)}-{event.id}",
    ]


def test_a_stalled_event_is_enqueued_again_by_the_next_retry(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    delivery = standard_request(secret, {"type": "a"})
    accepted = stack.intake.receive_for_token(token, delivery)
    assert accepted.dedupe_key is not None
    # the instance died between the create and the enqueue: a record and no task
    event = stack.store.get_webhook_event("webhook", accepted.dedupe_key)
    assert event is not None and event.status == "enqueued"
    stack.queue.tasks.clear()
    assert stack.intake.receive_for_token(token, delivery).duplicate  # too soon: no task
    assert stack.queue.tasks == []
    stack.clock.advance(120)
    later = standard_request(secret, {"type": "a"}, at=stack.clock.now())
    assert stack.intake.receive_for_token(token, later).duplicate
    assert len(stack.queue.of(PROCESS_WEBHOOK_TASK)) == 1
    assert [e.status for e in stack.stored(connection.id)] == ["enqueued"]


def test_housekeeping_queues_the_lost_task_of_a_waiting_event_once(
    stack: Stack, secret: str
) -> None:
    """The process died after the record and before its task was written: nobody retries a
    delivery that was answered 200, so the sweep housekeeping runs brings the task back, a
    minute after the receipt at the earliest, once."""
    connection, token = generic_connection(stack, secret)
    accepted = stack.intake.receive_for_token(token, standard_request(secret, {"type": "a"}))
    assert accepted.dedupe_key is not None
    stack.queue.lose(PROCESS_WEBHOOK_TASK)  # the task died with the process
    stack.app_secrets["stripe"] = [STRIPE_SECRET]  # a platform's endpoint: no account named
    unroutable = stack.intake.receive_for_provider(
        "stripe", stripe_request(STRIPE_SECRET, {"id": "evt_nobody", "type": "charge.updated"})
    )
    assert unroutable.status == "unroutable"

    assert stack.intake.requeue_waiting() == 0  # too soon: its task may still be on its way
    stack.clock.advance(61)
    assert stack.intake.requeue_waiting() == 1
    assert stack.intake.requeue_waiting() == 0  # the name is taken now: no second task
    [task] = stack.queue.of(PROCESS_WEBHOOK_TASK)
    assert task.name == process_task_name("webhook", accepted.dedupe_key)

    stack.processing.process_webhook(task.payload)
    assert [e.status for e in stack.stored(connection.id)] == ["processed"]
    assert len(stack.queue.of(DELIVER_TASK)) == 1


def test_events_stuck_with_their_tasks_do_not_hide_the_newer_lost_ones(
    stack: Stack, secret: str
) -> None:
    """Three old events keep waiting with tasks of their own (a backlog, or tasks that gave
    up): a sweep that looked at the oldest page only would find nothing to do there on every
    run, and never reach the two newer events whose tasks were lost."""
    _, token = generic_connection(stack, secret)
    for n in range(3):
        old = standard_request(secret, {"type": "a"}, at=stack.clock.now(), msg_id=f"msg_old{n}")
        assert not stack.intake.receive_for_token(token, old).duplicate
    stack.clock.advance(1)
    kept = list(stack.queue.of(PROCESS_WEBHOOK_TASK))
    for n in range(2):
        new = standard_request(secret, {"type": "a"}, at=stack.clock.now(), msg_id=f"msg_new{n}")
        assert not stack.intake.receive_for_token(token, new).duplicate
    stack.queue.lose(PROCESS_WEBHOOK_TASK)  # the newer two died with the process...
    for task in kept:  # ...the three older ones still have theirs
        assert stack.queue.enqueue(task.kind, task.payload, name=task.name)
    stack.clock.advance(61)

    assert stack.intake.requeue_waiting(limit=2) == 2
    assert len(stack.queue.of(PROCESS_WEBHOOK_TASK)) == 5
    assert stack.intake.requeue_waiting(limit=2) == 0


def test_a_waiting_event_whose_task_is_pending_gets_no_second_one(
    stack: Stack, secret: str
) -> None:
    _, token = generic_connection(stack, secret)
    stack.intake.receive_for_token(token, standard_request(secret, {"type": "a"}))
    stack.clock.advance(3600)  # a backlog: the task waits, so does the event

    assert stack.intake.requeue_waiting() == 0
    assert len(stack.queue.of(PROCESS_WEBHOOK_TASK)) == 1


def test_on_the_embedded_queue_acceptance_writes_the_task_after_the_answer(
    stack: Stack, secret: str, tmp_path: Path
) -> None:
    """One durable write on the request path (the record); the embedded queue writes the task
    in its next batch, and a task lost with the process comes back through housekeeping."""
    processed: list[dict[str, Any]] = []

    def run(kind: str, payload: dict[str, Any]) -> None:
        assert kind == PROCESS_WEBHOOK_TASK
        stack.processing.process_webhook(payload)
        processed.append(payload)

    dying = LocalTaskQueue(tmp_path / "tasks.db", run, clock=stack.clock, batch_window_seconds=3600)
    intake = stack.build(tasks=lambda: dying)
    connection, token = generic_connection(stack, secret)
    first = intake.receive_for_token(token, standard_request(secret, {"type": "a"}))
    sql: list[str] = []
    stack.store.database.db().set_trace_callback(sql.append)
    second = standard_request(secret, {"type": "b"}, msg_id="msg_2")
    accepted = intake.receive_for_token(token, second)
    stack.store.database.db().set_trace_callback(None)
    # the connection and its secret are kept (the first delivery read them, audited): the
    # record's INSERT is the one statement, and the task is not in the queue's file yet
    assert accepted.status == "enqueued" and [q.split()[0] for q in sql] == ["INSERT"]
    for done in (first, accepted):
        assert dying.get(process_task_name("webhook", done.dedupe_key or "")) is None
    dying._soon._tasks.clear()  # the process dies before the batch is written (its buffer)

    queue = LocalTaskQueue(tmp_path / "tasks.db", run, clock=stack.clock)
    try:
        sweeping = stack.build(tasks=lambda: queue)
        stack.clock.advance(61)
        assert sweeping.requeue_waiting() == 2
        assert queue.run_due() == 2
        assert [e.status for e in stack.stored(connection.id)] == ["processed", "processed"]
        assert len(processed) == 2 and len(stack.queue.of(DELIVER_TASK)) == 2
    finally:
        queue.close()
        dying.close()


def test_an_oversized_body_is_refused_before_anything_else(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    small = stack.build(max_body_bytes=64)
    big = standard_request(secret, {"type": "a", "pad": "x" * 100})
    with pytest.raises(PayloadTooLarge) as refused:
        small.receive_for_token(token, big)
    assert refused.value.http_status == 413
    with pytest.raises(PayloadTooLarge):  # even for an unknown token: no lookup at all
        small.receive_for_token("unknown-token-0123456789", big)
    assert stack.stored(connection.id) == [] and stack.queue.calls == []


@pytest.mark.parametrize("token", ["unknown-token-0123456789abcdef", "short", "bad/../token"])
def test_an_unknown_token_is_not_found(stack: Stack, secret: str, token: str) -> None:
    with pytest.raises(NotFound) as missing:
        stack.intake.receive_for_token(token, standard_request(secret, {"type": "a"}))
    assert missing.value.code == "WEBHOOK_NOT_FOUND"


def test_a_deleted_connection_is_not_found(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    stack.connections.delete(PRINCIPAL, connection.id)
    with pytest.raises(NotFound):
        stack.intake.receive_for_token(token, standard_request(secret, {"type": "a"}))


def test_a_bad_signature_is_refused_with_nothing_stored(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    forged = standard_request(new_signing_secret(), {"type": "a"})
    with pytest.raises(SignatureError) as refused:
        stack.intake.receive_for_token(token, forged)
    assert refused.value.http_status == 401 and refused.value.reason == "mismatch"
    stale = standard_request(secret, {"type": "a"}, at=T0 - timedelta(hours=1))
    with pytest.raises(SignatureError) as late:
        stack.intake.receive_for_token(token, stale)
    assert late.value.reason == "stale"
    assert stack.stored(connection.id) == [] and stack.queue.calls == []


def test_no_secret_fails_closed(stack: Stack) -> None:
    """A Stripe connection whose webhook secret was never given: nothing verifies."""
    connection, url, _ = create(
        stack,
        CreateConnection(provider="stripe", credentials={"api_key": "sk_test_abcdefghijklmnop"}),
    )
    assert url is not None
    token = url.rsplit("/", 1)[1]
    with pytest.raises(SignatureError) as refused:
        stack.intake.receive_for_token(token, stripe_request(STRIPE_SECRET, {"id": "evt_1"}))
    assert refused.value.reason == "no_secret"
    assert stack.stored(connection.id) == []


def test_a_catalog_hmac_scheme_verifies_with_its_options(stack: Stack) -> None:
    """Razorpay's entry: the ``hmac`` scheme with the header its options name (hex SHA-256 of
    the body), keyed with the connection's own webhook secret; a one-byte change is refused."""
    connection, url, _ = create(
        stack,
        CreateConnection(
            provider="razorpay",
            credentials={
                "key_id": "rzp_test_abcdef123456",
                "key_secret": "razorpay-key-secret",
                "webhook_secret": "razorpay-webhook-secret",
            },
        ),
    )
    assert url is not None
    token = url.rsplit("/", 1)[1]
    body = json.dumps({"event": "payment.captured", "payload": {}}).encode()
    signature = hmac.new(b"razorpay-webhook-secret", body, hashlib.sha256).hexdigest()
    headers = {"x-razorpay-signature": signature, "x-razorpay-event-id": "evt_rzp_1"}

    def delivery(payload: bytes) -> InboundRequest:
        return InboundRequest(method="POST", url=url, headers=headers, body=payload, received_at=T0)

    accepted = stack.intake.receive_for_token(token, delivery(body))
    assert accepted.dedupe_key.endswith("evt_rzp_1")
    with pytest.raises(SignatureError) as refused:
        stack.intake.receive_for_token(token, delivery(body.replace(b"captured", b"capturex")))
    assert refused.value.http_status == 401 and refused.value.reason == "mismatch"
    assert len(stack.stored(connection.id)) == 1


def test_a_scheme_is_built_once_per_catalog_entry(stack: Stack, secret: str) -> None:
    """Verifying is pure, so each entry's scheme (its options checked, its pieces compiled)
    is built on the first delivery and used for every later one; a failed verification
    does not drop it."""
    built: list[str] = []

    def counting(name: str, options: Mapping[str, Any] | None) -> SignatureScheme:
        built.append(name)
        return scheme_for(name, options)

    intake = stack.build(schemes=counting)
    _, token = generic_connection(stack, secret)
    for n in range(3):
        delivery = standard_request(secret, {"type": "a"}, msg_id=f"msg_{n}")
        assert intake.receive_for_token(token, delivery).status == "enqueued"
    with pytest.raises(SignatureError):
        intake.receive_for_token(token, standard_request(new_signing_secret(), {"type": "b"}))
    intake.receive_for_token(token, standard_request(secret, {"type": "a"}, msg_id="msg_9"))
    assert built == ["standard_webhooks"]


def test_twilio_verifies_the_public_url_and_a_form_body(stack: Stack) -> None:
    connection, url, _ = create(
        stack,
        CreateConnection(
            provider="twilio",
            credentials={"account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN},
        ),
    )
    assert url is not None and url.startswith(f"{PUBLIC}/webhooks/")
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": "SM1", "MessageStatus": "sent"}
    body = "&".join(f"{k}={v}" for k, v in params.items()).encode()
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    delivery = InboundRequest(
        method="POST",
        url=url,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
            "i-twilio-idempotency-token": "idem-1",
        },
        body=body,
        received_at=T0,
    )
    accepted = stack.intake.receive_for_token(url.rsplit("/", 1)[1], delivery)
    assert accepted.dedupe_key == f"{connection.id}/idem-1"
    stored = stack.store.get_webhook_event("twilio", accepted.dedupe_key)
    assert stored is not None and "x-twilio-signature" not in stored.headers


# -- receiving on a provider's app-level URL ---------------------------------------------------
def test_an_app_level_event_without_a_route_is_recorded_unroutable(stack: Stack) -> None:
    delivery = body_hmac_request(
        "x-shopify-hmac-sha256",
        SHOPIFY_APP_SECRET,
        {"id": 1, "total": "9.99"},
        headers={
            "x-shopify-topic": "orders/create",
            "x-shopify-shop-domain": "nobody.myshopify.com",
            "x-shopify-event-id": "ev-1",
        },
    )
    accepted = stack.intake.receive_for_provider("shopify", delivery)
    assert (accepted.status, accepted.connection_id) == ("unroutable", None)
    assert accepted.dedupe_key == "_/ev-1"
    stored = stack.store.get_webhook_event("shopify", "_/ev-1")
    assert stored is not None and stored.status == "unroutable"
    assert stored.tenant_id is None and stored.connection_id is None
    assert stored.detail["route"] == "nobody.myshopify.com"
    assert "x-shopify-hmac-sha256" not in stored.headers
    assert stack.queue.calls == []
    # processing an unroutable event (a stray task) forwards nothing
    stack.processing.process_webhook({"provider": "shopify", "dedupe_key": "_/ev-1"})
    assert stack.queue.calls == []


def test_an_app_level_event_is_routed_to_its_connection(stack: Stack) -> None:
    created = stack.connections.create(
        PRINCIPAL,
        CreateConnection(provider="shopify", config={"shop": "acme"}),
    )
    stack.routes[("shopify", "acme.myshopify.com")] = created
    delivery = body_hmac_request(
        "x-shopify-hmac-sha256",
        SHOPIFY_APP_SECRET,
        {"id": 1},
        headers={
            "x-shopify-topic": "orders/create",
            "x-shopify-shop-domain": "acme.myshopify.com",
            "x-shopify-event-id": "ev-2",
        },
    )
    accepted = stack.intake.receive_for_provider("shopify", delivery)
    assert (accepted.status, accepted.connection_id) == ("enqueued", created.id)
    assert [e.status for e in stack.stored(created.id)] == ["enqueued"]


def test_a_per_connection_secret_is_used_after_routing(stack: Stack) -> None:
    created = routed_stripe_connection(stack, "acct_1")
    event = {"id": "evt_1", "type": "invoice.paid", "account": "acct_1"}
    accepted = stack.intake.receive_for_provider("stripe", stripe_request(STRIPE_SECRET, event))
    assert (accepted.status, accepted.connection_id) == ("enqueued", created.id)
    forged = stripe_request("whsec_someoneelse0123456789", {**event, "id": "evt_2"})
    with pytest.raises(SignatureError):
        stack.intake.receive_for_provider("stripe", forged)
    # an account nobody connected has no secret to verify with: refused, not recorded
    stray = stripe_request(STRIPE_SECRET, {**event, "id": "evt_3", "account": "acct_x"})
    with pytest.raises(SignatureError) as refused:
        stack.intake.receive_for_provider("stripe", stray)
    assert refused.value.reason == "no_secret"
    assert stack.store.get_webhook_event("stripe", "_/evt_3") is None


def test_app_level_bad_signature_and_unknown_provider(stack: Stack) -> None:
    forged = body_hmac_request("x-shopify-hmac-sha256", "not-the-app-secret", {"id": 1})
    with pytest.raises(SignatureError):
        stack.intake.receive_for_provider("shopify", forged)
    stack.app_secrets.pop("shopify")
    signed = body_hmac_request("x-shopify-hmac-sha256", SHOPIFY_APP_SECRET, {"id": 1})
    with pytest.raises(SignatureError) as refused:  # no app secret configured
        stack.intake.receive_for_provider("shopify", signed)
    assert refused.value.reason == "no_secret"
    for key in ("no_such_provider", "openai"):  # unknown, or a provider without webhooks
        with pytest.raises(NotFound):
            stack.intake.receive_for_provider(key, signed)
    assert stack.queue.calls == []


def test_xero_intent_to_receive(stack: Stack) -> None:
    check = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "S0m3"}
    good = body_hmac_request("x-xero-signature", XERO_WEBHOOK_KEY, check)
    accepted = stack.intake.receive_for_provider("xero", good)
    assert (accepted.status, accepted.duplicate) == ("ignored", False)
    assert stack.store.get_webhook_event("xero", accepted.dedupe_key or "") is None
    bad = body_hmac_request("x-xero-signature", "wrong-key-0123456789", check)
    with pytest.raises(SignatureError):
        stack.intake.receive_for_provider("xero", bad)
    assert stack.queue.calls == []


# -- connections kept by token (tether.webhooks.connection_cache) ---------------------------
def test_a_kept_connection_is_not_found_once_deleted_here(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    assert stack.intake.receive_for_token(token, standard_request(secret, {})).status == "enqueued"
    stack.connections.delete(PRINCIPAL, connection.id)
    with pytest.raises(NotFound):
        stack.intake.receive_for_token(token, standard_request(secret, {}, msg_id="m2"))


def test_a_kept_connection_follows_a_new_webhook_url_made_here(stack: Stack, secret: str) -> None:
    connection, old = generic_connection(stack, secret)
    assert stack.intake.receive_for_token(old, standard_request(secret, {})).status == "enqueued"
    new = stack.provisioning.rotate_webhook(PRINCIPAL, connection.id).rsplit("/", 1)[1]
    with pytest.raises(NotFound):
        stack.intake.receive_for_token(old, standard_request(secret, {}, msg_id="m2"))
    accepted = stack.intake.receive_for_token(new, standard_request(secret, {}, msg_id="m3"))
    assert accepted.status == "enqueued"


def test_a_kept_connection_follows_new_credentials_given_here(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    assert stack.intake.receive_for_token(token, standard_request(secret, {})).status == "enqueued"
    rotated = new_signing_secret()
    stack.connections.update(
        PRINCIPAL, connection.id, UpdateConnection(credentials={"signing_secret": rotated})
    )
    with pytest.raises(SignatureError):
        stack.intake.receive_for_token(token, standard_request(secret, {}, msg_id="m2"))
    accepted = stack.intake.receive_for_token(token, standard_request(rotated, {}, msg_id="m3"))
    assert accepted.status == "enqueued"


def test_another_instances_changes_reach_a_kept_connection(
    stack: Stack, secret: str, tmp_path: Path
) -> None:
    """The webhooks function on an instance of its own (its own store object: it does not
    see the writes of the instance that serves the connections function). New credentials
    verify at once; the old secret and the deleted connection last at most the lifetime."""
    webhooks = SqliteConnectionStore(tmp_path / "store.sqlite3")
    try:
        intake = stack.build(store=webhooks)
        connection, token = generic_connection(stack, secret)
        assert intake.receive_for_token(token, standard_request(secret, {})).status == "enqueued"
        rotated = new_signing_secret()
        stack.connections.update(
            PRINCIPAL, connection.id, UpdateConnection(credentials={"signing_secret": rotated})
        )
        accepted = intake.receive_for_token(token, standard_request(rotated, {}, msg_id="m2"))
        assert accepted.status == "enqueued"  # refused as kept, verified as read afresh
        with pytest.raises(SignatureError):
            intake.receive_for_token(token, standard_request(secret, {}, msg_id="m3"))
        stack.connections.delete(PRINCIPAL, connection.id)
        kept = intake.receive_for_token(token, standard_request(rotated, {}, msg_id="m4"))
        assert kept.status == "enqueued"  # within the lifetime; processing drops it
        stack.processing.process_webhook(
            {"provider": "webhook", "dedupe_key": kept.dedupe_key or ""}
        )
        dropped = stack.store.get_webhook_event("webhook", kept.dedupe_key or "")
        assert dropped is not None and dropped.status == "dropped"
        stack.clock.advance(CONNECTION_CACHE_SECONDS)
        with pytest.raises(NotFound):
            intake.receive_for_token(token, standard_request(rotated, {}, msg_id="m5"))
    finally:
        webhooks.close()


def test_a_connection_is_read_once_per_lifetime_and_unknown_tokens_every_time(
    stack: Stack, secret: str
) -> None:
    reads: list[str] = []

    def find(token_hash: str) -> Connection | None:
        reads.append(token_hash)
        return stack.store.find_connection_by_webhook_token(token_hash)

    kept = WebhookConnections(
        find=find,
        writes=stack.store.connection_writes,
        ttl_seconds=CONNECTION_CACHE_SECONDS,
        size=8,
        now=lambda: stack.clock.now().timestamp(),
    )
    connection, token = generic_connection(stack, secret)
    for _ in range(3):
        found = kept.find(hash_token(token))
        assert found is not None and found.id == connection.id
    assert reads == [hash_token(token)]
    stack.clock.advance(CONNECTION_CACHE_SECONDS)
    assert kept.find(hash_token(token)) is not None and len(reads) == 2
    for _ in range(2):
        assert kept.find(hash_token("no-such-token")) is None
    assert len(reads) == 4


# -- processing --------------------------------------------------------------------------------
def test_processing_normalizes_and_enqueues_one_delivery(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    accepted = stack.intake.receive_for_token(
        token, standard_request(secret, {"type": "order.created", "data": {"id": 7}})
    )
    assert accepted.dedupe_key is not None
    [(_, payload, _, _)] = stack.queue.of(PROCESS_WEBHOOK_TASK)
    stack.processing.process_webhook(payload)
    stack.processing.process_webhook(payload)  # a redelivered task: nothing new
    [(kind, delivery, name, _)] = stack.queue.of(DELIVER_TASK)
    event_id = event_id_for("webhook", accepted.dedupe_key)
    assert (kind, name) == (DELIVER_TASK, f"deliver-{event_id}")
    assert delivery == {
        "event": {
            "id": event_id,
            "type": "order.created",
            "provider": "webhook",
            "connection_id": connection.id,
            "tenant_id": TENANT,
            "occurred_at": "2026-05-01T12:00:00Z",
            # the sender's own id of the event (its webhook-id header), for correlation
            "source_event_id": "msg_1",
            "data": {"type": "order.created", "data": {"id": 7}},
        },
        "notify_url": None,
    }
    stored = stack.store.get_webhook_event("webhook", accepted.dedupe_key)
    assert stored is not None and stored.status == "processed"
    assert stored.detail["event_id"] == event_id
    assert len(stack.queue.calls) == 2  # one process task, one deliver: no retries hidden


def test_processing_is_idempotent_even_when_the_status_was_lost(stack: Stack, secret: str) -> None:
    _, token = generic_connection(stack, secret)
    accepted = stack.intake.receive_for_token(token, standard_request(secret, {"type": "a"}))
    assert accepted.dedupe_key is not None
    payload = {"provider": "webhook", "dedupe_key": accepted.dedupe_key}
    stack.processing.process_webhook(payload)
    event = stack.store.get_webhook_event("webhook", accepted.dedupe_key)
    assert event is not None
    stack.store.update_webhook_event(event.model_copy(update={"status": "enqueued"}))
    stack.processing.process_webhook(payload)
    assert len(stack.queue.of(DELIVER_TASK)) == 1  # the deliver task's name deduplicates


def test_processing_drops_events_of_a_deleted_connection_and_skips_missing_ones(
    stack: Stack, secret: str
) -> None:
    connection, token = generic_connection(stack, secret)
    accepted = stack.intake.receive_for_token(token, standard_request(secret, {"type": "a"}))
    assert accepted.dedupe_key is not None
    stack.connections.delete(PRINCIPAL, connection.id)
    stack.processing.process_webhook({"provider": "webhook", "dedupe_key": accepted.dedupe_key})
    stored = stack.store.get_webhook_event("webhook", accepted.dedupe_key)
    assert stored is not None and stored.status == "dropped"
    stack.processing.process_webhook({"provider": "webhook", "dedupe_key": "gone/x"})
    assert stack.queue.of(DELIVER_TASK) == []


def test_processing_a_stripe_event_uses_its_normalizer_and_notify_url(stack: Stack) -> None:
    created = routed_stripe_connection(stack, "acct_9")
    created_at = int((T0 - timedelta(minutes=5)).timestamp())
    event = {
        "id": "evt_9",
        "type": "invoice.paid",
        "account": "acct_9",
        "created": created_at,
        "data": {"object": {"id": "in_1", "amount_paid": 500}},
    }
    accepted = stack.intake.receive_for_provider("stripe", stripe_request(STRIPE_SECRET, event))
    [(_, payload, _, _)] = stack.queue.of(PROCESS_WEBHOOK_TASK)
    stack.processing.process_webhook(payload)
    [(_, delivery, _, _)] = stack.queue.of(DELIVER_TASK)
    assert delivery["event"]["type"] == "invoice.paid"
    assert delivery["event"]["data"] == {"id": "in_1", "amount_paid": 500}
    assert delivery["event"]["occurred_at"] == "2026-05-01T11:55:00Z"
    assert accepted.dedupe_key == f"{created.id}/evt_9"


# -- listing -----------------------------------------------------------------------------------
def test_list_events_shows_recent_events_without_payloads(stack: Stack, secret: str) -> None:
    connection, token = generic_connection(stack, secret)
    for n in range(3):
        stack.clock.advance(1)
        stack.intake.receive_for_token(
            token,
            standard_request(secret, {"type": f"t{n}"}, msg_id=f"m{n}", at=stack.clock.now()),
        )
    listed = stack.intake.list_events(PRINCIPAL, connection.id, limit=2)
    assert [e.type for e in listed] == ["t2", "t1"]
    view = listed[0].as_dict()
    assert set(view) == {"id", "provider", "status", "type", "received_at", "dedupe_key"}
    assert view["status"] == "enqueued" and view["received_at"].endswith("Z")
    with pytest.raises(NotFound):
        stack.intake.list_events(Principal(tenant_id="t2", user_id="u"), connection.id)


# -- HTTP --------------------------------------------------------------------------------------
@pytest.fixture
def http_stack(container: Container, stack: Stack) -> tuple[Container, Stack]:
    """The container of ``serve`` with this stack's service as its ``webhook_intake``."""
    stack.app_secrets["xero"] = [XERO_WEBHOOK_KEY]
    container.webhook_intake = stack.intake  # type: ignore[attr-defined]
    reset_container(container)  # the container fixture resets it again afterwards
    return container, stack


def _post(path: str, delivery: InboundRequest) -> Any:
    app = Flask("webhooks-test")
    with app.test_request_context(
        path,
        base_url="http://localhost/webhooks",
        method="POST",
        data=delivery.body,
        headers=dict(delivery.headers),
    ):
        return handle(request, _public_wiring)


def _public_wiring() -> Wired[Services]:
    """The deployed wiring of the function, with Tether's public URL set to ``PUBLIC``."""
    wired = wiring.webhooks()
    return replace(wired, services=replace(wired.services, public_url=PUBLIC))


def test_http_answers_and_never_logs_the_token(
    http_stack: tuple[Container, Stack], secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    _, stack = http_stack
    connection, token = generic_connection(stack, secret)
    delivery = standard_request(secret, {"type": "a"}, url=f"{PUBLIC}/webhooks/{token}")
    caplog.set_level(logging.DEBUG)
    first = _post(f"/{token}", delivery)
    assert (first.status_code, first.get_json()) == (200, {"ok": True, "duplicate": False})
    again = _post(f"/{token}", delivery)
    assert again.get_json() == {"ok": True, "duplicate": True}
    forged = standard_request(new_signing_secret(), {"type": "b"}, msg_id="m2")
    assert _post(f"/{token}", forged).status_code == 401
    assert _post("/unknown-token-0123456789abcdef", delivery).status_code == 404
    assert _post("/providers/no_such_provider", delivery).status_code == 404
    stack.queue.fail = 1
    retry = standard_request(secret, {"type": "c"}, msg_id="m3")
    assert _post(f"/{token}", retry).status_code == 503
    assert _post(f"/{token}", retry).status_code == 200
    access = [r for r in caplog.records if hasattr(r, "http_request")]
    assert access, "the access log line is written"
    urls = {r.http_request["requestUrl"] for r in access}  # type: ignore[attr-defined]
    assert f"/webhooks/…{token[-4:]}" in urls
    formatter = JsonFormatter()
    for record in caplog.records:
        assert token not in str(record.__dict__)
        assert token not in formatter.format(record)
    assert len(stack.stored(connection.id)) == 2


def test_http_refuses_an_oversized_body(http_stack: tuple[Container, Stack], secret: str) -> None:
    container, stack = http_stack
    container.webhook_intake = stack.build(max_body_bytes=32)  # type: ignore[attr-defined]
    _, token = generic_connection(stack, secret)
    response = _post(f"/{token}", standard_request(secret, {"type": "a", "pad": "x" * 64}))
    assert response.status_code == 413
    assert stack.queue.calls == []


def test_http_xero_answers_without_a_body(http_stack: tuple[Container, Stack]) -> None:
    check = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "abc"}
    good = _post("/providers/xero", body_hmac_request("x-xero-signature", XERO_WEBHOOK_KEY, check))
    assert (good.status_code, good.get_data()) == (200, b"")
    bad = _post("/providers/xero", body_hmac_request("x-xero-signature", "nope-0123456", check))
    assert (bad.status_code, bad.get_data()) == (401, b"")
    assert "set-cookie" not in {h.lower() for h, _ in good.headers.items()}


def test_http_passes_the_public_url_to_schemes_that_sign_it(
    http_stack: tuple[Container, Stack],
) -> None:
    _, stack = http_stack
    _, url, _ = create(
        stack,
        CreateConnection(
            provider="twilio",
            credentials={"account_sid": "AC" + "1" * 32, "auth_token": TWILIO_TOKEN},
        ),
    )
    assert url is not None
    params = {"AccountSid": "AC" + "1" * 32, "CallStatus": "completed"}
    signed_url = url + "?source=test"
    delivery = InboundRequest(
        method="POST",
        url=signed_url,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": RequestValidator(TWILIO_TOKEN).compute_signature(
                signed_url, params
            ),
        },
        body="&".join(f"{k}={v}" for k, v in params.items()).encode(),
        received_at=T0,
    )
    response = _post(f"/{url.rsplit('/', 1)[1]}?source=test", delivery)
    assert response.status_code == 200, response.get_data()


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/abcdefghijklmnopqrstuvwxyz0123456789", "/…6789"),
        ("/abcdefghijklmnop/extra", "/…mnop/…"),
        ("/providers/xero", "/providers/xero"),
        ("/", "/"),
    ],
)
def test_masked_path(path: str, shown: str) -> None:
    assert masked_path(path) == shown


# -- the store query behind list_events --------------------------------------------------------
def test_listing_is_served_by_the_connection_index(tmp_path: Path) -> None:
    path = tmp_path / "plan.sqlite3"
    SqliteConnectionStore(path).close()
    with sqlite3.connect(path) as db:
        plan = db.execute("EXPLAIN QUERY PLAN " + _WEBHOOK_EVENTS_SQL, ["t1", "conn_1", 50])
        details = [row[3] for row in plan.fetchall()]
    db.close()
    assert len(details) == 1, details
    assert details[0].startswith("SEARCH webhook_events USING INDEX webhook_events_by_connection")
    assert "TEMP B-TREE" not in details[0]


def test_events_stored_before_the_migration_are_listed_after_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    step = next(i for i, s in enumerate(MIGRATIONS) if "webhook_events_by_connection" in s)
    old = WebhookEvent(
        id="whe_old",
        provider="webhook",
        dedupe_key="conn_1/m1",
        tenant_id="t1",
        connection_id="conn_1",
        received_at=T0,
        expires_at=T0 + timedelta(days=7),
        body="{}",
    )
    db = sqlite3.connect(path)
    db.create_function("tether_utc_text", 1, _utc_text, deterministic=True)
    for script in MIGRATIONS[:step]:
        db.executescript(script)
    db.execute(
        "INSERT INTO webhook_events (provider, dedupe_key, expires_at, doc) VALUES (?,?,?,?)",
        (old.provider, old.dedupe_key, format_time(old.expires_at), old.model_dump_json()),
    )
    db.execute(f"PRAGMA user_version = {step:d}")
    db.commit()
    db.close()
    store = SqliteConnectionStore(path)
    try:
        assert [e.id for e in store.list_webhook_events("t1", "conn_1")] == ["whe_old"]
    finally:
        store.close()


def test_the_firestore_indexes_cover_the_listing() -> None:
    indexes_file = Path(__file__).resolve().parents[2] / "infra" / "firestore.indexes.json"
    spec = json.loads(indexes_file.read_text())
    wanted = [
        ("tenant_id", "ASCENDING"),
        ("connection_id", "ASCENDING"),
        ("received_at", "DESCENDING"),
    ]
    assert any(
        i["collectionGroup"] == "webhook_events"
        and i["queryScope"] == "COLLECTION"
        and [(f["fieldPath"], f["order"]) for f in i["fields"]] == wanted
        for i in spec["indexes"]
    )
    exempt = {
        o["fieldPath"]
        for o in spec["fieldOverrides"]
        if o["collectionGroup"] == "webhook_events" and o["indexes"] == []
    }
    assert {"record", "summary", "received_at"} <= exempt
