"""Which RequestAuth a connection's calls carry: every catalog auth mode and the generic
connectors' per-connection choice, checked by what actually lands in headers and query."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tether.catalog import Provider, load_catalog, parse_catalog
from tether.domain.errors import InvalidRequest
from tether.fetch.request_auth import AuthUnavailable, auth_for, generic_auth_method
from tether.http.model import RequestAuth

CATALOG = parse_catalog(
    """
version: 1
providers:
  header_key:
    display_name: Header key
    description: An API key in a header with a prefix.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth: {mode: api_key, location: header, name: Authorization, prefix: "Token ",
           credential_field: secret_key}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [secret_key]
      properties:
        secret_key: {type: string, title: Key, description: The key., writeOnly: true}
  key_as_user:
    display_name: Key as user name
    description: An API key sent as the basic-auth user name with an empty password.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth: {mode: basic, username_field: api_key, password_field: null}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [api_key]
      properties:
        api_key: {type: string, title: Key, description: The key., writeOnly: true}
  query_key:
    display_name: Query key
    description: An API key in the query string.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth: {mode: api_key, location: query, name: key}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [api_key]
      properties:
        api_key: {type: string, title: Key, description: The key., writeOnly: true}
  bearer:
    display_name: Bearer
    description: A static bearer token.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth: {mode: bearer}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [token]
      properties:
        token: {type: string, title: Token, description: The token., writeOnly: true}
  basic:
    display_name: Basic
    description: Basic auth with provider-specific field names.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth: {mode: basic, username_field: account_sid, password_field: auth_token}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [account_sid, auth_token]
      properties:
        account_sid: {type: string, title: SID, description: The account.}
        auth_token: {type: string, title: Token, description: The token., writeOnly: true}
  oauth:
    display_name: OAuth
    description: Authorization code grant.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth:
      mode: oauth2
      authorization_url: https://auth.example.com/authorize
      token_url: https://auth.example.com/token
      token_auth_method: client_secret_post
      default_token_lifetime_seconds: 3600
  oauth_custom_header:
    display_name: OAuth with its own header
    description: The access token travels in a vendor header without a prefix.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth:
      mode: oauth2
      authorization_url: https://auth.example.com/authorize
      token_url: https://auth.example.com/token
      token_auth_method: client_secret_post
      default_token_lifetime_seconds: 3600
      token_header: x-amz-access-token
      token_prefix: ""
  client_credentials:
    display_name: Client credentials
    description: The client credentials grant.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth:
      mode: oauth2_client_credentials
      token_url: https://auth.example.com/token
      token_auth_method: client_secret_basic
      default_token_lifetime_seconds: 3600
    credentials_schema:
      type: object
      additionalProperties: false
      required: [client_id, client_secret]
      properties:
        client_id: {type: string, title: Id, description: The client id.}
        client_secret: {type: string, title: Secret, description: The secret., writeOnly: true}
  open:
    display_name: Open
    description: No authentication at all.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: https://api.example.com
    auth: {mode: none}
"""
)
REST = load_catalog().get("rest_api")
GRAPHQL = load_catalog().get("graphql_api")


def provider(key: str) -> Provider:
    return CATALOG.get(key)


def applied(auth: RequestAuth | None) -> tuple[dict[str, str], dict[str, str]]:
    assert auth is not None
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    auth.apply(headers, params)
    return headers, params


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- catalog auth modes ----------------------------------------------------------------------
def test_an_api_key_in_a_header_carries_the_entry_s_name_and_prefix():
    auth = auth_for(provider("header_key"), {}, {"secret_key": "key-123456"})
    headers, params = applied(auth)
    assert headers == {"Authorization": "Token key-123456"}
    assert params == {}
    assert auth is not None and "key-123456" in auth.secrets()
    assert auth.refresh() is False


def test_an_api_key_in_the_query_string():
    auth = auth_for(provider("query_key"), {}, {"api_key": "key-abcdef"})
    headers, params = applied(auth)
    assert headers == {}
    assert params == {"key": "key-abcdef"}


def test_a_bearer_token():
    headers, _ = applied(auth_for(provider("bearer"), {}, {"token": "tok-0123456789"}))
    assert headers == {"Authorization": "Bearer tok-0123456789"}


def test_basic_auth_uses_the_entry_s_field_names():
    auth = auth_for(provider("basic"), {}, {"account_sid": "AC123", "auth_token": "pw-secret"})
    headers, _ = applied(auth)
    assert headers == {"Authorization": basic_header("AC123", "pw-secret")}
    assert auth is not None and "pw-secret" in auth.secrets()


def test_a_key_sent_as_the_user_name_has_an_empty_password_and_is_a_secret():
    auth = auth_for(provider("key_as_user"), {}, {"api_key": "key-as-user-1234"})
    headers, _ = applied(auth)
    assert headers == {"Authorization": basic_header("key-as-user-1234", "")}
    assert auth is not None and "key-as-user-1234" in auth.secrets()
    assert "key-as-user-1234" not in repr(auth)
    with pytest.raises(InvalidRequest) as caught:
        auth_for(provider("key_as_user"), {}, {})
    assert caught.value.details == {"field": "credentials.api_key"}


def test_an_empty_password_is_allowed_but_an_empty_user_is_not():
    headers, _ = applied(auth_for(provider("basic"), {}, {"account_sid": "AC1", "auth_token": ""}))
    assert headers["Authorization"] == basic_header("AC1", "")
    with pytest.raises(InvalidRequest) as caught:
        auth_for(provider("basic"), {}, {"account_sid": "", "auth_token": "pw"})
    assert caught.value.code == "MISSING_CREDENTIALS"
    assert caught.value.details == {"field": "credentials.account_sid"}


@pytest.mark.parametrize(
    ("key", "credentials", "field"),
    [
        ("header_key", {}, "secret_key"),
        ("bearer", {"token": 12345678}, "token"),
        ("basic", {"account_sid": "AC1"}, "auth_token"),
    ],
)
def test_a_missing_credential_names_the_field_only(key, credentials, field):
    with pytest.raises(InvalidRequest) as caught:
        auth_for(provider(key), {}, credentials)
    assert caught.value.code == "MISSING_CREDENTIALS"
    assert caught.value.message == f"credentials.{field} is required"
    assert "12345678" not in caught.value.message


def test_oauth2_asks_the_token_source_and_refreshes_after_a_401():
    tokens = iter(["access-2"])
    auth = auth_for(
        provider("oauth"),
        {},
        {},
        oauth_token=lambda: "access-1",
        oauth_refresh=lambda: next(tokens),
    )
    assert applied(auth)[0] == {"Authorization": "Bearer access-1"}
    assert auth is not None and auth.refresh() is True
    assert applied(auth)[0] == {"Authorization": "Bearer access-2"}
    assert set(auth.secrets()) == {"access-1", "access-2"}


def test_oauth2_uses_the_entry_s_token_header_and_prefix():
    auth = auth_for(provider("oauth_custom_header"), {}, {}, oauth_token=lambda: "atza-token")
    assert applied(auth)[0] == {"x-amz-access-token": "atza-token"}


def test_oauth2_without_a_refresh_source_does_not_retry():
    auth = auth_for(provider("oauth"), {}, {}, oauth_token=lambda: "access-1")
    assert auth is not None and auth.refresh() is False


def test_oauth2_without_a_token_source_is_unavailable():
    with pytest.raises(AuthUnavailable):
        auth_for(provider("oauth"), {}, {})
    with pytest.raises(AuthUnavailable):
        auth_for(provider("client_credentials"), {}, {"client_id": "c", "client_secret": "s"})


def test_client_credentials_send_the_issued_token_as_bearer():
    auth = auth_for(
        provider("client_credentials"),
        {},
        {"client_id": "c", "client_secret": "s"},
        oauth_token=lambda: "cc-token",
    )
    assert applied(auth)[0] == {"Authorization": "Bearer cc-token"}


def test_no_auth():
    assert auth_for(provider("open"), {}, {}) is None
    assert generic_auth_method(provider("open"), {"auth_method": "bearer"}) is None


# -- generic connectors ----------------------------------------------------------------------
CREDS: dict[str, Any] = {
    "token": "generic-token-1",
    "api_key": "generic-key-1",
    "username": "me",
    "password": "generic-pw-1",
}


@pytest.mark.parametrize("entry", [REST, GRAPHQL])
@pytest.mark.parametrize(
    ("config", "headers", "params"),
    [
        ({"auth_method": "bearer"}, {"Authorization": "Bearer generic-token-1"}, {}),
        ({"auth_method": "oauth2"}, {"Authorization": "Bearer generic-token-1"}, {}),
        ({"auth_method": "api_key"}, {"X-API-Key": "generic-key-1"}, {}),
        (
            {"auth_method": "api_key", "api_key_name": "Authorization", "api_key_prefix": "Key "},
            {"Authorization": "Key generic-key-1"},
            {},
        ),
        (
            {"auth_method": "api_key", "api_key_name": "apikey", "api_key_in": "query"},
            {},
            {"apikey": "generic-key-1"},
        ),
        ({"auth_method": "basic"}, {"Authorization": basic_header("me", "generic-pw-1")}, {}),
    ],
)
def test_generic_connectors_follow_the_configured_method(entry, config, headers, params):
    assert applied(auth_for(entry, config, CREDS)) == (headers, params)


def test_generic_connectors_default_to_no_auth():
    assert auth_for(REST, {}, CREDS) is None
    assert auth_for(REST, {"auth_method": "none"}, CREDS) is None
    assert generic_auth_method(REST, {}) == "none"


def test_a_generic_method_without_its_credential_says_which_method_needs_it():
    with pytest.raises(InvalidRequest) as caught:
        auth_for(REST, {"auth_method": "bearer"}, {"api_key": "k-123456"})
    assert caught.value.code == "MISSING_CREDENTIALS"
    assert caught.value.message == "credentials.token is required when authentication is bearer"


def test_an_unknown_generic_method_or_header_name_is_invalid_config():
    with pytest.raises(InvalidRequest) as caught:
        auth_for(REST, {"auth_method": "digest"}, CREDS)
    assert caught.value.code == "INVALID_CONFIG"
    with pytest.raises(InvalidRequest) as caught:
        auth_for(REST, {"auth_method": "api_key", "api_key_name": "Bad Name"}, CREDS)
    assert caught.value.code == "INVALID_CONFIG"
