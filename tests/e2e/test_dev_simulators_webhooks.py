"""HubSpot's app-level webhooks through `tether dev --simulators` (a real process): a
connection made through the OAuth flow against the simulated authorization server learns its
portal from the simulated token-metadata endpoint (``GET /oauth/v1/access-tokens/{token}``,
checked against HubSpot's published description), and a signed v3 batch naming two portals
reaches that connection's tenant for its own portal's items only. The token is in that
endpoint's path: no log line of the dev server shows it."""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.test_dev_server import DevServer
from tests.support.notify_receiver import Receiver, serve_receiver

pytestmark = pytest.mark.e2e

# HubSpot signs with the app's client secret; the dev server is told the one it verifies with.
APP_SECRET = "hubspot-dev-app-secret-0123456789"
SIMULATED_PORTAL = 62515  # the simulator's one portal (ProviderState.hubspot_portal)
OTHER_PORTAL = 99887


@pytest.fixture
def notify() -> Iterator[Receiver]:
    yield from serve_receiver()


@pytest.fixture
def dev(tmp_path: Path, notify: Receiver) -> Iterator[DevServer]:
    server = DevServer(
        tmp_path / "data",
        extra_args=("--demo-provider-port", "0", "--simulators"),
        extra_env={
            "TETHER_WEBHOOK_SECRET_HUBSPOT": APP_SECRET,
            "TETHER_EGRESS_ALLOWLIST": urlsplit(notify.url).netloc,
            "TETHER_LOG_LEVEL": "DEBUG",
        },
    )
    server.start()
    yield server
    server.stop()


def _signed(url: str, events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """A HubSpot v3 delivery: base64 HMAC-SHA256 of method + URL + body + timestamp."""
    raw = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))
    digest = hmac.new(APP_SECRET.encode(), b"POST" + url.encode() + raw + stamp.encode(), "sha256")
    return raw, {
        "X-HubSpot-Signature-v3": base64.b64encode(digest.digest()).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def _wait(found: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_hubspot_connection_learns_its_portal_and_receives_its_webhooks(
    dev: DevServer, notify: Receiver
) -> None:
    tenant = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'acme')}"}
    with httpx.Client(base_url=dev.url, headers=tenant, timeout=30) as client:
        assert client.put("/settings/", json={"notify_url": notify.url}).status_code == 200
        rotated = client.post("/settings/notify-secret/rotate")
        assert rotated.status_code == 201, rotated.text
        notify.keys = {"acme": rotated.json()["secret"]}
        started = client.post(
            "/oauth_start/", json={"provider": "hubspot", "return_to": f"{dev.url}/"}
        )
        assert started.status_code == 201, started.text
    with httpx.Client(timeout=30) as browser:  # the simulated consent redirects at once
        landed = browser.get(started.json()["authorization_url"], follow_redirects=True)
    outcome = {k: v[0] for k, v in parse_qs(urlsplit(str(landed.url)).query).items()}
    assert outcome.get("status") == "active", outcome
    connection = outcome["connection_id"]

    events = [
        {
            "eventId": 500 + n,
            "subscriptionId": 234567,
            "portalId": portal,
            "appId": 1,
            "occurredAt": 1_767_225_600_000,
            "subscriptionType": "contact.creation",
            "attemptNumber": 0,
            "objectId": 1000 + n,
        }
        for n, portal in enumerate([SIMULATED_PORTAL, OTHER_PORTAL, SIMULATED_PORTAL])
    ]
    url = f"{dev.url}/webhooks/providers/hubspot"
    raw, headers = _signed(url, events)
    answer = httpx.post(url, content=raw, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    tampered = httpx.post(url, content=raw + b" ", headers=headers, timeout=30)
    assert tampered.status_code == 401, tampered.text

    def routed() -> list[dict[str, Any]]:
        found = [
            json.loads(r.body)
            for r in notify.received
            if r.verified_by == ["acme"]
            and not json.loads(r.body)["type"].startswith("connection.")
        ]
        return found if len(found) >= 2 else []

    delivered = _wait(routed)
    assert sorted(e["source_event_id"] for e in delivered) == ["500", "502"]
    assert {e["connection_id"] for e in delivered} == {connection}
    assert {e["provider"] for e in delivered} == {"hubspot"}

    dev.stop()
    assert "access-tokens/" in dev.output  # the simulator's request line, at DEBUG
    assert re.findall(r"access-tokens/([^\s\"/]+)", dev.output) == (
        ["[REDACTED]"] * dev.output.count("access-tokens/")
    )
