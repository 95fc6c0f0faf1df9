"""The token endpoint client, against ``httpx.MockTransport``: the exact requests it sends
(client authentication, body formats) and how it reports what comes back."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import httpx
import pytest

from tether.logs import redact, secret_scope
from tether.oauth.model import OAuthClient, TokenEndpointError
from tether.oauth.token_endpoint import TokenEndpoint, basic_authorization

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TOKEN_URL = "https://provider.example/oauth/token"
REVOKE_URL = "https://provider.example/oauth/revoke"
REDIRECT = "https://tether.example/oauth/callback"
CLIENT_ID = "client:1 é"
SECRET = "p:a+s%s w/rd~=&"
CODE = "auth-code-0123456789"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
REFRESH = "refresh-token-0123456789"

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(**overrides: Any) -> OAuthClient:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "authorization_url": "https://provider.example/oauth/authorize",
        "token_url": TOKEN_URL,
        "revocation_url": REVOKE_URL,
        "default_token_lifetime_seconds": 900,
    }
    values.update(overrides)
    return OAuthClient(**values)


class Provider:
    """Records each request and answers with the next scripted response or exception."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def request(self) -> httpx.Request:
        assert len(self.requests) == 1
        return self.requests[0]


@pytest.fixture
def http_client() -> Iterator[Callable[[Handler], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(handler: Handler, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(transport=httpx.MockTransport(handler), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def endpoint_for(
    make_http: Callable[..., httpx.Client], *answers: httpx.Response | Exception, **kw: Any
) -> tuple[TokenEndpoint, Provider]:
    provider = Provider(*answers)
    return TokenEndpoint(make_http(provider), **kw), provider


def token_json(**fields: Any) -> httpx.Response:
    return httpx.Response(200, json={"access_token": "new-access-token", **fields})


def form_fields(request: httpx.Request) -> dict[str, str]:
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    pairs = parse_qsl(request.content.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    fields = dict(pairs)
    assert len(fields) == len(pairs), "no field is sent twice"
    return fields


def basic_credentials(request: httpx.Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(encoded).decode("ascii").partition(":")
    return user, password


# --- client authentication and body formats --------------------------------------------------


def test_exchange_code_with_client_secret_basic(http_client: Any) -> None:
    endpoint, provider = endpoint_for(
        http_client, token_json(expires_in=3600, refresh_token="new-refresh", scope="a b")
    )
    tokens = endpoint.exchange_code(
        make_client(), code=CODE, redirect_uri=REDIRECT, code_verifier=VERIFIER, now=NOW
    )

    request = provider.request
    assert request.method == "POST"
    assert str(request.url) == TOKEN_URL
    assert request.headers["Accept"] == "application/json"
    assert form_fields(request) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    # RFC 6749 §2.3.1: each part form-urlencoded, then joined with ":" and base64'd.
    user, password = basic_credentials(request)
    assert user == "client%3A1+%C3%A9"
    assert password == "p%3Aa%2Bs%25s+w%2Frd~%3D%26"
    assert (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, SECRET)
    assert SECRET not in request.content.decode()
    assert "client_id" not in form_fields(request)

    assert tokens.access_token == "new-access-token"
    assert tokens.refresh_token == "new-refresh"
    assert tokens.scopes == ("a", "b")
    assert tokens.expires_at == NOW + timedelta(seconds=3600)


def test_basic_authorization_header_value() -> None:
    expected = base64.b64encode(b"my%3Aid:s+%2B%25").decode()
    assert basic_authorization("my:id", "s +%") == f"Basic {expected}"
    assert basic_authorization("plain", "secret") == "Basic " + base64.b64encode(
        b"plain:secret"
    ).decode("ascii")


def test_exchange_code_without_a_verifier_sends_none(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, token_json())
    endpoint.exchange_code(
        make_client(pkce=False), code=CODE, redirect_uri=REDIRECT, code_verifier=None, now=NOW
    )
    assert form_fields(provider.request) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT,
    }


def test_client_secret_post_puts_both_in_the_body(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, token_json())
    endpoint.exchange_code(
        make_client(token_auth_method="client_secret_post"),
        code=CODE,
        redirect_uri=REDIRECT,
        code_verifier=VERIFIER,
        now=NOW,
    )
    request = provider.request
    assert "Authorization" not in request.headers
    assert form_fields(request) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    assert "client_secret=p%3Aa%2Bs%25s+w%2Frd~%3D%26" in request.content.decode()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("secret", [None, ""])
def test_a_public_client_sends_its_id_in_the_body(
    http_client: Any, method: str, secret: str | None
) -> None:
    endpoint, provider = endpoint_for(http_client, token_json())
    endpoint.exchange_code(
        make_client(client_secret=secret, token_auth_method=method),
        code=CODE,
        redirect_uri=REDIRECT,
        code_verifier=VERIFIER,
        now=NOW,
    )
    request = provider.request
    assert "Authorization" not in request.headers
    fields = form_fields(request)
    assert fields["client_id"] == CLIENT_ID
    assert "client_secret" not in fields


def test_json_request_format(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, token_json())
    endpoint.exchange_code(
        make_client(token_request_format="json", token_auth_method="client_secret_post"),
        code=CODE,
        redirect_uri=REDIRECT,
        code_verifier=VERIFIER,
        now=NOW,
    )
    request = provider.request
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.content) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }


def test_json_request_format_with_basic_auth(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, token_json())
    endpoint.refresh(make_client(token_request_format="json"), refresh_token=REFRESH, now=NOW)
    request = provider.request
    assert json.loads(request.content) == {"grant_type": "refresh_token", "refresh_token": REFRESH}
    assert basic_credentials(request)[0] == "client%3A1+%C3%A9"


def test_the_default_timeout_is_ten_seconds(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, token_json())
    endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    timeout = provider.request.extensions["timeout"]
    assert timeout == {"connect": 10.0, "read": 10.0, "write": 10.0, "pool": 10.0}


def test_a_custom_timeout_is_applied(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, token_json(), timeout=2.5)
    endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert provider.request.extensions["timeout"]["read"] == 2.5


def test_the_clients_cookies_are_never_sent(http_client: Any) -> None:
    provider = Provider(token_json())
    endpoint = TokenEndpoint(http_client(provider, cookies={"sid": "other-tenant"}))
    endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert "Cookie" not in provider.request.headers


def test_redirects_are_not_followed(http_client: Any) -> None:
    endpoint, provider = endpoint_for(
        http_client,
        httpx.Response(307, headers={"Location": "https://elsewhere.example/token"}),
        token_json(),
    )
    with pytest.raises(TokenEndpointError) as info:
        endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert (info.value.error, info.value.retryable) == ("bad_response", False)
    assert info.value.provider_status == 307
    assert len(provider.requests) == 1


# --- refresh ---------------------------------------------------------------------------------


def test_refresh_request_and_kept_refresh_token(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, token_json(expires_in="120"))
    tokens = endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert str(provider.request.url) == TOKEN_URL
    assert form_fields(provider.request) == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
    }
    assert tokens.refresh_token is None  # the caller keeps the one it has
    assert tokens.expires_at == NOW + timedelta(seconds=120)


def test_refresh_returns_a_rotated_refresh_token(http_client: Any) -> None:
    endpoint, _ = endpoint_for(http_client, token_json(refresh_token="rotated"))
    assert endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW).refresh_token == (
        "rotated"
    )


def test_refresh_without_expires_in_uses_the_clients_default_lifetime(http_client: Any) -> None:
    endpoint, _ = endpoint_for(http_client, token_json())
    tokens = endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert tokens.expires_at == NOW + timedelta(seconds=900)


@pytest.mark.parametrize(("separator", "scope"), [(" ", "a b"), (",", "a,b")])
def test_refresh_with_scopes(http_client: Any, separator: str, scope: str) -> None:
    endpoint, provider = endpoint_for(http_client, token_json())
    endpoint.refresh(
        make_client(scope_separator=separator), refresh_token=REFRESH, scopes=["a", "b"], now=NOW
    )
    assert form_fields(provider.request)["scope"] == scope


@pytest.mark.parametrize("scopes", [None, []])
def test_refresh_without_scopes_sends_no_scope(http_client: Any, scopes: Any) -> None:
    endpoint, provider = endpoint_for(http_client, token_json())
    endpoint.refresh(make_client(), refresh_token=REFRESH, scopes=scopes, now=NOW)
    assert "scope" not in form_fields(provider.request)


def test_form_encoded_answers_are_understood(http_client: Any) -> None:
    answer = httpx.Response(
        200,
        content=b"access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist"
        b"&token_type=bearer",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    endpoint, _ = endpoint_for(http_client, answer)
    tokens = endpoint.exchange_code(
        make_client(), code=CODE, redirect_uri=REDIRECT, code_verifier=None, now=NOW
    )
    assert tokens.access_token == "gho_16C7e42F292c6912E7710c838347Ae178B4a"
    assert tokens.scopes == ("repo", "gist")


# --- failures --------------------------------------------------------------------------------


def test_invalid_grant_is_final_and_never_echoes_request_secrets(http_client: Any) -> None:
    echo = f"code {CODE} with verifier {VERIFIER} for secret {SECRET} was already used"
    endpoint, _ = endpoint_for(
        http_client,
        httpx.Response(400, json={"error": "invalid_grant", "error_description": echo}),
    )
    with pytest.raises(TokenEndpointError) as info:
        endpoint.exchange_code(
            make_client(), code=CODE, redirect_uri=REDIRECT, code_verifier=VERIFIER, now=NOW
        )
    error = info.value
    assert (error.error, error.retryable, error.provider_status) == ("invalid_grant", False, 400)
    assert error.code == "OAUTH_INVALID_GRANT"
    for value in (CODE, VERIFIER, SECRET):
        assert value not in str(error)
        assert value not in repr(error)
        assert value not in json.dumps(error.to_dict())
    assert "was already used" in str(error)


def test_a_refresh_token_echoed_in_an_error_is_masked(http_client: Any) -> None:
    endpoint, _ = endpoint_for(
        http_client,
        httpx.Response(
            401,
            json={"error": "invalid_grant", "error_description": f"token {REFRESH} revoked"},
        ),
    )
    with pytest.raises(TokenEndpointError) as info:
        endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert REFRESH not in str(info.value)
    assert (info.value.error, info.value.retryable) == ("invalid_grant", False)


def test_an_error_with_status_200(http_client: Any) -> None:
    endpoint, _ = endpoint_for(
        http_client, httpx.Response(200, json={"error": "bad_verification_code"})
    )
    with pytest.raises(TokenEndpointError) as info:
        endpoint.exchange_code(
            make_client(), code=CODE, redirect_uri=REDIRECT, code_verifier=None, now=NOW
        )
    assert (info.value.error, info.value.retryable) == ("bad_verification_code", False)


@pytest.mark.parametrize(
    ("answer", "error_code", "retryable"),
    [
        (httpx.Response(401, json={"error": "invalid_client"}), "invalid_client", False),
        (httpx.Response(401, text="Unauthorized"), "invalid_client", False),
        (httpx.Response(400, json={"error": "invalid_scope"}), "invalid_scope", False),
        (httpx.Response(400, json={"error": "slow_down"}), "slow_down", True),
        (
            httpx.Response(503, json={"error": "temporarily_unavailable"}),
            "server_error",
            True,
        ),
        (httpx.Response(500, text="<h1>oops</h1>"), "server_error", True),
        (httpx.Response(429, headers={"Retry-After": "12"}), "rate_limited", True),
        (httpx.Response(200, html="<html>Log in</html>"), "bad_response", False),
    ],
)
def test_answers_are_classified(
    http_client: Any, answer: httpx.Response, error_code: str, retryable: bool
) -> None:
    endpoint, _ = endpoint_for(http_client, answer)
    with pytest.raises(TokenEndpointError) as info:
        endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert (info.value.error, info.value.retryable) == (error_code, retryable)
    assert info.value.provider_status == answer.status_code
    if error_code == "rate_limited":
        assert info.value.retry_after_seconds == 12.0


@pytest.mark.parametrize(
    ("exc", "error_code"),
    [
        (httpx.ConnectError("connection refused"), "network"),
        (httpx.RemoteProtocolError("peer closed"), "network"),
        (httpx.ReadError("reset"), "network"),
        (httpx.ConnectTimeout("connect timed out"), "timeout"),
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.PoolTimeout("pool"), "timeout"),
    ],
)
def test_transport_failures_are_retryable(
    http_client: Any, exc: Exception, error_code: str
) -> None:
    endpoint, _ = endpoint_for(http_client, exc)
    with pytest.raises(TokenEndpointError) as info:
        endpoint.exchange_code(
            make_client(), code=CODE, redirect_uri=REDIRECT, code_verifier=VERIFIER, now=NOW
        )
    error = info.value
    assert (error.error, error.retryable, error.provider_status) == (error_code, True, None)
    assert "provider.example" in str(error)
    assert CODE not in str(error)
    assert VERIFIER not in str(error)


class _SlowBody(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b'{"access_token": "partial'
        raise httpx.ReadTimeout("stalled")


def test_a_timeout_while_reading_the_body(http_client: Any) -> None:
    endpoint, _ = endpoint_for(http_client, httpx.Response(200, stream=_SlowBody()))
    with pytest.raises(TokenEndpointError) as info:
        endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert (info.value.error, info.value.retryable) == ("timeout", True)


def test_an_oversized_answer_is_a_bad_response(http_client: Any) -> None:
    answer = httpx.Response(200, json={"access_token": "x", "padding": "y" * 500})
    endpoint, _ = endpoint_for(http_client, answer, max_response_bytes=200)
    with pytest.raises(TokenEndpointError) as info:
        endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert (info.value.error, info.value.retryable) == ("bad_response", False)
    assert "200 bytes" in str(info.value)


def test_an_undecodable_answer_is_a_bad_response(http_client: Any) -> None:
    answer = httpx.Response(
        200, stream=httpx.ByteStream(b"not gzip"), headers={"Content-Encoding": "gzip"}
    )
    endpoint, _ = endpoint_for(http_client, answer)
    with pytest.raises(TokenEndpointError) as info:
        endpoint.refresh(make_client(), refresh_token=REFRESH, now=NOW)
    assert (info.value.error, info.value.retryable) == ("bad_response", False)


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"max_response_bytes": 0}])
def test_constructor_validates(kwargs: dict[str, Any]) -> None:
    with httpx.Client() as client, pytest.raises(ValueError, match="positive"):
        TokenEndpoint(client, **kwargs)


# --- logs ------------------------------------------------------------------------------------


def test_failures_are_logged_without_secrets(
    http_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, _ = endpoint_for(
        http_client,
        httpx.Response(400, json={"error": "invalid_grant", "error_description": CODE}),
    )
    with caplog.at_level(logging.INFO, logger="tether.oauth"), pytest.raises(TokenEndpointError):
        endpoint.exchange_code(
            make_client(), code=CODE, redirect_uri=REDIRECT, code_verifier=VERIFIER, now=NOW
        )
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "invalid_grant" in text
    assert "provider.example" in text
    for value in (CODE, VERIFIER, SECRET):
        assert value not in text


def test_values_sent_and_received_are_registered_for_log_redaction(http_client: Any) -> None:
    endpoint, _ = endpoint_for(http_client, token_json(refresh_token="rotated-refresh-1"))
    with secret_scope():
        endpoint.exchange_code(
            make_client(), code=CODE, redirect_uri=REDIRECT, code_verifier=VERIFIER, now=NOW
        )
        line = f"{CODE} {VERIFIER} {SECRET} new-access-token rotated-refresh-1"
        masked = redact(line)
    for value in (CODE, VERIFIER, SECRET, "new-access-token", "rotated-refresh-1"):
        assert value not in masked


# --- revocation ------------------------------------------------------------------------------


def test_revoke_request(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, httpx.Response(200))
    assert endpoint.revoke(make_client(), token=REFRESH, token_type_hint="refresh_token") is None
    request = provider.request
    assert request.method == "POST"
    assert str(request.url) == REVOKE_URL
    assert request.headers["Accept"] == "application/json"
    assert form_fields(request) == {"token": REFRESH, "token_type_hint": "refresh_token"}
    assert basic_credentials(request) == ("client%3A1+%C3%A9", "p%3Aa%2Bs%25s+w%2Frd~%3D%26")


def test_revoke_without_hint_and_with_post_auth(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, httpx.Response(200))
    endpoint.revoke(make_client(token_auth_method="client_secret_post"), token=REFRESH)
    assert form_fields(provider.request) == {
        "token": REFRESH,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    assert "Authorization" not in provider.request.headers


def test_revoke_with_json_format(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, httpx.Response(200))
    endpoint.revoke(make_client(token_request_format="json", client_secret=None), token=REFRESH)
    assert json.loads(provider.request.content) == {"token": REFRESH, "client_id": CLIENT_ID}


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200),
        httpx.Response(200, json={"error": "invalid_token"}),  # unknown token: still done
        httpx.Response(204),
    ],
)
def test_revoke_success(http_client: Any, answer: httpx.Response) -> None:
    endpoint, provider = endpoint_for(http_client, answer)
    endpoint.revoke(make_client(), token=REFRESH, token_type_hint="refresh_token")
    # One request, and it is the RFC 7009 §2.1 one: the token, its hint, client authentication.
    request = provider.request
    assert (request.method, str(request.url)) == ("POST", REVOKE_URL)
    assert form_fields(request) == {"token": REFRESH, "token_type_hint": "refresh_token"}
    assert basic_credentials(request) == ("client%3A1+%C3%A9", "p%3Aa%2Bs%25s+w%2Frd~%3D%26")


@pytest.mark.parametrize(
    ("answer", "error_code", "retryable"),
    [
        (httpx.Response(503, headers={"Retry-After": "60"}), "server_error", True),
        (httpx.Response(429), "rate_limited", True),
        (
            httpx.Response(400, json={"error": "unsupported_token_type"}),
            "unsupported_token_type",
            False,
        ),
        (httpx.Response(401, json={"error": "invalid_client"}), "invalid_client", False),
        (httpx.Response(404, text="Not Found"), "bad_response", False),
    ],
)
def test_revoke_failures(
    http_client: Any, answer: httpx.Response, error_code: str, retryable: bool
) -> None:
    endpoint, provider = endpoint_for(http_client, answer)
    with pytest.raises(TokenEndpointError) as info:
        endpoint.revoke(make_client(), token=REFRESH)
    assert (info.value.error, info.value.retryable) == (error_code, retryable)
    assert form_fields(provider.request) == {"token": REFRESH}  # sent once, not retried here
    assert REFRESH not in str(info.value)
    if answer.status_code == 503:
        assert info.value.retry_after_seconds == 60.0


def test_revoke_network_failure_is_retryable(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client, httpx.ConnectError("refused"))
    with pytest.raises(TokenEndpointError) as info:
        endpoint.revoke(make_client(), token=REFRESH)
    assert (info.value.error, info.value.retryable) == ("network", True)
    assert len(provider.requests) == 1  # the caller's task queue retries, not the endpoint


def test_revoke_without_a_revocation_url(http_client: Any) -> None:
    endpoint, provider = endpoint_for(http_client)
    with pytest.raises(ValueError, match="no revocation endpoint"):
        endpoint.revoke(make_client(revocation_url=None), token=REFRESH)
    assert provider.requests == []


@pytest.mark.parametrize("url", ["http://0177.0.0.1/token", "http://[::1/token"])
def test_a_token_url_httpx_cannot_parse_is_a_permanent_endpoint_error(http_client, url):
    provider = Provider()
    endpoint = TokenEndpoint(http_client(provider))
    with pytest.raises(TokenEndpointError) as info:
        endpoint.refresh(make_client(token_url=url), refresh_token="rt-1", now=NOW)
    assert info.value.error == "invalid_url" and not info.value.retryable
    assert "rt-1" not in str(info.value) and provider.requests == []
