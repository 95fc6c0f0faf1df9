"""Connect sessions through real HTTP on `tether dev`, on both stacks (the embedded one, and
Firestore / Secret Manager / Cloud Tasks on their emulators): what a session's token reaches
(its end user's connections, the providers it offers) and what it never does (another end
user's connections even by id, the tenant's settings and audit, another session), and that a
revoked or forged token answers 401 with a code the page can explain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_dev_server import DevServer

pytestmark = pytest.mark.e2e

KEY_A = "sk_test_51ConnectSessionA000000000000"
KEY_B = "sk_test_51ConnectSessionB000000000000"


@pytest.fixture(params=["sqlite", "firestore"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevServer]:
    env: dict[str, str] = {}
    args: tuple[str, ...] = ("--demo-provider-port", "0")
    if request.param == "firestore":
        tasks: Any = request.getfixturevalue("cloud_tasks_emulator")
        env = {
            "GOOGLE_CLOUD_PROJECT": f"connect-{uuid.uuid4().hex[:8]}",
            "FIRESTORE_EMULATOR_HOST": request.getfixturevalue("firestore_emulator"),
            "SECRET_MANAGER_EMULATOR_HOST": request.getfixturevalue("secret_manager_emulator"),
            "CLOUD_TASKS_EMULATOR_HOST": tasks.address,
            "CLOUD_TASKS_EMULATOR_JWKS_URL": tasks.jwks_url,
        }
        args = (*args, "--gcp")
    server = DevServer(tmp_path / "data", extra_args=args, extra_env=env)
    server.start()
    yield server
    server.stop()


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_session_reaches_its_end_users_connections_and_nothing_else(stack: DevServer) -> None:
    with httpx.Client(base_url=stack.url, timeout=20) as client:
        _session_scenario(stack, client)


def _session_scenario(stack: DevServer, client: httpx.Client) -> None:
    tenant = {"Authorization": f"Bearer {stack.cli('token', '--tenant', 'acme')}"}
    other_tenant = {"Authorization": f"Bearer {stack.cli('token', '--tenant', 'globex')}"}

    too_long = client.post(
        "/connect_sessions/", json={"end_user": {"id": "a"}, "ttl_seconds": 3600}, headers=tenant
    )
    assert too_long.status_code == 400
    assert client.post("/connect_sessions/", json={"end_user": {"id": "a"}}).status_code == 401

    opened = client.post(
        "/connect_sessions/",
        json={
            "end_user": {"id": "user-a", "display_name": "Ada"},
            "allowed_providers": ["stripe", "rest_api"],
            "allowed_origins": ["http://127.0.0.1:3000"],
            "ttl_seconds": 600,
        },
        headers=tenant,
    )
    assert opened.status_code == 201, opened.text
    session = opened.json()
    token = session["token"]
    assert token.startswith(f"{session['id']}.")
    assert session["url"] == f"{stack.url}/connect/?session={session['id']}#token={token}"
    expires = datetime.fromisoformat(session["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    user_a = {"Authorization": f"Bearer {token}"}

    current = client.get("/connect_sessions/current", headers=user_a)
    assert current.status_code == 200
    assert current.json()["end_user"] == {"id": "user-a", "display_name": "Ada"}
    assert "token" not in current.json()

    # The session creates its own end user's connections, of the providers it offers only.
    mine = client.post(
        "/connections/",
        json={"provider": "stripe", "credentials": {"api_key": KEY_A}},
        headers=user_a,
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["end_user_id"] == "user-a"
    assert _error(client.post("/connections/", json={"provider": "xero"}, headers=user_a)) == (
        403,
        "PROVIDER_NOT_ALLOWED",
    )
    assert _error(
        client.post(
            "/connections/",
            json={"provider": "stripe", "end_user_id": "user-b", "credentials": {"api_key": KEY_A}},
            headers=user_a,
        )
    ) == (403, "END_USER_NOT_ALLOWED")

    # The tenant's connections of another end user, and of none, stay out of reach.
    theirs = client.post(
        "/connections/",
        json={"provider": "stripe", "end_user_id": "user-b", "credentials": {"api_key": KEY_B}},
        headers=tenant,
    ).json()["id"]
    untagged = client.post(
        "/connections/",
        json={"provider": "stripe", "credentials": {"api_key": KEY_B}},
        headers=tenant,
    ).json()["id"]
    listed = client.get("/connections/", headers=user_a).json()["connections"]
    assert [c["id"] for c in listed] == [mine.json()["id"]]
    assert (
        client.get("/connections/?end_user_id=user-b", headers=user_a).json()["connections"] == []
    )
    for guessed in (theirs, untagged):
        assert _error(client.get(f"/connections/{guessed}", headers=user_a)) == (
            404,
            "CONNECTION_NOT_FOUND",
        )
        assert (
            client.patch(
                f"/connections/{guessed}", json={"display_name": "mine now"}, headers=user_a
            ).status_code
            == 404
        )
        assert client.delete(f"/connections/{guessed}", headers=user_a).status_code == 404
        assert client.post(f"/test_connection/{guessed}", headers=user_a).status_code == 404
        assert (
            client.post(
                "/oauth_start/",
                json={"connection_id": guessed, "return_to": f"{stack.url}/connect/"},
                headers=user_a,
            ).status_code
            == 404
        )

    # The tenant lists by end user.
    by_user = client.get("/connections/?end_user_id=user-b", headers=tenant).json()
    assert [c["id"] for c in by_user["connections"]] == [theirs]

    # Nothing of the tenant's beyond the end user's connections.
    assert _error(client.get("/settings/", headers=user_a)) == (403, "SESSION_NOT_ALLOWED")
    assert _error(client.get(f"/connections/{mine.json()['id']}/audit", headers=user_a)) == (
        403,
        "SESSION_NOT_ALLOWED",
    )
    assert _error(
        client.post("/connect_sessions/", json={"end_user": {"id": "user-b"}}, headers=user_a)
    ) == (403, "SESSION_NOT_ALLOWED")
    assert client.delete(f"/connect_sessions/{session['id']}", headers=user_a).status_code == 403

    # A reconnect (new credentials) and a delete of its own connection.
    assert (
        client.patch(
            f"/connections/{mine.json()['id']}",
            json={"credentials": {"api_key": KEY_B}},
            headers=user_a,
        ).status_code
        == 200
    )
    assert client.delete(f"/connections/{mine.json()['id']}", headers=user_a).status_code == 204

    # A forged secret, another tenant's revocation, then the tenant's own.
    forged = {"Authorization": f"Bearer {session['id']}.{'x' * 43}"}
    assert _error(client.get("/connections/", headers=forged)) == (401, "INVALID_SESSION")
    assert (
        client.delete(f"/connect_sessions/{session['id']}", headers=other_tenant).status_code == 404
    )
    assert client.get("/connections/", headers=user_a).status_code == 200
    assert client.delete(f"/connect_sessions/{session['id']}", headers=tenant).status_code == 204
    assert _error(client.get("/connections/", headers=user_a)) == (401, "SESSION_REVOKED")

    # A session may end itself.
    second = client.post(
        "/connect_sessions/", json={"end_user": {"id": "user-a"}}, headers=tenant
    ).json()
    own = {"Authorization": f"Bearer {second['token']}"}
    assert client.delete("/connect_sessions/current", headers=own).status_code == 204
    assert _error(client.get("/connect_sessions/current", headers=own)) == (
        401,
        "SESSION_REVOKED",
    )

    stack.stop()
    for shown in (token.split(".")[1], second["token"].split(".")[1], KEY_A, KEY_B):
        assert shown not in stack.output
