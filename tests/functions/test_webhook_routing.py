"""App-level webhook routing end to end: a connection made through OAuth takes its route value
from the provider's token response (the catalog's ``webhook_route_from``), and a signed
delivery to ``/webhooks/providers/<provider>`` naming that value reaches it; an unknown value
is stored unroutable, and a second connection of the same account is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from functions_framework import create_app
from pydantic import SecretStr, ValidationError
from standardwebhooks import Webhook

from tests.functions.conftest import SOURCE
from tests.functions.oauth_harness import ACME, DEMO_CLIENTS, GLOBEX, RETURN_TO, Flow, running_flow
from tether.bootstrap import Container
from tether.catalog import load_catalog
from tether.catalog.schema import Provider
from tether.config import Settings
from tether.domain.clock import FixedClock
from tether.oauth.flow import _proven_route
from tether.oauth.model import OAuthClient, TokenSet
from tether_emulators.oauth_provider import OAuthProvider

DEMO_SECRET = "whsec_ZGVtby1hcHAtbGV2ZWwtc2lnbmluZy1zZWNyZXQtMDE="
ACCOUNT = "acct-42"


@pytest.fixture
def routed(settings: Settings, oauth_provider: OAuthProvider) -> Iterator[dict[str, Any]]:
    clock = FixedClock(datetime.now(UTC))
    oauth_provider.configure(extra_token_fields={"account_id": ACCOUNT})
    for flow in running_flow(
        settings,
        oauth_provider,
        clock,
        oauth_clients=DEMO_CLIENTS,
        webhook_secrets={"demo": [SecretStr(DEMO_SECRET)]},
    ):
        yield {
            "flow": flow,
            "webhooks": create_app("webhooks", SOURCE).test_client(),
            "container": flow.container,
            "clock": clock,
        }


def _connect(flow: Flow, headers: dict[str, str] = ACME) -> dict[str, str]:
    body = {
        "provider": "demo",
        "config": {"base_url": flow.provider.url},
        "return_to": RETURN_TO,
    }
    started = flow.authorize(body, headers=headers)
    status, outcome, _ = flow.finish(flow.browser(started["authorization_url"]))
    assert status == 302
    return outcome


def _delivery(at: datetime, event_id: str, account: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": "item.updated", "account_id": account, "data": {"id": 7}})
    signature = Webhook(DEMO_SECRET).sign(event_id, at, body)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


def test_a_connection_gets_its_route_and_app_level_events_reach_it(routed):
    flow: Flow = routed["flow"]
    container: Container = routed["container"]
    outcome = _connect(flow)
    assert outcome.get("status") == "active", outcome
    connection_id = outcome["connection_id"]
    stored = container.store.get_connection("acme", connection_id)
    assert stored is not None and stored.webhook_route == ACCOUNT

    now = routed["clock"].now()
    client = routed["webhooks"]
    body, headers = _delivery(now, "msg_1", ACCOUNT)
    assert client.post("/providers/demo", data=body, headers=headers).status_code == 200
    events = container.store.list_webhook_events("acme", connection_id)
    assert [e.status for e in events] == ["enqueued"]
    while container.tasks.run_due():
        pass
    processed = container.store.get_webhook_event("demo", events[0].dedupe_key)
    assert processed is not None and processed.status == "processed"
    assert processed.detail["type"] == "item.updated"

    # a forged delivery naming the account is refused before anything is stored
    forged, forged_headers = _delivery(now, "msg_2", ACCOUNT)
    forged_headers["webhook-signature"] = "v1,AAAA"
    assert client.post("/providers/demo", data=forged, headers=forged_headers).status_code == 401
    assert len(container.store.list_webhook_events("acme", connection_id)) == 1


def test_an_unknown_route_value_is_stored_unroutable(routed):
    flow: Flow = routed["flow"]
    container: Container = routed["container"]
    connection_id = _connect(flow)["connection_id"]
    body, headers = _delivery(routed["clock"].now(), "msg_9", "acct-unknown")
    answer = routed["webhooks"].post("/providers/demo", data=body, headers=headers)
    assert answer.status_code == 200
    assert container.store.list_webhook_events("acme", connection_id) == []
    event = container.store.get_webhook_event("demo", "_/msg_9")  # no connection: "_" scope
    assert event is not None
    assert (event.status, event.connection_id, event.tenant_id) == ("unroutable", None, None)
    assert event.detail["route"] == "acct-unknown"


def test_a_second_connection_of_the_same_account_is_refused(routed):
    flow: Flow = routed["flow"]
    first = _connect(flow)
    assert first.get("status") == "active"
    taken = _connect(flow, headers=GLOBEX)
    assert taken["error"] == "route_taken"
    assert flow.connection_count(GLOBEX) == 0
    # a reconnect of the same connection keeps its route
    again = flow.authorize({"connection_id": first["connection_id"], "return_to": RETURN_TO})
    status, outcome, _ = flow.finish(flow.browser(again["authorization_url"]))
    assert (status, outcome.get("connection_id")) == (302, first["connection_id"])
    found = flow.container.store.find_connection_by_route("demo", ACCOUNT)
    assert found is not None and found.id == first["connection_id"]


@pytest.mark.parametrize(
    ("provider", "token_url", "extra", "route"),
    [
        # the host the code was redeemed at, lower-case like the shop domain header
        ("shopify", "https://Acme-Shop.myshopify.com/admin/oauth/access_token", {}, None),
        ("slack", "https://slack.com/api/oauth.v2.access", {"team": {"id": "T0123"}}, "T0123"),
        ("slack", "https://slack.com/api/oauth.v2.access", {"team": None}, None),
        ("square", "https://connect.squareup.com/oauth2/token", {"merchant_id": "ML1"}, "ML1"),
        # learned after the exchange (auth.post_connect), never from the token response: a
        # HubSpot token response carries no hub_id; the token's metadata does
        ("xero", "https://identity.xero.com/connect/token", {"tenantId": "x"}, None),
        ("github", "https://github.com/login/oauth/access_token", {"installation": 1}, None),
        ("hubspot", "https://api.hubapi.com/oauth/v1/token", {"hub_id": 62515}, None),
    ],
)
def test_the_route_comes_from_what_the_provider_proved(
    provider: str, token_url: str, extra: dict[str, Any], route: str | None
) -> None:
    entry = load_catalog().get(provider)
    client = OAuthClient(
        client_id="c", client_secret="s", authorization_url=token_url, token_url=token_url
    )
    tokens = TokenSet(access_token="a", expires_at=datetime.now(UTC), extra=extra)
    expected = "acme-shop.myshopify.com" if provider == "shopify" else route
    assert _proven_route(entry, client, tokens) == expected


def test_a_route_source_needs_a_webhook_route_field() -> None:
    entry = load_catalog().get("hubspot").model_dump()
    entry["webhook"] = None
    with pytest.raises(ValidationError, match="webhook_route_from"):
        Provider.model_validate(entry)
    entry = load_catalog().get("slack").model_dump()
    entry["auth"]["webhook_route_from"] = "callback:team_id"  # the browser carries those
    with pytest.raises(ValidationError, match="webhook_route_from"):
        Provider.model_validate(entry)
