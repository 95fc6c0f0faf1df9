"""A tenant's world for action tests: the provider API simulators (checking every request
against the trimmed published descriptions in ``tether_emulators.provider_descriptions``), the
local OAuth provider standing in for each provider's authorization server, and a container
whose catalog points the action providers at them. Connections are made through the real
OAuth flow (``oauth_start``, the browser's GET, ``oauth_callback``) or, for API keys,
``POST /connections``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from flask.testing import FlaskClient
from functions_framework import create_app
from pydantic import SecretStr

from tests.conftest import bearer
from tether.bootstrap import Container, reset_container
from tether.catalog import Catalog, OAuth2Auth, Provider, load_catalog
from tether.config import OAuthClientCredentials, Settings
from tether.domain.clock import Clock
from tether_emulators.oauth_provider import OAuthProvider
from tether_emulators.provider_apis import ProviderApis
from tether_emulators.provider_descriptions import load_descriptions
from tether_emulators.provider_simulators import SIMULATED_PROVIDERS, XERO_TENANT

SOURCE = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")
STRIPE_KEY = "sk_test_actions0123456789"
RETURN_TO = "https://app.example.com/integrations/done"
# The providers with typed actions: those the simulators answer.
ACTION_PROVIDERS = SIMULATED_PROVIDERS


def descriptions() -> dict[str, dict[str, Any]]:
    return load_descriptions()


def _base_path(provider: Provider) -> str:
    base = provider.api_base_url or ""
    if base.startswith("https://{"):
        base = "https://host" + base[base.index("}") + 1 :]
    return urlsplit(base).path.rstrip("/")


def simulated_catalog(
    apis: ProviderApis, oauth: OAuthProvider, *, rate_limits: bool = True
) -> Catalog:
    """The packaged catalog with the action providers' APIs on the simulators and their
    authorization servers on the local OAuth provider (``rate_limits=False``: without the
    providers' own rate limits, for benchmarks)."""
    changed = []
    for provider in load_catalog():
        if provider.key not in ACTION_PROVIDERS:
            changed.append(provider)
            continue
        update: dict[str, Any] = {"api_base_url": apis.url + _base_path(provider)}
        if not rate_limits:
            update["rate_limit"] = None
        if isinstance(provider.auth, OAuth2Auth):
            update["auth"] = provider.auth.model_copy(
                update={
                    "authorization_url": oauth.authorization_url,
                    "token_url": oauth.token_url,
                    "revocation_url": oauth.revocation_url,
                    "issuer": oauth.issuer,
                    "webhook_route_from": None,
                }
            )
        changed.append(provider.model_copy(update=update))
    return Catalog(changed)


class World:
    def __init__(self, container: Container, apis: ProviderApis, oauth: OAuthProvider) -> None:
        self.container = container
        self.apis = apis
        self.oauth = oauth
        self.actions: FlaskClient = create_app("actions", SOURCE).test_client()
        self.connections: FlaskClient = create_app("connections", SOURCE).test_client()
        self.start: FlaskClient = create_app("oauth_start", SOURCE).test_client()
        self.callback: FlaskClient = create_app("oauth_callback", SOURCE).test_client()

    def connect(
        self,
        provider: str,
        headers: dict[str, str],
        *,
        config: dict[str, Any] | None = None,
        scopes: list[str] | None = None,
    ) -> str:
        """Connect ``provider`` for the tenant of ``headers``; the new connection's id."""
        if provider == "stripe":
            created = self.connections.post(
                "/",
                json={"provider": "stripe", "credentials": {"api_key": STRIPE_KEY}},
                headers=headers,
            )
            assert created.status_code == 201, created.get_json()
            return str(created.get_json()["id"])
        body: dict[str, Any] = {
            "provider": provider,
            "config": config or {},
            "return_to": RETURN_TO,
        }
        if scopes is not None:
            body["scopes"] = scopes
        started = self.start.post("/", json=body, headers=headers)
        assert started.status_code == 201, started.get_json()
        # A connect session's flow is bound to its browser by a cookie: this browser has it
        # (the callback function answers at its root here, hence no path).
        for header in started.headers.getlist("Set-Cookie"):
            name, _, value = header.split(";", 1)[0].partition("=")
            self.callback.set_cookie(name, value)
        answer = httpx.get(started.get_json()["authorization_url"], follow_redirects=False)
        assert answer.status_code == 302, answer.text
        query = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
        finished = self.callback.get("/", query_string=query)
        assert finished.status_code == 302, finished.get_data(as_text=True)
        location = finished.headers["Location"]
        outcome = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert outcome.get("status") == "active", outcome
        return outcome["connection_id"]

    def run(
        self,
        connection_id: str,
        action: str,
        body: dict[str, Any],
        headers: dict[str, str],
        *,
        key: str | None = None,
    ) -> Any:
        extra = {"Idempotency-Key": key} if key else {}
        return self.actions.post(
            f"/{connection_id}/{action}", json=body, headers={**headers, **extra}
        )


def running_world(
    settings: Settings,
    *,
    rate_limits: bool = True,
    allow: tuple[str, ...] = (),
    clock: Clock | None = None,
) -> Iterator[World]:
    """``allow``: more loopback ``host:port`` the outbound client may reach; ``clock``: the
    container's (default: the system's)."""
    with OAuthProvider() as oauth:
        keys = {STRIPE_KEY}
        with ProviderApis(
            descriptions().values(), accepts=lambda t: t in keys or oauth.is_active(t)
        ) as apis:
            apis.state.xero_tenants.add(XERO_TENANT)
            client = OAuthClientCredentials(
                client_id="tether-test", client_secret=SecretStr("tether-test-secret")
            )
            configured = settings.model_copy(
                update={
                    "public_url": "http://127.0.0.1:8080",
                    "allowed_return_urls": "https://app.example.com/integrations",
                    "egress_allowlist": ",".join(
                        [f"127.0.0.1:{oauth.port}", f"127.0.0.1:{apis.port}", *allow]
                    ),
                    "oauth_clients": {key: client for key in ACTION_PROVIDERS},
                    "rate_limit_per_minute": 6000 if rate_limits else 10_000_000,
                    "rate_limit_burst": 100 if rate_limits else 100_000,
                }
            )
            catalog = simulated_catalog(apis, oauth, rate_limits=rate_limits)
            container = Container(configured, catalog=catalog, clock=clock)
            reset_container(container)
            try:
                yield World(container, apis, oauth)
            finally:
                reset_container(None)
                container.close()


ACME = bearer("acme")
GLOBEX = bearer("globex")
