"""Provider bodies that JSON parses but no event could carry on: ``NaN``/``Infinity`` (no JSON
encoder may write them again) and nesting deeper than a stored delivery can hold. Such a body
is refused at the door with a 400 once its signature checks out, so the sender sees the
failure, instead of being answered 200 and then never reaching the tenant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from functions_framework import create_app
from pydantic import SecretStr
from standardwebhooks import Webhook

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.notify_receiver import Receiver, receiver  # noqa: F401 - fixture
from tether.bootstrap import Container, reset_container
from tether.config import Settings

ACME = bearer("acme")
HUBSPOT_SECRET = "hubspot-app-client-secret-0123456789"
SENDER_SECRET = "whsec_" + base64.b64encode(b"generic-sender-secret-0123456789").decode()


@pytest.fixture
def stack(settings: Settings, receiver: Receiver) -> Iterator[dict[str, Any]]:  # noqa: F811
    port = urlsplit(receiver.url).port
    container = Container(
        settings.model_copy(
            update={
                "public_url": "http://127.0.0.1:8080",
                "egress_allowlist": f"127.0.0.1:{port}",
                "task_max_attempts": 2,
                "webhook_secrets": {"hubspot": [SecretStr(HUBSPOT_SECRET)]},
            }
        )
    )
    reset_container(container)
    try:
        yield {
            "container": container,
            "connections": create_app("connections", SOURCE).test_client(),
            "webhooks": create_app("webhooks", SOURCE).test_client(),
            "settings": create_app("settings", SOURCE).test_client(),
        }
    finally:
        reset_container(None)


def _connection(stack: dict[str, Any], receiver: Receiver) -> tuple[str, str]:  # noqa: F811
    assert (
        stack["settings"].put("/", json={"notify_url": receiver.url}, headers=ACME).status_code
        == 200
    )
    created = stack["connections"].post(
        "/",
        json={"provider": "webhook", "credentials": {"signing_secret": SENDER_SECRET}},
        headers=ACME,
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    return body["id"], body["webhook"]["url"].removeprefix("http://127.0.0.1:8080/webhooks")


def _signed(body: bytes, msg_id: str, secret: str = SENDER_SECRET) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
    }


def _run(container: Container) -> None:
    for _ in range(100):
        if not container.tasks.run_due():
            return


def _deep(depth: int) -> bytes:
    return b'{"type":"deep","data":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"type":"reading","value":NaN}', "INVALID_JSON"),
        (b'{"type":"reading","value":-Infinity}', "INVALID_JSON"),
        (b'{"type":"reading","value":1e400}', "INVALID_JSON"),
        (_deep(300), "JSON_TOO_DEEP"),
        (_deep(5000), "JSON_TOO_DEEP"),
    ],
    ids=["nan", "infinity", "out-of-range", "deep", "deeper-than-the-parser"],
)
def test_a_body_no_event_could_carry_is_refused_and_nothing_is_stored(
    stack: dict[str, Any],
    receiver: Receiver,  # noqa: F811
    body: bytes,
    code: str,
) -> None:
    connection_id, path = _connection(stack, receiver)
    _run(stack["container"])
    receiver.received.clear()

    unsigned = stack["webhooks"].post(path, data=body, headers={"content-type": "application/json"})
    assert unsigned.status_code == 401
    answer = stack["webhooks"].post(path, data=body, headers=_signed(body, "msg_odd"))
    assert answer.status_code == 400, answer.get_data()
    assert answer.get_json()["error"]["code"] == code
    events = stack["connections"].get(f"/{connection_id}/events", headers=ACME).get_json()
    assert events["events"] == []


def test_a_body_nested_within_the_limit_reaches_the_tenant(
    stack: dict[str, Any],
    receiver: Receiver,  # noqa: F811
) -> None:
    _, path = _connection(stack, receiver)
    _run(stack["container"])
    receiver.received.clear()
    body = _deep(60)
    answer = stack["webhooks"].post(path, data=body, headers=_signed(body, "msg_deep"))
    assert answer.status_code == 200, answer.get_data()
    _run(stack["container"])
    [received] = receiver.received
    assert received.body.count(b"[") == 60


def test_an_app_level_batch_holding_nan_is_refused_not_ignored(stack: dict[str, Any]) -> None:
    raw = b'[{"eventId":1,"portalId":62515,"subscriptionType":"deal.creation","amount":NaN}]'
    url = "http://127.0.0.1:8080/webhooks/providers/hubspot"
    stamp = str(int(time.time() * 1000))
    digest = hmac.new(
        HUBSPOT_SECRET.encode(), b"POST" + url.encode() + raw + stamp.encode(), hashlib.sha256
    ).digest()
    headers = {"X-HubSpot-Request-Timestamp": stamp, "Content-Type": "application/json"}
    unsigned = stack["webhooks"].post("/providers/hubspot", data=raw, headers=headers)
    assert unsigned.status_code == 401
    headers["X-HubSpot-Signature-v3"] = base64.b64encode(digest).decode()
    answer = stack["webhooks"].post("/providers/hubspot", data=raw, headers=headers)
    assert answer.status_code == 400, answer.get_data()
    assert answer.get_json()["error"]["code"] == "INVALID_JSON"
