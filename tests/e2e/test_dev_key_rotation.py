"""Key rotation while `tether dev` runs: `tether keys generate --add` and `tether keys rotate`
as separate processes on the same data folder, then the running server keeps reading and
writing everything it had sealed, without a restart, even once the old key is gone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.test_dev_oauth import start_demo_flow
from tests.e2e.test_dev_server import SECRET, SECRET_2, DevServer, _free_port
from tether.crypto import DEFAULT_RELOAD_INTERVAL_SECONDS

pytestmark = pytest.mark.e2e


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[DevServer, int]]:
    port = _free_port()
    server = DevServer(tmp_path / "data", extra_args=("--demo-provider-port", str(port)))
    server.start()
    yield server, port
    server.stop()


def _finish_demo_flow(callback: str) -> dict[str, str]:
    back = httpx.get(callback, follow_redirects=False)
    assert back.status_code == 302, back.text
    return {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}


def test_rotation_on_a_running_server_needs_no_restart(dev: tuple[DevServer, int]) -> None:
    server, port = dev
    client = httpx.Client(base_url=server.url, timeout=10)
    auth = {"Authorization": f"Bearer {server.cli('token', '--tenant', 'acme')}"}

    created = client.post(
        "/connections/",
        json={"provider": "stripe", "credentials": {"api_key": SECRET}},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    stripe_id = created.json()["id"]
    # An OAuth connection: a sealed access token and a credential payload (refresh token).
    connected = _finish_demo_flow(start_demo_flow(client, server, port, auth))
    assert connected["status"] == "active", connected
    demo_id = connected["connection_id"]
    # A flow left half-way: its state holds the sealed PKCE verifier.
    pending_callback = start_demo_flow(client, server, port, auth)
    # The tenant's notify signing secret, sealed in its settings.
    assert client.post("/settings/notify-secret/rotate", headers=auth).status_code == 201

    before = json.loads((server.data_dir / "keyring.json").read_text())
    old_primary = before["primary"]
    assert "as primary" in server.cli("keys", "generate", "--add")
    report = json.loads(server.cli("keys", "rotate"))
    assert report["failed"] == 0, report
    kinds = report["kinds"]
    assert kinds["credential_payloads"]["resealed"] == 2
    assert kinds["access_tokens"]["resealed"] == 1
    assert kinds["notify_secrets"]["resealed"] == 1
    assert kinds["oauth_states"]["resealed"] == 1

    # No restart: the server reads what rotation resealed under the new primary.
    patched = client.patch(
        f"/connections/{stripe_id}", json={"credentials": {"api_key": SECRET_2}}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    tested = client.post(f"/test_connection/{demo_id}", headers=auth)
    assert tested.status_code == 200 and tested.json()["ok"], tested.text

    # The old key leaves the keyring (nothing refers to it any more), still no restart.
    assert f"removed key {old_primary}" in server.cli("keys", "retire", old_primary)
    assert old_primary not in json.loads((server.data_dir / "keyring.json").read_text())["keys"]
    time.sleep(DEFAULT_RELOAD_INTERVAL_SECONDS + 0.2)  # the server re-checks the file by then

    finished = _finish_demo_flow(pending_callback)
    assert finished["status"] == "active", finished
    tested = client.post(f"/test_connection/{demo_id}", headers=auth)
    assert tested.status_code == 200 and tested.json()["ok"], tested.text
    refreshed = client.post(f"/connections/{demo_id}/refresh", headers=auth)
    assert refreshed.status_code == 200, refreshed.text
    patched = client.patch(
        f"/connections/{stripe_id}", json={"credentials": {"api_key": SECRET}}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    again = json.loads(server.cli("keys", "rotate"))
    assert again["failed"] == 0 and all(k["resealed"] == 0 for k in again["kinds"].values())

    client.close()
    server.stop()
    assert f"keyring reloaded: primary {report['primary_key_id']}" in server.output
    after = json.loads((server.data_dir / "keyring.json").read_text())
    for secret in (SECRET, SECRET_2, *before["keys"].values(), *after["keys"].values()):
        assert secret not in server.output
