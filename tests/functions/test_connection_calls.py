"""`test_connection` and `fetch` through the deployed functions, against the local sample API on
loopback (allowlisted), and the SSRF guard without the allowlist."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.unit.test_fetch_local_api import STYLES
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether_emulators.sample_api import AuthRequirement, SampleApi

ACME = bearer("acme")
TOKEN = "test-secret-token-0123456789"


@pytest.fixture
def api(sample_api_factory) -> SampleApi:
    return sample_api_factory(items=1234, auth=AuthRequirement(mode="bearer", secret=TOKEN))


class Clients:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.test = create_app("test_connection", SOURCE).test_client()
        self.fetch = create_app("fetch", SOURCE).test_client()
        self.connections = create_app("connections", SOURCE).test_client()

    def rest_api(self, api: SampleApi, **config: Any) -> dict[str, Any]:
        return {
            "provider": "rest_api",
            "config": {"base_url": api.url, "auth_method": "bearer", "test_path": "/me", **config},
            "credentials": {"token": TOKEN},
        }

    def outcome(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.test.post("/", json=body, headers=ACME)
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())


def _container(
    settings: Settings, allow: list[str], *, test_timeout: float = 1.0
) -> Iterator[Clients]:
    configured = settings.model_copy(
        update={
            "egress_allowlist": ",".join(allow) or None,
            "connection_test_timeout_seconds": test_timeout,
            "rate_limit_per_minute": 6000,
            "rate_limit_burst": 50,
        }
    )
    container = Container(configured)
    reset_container(container)
    yield Clients(container)
    reset_container(None)


@pytest.fixture
def clients(settings: Settings, api: SampleApi) -> Iterator[Clients]:
    yield from _container(settings, [f"127.0.0.1:{api.port}"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_outcome_code_comes_from_its_situation(clients, api, sample_api_factory):
    ok = clients.outcome(clients.rest_api(api))
    assert (ok["ok"], ok["code"], ok["http_status"]) == (True, "OK", 200)
    assert ok["sample"] and ok["latency_ms"] is not None

    cases = {
        "INVALID_CREDENTIALS": {**clients.rest_api(api), "credentials": {"token": "wrong"}},
        "PERMISSION_DENIED": {**clients.rest_api(api), "credentials": {"token": "forbidden"}},
        "NOT_FOUND": clients.rest_api(api, test_path="/nothing-here"),
        "RATE_LIMITED": clients.rest_api(api, test_path="/status/429"),
        "PROVIDER_ERROR": clients.rest_api(api, test_path="/status/500"),
        "TIMEOUT": clients.rest_api(api, test_path="/slow?seconds=3"),
        "INVALID_CONFIG": {"provider": "rest_api", "config": {"auth_method": "bearer"}},
    }
    for code, body in cases.items():
        outcome = clients.outcome(body)
        assert (outcome["ok"], outcome["code"]) == (False, code), (code, outcome)
        assert outcome["suggestion"], code
        assert TOKEN not in str(outcome)


def test_connection_and_tls_failures(settings, sample_api_factory):
    closed = _closed_port()
    tls_api = sample_api_factory(tls=True)
    # No case here waits for a slow answer: a timeout far above a refused connect's retries,
    # so that a loaded machine cannot turn the refusal into a TIMEOUT.
    allow = [f"127.0.0.1:{closed}", f"localhost:{tls_api.port}"]
    for clients in _container(settings, allow, test_timeout=15.0):
        refused = clients.outcome(
            {
                "provider": "rest_api",
                "config": {
                    "base_url": f"http://127.0.0.1:{closed}",
                    "auth_method": "none",
                    "test_path": "/",
                },
            }
        )
        assert refused["code"] == "CONNECTION_FAILED" and refused["suggestion"]
        untrusted = clients.outcome(
            {
                "provider": "rest_api",
                "config": {
                    "base_url": f"https://localhost:{tls_api.port}",
                    "auth_method": "none",
                    "test_path": "/me",
                },
            }
        )
        assert untrusted["code"] == "TLS_ERROR" and untrusted["suggestion"]


BLOCKED = [
    "http://169.254.169.254/",
    "http://metadata.google.internal/",
    "http://0.0.0.0:80/",
    "http://127.1/",
    "http://2130706433/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
]


def test_internal_destinations_are_blocked_without_the_allowlist(settings, api):
    for clients in _container(settings, []):
        before = len(api.requests)
        for url in [*BLOCKED, api.url]:
            outcome = clients.outcome(
                {
                    "provider": "rest_api",
                    "config": {
                        "base_url": url.rstrip("/"),
                        "auth_method": "none",
                        "test_path": "/",
                    },
                }
            )
            assert outcome["code"] == "BLOCKED_DESTINATION", (url, outcome)
            assert outcome["suggestion"]
        assert len(api.requests) == before  # no connection reached the loopback API


def test_a_redirect_to_loopback_is_blocked(clients, api, sample_api_factory):
    other = sample_api_factory()
    target = f"http://127.0.0.1:{other.port}/me"
    outcome = clients.outcome(clients.rest_api(api, test_path=f"/redirect?to={target}"))
    assert outcome["code"] == "BLOCKED_DESTINATION", outcome
    assert other.requests == []


def _stored(clients: Clients, api: SampleApi, **config: Any) -> str:
    created = clients.connections.post("/", json=clients.rest_api(api, **config), headers=ACME)
    assert created.status_code == 201, created.get_json()
    return str(created.get_json()["id"])


def test_a_stored_test_is_recorded_on_the_connection(clients, api):
    connection_id = _stored(clients, api)
    outcome = clients.test.post(f"/{connection_id}", headers=ACME).get_json()
    assert outcome["code"] == "OK"
    shown = clients.connections.get(f"/{connection_id}", headers=ACME).get_json()
    assert shown["last_test"]["ok"] is True and shown["last_test"]["code"] == "OK"


@pytest.mark.parametrize("style", list(STYLES))
def test_fetch_walks_every_style_to_the_end(clients, api, style):
    connection_id = _stored(clients, api)
    request = {**STYLES[style], "max_pages": 1000, "max_records": 100_000}
    response = clients.fetch.post(f"/{connection_id}", json=request, headers=ACME)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert len(result["records"]) == 1234
    assert result["truncated"] is False and result["next_cursor"] is None


def test_fetch_survives_429_and_503_and_stops_on_a_loop(clients, api):
    connection_id = _stored(clients, api)
    api.inject("/page/items", status=429, times=1, retry_after="1")
    api.inject("/page/items", status=503, times=1)
    request = {**STYLES["page"], "max_pages": 1000, "max_records": 100_000}
    result = clients.fetch.post(f"/{connection_id}", json=request, headers=ACME).get_json()
    assert len(result["records"]) == 1234

    loop = clients.fetch.post(
        f"/{connection_id}",
        json={
            "path": "/loop/items",
            "records_path": "data",
            "pagination": STYLES["cursor"]["pagination"],
        },
        headers=ACME,
    )
    assert loop.status_code == 400 and loop.get_json()["error"]["code"] == "PAGINATION_LOOP"


def test_fetch_never_exceeds_the_connection_rate(clients, api):
    connection_id = _stored(clients, api, rate_limit_per_minute=300, rate_limit_burst=2)
    api.clear_requests()
    request = {**STYLES["offset"], "max_pages": 12, "max_records": 100_000}
    result = clients.fetch.post(f"/{connection_id}", json=request, headers=ACME).get_json()
    assert result["pages"] == 12
    # 300/min = one every 0.2 s after a burst of 2: never more than 2 + 1 in any 0.2 s window,
    # and never more than 2 + 5 in any second.
    assert api.max_requests_in(1.0, "/offset") <= 7
    assert api.max_requests_in(0.2, "/offset") <= 3


@pytest.mark.parametrize("odd", ["\xb2", "\u0661", "9" * 40])
def test_a_records_path_with_odd_digits_is_not_a_crash(clients, api, odd):
    """ "²" passes str.isdigit() and fails int(): a tenant's records_path indexing a list with
    it (or with digits of another script, or thousands of them) finds nothing, never a 500."""
    body = clients.rest_api(api, test_path="/cursor/items", records_path=f"data.{odd}")
    outcome = clients.outcome(body)
    assert outcome["ok"] is True and outcome["code"] == "OK"


def test_a_default_pagination_fetch_cannot_use_is_a_400_not_a_crash(clients, api):
    # The connection schema asks only for the pagination's type: a default missing the fields
    # its type needs is saved, and every fetch that relies on it meets it.
    connection_id = _stored(clients, api, pagination={"type": "cursor"})

    response = clients.fetch.post(
        f"/{connection_id}", json={"path": "/cursor/items", "records_path": "data"}, headers=ACME
    )

    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "INVALID_PAGINATION"
    assert "cursor_path" in error["message"]
    # A request that names its own pagination does not need the default.
    own = clients.fetch.post(
        f"/{connection_id}",
        json={**STYLES["cursor"], "max_pages": 1},
        headers=ACME,
    )
    assert own.status_code == 200, own.get_json()


def test_an_api_description_nested_too_deep_is_passed_over_not_a_crash(clients, api):
    connection_id = _stored(clients, api)
    api.inject("/openapi.json", status=200, body="[" * 200_000 + "]" * 200_000)
    document = {"openapi": "3.0.0", "paths": {"/items": {"get": {"summary": "Items"}}}}
    api.inject("/swagger.json", status=200, body=json.dumps(document))

    response = clients.fetch.get(f"/{connection_id}/endpoints", headers=ACME)

    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["spec_url"].endswith("/swagger.json")
    assert {"method": "GET", "path": "/items", "summary": "Items", "source": "openapi"} in (
        body["endpoints"]
    )
