"""Where a connection's events go: to its own ``notify_url`` as it is at each attempt (a
retry after a change goes to the new URL), and a replay there too, not to the tenant's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.notify_receiver import Receiver, receiver
from tether.bootstrap import Container, reset_container
from tether.config import Settings

__all__ = ["receiver"]  # fixture

ACME = bearer("acme")
WHSEC = "whsec_stripe0replay0secret0123456789"


@pytest.fixture
def max_attempts() -> int:
    return 1


@pytest.fixture
def stack(settings: Settings, receiver: Receiver, max_attempts: int) -> Iterator[dict[str, Any]]:
    configured = settings.model_copy(
        update={
            "public_url": "http://127.0.0.1:8080",
            "egress_allowlist": f"127.0.0.1:{urlsplit(receiver.url).port}",
            "task_max_attempts": max_attempts,
        }
    )
    container = Container(configured)
    reset_container(container)
    try:
        yield {
            "container": container,
            "connections": create_app("connections", SOURCE).test_client(),
            "webhooks": create_app("webhooks", SOURCE).test_client(),
            "settings": create_app("settings", SOURCE).test_client(),
            "tasks": create_app("tasks", SOURCE).test_client(),
        }
    finally:
        reset_container(None)


def _run(container: Container) -> None:
    for _ in range(100):
        if not container.tasks.run_due():
            return


def test_a_connections_dead_delivery_is_replayed_to_the_connections_url(
    stack: dict[str, Any], receiver: Receiver
) -> None:
    tenant_url = receiver.url
    connection_url = receiver.url.replace("/hooks/tether", "/hooks/connection")
    assert (
        stack["settings"].put("/", json={"notify_url": tenant_url}, headers=ACME).status_code == 200
    )
    created = stack["connections"].post(
        "/",
        json={
            "provider": "stripe",
            "credentials": {"api_key": "sk_test_replay0000", "webhook_secret": WHSEC},
            "notify_url": connection_url,
        },
        headers=ACME,
    )
    assert created.status_code == 201, created.get_json()
    path = created.get_json()["webhook"]["url"].removeprefix("http://127.0.0.1:8080/webhooks")
    _run(stack["container"])
    receiver.received.clear()

    body = json.dumps({"id": "evt_replay", "type": "payout.paid", "data": {"object": {}}})
    header = stripe.WebhookSignature.generate_signature_header(
        body, WHSEC, timestamp=int(time.time())
    )
    receiver.fail_next = [500]
    answer = stack["webhooks"].post(
        path, data=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    )
    assert answer.status_code == 200
    _run(stack["container"])
    [failed] = receiver.received
    assert failed.path == "/hooks/connection"
    [dead] = [
        d for d in stack["container"].store.list_deliveries("acme") if d.event_type == "payout.paid"
    ]
    assert dead.status.value == "dead"

    replay = stack["tasks"].post(
        "/deliver/replay",
        json={"tenant_id": "acme", "delivery_id": dead.id},
        headers={"Authorization": f"Bearer {stack['container'].task_token}"},
    )
    assert replay.get_json() == {"ok": True}
    assert [r.path for r in receiver.received] == ["/hooks/connection", "/hooks/connection"]


@pytest.mark.parametrize("max_attempts", [3])
def test_a_retry_follows_a_change_of_the_connections_notify_url(
    stack: dict[str, Any], receiver: Receiver
) -> None:
    """The URL a connection's events go to is read at each attempt, as the tenant's is: a
    retry after the connection's notify_url changed goes to the new one, never the old."""
    old_url = receiver.url.replace("/hooks/tether", "/hooks/old")
    new_url = receiver.url.replace("/hooks/tether", "/hooks/new")
    created = stack["connections"].post(
        "/",
        json={
            "provider": "stripe",
            "credentials": {"api_key": "sk_test_replay0000", "webhook_secret": WHSEC},
            "notify_url": old_url,
        },
        headers=ACME,
    )
    assert created.status_code == 201, created.get_json()
    connection_id = created.get_json()["id"]
    receiver.fail_next = [500]
    _run(stack["container"])  # connection.created: the first attempt fails
    assert [r.path for r in receiver.received] == ["/hooks/old"]

    changed = stack["connections"].patch(
        f"/{connection_id}", json={"notify_url": new_url}, headers=ACME
    )
    assert changed.status_code == 200, changed.get_json()
    deadline = time.monotonic() + 30
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        stack["container"].tasks.run_due()
        time.sleep(0.05)
    _run(stack["container"])
    assert [r.path for r in receiver.received] == ["/hooks/old", "/hooks/new"]
