"""The local OAuth 2.0 provider, over real HTTP on loopback with httpx: the code flow with PKCE
(RFC 6749, RFC 7636, RFC 9207), client authentication, refresh rotation and reuse detection,
revocation (RFC 7009), the protected API, and the test levers (injections, denial)."""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.module_process import module_process
from tether_emulators.oauth_provider import ClientSpec, OAuthProvider, s256

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
CLIENT_ID = "tether-test"
CLIENT_SECRET = "tether-test-secret"
REDIRECT = "http://127.0.0.1:9/oauth/callback?tenant=t1"
BASIC = (CLIENT_ID, CLIENT_SECRET)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the module (making one costs more than most tests here)."""
    with httpx.Client(timeout=5.0, follow_redirects=False) as client:
        yield client


def query_of(location: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def authorize(http: httpx.Client, provider: OAuthProvider, **overrides: Any) -> httpx.Response:
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "read write",
        "state": "state-123",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return http.get(
        provider.authorization_url, params={k: v for k, v in params.items() if v is not None}
    )


def get_code(http: httpx.Client, provider: OAuthProvider, **overrides: Any) -> str:
    response = authorize(http, provider, **overrides)
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])["code"]


def token(
    http: httpx.Client,
    provider: OAuthProvider,
    data: dict[str, str],
    auth: tuple[str, str] | None = BASIC,
) -> httpx.Response:
    return http.post(provider.token_url, data=data, auth=auth)


def exchange(
    http: httpx.Client, provider: OAuthProvider, code: str, verifier: str | None = VERIFIER
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    return token(http, provider, data)


def tokens(http: httpx.Client, provider: OAuthProvider, **overrides: Any) -> dict[str, Any]:
    response = exchange(http, provider, get_code(http, provider, **overrides))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(http: httpx.Client, provider: OAuthProvider, refresh_token: str) -> httpx.Response:
    return token(http, provider, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def me(http: httpx.Client, provider: OAuthProvider, access_token: str) -> httpx.Response:
    return http.get(provider.api_url, headers={"Authorization": f"Bearer {access_token}"})


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]


# -- the code flow ----------------------------------------------------------------------------


def test_full_code_flow_with_pkce(http, oauth_provider):
    assert s256(VERIFIER) == CHALLENGE
    assert oauth_provider.issuer == oauth_provider.url
    assert oauth_provider.url.startswith("http://127.0.0.1:")

    response = authorize(http, oauth_provider)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:9/oauth/callback?")
    answer = query_of(location)
    assert answer["tenant"] == "t1"  # the redirect URI's own query is kept
    assert answer["state"] == "state-123"
    assert answer["iss"] == oauth_provider.issuer
    assert len(answer["code"]) >= 32

    response = exchange(http, oauth_provider, answer["code"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read write"
    assert body["access_token"] != body["refresh_token"]
    assert oauth_provider.is_active(body["access_token"])
    assert oauth_provider.active_refresh_tokens() == [body["refresh_token"]]

    profile = me(http, oauth_provider, body["access_token"])
    assert profile.status_code == 200
    assert profile.json()["sub"] == "user-1"
    assert profile.json()["client_id"] == CLIENT_ID
    assert profile.json()["scope"] == "read write"

    stats = oauth_provider.stats
    assert stats["authorize"] == 1
    assert stats["token"] == 1
    assert stats["token.authorization_code"] == 1
    assert stats["api"] == 1
    [record] = oauth_provider.token_requests
    assert record.grant_type == "authorization_code"
    assert record.auth_method == "client_secret_basic"
    assert record.client_id == CLIENT_ID
    assert record.status == 200
    assert not record.injected


def test_metadata_lists_the_endpoints(http, oauth_provider):
    body = http.get(oauth_provider.metadata_url).json()
    assert body["issuer"] == oauth_provider.issuer
    assert body["authorization_endpoint"] == oauth_provider.authorization_url
    assert body["token_endpoint"] == oauth_provider.token_url
    assert body["revocation_endpoint"] == oauth_provider.revocation_url
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["authorization_response_iss_parameter_supported"] is True


def test_configured_issuer_is_sent_as_iss(http, oauth_provider):
    oauth_provider.issuer = "https://accounts.example.test"
    answer = query_of(authorize(http, oauth_provider).headers["location"])
    assert answer["iss"] == "https://accounts.example.test"
    oauth_provider.issuer = None
    answer = query_of(authorize(http, oauth_provider, deny="1").headers["location"])
    assert answer["iss"] == oauth_provider.url


def test_wrong_verifier_is_invalid_grant_and_burns_the_code(http, oauth_provider):
    code = get_code(http, oauth_provider)
    assert_error(exchange(http, oauth_provider, code, verifier="x" * 43), 400, "invalid_grant")
    assert_error(exchange(http, oauth_provider, code), 400, "invalid_grant")
    assert oauth_provider.active_refresh_tokens() == []


def test_missing_or_malformed_verifier_is_refused(http, oauth_provider):
    assert_error(
        exchange(http, oauth_provider, get_code(http, oauth_provider), verifier=None),
        400,
        "invalid_grant",
    )
    assert_error(
        exchange(http, oauth_provider, get_code(http, oauth_provider), verifier="short"),
        400,
        "invalid_grant",
    )


def test_verifier_without_challenge_is_refused_when_pkce_is_optional(http, oauth_provider):
    oauth_provider.require_pkce = False
    code = get_code(http, oauth_provider, code_challenge=None, code_challenge_method=None)
    assert_error(exchange(http, oauth_provider, code), 400, "invalid_grant")
    code = get_code(http, oauth_provider, code_challenge=None, code_challenge_method=None)
    assert exchange(http, oauth_provider, code, verifier=None).status_code == 200


def test_code_reuse_is_invalid_grant_and_revokes_its_tokens(http, oauth_provider):
    code = get_code(http, oauth_provider)
    first = exchange(http, oauth_provider, code).json()
    other = tokens(http, oauth_provider)  # another authorization, untouched

    assert_error(exchange(http, oauth_provider, code), 400, "invalid_grant")

    assert not oauth_provider.is_active(first["access_token"])
    assert not oauth_provider.is_active(first["refresh_token"])
    assert me(http, oauth_provider, first["access_token"]).status_code == 401
    assert_error(refresh(http, oauth_provider, first["refresh_token"]), 400, "invalid_grant")
    assert me(http, oauth_provider, other["access_token"]).status_code == 200


def test_code_is_bound_to_client_redirect_uri_and_lifetime(http, oauth_provider):
    oauth_provider.add_client(ClientSpec("other-client", "other-secret"))
    code = get_code(http, oauth_provider)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    other = token(http, oauth_provider, data, auth=("other-client", "other-secret"))
    assert_error(other, 400, "invalid_grant")
    wrong_redirect = dict(data, redirect_uri="http://127.0.0.1:9/elsewhere")
    assert_error(token(http, oauth_provider, wrong_redirect), 400, "invalid_grant")
    assert token(http, oauth_provider, data).status_code == 200

    late = get_code(http, oauth_provider)
    oauth_provider.advance_clock(61)
    assert_error(exchange(http, oauth_provider, late), 400, "invalid_grant")


# -- client authentication --------------------------------------------------------------------


def test_basic_auth_decodes_form_encoded_credentials(http, oauth_provider_factory):
    secret = "s3cr:t+/%é &x=1"
    provider = oauth_provider_factory(
        clients={"app-1": ClientSpec("app-1", secret, auth_methods={"client_secret_basic"})}
    )
    data = {
        "grant_type": "authorization_code",
        "code": get_code(http, provider, client_id="app-1"),
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    encoded = f"{urllib.parse.quote_plus('app-1')}:{urllib.parse.quote_plus(secret)}"
    header = "Basic " + base64.b64encode(encoded.encode()).decode()
    response = http.post(provider.token_url, data=data, headers={"Authorization": header})
    assert response.status_code == 200, response.text

    # The same credentials not form-encoded first (a common client bug) are refused.
    raw = "Basic " + base64.b64encode(f"app-1:{secret}".encode()).decode()
    data["code"] = get_code(http, provider, client_id="app-1")
    refused = http.post(provider.token_url, data=data, headers={"Authorization": raw})
    assert_error(refused, 401, "invalid_client")
    assert refused.headers["www-authenticate"].startswith("Basic ")
    # client_secret_post is not enabled for this client.
    post = http.post(
        provider.token_url, data={**data, "client_id": "app-1", "client_secret": secret}
    )
    assert_error(post, 401, "invalid_client")


def test_post_auth_with_a_secret_needing_form_encoding(http, oauth_provider_factory):
    secret = "p&ss=w+rd %/?"
    provider = oauth_provider_factory(clients={"app": ClientSpec("app", secret)})
    data = {
        "grant_type": "authorization_code",
        "code": get_code(http, provider, client_id="app"),
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_id": "app",
        "client_secret": secret,
    }
    response = http.post(provider.token_url, data=data)
    assert response.status_code == 200, response.text
    assert provider.token_requests[-1].auth_method == "client_secret_post"


def test_json_token_request_is_accepted(http, oauth_provider):
    code = get_code(http, oauth_provider)
    payload = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    response = http.post(oauth_provider.token_url, json=payload)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_client_authentication_failures(http, oauth_provider):
    data = {"grant_type": "refresh_token", "refresh_token": "whatever"}
    wrong = token(http, oauth_provider, data, auth=(CLIENT_ID, "wrong"))
    assert_error(wrong, 401, "invalid_client")
    assert 'Basic realm="' in wrong.headers["www-authenticate"]
    assert_error(token(http, oauth_provider, data, auth=None), 401, "invalid_client")
    assert_error(token(http, oauth_provider, data, auth=("nobody", "x")), 401, "invalid_client")
    both = token(http, oauth_provider, {**data, "client_secret": CLIENT_SECRET})
    assert_error(both, 400, "invalid_request")
    # Without a secret a confidential client is not authenticated.
    assert_error(
        token(http, oauth_provider, {**data, "client_id": CLIENT_ID}, auth=None),
        401,
        "invalid_client",
    )
    assert [r.auth_method for r in oauth_provider.token_requests] == [None] * 5


def test_public_client_sends_only_its_id(http, oauth_provider_factory):
    provider = oauth_provider_factory(
        clients={"spa": ClientSpec("spa", None, redirect_uris=[REDIRECT])}
    )
    data = {
        "grant_type": "authorization_code",
        "code": get_code(http, provider, client_id="spa", redirect_uri=None),
        "code_verifier": VERIFIER,
        "client_id": "spa",
    }
    response = http.post(provider.token_url, data=data)
    assert response.status_code == 200, response.text
    assert provider.token_requests[-1].auth_method == "none"
    with_secret = http.post(provider.token_url, data={**data, "client_secret": "x"})
    assert_error(with_secret, 401, "invalid_client")


def test_token_request_errors(http, oauth_provider):
    assert_error(token(http, oauth_provider, {}), 400, "invalid_request")
    assert_error(
        token(http, oauth_provider, {"grant_type": "password"}), 400, "unsupported_grant_type"
    )
    assert_error(
        token(http, oauth_provider, {"grant_type": "authorization_code", "code": "nope"}),
        400,
        "invalid_grant",
    )
    repeated = http.post(
        oauth_provider.token_url,
        content="grant_type=refresh_token&refresh_token=a&refresh_token=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=BASIC,
    )
    assert_error(repeated, 400, "invalid_request")
    assert http.get(oauth_provider.token_url).status_code == 405
    assert oauth_provider.stats["token.password"] == 1
    assert oauth_provider.stats["token.missing"] == 1
    assert oauth_provider.stats["token.refresh_token"] == 1


# -- refresh tokens ---------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(http, oauth_provider):
    first = tokens(http, oauth_provider)
    response = refresh(http, oauth_provider, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "read write"
    assert oauth_provider.active_refresh_tokens() == [second["refresh_token"]]
    assert not oauth_provider.is_active(first["refresh_token"])
    assert me(http, oauth_provider, second["access_token"]).status_code == 200
    assert me(http, oauth_provider, first["access_token"]).status_code == 200  # until it expires

    assert oauth_provider.stats["token.refresh_token"] == 1
    refreshes = [r for r in oauth_provider.token_requests if r.grant_type == "refresh_token"]
    assert [(r.status, r.auth_method) for r in refreshes] == [(200, "client_secret_basic")]


def test_refresh_token_reuse_revokes_the_family(http, oauth_provider):
    first = tokens(http, oauth_provider)
    unrelated = tokens(http, oauth_provider)
    second = refresh(http, oauth_provider, first["refresh_token"]).json()
    third = refresh(http, oauth_provider, second["refresh_token"]).json()

    assert_error(refresh(http, oauth_provider, first["refresh_token"]), 400, "invalid_grant")

    for issued in (first, second, third):
        assert me(http, oauth_provider, issued["access_token"]).status_code == 401
    assert_error(refresh(http, oauth_provider, third["refresh_token"]), 400, "invalid_grant")
    assert oauth_provider.active_refresh_tokens() == [unrelated["refresh_token"]]
    assert me(http, oauth_provider, unrelated["access_token"]).status_code == 200


def test_rotation_without_reuse_detection(http, oauth_provider_factory):
    provider = oauth_provider_factory(reuse_detection=False)
    first = tokens(http, provider)
    second = refresh(http, provider, first["refresh_token"]).json()
    assert_error(refresh(http, provider, first["refresh_token"]), 400, "invalid_grant")
    assert provider.is_active(second["refresh_token"])
    assert refresh(http, provider, second["refresh_token"]).status_code == 200


def test_concurrent_refreshes_of_one_token_succeed_once(http, oauth_provider):
    first = tokens(http, oauth_provider)
    results: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        with httpx.Client(timeout=5.0) as client:
            barrier.wait()
            results.append(refresh(client, oauth_provider, first["refresh_token"]).status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 400, 400, 400]
    # The losers presented a rotated token: with reuse detection the family is gone.
    assert oauth_provider.active_refresh_tokens() == []


def test_no_rotation_keeps_the_refresh_token(http, oauth_provider_factory):
    provider = oauth_provider_factory(rotate_refresh_tokens=False)
    first = tokens(http, provider)
    for _ in range(2):
        response = refresh(http, provider, first["refresh_token"])
        assert response.status_code == 200
        assert "refresh_token" not in response.json()
    assert provider.active_refresh_tokens() == [first["refresh_token"]]

    provider.configure(echo_refresh_token=True)
    echoed = refresh(http, provider, first["refresh_token"]).json()
    assert echoed["refresh_token"] == first["refresh_token"]


def test_expires_in_can_be_left_out(http, oauth_provider_factory):
    provider = oauth_provider_factory(send_expires_in=False)
    body = tokens(http, provider)
    assert "expires_in" not in body
    assert body["access_token"] and body["refresh_token"]
    provider.send_expires_in = True
    assert refresh(http, provider, body["refresh_token"]).json()["expires_in"] == 3600


def test_access_tokens_expire_with_the_configured_lifetime(http, oauth_provider):
    oauth_provider.access_token_lifetime = 120
    body = tokens(http, oauth_provider)
    assert body["expires_in"] == 120
    oauth_provider.advance_clock(121)
    response = me(http, oauth_provider, body["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert refresh(http, oauth_provider, body["refresh_token"]).status_code == 200


def test_refresh_scope_can_narrow_but_not_widen(http, oauth_provider):
    body = tokens(http, oauth_provider)
    data = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    wider = token(http, oauth_provider, {**data, "scope": "read admin"})
    assert_error(wider, 400, "invalid_scope")
    narrower = token(http, oauth_provider, {**data, "scope": "read"})
    assert narrower.json()["scope"] == "read"
    again = refresh(http, oauth_provider, narrower.json()["refresh_token"])
    assert again.json()["scope"] == "read write"  # the grant keeps its original scope


# -- injections -------------------------------------------------------------------------------


def test_injected_503_has_a_non_json_body_and_is_not_processed(http, oauth_provider):
    body = tokens(http, oauth_provider)
    injection = oauth_provider.inject("token")
    response = refresh(http, oauth_provider, body["refresh_token"])
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert injection.remaining == 0
    assert oauth_provider.is_active(body["refresh_token"])
    assert refresh(http, oauth_provider, body["refresh_token"]).status_code == 200
    statuses = [(r.status, r.injected) for r in oauth_provider.token_requests[1:]]
    assert statuses == [(503, True), (200, False)]


def test_injected_429_with_retry_after(http, oauth_provider):
    body = tokens(http, oauth_provider)
    oauth_provider.inject("token", status=429, retry_after="7", times=2)
    for _ in range(2):
        response = refresh(http, oauth_provider, body["refresh_token"])
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
    assert refresh(http, oauth_provider, body["refresh_token"]).status_code == 200


def test_injected_delay_then_a_normal_answer(http, oauth_provider):
    body = tokens(http, oauth_provider)
    oauth_provider.inject("token", status=None, delay=0.3)
    started = time.monotonic()
    response = refresh(http, oauth_provider, body["refresh_token"])
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    assert response.json()["refresh_token"] != body["refresh_token"]


def test_injected_invalid_grant(http, oauth_provider):
    body = tokens(http, oauth_provider)
    oauth_provider.inject("token", status=400, error="invalid_grant")
    assert_error(refresh(http, oauth_provider, body["refresh_token"]), 400, "invalid_grant")
    assert oauth_provider.token_requests[-1].error == "invalid_grant"
    assert oauth_provider.is_active(body["refresh_token"])


def test_injected_answer_after_processing_loses_the_rotated_token(http, oauth_provider):
    body = tokens(http, oauth_provider)
    oauth_provider.inject("token", status=502, process_first=True)
    assert refresh(http, oauth_provider, body["refresh_token"]).status_code == 502
    assert not oauth_provider.is_active(body["refresh_token"])
    [new] = oauth_provider.active_refresh_tokens()
    assert new != body["refresh_token"]


def test_injections_on_revoke_api_and_authorize(http, oauth_provider):
    body = tokens(http, oauth_provider)
    oauth_provider.inject("revoke", body="<html>upstream down</html>")
    revoked = http.post(oauth_provider.revocation_url, data={"token": "x"}, auth=BASIC)
    assert revoked.status_code == 503
    assert revoked.text == "<html>upstream down</html>"

    oauth_provider.inject("api", status=500, body='{"oops": true}')
    failed = me(http, oauth_provider, body["access_token"])
    assert failed.status_code == 500
    assert failed.json() == {"oops": True}
    assert me(http, oauth_provider, body["access_token"]).status_code == 200

    oauth_provider.inject("authorize", error="temporarily_unavailable")
    answer = query_of(authorize(http, oauth_provider).headers["location"])
    assert answer["error"] == "temporarily_unavailable"
    assert answer["state"] == "state-123"
    assert answer["iss"] == oauth_provider.issuer
    assert "code" in query_of(authorize(http, oauth_provider).headers["location"])

    oauth_provider.inject("authorize", status=500)
    broken = authorize(http, oauth_provider)
    assert broken.status_code == 500
    assert "location" not in broken.headers
    assert oauth_provider.requests("authorize")[-1].injected


def test_inject_validates_its_arguments(oauth_provider):
    with pytest.raises(ValueError, match="endpoint"):
        oauth_provider.inject("tokens")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        oauth_provider.inject("token", times=0)
    with pytest.raises(TypeError):
        oauth_provider.configure(no_such_setting=True)


# -- revocation -------------------------------------------------------------------------------


def test_revoking_a_refresh_token_revokes_the_family(http, oauth_provider):
    first = tokens(http, oauth_provider)
    second = refresh(http, oauth_provider, first["refresh_token"]).json()
    response = http.post(
        oauth_provider.revocation_url,
        data={
            "token": second["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200
    assert me(http, oauth_provider, first["access_token"]).status_code == 401
    assert me(http, oauth_provider, second["access_token"]).status_code == 401
    assert_error(refresh(http, oauth_provider, second["refresh_token"]), 400, "invalid_grant")
    assert oauth_provider.stats["revoke"] == 1
    assert oauth_provider.requests("revoke")[0].auth_method == "client_secret_post"


def test_revoking_an_access_token_keeps_the_refresh_token(http, oauth_provider):
    body = tokens(http, oauth_provider)
    response = http.post(
        oauth_provider.revocation_url,
        data={"token": body["access_token"], "token_type_hint": "access_token"},
        auth=BASIC,
    )
    assert response.status_code == 200
    assert me(http, oauth_provider, body["access_token"]).status_code == 401
    assert refresh(http, oauth_provider, body["refresh_token"]).status_code == 200


def test_revocation_edge_cases(http, oauth_provider):
    revoke = oauth_provider.revocation_url
    assert http.post(revoke, data={"token": "unknown"}, auth=BASIC).status_code == 200
    assert_error(http.post(revoke, data={}, auth=BASIC), 400, "invalid_request")
    assert_error(http.post(revoke, data={"token": "x"}), 401, "invalid_client")
    oauth_provider.add_client(ClientSpec("other", "other-secret"))
    body = tokens(http, oauth_provider)
    foreign = http.post(
        revoke, data={"token": body["refresh_token"]}, auth=("other", "other-secret")
    )
    assert_error(foreign, 400, "invalid_request")
    assert oauth_provider.is_active(body["refresh_token"])


def test_user_revokes_access_at_the_provider(http, oauth_provider):
    first = tokens(http, oauth_provider)
    second = tokens(http, oauth_provider)
    assert oauth_provider.revoke(first["refresh_token"]) is True
    assert not oauth_provider.is_active(first["access_token"])
    assert oauth_provider.is_active(second["access_token"])
    assert oauth_provider.revoke("unknown") is False
    assert oauth_provider.revoke_all() == 1
    assert_error(refresh(http, oauth_provider, second["refresh_token"]), 400, "invalid_grant")
    assert oauth_provider.active_refresh_tokens() == []


# -- the protected API ------------------------------------------------------------------------


def test_protected_api_answers_401_without_a_valid_token(http, oauth_provider):
    missing = http.get(oauth_provider.api_url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    assert "error=" not in missing.headers["www-authenticate"]
    unknown = me(http, oauth_provider, "not-a-token")
    assert unknown.status_code == 401
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    body = tokens(http, oauth_provider)
    refresh_as_access = me(http, oauth_provider, body["refresh_token"])
    assert refresh_as_access.status_code == 401


def test_api_items_are_paginated(http, oauth_provider):
    headers = {"Authorization": f"Bearer {tokens(http, oauth_provider)['access_token']}"}
    pages = []
    page: int | None = 1
    while page is not None:
        answer = http.get(oauth_provider.api_items_url, params={"page": page}, headers=headers)
        assert answer.status_code == 200
        pages.append(answer.json())
        page = answer.json()["next_page"]
    assert [len(p["items"]) for p in pages] == [10, 10, 5]
    assert pages[0]["items"][0]["id"] == "item-1"
    assert pages[-1]["items"][-1]["id"] == "item-25"
    bad = http.get(oauth_provider.api_items_url, params={"page": "0"}, headers=headers)
    assert_error(bad, 400, "invalid_request")
    assert oauth_provider.stats["api.items"] == 4


# -- authorization errors ---------------------------------------------------------------------


def test_user_denial_redirects_access_denied(http, oauth_provider):
    denied = authorize(http, oauth_provider, deny="1")
    assert denied.status_code == 302
    answer = query_of(denied.headers["location"])
    assert answer["error"] == "access_denied"
    assert answer["state"] == "state-123"
    assert answer["iss"] == oauth_provider.issuer
    assert "code" not in answer

    oauth_provider.deny_next()
    assert query_of(authorize(http, oauth_provider).headers["location"])["error"] == (
        "access_denied"
    )
    assert "code" in query_of(authorize(http, oauth_provider).headers["location"])


def test_bad_redirect_uri_or_client_is_a_400_page_not_a_redirect(http, oauth_provider):
    oauth_provider.add_client(
        ClientSpec("registered", "secret", redirect_uris=[REDIRECT, "http://127.0.0.1:9/b"])
    )
    for params in (
        {"client_id": "registered", "redirect_uri": "http://127.0.0.1:9/evil"},
        {"client_id": "registered", "redirect_uri": None},  # two registered: must choose
        {"client_id": "unknown"},
        {"client_id": None},
        {"redirect_uri": None},  # any-URI client: must send one
        {"redirect_uri": "http://127.0.0.1:9/cb#fragment"},
        {"redirect_uri": "relative/path"},
    ):
        response = authorize(http, oauth_provider, **params)
        assert response.status_code == 400, params
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
    assert authorize(http, oauth_provider, client_id="registered").status_code == 302


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": "read  write"}, "invalid_scope"),
    ],
)
def test_invalid_authorization_requests_are_redirected(http, oauth_provider, overrides, error):
    response = authorize(http, oauth_provider, **overrides)
    assert response.status_code == 302
    answer = query_of(response.headers["location"])
    assert answer["error"] == error
    assert answer["error_description"]
    assert answer["state"] == "state-123"
    assert answer["iss"] == oauth_provider.issuer
    assert "code" not in answer


def test_client_scopes_limit_the_grant(http, oauth_provider):
    oauth_provider.add_client(ClientSpec("scoped", "secret", scopes={"read", "profile"}))
    refused = authorize(http, oauth_provider, client_id="scoped", scope="read admin")
    assert query_of(refused.headers["location"])["error"] == "invalid_scope"
    code = get_code(http, oauth_provider, client_id="scoped", scope=None)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    response = token(http, oauth_provider, data, auth=("scoped", "secret"))
    assert response.json()["scope"] == "profile read"


def test_login_hint_picks_the_subject(http, oauth_provider):
    body = tokens(http, oauth_provider, login_hint="alice")
    assert me(http, oauth_provider, body["access_token"]).json()["sub"] == "alice"
    issued = oauth_provider.issue_tokens(scope="read", subject="bob")
    assert me(http, oauth_provider, issued["access_token"]).json()["sub"] == "bob"
    assert oauth_provider.token_info(issued["refresh_token"]).kind == "refresh_token"


# -- running it -------------------------------------------------------------------------------


def test_stopped_provider_answers_nothing_and_restarts_with_its_state(http):
    provider = OAuthProvider()
    with provider:
        body = tokens(http, provider)  # leaves a keep-alive connection open
        url = provider.api_url
    with pytest.raises(httpx.TransportError):
        http.get(url, headers={"Authorization": f"Bearer {body['access_token']}"})
    with provider:
        assert me(http, provider, body["access_token"]).status_code == 200


def test_main_runs_until_sigterm(http):
    with module_process("tether_emulators.oauth_provider", "--port", "0") as process:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().split(":", 1) for _ in range(6))
        token_url = lines["token_url"].strip()
        assert token_url.startswith("http://127.0.0.1:")
        assert lines["client_id"].strip() == CLIENT_ID
        answer = http.post(token_url, data={"grant_type": "refresh_token"}, auth=BASIC)
        assert_error(answer, 400, "invalid_request")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
