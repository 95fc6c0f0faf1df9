"""Fetch output never carries the connection's own credentials: an upstream that echoes the
request (the local sample API's ``/echo``: method, path, query, headers, body) gets the bearer
token, the API key (header or query), the Basic password, or an OAuth connection's access
token, and none of them comes back in the fetch response. (Cursors: tests/unit/test_fetch.py.)"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.functions.oauth_harness import Flow, connect, running_flow
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether.domain.clock import FixedClock
from tether_emulators.oauth_provider import OAuthProvider
from tether_emulators.sample_api import AuthRequirement, SampleApi

ACME = bearer("acme")
SECRET = "s3cr3t/Value+With=Odd&Chars-0123456789"


@pytest.fixture
def clients(settings: Settings, sample_api_factory: Callable[..., SampleApi]) -> Iterator[Any]:
    """A container allowed to reach the sample API; yields a factory of ``(api, clients)``."""
    made: list[Container] = []

    def make(auth: AuthRequirement) -> tuple[SampleApi, FlaskClient, FlaskClient]:
        api = sample_api_factory(auth=auth)
        container = Container(
            settings.model_copy(update={"egress_allowlist": f"127.0.0.1:{api.port}"})
        )
        reset_container(container)
        made.append(container)
        connections = create_app("connections", SOURCE).test_client()
        fetch = create_app("fetch", SOURCE).test_client()
        return api, connections, fetch

    yield make
    reset_container(None)
    for container in made:
        container.close()


CASES: dict[str, tuple[AuthRequirement, dict[str, Any], dict[str, str]]] = {
    "bearer": (
        AuthRequirement(mode="bearer", secret=SECRET),
        {"auth_method": "bearer"},
        {"token": SECRET},
    ),
    "api_key_header": (
        AuthRequirement(mode="api_key_header", secret=SECRET, name="X-Api-Key"),
        {"auth_method": "api_key", "api_key_name": "X-Api-Key"},
        {"api_key": SECRET},
    ),
    "api_key_query": (
        AuthRequirement(mode="api_key_query", secret=SECRET, name="key"),
        {"auth_method": "api_key", "api_key_in": "query", "api_key_name": "key"},
        {"api_key": SECRET},
    ),
    "basic": (
        AuthRequirement(mode="basic", secret=SECRET, username="robot"),
        {"auth_method": "basic"},
        {"username": "robot", "password": SECRET},
    ),
}


def _forms(secret: str) -> list[str]:
    """The secret as sent, URL-encoded, and inside Basic credentials."""
    from urllib.parse import quote, quote_plus

    basic = base64.b64encode(f"robot:{secret}".encode()).decode()
    return [secret, quote(secret, safe=""), quote_plus(secret), basic]


def _create(
    connections: FlaskClient, api: SampleApi, config: dict[str, Any], credentials: dict[str, str]
) -> str:
    """A generic REST connection to ``api``; its id."""
    created = connections.post(
        "/",
        json={
            "provider": "rest_api",
            "config": {"base_url": api.url, "test_path": "/me", **config},
            "credentials": credentials,
        },
        headers=ACME,
    )
    assert created.status_code == 201, created.get_json()
    return str(created.get_json()["id"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_echoing_upstream_never_returns_the_credentials(clients: Any, case: str) -> None:
    requirement, config, credentials = CASES[case]
    api, connections, fetch = clients(requirement)
    cid = _create(connections, api, config, credentials)
    response = fetch.post(
        f"/{cid}",
        json={"path": "/echo", "params": {"q": "hello"}, "pagination": None},
        headers=ACME,
    )
    assert response.status_code == 200, response.get_json()
    (echo,) = response.get_json()["records"]
    assert echo["path"] == "/echo" and echo["query"]["q"] == ["hello"]  # the data is intact
    assert api.requests_to("/echo")  # and the upstream did receive the credentials
    text = response.get_data(as_text=True)
    for form in _forms(SECRET):
        assert form not in text, (case, form)
    assert "[REDACTED]" in text


@pytest.fixture
def oauth_flow(
    settings: Settings,
    oauth_provider: OAuthProvider,
    sample_api_factory: Callable[..., SampleApi],
    clock: FixedClock,
) -> Iterator[tuple[Flow, SampleApi]]:
    api = sample_api_factory()
    allowlist = f"127.0.0.1:{oauth_provider.port},127.0.0.1:{api.port}"
    for flow in running_flow(settings, oauth_provider, clock, egress_allowlist=allowlist):
        yield flow, api


@pytest.fixture
def clock() -> FixedClock:
    from datetime import UTC, datetime

    return FixedClock(datetime.now(UTC))


def test_an_oauth_connections_access_token_is_never_returned(
    oauth_flow: tuple[Flow, SampleApi],
) -> None:
    flow, api = oauth_flow
    body = flow.custom_body()
    body["config"]["api_base_url"] = api.url
    cid = connect(flow, config=body["config"])
    fetch = create_app("fetch", SOURCE).test_client()
    response = fetch.post(f"/{cid}", json={"path": "/echo", "pagination": None}, headers=ACME)
    assert response.status_code == 200, response.get_json()
    (sent,) = api.requests_to("/echo")
    authorization = sent.header("Authorization")
    assert authorization is not None and authorization.startswith("Bearer ")
    token = authorization.removeprefix("Bearer ")
    assert len(token) >= 16
    text = response.get_data(as_text=True)
    assert token not in text
    assert response.get_json()["records"][0]["headers"]["authorization"] == "Bearer [REDACTED]"


def test_endpoint_discovery_never_returns_the_credentials(clients: Any) -> None:
    # An upstream whose OpenAPI document quotes the key it was called with.
    requirement, config, credentials = CASES["bearer"]
    api, connections, fetch = clients(requirement)
    cid = _create(connections, api, config, credentials)
    document = {
        "openapi": "3.0.3",
        "info": {"title": "echo", "version": "1"},
        "paths": {"/items": {"get": {"summary": f"Called with Bearer {SECRET}"}}},
    }
    api.inject("/openapi.json", status=200, body=json.dumps(document), times=5)

    found = fetch.get(f"/{cid}/endpoints", headers=ACME)

    assert found.status_code == 200, found.get_json()
    paths = [e["path"] for e in found.get_json()["endpoints"]]
    assert "/items" in paths  # the document was read
    assert SECRET not in found.get_data(as_text=True)
