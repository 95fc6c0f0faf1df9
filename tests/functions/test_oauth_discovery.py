"""A custom OAuth2 connection configured with only its issuer, client id and secret: the
endpoints, PKCE, revocation, `offline_access` and `iss` support come from the issuer's
metadata (RFC 8414 / OpenID Connect Discovery) of an independent server (node-oidc-provider on
loopback), and the whole authorization code flow with PKCE runs through the deployed
functions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.oidc_server import OidcServer, oidc_server
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether.connections.credential_reads import REFRESH_TOKEN_FIELD
from tether.domain.clock import FixedClock

ACME = bearer("acme")
PUBLIC_URL = "http://127.0.0.1:8080"
CALLBACK = f"{PUBLIC_URL}/oauth_callback/"
RETURN_TO = "https://app.example.com/integrations/done"
SECRET = "web-app-secret-0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[OidcServer]:
    web_app = {
        "client_id": "web-app",
        "client_secret": SECRET,
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [CALLBACK],
        "response_types": ["code"],
    }
    with oidc_server(clients=[web_app]) as running:
        yield running


class Tether:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.start: FlaskClient = create_app("oauth_start", SOURCE).test_client()
        self.callback: FlaskClient = create_app("oauth_callback", SOURCE).test_client()
        self.connections: FlaskClient = create_app("connections", SOURCE).test_client()
        self.test: FlaskClient = create_app("test_connection", SOURCE).test_client()

    def started(self, issuer: str) -> dict[str, Any]:
        answer = self.start.post(
            "/",
            json={
                "provider": "oauth2",
                "config": {
                    "issuer": issuer,
                    "client_id": "web-app",
                    "scopes": ["openid", "api:read"],
                    "api_base_url": f"{issuer}/api",
                    "test_url": f"{issuer}/api/me",
                },
                "credentials": {"client_secret": SECRET},
                "return_to": RETURN_TO,
            },
            headers=ACME,
        )
        return {"status": answer.status_code, **answer.get_json()}

    def finish(self, query: dict[str, str]) -> dict[str, str]:
        answer = self.callback.get("/", query_string=query)
        assert answer.status_code == 302, answer.get_data(as_text=True)
        return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


@pytest.fixture
def tether(settings: Settings, server: OidcServer) -> Iterator[Tether]:
    configured = settings.model_copy(
        update={
            "public_url": PUBLIC_URL,
            "allowed_return_urls": "https://app.example.com/integrations",
            "egress_allowlist": f"127.0.0.1:{server.port}",
        }
    )
    container = Container(configured, clock=FixedClock(datetime.now(UTC)))
    reset_container(container)
    yield Tether(container)
    reset_container(None)
    container.close()


def browser(authorization_url: str) -> dict[str, str]:
    """The user's browser at the provider (which signs in and consents at once): redirects
    followed, cookies kept, until the provider sends it to Tether's callback."""
    url = authorization_url
    with httpx.Client(timeout=10) as client:
        for _ in range(10):
            answer = client.get(url)
            assert answer.status_code in (302, 303), answer.text
            url = urljoin(url, answer.headers["location"])
            if url.startswith(CALLBACK):
                return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    raise AssertionError("the provider never sent the browser back")


def test_an_issuer_alone_completes_the_pkce_flow(tether, server):
    started = tether.started(server.issuer)
    assert started["status"] == 201, started
    sent = {k: v[0] for k, v in parse_qs(urlsplit(started["authorization_url"]).query).items()}
    # Discovered: the endpoint, S256 PKCE, and offline_access (with prompt=consent) for a
    # refresh token, since the server lists that scope.
    assert started["authorization_url"].startswith(f"{server.issuer}/auth?")
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["prompt"] == "consent" and "offline_access" in sent["scope"].split()

    returned = browser(started["authorization_url"])
    assert returned["iss"] == server.issuer
    outcome = tether.finish(returned)
    assert outcome.get("status") == "active", outcome
    connection_id = outcome["connection_id"]

    record = tether.container.store.get_connection("acme", connection_id)
    payload = tether.container.secrets.get(
        tenant_id="acme", connection_id=connection_id, ref=record.credential_ref
    )
    assert payload.get(REFRESH_TOKEN_FIELD)  # issued for offline_access asked with consent
    tested = tether.test.post(f"/{connection_id}", json={}, headers=ACME).get_json()
    assert (tested["ok"], tested["sample"][0]["sub"]) == (True, "user-1"), tested

    # The refresh token works at the discovered token endpoint.
    before = tether.container.token_storage.access_token(record)
    refreshed = tether.connections.post(f"/{connection_id}/refresh", headers=ACME)
    assert refreshed.status_code == 200, refreshed.get_json()
    after = tether.container.store.get_connection("acme", connection_id)
    assert tether.container.token_storage.access_token(after) not in (None, before)

    # Deleting it revokes the grant at the discovered revocation endpoint (RFC 7009).
    refresh_token = tether.container.secrets.get(
        tenant_id="acme", connection_id=connection_id, ref=after.credential_ref
    )[REFRESH_TOKEN_FIELD]
    assert server.introspect(refresh_token, "web-app", SECRET)["active"] is True
    assert tether.connections.delete(f"/{connection_id}", headers=ACME).status_code == 204
    assert server.introspect(refresh_token, "web-app", SECRET)["active"] is False


def test_a_response_without_iss_is_refused_when_the_metadata_promises_one(tether, server):
    started = tether.started(server.issuer)
    returned = browser(started["authorization_url"])
    del returned["iss"]
    outcome = tether.finish(returned)
    assert outcome["error"] == "issuer_missing", outcome


def test_a_response_from_another_issuer_is_refused(tether, server):
    returned = browser(tether.started(server.issuer)["authorization_url"])
    returned["iss"] = "http://127.0.0.1:1"
    assert tether.finish(returned)["error"] == "issuer_mismatch"


def test_metadata_naming_another_issuer_is_refused(tether, server):
    # RFC 8414 §3.3: the document's issuer must be identical to the one configured.
    started = tether.started(f"{server.issuer}/")
    assert (started["status"], started["error"]["code"]) == (400, "OAUTH_ISSUER_MISMATCH")


def test_an_issuer_without_metadata_is_a_clear_error(tether, server):
    started = tether.started(f"{server.issuer}/nowhere")
    assert (started["status"], started["error"]["code"]) == (502, "OAUTH_DISCOVERY_FAILED")
