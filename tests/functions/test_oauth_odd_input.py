"""Odd addresses and unexpected failures in the OAuth flow, through the functions: a client
error with a clear code at `oauth_start` and at connection create, and once the state is
consumed, always a redirect to `return_to` carrying the error (never a 500)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.functions.oauth_harness import ACME, RETURN_TO, clock, connect, flow
from tether.oauth.model import OAuthClient, TokenSet

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
