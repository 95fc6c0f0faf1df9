"""The OAuth2 code flow through the deployed functions (`oauth_start`, `oauth_callback`,
`connections`), against the local OAuth provider over real HTTP on loopback: the browser step
is a real GET of the authorization URL, whose redirect carries the code back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether.domain.clock import FixedClock
from tether_emulators.oauth_provider import OAuthProvider

RETURN_TO = "https://app.example.com/integrations/done"
ACME = bearer("acme")
GLOBEX = bearer("globex")


class Flow:
    def __init__(self, container: Container, provider: OAuthProvider) -> None:
        self.container = container
        self.provider = provider
        self.start = create_app("oauth_start", SOURCE).test_client()
        self.callback = create_app("oauth_callback", SOURCE).test_client()
        self.connections = create_app("connections", SOURCE).test_client()

    def custom_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "provider": "oauth2",
            "display_name": "Local provider",
            "config": {
                "authorization_url": self.provider.authorization_url,
                "token_url": self.provider.token_url,
                "revocation_url": self.provider.revocation_url,
                "client_id": "tether-test",
                "issuer": self.provider.issuer,
                "scopes": ["profile", "items.read"],
            },
            "credentials": {"client_secret": "tether-test-secret"},
            "return_to": RETURN_TO,
        }
        body.update(overrides)
        return body

    def authorize(self, body: dict[str, Any], headers: dict[str, str] = ACME) -> dict[str, Any]:
        started = self.start.post("/", json=body, headers=headers)
        assert started.status_code == 201, started.get_json()
        return dict(started.get_json())

    def browser(self, authorization_url: str) -> dict[str, str]:
        """The user's browser: follow the authorization URL to the provider's redirect."""
        answer = httpx.get(authorization_url, follow_redirects=False, timeout=5)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(self.container.settings.callback_url or "")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def finish(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        response = self.callback.get("/", query_string=query)
        if response.status_code != 302:
            return response.status_code, {}, response
        location = response.headers["Location"]
        assert location.startswith(RETURN_TO)
        assert response.headers["Referrer-Policy"] == "no-referrer"
        outcome = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        return 302, outcome, response

    def connection_count(self, headers: dict[str, str] = ACME) -> int:
        return len(self.connections.get("/", headers=headers).get_json()["connections"])


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def flow(settings: Settings, oauth_provider: OAuthProvider, clock: FixedClock) -> Iterator[Flow]:
    configured = settings.model_copy(
        update={
            "public_url": "http://127.0.0.1:8080",
            "allowed_return_urls": "https://app.example.com/integrations",
        }
    )
    container = Container(configured, clock=clock)
    reset_container(container)
    yield Flow(container, oauth_provider)
    reset_container(None)


def test_the_whole_flow_makes_an_active_connection_that_can_call_the_api(flow):
    started = flow.authorize(flow.custom_body())
    url = urlsplit(started["authorization_url"])
    params = parse_qs(url.query)
    assert params["code_challenge_method"] == ["S256"]
    assert len(params["code_challenge"][0]) == 43
    assert params["redirect_uri"] == ["http://127.0.0.1:8080/oauth_callback/"]
    assert params["scope"] == ["profile items.read"]

    returned = flow.browser(started["authorization_url"])
    assert returned["iss"] == flow.provider.issuer and returned["state"] == started["state"]
    status, outcome, _ = flow.finish(returned)
    assert status == 302 and outcome["status"] == "active"

    connection_id = outcome["connection_id"]
    shown = flow.connections.get(f"/{connection_id}", headers=ACME).get_json()
    assert shown["status"] == "active" and shown["auth_mode"] == "oauth2"
    assert shown["token_expires_at"] is not None
    assert shown["scopes"] == ["profile", "items.read"]
    assert "tether-test-secret" not in str(shown)

    # The stored access token calls the provider's API; the refresh token is in the payload.
    record = flow.container.store.get_connection("acme", connection_id)
    token = flow.container.token_storage.access_token(record)
    me = httpx.get(flow.provider.api_url, headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    payload = flow.container.secrets.get(
        tenant_id="acme", connection_id=connection_id, ref=record.credential_ref
    )
    assert set(payload) == {"client_secret", "refresh_token"}
    assert flow.provider.is_active(payload["refresh_token"])
    audit = flow.connections.get(f"/{connection_id}/audit", headers=ACME).get_json()["audit"]
    assert "oauth.connected" in [entry["action"] for entry in audit]


def test_a_replayed_state_is_refused_and_makes_nothing_new(flow):
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    assert flow.finish(returned)[0] == 302
    status, outcome, _ = flow.finish(returned)
    assert (status, outcome["error"]) == (302, "state_used")
    assert flow.connection_count() == 1


def test_an_expired_state_is_refused(flow, clock):
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    clock.advance(601)
    status, outcome, _ = flow.finish(returned)
    assert (status, outcome["error"]) == (302, "state_expired")
    assert flow.connection_count() == 0


def test_a_tampered_or_missing_state_is_a_client_error(flow):
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    tampered = {**returned, "state": returned["state"][:-2] + "xx"}
    status, _, response = flow.finish(tampered)
    assert status == 400
    assert response.get_json()["error"]["code"] == "INVALID_STATE"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert flow.finish({"code": returned["code"]})[0] == 400
    # the genuine state still works afterwards: the tampered one consumed nothing
    assert flow.finish(returned)[1]["status"] == "active"


def test_an_issuer_mismatch_aborts(flow):
    body = flow.custom_body()
    body["config"]["issuer"] = "https://impostor.example.com"
    started = flow.authorize(body)
    status, outcome, _ = flow.finish(flow.browser(started["authorization_url"]))
    assert (status, outcome["error"]) == (302, "issuer_mismatch")
    assert flow.connection_count() == 0
    assert flow.provider.stats.get("token.authorization_code", 0) == 0


def test_return_to_outside_the_allowlist_is_refused(flow):
    for bad in (
        "https://evil.example.com/integrations/done",
        "https://app.example.com/elsewhere",
        "https://app.example.com@evil.example.com/integrations",
        "javascript:alert(1)",
    ):
        response = flow.start.post("/", json=flow.custom_body(return_to=bad), headers=ACME)
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["code"] == "RETURN_TO_NOT_ALLOWED"


def test_another_tenants_connection_cannot_be_reconnected(flow):
    started = flow.authorize(flow.custom_body())
    connection_id = flow.finish(flow.browser(started["authorization_url"]))[1]["connection_id"]
    response = flow.start.post(
        "/", json={"connection_id": connection_id, "return_to": RETURN_TO}, headers=GLOBEX
    )
    assert response.status_code == 404


def test_a_user_who_denies_access_gets_a_clean_error(flow):
    flow.provider.deny_next()
    started = flow.authorize(flow.custom_body())
    status, outcome, _ = flow.finish(flow.browser(started["authorization_url"]))
    assert (status, outcome["error"]) == (302, "access_denied")
    assert flow.connection_count() == 0


def test_a_token_endpoint_failure_leaves_no_connection(flow):
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    flow.provider.inject("token", status=503)
    status, outcome, _ = flow.finish(returned)
    assert (status, outcome["error"]) == (302, "token_exchange_failed")
    assert flow.connection_count() == 0


def test_catalog_providers_take_no_tenant_credentials(flow):
    response = flow.start.post(
        "/",
        json={
            "provider": "demo",
            "credentials": {"client_secret": "mine"},
            "return_to": RETURN_TO,
        },
        headers=ACME,
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "CREDENTIALS_NOT_ALLOWED"


def test_a_reconnect_keeps_the_connection_and_stores_the_new_refresh_token(flow):
    started = flow.authorize(flow.custom_body())
    connection_id = flow.finish(flow.browser(started["authorization_url"]))[1]["connection_id"]
    before = flow.container.store.get_connection("acme", connection_id)

    again = flow.authorize({"connection_id": connection_id, "return_to": RETURN_TO})
    status, outcome, _ = flow.finish(flow.browser(again["authorization_url"]))
    assert (status, outcome["connection_id"]) == (302, connection_id)
    after = flow.container.store.get_connection("acme", connection_id)
    assert after.version > before.version and after.credential_ref != before.credential_ref
    payload = flow.container.secrets.get(
        tenant_id="acme", connection_id=connection_id, ref=after.credential_ref
    )
    assert payload["client_secret"] == "tether-test-secret"
    assert flow.connection_count() == 1
