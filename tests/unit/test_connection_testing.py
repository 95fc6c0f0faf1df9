"""Connection tests against a scripted outbound client: every outcome code, request shapes of
catalog entries and the generic REST/GraphQL connectors, GraphQL errors, redacted samples, the
PostgreSQL test through a fake driver, and the recording of results on real parts (SQLite
store, database secret store, ConnectionService in a temp folder)."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.sqlite import SqliteConnectionStore
from tether.catalog import Catalog, load_catalog, parse_catalog
from tether.connections.commands import CreateConnection
from tether.connections.service import ConnectionService
from tether.crypto import Keyring, Sealer
from tether.domain.clock import FixedClock
from tether.domain.errors import BackendUnavailable, NotFound, VersionConflict
from tether.domain.ids import SequentialIds
from tether.domain.models import AuditEvent, Connection, Principal
from tether.domain.status import ConnectionStatus
from tether.fetch import postgres_probe
from tether.fetch.outcomes import (
    REDACTED,
    OutcomeCode,
    ProbeOutcome,
    SampleRedactor,
    is_secret_key,
    sample_records,
    suggestion_for,
)
from tether.fetch.probe import (
    MAX_TIMEOUT_SECONDS,
    TESTED_ACTION,
    ConnectionProber,
    describe_pg_error,
)
from tether.http.guard import EgressGuard
from tether.http.model import OutboundError, OutboundResponse, RequestAuth
from tether.oauth.model import TokenEndpointError
from tether.oauth.refresh_failures import REFRESH_FAILED_CODE, ReauthRequired

T0 = datetime(2026, 6, 1, tzinfo=UTC)
TENANT = "t1"
ME = Principal(tenant_id=TENANT, user_id="u1")
KEY = "key_live_0123456789abcdef"
PUBLIC_IP = "93.184.216.34"

TEST_ENTRIES = parse_catalog(
    """
version: 1
providers:
  keyed:
    display_name: Keyed
    description: An API key in a header, a regional host and a pinned version header.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.keyed.example
    api_base_url: https://{region}.keyed.example/v1
    headers: {X-Version: "7"}
    auth: {mode: api_key, location: header, name: X-Api-Key}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [api_key]
      properties:
        api_key:
          type: string
          title: Key
          description: The key.
          pattern: '^key_(live|test)_[a-z0-9]+$'
          writeOnly: true
    config_schema:
      type: object
      additionalProperties: false
      required: [region]
      properties:
        region: {type: string, title: Region, description: Where., enum: [eu, us]}
    test:
      path: /items?limit=3
      records_path: data
      description: Lists three items.
  slacky:
    display_name: Slacky
    description: Answers 200 with ok false on errors.
    categories: [communication]
    regions: [global]
    docs_url: https://docs.slacky.example
    api_base_url: https://slacky.example/api
    auth: {mode: bearer}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [token]
      properties:
        token: {type: string, title: Token, description: The token., writeOnly: true}
    test:
      path: /auth.test
      ok_path: ok
      description: Checks the token.
  created:
    display_name: Created
    description: A POST test that answers 201 or 204.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.created.example
    api_base_url: https://created.example
    auth: {mode: none}
    test:
      method: POST
      path: /ping
      expect_status: [201, 204]
      body: {ping: true}
      description: Pings.
  oauthy:
    display_name: OAuthy
    description: Authorization code grant.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.oauthy.example
    api_base_url: https://api.oauthy.example
    auth:
      mode: oauth2
      authorization_url: https://oauthy.example/authorize
      token_url: https://oauthy.example/token
      token_auth_method: client_secret_post
      default_token_lifetime_seconds: 3600
    test:
      path: /me
      description: Reads the user.
  ccy:
    display_name: CCy
    description: Client credentials grant.
    categories: [payments]
    regions: [global]
    docs_url: https://docs.ccy.example
    api_base_url: https://api.ccy.example
    auth:
      mode: oauth2_client_credentials
      token_url: https://api.ccy.example/token
      token_auth_method: client_secret_basic
      default_token_lifetime_seconds: 3600
    credentials_schema:
      type: object
      additionalProperties: false
      required: [client_id, client_secret]
      properties:
        client_id: {type: string, title: Id, description: The client id.}
        client_secret: {type: string, title: Secret, description: The secret., writeOnly: true}
    test:
      path: /whoami
      description: Reads the app.
  hooky:
    display_name: Hooky
    description: Incoming webhooks only.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.hooky.example
    auth: {mode: none}
"""
)
REAL = load_catalog()
CATALOG = Catalog(
    [
        *TEST_ENTRIES,
        *(REAL.get(key) for key in ("rest_api", "graphql_api", "postgresql", "linear")),
    ]
)


# -- fakes -----------------------------------------------------------------------------------
@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    json: Any
    timeout: float | None


@dataclass
class FakeClient:
    """The outbound client's contract: auth applied per attempt, one retry after a 401 when
    the auth refreshed, answers of any status, OutboundError without an answer."""

    script: list[OutboundResponse | Exception] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    auth_origins: list[Any] = field(default_factory=list)

    def answer(
        self,
        status: int = 200,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        elapsed_ms: int = 42,
    ) -> FakeClient:
        content = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        self.script.append(
            OutboundResponse(
                status=status,
                headers=headers or {},
                content=content,
                url="https://redacted.example/",
                elapsed_ms=elapsed_ms,
            )
        )
        return self

    def fail(self, failure: str) -> FakeClient:
        self.script.append(
            OutboundError(f"outbound {failure}", failure=failure, retryable=False)  # type: ignore[arg-type]
        )
        return self

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Any = None,
        json: Any = None,
        auth: RequestAuth | None = None,
        auth_origins: Any = None,
        timeout: float | None = None,
    ) -> OutboundResponse:
        self.auth_origins.append(auth_origins)
        while True:
            sent_headers, params = dict(headers or {}), {}
            if auth is not None:
                auth.apply(sent_headers, params)
            self.sent.append(Sent(method, url, sent_headers, params, json, timeout))
            item = self.script.pop(0)
            if isinstance(item, Exception):
                raise item
            if item.status == 401 and auth is not None and self.script and auth.refresh():
                continue
            return item


class Ticks:
    """A monotonic clock that moves 250 ms per reading."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


class ContendedStore:
    """The real store whose next ``update_connection`` calls lose the compare-and-set."""

    def __init__(self, inner: SqliteConnectionStore) -> None:
        self.inner = inner
        self.conflicts = 0

    def update_connection(
        self, connection: Connection, *, expected_version: int, audit: Sequence[AuditEvent] = ()
    ) -> Connection:
        if self.conflicts:
            self.conflicts -= 1
            raise VersionConflict("someone else wrote first")
        return self.inner.update_connection(
            connection, expected_version=expected_version, audit=audit
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class World:
    store: ContendedStore
    service: ConnectionService
    client: FakeClient
    clock: FixedClock
    ids: SequentialIds

    def tester(self, **overrides: Any) -> ConnectionProber:
        options: dict[str, Any] = {
            "connections": self.service,
            "store": self.store,
            "catalog": lambda: CATALOG,
            "client": self.client,
            "clock": self.clock,
            "ids": self.ids,
            "guard": EgressGuard(resolver=lambda host, port: [PUBLIC_IP]),
            "monotonic": Ticks(),
            "timeout": 12.0,
        }
        options.update(overrides)
        return ConnectionProber(**options)

    def create(
        self,
        provider: str,
        credentials: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> Connection:
        return self.service.create(
            ME,
            CreateConnection(provider=provider, credentials=credentials or {}, config=config or {}),
        )

    def record(self, connection_id: str) -> Connection:
        found = self.store.get_connection(TENANT, connection_id)
        assert found is not None
        return found

    def set_status(self, connection_id: str, status: ConnectionStatus) -> None:
        current = self.record(connection_id)
        self.store.update_connection(
            current.model_copy(update={"status": status}), expected_version=current.version
        )

    def audit(self, action: str, connection_id: str) -> list[Any]:
        return [
            e
            for e in self.store.list_audit(TENANT, connection_id=connection_id)
            if e.action == action
        ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    inner = SqliteConnectionStore(tmp_path / "store.db")
    store = ContendedStore(inner)
    clock = FixedClock(T0)
    ids = SequentialIds()
    service = ConnectionService(
        store=store,
        secrets=DbSecretStore(Sealer(Keyring.generate("ktest")), retired=MemoryRetiredVersions()),
        catalog=lambda: CATALOG,
        clock=clock,
        ids=ids,
    )
    yield World(store=store, service=service, client=FakeClient(), clock=clock, ids=ids)
    inner.close()


def keyed(world: World, **overrides: Any) -> ProbeOutcome:
    return world.tester(**overrides).test_unsaved(ME, "keyed", {"api_key": KEY}, {"region": "eu"})


def assert_clean(outcome: ProbeOutcome, *secrets: str) -> None:
    """Nothing of a credential or of a query string in the words shown to the user."""
    for text in (outcome.message, outcome.suggestion or ""):
        assert "?" not in text
        for secret in (KEY, *secrets):
            assert secret not in text
    assert KEY not in json.dumps(outcome.sample)


# -- outcome table ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code"),
    [
        (200, OutcomeCode.OK),
        (401, OutcomeCode.INVALID_CREDENTIALS),
        (403, OutcomeCode.PERMISSION_DENIED),
        (404, OutcomeCode.NOT_FOUND),
        (410, OutcomeCode.NOT_FOUND),
        (429, OutcomeCode.RATE_LIMITED),
        (500, OutcomeCode.PROVIDER_ERROR),
        (503, OutcomeCode.PROVIDER_ERROR),
        (302, OutcomeCode.PROVIDER_ERROR),
        (405, OutcomeCode.PROVIDER_ERROR),
        (418, OutcomeCode.PROVIDER_ERROR),
        (204, OutcomeCode.PROVIDER_ERROR),
    ],
)
def test_http_statuses_map_to_codes(world, status, code):
    world.client.answer(status, {"data": [{"id": 1}]}, elapsed_ms=87)
    outcome = keyed(world)
    assert outcome.code == code
    assert outcome.ok is (code == OutcomeCode.OK)
    assert outcome.http_status == status
    assert outcome.latency_ms == 87
    assert outcome.suggestion == suggestion_for(code, auth_kind="api_key")
    assert "eu.keyed.example" in outcome.message
    assert_clean(outcome)


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        ("blocked", OutcomeCode.BLOCKED_DESTINATION),
        ("invalid_url", OutcomeCode.BLOCKED_DESTINATION),
        ("timeout", OutcomeCode.TIMEOUT),
        ("connect", OutcomeCode.CONNECTION_FAILED),
        ("protocol", OutcomeCode.CONNECTION_FAILED),
        ("too_many_redirects", OutcomeCode.CONNECTION_FAILED),
        ("tls", OutcomeCode.TLS_ERROR),
        ("rate_limited", OutcomeCode.RATE_LIMITED),
        ("too_large", OutcomeCode.PROVIDER_ERROR),
    ],
)
def test_outbound_failures_map_to_codes(world, failure, code):
    world.client.fail(failure)
    outcome = keyed(world)
    assert (outcome.ok, outcome.code) == (False, code)
    assert outcome.http_status is None
    assert outcome.latency_ms == 250  # measured around the call
    assert outcome.sample is None
    assert outcome.suggestion == suggestion_for(code)
    assert_clean(outcome)


def test_every_code_but_ok_has_a_suggestion():
    for code in OutcomeCode:
        suggestion = suggestion_for(code)
        assert (suggestion is None) is (code == OutcomeCode.OK)
    assert "API key" in (suggestion_for(OutcomeCode.INVALID_CREDENTIALS) or "")
    assert "private or internal" in (suggestion_for(OutcomeCode.BLOCKED_DESTINATION) or "")
    assert "Reconnect" in (
        suggestion_for(OutcomeCode.INVALID_CREDENTIALS, auth_kind="oauth2") or ""
    )
    assert "user name and password" in (
        suggestion_for(OutcomeCode.INVALID_CREDENTIALS, auth_kind="basic") or ""
    )


def test_an_outcome_serialises_with_its_code_as_text(world):
    world.client.answer(200, {"data": []})
    body = keyed(world).as_dict()
    assert body == {
        "ok": True,
        "code": "OK",
        "message": "Connected to eu.keyed.example (HTTP 200).",
        "suggestion": None,
        "http_status": 200,
        "latency_ms": 42,
        "sample": [],
    }
    json.dumps(body)


# -- the request -----------------------------------------------------------------------------
def test_the_catalog_test_request_is_sent_with_auth_headers_and_a_bounded_timeout(world):
    world.client.answer(200, {"data": []})
    keyed(world)
    [sent] = world.client.sent
    assert sent.method == "GET"
    assert sent.url == "https://eu.keyed.example/v1/items?limit=3"
    assert sent.headers == {"X-Version": "7", "Accept": "application/json", "X-Api-Key": KEY}
    assert sent.json is None
    assert sent.timeout == 12.0


def test_the_timeout_cannot_exceed_thirty_seconds(world):
    assert MAX_TIMEOUT_SECONDS == 30.0
    with pytest.raises(ValueError, match="timeout"):
        world.tester(timeout=31.0)
    world.client.answer(200, {"data": []})
    world.tester(timeout=30.0).test_unsaved(ME, "keyed", {"api_key": KEY}, {"region": "us"})
    assert world.client.sent[0].timeout == 30.0


def test_a_post_test_sends_its_body_and_accepts_the_expected_statuses(world):
    tester = world.tester()
    world.client.answer(201, {"id": "p1"}).answer(204).answer(200, {"id": "p1"})
    created = tester.test_unsaved(ME, "created", {}, {})
    assert (created.code, created.sample) == (OutcomeCode.OK, [{"id": "p1"}])
    empty = tester.test_unsaved(ME, "created", {}, {})
    assert (empty.code, empty.http_status, empty.sample) == (OutcomeCode.OK, 204, None)
    wrong = tester.test_unsaved(ME, "created", {}, {})
    assert wrong.code == OutcomeCode.PROVIDER_ERROR
    assert wrong.message == "created.example answered HTTP 200 instead of 201 or 204."
    assert [(s.method, s.json) for s in world.client.sent] == [("POST", {"ping": True})] * 3


# -- invalid config --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("credentials", "config", "message"),
    [
        ({"api_key": KEY}, {}, "config.region is required"),
        ({"api_key": KEY}, {"region": "mars"}, "config.region is not one of the allowed values"),
        ({"api_key": "not-a-key"}, {"region": "eu"}, "credentials.api_key does not have"),
        ({}, {"region": "eu"}, "credentials.api_key is required"),
        ({"api_key": KEY, "extra": "x"}, {"region": "eu"}, "credentials.extra is not a known"),
    ],
)
def test_invalid_config_or_credentials_is_an_outcome_and_sends_nothing(
    world, credentials, config, message
):
    outcome = world.tester().test_unsaved(ME, "keyed", credentials, config)
    assert (outcome.ok, outcome.code) == (False, OutcomeCode.INVALID_CONFIG)
    assert outcome.message.startswith(message)
    assert "not-a-key" not in outcome.message
    assert outcome.suggestion == suggestion_for(OutcomeCode.INVALID_CONFIG)
    assert world.client.sent == []


def test_an_unknown_provider_is_not_found(world):
    with pytest.raises(NotFound):
        world.tester().test_unsaved(ME, "nope", {}, {})


# -- samples and redaction -------------------------------------------------------------------
def test_the_sample_is_three_records_with_secrets_redacted(world):
    records = [
        {
            "id": i,
            "name": f"item {i}",
            "api_key": "rotated-other-key",
            "owner": {"accessToken": "at-1", "sessionId": "s-1", "email": "a@b.example"},
            "note": f"created with {KEY} by a script",
            "next": f"https://eu.keyed.example/v1/items?key={KEY}&page=2",
            "monkey": "banana",
        }
        for i in range(5)
    ]
    world.client.answer(200, {"data": records, "password": "top"})
    outcome = keyed(world)
    assert outcome.code == OutcomeCode.OK
    assert outcome.sample is not None and len(outcome.sample) == 3
    first = outcome.sample[0]
    assert first["id"] == 0 and first["name"] == "item 0" and first["monkey"] == "banana"
    assert first["api_key"] == REDACTED
    assert first["owner"] == {
        "accessToken": REDACTED,
        "sessionId": REDACTED,
        "email": "a@b.example",
    }
    assert first["note"] == f"created with {REDACTED} by a script"
    assert first["next"] == f"https://eu.keyed.example/v1/items?key={REDACTED}&page=2"
    assert_clean(outcome)


def test_sample_values_are_truncated_after_redaction():
    redactor = SampleRedactor(["s3cr3t-value"])
    long = "x" * 195 + "s3cr3t-value" + "y" * 300
    [record] = sample_records({"text": long}, None, redactor)
    assert record["text"] == "x" * 195 + "[reda…"
    assert len(record["text"]) == 201
    assert "s3cr3t" not in record["text"]


def test_sample_records_fall_back_to_the_body():
    redactor = SampleRedactor()
    assert sample_records([1, 2, 3, 4], None, redactor) == [1, 2, 3]
    assert sample_records({"a": 1}, None, redactor) == [{"a": 1}]
    assert sample_records({"a": 1}, "missing.path", redactor) == [{"a": 1}]
    assert sample_records({"a": {"b": [{"c": 1}]}}, "a.b", redactor) == [{"c": 1}]
    assert sample_records({"a": [{"c": 1}, {"c": 2}]}, "a.1", redactor) == [{"c": 2}]
    assert sample_records({"a": None}, "a", redactor) == []


def test_big_nested_values_are_bounded():
    redactor = SampleRedactor()
    [record] = sample_records({"list": list(range(40))}, None, redactor)
    assert record["list"][:25] == list(range(25)) and record["list"][25] == "… 15 more"
    deep: Any = 1
    for _ in range(20):
        deep = {"d": deep}
    flattened = json.dumps(sample_records(deep, None, redactor), ensure_ascii=False)
    assert "[…]" in flattened


@pytest.mark.parametrize(
    "name",
    [
        "token",
        "access_token",
        "refreshToken",
        "api_key",
        "apiKey",
        "APIKey",
        "x-api-key",
        "Authorization",
        "Set-Cookie",
        "sessionId",
        "client_secret",
        "password",
        "db_passwd",
        "key",
        "private_key",
        "secretkey",
        "credentials",
    ],
)
def test_secret_looking_keys(name):
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name", ["id", "name", "monkey", "keynote", "author", "tokenizer_name", "email", "keyboard"]
)
def test_ordinary_keys(name):
    assert not is_secret_key(name)


def test_a_non_json_success_has_no_sample(world):
    world.client.answer(200, raw=b"<html>hello</html>")
    outcome = keyed(world)
    assert (outcome.code, outcome.sample) == (OutcomeCode.OK, None)


def test_a_failure_shows_the_redacted_error_document_but_not_in_the_message(world):
    world.client.answer(401, {"error": {"message": f"invalid key {KEY}", "type": "auth"}})
    outcome = keyed(world)
    assert outcome.code == OutcomeCode.INVALID_CREDENTIALS
    assert outcome.sample == [{"error": {"message": f"invalid key {REDACTED}", "type": "auth"}}]
    assert outcome.message == "eu.keyed.example rejected the credentials (HTTP 401)."
    assert "invalid key" not in outcome.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"error": "invalid_api_key"}, OutcomeCode.INVALID_CREDENTIALS),
        (
            {"error": {"message": "API key not valid. Please pass a valid API key."}},
            OutcomeCode.INVALID_CREDENTIALS,
        ),
        ({"errors": [{"message": "Authentication failed"}]}, OutcomeCode.INVALID_CREDENTIALS),
        ({"error": "insufficient_scope"}, OutcomeCode.PERMISSION_DENIED),
        ({"error": "limit must be a number"}, OutcomeCode.PROVIDER_ERROR),
    ],
)
def test_a_400_is_classified_by_its_error_text(world, body, code):
    world.client.answer(400, body)
    outcome = keyed(world)
    assert outcome.code == code
    assert outcome.http_status == 400


# -- ok_path ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"ok": True, "user": "bot"}, OutcomeCode.OK),
        ({"ok": False, "error": "invalid_auth"}, OutcomeCode.INVALID_CREDENTIALS),
        ({"ok": False, "error": "token_revoked"}, OutcomeCode.INVALID_CREDENTIALS),
        ({"ok": False, "error": "missing_scope"}, OutcomeCode.PERMISSION_DENIED),
        ({"ok": False, "error": "ratelimited"}, OutcomeCode.RATE_LIMITED),
        ({"ok": False, "error": "fatal_error"}, OutcomeCode.PROVIDER_ERROR),
        ({"user": "bot"}, OutcomeCode.PROVIDER_ERROR),
    ],
)
def test_ok_path_must_be_truthy(world, body, code):
    world.client.answer(200, body)
    outcome = world.tester().test_unsaved(ME, "slacky", {"token": "xoxb-0123456789"}, {})
    assert outcome.code == code
    assert outcome.http_status == 200
    assert world.client.sent[0].headers["Authorization"] == "Bearer xoxb-0123456789"
    if code != OutcomeCode.OK:
        assert outcome.message == (
            "slacky.example answered HTTP 200, but 'ok' in the answer is not set to a true value."
        )
        assert outcome.sample == [body]


def test_ok_path_needs_json(world):
    world.client.answer(200, raw=b"ok")
    outcome = world.tester().test_unsaved(ME, "slacky", {"token": "xoxb-0123456789"}, {})
    assert outcome.code == OutcomeCode.PROVIDER_ERROR
    assert "not with the JSON" in outcome.message


# -- generic REST ----------------------------------------------------------------------------
REST_CONFIG = {
    "base_url": "https://api.acme.example/v2",
    "test_path": "/status?verbose=1",
    "auth_method": "api_key",
    "api_key_in": "query",
    "api_key_name": "apikey",
    "headers": {"X-Tenant": "acme"},
    "records_path": "result.items",
}


def test_rest_api_calls_base_url_plus_test_path_with_the_configured_auth(world):
    world.client.answer(200, {"result": {"items": [{"n": 1}, {"n": 2}]}})
    outcome = world.tester().test_unsaved(ME, "rest_api", {"api_key": "rest-key-123"}, REST_CONFIG)
    [sent] = world.client.sent
    assert sent.method == "GET"
    assert sent.url == "https://api.acme.example/v2/status?verbose=1"
    assert sent.params == {"apikey": "rest-key-123"}
    assert sent.headers == {"X-Tenant": "acme", "Accept": "application/json"}
    assert outcome.code == OutcomeCode.OK
    assert outcome.sample == [{"n": 1}, {"n": 2}]
    assert outcome.message == "Connected to api.acme.example (HTTP 200)."
    assert_clean(outcome, "rest-key-123", "verbose")


def test_rest_api_defaults_and_basic_auth(world):
    world.client.answer(200, [{"a": 1}])
    config = {"base_url": "https://api.acme.example", "test_path": "/", "auth_method": "basic"}
    outcome = world.tester().test_unsaved(
        ME, "rest_api", {"username": "me", "password": "pw-123456"}, config
    )
    [sent] = world.client.sent
    assert sent.url == "https://api.acme.example/"
    expected = "Basic " + base64.b64encode(b"me:pw-123456").decode()
    assert sent.headers["Authorization"] == expected
    assert outcome.sample == [{"a": 1}]


def test_rest_api_without_the_credential_its_method_needs_is_invalid_config(world):
    config = {"base_url": "https://api.acme.example", "test_path": "/", "auth_method": "bearer"}
    outcome = world.tester().test_unsaved(ME, "rest_api", {"api_key": "k-123456"}, config)
    assert outcome.code == OutcomeCode.INVALID_CONFIG
    assert outcome.message == "credentials.token is required when authentication is bearer"
    assert world.client.sent == []


def test_rest_api_with_a_bad_base_url_is_invalid_config(world):
    config = {"base_url": "ftp://files.example", "test_path": "/", "auth_method": "none"}
    outcome = world.tester().test_unsaved(ME, "rest_api", {}, config)
    assert outcome.code == OutcomeCode.INVALID_CONFIG
    assert outcome.message.startswith("config.base_url")


def test_a_blocked_rest_destination_says_so(world):
    world.client.fail("blocked")
    config = {"base_url": "http://10.0.0.7:8080", "test_path": "/health", "auth_method": "none"}
    outcome = world.tester().test_unsaved(ME, "rest_api", {}, config)
    assert outcome.code == OutcomeCode.BLOCKED_DESTINATION
    assert "10.0.0.7" in outcome.message
    assert "Tether does not call private or internal networks" in (outcome.suggestion or "")


# -- generic GraphQL -------------------------------------------------------------------------
GQL_CONFIG = {"endpoint": "https://gql.acme.example/graphql", "auth_method": "bearer"}
GQL_CREDS = {"token": "gql-token-123456"}


def gql(world: World, config: dict[str, Any] | None = None) -> ProbeOutcome:
    return world.tester().test_unsaved(ME, "graphql_api", GQL_CREDS, config or GQL_CONFIG)


def test_graphql_posts_the_default_query(world):
    world.client.answer(200, {"data": {"__typename": "Query"}})
    outcome = gql(world)
    [sent] = world.client.sent
    assert (sent.method, sent.url) == ("POST", "https://gql.acme.example/graphql")
    assert sent.json == {"query": "query { __typename }"}
    assert sent.headers["Authorization"] == "Bearer gql-token-123456"
    assert outcome.code == OutcomeCode.OK
    assert outcome.sample == [{"data": {"__typename": "Query"}}]


def test_graphql_posts_a_custom_query_and_judges_it_by_its_data(world):
    world.client.answer(200, {"data": {"viewer": {"login": "octo"}}}).answer(200, {"data": None})
    config = {**GQL_CONFIG, "test_query": "{ viewer { login } }"}
    assert gql(world, config).code == OutcomeCode.OK
    assert world.client.sent[0].json == {"query": "{ viewer { login } }"}
    assert gql(world, config).code == OutcomeCode.PROVIDER_ERROR


@pytest.mark.parametrize(
    ("errors", "code"),
    [
        ([{"message": "Unauthorized"}], OutcomeCode.INVALID_CREDENTIALS),
        (
            [{"message": "This endpoint requires you to be authenticated."}],
            OutcomeCode.INVALID_CREDENTIALS,
        ),
        (
            [{"message": "nope", "extensions": {"code": "UNAUTHENTICATED"}}],
            OutcomeCode.INVALID_CREDENTIALS,
        ),
        ([{"message": "nope", "extensions": {"code": "FORBIDDEN"}}], OutcomeCode.PERMISSION_DENIED),
        ([{"message": "Cannot query field 'x' on type 'Query'."}], OutcomeCode.PROVIDER_ERROR),
    ],
)
def test_graphql_errors_in_a_200_are_failures(world, errors, code):
    world.client.answer(200, {"data": None, "errors": errors})
    outcome = gql(world)
    assert (outcome.ok, outcome.code, outcome.http_status) == (False, code, 200)
    assert outcome.message == "gql.acme.example answered the GraphQL query with errors."
    assert outcome.sample == errors


def test_graphql_errors_with_partial_data_still_fail_and_redact_the_token(world):
    errors = [{"message": "bad token gql-token-123456"}] * 5
    world.client.answer(200, {"data": {"__typename": "Query"}, "errors": errors})
    outcome = gql(world)
    assert outcome.code == OutcomeCode.INVALID_CREDENTIALS
    assert outcome.sample == [{"message": f"bad token {REDACTED}"}] * 3
    assert_clean(outcome, "gql-token-123456")


def test_graphql_needs_a_json_object(world):
    world.client.answer(200, raw=b"<html></html>").answer(200, [1, 2])
    assert gql(world).code == OutcomeCode.PROVIDER_ERROR
    assert gql(world).code == OutcomeCode.PROVIDER_ERROR


def test_a_catalog_graphql_entry_is_judged_the_same_way(world):
    # The catalog's own GraphQL entries (Linear…) carry a query body and an ok_path.
    provider = REAL.get("linear")
    assert provider.test is not None and provider.test.body is not None
    world.client.answer(200, {"errors": [{"message": "Authentication required"}]})
    tester = world.tester(oauth_token=lambda c: "lin-token-0001")
    connection = world.service.create(ME, CreateConnection(provider="linear"))
    world.set_status(connection.id, ConnectionStatus.ACTIVE)
    outcome = tester.test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.INVALID_CREDENTIALS


# -- not testable ----------------------------------------------------------------------------
def test_an_entry_without_a_test_is_not_testable(world):
    outcome = world.tester().test_unsaved(ME, "hooky", {}, {})
    assert (outcome.ok, outcome.code) == (False, OutcomeCode.NOT_TESTABLE)
    assert outcome.message.startswith("Hooky has no test request")
    assert outcome.suggestion == suggestion_for(OutcomeCode.NOT_TESTABLE)
    assert world.client.sent == []


def test_an_unsaved_oauth_connection_is_not_testable(world):
    outcome = world.tester(oauth_token=lambda c: "x").test_unsaved(ME, "oauthy", {}, {})
    assert outcome.code == OutcomeCode.NOT_TESTABLE
    assert world.client.sent == []


def test_client_credentials_are_tested_with_the_issued_token(world):
    creds = {"client_id": "app-1", "client_secret": "cc-secret-123"}
    asked: list[tuple[str, dict[str, Any]]] = []

    def issue(provider: Any, config: Any, credentials: Any) -> str:
        asked.append((provider.key, dict(credentials)))
        return "cc-access-token-1"

    assert world.tester().test_unsaved(ME, "ccy", creds, {}).code == OutcomeCode.NOT_TESTABLE
    world.client.answer(200, {"app": "shop", "echo": "cc-access-token-1", "id": "app-1"})
    outcome = world.tester(client_credentials=issue).test_unsaved(ME, "ccy", creds, {})
    assert outcome.code == OutcomeCode.OK
    assert asked == [("ccy", creds)]
    assert world.client.sent[0].headers["Authorization"] == "Bearer cc-access-token-1"
    # The token and every credential value (the client id too) are cut out of the sample.
    assert outcome.sample == [{"app": "shop", "echo": REDACTED, "id": REDACTED}]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            TokenEndpointError("refused", error="invalid_client", retryable=False),
            OutcomeCode.INVALID_CREDENTIALS,
        ),
        (
            TokenEndpointError("busy", error="rate_limited", retryable=True),
            OutcomeCode.RATE_LIMITED,
        ),
        (TokenEndpointError("slow", error="timeout", retryable=True), OutcomeCode.TIMEOUT),
        (
            TokenEndpointError("down", error="server_error", retryable=True),
            OutcomeCode.PROVIDER_ERROR,
        ),
        (OutboundError("tls", failure="tls", retryable=False), OutcomeCode.TLS_ERROR),
    ],
)
def test_a_failing_token_request_is_an_outcome(world, error, code):
    def issue(provider: Any, config: Any, credentials: Any) -> str:
        raise error

    creds = {"client_id": "app-1", "client_secret": "cc-secret-123"}
    outcome = world.tester(client_credentials=issue).test_unsaved(ME, "ccy", creds, {})
    assert outcome.code == code
    assert world.client.sent == []
    assert_clean(outcome, "cc-secret-123")


# -- stored connections ----------------------------------------------------------------------
def test_a_stored_test_records_last_test_and_audits_ok_and_code_only(world):
    connection = world.create("keyed", {"api_key": KEY}, {"region": "us"})
    world.client.answer(200, {"data": [{"id": 1}]}, elapsed_ms=33)
    outcome = world.tester().test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.OK
    assert world.client.sent[0].headers["X-Api-Key"] == KEY
    assert world.client.sent[0].url == "https://us.keyed.example/v1/items?limit=3"
    record = world.record(connection.id)
    assert record.last_test is not None
    assert (record.last_test.ok, record.last_test.code) == (True, "OK")
    assert (record.last_test.at, record.last_test.latency_ms) == (T0, 33)
    assert record.status == ConnectionStatus.ACTIVE
    assert record.version == connection.version + 1
    [tested] = world.audit(TESTED_ACTION, connection.id)
    assert tested.detail == {"ok": True, "code": "OK"}
    assert tested.actor == "u1"
    [read] = world.audit("credentials.read", connection.id)
    assert read.detail == {"purpose": "test"}
    everything = " ".join(e.model_dump_json() for e in world.store.list_audit(TENANT))
    assert KEY not in everything


def test_invalid_credentials_move_an_active_connection_to_error_and_a_pass_brings_it_back(world):
    connection = world.create("keyed", {"api_key": KEY}, {"region": "eu"})
    tester = world.tester()
    world.client.answer(401, {"error": "bad key"})
    failed = tester.test_stored(ME, connection.id)
    record = world.record(connection.id)
    assert failed.code == OutcomeCode.INVALID_CREDENTIALS
    assert record.status == ConnectionStatus.ERROR
    assert record.status_detail is not None
    assert record.status_detail.code == "TEST_INVALID_CREDENTIALS"
    assert record.status_detail.message == failed.message
    assert record.last_test is not None and record.last_test.code == "INVALID_CREDENTIALS"
    assert [e.detail for e in world.audit(TESTED_ACTION, connection.id)] == [
        {"ok": False, "code": "INVALID_CREDENTIALS"}
    ]

    world.clock.advance(60)
    world.client.answer(200, {"data": []})
    assert tester.test_stored(ME, connection.id).ok
    record = world.record(connection.id)
    assert record.status == ConnectionStatus.ACTIVE
    assert record.status_detail is None
    assert record.last_test is not None and record.last_test.at == world.clock.now()


@pytest.mark.parametrize(
    ("start", "scripted", "end"),
    [
        (ConnectionStatus.ACTIVE, 403, ConnectionStatus.ACTIVE),
        (ConnectionStatus.ACTIVE, 503, ConnectionStatus.ACTIVE),
        (ConnectionStatus.ACTIVE, "timeout", ConnectionStatus.ACTIVE),
        (ConnectionStatus.ERROR, 401, ConnectionStatus.ERROR),
        (ConnectionStatus.ERROR, "timeout", ConnectionStatus.ERROR),
        (ConnectionStatus.NEEDS_REAUTH, 200, ConnectionStatus.NEEDS_REAUTH),
        (ConnectionStatus.DISABLED, 200, ConnectionStatus.DISABLED),
    ],
)
def test_only_credentials_failures_and_passes_change_the_status(world, start, scripted, end):
    connection = world.create("keyed", {"api_key": KEY}, {"region": "eu"})
    world.set_status(connection.id, start)
    if isinstance(scripted, int):
        world.client.answer(scripted, {"data": []})
    else:
        world.client.fail(scripted)
    outcome = world.tester().test_stored(ME, connection.id)
    record = world.record(connection.id)
    assert record.status == end
    assert record.last_test is not None and record.last_test.code == outcome.code.value


def test_a_lost_compare_and_set_is_retried_on_a_re_read(world):
    connection = world.create("keyed", {"api_key": KEY}, {"region": "eu"})
    world.store.conflicts = 2
    world.client.answer(401)
    world.tester().test_stored(ME, connection.id)
    record = world.record(connection.id)
    assert world.store.conflicts == 0
    assert record.status == ConnectionStatus.ERROR
    assert record.last_test is not None and record.last_test.code == "INVALID_CREDENTIALS"


def test_a_record_that_stays_contended_still_answers_the_outcome(world):
    connection = world.create("keyed", {"api_key": KEY}, {"region": "eu"})
    world.store.conflicts = 100
    world.client.answer(200, {"data": []})
    outcome = world.tester().test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.OK
    world.store.conflicts = 0
    assert world.record(connection.id).last_test is None


def test_a_store_failure_while_recording_is_raised(world):
    connection = world.create("keyed", {"api_key": KEY}, {"region": "eu"})
    world.client.answer(200, {"data": []})

    def broken(
        connection: Connection, *, expected_version: int, audit: Sequence[AuditEvent] = ()
    ) -> Connection:
        raise BackendUnavailable("store down")

    world.store.update_connection = broken  # type: ignore[method-assign]
    with pytest.raises(BackendUnavailable):
        world.tester().test_stored(ME, connection.id)


def test_a_stored_connection_of_another_tenant_is_not_found(world):
    connection = world.create("keyed", {"api_key": KEY}, {"region": "eu"})
    with pytest.raises(NotFound):
        world.tester().test_stored(Principal(tenant_id="t2", user_id="u9"), connection.id)
    assert world.client.sent == []


def test_a_stored_connection_without_a_test_is_left_alone(world):
    connection = world.create("hooky")
    outcome = world.tester().test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.NOT_TESTABLE
    record = world.record(connection.id)
    assert record.last_test is None and record.version == connection.version
    assert world.audit(TESTED_ACTION, connection.id) == []
    assert world.audit("credentials.read", connection.id) == []


def test_stored_rest_api_connections_use_their_config(world):
    connection = world.create(
        "rest_api",
        {"token": "rest-token-123456"},
        {
            "base_url": "https://api.acme.example",
            "test_path": "/me",
            "auth_method": "bearer",
        },
    )
    world.client.answer(200, {"me": "acme", "session": "abc"})
    outcome = world.tester().test_stored(ME, connection.id)
    assert outcome.sample == [{"me": "acme", "session": REDACTED}]
    assert world.client.sent[0].headers["Authorization"] == "Bearer rest-token-123456"


# -- stored OAuth2 ---------------------------------------------------------------------------
def oauth_connection(world: World) -> Connection:
    connection = world.create("oauthy")
    assert connection.status == ConnectionStatus.PENDING
    world.set_status(connection.id, ConnectionStatus.ACTIVE)
    return world.record(connection.id)


def test_a_pending_oauth_connection_is_not_testable(world):
    connection = world.create("oauthy")
    outcome = world.tester(oauth_token=lambda c: "x").test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.NOT_TESTABLE
    assert world.record(connection.id).last_test is None


def test_oauth_uses_the_token_source_and_retries_once_with_a_refreshed_token(world):
    connection = oauth_connection(world)
    asked: list[str] = []

    def token(c: Connection) -> str:
        asked.append(c.id)
        return "access-old-0001"

    world.client.answer(401).answer(200, {"id": "me", "token_echo": "access-new-0002"})
    tester = world.tester(oauth_token=token, oauth_refresh=lambda c: "access-new-0002")
    outcome = tester.test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.OK
    assert asked == [connection.id]
    assert [s.headers["Authorization"] for s in world.client.sent] == [
        "Bearer access-old-0001",
        "Bearer access-new-0002",
    ]
    assert outcome.sample == [{"id": "me", "token_echo": REDACTED}]
    assert world.audit("credentials.read", connection.id) == []  # the token source reads
    assert world.record(connection.id).last_test is not None


def test_oauth_401_after_a_failed_refresh_is_invalid_credentials(world):
    connection = oauth_connection(world)

    def refresh(c: Connection) -> str | None:
        raise ReauthRequired("reconnect")

    world.client.answer(401).answer(200)
    tester = world.tester(oauth_token=lambda c: "access-old-0001", oauth_refresh=refresh)
    outcome = tester.test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.INVALID_CREDENTIALS
    assert "Reconnect" in (outcome.suggestion or "")
    assert len(world.client.sent) == 1
    assert world.record(connection.id).status == ConnectionStatus.ERROR


def test_a_token_source_that_needs_reauth_is_invalid_credentials_without_a_call(world):
    connection = oauth_connection(world)

    def token(c: Connection) -> str:
        raise ReauthRequired("reconnect")

    outcome = world.tester(oauth_token=token).test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.INVALID_CREDENTIALS
    assert outcome.message == "The provider no longer accepts this connection's authorization."
    assert world.client.sent == []


def test_a_provider_refusing_the_refresh_is_a_provider_error(world):
    connection = oauth_connection(world)

    def token(c: Connection) -> str:
        raise BackendUnavailable("provider down", code=REFRESH_FAILED_CODE)

    outcome = world.tester(oauth_token=token).test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.PROVIDER_ERROR
    assert world.record(connection.id).status == ConnectionStatus.ACTIVE


def test_a_store_problem_of_the_token_source_is_raised_not_reported(world):
    connection = oauth_connection(world)

    def token(c: Connection) -> str:
        raise BackendUnavailable("lease held", code="OAUTH_REFRESH_IN_PROGRESS")

    with pytest.raises(BackendUnavailable):
        world.tester(oauth_token=token).test_stored(ME, connection.id)
    assert world.record(connection.id).last_test is None


def test_oauth_without_a_token_source_is_not_testable(world):
    connection = oauth_connection(world)
    outcome = world.tester().test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.NOT_TESTABLE
    assert world.client.sent == []


# -- PostgreSQL ------------------------------------------------------------------------------
PG_CONFIG = {"host": "db.acme.example", "port": 5432, "database": "shop", "sslmode": "verify-full"}
PG_CREDS = {"username": "reporter", "password": "pg-password-123"}


class FakeCursor:
    def __init__(self, row: Any) -> None:
        self.row = row
        self.executed: list[str] = []

    def execute(self, operation: str) -> None:
        self.executed.append(operation)

    def fetchone(self) -> Any:
        return self.row


class FakePg:
    def __init__(self, *, row: Any = (1,), error: BaseException | None = None) -> None:
        self.row = row
        self.error = error
        self.calls: list[dict[str, Any]] = []
        self.cursors: list[FakeCursor] = []
        self.closed = 0

    def __call__(self, **kwargs: Any) -> FakePg:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return self

    def cursor(self) -> FakeCursor:
        cursor = FakeCursor(self.row)
        self.cursors.append(cursor)
        return cursor

    def close(self) -> None:
        self.closed += 1


class DatabaseError(Exception):
    """pg8000's shape: the server's ErrorResponse fields as the first argument."""


class InterfaceError(Exception):
    pass


def pg_test(
    world: World, fake: FakePg, config: dict[str, Any] | None = None, **kw: Any
) -> ProbeOutcome:
    return world.tester(pg_connect=fake, **kw).test_unsaved(
        ME, "postgresql", PG_CREDS, config or PG_CONFIG
    )


def test_postgres_connects_to_the_checked_address_and_runs_select_1(world):
    fake = FakePg()
    outcome = pg_test(world, fake)
    assert outcome.code == OutcomeCode.OK
    assert outcome.message == "Connected to shop on db.acme.example and ran SELECT 1."
    assert outcome.latency_ms == 250
    [call] = fake.calls
    context = call.pop("ssl_context")
    assert call == {
        "host": "db.acme.example",
        "address": PUBLIC_IP,
        "port": 5432,
        "database": "shop",
        "user": "reporter",
        "password": "pg-password-123",
        "timeout": 12.0,
    }
    assert context.check_hostname is True and context.verify_mode == ssl.CERT_REQUIRED
    assert fake.cursors[0].executed == ["SELECT 1"]
    assert fake.closed == 1
    assert world.client.sent == []


@pytest.mark.parametrize(
    ("sslmode", "check_hostname", "verify_mode"),
    [
        ("verify-full", True, ssl.CERT_REQUIRED),
        ("verify-ca", False, ssl.CERT_REQUIRED),
        ("require", False, ssl.CERT_NONE),
    ],
)
def test_postgres_tls_follows_sslmode(world, sslmode, check_hostname, verify_mode):
    fake = FakePg()
    pg_test(world, fake, {**PG_CONFIG, "sslmode": sslmode})
    context = fake.calls[0]["ssl_context"]
    assert (context.check_hostname, context.verify_mode) == (check_hostname, verify_mode)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            DatabaseError(
                {"C": "28P01", "M": 'password authentication failed for user "reporter"'}
            ),
            OutcomeCode.INVALID_CREDENTIALS,
        ),
        (
            DatabaseError({"C": "28000", "M": "no pg_hba.conf entry"}),
            OutcomeCode.INVALID_CREDENTIALS,
        ),
        (
            DatabaseError({"C": "3D000", "M": 'database "shop" does not exist'}),
            OutcomeCode.NOT_FOUND,
        ),
        (DatabaseError({"C": "42501", "M": "permission denied"}), OutcomeCode.PERMISSION_DENIED),
        (DatabaseError({"C": "53300", "M": "too many clients"}), OutcomeCode.RATE_LIMITED),
        (DatabaseError({"C": "08006", "M": "connection failure"}), OutcomeCode.CONNECTION_FAILED),
        (DatabaseError({"C": "XX000", "M": "internal"}), OutcomeCode.PROVIDER_ERROR),
        (TimeoutError("timed out"), OutcomeCode.TIMEOUT),
        (ssl.SSLCertVerificationError("certificate verify failed"), OutcomeCode.TLS_ERROR),
        (InterfaceError("Server refuses SSL"), OutcomeCode.TLS_ERROR),
        (ConnectionRefusedError("refused"), OutcomeCode.CONNECTION_FAILED),
        (OSError("unreachable"), OutcomeCode.CONNECTION_FAILED),
        (RuntimeError("driver bug"), OutcomeCode.PROVIDER_ERROR),
    ],
)
def test_postgres_errors_map_to_codes(world, error, code):
    fake = FakePg(error=error)
    outcome = pg_test(world, fake)
    assert (outcome.ok, outcome.code) == (False, code)
    assert outcome.latency_ms == 250
    assert outcome.suggestion == suggestion_for(code, auth_kind="database")
    assert "reporter" not in outcome.message and "pg_hba" not in outcome.message
    assert_clean(outcome, "pg-password-123")


def test_postgres_errors_are_found_through_the_exception_chain():
    def chained(cause: BaseException) -> BaseException:
        try:
            raise InterfaceError("Can't create a connection to host db") from cause
        except InterfaceError as exc:
            return exc

    assert describe_pg_error(chained(socket.gaierror("nodename")), "db")[0] == (
        OutcomeCode.CONNECTION_FAILED
    )
    assert describe_pg_error(chained(TimeoutError()), "db")[0] == OutcomeCode.TIMEOUT

    class Psycopg(Exception):
        sqlstate = "28P01"

    assert describe_pg_error(Psycopg(), "db")[0] == OutcomeCode.INVALID_CREDENTIALS


def test_postgres_closes_the_connection_when_the_query_fails(world):
    class Failing(FakePg):
        def cursor(self) -> FakeCursor:
            raise DatabaseError({"C": "42501"})

    fake = Failing()
    assert pg_test(world, fake).code == OutcomeCode.PERMISSION_DENIED
    assert fake.closed == 1


def test_postgres_answering_something_else_than_1_is_a_provider_error(world):
    assert pg_test(world, FakePg(row=(2,))).code == OutcomeCode.PROVIDER_ERROR


@pytest.mark.parametrize("resolved", [["10.0.0.5"], ["127.0.0.1"], [PUBLIC_IP, "169.254.169.254"]])
def test_postgres_private_addresses_are_blocked(world, resolved):
    fake = FakePg()
    guard = EgressGuard(resolver=lambda host, port: resolved)
    outcome = pg_test(world, fake, guard=guard)
    assert outcome.code == OutcomeCode.BLOCKED_DESTINATION
    assert fake.calls == []


def test_postgres_literal_private_hosts_are_blocked_unless_allowlisted(world):
    fake = FakePg()
    local = {**PG_CONFIG, "host": "127.0.0.1"}
    assert pg_test(world, fake, local).code == OutcomeCode.BLOCKED_DESTINATION
    allowed = EgressGuard(allowlist=["127.0.0.1:5432"])
    assert pg_test(world, fake, local, guard=allowed).code == OutcomeCode.OK
    assert fake.calls[0]["address"] == "127.0.0.1"


def test_postgres_config_is_validated(world):
    fake = FakePg()
    outcome = pg_test(world, fake, {**PG_CONFIG, "sslmode": "disable"})
    assert outcome.code == OutcomeCode.INVALID_CONFIG
    assert outcome.message.startswith("config.sslmode")
    assert fake.calls == []


def test_postgres_without_a_driver_says_support_is_not_installed(world, monkeypatch):
    monkeypatch.setitem(sys.modules, "pg8000", None)
    monkeypatch.setitem(sys.modules, "pg8000.dbapi", None)
    outcome = world.tester().test_unsaved(ME, "postgresql", PG_CREDS, PG_CONFIG)
    assert (outcome.ok, outcome.code) == (False, OutcomeCode.INVALID_CONFIG)
    assert outcome.message == "PostgreSQL support is not installed"


def test_a_stored_postgres_connection_with_a_wrong_password_goes_to_error(world):
    connection = world.create("postgresql", PG_CREDS, PG_CONFIG)
    fake = FakePg(error=DatabaseError({"C": "28P01"}))
    outcome = world.tester(pg_connect=fake).test_stored(ME, connection.id)
    assert outcome.code == OutcomeCode.INVALID_CREDENTIALS
    assert fake.calls[0]["password"] == "pg-password-123"
    record = world.record(connection.id)
    assert record.status == ConnectionStatus.ERROR
    assert record.last_test is not None and record.last_test.code == "INVALID_CREDENTIALS"


class FakeSocket:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_pg8000(monkeypatch):
    """A stand-in ``pg8000.dbapi`` module and socket factory: what the pg8000 adapter hands
    over, without a driver or a network."""
    module = types.ModuleType("pg8000.dbapi")
    state: dict[str, Any] = {"calls": [], "sockets": [], "error": None}

    def connect(**kwargs: Any) -> FakePg:
        state["calls"].append(kwargs)
        if state["error"] is not None:
            raise state["error"]
        return FakePg()

    def create_connection(address: tuple[str, int], timeout: float) -> FakeSocket:
        sock = FakeSocket()
        state["sockets"].append((address, timeout, sock))
        return sock

    module.connect = connect  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pg8000", types.ModuleType("pg8000"))
    monkeypatch.setitem(sys.modules, "pg8000.dbapi", module)
    monkeypatch.setattr(postgres_probe.socket, "create_connection", create_connection)
    return state


def test_pg8000_gets_a_socket_to_the_checked_address_and_the_host_for_tls(world, fake_pg8000):
    outcome = world.tester().test_unsaved(ME, "postgresql", PG_CREDS, PG_CONFIG)
    assert outcome.code == OutcomeCode.OK
    [(address, timeout, sock)] = fake_pg8000["sockets"]
    assert (address, timeout) == ((PUBLIC_IP, 5432), 12.0)
    [call] = fake_pg8000["calls"]
    assert call["sock"] is sock
    assert (call["host"], call["port"], call["database"]) == ("db.acme.example", 5432, "shop")
    assert (call["user"], call["password"]) == ("reporter", "pg-password-123")
    assert isinstance(call["ssl_context"], ssl.SSLContext) and call["timeout"] == 12.0


def test_pg8000_failures_close_the_socket(world, fake_pg8000):
    fake_pg8000["error"] = DatabaseError({"C": "28P01"})
    outcome = world.tester().test_unsaved(ME, "postgresql", PG_CREDS, PG_CONFIG)
    assert outcome.code == OutcomeCode.INVALID_CREDENTIALS
    [(_, _, sock)] = fake_pg8000["sockets"]
    assert sock.closed
