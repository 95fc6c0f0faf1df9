"""Credentials are bound to their destination (the origins they are sent to).

Red-team steps, through the deployed functions: a PATCH that moves a connection's base URL,
token URL or database host must bring the credentials again, or nothing is written; once
moved, nothing stored follows (an OAuth grant it drops is revoked at the old provider); and
no outbound call attaches a connection's credentials to an origin outside its destination.
"elsewhere" is a second local API that records what reaches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from functions_framework import create_app
from pydantic import SecretStr

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.functions.oauth_harness import ACME as OAUTH_ACME
from tests.functions.oauth_harness import Flow, clock, connect, flow, running_flow
from tether.bootstrap import Container, reset_container
from tether.config import OAuthClientCredentials, Settings
from tether.domain.clock import FixedClock
from tether_emulators.oauth_provider import OAuthProvider
from tether_emulators.sample_api import AuthRequirement, SampleApi

__all__ = ["clock", "flow"]  # fixtures

ACME = bearer("acme")
TOKEN = "home-secret-token-0123456789"


class Clients:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.connections = create_app("connections", SOURCE).test_client()
        self.test = create_app("test_connection", SOURCE).test_client()
        self.fetch = create_app("fetch", SOURCE).test_client()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created = self.connections.post("/", json=body, headers=ACME)
        assert created.status_code == 201, created.get_json()
        return dict(created.get_json())

    def get(self, connection_id: str) -> dict[str, Any]:
        answer = self.connections.get(f"/{connection_id}", headers=ACME)
        assert answer.status_code == 200
        return dict(answer.get_json())

    def patch(self, connection_id: str, body: dict[str, Any]) -> Any:
        return self.connections.patch(f"/{connection_id}", json=body, headers=ACME)


@pytest.fixture
def home(sample_api_factory) -> SampleApi:
    return sample_api_factory(items=30, auth=AuthRequirement(mode="bearer", secret=TOKEN))


@pytest.fixture
def elsewhere(sample_api_factory) -> SampleApi:
    return sample_api_factory(items=30)


@pytest.fixture
def clients(settings: Settings, home: SampleApi, elsewhere: SampleApi) -> Iterator[Clients]:
    allow = f"127.0.0.1:{home.port},127.0.0.1:{elsewhere.port}"
    container = Container(settings.model_copy(update={"egress_allowlist": allow}))
    reset_container(container)
    yield Clients(container)
    reset_container(None)


def _rest_api(url: str, **credentials: str) -> dict[str, Any]:
    return {
        "provider": "rest_api",
        "config": {"base_url": url, "auth_method": "bearer", "test_path": "/me"},
        "credentials": credentials or {"token": TOKEN},
    }


def _leaked(api: SampleApi, secret: str) -> list[str]:
    return [r.path for r in api.requests if secret in repr(r)]


def test_moving_the_base_url_without_credentials_is_refused_and_writes_nothing(
    clients, home, elsewhere
):
    created = clients.create(_rest_api(home.url))
    before = clients.get(created["id"])

    moved = clients.patch(
        created["id"], {"config": {**before["config"], "base_url": elsewhere.url}}
    )

    assert moved.status_code == 409
    error = moved.get_json()["error"]
    assert error["code"] == "CREDENTIALS_REQUIRED"
    assert f"127.0.0.1:{elsewhere.port}" in error["message"]
    assert TOKEN not in moved.get_data(as_text=True)
    after = clients.get(created["id"])
    assert after == before  # same config, same version
    # The stored credentials still go home only.
    tested = clients.test.post(f"/{created['id']}", headers=ACME)
    assert tested.get_json()["code"] == "OK"
    assert elsewhere.requests == []
    assert home.requests and all(r.header("Authorization") for r in home.requests)


def test_a_change_within_the_same_origin_needs_no_credentials(clients, home):
    created = clients.create(_rest_api(home.url))

    moved = clients.patch(
        created["id"], {"config": {**created["config"], "base_url": f"{home.url}/v2"}}
    )

    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["config"]["base_url"] == f"{home.url}/v2"
    assert moved.get_json()["credential_hints"] == created["credential_hints"]


def test_moving_with_credentials_replaces_them_and_nothing_stored_follows(clients, home, elsewhere):
    created = clients.create(
        _rest_api(home.url, token=TOKEN, username="ops", password="home-password-987")
    )

    moved = clients.patch(
        created["id"],
        {
            "config": {**created["config"], "base_url": elsewhere.url},
            "credentials": {"token": "elsewhere-token-555"},
        },
    )

    assert moved.status_code == 200, moved.get_json()
    # Not merged: the password and user name of the old destination are gone.
    assert set(moved.get_json()["credential_hints"]) == {"token"}
    clients.test.post(f"/{created['id']}", headers=ACME)
    clients.fetch.post(f"/{created['id']}", json={"path": "/me"}, headers=ACME)
    assert elsewhere.requests
    assert {r.header("Authorization") for r in elsewhere.requests} == {"Bearer elsewhere-token-555"}
    for secret in (TOKEN, "home-password-987"):
        assert _leaked(elsewhere, secret) == []
    audit = clients.connections.get(f"/{created['id']}/audit", headers=ACME).get_json()["audit"]
    updated = next(e for e in audit if e["action"] == "connection.updated")
    assert updated["detail"]["destination_changed"] == sorted(
        [f"http://127.0.0.1:{home.port}", f"http://127.0.0.1:{elsewhere.port}"]
    )


def test_a_config_url_no_client_can_parse_is_refused_on_patch_too(clients, home):
    created = clients.create(_rest_api(home.url))

    odd = clients.patch(
        created["id"],
        {"config": {**created["config"], "base_url": "http://[::1"}, "credentials": {}},
    )

    assert odd.status_code == 400
    assert odd.get_json()["error"]["code"] == "INVALID_CONFIG"
    assert clients.get(created["id"])["config"] == created["config"]


def test_fetch_never_sends_credentials_to_another_origin(clients, home, elsewhere):
    created = clients.create(_rest_api(home.url))

    answer = clients.fetch.post(
        f"/{created['id']}", json={"path": f"{elsewhere.url}/me"}, headers=ACME
    )

    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "INVALID_PATH"
    assert elsewhere.requests == []


def test_moving_a_database_host_needs_the_password_again(clients):
    body = {
        "provider": "postgresql",
        "config": {
            "host": "db.internal.example",
            "port": 5432,
            "database": "app",
            "sslmode": "verify-full",
        },
        "credentials": {"username": "app", "password": "db-password-123"},
    }
    created = clients.create(body)
    for change in ({"host": "db.attacker.example"}, {"port": 6543}, {"sslmode": "require"}):
        moved = clients.patch(created["id"], {"config": {**created["config"], **change}})
        assert moved.status_code == 409, change
        assert moved.get_json()["error"]["code"] == "CREDENTIALS_REQUIRED"
    renamed = clients.patch(created["id"], {"config": {**created["config"], "database": "other"}})
    assert renamed.status_code == 200


def test_moving_an_oauth_token_url_needs_a_new_grant(flow, sample_api_factory):
    elsewhere = sample_api_factory(items=1)
    connection_id = connect(flow)
    connections = flow.connections
    current = connections.get(f"/{connection_id}", headers=OAUTH_ACME).get_json()
    evil = {**current["config"], "token_url": f"{elsewhere.url}/token"}

    refused = connections.patch(f"/{connection_id}", json={"config": evil}, headers=OAUTH_ACME)

    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "CREDENTIALS_REQUIRED"
    assert connections.get(f"/{connection_id}", headers=OAUTH_ACME).get_json() == current

    moved = connections.patch(
        f"/{connection_id}",
        json={"config": evil, "credentials": {"client_secret": "a-new-client-secret"}},
        headers=OAUTH_ACME,
    )

    assert moved.status_code == 200, moved.get_json()
    view = moved.get_json()
    assert view["status"] == "pending"
    assert view["status_detail"]["code"] == "RECONNECT_REQUIRED"
    record = flow.container.store.get_connection("acme", connection_id)
    assert record is not None
    assert record.sealed_access_token is None and record.token_expires_at is None
    payload = flow.container.secrets.get(
        tenant_id="acme", connection_id=connection_id, ref=record.credential_ref
    )
    assert payload == {"client_secret": "a-new-client-secret"}  # no refresh token follows
    refreshed = connections.post(f"/{connection_id}/refresh", headers=OAUTH_ACME)
    assert 400 <= refreshed.status_code < 500
    assert elsewhere.requests == []


class Rehoming:
    """An OAuth connection's old provider (``flow.provider``) and the new one it moves to;
    both reachable, so a token sent to the wrong one would arrive and be recorded."""

    def __init__(self, flow: Flow, new: OAuthProvider) -> None:
        self.flow = flow
        self.old = flow.provider
        self.new = new

    def refresh_token(self, connection_id: str) -> str:
        record = self.flow.container.store.get_connection("acme", connection_id)
        assert record is not None
        payload = self.flow.container.secrets.get(
            tenant_id="acme", connection_id=connection_id, ref=record.credential_ref
        )
        return str(payload["refresh_token"])

    def patch(self, connection_id: str, body: dict[str, Any]) -> Any:
        return self.flow.connections.patch(f"/{connection_id}", json=body, headers=OAUTH_ACME)

    def moved_config(self, connection_id: str) -> dict[str, Any]:
        view = self.flow.connections.get(f"/{connection_id}", headers=OAUTH_ACME).get_json()
        return {
            **view["config"],
            "authorization_url": self.new.authorization_url,
            "token_url": self.new.token_url,
            "revocation_url": self.new.revocation_url,
            "issuer": self.new.issuer,
        }

    def audit_actions(self, connection_id: str) -> list[str]:
        answer = self.flow.connections.get(f"/{connection_id}/audit", headers=OAUTH_ACME)
        return [entry["action"] for entry in answer.get_json()["audit"]]


@pytest.fixture
def rehoming(
    settings: Settings,
    oauth_provider: OAuthProvider,
    oauth_provider_factory: Any,
    clock: FixedClock,
) -> Iterator[Rehoming]:
    new = oauth_provider_factory()
    allow = f"127.0.0.1:{oauth_provider.port},127.0.0.1:{new.port}"
    for moving in running_flow(settings, oauth_provider, clock, egress_allowlist=allow):
        yield Rehoming(moving, new)


def test_moving_an_oauth_connection_revokes_its_old_grant_at_the_old_provider(rehoming):
    connection_id = connect(rehoming.flow)
    old_refresh = rehoming.refresh_token(connection_id)
    rehoming.old.reset_stats()

    moved = rehoming.patch(
        connection_id,
        {
            "config": rehoming.moved_config(connection_id),
            "credentials": {"client_secret": "a-new-client-secret"},
        },
    )

    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["status_detail"]["code"] == "RECONNECT_REQUIRED"
    assert not rehoming.old.is_active(old_refresh)
    revocations = rehoming.old.requests("revoke")
    assert revocations and all(r.status == 200 for r in revocations)
    assert {r.client_id for r in revocations} == {"tether-test"}  # the old client
    assert rehoming.new.requests() == []  # nothing of the old grant goes to the new origin
    assert "token.revoked" in rehoming.audit_actions(connection_id)


def test_a_failed_revocation_does_not_block_the_move(rehoming):
    connection_id = connect(rehoming.flow)
    old_refresh = rehoming.refresh_token(connection_id)
    rehoming.old.inject("revoke", status=503, times=5)

    moved = rehoming.patch(
        connection_id,
        {
            "config": rehoming.moved_config(connection_id),
            "credentials": {"client_secret": "a-new-client-secret"},
        },
    )

    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["config"]["token_url"] == rehoming.new.token_url
    assert "token.revocation_failed" in rehoming.audit_actions(connection_id)
    audit = rehoming.flow.connections.get(f"/{connection_id}/audit", headers=OAUTH_ACME)
    assert old_refresh not in audit.get_data(as_text=True)
    assert rehoming.new.requests() == []


def test_a_patch_that_does_not_move_the_destination_revokes_nothing(rehoming):
    connection_id = connect(rehoming.flow)
    old_refresh = rehoming.refresh_token(connection_id)
    rehoming.old.reset_stats()
    view = rehoming.flow.connections.get(f"/{connection_id}", headers=OAUTH_ACME).get_json()

    renamed = rehoming.patch(connection_id, {"display_name": "Renamed"})
    same_origin = rehoming.patch(
        connection_id, {"config": {**view["config"], "scopes": ["profile"]}}
    )

    assert renamed.status_code == 200
    assert same_origin.status_code == 200, same_origin.get_json()
    assert same_origin.get_json()["status"] == "active"
    assert rehoming.old.requests("revoke") == []
    assert rehoming.old.is_active(old_refresh)
    assert rehoming.new.requests() == []
    assert "token.revoked" not in rehoming.audit_actions(connection_id)


def test_a_connected_oauth_connection_can_change_its_client_secret_alone(rehoming):
    """The grant's refresh token is Tether's, kept beside the tenant's fields: a PATCH of the
    tenant's own credential fields keeps it and does not validate it as a tenant field."""
    connection_id = connect(rehoming.flow)
    old_refresh = rehoming.refresh_token(connection_id)

    changed = rehoming.patch(connection_id, {"credentials": {"client_secret": "rotated-secret"}})

    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["status"] == "active"
    assert rehoming.refresh_token(connection_id) == old_refresh  # the grant stays
    assert rehoming.old.requests("revoke") == []


@pytest.mark.parametrize("value", ["planted", None])
def test_a_tenant_cannot_write_the_grant_fields_through_a_patch(rehoming, value):
    connection_id = connect(rehoming.flow)
    old_refresh = rehoming.refresh_token(connection_id)

    refused = rehoming.patch(connection_id, {"credentials": {"refresh_token": value}})

    assert refused.status_code == 400, refused.get_json()
    assert refused.get_json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert rehoming.refresh_token(connection_id) == old_refresh


@pytest.fixture
def zoho(settings: Settings) -> Iterator[Clients]:
    configured = settings.model_copy(
        update={
            "public_url": "http://127.0.0.1:8080",
            "allowed_return_urls": "https://app.example.com/",
            "oauth_clients": {
                "zoho_crm": OAuthClientCredentials(
                    client_id="tether-zoho", client_secret=SecretStr("platform-secret-0")
                )
            },
        }
    )
    container = Container(configured)
    reset_container(container)
    yield Clients(container)
    reset_container(None)


def test_a_callback_cannot_point_the_token_request_at_another_host(zoho):
    # Zoho's callback names the data center (accounts-server) the code is redeemed at; the
    # browser carries it, so only the catalog's data centers may receive Tether's secret.
    start = create_app("oauth_start", SOURCE).test_client()
    callback = create_app("oauth_callback", SOURCE).test_client()
    started = start.post(
        "/",
        json={"provider": "zoho_crm", "return_to": "https://app.example.com/done"},
        headers=ACME,
    )
    assert started.status_code == 201, started.get_json()

    answer = callback.get(
        "/",
        query_string={
            "code": "a-code",
            "state": started.get_json()["state"],
            "accounts-server": "https://accounts.evil.example",
        },
    )

    assert answer.status_code == 302
    assert "error=invalid_config" in answer.headers["Location"]
    assert zoho.connections.get("/", headers=ACME).get_json()["connections"] == []

    # Without the data center, there is nowhere to redeem the code: an error, not a crash.
    again = start.post(
        "/",
        json={"provider": "zoho_crm", "return_to": "https://app.example.com/done"},
        headers=ACME,
    ).get_json()
    answer = callback.get("/", query_string={"code": "a-code", "state": again["state"]})
    assert answer.status_code == 302
    assert "error=invalid_callback" in answer.headers["Location"]
