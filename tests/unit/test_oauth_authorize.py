"""Authorization request URLs, state values and their stored hashes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tether.oauth.authorize import authorization_url, new_state, state_hash
from tether.oauth.model import OAuthClient

REDIRECT = "https://tether.example/oauth/callback"


def make_client(**overrides: Any) -> OAuthClient:
    values: dict[str, Any] = {
        "client_id": "client-123",
        "client_secret": "s3cret",
        "authorization_url": "https://provider.example/oauth/authorize",
        "token_url": "https://provider.example/oauth/token",
    }
    values.update(overrides)
    return OAuthClient(**values)


def query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


def build(client: OAuthClient, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "redirect_uri": REDIRECT,
        "state": "st4te",
        "scopes": ["read", "write"],
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    }
    args.update(overrides)
    return authorization_url(client, **args)


def test_full_request_with_pkce() -> None:
    url = build(make_client())
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "provider.example",
        "/oauth/authorize",
    )
    assert query(url) == [
        ("response_type", "code"),
        ("client_id", "client-123"),
        ("redirect_uri", REDIRECT),
        ("scope", "read write"),
        ("state", "st4te"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
    ]


def test_values_are_percent_encoded_with_spaces_as_percent_20() -> None:
    url = build(
        make_client(),
        redirect_uri="https://tether.example/cb?x=1&y=2",
        state="a b+c/d=e&f",
        scopes=["https://www.googleapis.com/auth/drive", "openid"],
    )
    raw = urlsplit(url).query
    assert "redirect_uri=https%3A%2F%2Ftether.example%2Fcb%3Fx%3D1%26y%3D2" in raw
    assert "state=a%20b%2Bc%2Fd%3De%26f" in raw
    assert "scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive%20openid" in raw
    assert "+" not in raw
    assert dict(query(url))["state"] == "a b+c/d=e&f"


def test_the_secret_never_appears_in_the_url() -> None:
    assert "s3cret" not in build(make_client())


@pytest.mark.parametrize(("separator", "encoded"), [(" ", "a%20b%20c"), (",", "a%2Cb%2Cc")])
def test_scopes_are_joined_with_the_provider_separator(separator: str, encoded: str) -> None:
    url = build(make_client(scope_separator=separator), scopes=["a", "b", "c"])
    assert f"scope={encoded}&" in urlsplit(url).query
    assert dict(query(url))["scope"] == separator.join(["a", "b", "c"])


@pytest.mark.parametrize("scopes", [[], (), [""]])
def test_scope_is_omitted_when_there_are_none(scopes: Any) -> None:
    names = [name for name, _ in query(build(make_client(), scopes=scopes))]
    assert "scope" not in names
    assert names == [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]


def test_no_challenge_parameters_without_pkce() -> None:
    names = [name for name, _ in query(build(make_client(pkce=False)))]
    assert "code_challenge" not in names
    assert "code_challenge_method" not in names


def test_no_challenge_parameters_without_a_challenge() -> None:
    names = [name for name, _ in query(build(make_client(), code_challenge=None))]
    assert "code_challenge" not in names
    assert "code_challenge_method" not in names


def test_an_existing_query_is_kept_and_reserved_names_in_it_are_replaced() -> None:
    client = make_client(
        authorization_url=(
            "https://provider.example/authorize?audience=api.provider.example"
            "&prompt=consent&response_type=token&client_id=evil#frag"
        )
    )
    url = build(client)
    pairs = query(url)
    assert pairs[:2] == [("audience", "api.provider.example"), ("prompt", "consent")]
    assert [value for name, value in pairs if name == "response_type"] == ["code"]
    assert [value for name, value in pairs if name == "client_id"] == ["client-123"]
    assert urlsplit(url).fragment == ""
    assert "#" not in url


def test_extra_params_come_last_and_never_override_reserved_ones() -> None:
    extra: Mapping[str, str] = {
        "access_type": "offline",
        "prompt": "consent select_account",
        "state": "forged",
        "redirect_uri": "https://evil.example/",
    }
    url = build(make_client(extra_authorize_params=extra))
    pairs = query(url)
    assert pairs[-2:] == [("access_type", "offline"), ("prompt", "consent select_account")]
    assert dict(pairs)["state"] == "st4te"
    assert dict(pairs)["redirect_uri"] == REDIRECT
    assert "evil.example" not in url
    assert "prompt=consent%20select_account" in url


def test_extra_params_replace_the_same_name_in_the_existing_query() -> None:
    client = make_client(
        authorization_url="https://provider.example/authorize?prompt=none&tenant=t1",
        extra_authorize_params={"prompt": "consent"},
    )
    pairs = query(build(client))
    assert [value for name, value in pairs if name == "prompt"] == ["consent"]
    assert pairs[0] == ("tenant", "t1")


def test_new_state_is_long_urlsafe_and_random() -> None:
    states = {new_state() for _ in range(100)}
    assert len(states) == 100
    for state in states:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", state)  # 32 bytes = 256 bits


def test_state_hash_is_sha256_hex() -> None:
    assert state_hash("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    state = new_state()
    assert state_hash(state) == hashlib.sha256(state.encode()).hexdigest()
    assert state_hash(state) != state_hash(new_state())
