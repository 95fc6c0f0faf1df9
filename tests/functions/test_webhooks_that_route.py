"""Webhooks that route, over real HTTP on loopback: the deployed ``webhooks`` function served
by a real server, on the embedded store and on Firestore (its emulator), deliveries signed as
the vendors sign them, and the tenant's endpoint receiving the envelopes.

* GitHub: the published example of its docs (secret "It's a Secret to Everybody", body
  "Hello, World!", https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries)
  on a github connection's own URL, verified with the connection's ``webhook_secret``; a
  one-byte change refused. A GitHub App delivery is routed by ``installation.id``.
* Slack: ``url_verification`` signed by ``slack_sdk``'s ``SignatureVerifier`` and answered
  with its challenge (https://api.slack.com/events/url_verification).
* Xero: one delivery for two organisations becomes two events, each at its own tenant
  (``WebhookEvent`` of https://github.com/XeroAPI/Xero-OpenAPI/blob/master/xero-webhooks.yaml);
  the intent-to-receive check answered 200 or 401 without a body.
* HubSpot: an array body for two portals becomes two events
  (https://developers.hubspot.com/docs/api/webhooks).
* ``source_event_id`` in every provider event the tenant receives, and a provider's retry is
  one event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask.testing import FlaskClient
from functions_framework import create_app
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from standardwebhooks import Webhook
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.loopback_http import LoopbackHTTP, QuietHandler
from tether.bootstrap import Container, reset_container
from tether.config import OAuthClientCredentials, Settings

if TYPE_CHECKING:
    from google.cloud import firestore

ACME = bearer("acme")
GLOBEX = bearer("globex")
GITHUB_DOCS_SECRET = "It's a Secret to Everybody"
GITHUB_DOCS_BODY = b"Hello, World!"
GITHUB_DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
GITHUB_APP_SECRET = "github-app-webhook-secret-0123456789"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
XERO_KEY = "xero-webhook-key-0123456789abcdefghijklmnopqrstuv"
HUBSPOT_SECRET = "hubspot-app-client-secret-0123456789"
XERO_ACME = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"
XERO_GLOBEX = "aef86862-2015-4b6b-88bc-d89032cecc50"
XERO_NOBODY = "0d3a6ff7-6f4b-4e05-a8d1-0d0e1b0e7c11"


class Receiver:
    """A tenant's endpoint on loopback: what it received, by tenant (its URL path)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name for it
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.received.append((self.path, headers, body))
                self.send_response(204)
                self.end_headers()

        self.server = LoopbackHTTP(Handler, None)

    def url(self, tenant: str) -> str:
        return f"http://127.0.0.1:{self.server.port}/{tenant}"

    def events(self, tenant: str, secret: str) -> list[dict[str, Any]]:
        """The envelopes ``tenant`` received, each verified with its signing secret."""
        return [
            Webhook(secret).verify(body, headers)
            for path, headers, body in self.received
            if path == f"/{tenant}"
        ]


RETURN_TO = "https://app.example.com/integrations/done"


class ProviderApis:
    """Xero's and GitHub's token endpoints and account lists, as the OAuth callback's client
    reaches them (an injected transport: no network). Shapes: Xero's ``getConnections``
    (https://github.com/XeroAPI/Xero-OpenAPI/blob/master/xero-identity.yaml) and GitHub's
    "List app installations accessible to the user access token"
    (https://docs.github.com/en/rest/apps/installations). Each code redeemed names whose
    grant it is; each grant reaches the accounts listed for it."""

    def __init__(self) -> None:
        self.accounts: dict[str, list[str]] = {}
        self.lookups: list[httpx.Request] = []
        self.failing = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if request.method == "POST" and url in (
            "https://identity.xero.com/connect/token",
            "https://github.com/login/oauth/access_token",
        ):
            code = parse_qs(request.content.decode())["code"][0]
            return httpx.Response(
                200,
                json={
                    "access_token": f"at-{code}",
                    "refresh_token": f"rt-{code}",
                    "expires_in": 1800,
                    "token_type": "Bearer",
                },
            )
        self.lookups.append(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer at-")
        if self.failing:
            return httpx.Response(503)
        if url == "https://api.xero.com/connections":
            return httpx.Response(
                200,
                json=[
                    {
                        "id": f"7cb59f93-2964-421d-bb5e-a0f7a457{n:04d}",
                        "tenantId": tenant,
                        "tenantName": f"Organisation {n}",
                        "tenantType": "ORGANISATION",
                        "createdDateUtc": "2019-12-07T18:46:19.5165400",
                        "updatedDateUtc": "2019-12-07T18:46:19.5187840",
                    }
                    for n, tenant in enumerate(self.accounts.get(token, []))
                ],
            )
        if url == "https://api.github.com/user/installations?per_page=100":
            ids = self.accounts.get(token, [])
            return httpx.Response(
                200,
                json={
                    "total_count": len(ids),
                    "installations": [
                        {"id": int(i), "account": {"login": f"org-{i}"}, "app_id": 1} for i in ids
                    ],
                },
            )
        return httpx.Response(404)


@dataclass
class World:
    container: Container
    base: str
    receiver: Receiver
    connections: FlaskClient
    settings_api: FlaskClient
    apis: ProviderApis
    notify_secrets: dict[str, str] = field(default_factory=dict)

    def connect(
        self,
        provider: str,
        code: str,
        headers: dict[str, str],
        *,
        config: dict[str, Any] | None = None,
        callback: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Tether's OAuth flow for ``provider`` as the tenant starts it and the provider
        redirects back with ``code`` (and ``callback``'s parameters); the outcome on
        ``return_to``."""
        start = create_app("oauth_start", SOURCE).test_client()
        body = {"provider": provider, "return_to": RETURN_TO, "config": config or {}}
        started = start.post("/", json=body, headers=headers)
        assert started.status_code == 201, started.get_json()
        state = parse_qs(urlsplit(started.get_json()["authorization_url"]).query)["state"][0]
        answer = (
            create_app("oauth_callback", SOURCE)
            .test_client()
            .get("/", query_string={"code": code, "state": state, **(callback or {})})
        )
        assert answer.status_code == 302
        return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", content=body, headers=headers, timeout=10)

    def notify(self, tenant: str, headers: dict[str, str]) -> None:
        """The tenant's notify URL and signing secret."""
        url = self.receiver.url(tenant)
        put = self.settings_api.put("/", json={"notify_url": url}, headers=headers)
        assert put.status_code == 200, put.get_json()
        rotated = self.settings_api.post("/notify-secret/rotate", headers=headers)
        self.notify_secrets[tenant] = rotated.get_json()["secret"]

    def run_tasks(self) -> None:
        while self.container.tasks.run_due():
            pass

    def provider_events(self, tenant: str) -> list[dict[str, Any]]:
        self.run_tasks()
        return [
            e
            for e in self.receiver.events(tenant, self.notify_secrets[tenant])
            if not e["type"].startswith("connection.")
        ]

    def create(self, body: dict[str, Any], headers: dict[str, str] = ACME) -> dict[str, Any]:
        created = self.connections.post("/", json=body, headers=headers)
        assert created.status_code == 201, created.get_json()
        return dict(created.get_json())

    def routed(self, tenant: str, provider: str, route: str, headers: dict[str, str]) -> str:
        """A connection of ``provider`` holding ``route``, as the OAuth callback leaves one
        (the route is what the provider proved; here it is set directly)."""
        created = self.create({"provider": provider}, headers)
        current = self.container.store.get_connection(tenant, created["id"])
        assert current is not None
        self.container.store.update_connection(
            current.model_copy(update={"webhook_route": route}), expected_version=current.version
        )
        return str(created["id"])


class _Unlogged(WSGIRequestHandler):
    """No access line of the test server's own (it would print the URL's token)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _serve(app: Any) -> tuple[BaseWSGIServer, threading.Thread]:
    """The function as deployed (functions-framework's app) behind a real HTTP server."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Unlogged)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return server, thread


@pytest.fixture(params=["sqlite", "firestore"])
def world(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[World]:
    receiver = Receiver()
    apis = ProviderApis()
    client_of = OAuthClientCredentials(client_id="tether", client_secret=SecretStr("s3cret"))
    configured = settings.model_copy(
        update={
            "public_url": "http://127.0.0.1:8080",
            "allowed_return_urls": "https://app.example.com/integrations",
            "oauth_clients": {"xero": client_of, "github": client_of},
            "egress_allowlist": f"127.0.0.1:{receiver.server.port}",
            "webhook_secrets": {
                "github": [SecretStr(GITHUB_APP_SECRET)],
                "slack": [SecretStr(SLACK_SECRET)],
                "xero": [SecretStr(XERO_KEY)],
                "hubspot": [SecretStr(HUBSPOT_SECRET)],
            },
        }
    )
    overrides: dict[str, Any] = {"http": httpx.Client(transport=httpx.MockTransport(apis.handle))}
    if request.param == "firestore":
        client: firestore.Client = request.getfixturevalue("firestore_client")
        from tether.adapters.firestore import FirestoreConnectionStore

        overrides["store"] = FirestoreConnectionStore(client)
    container = Container(configured, **overrides)
    reset_container(container)
    server, thread = _serve(create_app("webhooks", SOURCE))
    try:
        yield World(
            container=container,
            base=f"http://127.0.0.1:{server.server_port}",
            receiver=receiver,
            connections=create_app("connections", SOURCE).test_client(),
            settings_api=create_app("settings", SOURCE).test_client(),
            apis=apis,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        receiver.server.close()
        reset_container(None)
        container.close()


# -- GitHub ------------------------------------------------------------------------------------
def test_githubs_published_vector_on_a_connection_url_and_a_changed_byte(world: World) -> None:
    world.notify("acme", ACME)
    created = world.create(
        {"provider": "github", "credentials": {"webhook_secret": GITHUB_DOCS_SECRET}}
    )
    hook = created["webhook"]
    assert hook["routing"] == "connection_url" and "secret" not in hook
    path = hook["url"].removeprefix("http://127.0.0.1:8080/webhooks")
    headers = {
        "X-Hub-Signature-256": GITHUB_DOCS_SIGNATURE,
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "Content-Type": "text/plain",
    }
    first = world.post(path, GITHUB_DOCS_BODY, headers)
    assert (first.status_code, first.json()) == (200, {"ok": True, "duplicate": False})
    changed = world.post(path, b"Hello, World?", headers)  # one byte
    assert changed.status_code == 401
    # GitHub's redelivery carries the same X-GitHub-Delivery: one event
    again = world.post(path, GITHUB_DOCS_BODY, headers)
    assert again.json() == {"ok": True, "duplicate": True}
    # another connection's secret does not verify on this URL
    other = world.create({"provider": "github", "credentials": {"webhook_secret": "other"}})
    other_path = other["webhook"]["url"].removeprefix("http://127.0.0.1:8080/webhooks")
    assert world.post(other_path, GITHUB_DOCS_BODY, headers).status_code == 401

    (event,) = world.provider_events("acme")
    assert event["type"] == "ping" and event["connection_id"] == created["id"]
    assert event["source_event_id"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_a_github_connection_made_through_oauth_gets_its_own_url_as_one_made_directly(
    world: World,
) -> None:
    """The same rule as POST /connections: the start's answer shows the URL once, the
    callback stores it on the connection it creates, and deliveries signed with the
    connection's webhook_secret (given at the start) verify on it."""
    world.notify("acme", ACME)
    world.apis.accounts = {"oauth-code": ["4242"]}
    start = create_app("oauth_start", SOURCE).test_client()
    started = start.post(
        "/",
        json={
            "provider": "github",
            "return_to": RETURN_TO,
            "credentials": {"webhook_secret": GITHUB_DOCS_SECRET},
        },
        headers=ACME,
    )
    assert started.status_code == 201, started.get_json()
    hook = started.get_json()["webhook"]
    direct = world.create({"provider": "github"})["webhook"]
    assert {k: v for k, v in hook.items() if k != "url"} == {
        k: v for k, v in direct.items() if k != "url"
    }
    assert hook["routing"] == "connection_url" and "secret" not in hook
    state = parse_qs(urlsplit(started.get_json()["authorization_url"]).query)["state"][0]
    answer = (
        create_app("oauth_callback", SOURCE)
        .test_client()
        .get("/", query_string={"code": "oauth-code", "state": state})
    )
    outcome = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert outcome.get("status") == ["active"], outcome
    connection_id = outcome["connection_id"][0]
    shown = world.connections.get(f"/{connection_id}", headers=ACME).get_json()["webhook"]
    assert shown["url"].endswith(hook["url"][-4:]) and shown["url"] != hook["url"]

    path = hook["url"].removeprefix("http://127.0.0.1:8080/webhooks")
    headers = {
        "X-Hub-Signature-256": GITHUB_DOCS_SIGNATURE,
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
        "Content-Type": "text/plain",
    }
    assert world.post(path, GITHUB_DOCS_BODY, headers).status_code == 200
    assert world.post(path, b"Hello, World?", headers).status_code == 401
    (event,) = world.provider_events("acme")
    assert event["type"] == "ping" and event["connection_id"] == connection_id


def test_an_oauth_reconnect_keeps_the_connections_url(world: World) -> None:
    world.apis.accounts = {"first": ["4242"], "again": ["4242"]}
    outcome = world.connect("github", "first", ACME)
    connection_id = outcome["connection_id"]
    before = world.container.store.get_connection("acme", connection_id)
    assert before is not None and before.webhook is not None
    start = create_app("oauth_start", SOURCE).test_client()
    started = start.post(
        "/", json={"connection_id": connection_id, "return_to": RETURN_TO}, headers=ACME
    )
    assert started.status_code == 201 and "webhook" not in started.get_json()
    state = parse_qs(urlsplit(started.get_json()["authorization_url"]).query)["state"][0]
    create_app("oauth_callback", SOURCE).test_client().get(
        "/", query_string={"code": "again", "state": state}
    )
    after = world.container.store.get_connection("acme", connection_id)
    assert after is not None and after.webhook == before.webhook


def test_an_oauth_start_takes_no_other_credentials_for_a_registered_client(world: World) -> None:
    start = create_app("oauth_start", SOURCE).test_client()
    refused = start.post(
        "/",
        json={
            "provider": "github",
            "return_to": RETURN_TO,
            "credentials": {"webhook_secret": "s", "client_secret": "nope"},
        },
        headers=ACME,
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] in ("CREDENTIALS_NOT_ALLOWED", "INVALID_CREDENTIALS")


def _github_app(body: dict[str, Any], delivery: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    digest = hmac.new(GITHUB_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
    }


def test_a_github_app_delivery_is_routed_by_its_installation(world: World) -> None:
    world.notify("acme", ACME)
    world.notify("globex", GLOBEX)
    acme = world.routed("acme", "github", "4242", ACME)
    globex = world.routed("globex", "github", "5151", GLOBEX)
    for installation, delivery in ((4242, "d-1"), (5151, "d-2"), (9999, "d-3")):
        raw, headers = _github_app(
            {"action": "opened", "issue": {"number": 1}, "installation": {"id": installation}},
            delivery,
        )
        assert world.post("/providers/github", raw, headers).status_code == 200
    forged, headers = _github_app({"action": "opened", "installation": {"id": 4242}}, "d-4")
    assert world.post("/providers/github", forged + b" ", headers).status_code == 401

    (to_acme,) = world.provider_events("acme")
    (to_globex,) = world.provider_events("globex")
    assert (to_acme["connection_id"], to_acme["source_event_id"]) == (acme, "d-1")
    assert (to_globex["connection_id"], to_globex["source_event_id"]) == (globex, "d-2")
    assert to_acme["type"] == "issues.opened"


# -- Slack ---------------------------------------------------------------------------------------
def _slack(body: bytes, at: int, secret: str = SLACK_SECRET) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(at), body=body)
    return {
        "X-Slack-Signature": signature,
        "X-Slack-Request-Timestamp": str(at),
        "Content-Type": "application/json",
    }


def test_slack_url_verification_is_answered_with_its_challenge(world: World) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps(
        {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"}
    ).encode()
    now = int(time.time())
    headers = _slack(body, now)
    assert SignatureVerifier(SLACK_SECRET).is_valid(body, str(now), headers["X-Slack-Signature"])
    answer = world.post("/providers/slack", body, headers)
    assert (answer.status_code, answer.json()) == (200, {"challenge": challenge})
    # signed with another secret, or older than Slack's five minutes: refused
    assert world.post("/providers/slack", body, _slack(body, now, "x" * 32)).status_code == 401
    assert world.post("/providers/slack", body, _slack(body, now - 301)).status_code == 401
    unsigned = world.post("/providers/slack", body, {"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    world.run_tasks()
    assert world.receiver.received == []


def test_a_slack_event_reaches_its_workspace_once(world: World) -> None:
    world.notify("acme", ACME)
    acme = world.routed("acme", "slack", "T0123", ACME)
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0123",
            "event_id": "Ev0PV52K21",
            "event_time": 1_767_225_600,
            "event": {"type": "app_mention", "text": "hi"},
        }
    ).encode()
    now = int(time.time())
    assert world.post("/providers/slack", body, _slack(body, now)).json()["duplicate"] is False
    retry = {**_slack(body, now + 1), "X-Slack-Retry-Num": "1"}  # Slack's retry: same event_id
    assert world.post("/providers/slack", body, retry).json()["duplicate"] is True
    (event,) = world.provider_events("acme")
    assert (event["connection_id"], event["type"]) == (acme, "app_mention")
    assert event["source_event_id"] == "Ev0PV52K21"


# -- Xero ----------------------------------------------------------------------------------------
def _xero(payload: dict[str, Any], key: str = XERO_KEY) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(key.encode(), raw, hashlib.sha256).digest()).decode()
    return raw, {"x-xero-signature": signature, "Content-Type": "application/json"}


def _xero_event(tenant: str, resource: str, category: str = "INVOICE") -> dict[str, Any]:
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{resource}",
        "resourceId": resource,
        "eventDateUtc": "2026-05-01T12:00:00.123",
        "eventType": "UPDATE",
        "eventCategory": category,
        "tenantId": tenant,
        "tenantType": "ORGANISATION",
    }


def test_a_xero_batch_for_two_tenants_becomes_two_routed_events(world: World) -> None:
    world.notify("acme", ACME)
    world.notify("globex", GLOBEX)
    acme = world.routed("acme", "xero", XERO_ACME, ACME)
    globex = world.routed("globex", "xero", XERO_GLOBEX, GLOBEX)
    batch = {
        "events": [
            _xero_event(XERO_ACME, "11111111-1111-4111-8111-111111111111"),
            _xero_event(XERO_GLOBEX, "22222222-2222-4222-8222-222222222222", "CONTACT"),
            _xero_event(XERO_NOBODY, "33333333-3333-4333-8333-333333333333"),
        ],
        "firstEventSequence": 7,
        "lastEventSequence": 9,
        "entropy": "FXNGWLCCGVANWHKILRUB",
    }
    raw, headers = _xero(batch)
    answer = world.post("/providers/xero", raw, headers)
    assert (answer.status_code, answer.content) == (200, b"")
    # Xero retries the same delivery: nothing new
    assert world.post("/providers/xero", raw, headers).status_code == 200

    (to_acme,) = world.provider_events("acme")
    (to_globex,) = world.provider_events("globex")
    assert (to_acme["connection_id"], to_acme["type"]) == (acme, "invoice.update")
    assert (to_globex["connection_id"], to_globex["type"]) == (globex, "contact.update")
    assert to_acme["data"]["tenantId"] == XERO_ACME and to_globex["data"]["tenantId"] == XERO_GLOBEX
    # Xero names no event id of its own; the key is there, empty
    assert to_acme["source_event_id"] is None
    store = world.container.store
    assert [e.status for e in store.list_webhook_events("acme", acme)] == ["processed"]
    assert [e.status for e in store.list_webhook_events("globex", globex)] == ["processed"]


def test_xeros_intent_to_receive_is_answered_without_a_body(world: World) -> None:
    check = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "S0m3r4Nd0m"}
    raw, good = _xero(check)
    _, bad = _xero(check, key="not-the-webhook-key-0123456789")
    accepted = world.post("/providers/xero", raw, good)
    refused = world.post("/providers/xero", raw, bad)
    assert (accepted.status_code, accepted.content) == (200, b"")
    assert (refused.status_code, refused.content) == (401, b"")


# -- HubSpot -------------------------------------------------------------------------------------
def _hubspot(url: str, events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))
    message = b"POST" + url.encode() + raw + stamp.encode()
    digest = hmac.new(HUBSPOT_SECRET.encode(), message, hashlib.sha256).digest()
    return raw, {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def test_a_hubspot_array_for_two_portals_becomes_two_routed_events(world: World) -> None:
    world.notify("acme", ACME)
    world.notify("globex", GLOBEX)
    acme = world.routed("acme", "hubspot", "62515", ACME)
    globex = world.routed("globex", "hubspot", "99887", GLOBEX)
    events = [
        {
            "eventId": 100 + n,
            "subscriptionId": 234567,
            "portalId": portal,
            "appId": 987654,
            "occurredAt": 1_767_225_600_000,
            "subscriptionType": "contact.creation",
            "attemptNumber": 0,
            "objectId": 1000 + n,
        }
        for n, portal in enumerate([62515, 99887, 62515])
    ]
    raw, headers = _hubspot("http://127.0.0.1:8080/webhooks/providers/hubspot", events)
    answer = world.post("/providers/hubspot", raw, headers)
    assert answer.json() == {"ok": True, "duplicate": False}

    to_acme = world.provider_events("acme")
    (to_globex,) = world.provider_events("globex")
    assert sorted(e["source_event_id"] for e in to_acme) == ["100", "102"]
    assert {e["connection_id"] for e in to_acme} == {acme}
    assert (to_globex["connection_id"], to_globex["source_event_id"]) == (globex, "101")
    assert to_globex["occurred_at"] == datetime(2026, 1, 1, tzinfo=UTC).isoformat().replace(
        "+00:00", "Z"
    )


# -- routes learned after the OAuth exchange -------------------------------------------------
def test_xero_tenants_learned_after_connecting_route_a_batch(world: World) -> None:
    world.notify("acme", ACME)
    world.notify("globex", GLOBEX)
    world.apis.accounts = {"acme-code": [XERO_ACME], "globex-code": [XERO_NOBODY, XERO_GLOBEX]}
    acme = world.connect("xero", "acme-code", ACME)
    assert acme.get("status") == "active", acme
    # globex's grant reaches two organisations: its choice (config tenant_id) decides
    globex = world.connect("xero", "globex-code", GLOBEX, config={"tenant_id": XERO_GLOBEX})
    assert globex.get("status") == "active", globex
    (lookup, _) = world.apis.lookups
    assert lookup.headers["authorization"] == "Bearer at-acme-code"
    store = world.container.store
    stored = store.get_connection("acme", acme["connection_id"])
    assert stored is not None and stored.webhook_route == XERO_ACME
    assert stored.config["tenant_id"] == XERO_ACME  # learned: the only one
    found = store.find_connection_by_route("xero", XERO_GLOBEX)
    assert found is not None and found.id == globex["connection_id"]

    batch = {
        "events": [
            _xero_event(XERO_GLOBEX, "44444444-4444-4444-8444-444444444444", "CONTACT"),
            _xero_event(XERO_ACME, "55555555-5555-4555-8555-555555555555"),
        ],
        "firstEventSequence": 1,
        "lastEventSequence": 2,
        "entropy": "S0m3r4Nd0mt3xt",
    }
    raw, headers = _xero(batch)
    assert world.post("/providers/xero", raw, headers).status_code == 200
    (to_acme,) = world.provider_events("acme")
    (to_globex,) = world.provider_events("globex")
    assert (to_acme["connection_id"], to_acme["type"]) == (acme["connection_id"], "invoice.update")
    assert (to_globex["connection_id"], to_globex["type"]) == (
        globex["connection_id"],
        "contact.update",
    )


def test_a_xero_tenant_the_grant_does_not_reach_is_no_route(world: World) -> None:
    world.apis.accounts = {"acme-code": [XERO_ACME], "two-code": [XERO_ACME, XERO_GLOBEX]}
    # naming another's organisation: the grant does not reach it, so no route
    claimed = world.connect("xero", "acme-code", ACME, config={"tenant_id": XERO_GLOBEX})
    assert claimed.get("status") == "active"
    stored = world.container.store.get_connection("acme", claimed["connection_id"])
    assert stored is not None and stored.webhook_route is None
    # several organisations and no choice: no route either, and nothing learned
    several = world.connect("xero", "two-code", GLOBEX)
    stored = world.container.store.get_connection("globex", several["connection_id"])
    assert stored is not None and stored.webhook_route is None
    assert "tenant_id" not in stored.config
    # an id the catalog's tenant_id does not allow: no route, nothing learned, still connected
    world.apis.accounts["odd-code"] = ["not-an-organisation-id"]
    odd = world.connect("xero", "odd-code", GLOBEX)
    stored = world.container.store.get_connection("globex", odd["connection_id"])
    assert odd.get("status") == "active" and stored is not None
    assert stored.webhook_route is None and "tenant_id" not in stored.config
    # the provider's list unavailable: the connection is made all the same, without a route
    world.apis.failing = True
    down = world.connect("xero", "acme-code", GLOBEX)
    assert down.get("status") == "active"
    stored = world.container.store.get_connection("globex", down["connection_id"])
    assert stored is not None and stored.webhook_route is None


def test_a_github_app_installation_learned_after_connecting_routes_its_deliveries(
    world: World,
) -> None:
    world.notify("acme", ACME)
    world.apis.accounts = {"acme-code": ["4242", "777"]}
    # GitHub's redirect after an install names it (installation_id): one of the user's
    outcome = world.connect("github", "acme-code", ACME, callback={"installation_id": "4242"})
    assert outcome.get("status") == "active", outcome
    stored = world.container.store.get_connection("acme", outcome["connection_id"])
    assert stored is not None and stored.webhook_route == "4242"
    assert stored.config["installation_id"] == "4242"
    assert world.apis.lookups[0].headers["accept"] == "application/vnd.github+json"
    # a redirect naming an installation the user cannot reach routes nothing
    other = world.connect("github", "acme-code", GLOBEX, callback={"installation_id": "31337"})
    stored_other = world.container.store.get_connection("globex", other["connection_id"])
    assert stored_other is not None and stored_other.webhook_route is None

    raw, headers = _github_app({"action": "opened", "installation": {"id": 4242}}, "d-9")
    assert world.post("/providers/github", raw, headers).status_code == 200
    (event,) = world.provider_events("acme")
    assert (event["connection_id"], event["source_event_id"]) == (outcome["connection_id"], "d-9")
