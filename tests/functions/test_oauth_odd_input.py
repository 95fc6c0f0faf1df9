"""Odd addresses and unexpected failures in the OAuth flow, through the functions: a client
error with a clear code at `oauth_start` and at connection create, and once the state is
consumed, always a redirect to `return_to` carrying the error (never a 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.functions.oauth_harness import (
    ACME,
    RETURN_TO,
    Flow,
    clock,
    connect,
    flow,
    running_flow,
)
from tests.support.loopback_http import LoopbackHTTP, QuietHandler
from tether.config import Settings
from tether.domain.clock import FixedClock
from tether.oauth.model import OAuthClient, TokenSet
from tether_emulators.oauth_provider import OAuthProvider

__all__ = ["clock", "flow"]  # fixtures

UNPARSEABLE = (
    "http://[::1",
    "http://[::1/authorize",
    "http://0177.0.0.1/authorize",
    "http://127.0.0.1:99999/authorize",
)


@pytest.mark.parametrize("field", ["authorization_url", "token_url", "revocation_url"])
@pytest.mark.parametrize("url", UNPARSEABLE)
def test_an_unparseable_endpoint_is_a_client_error_at_start(flow, field, url):
    body = flow.custom_body()
    body["config"][field] = url
    response = flow.start.post("/", json=body, headers=ACME)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "INVALID_CONFIG" and field in error["message"]
    assert url not in error["message"]


@pytest.mark.parametrize("url", UNPARSEABLE)
def test_an_unparseable_config_url_is_refused_when_the_connection_is_created(flow, url):
    config = {"authorization_url": "https://idp.example.com/a", "token_url": url, "client_id": "x"}
    response = flow.connections.post(
        "/", json={"provider": "oauth2", "config": config}, headers=ACME
    )
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "INVALID_CONFIG"
    assert flow.connection_count() == 0


def test_a_token_url_httpx_cannot_parse_ends_in_an_error_redirect(flow):
    connection_id = connect(flow)
    again = flow.authorize({"connection_id": connection_id, "return_to": RETURN_TO})
    returned = flow.browser(again["authorization_url"])
    # A record written before its URLs were checked: the reconnect builds its client from it.
    store = flow.container.store
    record = store.get_connection("acme", connection_id)
    broken = record.model_copy(
        update={"config": {**record.config, "token_url": "http://0177.0.0.1/token"}}
    )
    store.update_connection(broken, expected_version=record.version)

    status, outcome, _ = flow.finish(returned)
    assert status == 302
    assert outcome["error"] == "invalid_config" and "token_url" in outcome["message"]
    assert flow.finish(returned)[1]["error"] == "state_used"  # the state was consumed once


class _Exploding:
    def exchange_code(
        self,
        client: OAuthClient,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        now: datetime,
    ) -> TokenSet:
        raise RuntimeError("a bug, not a provider answer")


def test_an_unexpected_failure_after_the_state_is_consumed_redirects_with_an_error(flow):
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    flow.container.__dict__["token_endpoint"] = _Exploding()  # the composition root's part

    status, outcome, _ = flow.finish(returned)
    assert (status, outcome["error"]) == (302, "server_error")
    assert "bug" not in outcome["message"]
    assert flow.connection_count() == 0
    audit = flow.container.store.list_audit("acme")
    assert [e.detail.get("error") for e in audit if e.action == "oauth.failed"] == ["server_error"]


class _TokenAnswer(QuietHandler):
    """A token endpoint that answers 200 with the access token the test sets."""

    access_token = ""

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps(
            {"access_token": self.access_token, "token_type": "Bearer", "expires_in": 3600}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def token_server() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP(_TokenAnswer, None)
    yield server
    server.close()


@pytest.fixture
def odd_flow(
    settings: Settings,
    oauth_provider: OAuthProvider,
    clock: FixedClock,
    token_server: LoopbackHTTP,
) -> Iterator[Flow]:
    allowed = f"127.0.0.1:{oauth_provider.port},127.0.0.1:{token_server.port}"
    yield from running_flow(settings, oauth_provider, clock, egress_allowlist=allowed)


@pytest.mark.parametrize(
    "access_token", ["at\r\nX-Injected: 1", "at\x00", "tok\u00e9n", "t" * 16385]
)
def test_an_access_token_no_request_could_carry_makes_no_connection(
    odd_flow: Flow, token_server: LoopbackHTTP, access_token: str
) -> None:
    """A token endpoint answering an access token that is not VSCHARs (RFC 6749 A.12), or
    is absurdly long, ends the flow with an error: no connection is left `active` with a
    token that every call would fail to send."""
    _TokenAnswer.access_token = access_token
    body = odd_flow.custom_body()
    body["config"]["token_url"] = f"http://127.0.0.1:{token_server.port}/token"
    started = odd_flow.authorize(body)
    status, outcome, _ = odd_flow.finish(odd_flow.browser(started["authorization_url"]))
    assert (status, outcome.get("error")) == (302, "token_exchange_failed"), outcome
    assert "bad_response" in outcome["message"]
    assert access_token[:10] not in outcome["message"]
    assert odd_flow.connection_count() == 0
