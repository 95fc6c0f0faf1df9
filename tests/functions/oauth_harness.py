"""The OAuth flow harness shared by the OAuth function tests: the deployed functions
(`oauth_start`, `oauth_callback`, `connections`) around one container, and the local OAuth
provider on loopback; the browser step is a real GET of the authorization URL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from functions_framework import create_app
from pydantic import SecretStr

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tether.bootstrap import Container, reset_container
from tether.config import OAuthClientCredentials, Settings
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


# The `demo` catalog entry's client, for tests of its flow.
DEMO_CLIENTS = {
    "demo": OAuthClientCredentials(
        client_id="tether-test", client_secret=SecretStr("tether-test-secret")
    )
}


def running_flow(
    settings: Settings, oauth_provider: OAuthProvider, clock: FixedClock, **update: Any
) -> Iterator[Flow]:
    """A :class:`Flow` on a container of its own for the duration of a fixture, with the
    settings in ``update`` over those every flow needs."""
    configured = settings.model_copy(
        update={
            "public_url": "http://127.0.0.1:8080",
            "allowed_return_urls": "https://app.example.com/integrations",
            # The local provider is on loopback: only an explicit allowlist reaches it.
            "egress_allowlist": f"127.0.0.1:{oauth_provider.port}",
            **update,
        }
    )
    container = Container(configured, clock=clock)
    reset_container(container)
    yield Flow(container, oauth_provider)
    reset_container(None)
    container.close()


@pytest.fixture
def flow(settings: Settings, oauth_provider: OAuthProvider, clock: FixedClock) -> Iterator[Flow]:
    yield from running_flow(settings, oauth_provider, clock)


def connect(flow: Flow, **overrides: Any) -> str:
    """Run the whole flow for tenant acme; returns the new connection's id."""
    started = flow.authorize(flow.custom_body(**overrides))
    status, outcome, _ = flow.finish(flow.browser(started["authorization_url"]))
    assert status == 302 and outcome.get("status") == "active", outcome
    return outcome["connection_id"]
