"""Batches and handshakes on real parts (SQLite store, database secret store, the real
schemes): who may sign a batch, how large one may be, what the catalog accepts, and the
provider's event id kept for the tenant's envelope."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.recording_queue import RecordingQueue
from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.sqlite import SqliteConnectionStore
from tether.catalog import Catalog, WebhookSpec, load_catalog
from tether.connections.commands import CreateConnection
from tether.connections.service import ConnectionService
from tether.crypto import Keyring, Sealer
from tether.delivery.publisher import DELIVER_TASK
from tether.domain.clock import FixedClock
from tether.domain.errors import PayloadTooLarge
from tether.domain.ids import RandomIds
from tether.domain.models import Connection, Principal
from tether.webhooks.batches import MAX_BATCH_ITEMS, batch_items, handshake_answer, item_body
from tether.webhooks.intake import WebhookIntake
from tether.webhooks.model import InboundRequest, SignatureError
from tether.webhooks.processing import PROCESS_WEBHOOK_TASK, WebhookProcessing

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ACME = Principal(tenant_id="acme", user_id="u1")
GLOBEX = Principal(tenant_id="globex", user_id="u2")
APP_SECRET = "the-app-level-secret-0123456789"


def _batching_catalog() -> Catalog:
    """The catalog with ``batcher``: GitHub's scheme, a list body, each item naming its
    account, and a signing secret per connection."""
    github = load_catalog().get("github")
    entry = github.model_dump()
    entry["key"] = "batcher"
    entry["webhook"] = {
        "scheme": "github",
        "batch_path": "$",
        "event_id_path": "id",
        "event_type_path": "type",
        "route_field": "account",
        "secret_field": "webhook_secret",
    }
    batcher = type(github).model_validate(entry)
    return Catalog([*load_catalog(), batcher])


@dataclass
class Parts:
    store: SqliteConnectionStore
    connections: ConnectionService
    intake: WebhookIntake
    processing: WebhookProcessing
    queue: RecordingQueue
    routes: dict[tuple[str, str], Connection]
    app_secrets: dict[str, list[str]]

    def connection(self, principal: Principal, account: str, secret: str) -> Connection:
        created = self.connections.create(
            principal,
            CreateConnection(provider="batcher", credentials={"webhook_secret": secret}),
        )
        self.routes[("batcher", account)] = created
        return created


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    catalog = _batching_catalog()
    clock = FixedClock(T0)
    connections = ConnectionService(
        store=store,
        secrets=DbSecretStore(Sealer(Keyring.generate("ktest")), retired=MemoryRetiredVersions()),
        catalog=lambda: catalog,
        clock=clock,
        ids=RandomIds(),
    )
    queue = RecordingQueue()
    routes: dict[tuple[str, str], Connection] = {}
    app_secrets: dict[str, list[str]] = {}
    intake = WebhookIntake(
        store=store,
        connections=connections,
        catalog=lambda: catalog,
        tasks=lambda: queue,
        clock=clock,
        ids=RandomIds(),
        app_secrets=lambda key: list(app_secrets.get(key, [])),
        find_by_route=lambda provider, value: routes.get((provider, value)),
    )
    processing = WebhookProcessing(store=store, catalog=lambda: catalog, tasks=lambda: queue)
    yield Parts(store, connections, intake, processing, queue, routes, app_secrets)
    store.close()


def _signed(items: Any, secret: str) -> InboundRequest:
    body = json.dumps(items).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return InboundRequest(
        method="POST",
        url="https://tether.example.com/webhooks/providers/batcher",
        headers={"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"},
        body=body,
        received_at=T0,
    )


def test_a_connections_own_secret_signs_a_batch_only_of_its_own_events(parts: Parts) -> None:
    parts.connection(ACME, "a-1", "acme-secret-0123456789")
    globex = parts.connection(GLOBEX, "g-1", "globex-secret-0123456789")
    mixed = [{"id": "e1", "account": "a-1"}, {"id": "e2", "account": "g-1"}]
    # acme's sender may not sign events into globex's connection
    with pytest.raises(SignatureError):
        parts.intake.receive_for_provider("batcher", _signed(mixed, "acme-secret-0123456789"))
    stray = [{"id": "e3", "account": "a-1"}, {"id": "e4", "account": "nobody"}]
    with pytest.raises(SignatureError):
        parts.intake.receive_for_provider("batcher", _signed(stray, "acme-secret-0123456789"))
    assert parts.queue.calls == []
    own = [{"id": "e5", "account": "g-1"}, {"id": "e6", "account": "g-1"}]
    signed = _signed(own, "globex-secret-0123456789")
    accepted = parts.intake.receive_for_provider("batcher", signed)
    assert (accepted.status, accepted.events) == ("enqueued", 2)
    stored = parts.store.list_webhook_events("globex", globex.id)
    assert sorted(e.detail["source_event_id"] for e in stored) == ["e5", "e6"]
    # the app's own secret may sign any batch; what names nobody is counted, not stored
    parts.app_secrets["batcher"] = [APP_SECRET]
    both = [*mixed, {"id": "e7", "account": "nobody"}]
    accepted = parts.intake.receive_for_provider("batcher", _signed(both, APP_SECRET))
    assert (accepted.status, accepted.events, accepted.unroutable) == ("enqueued", 2, 1)
    assert parts.store.get_webhook_event("batcher", "_/e7") is None


def test_a_batch_larger_than_the_limit_is_refused_before_anything_is_stored(
    parts: Parts,
) -> None:
    parts.app_secrets["batcher"] = [APP_SECRET]
    items = [{"id": f"e{n}", "account": "a"} for n in range(MAX_BATCH_ITEMS + 1)]
    with pytest.raises(PayloadTooLarge):
        parts.intake.receive_for_provider("batcher", _signed(items, APP_SECRET))
    assert parts.queue.calls == []


def test_a_batch_to_a_connection_url_is_all_that_connections(parts: Parts) -> None:
    created = parts.connection(ACME, "a-1", "acme-secret-0123456789")
    token = _issue(parts, created)
    items = [{"id": "e1", "account": "someone-else"}, {"id": "e2"}]
    accepted = parts.intake.receive_for_token(token, _signed(items, "acme-secret-0123456789"))
    assert (accepted.status, accepted.events, accepted.unroutable) == ("enqueued", 2, 0)
    assert len(parts.store.list_webhook_events("acme", created.id)) == 2


def _issue(parts: Parts, connection: Connection) -> str:
    """Give the connection a webhook URL token (only its hash is stored)."""
    from tether.domain.models import WebhookInfo
    from tether.webhooks.provisioning import hash_token

    token = "tok_" + "x" * 40
    current = parts.store.get_connection(connection.tenant_id, connection.id)
    assert current is not None
    parts.store.update_connection(
        current.model_copy(
            update={"webhook": WebhookInfo(url="…xxxx", token_hash=hash_token(token))}
        ),
        expected_version=current.version,
    )
    return token


def test_an_event_stored_before_its_source_id_was_kept_still_carries_it(parts: Parts) -> None:
    created = parts.connection(ACME, "a-1", "acme-secret-0123456789")
    items = [{"id": "e9", "account": "a-1", "type": "thing.done"}]
    parts.intake.receive_for_provider("batcher", _signed(items, "acme-secret-0123456789"))
    (event,) = parts.store.list_webhook_events("acme", created.id)
    stored = parts.store.get_webhook_event("batcher", event.dedupe_key)
    assert stored is not None
    older = {k: v for k, v in stored.detail.items() if k != "source_event_id"}
    parts.store.update_webhook_event(stored.model_copy(update={"detail": older}))
    [(_, task, _, _)] = parts.queue.of(PROCESS_WEBHOOK_TASK)
    parts.processing.process_webhook(task)
    [(_, delivery, _, _)] = parts.queue.of(DELIVER_TASK)
    assert delivery["event"]["source_event_id"] == "e9"
    assert delivery["event"]["type"] == "thing.done"


# -- pure pieces -------------------------------------------------------------------------------
def test_batch_items_and_item_bodies() -> None:
    xero = load_catalog().get("xero").webhook
    hubspot = load_catalog().get("hubspot").webhook
    stripe = load_catalog().get("stripe").webhook
    assert xero is not None and hubspot is not None and stripe is not None
    assert batch_items(xero, {"events": [{"a": 1}, {"b": 2}]}) == [{"a": 1}, {"b": 2}]
    for empty in ({"events": []}, {"events": None}, {}, {"events": "x"}, None, []):
        assert batch_items(xero, empty) == []
    assert batch_items(hubspot, [{"eventId": 1}]) == [{"eventId": 1}]
    assert batch_items(hubspot, {"not": "a list"}) == []
    assert batch_items(stripe, {"id": "evt_1"}) is None
    assert item_body({"b": 1, "a": "é"}) == '{"b":1,"a":"é"}'.encode()


def test_a_handshake_needs_its_exact_type_and_a_short_text_challenge() -> None:
    slack = load_catalog().get("slack").webhook
    assert slack is not None
    assert handshake_answer(slack, {"type": "url_verification", "challenge": "c0ffee"}) == "c0ffee"
    for payload in (
        {"type": "url_verification", "challenge": 42},
        {"type": "url_verification", "challenge": ""},
        {"type": "url_verification", "challenge": "x" * 1025},
        {"type": "event_callback", "challenge": "c0ffee"},
        {"type": "URL_VERIFICATION", "challenge": "c0ffee"},
        ["url_verification"],
        None,
    ):
        assert handshake_answer(slack, payload) is None
    xero = load_catalog().get("xero").webhook
    assert xero is not None
    assert handshake_answer(xero, {"type": "url_verification", "challenge": "c"}) is None


def test_the_catalog_refuses_a_batch_whose_event_id_is_a_header() -> None:
    with pytest.raises(ValidationError, match="each item"):
        WebhookSpec(scheme="github", batch_path="$", event_id_path="header:X-GitHub-Delivery")
    with pytest.raises(ValidationError):
        WebhookSpec(scheme="xero", batch_path="events.{x}")
    assert WebhookSpec(scheme="xero", batch_path="data.items").batch_path == "data.items"


def test_an_item_holding_a_lone_surrogate_is_stored_as_its_escape() -> None:
    item = json.loads(b'{"id":"\\ud800","n":"\\u00e9"}')
    stored = item_body(item)
    assert stored == '{"id":"\\ud800","n":"é"}'.encode()
    assert json.loads(stored) == item


def test_an_unsigned_batch_costs_no_route_lookup(tmp_path: Path) -> None:
    """A batch naming many accounts is checked against the app's secrets before any of its
    route values is looked up: only a batch naming one account may need that account's
    connection to choose the secret, so a forged 1,000-item body costs one lookup at most,
    not one store read per account it names."""
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    catalog = _batching_catalog()
    looked_up: list[str] = []

    def find_by_route(provider: str, value: str) -> Connection | None:
        looked_up.append(value)
        return store.find_connection_by_route(provider, value)

    intake = WebhookIntake(
        store=store,
        connections=ConnectionService(
            store=store,
            secrets=DbSecretStore(
                Sealer(Keyring.generate("ktest")), retired=MemoryRetiredVersions()
            ),
            catalog=lambda: catalog,
            clock=FixedClock(T0),
            ids=RandomIds(),
        ),
        catalog=lambda: catalog,
        tasks=lambda: RecordingQueue(),
        clock=FixedClock(T0),
        ids=RandomIds(),
        app_secrets=lambda key: [APP_SECRET],
        find_by_route=find_by_route,
    )
    forged = [{"id": f"e{n}", "account": f"acct-{n}"} for n in range(MAX_BATCH_ITEMS)]
    with pytest.raises(SignatureError):
        intake.receive_for_provider("batcher", _signed(forged, "not-the-secret-0123456789"))
    assert looked_up == []
    one = [{"id": "e1", "account": "acct-1"}, {"id": "e2", "account": "acct-1"}]
    with pytest.raises(SignatureError):
        intake.receive_for_provider("batcher", _signed(one, "not-the-secret-0123456789"))
    assert looked_up == ["acct-1"]
    accepted = intake.receive_for_provider("batcher", _signed(forged[:3], APP_SECRET))
    assert (accepted.status, accepted.unroutable) == ("unroutable", 3)
    assert sorted(looked_up) == ["acct-0", "acct-1", "acct-1", "acct-2"]
    store.close()
