"""The OAuth flow as a developer tries it under `tether dev`: the `demo` catalog entry, the
local OAuth provider `tether dev` starts, a browser following real redirects on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.test_dev_server import DevServer, _free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def dev_with_demo(tmp_path: Path) -> Iterator[tuple[DevServer, int]]:
    port = _free_port()
    server = DevServer(tmp_path / "data", extra_args=("--demo-provider-port", str(port)))
    server.start()
    yield server, port
    server.stop()


def test_demo_oauth_flow_end_to_end(dev_with_demo: tuple[DevServer, int]) -> None:
    dev, port = dev_with_demo
    client = httpx.Client(base_url=dev.url, timeout=10)
    auth = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'acme')}"}

    started = client.post(
        "/oauth_start/",
        json={
            "provider": "demo",
            "config": {"base_url": f"http://127.0.0.1:{port}"},
            "return_to": f"{dev.url}/",
        },
        headers=auth,
    )
    assert started.status_code == 201, started.text

    # The browser: to the provider (auto-consent), back to Tether's callback, on to return_to.
    at_provider = httpx.get(started.json()["authorization_url"], follow_redirects=False)
    assert at_provider.status_code == 302
    callback = at_provider.headers["location"]
    assert callback.startswith(f"{dev.url}/oauth_callback/")
    back = httpx.get(callback, follow_redirects=False)
    assert back.status_code == 302 and back.headers["referrer-policy"] == "no-referrer"
    landing = urlsplit(back.headers["location"])
    outcome = {k: v[0] for k, v in parse_qs(landing.query).items()}
    assert outcome["status"] == "active"

    shown = client.get(f"/connections/{outcome['connection_id']}", headers=auth).json()
    assert shown["provider"] == "demo" and shown["status"] == "active"
    assert shown["token_expires_at"] is not None

    # A replay of the callback is refused and creates nothing.
    again = httpx.get(callback, follow_redirects=False)
    assert "error=state_used" in again.headers["location"]
    assert len(client.get("/connections/", headers=auth).json()["connections"]) == 1

    dev.stop()
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert code not in dev.output  # codes and states stay out of the logs
