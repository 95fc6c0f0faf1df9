"""Which connections get a webhook URL of their own when they are created, and what the answer
that shows it says about how deliveries to it are verified and routed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.recording_queue import RecordingQueue
from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.sqlite import SqliteConnectionStore
from tether.catalog import Catalog, load_catalog
from tether.connections.commands import CreateConnection
from tether.connections.service import ConnectionService
from tether.crypto import Keyring, Sealer
from tether.domain.clock import FixedClock
from tether.domain.ids import RandomIds
from tether.domain.models import Principal
from tether.webhooks.intake import WebhookIntake
from tether.webhooks.model import InboundRequest
from tether.webhooks.provisioning import WebhookProvisioning, WebhookRouting

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PUBLIC = "https://tether.example.com"
ACME = Principal(tenant_id="acme", user_id="u1")
APP_SECRET = "app-level-secret-0123456789"


def _catalog() -> Catalog:
    """The catalog with ``accountless``: Shopify's scheme and app-level secret, but a payload
    that names no account (no route_field)."""
    shopify = load_catalog().get("shopify")
    entry = shopify.model_dump()
    entry["key"] = "accountless"
    entry["webhook"] = {"scheme": "shopify", "event_id_path": "header:X-Shopify-Event-Id"}
    entry["auth"]["webhook_route_from"] = None
    return Catalog([*load_catalog(), type(shopify).model_validate(entry)])


Parts = tuple[WebhookProvisioning, WebhookIntake, SqliteConnectionStore]


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    catalog = _catalog()
    clock = FixedClock(T0)
    connections = ConnectionService(
        store=store,
        secrets=DbSecretStore(Sealer(Keyring.generate("ktest")), retired=MemoryRetiredVersions()),
        catalog=lambda: catalog,
        clock=clock,
        ids=RandomIds(),
    )
    provisioning = WebhookProvisioning(
        store=store,
        connections=connections,
        catalog=lambda: catalog,
        clock=clock,
        ids=RandomIds(),
        public_url=PUBLIC,
    )
    queue = RecordingQueue()
    intake = WebhookIntake(
        store=store,
        connections=connections,
        catalog=lambda: catalog,
        tasks=lambda: queue,
        clock=clock,
        ids=RandomIds(),
        app_secrets=lambda key: [APP_SECRET] if key == "accountless" else [],
    )
    yield provisioning, intake, store
    store.close()


def test_a_provider_whose_payload_names_no_account_gets_a_url_per_connection(parts) -> None:
    provisioning, intake, store = parts
    created, issued = provisioning.create_connection(
        ACME, CreateConnection(provider="accountless", config={"shop": "acme"})
    )
    assert issued is not None and issued.url.startswith(f"{PUBLIC}/webhooks/")
    assert issued.routing == WebhookRouting(signed_with="app")
    body = json.dumps({"id": 1}).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).digest()
    delivery = InboundRequest(
        method="POST",
        url=issued.url,
        headers={
            "content-type": "application/json",
            "x-shopify-hmac-sha256": base64.b64encode(digest).decode(),
            "x-shopify-event-id": "ev-1",
        },
        body=body,
        received_at=T0,
    )
    accepted = intake.receive_for_token(issued.url.rsplit("/", 1)[1], delivery)
    assert (accepted.status, accepted.connection_id) == ("enqueued", created.id)
    (event,) = store.list_webhook_events("acme", created.id)
    assert event.detail["source_event_id"] == "ev-1"


def test_the_answer_names_the_secret_and_the_providers_own_route(parts) -> None:
    provisioning, _, _ = parts
    # a routed provider with an app-level secret gets no URL at creation...
    shop, issued = provisioning.create_connection(
        ACME, CreateConnection(provider="shopify", config={"shop": "acme"})
    )
    assert issued is None
    # ...but may ask for one, and is told where the provider's own route is
    rotated = provisioning.rotate(ACME, shop.id)
    assert rotated.routing == WebhookRouting(
        signed_with="app",
        provider_url=f"{PUBLIC}/webhooks/providers/shopify",
        route_field="header:X-Shopify-Shop-Domain",
    )
    _, stripe = provisioning.create_connection(
        ACME,
        CreateConnection(
            provider="stripe",
            credentials={"api_key": "sk_test_abcdefghijklmnop", "webhook_secret": "whsec_x1"},
        ),
    )
    assert stripe is not None and stripe.routing is not None
    assert stripe.routing.signed_with == "credentials.webhook_secret"
    assert stripe.routing.route_field == "account"
