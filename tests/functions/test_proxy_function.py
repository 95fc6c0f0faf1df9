"""The `proxy` function against the local sample API on loopback: method, query and body
pass through with the connection's credentials attached; the caller's own credentials and
hop-by-hop headers never do; the answer comes back as sent, credential values masked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether_emulators.sample_api import AuthRequirement, SampleApi

ACME = bearer("acme")
TOKEN = "proxy-secret-token-0123456789"


@pytest.fixture
def api(sample_api_factory: Any) -> SampleApi:
    return sample_api_factory(items=30, auth=AuthRequirement(mode="bearer", secret=TOKEN))


class Clients:
    def __init__(self) -> None:
        self.proxy = create_app("proxy", SOURCE).test_client()
        self.connections = create_app("connections", SOURCE).test_client()

    def connect(self, api: SampleApi) -> str:
        created = self.connections.post(
            "/",
            json={
                "provider": "rest_api",
                "config": {"base_url": api.url, "auth_method": "bearer", "test_path": "/me"},
                "credentials": {"token": TOKEN},
            },
            headers=ACME,
        )
        assert created.status_code == 201, created.get_json()
        return str(created.get_json()["id"])


@pytest.fixture
def clients(settings: Settings, api: SampleApi) -> Iterator[Clients]:
    configured = settings.model_copy(
        update={
            "egress_allowlist": f"127.0.0.1:{api.port}",
            "rate_limit_per_minute": 6000,
            "rate_limit_burst": 50,
        }
    )
    container = Container(configured)
    reset_container(container)
    yield Clients()
    reset_container(None)
    container.close()


def test_a_request_passes_through_with_the_connections_credentials(clients, api):
    connection = clients.connect(api)
    answer = clients.proxy.post(
        f"/{connection}/echo?tag=a&tag=b&q=x%20y",
        data=json.dumps({"hello": "world"}),
        headers={
            **ACME,
            "Content-Type": "application/json",
            "X-Custom": "kept",
            "Cookie": "session=caller",
            "Connection": "close, X-Hop",
            "X-Hop": "dropped",
            "X-Forwarded-For": "10.0.0.1",
        },
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    echoed = answer.get_json()
    assert (echoed["method"], echoed["path"]) == ("POST", "/echo")
    assert echoed["query"] == {"tag": ["a", "b"], "q": ["x y"]}
    assert echoed["body"] == {"hello": "world"}
    sent = echoed["headers"]
    assert sent["x-custom"] == "kept"
    assert sent["authorization"] == "Bearer [REDACTED]"  # the connection's, masked on the way back
    for name in ("cookie", "x-hop", "x-forwarded-for"):
        assert name not in sent
    assert TOKEN not in answer.get_data(as_text=True)


def test_provider_statuses_come_back_as_sent_and_paths_stay_on_the_api(clients, api):
    connection = clients.connect(api)
    assert clients.proxy.get(f"/{connection}/status/418", headers=ACME).status_code == 418
    assert clients.proxy.get(f"/{connection}/me", headers=ACME).status_code == 200
    escape = clients.proxy.get(f"/{connection}/a/%2e%2e/me", headers=ACME)
    assert (escape.status_code, escape.get_json()["error"]["code"]) == (400, "INVALID_PATH")
    other = clients.proxy.get(f"/{connection}/me", headers=bearer("globex"))
    assert other.status_code == 404
    # the caller's own Authorization never replaces the connection's
    mine = clients.proxy.get(f"/{connection}/me", headers={**ACME, "X-Api-Key": "mine"})
    assert mine.status_code == 200
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in api.requests)
    assert all("x-api-key" not in {k.lower() for k in r.headers} for r in api.requests)


def test_bodies_over_the_limit_are_refused_before_anything_is_sent(clients, api, settings):
    connection = clients.connect(api)
    before = len(api.requests)
    big = b"x" * (settings.max_body_bytes + 1)
    refused = clients.proxy.put(f"/{connection}/echo", data=big, headers=ACME)
    assert refused.status_code == 413
    assert len(api.requests) == before


def test_the_path_goes_on_as_the_caller_encoded_it(clients, api):
    """An encoded "/" is data inside one segment (a file id, a key with a slash): it reaches
    the provider as %2F, not as a second segment; other escapes stay as written too."""
    connection = clients.connect(api)
    answer = clients.proxy.get(f"/{connection}/files/a%2Fb/x%20y%2fz?q=1", headers=ACME)
    assert answer.status_code == 404  # the sample API has no such file: it answered
    assert api.requests[-1].raw_path == "/files/a%2Fb/x%20y%2fz"
    assert api.requests[-1].query_string == "q=1"
    plain = clients.proxy.get(f"/{connection}/files/a/b", headers=ACME)
    assert plain.status_code == 404
    assert api.requests[-1].raw_path == "/files/a/b"


@pytest.mark.parametrize(
    "path",
    [
        "a/%2e%2e/me",  # an encoded dot segment
        "a/..%2Fme",  # a dot segment joined to the next by an encoded "/"
        "a%2F..%2F..%2Fme",  # the whole escape inside one encoded segment
        "a/%252e%252e/me",  # double-encoded, for a server that decodes twice
        "a/..%5Cme",  # an encoded backslash, which some servers split on
        "a/..;/me",  # a dot segment with a ;parameter, which servlet containers drop
        "a/..;x=1/me",
        "a/%2e%2e%3b/me",
        ".;/me",
    ],
)
def test_an_encoded_path_cannot_climb_out_of_the_api(clients, api, path):
    connection = clients.connect(api)
    before = len(api.requests)
    escape = clients.proxy.get(f"/{connection}/{path}", headers=ACME)
    assert (escape.status_code, escape.get_json()["error"]["code"]) == (400, "INVALID_PATH")
    assert len(api.requests) == before


@pytest.mark.parametrize("path", ["b%0Ac", "b%0D%0AX:%20y", "files/a/%0A/b"])
def test_a_path_with_a_line_feed_is_not_found_and_not_forwarded(clients, api, path):
    """Refused before the function's router by the framework's own ``<path:path>`` (as
    ``tether dev``'s), and by the router itself (tests/unit/test_api_router.py)."""
    connection = clients.connect(api)
    before = len(api.requests)
    refused = clients.proxy.get(f"/{connection}/{path}", headers=ACME)
    assert refused.status_code == 404
    assert len(api.requests) == before


def test_a_url_too_long_to_send_is_refused_before_anything_is_sent(clients, api):
    """The deployed server takes a request line of any length; one the outbound client could
    not build is the caller's to shorten, not an internal error."""
    connection = clients.connect(api)
    before = len(api.requests)
    refused = clients.proxy.get(
        f"/{connection}/echo", query_string={"ids": "x" * 70_000}, headers=ACME
    )
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (414, "URL_TOO_LONG")
    assert len(api.requests) == before


def test_headers_that_rewrite_paths_or_claim_client_addresses_are_not_forwarded(clients, api):
    """Some servers take the path from ``X-Original-URL``/``X-Rewrite-URL`` (IIS, Symfony)
    or trust an address header: neither is the caller's to set on the connection's API. And
    the answer, served from Tether's origin, is never sniffed or run as a page."""
    connection = clients.connect(api)
    spoofed = {
        "X-Original-URL": "/admin",
        "X-Rewrite-URL": "/admin",
        "X-Real-IP": "10.0.0.1",
        "X-Client-IP": "10.0.0.1",
        "True-Client-IP": "10.0.0.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Prefix": "/admin",
        "X-Forwarded-Server": "internal",
    }
    answer = clients.proxy.get(f"/{connection}/echo", headers={**ACME, **spoofed})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    sent = answer.get_json()["headers"]
    assert not {name.lower() for name in spoofed} & set(sent)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == "sandbox"
