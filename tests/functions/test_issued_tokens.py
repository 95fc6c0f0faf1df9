"""Tokens issued from a connection's own credentials, end to end against an independent
authorization server (node-oidc-provider on loopback): the client credentials grant, the
JWT bearer grant and a declared two-step token call, through the deployed functions
(`test_connection`, `connections`, `fetch`), with expiry-driven re-issue, re-issue after a
401, revocation on delete, and no refresh token anywhere."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.oidc_server import OidcServer, oidc_server
from tether.bootstrap import Container, reset_container
from tether.catalog import Catalog, load_catalog, parse_catalog
from tether.config import Settings
from tether.connections.credential_reads import REFRESH_TOKEN_FIELD
from tether.domain.clock import FixedClock

ACME = bearer("acme")
CC_SECRET = "cc-secret-0123456789-abcdef"
SA_EMAIL = "reporting@tether-test.iam.example"


def _rsa_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE_PEM, PUBLIC_PEM = _rsa_pem()
OTHER_PRIVATE_PEM, _ = _rsa_pem()


def _key_file(private_pem: str = PRIVATE_PEM) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "client_email": SA_EMAIL,
            "client_id": "jwt-app",
            "private_key_id": "key-1",
            "private_key": private_pem,
        }
    )


CLIENTS = [
    {
        "client_id": "cc-basic",
        "client_secret": CC_SECRET,
        "grant_types": ["client_credentials"],
        "redirect_uris": [],
        "response_types": [],
        "scope": "api:read",
    },
    {
        "client_id": "cc-post",
        "client_secret": CC_SECRET,
        "grant_types": ["client_credentials"],
        "redirect_uris": [],
        "response_types": [],
        "token_endpoint_auth_method": "client_secret_post",
        "scope": "api:read",
    },
    {
        "client_id": "jwt-app",
        "token_endpoint_auth_method": "none",
        "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "redirect_uris": [],
        "response_types": [],
        "scope": "api:read",
    },
]

# A two-step API in the catalog's terms, pointed at the same server: its first call is a form
# POST with a key id and secret, the token and its lifetime are in the JSON answer.
TWO_STEP_ENTRY = """
version: 1
providers:
  keyed_api:
    display_name: Keyed API
    description: An API whose session token comes from a first call with a key.
    categories: [developer]
    regions: [global]
    docs_url: https://www.rfc-editor.org/rfc/rfc6749
    api_base_url: "{base_url}/api"
    auth:
      mode: two_step
      token_request:
        url: "{base_url}/token"
        format: form
        static: {grant_type: client_credentials, scope: "api:read"}
        credentials: {client_id: key_id, client_secret: key_secret}
      token_path: access_token
      expires_in_path: expires_in
      default_token_lifetime_seconds: 300
      sign_out: {url: "{base_url}/api/signout"}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [key_id, key_secret]
      properties:
        key_id: {type: string, title: Key id, description: The key's id.}
        key_secret: {type: string, title: Key secret, description: The key., writeOnly: true}
    config_schema:
      type: object
      additionalProperties: false
      required: [base_url]
      properties:
        base_url:
          type: string
          title: Base URL
          description: Where the API answers.
          pattern: '^http://127\\.0\\.0\\.1:[0-9]+$'
    test:
      path: /me
      records_path: items
      description: Reads the caller.
"""


@pytest.fixture(scope="module")
def server() -> Iterator[OidcServer]:
    with oidc_server(clients=CLIENTS, jwt_bearer={SA_EMAIL: PUBLIC_PEM}) as running:
        yield running


class Tether:
    def __init__(self, container: Container, clock: FixedClock) -> None:
        self.container = container
        self.clock = clock
        self.test: FlaskClient = create_app("test_connection", SOURCE).test_client()
        self.fetch: FlaskClient = create_app("fetch", SOURCE).test_client()
        self.connections: FlaskClient = create_app("connections", SOURCE).test_client()

    def create(self, body: dict[str, Any]) -> str:
        created = self.connections.post("/", json=body, headers=ACME)
        assert created.status_code == 201, created.get_json()
        assert created.get_json()["status"] == "active"
        return str(created.get_json()["id"])

    def fetched(self, connection_id: str) -> dict[str, Any]:
        answer = self.fetch.post(
            f"/{connection_id}", json={"path": "/me", "records_path": "items"}, headers=ACME
        )
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())

    def record(self, connection_id: str) -> Any:
        return self.container.store.get_connection("acme", connection_id)

    def access_token(self, connection_id: str) -> str | None:
        return self.container.token_storage.access_token(self.record(connection_id))

    def payload(self, connection_id: str) -> dict[str, Any]:
        record = self.record(connection_id)
        return self.container.secrets.get(
            tenant_id="acme", connection_id=connection_id, ref=record.credential_ref
        )

    def audit(self, connection_id: str) -> list[Any]:
        return self.container.store.list_audit("acme", connection_id=connection_id)


@pytest.fixture
def tether(settings: Settings, server: OidcServer) -> Iterator[Tether]:
    configured = settings.model_copy(
        update={"egress_allowlist": f"127.0.0.1:{server.port}", "rate_limit_per_minute": 6000}
    )
    catalog = Catalog(
        [*load_catalog(), *parse_catalog(TWO_STEP_ENTRY, source="test", check_json_schema=True)]
    )
    clock = FixedClock(datetime.now(UTC))
    container = Container(configured, clock=clock, catalog=catalog)
    reset_container(container)
    yield Tether(container, clock)
    reset_container(None)
    container.close()


def _client_credentials(server: OidcServer, client_id: str, **config: Any) -> dict[str, Any]:
    return {
        "provider": "client_credentials",
        "config": {
            "token_url": server.token_url,
            "revocation_url": server.revocation_url,
            "client_id": client_id,
            "scopes": ["api:read"],
            "api_base_url": f"{server.issuer}/api",
            "test_url": server.api_url,
            **config,
        },
        "credentials": {"client_secret": CC_SECRET},
    }


def _jwt_bearer(server: OidcServer, key_file: str | None = None) -> dict[str, Any]:
    return {
        "provider": "jwt_bearer",
        "config": {
            "token_url": server.token_url,
            "scopes": ["api:read"],
            "api_base_url": f"{server.issuer}/api",
            "test_url": server.api_url,
        },
        "credentials": {"service_account_key": key_file or _key_file()},
    }


def _no_secret_in(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize(
    ("client_id", "method"),
    [("cc-basic", "client_secret_basic"), ("cc-post", "client_secret_post")],
)
def test_client_credentials_test_fetch_reissue_and_revoke(tether, server, client_id, method):
    body = _client_credentials(server, client_id, token_auth_method=method)
    unsaved = tether.test.post("/", json=body, headers=ACME).get_json()
    assert (unsaved["ok"], unsaved["code"]) == (True, "OK"), unsaved
    assert unsaved["sample"][0]["client_id"] == client_id

    connection_id = tether.create(body)
    stored = tether.test.post(f"/{connection_id}", json={}, headers=ACME).get_json()
    assert stored["ok"] is True, stored
    first = tether.access_token(connection_id)
    assert first and server.introspect(first, client_id, CC_SECRET)["client_id"] == client_id

    # A second call while the token is fresh issues nothing new.
    assert tether.fetched(connection_id)["records"][0]["id"] == 1
    assert tether.access_token(connection_id) == first

    # Within the margin of its expiry (600 s at this server) the token is issued again.
    tether.clock.advance(590)
    assert tether.fetched(connection_id)["records"]
    second = tether.access_token(connection_id)
    assert second and second != first
    record = tether.record(connection_id)
    assert record.token_expires_at > tether.clock.now() + timedelta(seconds=500)

    # No refresh token was assumed, nor stored.
    assert REFRESH_TOKEN_FIELD not in tether.payload(connection_id)
    issued = [e for e in tether.audit(connection_id) if e.action == "token.refreshed"]
    assert [e.detail["grant"] for e in issued] == ["oauth2_client_credentials"] * 2
    _no_secret_in(
        json.dumps([e.model_dump(mode="json") for e in tether.audit(connection_id)]),
        CC_SECRET,
        first,
        second,
    )

    # Deleting the connection revokes its live token at the server (RFC 7009).
    assert tether.connections.delete(f"/{connection_id}", headers=ACME).status_code == 204
    assert server.introspect(second, client_id, CC_SECRET)["active"] is False


def test_new_credentials_drop_the_token_issued_for_the_old_ones(tether, server):
    connection_id = tether.create(_client_credentials(server, "cc-basic"))
    assert tether.fetched(connection_id)["records"]
    first = tether.access_token(connection_id)
    changed = tether.connections.patch(
        f"/{connection_id}",
        json={"config": _client_credentials(server, "cc-post")["config"]},
        headers=ACME,
    )
    assert changed.status_code == 200, changed.get_json()
    assert tether.access_token(connection_id) is None
    assert tether.fetched(connection_id)["records"][0]["id"] == 1
    second = tether.access_token(connection_id)
    assert second and second != first
    assert server.introspect(second, "cc-post", CC_SECRET)["client_id"] == "cc-post"


def test_client_credentials_refused_secret_is_invalid_credentials(tether, server):
    body = _client_credentials(server, "cc-basic")
    body["credentials"] = {"client_secret": "not-the-secret-000000"}
    outcome = tether.test.post("/", json=body, headers=ACME).get_json()
    assert (outcome["ok"], outcome["code"]) == (False, "INVALID_CREDENTIALS"), outcome
    assert "not-the-secret-000000" not in json.dumps(outcome)


def test_jwt_bearer_signs_an_assertion_the_server_accepts(tether, server, caplog):
    caplog.set_level(logging.DEBUG)
    body = _jwt_bearer(server)
    unsaved = tether.test.post("/", json=body, headers=ACME).get_json()
    assert (unsaved["ok"], unsaved["code"]) == (True, "OK"), unsaved

    connection_id = tether.create(body)
    shown = tether.connections.get(f"/{connection_id}", headers=ACME)
    assert tether.fetched(connection_id)["records"]
    first = tether.access_token(connection_id)
    assert first

    tether.clock.advance(590)
    assert tether.fetched(connection_id)["records"]
    second = tether.access_token(connection_id)
    assert second and second != first
    assert REFRESH_TOKEN_FIELD not in tether.payload(connection_id)

    # The private key is nowhere: not in the API's answers, the audit trail or the logs.
    key_body = PRIVATE_PEM.splitlines()[5]
    audit = json.dumps([e.model_dump(mode="json") for e in tether.audit(connection_id)])
    for text in (json.dumps(unsaved), shown.get_data(as_text=True), audit, caplog.text):
        _no_secret_in(text, key_body, first, second)


def test_jwt_bearer_with_an_unknown_key_is_refused(tether, server):
    outcome = tether.test.post(
        "/", json=_jwt_bearer(server, _key_file(OTHER_PRIVATE_PEM)), headers=ACME
    ).get_json()
    assert (outcome["ok"], outcome["code"]) == (False, "INVALID_CREDENTIALS"), outcome
    assert "service account key" in outcome["suggestion"]
    assert OTHER_PRIVATE_PEM.splitlines()[5] not in json.dumps(outcome)

    broken = tether.test.post(
        "/", json=_jwt_bearer(server, '{"client_email": "x"}'), headers=ACME
    ).get_json()
    assert (broken["ok"], broken["code"]) == (False, "INVALID_CREDENTIALS"), broken


def test_two_step_token_is_requested_again_after_a_401(tether, server):
    body = {
        "provider": "keyed_api",
        "config": {"base_url": server.issuer},
        "credentials": {"key_id": "cc-post", "key_secret": CC_SECRET},
    }
    unsaved = tether.test.post("/", json=body, headers=ACME).get_json()
    assert (unsaved["ok"], unsaved["code"]) == (True, "OK"), unsaved

    connection_id = tether.create(body)
    assert tether.fetched(connection_id)["records"]
    first = tether.access_token(connection_id)
    assert first
    # The server's answer named its lifetime (600 s), not the entry's default (300 s).
    expires_at = tether.record(connection_id).token_expires_at
    assert expires_at == tether.clock.now() + timedelta(seconds=600)

    # The server forgets the token: the next call gets a 401, and a new token is fetched.
    import httpx

    httpx.post(
        server.revocation_url, data={"token": first}, auth=("cc-post", CC_SECRET)
    ).raise_for_status()
    assert tether.fetched(connection_id)["records"]
    second = tether.access_token(connection_id)
    assert second and second != first

    # And when it is due, it is requested again too.
    tether.clock.advance(590)
    assert tether.fetched(connection_id)["records"]
    third = tether.access_token(connection_id)
    assert third not in (None, first, second)

    # Deleting the connection ends its session with the entry's sign-out call.
    assert server.introspect(third, "cc-post", CC_SECRET)["active"] is True
    assert tether.connections.delete(f"/{connection_id}", headers=ACME).status_code == 204
    assert server.introspect(third, "cc-post", CC_SECRET)["active"] is False
    revoked = [e for e in tether.audit(connection_id) if e.action == "token.revoked"]
    assert [e.detail["tokens"] for e in revoked] == [["access_token"]]
