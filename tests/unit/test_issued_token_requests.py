"""The pure parts of the issued-token modes and of discovery: the requests the catalog's
entries make (Microsoft Graph app-only, a Google service account, Tableau's sign-in), the
answers they read, RFC 8414's metadata locations and checks, and the catalog's validation of
the new modes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tether.catalog import Catalog, load_catalog, parse_catalog
from tether.catalog.schema import OAuth2Auth
from tether.catalog.token_grants import ClientCredentialsAuth, JwtBearerAuth, TwoStepAuth
from tether.config import OAuthClientCredentials
from tether.domain.errors import ConfigurationError, InvalidRequest, TetherError
from tether.oauth.authorize import authorization_url
from tether.oauth.client_credentials import client_credentials_client, client_credentials_fields
from tether.oauth.clients import OAuthClients, with_offline_access
from tether.oauth.discovery import MetadataDiscovery, metadata_urls, parse_metadata
from tether.oauth.jwt_bearer import GRANT_TYPE, jwt_bearer_request, parse_key
from tether.oauth.model import TokenEndpointError
from tether.oauth.two_step import parse_token_answer, token_call

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# -- client credentials (RFC 6749 §4.4) ------------------------------------------------------
def test_microsoft_graph_app_only_asks_for_dot_default_in_its_directory(catalog):
    auth = catalog.get("microsoft_graph_app").auth
    assert isinstance(auth, ClientCredentialsAuth)
    config = {"directory": "contoso.onmicrosoft.com"}
    client = client_credentials_client(
        auth, config, {"client_id": "app-1", "client_secret": "s3cret"}
    )
    assert client.token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert client.token_auth_method == "client_secret_post" and client.client_secret == "s3cret"
    assert client_credentials_fields(auth, config) == {
        "grant_type": "client_credentials",
        "scope": "https://graph.microsoft.com/.default",
    }


def test_paypal_client_credentials_use_basic_auth_and_the_chosen_host(catalog):
    auth = catalog.get("paypal").auth
    assert isinstance(auth, ClientCredentialsAuth)
    config = {"api_host": "api-m.sandbox.paypal.com"}
    client = client_credentials_client(auth, config, {"client_id": "id", "client_secret": "s"})
    assert client.token_url == "https://api-m.sandbox.paypal.com/v1/oauth2/token"
    assert client.token_auth_method == "client_secret_basic"
    assert client_credentials_fields(auth, config) == {"grant_type": "client_credentials"}


def test_the_custom_entry_takes_its_client_authentication_from_the_config(catalog):
    auth = catalog.get("client_credentials").auth
    assert isinstance(auth, ClientCredentialsAuth)
    config = {"token_url": "https://id.example/t", "client_id": "c"}
    secret = {"client_secret": "s"}
    assert client_credentials_client(auth, config, secret).token_auth_method == (
        "client_secret_basic"
    )
    chosen = {**config, "token_auth_method": "client_secret_post"}
    assert client_credentials_client(auth, chosen, secret).token_auth_method == (
        "client_secret_post"
    )
    assert client_credentials_client(auth, config, secret).revocation_url is None


def test_a_missing_client_secret_is_named_not_shown(catalog):
    auth = catalog.get("client_credentials").auth
    assert isinstance(auth, ClientCredentialsAuth)
    with pytest.raises(InvalidRequest) as raised:
        client_credentials_client(auth, {"token_url": "https://id.example/t", "client_id": "c"}, {})
    assert raised.value.code == "MISSING_CREDENTIALS"


# -- JWT bearer (RFC 7523 §2.1) --------------------------------------------------------------
def test_google_service_account_assertion(catalog, rsa_key):
    auth = catalog.get("google_service_account").auth
    assert isinstance(auth, JwtBearerAuth)
    key_file = json.dumps(
        {
            "client_email": "sa@proj.iam.gserviceaccount.com",
            "private_key_id": "abc123",
            "private_key": _pem(rsa_key),
        }
    )
    config = {"subject": "ada@example.com"}
    client, fields = jwt_bearer_request(auth, config, {"service_account_key": key_file}, now=NOW)
    assert client.token_url == "https://oauth2.googleapis.com/token"
    assert client.token_auth_method == "none" and client.client_secret is None
    assert client.revocation_url == "https://oauth2.googleapis.com/revoke"
    assert fields["grant_type"] == GRANT_TYPE == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert "scope" not in fields  # Google reads it from the assertion
    header = jwt.get_unverified_header(fields["assertion"])
    assert (header["alg"], header["kid"]) == ("RS256", "abc123")
    claims = jwt.decode(
        fields["assertion"],
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience="https://oauth2.googleapis.com/token",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == "sa@proj.iam.gserviceaccount.com"
    assert claims["sub"] == "ada@example.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform.read-only"
    assert claims["iat"] == int(NOW.timestamp())
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"]


def test_the_generic_jwt_bearer_entry_sends_scope_and_client_id(catalog, rsa_key):
    auth = catalog.get("jwt_bearer").auth
    assert isinstance(auth, JwtBearerAuth)
    key_file = {"client_email": "svc", "client_id": "app-7", "private_key": _pem(rsa_key)}
    config = {"token_url": "https://id.example/token", "scopes": ["a", "b"]}
    client, fields = jwt_bearer_request(
        auth, config, {"service_account_key": json.dumps(key_file)}, now=NOW
    )
    assert fields["scope"] == "a b" and client.client_id == "app-7"
    assert client.revocation_url is None  # the config names none
    claims = jwt.decode(fields["assertion"], options={"verify_signature": False})
    assert "sub" not in claims and claims["aud"] == "https://id.example/token"


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps({"client_email": "x"}),
        json.dumps({"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}),
        json.dumps([1, 2]),
        None,
        "[" * 16_000,  # within the size limit, nested past the parser's recursion limit
    ],
)
def test_an_unusable_key_is_invalid_key_without_its_content(value):
    with pytest.raises(TokenEndpointError) as raised:
        parse_key(value)
    assert raised.value.error == "invalid_key" and not raised.value.retryable
    assert "AAAA" not in str(raised.value)


def test_a_key_that_does_not_sign_is_refused_without_its_content(catalog):
    auth = catalog.get("jwt_bearer").auth
    assert isinstance(auth, JwtBearerAuth)
    garbled = "-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END PRIVATE KEY-----\n"
    key_file = json.dumps({"client_email": "svc", "private_key": garbled})
    with pytest.raises(TokenEndpointError) as raised:
        jwt_bearer_request(
            auth, {"token_url": "https://id.example/t"}, {"service_account_key": key_file}, now=NOW
        )
    assert raised.value.error == "invalid_key"
    assert "QUJDREVGR0hJSktMTU5PUA" not in str(raised.value)


# -- two-step --------------------------------------------------------------------------------
def test_tableau_signs_in_with_a_nested_json_body(catalog):
    auth = catalog.get("tableau").auth
    assert isinstance(auth, TwoStepAuth)
    call = token_call(
        auth,
        {"server": "prod-useast-a.online.tableau.com", "site": "acme"},
        {"pat_name": "ci", "pat_secret": "pat-secret-value"},
    )
    assert call.url == "https://prod-useast-a.online.tableau.com/api/3.21/auth/signin"
    assert call.headers["Accept"] == "application/json"
    assert json.loads(call.content or b"") == {
        "credentials": {
            "personalAccessTokenName": "ci",
            "personalAccessTokenSecret": "pat-secret-value",
            "site": {"contentUrl": "acme"},
        }
    }
    assert call.secrets == ("ci", "pat-secret-value")
    answer = json.dumps({"credentials": {"token": "sess-1", "site": {"id": "s"}}}).encode()
    tokens = parse_token_answer(auth, 200, {}, answer, now=NOW)
    assert tokens.access_token == "sess-1" and tokens.refresh_token is None
    assert tokens.expires_at == NOW + timedelta(seconds=14400)


def _two_step(**auth: Any) -> TwoStepAuth:
    entry = {
        "mode": "two_step",
        "token_request": {"url": "https://api.example/login", "credentials": {"key": "k"}},
        "default_token_lifetime_seconds": 60,
        **auth,
    }
    return TwoStepAuth.model_validate(entry)


@pytest.mark.parametrize(
    ("auth", "answer", "lifetime"),
    [
        ({"expires_in_path": "data.ttl"}, {"data": {"token": "t", "ttl": 900}}, 900),
        ({"expires_in_path": "data.ttl"}, {"data": {"token": "t", "ttl": "900"}}, 900),
        ({"expires_in_path": "data.ttl"}, {"data": {"token": "t", "ttl": -1}}, 60),
        (
            {"expires_at_path": "data.exp"},
            {"data": {"token": "t", "exp": "2026-06-01T13:00Z"}},
            3600,
        ),
        ({"expires_at_path": "data.exp"}, {"data": {"token": "t", "exp": 1780318800}}, 3600),
        ({"expires_at_path": "data.exp"}, {"data": {"token": "t", "exp": "yesterday"}}, 60),
        # epoch times no clock can hold: the entry's default, not a crash
        ({"expires_at_path": "data.exp"}, {"data": {"token": "t", "exp": 1e300}}, 60),
        ({"expires_at_path": "data.exp"}, {"data": {"token": "t", "exp": -1e300}}, 60),
        ({"expires_at_path": "data.exp"}, {"data": {"token": "t", "exp": float("nan")}}, 60),
        ({"expires_at_path": "data.exp"}, {"data": {"token": "t", "exp": 10**30}}, 60),
        ({"expires_in_path": "data.ttl"}, {"data": {"token": "t", "ttl": float("nan")}}, 60),
    ],
)
def test_a_two_step_answer_names_its_lifetime(auth, answer, lifetime):
    parsed = parse_token_answer(
        _two_step(token_path="data.token", **auth), 200, {}, json.dumps(answer).encode(), now=NOW
    )
    assert parsed.expires_at == NOW + timedelta(seconds=lifetime)


@pytest.mark.parametrize(
    ("status", "body", "error", "retryable"),
    [
        (401, b"{}", "invalid_client", False),
        (403, b"denied", "invalid_client", False),
        (503, b"", "server_error", True),
        (429, b"", "rate_limited", True),
        (200, b'{"other": 1}', "bad_response", False),
        (200, b"<html>", "bad_response", False),
    ],
)
def test_a_refused_two_step_call_is_classified(status, body, error, retryable):
    with pytest.raises(TokenEndpointError) as raised:
        parse_token_answer(_two_step(), status, {}, body, now=NOW)
    assert (raised.value.error, raised.value.retryable) == (error, retryable)


def test_a_two_step_answer_nested_too_deep_to_parse_is_a_bad_response():
    auth = _two_step(token_path="data.token")
    with pytest.raises(TokenEndpointError) as raised:
        parse_token_answer(auth, 200, {}, b"[" * 20_000, now=NOW)
    assert (raised.value.error, raised.value.retryable) == ("bad_response", False)


@pytest.mark.parametrize(
    "body",
    [b'{"data": {"token": "ab\\ud800cd"}}', b'{"data": {"token": "ab\xed\xa0\x80cd"}}'],
    ids=["escaped", "utf-8-bytes"],
)
def test_a_two_step_token_holding_half_a_utf16_pair_is_a_bad_response(body):
    """Legal JSON, but no text a token can be stored or sent as a header as."""
    auth = _two_step(token_path="data.token")
    assert parse_token_answer(auth, 200, {}, b'{"data": {"token": "abcd"}}', now=NOW)
    with pytest.raises(TokenEndpointError) as raised:
        parse_token_answer(auth, 200, {}, body, now=NOW)
    assert (raised.value.error, raised.value.retryable) == ("bad_response", False)
    assert "\ud800" not in str(raised.value)


# -- discovery (RFC 8414, OpenID Connect Discovery) -----------------------------------------
def test_metadata_urls_follow_rfc_8414_section_3_1():
    assert metadata_urls("https://example.com/issuer1") == [
        "https://example.com/.well-known/oauth-authorization-server/issuer1",
        "https://example.com/issuer1/.well-known/openid-configuration",
    ]
    assert metadata_urls("https://example.com") == [
        "https://example.com/.well-known/oauth-authorization-server",
        "https://example.com/.well-known/openid-configuration",
    ]


def test_metadata_must_name_the_configured_issuer():
    document = {"issuer": "https://id.example.com", "token_endpoint": "https://id.example.com/t"}
    with pytest.raises(InvalidRequest) as raised:
        parse_metadata(document, expected_issuer="https://id.example.com/")
    assert raised.value.code == "OAUTH_ISSUER_MISMATCH"
    with pytest.raises(InvalidRequest):
        parse_metadata(["not", "an", "object"], expected_issuer="https://id.example.com")


def test_metadata_decides_pkce_iss_and_offline_access():
    base = {
        "issuer": "https://id.example.com",
        "authorization_endpoint": "https://id.example.com/a",
    }
    plain = parse_metadata(base, expected_issuer="https://id.example.com")
    assert plain.pkce and not plain.iss_parameter_supported and not plain.offline_access
    rich = parse_metadata(
        {
            **base,
            "code_challenge_methods_supported": ["plain"],
            "authorization_response_iss_parameter_supported": True,
            "scopes_supported": ["openid", "offline_access"],
        },
        expected_issuer="https://id.example.com",
    )
    assert not rich.pkce and rich.iss_parameter_supported and rich.offline_access
    with pytest.raises(InvalidRequest):
        parse_metadata(
            {**base, "token_endpoint": "javascript:alert(1)"}, expected_issuer=base["issuer"]
        )


# -- OpenID Connect refresh tokens: offline_access as catalog data ---------------------------
OIDC_ENTRY = """
version: 1
providers:
  oidc_app:
    display_name: OIDC app
    description: An OpenID provider that issues refresh tokens for offline_access only.
    categories: [developer]
    regions: [global]
    docs_url: https://openid.net/specs/openid-connect-core-1_0.html
    auth:
      mode: oauth2
      authorization_url: https://id.example.com/authorize
      token_url: https://id.example.com/token
      default_scopes: [openid, profile]
      token_auth_method: client_secret_basic
      default_token_lifetime_seconds: 3600
      offline_access: true
"""


def test_an_offline_access_entry_asks_for_it_with_consent():
    provider = parse_catalog(OIDC_ENTRY, source="test").get("oidc_app")
    assert isinstance(provider.auth, OAuth2Auth) and provider.auth.offline_access
    clients = OAuthClients({"oidc_app": OAuthClientCredentials(client_id="c", client_secret=None)})
    client = clients.client(provider, {}, {})
    scopes = with_offline_access(client, ["openid", "profile"])
    assert scopes == ["openid", "profile", "offline_access"]
    assert with_offline_access(client, scopes) == scopes
    url = authorization_url(
        client, redirect_uri="https://t.example/cb", state="s", scopes=scopes, code_challenge="c"
    )
    assert "prompt=consent" in url and "scope=openid%20profile%20offline_access" in url


def test_an_issuer_alone_needs_discovery(catalog):
    clients = OAuthClients({})
    with pytest.raises(InvalidRequest) as raised:
        clients.client(
            catalog.get("oauth2"), {"issuer": "https://id.example.com", "client_id": "c"}, {}
        )
    assert raised.value.code == "MISSING_CONFIG"
    with pytest.raises(ConfigurationError):
        clients.client(catalog.get("google_drive"), {}, {})


# -- the catalog's checks of the new modes ---------------------------------------------------
def _entry(auth: str, credentials: str = "", config: str = "") -> str:
    return f"""
version: 1
providers:
  probe:
    display_name: Probe
    description: A test entry.
    categories: [developer]
    regions: [global]
    docs_url: https://example.com/docs
    auth: {auth}
    credentials_schema:
      type: object
      additionalProperties: false
      properties: {{{credentials}}}
    config_schema:
      type: object
      additionalProperties: false
      properties: {{{config}}}
"""


KEY = "key: {type: string, title: Key, description: The key., writeOnly: true}"
NAME = "name: {type: string, title: Name, description: A name.}"


@pytest.mark.parametrize(
    ("auth", "credentials", "config", "why"),
    [
        (
            "{mode: oauth2_jwt_bearer, token_url: 'https://t.example', key_field: key,"
            " subject_config: who, default_token_lifetime_seconds: 60}",
            KEY,
            "",
            "subject_config",
        ),
        (
            "{mode: oauth2_jwt_bearer, token_url: 'https://t.example', key_field: name,"
            " default_token_lifetime_seconds: 60}",
            NAME,
            "",
            "writeOnly",
        ),
        (
            "{mode: oauth2_jwt_bearer, token_url: 'https://t.example', key_field: key,"
            " assertion_lifetime_seconds: 7200, default_token_lifetime_seconds: 60}",
            KEY,
            "",
            "3600",
        ),
        (
            "{mode: two_step, token_request: {url: 'https://t.example', credentials: {k: nope}},"
            " default_token_lifetime_seconds: 60}",
            KEY,
            "",
            "undefined credentials",
        ),
        (
            "{mode: two_step, token_request: {url: 'http://t.example'},"
            " default_token_lifetime_seconds: 60}",
            KEY,
            "",
            "https",
        ),
        (
            "{mode: two_step, token_request: {url: 'https://t.example', method: GET,"
            " credentials: {k: key}}, default_token_lifetime_seconds: 60}",
            KEY,
            "",
            "query string",
        ),
        (
            "{mode: oauth2_client_credentials, token_url: 'https://t.example',"
            " token_auth_method: client_secret_basic, extra_token_params: {scope: x},"
            " default_token_lifetime_seconds: 60}",
            "client_id: {type: string, title: Id, description: Id.}, "
            "client_secret: {type: string, title: S, description: S., writeOnly: true}",
            "",
            "sets these parameters",
        ),
    ],
)
def test_the_catalog_refuses_inconsistent_issued_modes(auth, credentials, config, why):
    with pytest.raises(ConfigurationError) as raised:
        parse_catalog(_entry(auth, credentials, config), source="test")
    assert why in str(raised.value)


# -- the metadata cache ----------------------------------------------------------------------
class MetadataServer:
    """A sender standing in for the network: serves documents by URL, records each GET."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.requested: list[str] = []

    def send(
        self, method: str, url: str, *, content: Any, headers: Any, sent: Any
    ) -> tuple[int, httpx.Headers, bytes]:
        self.requested.append(url)
        if isinstance(self.documents.get(url), TokenEndpointError):
            raise self.documents[url]
        if url not in self.documents:
            return 404, httpx.Headers(), b"{}"
        return 200, httpx.Headers(), json.dumps(self.documents[url]).encode()


ISSUER = "https://id.example.com/tenant-a"
OPENID_URL = f"{ISSUER}/.well-known/openid-configuration"


def test_metadata_is_cached_per_issuer_for_its_lifetime():
    server = MetadataServer({OPENID_URL: {"issuer": ISSUER, "token_endpoint": f"{ISSUER}/t"}})
    now = [0.0]
    discovery = MetadataDiscovery(lambda: server, ttl_seconds=60, size=2, monotonic=lambda: now[0])
    assert discovery.metadata(ISSUER).token_endpoint == f"{ISSUER}/t"
    # RFC 8414's location first (404 here), then OpenID's.
    assert server.requested == [
        "https://id.example.com/.well-known/oauth-authorization-server/tenant-a",
        OPENID_URL,
    ]
    discovery.metadata(ISSUER)
    assert len(server.requested) == 2
    now[0] = 61
    discovery.metadata(ISSUER)
    assert len(server.requested) == 4


def test_a_metadata_document_nested_too_deep_to_parse_is_not_a_document():
    class DeepServer(MetadataServer):
        def send(
            self, method: str, url: str, *, content: Any, headers: Any, sent: Any
        ) -> tuple[int, httpx.Headers, bytes]:
            self.requested.append(url)
            return 200, httpx.Headers(), b"[" * 20_000

    with pytest.raises(TetherError) as raised:
        MetadataDiscovery(lambda: DeepServer({})).metadata(ISSUER)
    assert raised.value.code == "OAUTH_METADATA_INVALID"  # as any body that is not JSON


def test_a_failed_discovery_is_not_cached_and_says_whether_to_retry():
    down = TokenEndpointError("down", error="network", retryable=True)
    server = MetadataServer({OPENID_URL: down})
    discovery = MetadataDiscovery(lambda: server)
    with pytest.raises(TetherError) as raised:
        discovery.metadata(ISSUER)
    assert (raised.value.code, raised.value.retryable) == ("OAUTH_DISCOVERY_FAILED", True)
    server.documents[OPENID_URL] = {"issuer": ISSUER}
    assert discovery.metadata(ISSUER).issuer == ISSUER
    with pytest.raises(InvalidRequest):
        discovery.metadata("http://id.example.com")  # http only on loopback (RFC 8414 §2)
