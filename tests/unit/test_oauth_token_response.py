"""Token endpoint answers: parsing into a TokenSet, and the classification of failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tether.oauth.model import TokenEndpointError
from tether.oauth.token_response import parse_error_response, parse_token_response

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DEFAULT = 1800
JSON = {"Content-Type": "application/json; charset=utf-8"}
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def ok(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_token_response(
        status,
        headers if headers is not None else JSON,
        body,
        now=NOW,
        default_lifetime_seconds=DEFAULT,
    )


def fail(
    status: int,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    redact: tuple[str, ...] = (),
) -> TokenEndpointError:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(
            status,
            headers if headers is not None else JSON,
            body,
            now=NOW,
            default_lifetime_seconds=DEFAULT,
            redact=redact,
        )
    return info.value


# --- success ---------------------------------------------------------------------------------


def test_a_complete_response() -> None:
    tokens = ok(
        {
            "access_token": "at-1",
            "token_type": "bearer",
            "expires_in": 3599,
            "refresh_token": "rt-1",
            "scope": "read write",
        }
    )
    assert tokens.access_token == "at-1"
    assert tokens.refresh_token == "rt-1"
    assert tokens.token_type == "Bearer"
    assert tokens.expires_at == NOW + timedelta(seconds=3599)
    assert tokens.scopes == ("read", "write")
    assert tokens.extra == {}


def test_a_minimal_response_gets_defaults() -> None:
    tokens = ok({"access_token": "at-1"})
    assert tokens.refresh_token is None
    assert tokens.token_type == "Bearer"
    assert tokens.scopes is None
    assert tokens.expires_at == NOW + timedelta(seconds=DEFAULT)


@pytest.mark.parametrize(
    ("expires_in", "seconds"),
    [
        (3600, 3600),
        ("3600", 3600),
        (" 7200 ", 7200),
        (3600.9, 3600),
        ("86400.0", 86400),
        (1, 1),
        (0, DEFAULT),
        (-5, DEFAULT),
        ("-5", DEFAULT),
        ("0", DEFAULT),
        ("soon", DEFAULT),
        ("", DEFAULT),
        (None, DEFAULT),
        (True, DEFAULT),
        ([3600], DEFAULT),
        ({"s": 3600}, DEFAULT),
        ("1e3", DEFAULT),
        ("3_600", DEFAULT),
        (10**12, DEFAULT),  # "never expires" in disguise
        ("9" * 5000, DEFAULT),
    ],
)
def test_expires_in(expires_in: Any, seconds: int) -> None:
    tokens = ok({"access_token": "at", "expires_in": expires_in})
    assert tokens.expires_at == NOW + timedelta(seconds=seconds)


def test_non_finite_expires_in_falls_back_to_the_default() -> None:
    tokens = ok(b'{"access_token": "at", "expires_in": NaN}')
    assert tokens.expires_at == NOW + timedelta(seconds=DEFAULT)
    tokens = ok(b'{"access_token": "at", "expires_in": Infinity}')
    assert tokens.expires_at == NOW + timedelta(seconds=DEFAULT)


def test_expires_at_follows_the_timezone_of_now() -> None:
    tokens = parse_token_response(
        200, JSON, b'{"access_token":"at","expires_in":60}', now=NOW, default_lifetime_seconds=5
    )
    assert tokens.expires_at.tzinfo is not None
    assert tokens.expires_at - NOW == timedelta(seconds=60)


@pytest.mark.parametrize(
    ("token_type", "expected"),
    [
        ("bearer", "Bearer"),
        ("BEARER", "Bearer"),
        ("Bearer", "Bearer"),
        (" bearer ", "Bearer"),
        ("DPoP", "DPoP"),
        ("mac", "mac"),
        ("", "Bearer"),
        (None, "Bearer"),
        (7, "Bearer"),
    ],
)
def test_token_type(token_type: Any, expected: str) -> None:
    assert ok({"access_token": "at", "token_type": token_type}).token_type == expected


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("read write", ("read", "write")),
        ("read,write", ("read", "write")),
        ("read, write  admin", ("read", "write", "admin")),
        ("https://x.example/a https://x.example/b", ("https://x.example/a", "https://x.example/b")),
        ("", ()),
        (["read", "write"], ("read", "write")),
        (None, None),
        (42, None),
        (["read", 1], None),
    ],
)
def test_scope(scope: Any, expected: Any) -> None:
    assert ok({"access_token": "at", "scope": scope}).scopes == expected


@pytest.mark.parametrize("refresh", [None, "", 123])
def test_an_unusable_refresh_token_is_none(refresh: Any) -> None:
    assert ok({"access_token": "at", "refresh_token": refresh}).refresh_token is None


def test_extra_keeps_other_fields_and_drops_secrets_at_any_depth() -> None:
    tokens = ok(
        {
            "access_token": "at",
            "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.sig",
            "refresh_token_expires_in": 15897600,
            "client_secret": "leaked",
            "api_key": "k",
            "password": "p",
            "instance_url": "https://acme.my.salesforce.com",
            "team": {"id": "T123", "name": "Acme"},
            "authed_user": {"id": "U1", "access_token": "xoxp-user", "scope": "chat:write"},
            "bot": [{"bot_access_token": "xoxb", "bot_user_id": "B1"}],
            "ok": True,
        }
    )
    assert tokens.extra == {
        "instance_url": "https://acme.my.salesforce.com",
        "team": {"id": "T123", "name": "Acme"},
        "authed_user": {"id": "U1", "scope": "chat:write"},
        "bot": [{"bot_user_id": "B1"}],
        "ok": True,
    }
    assert "xoxp-user" not in repr(tokens)
    assert "eyJhbGci" not in repr(tokens)


def test_tokens_are_not_in_the_repr() -> None:
    tokens = ok({"access_token": "at-value-1", "refresh_token": "rt-value-1"})
    assert "at-value-1" not in repr(tokens)
    assert "rt-value-1" not in repr(tokens)


def test_form_encoded_response_github_style() -> None:
    body = b"access_token=gho_abc%2B1&scope=repo%2Cgist&token_type=bearer&expires_in=28800"
    tokens = ok(body, headers=FORM)
    assert tokens.access_token == "gho_abc+1"
    assert tokens.scopes == ("repo", "gist")
    assert tokens.token_type == "Bearer"
    assert tokens.expires_at == NOW + timedelta(seconds=28800)


def test_form_encoded_response_with_an_empty_scope() -> None:
    tokens = ok(b"access_token=gho_x&scope=&token_type=bearer", headers=FORM)
    assert tokens.scopes == ()
    assert tokens.extra == {}


def test_untyped_or_text_plain_bodies_are_tried_as_json_then_form() -> None:
    assert ok(b'{"access_token": "j"}', headers={}).access_token == "j"
    assert ok(b'{"access_token": "j"}', headers={"content-type": "text/plain"}).access_token == "j"
    assert ok(b"access_token=f&expires_in=60", headers={}).access_token == "f"
    tokens = ok(b"access_token=f&expires_in=60", headers={"content-type": "text/plain"})
    assert tokens.expires_at == NOW + timedelta(seconds=60)


def test_json_with_a_surprising_content_type_is_still_read() -> None:
    assert ok(b'{"access_token":"x"}', headers={"Content-Type": "text/javascript"}).access_token


def test_header_names_are_case_insensitive() -> None:
    assert ok(b"access_token=f", headers={"CONTENT-TYPE": "application/x-www-form-urlencoded"})


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_with_an_access_token_is_success(status: int) -> None:
    assert ok({"access_token": "at"}, status=status).access_token == "at"


def test_a_falsy_error_field_is_not_an_error() -> None:
    assert ok({"access_token": "at", "error": None}).access_token == "at"
    assert ok({"access_token": "at", "error": ""}).access_token == "at"


def test_now_must_be_timezone_aware_and_the_default_positive() -> None:
    with pytest.raises(ValueError, match="timezone"):
        parse_token_response(
            200, JSON, b'{"access_token":"a"}', now=datetime(2026, 1, 1), default_lifetime_seconds=1
        )
    with pytest.raises(ValueError, match="positive"):
        parse_token_response(
            200, JSON, b'{"access_token":"a"}', now=NOW, default_lifetime_seconds=0
        )


# --- bad 2xx ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"<html><body>Sign in</body></html>", {"Content-Type": "text/html"}),
        (b"<html>access_token=x</html>", {"Content-Type": "text/html"}),
        (b"", JSON),
        (b"null", JSON),
        (b"[]", JSON),
        (b'"at"', JSON),
        (b"{}", JSON),
        (b'{"access_token": ""}', JSON),
        (b'{"access_token": 12}', JSON),
        (b'{"token": "x"}', JSON),
        (b"\xff\xfe\x00garbage", {}),
        (b"hello", {"Content-Type": "text/plain"}),
        (b"[" * 100_000, JSON),
        (b'{"access_token": "\\ud800"}', JSON),
        (b'{"access_token": "at", "refresh_token": "rt\\udc00"}', JSON),
        (b'{"access_token": "at", "team": {"name": "\\ud800"}}', {}),
        # An access token no Authorization header can carry (RFC 6749 A.12: VSCHARs).
        (b'{"access_token": "at\\r\\nX-Injected: 1"}', JSON),
        (b'{"access_token": "at\\u0000"}', JSON),
        ('{"access_token": "tok\u00e9n"}'.encode(), JSON),
        (b"access_token=at%0D%0AX-Injected%3A+1", FORM),
        (json.dumps({"access_token": "t" * 16385}).encode(), JSON),
    ],
)
def test_unusable_2xx_is_a_non_retryable_bad_response(body: bytes, headers: dict[str, str]) -> None:
    error = fail(200, body, headers=headers)
    assert error.error == "bad_response"
    assert error.code == "OAUTH_BAD_RESPONSE"
    assert error.retryable is False
    assert error.provider_status == 200
    assert "HTTP 200" in str(error)


def test_bad_response_never_echoes_the_body() -> None:
    error = fail(200, b"<html>secret-page-content</html>", headers={"Content-Type": "text/html"})
    assert "secret-page-content" not in str(error)
    assert "html" not in str(error)


# --- classification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, "invalid_grant", False),
        (401, "invalid_grant", False),
        (400, "invalid_client", False),
        (401, "invalid_client", False),
        (400, "unauthorized_client", False),
        (400, "invalid_scope", False),
        (400, "unsupported_grant_type", False),
        (400, "invalid_request", False),
        (400, "access_denied", False),
        (400, "something_new", False),
        (400, "temporarily_unavailable", True),
        (400, "slow_down", True),
        (400, "server_error", True),
        (200, "invalid_grant", False),  # error body with 200: still an error
        (200, "temporarily_unavailable", True),
        (403, "invalid_client", False),
    ],
)
def test_oauth_error_codes(status: int, code: str, retryable: bool) -> None:
    error = fail(status, {"error": code, "access_token": "ignored-when-error"})
    assert error.error == code
    assert error.code == f"OAUTH_{code.upper()}"
    assert error.retryable is retryable
    assert error.provider_status == status
    assert code in str(error)
    assert "ignored-when-error" not in str(error)


def test_error_codes_are_normalised_to_lower_case() -> None:
    assert fail(400, {"error": "INVALID_GRANT"}).error == "invalid_grant"


def test_form_encoded_errors_are_read() -> None:
    error = fail(
        200,
        b"error=bad_verification_code&error_description=The+code+passed+is+incorrect",
        headers=FORM,
    )
    assert error.error == "bad_verification_code"
    assert error.retryable is False
    assert "The code passed is incorrect" in str(error)


@pytest.mark.parametrize("payload", [{"error": "temporarily_unavailable"}, {}, b"<html/>"])
def test_429_is_rate_limited_and_retryable(payload: Any) -> None:
    error = fail(429, payload, headers={**JSON, "Retry-After": "30"})
    assert error.error == "rate_limited"
    assert error.retryable is True
    assert error.retry_after_seconds == 30.0
    assert error.provider_status == 429


def test_retry_after_as_an_http_date() -> None:
    later = "Mon, 01 Jun 2026 12:02:00 GMT"
    assert fail(429, {}, headers={"retry-after": later}).retry_after_seconds == 120.0
    past = "Mon, 01 Jun 2026 11:00:00 GMT"
    assert fail(429, {}, headers={"Retry-After": past}).retry_after_seconds == 0.0


@pytest.mark.parametrize("value", ["", "soon", "-5", "1.5", "9" * 40])
def test_an_unreadable_retry_after_is_none(value: str) -> None:
    assert fail(429, {}, headers={"Retry-After": value}).retry_after_seconds is None


def test_no_retry_after_on_non_retryable_errors() -> None:
    error = fail(400, {"error": "invalid_grant"}, headers={"Retry-After": "30"})
    assert error.retry_after_seconds is None


def test_retry_after_on_retryable_error_codes() -> None:
    error = fail(400, {"error": "slow_down"}, headers={"Retry-After": "5"})
    assert error.retry_after_seconds == 5.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
@pytest.mark.parametrize("payload", [{"error": "invalid_grant"}, {}, b"<h1>Bad gateway</h1>"])
def test_5xx_is_a_retryable_server_error(status: int, payload: Any) -> None:
    error = fail(status, payload, headers={"Content-Type": "text/html", "Retry-After": "7"})
    assert error.error == "server_error"
    assert error.retryable is True
    assert error.provider_status == status
    assert error.retry_after_seconds == 7.0


@pytest.mark.parametrize(
    ("status", "payload", "error_code", "retryable"),
    [
        (401, b"Unauthorized", "invalid_client", False),
        (401, {}, "invalid_client", False),
        (408, b"", "timeout", True),
        (400, b"<html>Bad Request</html>", "bad_response", False),
        (404, b"Not Found", "bad_response", False),
        (302, b"", "bad_response", False),
        (400, {"error": {"code": 1, "message": "nested"}}, "bad_response", False),
        (400, {"error": "has spaces in it"}, "bad_response", False),
        (400, {"error": "x" * 65}, "bad_response", False),
    ],
)
def test_failures_without_a_usable_oauth_error(
    status: int, payload: Any, error_code: str, retryable: bool
) -> None:
    error = fail(status, payload, headers={})
    assert error.error == error_code
    assert error.retryable is retryable
    assert error.provider_status == status


# --- messages --------------------------------------------------------------------------------


def test_message_has_the_code_and_a_cleaned_description() -> None:
    error = fail(
        400,
        {"error": "invalid_grant", "error_description": "Grant\nexpired\x00 or\trevoked."},
    )
    assert str(error) == (
        "token endpoint answered HTTP 400 with error invalid_grant: Grant expired or revoked."
    )


def test_long_descriptions_are_truncated() -> None:
    error = fail(400, {"error": "invalid_request", "error_description": "word " * 200})
    description = str(error).split(": ", 1)[1]
    assert len(description) <= 200
    assert description.endswith("…")


def test_values_passed_to_redact_are_masked() -> None:
    error = fail(
        400,
        {
            "error": "invalid_grant",
            "error_description": "code 'abc-code' or verifier plain_verifier is wrong",
        },
        redact=("abc-code", "plain_verifier", ""),
    )
    assert "abc-code" not in str(error)
    assert "plain_verifier" not in str(error)
    assert str(error).count("[redacted]") == 2


@pytest.mark.parametrize(
    "leak",
    [
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "1//0gLongGoogleRefreshToken",
        "ya29.a0AfH6SMBx1234567890",
        "xoxb-1234567890-abcdefghijkl",
        "abcdefghijklmnopqrstuvwxyzabcdefgh",
    ],
)
def test_token_shaped_values_in_descriptions_are_masked(leak: str) -> None:
    error = fail(400, {"error": "invalid_grant", "error_description": f"Token {leak} expired"})
    assert leak not in str(error)
    assert "[redacted]" in str(error)


def test_ordinary_words_in_descriptions_survive() -> None:
    text = "AADSTS70008: The provided authorization code or refresh token has expired."
    error = fail(400, {"error": "invalid_grant", "error_description": text})
    assert text in str(error)


def test_a_non_string_description_is_ignored() -> None:
    error = fail(400, {"error": "invalid_grant", "error_description": {"a": "b"}})
    assert str(error) == "token endpoint answered HTTP 400 with error invalid_grant"


def test_messages_never_contain_the_body() -> None:
    body = {"error": "invalid_grant", "refresh_token": "rt-echo", "debug": "internal detail"}
    error = fail(400, body)
    assert "rt-echo" not in str(error)
    assert "internal detail" not in str(error)
    assert "rt-echo" not in repr(error)


def test_parse_error_response_returns_the_classified_error() -> None:
    error = parse_error_response(
        400, JSON, b'{"error":"unsupported_token_type"}', now=NOW, redact=()
    )
    assert isinstance(error, TokenEndpointError)
    assert (error.error, error.retryable) == ("unsupported_token_type", False)
    error = parse_error_response(503, {"Retry-After": "3"}, b"", now=NOW)
    assert (error.error, error.retryable, error.retry_after_seconds) == ("server_error", True, 3.0)


def test_an_error_answer_holding_a_lone_surrogate_is_classified_by_its_status() -> None:
    error = fail(400, b'{"error": "invalid_grant", "error_description": "\\ud800"}')
    assert (error.error, error.retryable, error.provider_status) == ("bad_response", False, 400)
    assert "\ud800" not in str(error) and "\\ud800" not in str(error)
    assert fail(503, b'{"error": "\\ud800"}').retryable is True
