"""The ``connections`` function over HTTP: CRUD, tenant isolation, errors, no secret leaks."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tether.adapters.sqlite import SqliteConnectionStore
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether.domain.errors import BackendUnavailable
from tether.domain.models import AuditEvent

SECRET = "sk_test_51TetherSecretValue0123456789abcdef"
ACME = bearer("acme")
GLOBEX = bearer("globex")


def create_stripe(client: FlaskClient, headers: dict[str, str] = ACME, **extra: object) -> dict:
    body = {"provider": "stripe", "display_name": "Main Stripe", "credentials": {"api_key": SECRET}}
    body.update(extra)
    response = client.post("/", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_the_connection_without_credentials(connections_client: FlaskClient) -> None:
    response = connections_client.post(
        "/",
        json={
            "provider": "stripe",
            "display_name": "Main Stripe",
            "credentials": {"api_key": SECRET},
            "metadata": {"team": "finance"},
        },
        headers=ACME,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"].startswith("conn_") and len(body["id"]) >= 20
    assert body["provider"] == "stripe"
    assert body["status"] == "active"
    assert body["display_name"] == "Main Stripe"
    assert body["metadata"] == {"team": "finance"}
    assert body["credential_hints"]["api_key"].startswith("sk_test_…")
    assert body["credential_hints"]["api_key"].endswith(SECRET[-4:])
    assert SECRET not in response.get_data(as_text=True)
    assert response.headers["Location"].endswith(body["id"])
    assert response.headers["ETag"] == '"1"'


def test_get_list_patch_delete_round_trip(connections_client: FlaskClient) -> None:
    created = create_stripe(connections_client)
    cid = created["id"]

    got = connections_client.get(f"/{cid}", headers=ACME)
    assert got.status_code == 200 and got.get_json()["id"] == cid

    listed = connections_client.get("/", headers=ACME).get_json()
    assert [c["id"] for c in listed["connections"]] == [cid]
    assert listed["next_cursor"] is None

    patched = connections_client.patch(
        f"/{cid}", json={"display_name": "Renamed", "metadata": {"k": "v"}}, headers=ACME
    )
    assert patched.status_code == 200
    assert patched.get_json()["display_name"] == "Renamed"
    assert patched.get_json()["version"] == 2

    deleted = connections_client.delete(f"/{cid}", headers=ACME)
    assert deleted.status_code == 204
    assert connections_client.get(f"/{cid}", headers=ACME).status_code == 404
    assert connections_client.delete(f"/{cid}", headers=ACME).status_code == 404
    assert connections_client.get("/", headers=ACME).get_json()["connections"] == []


def test_patch_credentials_rotates_the_secret(
    connections_client: FlaskClient, container: Container
) -> None:
    cid = create_stripe(connections_client)["id"]
    new_secret = "sk_live_51RotatedValue9876543210zyxw"
    response = connections_client.patch(
        f"/{cid}", json={"credentials": {"api_key": new_secret}}, headers=ACME
    )
    assert response.status_code == 200
    assert response.get_json()["credential_hints"]["api_key"].startswith("sk_live_…")
    assert new_secret not in response.get_data(as_text=True)
    principal_payload = container.connections.read_credentials(
        _principal("acme"), cid, purpose="test"
    )
    assert principal_payload == {"api_key": new_secret}


def _principal(tenant: str):
    from tether.domain.models import Principal

    return Principal(tenant_id=tenant, user_id="user-1")


def test_if_match_refuses_a_stale_update(connections_client: FlaskClient) -> None:
    cid = create_stripe(connections_client)["id"]
    ok = connections_client.patch(
        f"/{cid}", json={"display_name": "A"}, headers={**ACME, "If-Match": '"1"'}
    )
    assert ok.status_code == 200
    stale = connections_client.patch(
        f"/{cid}", json={"display_name": "B"}, headers={**ACME, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.get_json()["error"]["code"] == "VERSION_MISMATCH"


def test_other_tenants_ids_are_404(connections_client: FlaskClient) -> None:
    cid = create_stripe(connections_client)["id"]
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"display_name": "x"}} if method == "patch" else {}
        response = getattr(connections_client, method)(f"/{cid}", headers=GLOBEX, **kwargs)
        assert response.status_code == 404, method
        assert response.get_json()["error"]["code"] == "CONNECTION_NOT_FOUND"
    assert connections_client.get("/", headers=GLOBEX).get_json()["connections"] == []
    assert connections_client.get(f"/{cid}", headers=ACME).status_code == 200


def test_tenant_in_body_is_ignored(connections_client: FlaskClient) -> None:
    response = connections_client.post(
        "/",
        json={"provider": "stripe", "credentials": {"api_key": SECRET}, "tenant_id": "globex"},
        headers=ACME,
    )
    assert response.status_code == 400  # unknown field, not a tenant switch
    assert connections_client.get("/", headers=GLOBEX).get_json()["connections"] == []


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "MISSING_TOKEN"),
        ({"Authorization": "Basic abc"}, "MISSING_TOKEN"),
        ({"Authorization": "Bearer not.a.jwt"}, "INVALID_TOKEN"),
    ],
)
def test_requests_without_a_valid_token_are_401(
    connections_client: FlaskClient, headers: dict[str, str], code: str
) -> None:
    response = connections_client.get("/", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == code
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "INVALID_JSON"),
        (b"[1, 2]", "application/json", 400, "INVALID_JSON"),
        (b"", "application/json", 400, "INVALID_JSON"),
        (b'{"provider": 42}', "application/json", 400, "VALIDATION_FAILED"),
        (
            b'{"provider": "stripe", "credentials": "x"}',
            "application/json",
            400,
            "VALIDATION_FAILED",
        ),
        (b'{"provider": "no_such_provider"}', "application/json", 404, "UNKNOWN_PROVIDER"),
        (b'{"provider": "stripe"}', "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "JSON_TOO_DEEP"),
        (
            b'{"provider": "stripe", "credentials": {"api_key": 7}}',
            "application/json",
            400,
            "INVALID_CREDENTIALS",
        ),
        (
            b'{"provider": "stripe", "display_name": ""}',
            "application/json",
            400,
            "VALIDATION_FAILED",
        ),
        (b'\xff\xfe{"provider": "stripe"}', "application/json", 400, "INVALID_JSON"),
    ],
)
def test_bad_input_gets_a_clear_error_and_writes_nothing(
    connections_client: FlaskClient, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = connections_client.post(
        "/", data=body, headers={**ACME, "Content-Type": content_type}
    )
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert connections_client.get("/", headers=ACME).get_json()["connections"] == []


def test_credentials_are_validated_against_the_schema_without_echoing_them(
    connections_client: FlaskClient,
) -> None:
    bad = "not-a-stripe-key-but-secret-anyway-123"
    response = connections_client.post(
        "/", json={"provider": "stripe", "credentials": {"api_key": bad}}, headers=ACME
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert "credentials.api_key" in response.get_json()["error"]["message"]
    assert bad not in response.get_data(as_text=True)

    missing = connections_client.post("/", json={"provider": "stripe"}, headers=ACME)
    assert missing.status_code == 400
    assert "credentials.api_key is required" in missing.get_json()["error"]["message"]


def test_oversized_body_is_413(connections_client: FlaskClient) -> None:
    big = json.dumps({"provider": "stripe", "metadata": {"x": "a" * (1024 * 1024 + 10)}})
    response = connections_client.post(
        "/", data=big, headers={**ACME, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_list_filters_and_paginates(connections_client: FlaskClient) -> None:
    ids = [create_stripe(connections_client, display_name=f"s{i}")["id"] for i in range(5)]
    first = connections_client.get("/?limit=2", headers=ACME).get_json()
    second = connections_client.get(
        f"/?limit=2&cursor={first['next_cursor']}", headers=ACME
    ).get_json()
    third = connections_client.get(
        f"/?limit=2&cursor={second['next_cursor']}", headers=ACME
    ).get_json()
    seen = [c["id"] for page in (first, second, third) for c in page["connections"]]
    assert sorted(seen) == sorted(ids) and third["next_cursor"] is None
    assert connections_client.get("/?provider=xero", headers=ACME).get_json()["connections"] == []
    assert (
        len(connections_client.get("/?status=active", headers=ACME).get_json()["connections"]) == 5
    )
    bad = connections_client.get("/?limit=0", headers=ACME)
    assert bad.status_code == 400
    assert connections_client.get("/?status=bogus", headers=ACME).status_code == 400
    assert connections_client.get("/?cursor=%%%", headers=ACME).status_code == 400


def test_audit_trail_records_every_change_and_no_secret(connections_client: FlaskClient) -> None:
    cid = create_stripe(connections_client)["id"]
    connections_client.patch(
        f"/{cid}", json={"credentials": {"api_key": SECRET + "x"}}, headers=ACME
    )
    trail = connections_client.get(f"/{cid}/audit", headers=ACME)
    assert trail.status_code == 200
    actions = [e["action"] for e in trail.get_json()["audit"]]
    assert actions == ["connection.updated", "credentials.read", "connection.created"]
    assert SECRET not in trail.get_data(as_text=True)
    assert connections_client.get(f"/{cid}/audit", headers=GLOBEX).status_code == 404


def test_cors_only_for_the_configured_frontend(connections_client: FlaskClient) -> None:
    preflight = connections_client.options(
        "/",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    other = connections_client.get("/", headers={**ACME, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    ours = connections_client.get("/", headers={**ACME, "Origin": "https://app.example.com"})
    assert ours.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_unknown_route_and_method(connections_client: FlaskClient) -> None:
    assert connections_client.get("/a/b/c/d", headers=ACME).status_code == 404
    response = connections_client.put("/", json={}, headers=ACME)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_secret_is_nowhere_in_logs_or_data_folder(
    connections_client: FlaskClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    from tether.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    cid = create_stripe(connections_client)["id"]
    connections_client.get(f"/{cid}", headers=ACME)
    connections_client.post(
        "/", json={"provider": "stripe", "credentials": {"api_key": SECRET, "x": 1}}, headers=ACME
    )
    formatter = JsonFormatter()
    rendered = "\n".join(formatter.format(r) for r in caplog.records)
    assert "connections" in rendered  # request lines were logged
    assert SECRET not in rendered
    for path in Path(container.settings.data_dir).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_ciphertext_moved_to_another_record_does_not_decrypt(
    connections_client: FlaskClient, container: Container
) -> None:
    from tether.domain.errors import CryptoError

    a = create_stripe(connections_client)["id"]
    b = create_stripe(connections_client, GLOBEX)["id"]
    c = create_stripe(connections_client)["id"]
    store = container.store
    rec_a = store.get_connection("acme", a)
    rec_b = store.get_connection("globex", b)
    rec_c = store.get_connection("acme", c)
    assert rec_a and rec_b and rec_c
    # Another tenant's row
    store.update_connection(
        rec_b.model_copy(update={"credential_ref": rec_a.credential_ref}), expected_version=1
    )
    with pytest.raises(CryptoError):
        container.connections.read_credentials(_principal("globex"), b, purpose="test")
    # Another record of the same tenant
    store.update_connection(
        rec_c.model_copy(update={"credential_ref": rec_a.credential_ref}), expected_version=1
    )
    with pytest.raises(CryptoError):
        container.connections.read_credentials(_principal("acme"), c, purpose="test")


@pytest.mark.parametrize("broken", ["error", "needs_reauth"])
def test_new_credentials_revive_a_broken_connection(
    connections_client: FlaskClient, container: Container, broken: str
) -> None:
    from tether.domain.models import StatusDetail
    from tether.domain.status import ConnectionStatus

    cid = create_stripe(connections_client)["id"]
    record = container.store.get_connection("acme", cid)
    assert record is not None
    container.store.update_connection(
        record.model_copy(
            update={
                "status": ConnectionStatus(broken),
                "status_detail": StatusDetail(code="X", message="broken", at=record.created_at),
            }
        ),
        expected_version=record.version,
    )
    assert connections_client.get(f"/{cid}", headers=ACME).get_json()["status"] == broken
    renamed = connections_client.patch(f"/{cid}", json={"display_name": "n"}, headers=ACME)
    assert renamed.get_json()["status"] == broken  # a rename fixes nothing
    fixed = connections_client.patch(
        f"/{cid}", json={"credentials": {"api_key": SECRET + "2"}}, headers=ACME
    )
    assert fixed.status_code == 200
    assert fixed.get_json()["status"] == "active"
    assert fixed.get_json()["status_detail"] is None


def test_without_access_log_answered_requests_write_no_line(
    settings, caplog: pytest.LogCaptureFixture
) -> None:
    from functions_framework import create_app

    from tests.functions.conftest import SOURCE
    from tether.bootstrap import Container, reset_container

    quiet = Container(settings.model_copy(update={"access_log": False}))
    reset_container(quiet)
    client = create_app("connections", SOURCE).test_client()
    caplog.set_level(logging.INFO, logger="tether.http")
    assert client.get("/", headers=ACME).status_code == 200
    assert client.get("/", headers={}).status_code == 401
    assert [r for r in caplog.records if r.name == "tether.http"] == []
    reset_container(None)


def test_empty_credentials_patch_keeps_the_stored_ones(
    connections_client: FlaskClient, container: Container
) -> None:
    cid = create_stripe(connections_client)["id"]
    response = connections_client.patch(f"/{cid}", json={"credentials": {}}, headers=ACME)
    assert response.status_code == 200
    assert response.get_json()["credential_hints"]["api_key"].endswith(SECRET[-4:])
    stored = container.connections.read_credentials(_principal("acme"), cid, purpose="test")
    assert stored == {"api_key": SECRET}


class AuditFailingStore(SqliteConnectionStore):
    """The real store, whose audit inserts fail once ``failing`` is set: a change must not
    commit without its entry (a crash between the two left one in the past)."""

    failing = False

    def _insert_audit(self, db: sqlite3.Connection, events: Sequence[AuditEvent]) -> None:
        if self.failing and events:
            raise BackendUnavailable("the audit entry could not be written")
        super()._insert_audit(db, events)


def test_a_change_whose_audit_entry_fails_is_not_committed(settings: Settings) -> None:
    store = AuditFailingStore(settings.sqlite_path)
    reset_container(Container(settings, store=store))
    try:
        client = create_app("connections", SOURCE).test_client()
        cid = create_stripe(client)["id"]
        store.failing = True

        renamed = client.patch(f"/{cid}", json={"display_name": "renamed"}, headers=ACME)
        assert renamed.status_code == 503
        created = client.post(
            "/", json={"provider": "stripe", "credentials": {"api_key": SECRET}}, headers=ACME
        )
        assert created.status_code == 503
        deleted = client.delete(f"/{cid}", headers=ACME)
        assert deleted.status_code == 503

        store.failing = False
        current = client.get(f"/{cid}", headers=ACME).get_json()
        assert current["display_name"] == "Main Stripe" and current["version"] == 1
        assert [c["id"] for c in client.get("/", headers=ACME).get_json()["connections"]] == [cid]
        trail = client.get(f"/{cid}/audit", headers=ACME).get_json()["audit"]
        assert [e["action"] for e in trail] == ["connection.created"]
    finally:
        reset_container(None)


def test_a_key_with_a_line_feed_after_it_does_not_fit_its_pattern(
    connections_client: FlaskClient,
) -> None:
    """A pasted key often ends with a line feed; ``^sk_…$`` read as JSON Schema reads it
    (ECMA-262) refuses it, where Python's ``$`` let it be stored and sent in a header."""
    response = connections_client.post(
        "/",
        json={"provider": "stripe", "credentials": {"api_key": SECRET + "\n"}},
        headers=ACME,
    )
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert SECRET not in response.get_data(as_text=True)
    assert "api_key" in str(error)
