"""Webhooks end to end through the deployed functions: a Stripe delivery signed by Stripe's SDK
arrives at the connection's URL, is verified, stored once (50 concurrent copies), processed,
and delivered to the tenant's endpoint signed per Standard Webhooks (verified there with the
standardwebhooks library); a failing endpoint ends dead-lettered and a replay delivers it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe
from functions_framework import create_app
from standardwebhooks import Webhook

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.concurrency import together
from tether.bootstrap import Container, reset_container
from tether.config import Settings

ACME = bearer("acme")
WHSEC = "whsec_stripe0test0secret0123456789"


class Receiver:
    """The tenant's endpoint: records deliveries, fails the first ``fail`` of them."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(500)
                else:
                    outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def app(settings: Settings, receiver: Receiver) -> Iterator[dict[str, Any]]:
    configured = settings.model_copy(
        update={
            "public_url": "http://127.0.0.1:8080",
            "egress_allowlist": f"127.0.0.1:{receiver.port}",
            "task_max_attempts": 3,
        }
    )
    container = Container(configured)
    reset_container(container)
    yield {
        "container": container,
        "connections": create_app("connections", SOURCE).test_client(),
        "webhooks": create_app("webhooks", SOURCE),
        "settings": create_app("settings", SOURCE).test_client(),
    }
    reset_container(None)


def _stripe_connection(app: dict[str, Any]) -> tuple[str, str]:
    created = app["connections"].post(
        "/",
        json={
            "provider": "stripe",
            "credentials": {"api_key": "sk_test_webhookflow0000", "webhook_secret": WHSEC},
        },
        headers=ACME,
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    path = body["webhook"]["url"].removeprefix("http://127.0.0.1:8080/webhooks")
    assert "secret" not in body["webhook"]
    return body["id"], path


def _signed(payload: dict[str, Any], secret: str = WHSEC) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=int(time.time())
    )
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


def _run_tasks(container: Container) -> None:
    while container.tasks.run_due():
        pass


def test_a_genuine_delivery_is_accepted_and_forgeries_are_refused(app):
    _, path = _stripe_connection(app)
    client = app["webhooks"].test_client()
    body, headers = _signed({"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}})
    assert client.post(path, data=body, headers=headers).status_code == 200

    tampered = body.replace(b"invoice", b"invoicE")
    assert client.post(path, data=tampered, headers=headers).status_code == 401
    _, wrong = _signed({"id": "evt_2"}, secret="whsec_another0secret0123456789")
    assert client.post(path, data=body, headers=wrong).status_code == 401
    assert (
        client.post(path, data=body, headers={"Content-Type": "application/json"}).status_code
        == 401
    )
    stale = stripe.WebhookSignature.generate_signature_header(
        body.decode(), WHSEC, timestamp=int(time.time()) - 3600
    )
    assert client.post(path, data=body, headers={"Stripe-Signature": stale}).status_code == 401
    assert client.post("/" + "x" * 40, data=body, headers=headers).status_code == 404


def test_fifty_concurrent_copies_make_one_event_and_one_delivery(app, receiver):
    container = app["container"]
    settings_client = app["settings"]
    assert (
        settings_client.put("/", json={"notify_url": receiver.url}, headers=ACME).status_code == 200
    )
    rotated = settings_client.post("/notify-secret/rotate", headers=ACME)
    secret = rotated.get_json()["secret"]
    connection_id, path = _stripe_connection(app)
    _run_tasks(container)  # the connection.created event goes out first
    receiver.received.clear()

    body, headers = _signed(
        {"id": "evt_same", "type": "charge.succeeded", "data": {"object": {"amount": 5}}}
    )

    def send() -> int:
        return app["webhooks"].test_client().post(path, data=body, headers=headers).status_code

    statuses = [f.result() for f in together([send] * 50)]
    assert statuses == [200] * 50
    _run_tasks(container)

    assert len(receiver.received) == 1
    delivered_headers, delivered = receiver.received[0]
    event = Webhook(secret).verify(delivered, delivered_headers)
    assert event["type"] == "charge.succeeded" and event["connection_id"] == connection_id
    assert event["tenant_id"] == "acme" and event["provider"] == "stripe"
    listed = app["connections"].get(f"/{connection_id}/events", headers=ACME).get_json()
    assert len(listed["events"]) == 1
    assert [d["status"] for d in listed["deliveries"] if d["type"] == "charge.succeeded"] == [
        "delivered"
    ]


def test_a_failing_endpoint_ends_dead_lettered_and_replays(app, receiver):
    container = app["container"]
    app["settings"].put("/", json={"notify_url": receiver.url}, headers=ACME)
    secret = app["settings"].post("/notify-secret/rotate", headers=ACME).get_json()["secret"]
    connection_id, path = _stripe_connection(app)
    _run_tasks(container)
    receiver.received.clear()
    receiver.fail = 100
    body, headers = _signed({"id": "evt_dead", "type": "payout.paid", "data": {"object": {}}})
    assert app["webhooks"].test_client().post(path, data=body, headers=headers).status_code == 200

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        container.tasks.run_due()
        deliveries = container.store.list_deliveries("acme", connection_id=connection_id)
        if any(d.event_type == "payout.paid" and d.status.value == "dead" for d in deliveries):
            break
        time.sleep(0.05)
    (dead,) = [d for d in deliveries if d.event_type == "payout.paid"]
    assert dead.status.value == "dead" and dead.attempts == 3

    receiver.fail = 0
    tasks = create_app("tasks", SOURCE).test_client()
    replay = tasks.post(
        "/deliver/replay",
        json={"tenant_id": "acme", "delivery_id": dead.id},
        headers={"Authorization": f"Bearer {container.task_token}"},
    )
    assert replay.get_json() == {"ok": True}
    ((headers_in, delivered),) = receiver.received
    assert Webhook(secret).verify(delivered, headers_in)["type"] == "payout.paid"


def test_a_delivery_holding_lone_surrogates_is_stored_as_sent_and_forwarded(app, receiver):
    """Half a UTF-16 pair (``"\\ud800"``) in the fields intake reads (event id, type) can be no
    key nor stored text: such a field counts as absent (the body's hash dedupes). The body is
    stored as sent; the event forwarded carries U+FFFD where the JSON held a lone half."""
    container = app["container"]
    settings_client = app["settings"]
    assert (
        settings_client.put("/", json={"notify_url": receiver.url}, headers=ACME).status_code == 200
    )
    secret = settings_client.post("/notify-secret/rotate", headers=ACME).get_json()["secret"]
    connection_id, path = _stripe_connection(app)
    _run_tasks(container)
    receiver.received.clear()
    body = b'{"id":"\\ud800","type":"\\udc00","data":{"object":{"name":"\\ud800"}}}'
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), WHSEC, timestamp=int(time.time())
    )
    headers = {"Stripe-Signature": header, "Content-Type": "application/json"}
    client = app["webhooks"].test_client()
    first = client.post(path, data=body, headers=headers)
    again = client.post(path, data=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200), first.get_data()
    assert again.get_json()["duplicate"] is True
    _run_tasks(container)
    [(delivered_headers, delivered)] = receiver.received
    event = Webhook(secret).verify(delivered, delivered_headers)
    assert event["connection_id"] == connection_id and event["source_event_id"] is None
    assert (event["type"], event["data"]) == ("\ufffd", {"name": "\ufffd"})
