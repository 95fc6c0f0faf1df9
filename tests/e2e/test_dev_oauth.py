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


def start_demo_flow(client: httpx.Client, dev: DevServer, port: int, auth: dict[str, str]) -> str:
    """Start an OAuth flow with the demo provider; the provider's redirect to the callback."""
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
    at_provider = httpx.get(started.json()["authorization_url"], follow_redirects=False)
    assert at_provider.status_code == 302
    return at_provider.headers["location"]


def test_demo_oauth_flow_end_to_end(dev_with_demo: tuple[DevServer, int]) -> None:
    dev, port = dev_with_demo
    client = httpx.Client(base_url=dev.url, timeout=10)
    auth = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'acme')}"}

    # The browser: to the provider (auto-consent), back to Tether's callback, on to return_to.
    callback = start_demo_flow(client, dev, port, auth)
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

    client.close()
    dev.stop()
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert code not in dev.output  # codes and states stay out of the logs


def _demo_flow_without_config(dev: DevServer) -> tuple[str, dict[str, str]]:
    """The README's OAuth example as typed (no config): where the browser went, and the
    outcome Tether redirected it to."""
    client = httpx.Client(base_url=dev.url, timeout=10)
    auth = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'acme')}"}
    started = client.post(
        "/oauth_start/", json={"provider": "demo", "return_to": f"{dev.url}/"}, headers=auth
    )
    assert started.status_code == 201, started.text
    authorization_url = started.json()["authorization_url"]
    at_provider = httpx.get(authorization_url, follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    back = httpx.get(at_provider.headers["location"], follow_redirects=False)
    outcome = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    client.close()
    return authorization_url, outcome


def test_two_dev_servers_on_one_machine_each_run_their_own_demo_provider(tmp_path: Path) -> None:
    first = DevServer(tmp_path / "first", extra_args=())
    second = DevServer(tmp_path / "second", extra_args=())
    first.start()
    try:
        second.start()
        try:
            went_first, outcome_first = _demo_flow_without_config(first)
            went_second, outcome_second = _demo_flow_without_config(second)
        finally:
            second.stop()
    finally:
        first.stop()
    assert outcome_first["status"] == "active", outcome_first
    assert outcome_second["status"] == "active", outcome_second
    assert urlsplit(went_first).port != urlsplit(went_second).port
