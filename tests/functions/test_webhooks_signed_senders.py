"""The catalog's senders of the newer signature schemes, end to end through the deployed
``connections`` and ``webhooks`` functions on the embedded stack: each connection made with its
signing secret (or verification key) gets its own URL; a delivery signed as the sender signs
it is accepted and becomes the events the tenant is sent, with the sender's event ids; a
one-byte change, a stale one and a retry are refused or recognised.

* SendGrid (``sendgrid``): a batch of events signed with ECDSA P-256 by a key made here, its
  public half the connection's verification key, as SendGrid shows it.
* Resend and Clerk (``svix``): signed by the svix package's ``Webhook.sign``.
* PagerDuty (``hmac`` with a separator): two signatures during a secret rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import svix.webhooks
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tether.bootstrap import Container, reset_container
from tether.config import Settings

ACME = bearer("acme")
PAGERDUTY_US = {"api_host": "api.pagerduty.com"}
WHSEC = "whsec_" + base64.b64encode(b"svix-sender-secret-0123456789abc").decode()


class Stack:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.connections: FlaskClient = create_app("connections", SOURCE).test_client()
        self.webhooks: FlaskClient = create_app("webhooks", SOURCE).test_client()

    def create(
        self, provider: str, credentials: dict[str, str], config: dict[str, str] | None = None
    ) -> tuple[str, str]:
        """A connection of ``provider``; its id and its webhook URL's path."""
        body = {"provider": provider, "credentials": credentials, "config": config or {}}
        created = self.connections.post("/", json=body, headers=ACME)
        assert created.status_code == 201, created.get_json()
        hook = created.get_json()["webhook"]
        assert hook["routing"] == "connection_url" and "secret" not in hook
        return created.get_json()["id"], hook["url"].removeprefix("http://127.0.0.1:8080/webhooks")

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        answer = self.webhooks.post(path, data=body, headers=headers)
        return answer.status_code, answer.get_json()

    def events(self, connection_id: str) -> list[dict[str, Any]]:
        """The provider events queued for the tenant (after processing), oldest first."""
        queue: Any = self.container.tasks
        while queue.run_due():
            pass
        found = [t.payload["event"] for t in reversed(queue.list_tasks(kind="deliver", limit=100))]
        return [
            e
            for e in found
            if e["connection_id"] == connection_id and not e["type"].startswith("connection.")
        ]


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    container = Container(settings.model_copy(update={"public_url": "http://127.0.0.1:8080"}))
    reset_container(container)
    try:
        yield Stack(container)
    finally:
        reset_container(None)
        container.close()


def _changed(body: bytes) -> bytes:
    flipped = bytearray(body)
    flipped[len(body) // 2] ^= 0x01
    return bytes(flipped)


# -- SendGrid ------------------------------------------------------------------------------------


def _sendgrid_signed(key: ec.EllipticCurvePrivateKey, body: bytes, at: datetime) -> dict[str, str]:
    stamp = str(int(at.timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def test_a_sendgrid_batch_signed_with_its_key_becomes_one_event_each(stack: Stack) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    connection_id, path = stack.create(
        "sendgrid",
        {
            "api_key": "SG.abcdefghijklmnop.qrstuvwxyz0123456789",
            "webhook_verification_key": base64.b64encode(public).decode(),
        },
    )
    batch = [
        {"email": "a@example.com", "event": "delivered", "sg_event_id": "ev-1", "timestamp": 1},
        {"email": "b@example.com", "event": "open", "sg_event_id": "ev-2", "timestamp": 2},
    ]
    body = json.dumps(batch).encode() + b"\r\n"
    now = datetime.now(UTC)
    headers = _sendgrid_signed(key, body, now)
    assert stack.post(path, _changed(body), headers)[0] == 401
    stale = _sendgrid_signed(key, body, now - timedelta(minutes=10))
    assert stack.post(path, body, stale)[0] == 401
    other = ec.generate_private_key(ec.SECP256R1())
    assert stack.post(path, body, _sendgrid_signed(other, body, now))[0] == 401
    status, answer = stack.post(path, body, headers)
    assert status == 200, answer
    events = stack.events(connection_id)
    assert [(e["type"], e["source_event_id"]) for e in events] == [
        ("delivered", "ev-1"),
        ("open", "ev-2"),
    ]


# -- Svix senders ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "credentials", "payload"),
    [
        (
            "resend",
            {"api_key": "re_123456789abcdef"},
            {
                "type": "email.delivered",
                "created_at": "2026-12-04T03:00:00.000Z",
                "data": {"email_id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"},
            },
        ),
        (
            "clerk",
            {"secret_key": "sk_test_0123456789abcdef"},
            {
                "object": "event",
                "type": "user.created",
                "data": {"id": "user_29w83sxmDNGwOuEthce5gg56FcC"},
            },
        ),
    ],
)
def test_a_delivery_signed_through_svix_is_taken_once(
    stack: Stack, provider: str, credentials: dict[str, str], payload: dict[str, Any]
) -> None:
    connection_id, path = stack.create(provider, {**credentials, "webhook_secret": WHSEC})
    body = json.dumps(payload).encode()
    now = datetime.now(UTC)

    def signed(msg_id: str, at: datetime, data: bytes = body) -> dict[str, str]:
        signature = svix.webhooks.Webhook(WHSEC).sign(msg_id, at, data.decode())
        return {
            "svix-id": msg_id,
            "svix-timestamp": str(int(at.timestamp())),
            "svix-signature": signature,
            "Content-Type": "application/json",
        }

    headers = signed("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now)
    assert stack.post(path, _changed(body), headers)[0] == 401
    stale = signed("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now - timedelta(minutes=10))
    assert stack.post(path, body, stale)[0] == 401
    assert stack.post(path, body, headers) == (200, {"ok": True, "duplicate": False})
    # Svix retries with the same svix-id (and a new signature): the same event.
    retry = signed("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now + timedelta(seconds=5))
    assert stack.post(path, body, retry) == (200, {"ok": True, "duplicate": True})
    (event,) = stack.events(connection_id)
    assert (event["type"], event["source_event_id"]) == (
        payload["type"],
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    )


# -- PagerDuty -------------------------------------------------------------------------------------


def test_a_pagerduty_delivery_signed_under_two_secrets_verifies_with_either(stack: Stack) -> None:
    secrets = {"old": "pagerduty-old-secret-0123", "new": "pagerduty-new-secret-4567"}
    body = json.dumps(
        {"event": {"id": "01DEN4YKAAAAAAAAAAAAAAAAAA", "event_type": "incident.triggered"}}
    ).encode()
    header = ",".join(
        "v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets.values()
    )
    headers = {"X-PagerDuty-Signature": header, "Content-Type": "application/json"}
    for name, secret in secrets.items():
        connection_id, path = stack.create(
            "pagerduty", {"api_key": f"u+{name}-key", "webhook_secret": secret}, PAGERDUTY_US
        )
        assert stack.post(path, _changed(body), headers)[0] == 401
        assert stack.post(path, body, headers)[0] == 200
        (event,) = stack.events(connection_id)
        assert event["type"] == "incident.triggered"
    _, path = stack.create(
        "pagerduty", {"api_key": "u+third-key", "webhook_secret": "neither"}, PAGERDUTY_US
    )
    assert stack.post(path, body, headers)[0] == 401
