"""The OAuth2 code flow through the deployed functions (`oauth_start`, `oauth_callback`,
`connections`), against the local OAuth provider over real HTTP on loopback."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.functions.oauth_harness import ACME, GLOBEX, RETURN_TO, clock, flow

__all__ = ["clock", "flow"]  # fixtures


def test_the_whole_flow_makes_an_active_connection_that_can_call_the_api(flow):
    started = flow.authorize(flow.custom_body())
    # Times read as everywhere in the API: ISO 8601 in UTC with Z.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", started["expires_at"])
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


def test_a_head_request_completes_nothing_and_spends_no_state(flow):
    """HEAD is safe (RFC 9110 §9.2.1): a client or scanner that asks for the callback's
    headers must not redeem the code and spend the state the browser's GET then needs."""
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    head = flow.callback.head("/", query_string=returned)
    assert head.status_code == 200 and "Location" not in head.headers
    assert head.headers["Cache-Control"] == "no-store"
    assert flow.connection_count() == 0
    status, outcome, _ = flow.finish(returned)
    assert (status, outcome["status"]) == (302, "active")


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


def test_return_to_may_not_leave_the_allowed_path(flow):
    """The allowed prefix ``https://app.example.com/integrations`` names a path: a sibling
    that merely starts with the same letters, or a dot segment a browser resolves out of it
    (written plainly, percent-encoded or with backslashes), is not under it."""
    for bad in (
        "https://app.example.com/integrations-evil/done",
        "https://app.example.com/integrationsx",
        "https://app.example.com/integrations/../logout?next=https://evil.example.com",
        "https://app.example.com/integrations/%2e%2e/account",
        "https://app.example.com/integrations/.%2E/account",
        "https://app.example.com/integrations\\..\\account",
        "https://app.example.com/integrations/./../account",
    ):
        response = flow.start.post("/", json=flow.custom_body(return_to=bad), headers=ACME)
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["code"] == "RETURN_TO_NOT_ALLOWED"
    for good in (
        "https://app.example.com/integrations",
        "https://app.example.com/integrations/",
        "https://app.example.com/integrations/done?tab=apps#list",
        "https://app.example.com/integrations/v1.2/done..now",
    ):
        response = flow.start.post("/", json=flow.custom_body(return_to=good), headers=ACME)
        assert response.status_code == 201, (good, response.get_json())


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


# -- RFC 9207: the issuer of the authorization response ------------------------------------


def test_a_wrong_iss_in_the_answer_is_refused_before_the_code_is_redeemed(flow):
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    status, outcome, _ = flow.finish({**returned, "iss": "http://127.0.0.1:1"})
    assert (status, outcome["error"]) == (302, "issuer_mismatch")
    assert flow.connection_count() == 0
    assert flow.provider.stats.get("token.authorization_code", 0) == 0


def test_a_missing_iss_is_refused_when_the_issuer_is_known(flow):
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    stripped = {k: v for k, v in returned.items() if k != "iss"}
    status, outcome, _ = flow.finish(stripped)
    assert (status, outcome["error"]) == (302, "issuer_missing")
    assert outcome["message"]
    assert flow.connection_count() == 0
    assert flow.provider.stats.get("token.authorization_code", 0) == 0


def test_the_right_iss_is_accepted_and_no_iss_is_needed_without_a_known_issuer(flow):
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    assert returned["iss"] == flow.provider.issuer
    assert flow.finish(returned)[1]["status"] == "active"

    body = flow.custom_body()
    del body["config"]["issuer"]
    started = flow.authorize(body)
    returned = flow.browser(started["authorization_url"])
    stripped = {k: v for k, v in returned.items() if k != "iss"}
    assert flow.finish(stripped)[1]["status"] == "active"


def test_an_error_answer_from_another_issuer_is_refused_as_such(flow):
    flow.provider.deny_next()
    started = flow.authorize(flow.custom_body())
    returned = flow.browser(started["authorization_url"])
    assert returned["error"] == "access_denied"
    status, outcome, _ = flow.finish({**returned, "iss": "https://impostor.example.com"})
    assert (status, outcome["error"]) == (302, "issuer_mismatch")


def test_a_provider_without_a_configured_client_is_a_clear_409(flow):
    response = flow.start.post(
        "/", json={"provider": "hubspot", "return_to": RETURN_TO}, headers=ACME
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "OAUTH_CLIENT_NOT_CONFIGURED"
    assert "TETHER_OAUTH_CLIENT_HUBSPOT_ID" in error["message"]
