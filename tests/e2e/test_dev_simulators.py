"""`tether dev --simulators` as a developer uses it: a real process, the provider simulators
(Google Calendar, Gmail, Google Drive, HubSpot, Xero, Shopify: an authorization server and
APIs checked against the providers' published descriptions; Stripe's API) on loopback.

First the README's steps, run by bash exactly as written there (only the dev server's port is
this test's): connect Google Calendar and HubSpot through the OAuth flow with `curl -L` as the
browser, run `create_event` and `create_contact`, list the MCP tools. Then the official MCP
SDK's client over Streamable HTTP: the tenant's tools, both actions with structured results,
bad input as a tool error (not a transport error), and a connect session that sees its own
end user's tools only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from mcp import ClientSession

from tests.e2e.test_dev_server import ROOT, DevServer
from tests.support.mcp_client import mcp_session
from tether_emulators.provider_simulators import STRIPE_KEY, XERO_TENANT

pytestmark = pytest.mark.e2e

README_PORT = "127.0.0.1:8080"
README_SECTION = "### Google Calendar, Gmail, Google Drive and HubSpot, offline"


def readme_steps() -> str:
    """The shell block of the README's simulator section, as a developer copies it (what the
    README shows after `make dev ARGS=--simulators`, in a second terminal)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(README_SECTION) :]
    start = section.index("```sh\n") + len("```sh\n")
    return section[start : section.index("```", start)]


EVENT = {"summary": "Review", "start": "2026-05-02T09:00:00Z", "end": "2026-05-02T09:30:00Z"}


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(tmp_path / "data", extra_args=("--demo-provider-port", "0", "--simulators"))
    server.start()
    yield server
    server.stop()


def _readme_steps(dev: DevServer) -> list[str]:
    """Run the README's steps in bash against ``dev``; their output's lines."""
    for tool in ("bash", "curl", "jq", "sed"):
        assert shutil.which(tool), f"the README's steps need {tool} (.ci/run installs it)"
    script = readme_steps().replace(README_PORT, f"127.0.0.1:{dev.port}")
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TETHER_")},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TETHER_DATA_DIR": str(dev.data_dir),
    }
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr + ran.stdout
    return ran.stdout.splitlines()


def _mcp(url: str, headers: dict[str, str], steps: Any) -> Any:
    return mcp_session(url, headers, steps)


def _connect_as_end_user(dev: DevServer, tenant: dict[str, str], end_user: str, provider: str):
    """A connect session for ``end_user`` and its OAuth flow in one browser (cookies kept, as
    the flow is bound to the browser that started it); the session's headers and the new
    connection's id."""
    opened = httpx.post(
        f"{dev.url}/connect_sessions/", json={"end_user": {"id": end_user}}, headers=tenant
    )
    assert opened.status_code == 201, opened.text
    session = {"Authorization": f"Bearer {opened.json()['token']}"}
    with httpx.Client(timeout=20) as browser:
        started = browser.post(
            f"{dev.url}/oauth_start/",
            json={"provider": provider, "return_to": f"{dev.url}/"},
            headers=session,
        )
        assert started.status_code == 201, started.text
        landed = browser.get(started.json()["authorization_url"], follow_redirects=True)
    outcome = {k: v[0] for k, v in parse_qs(urlsplit(str(landed.url)).query).items()}
    assert outcome.get("status") == "active", outcome
    return session, outcome["connection_id"]


def test_the_readme_steps_and_an_mcp_client_against_the_simulators(dev: DevServer) -> None:
    lines = _readme_steps(dev)
    calendar, hubspot = lines[0].split()
    event = json.loads(lines[1])
    contact = json.loads(lines[2])
    listed = lines[3:]
    assert event["action"] == "create_event" and event["output"]["id"]
    assert event["output"]["summary"] == "Intro call"
    assert contact["output"]["properties"]["email"] == "ada@example.com"
    assert {"google_calendar__create_event", "hubspot__create_contact"} <= set(listed)
    assert listed[0] == "tether__connections"

    tenant = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'acme')}"}
    mine = httpx.get(f"{dev.url}/connections/", headers=tenant).json()["connections"]
    assert {(c["id"], c["provider"], c["status"]) for c in mine} == {
        (calendar, "google_calendar", "active"),
        (hubspot, "hubspot", "active"),
    }

    # Two end users connect through their own connect sessions.
    ada, ada_mail = _connect_as_end_user(dev, tenant, "user-ada", "gmail")
    _, bob_drive = _connect_as_end_user(dev, tenant, "user-bob", "google_drive")

    async def tenant_steps(session: ClientSession) -> dict[str, Any]:
        return {
            "tools": await session.list_tools(),
            "event": await session.call_tool("google_calendar__create_event", EVENT),
            "contact": await session.call_tool(
                "hubspot__create_contact", {"email": "grace@example.com"}
            ),
            "bad": await session.call_tool("hubspot__create_contact", {"email": 42}),
        }

    got = _mcp(dev.url, tenant, tenant_steps)
    names = [tool.name for tool in got["tools"].tools]
    assert {name.split("__")[0] for name in names} == {
        "tether",
        "google_calendar",
        "hubspot",
        "gmail",
        "google_drive",
    }
    assert not got["event"].isError
    assert got["event"].structuredContent["summary"] == "Review"
    assert got["event"].structuredContent["id"] != event["output"]["id"]
    assert not got["contact"].isError
    assert got["contact"].structuredContent["properties"]["email"] == "grace@example.com"
    assert got["bad"].isError
    assert got["bad"].structuredContent["error"]["code"] == "INVALID_INPUT"
    assert got["bad"].structuredContent["error"]["field"] == "email"

    async def ada_steps(session: ClientSession) -> dict[str, Any]:
        return {
            "tools": await session.list_tools(),
            "connections": await session.call_tool("tether__connections", {}),
            "bobs": await session.call_tool("google_drive__list_files", {}),
            "tenants": await session.call_tool("google_calendar__create_event", EVENT),
        }

    seen = _mcp(dev.url, ada, ada_steps)
    assert {tool.name.split("__")[0] for tool in seen["tools"].tools} == {"tether", "gmail"}
    entries = seen["connections"].structuredContent["connections"]
    assert [entry["id"] for entry in entries] == [ada_mail]
    for refused in (seen["bobs"], seen["tenants"]):
        assert refused.isError
        assert refused.structuredContent["error"]["code"] == "TOOL_NOT_FOUND"
    assert bob_drive not in {entry["id"] for entry in entries}


def _oauth_connect(dev: DevServer, tenant: dict[str, str], provider: str, **start: Any) -> str:
    """The tenant's OAuth flow for ``provider`` (``start``: more of oauth_start's body); the
    new connection's id."""
    started = httpx.post(
        f"{dev.url}/oauth_start/",
        json={"provider": provider, "return_to": f"{dev.url}/", **start},
        headers=tenant,
    )
    assert started.status_code == 201, started.text
    landed = httpx.get(started.json()["authorization_url"], follow_redirects=True, timeout=20)
    outcome = {k: v[0] for k, v in parse_qs(urlsplit(str(landed.url)).query).items()}
    assert outcome.get("status") == "active", outcome
    return outcome["connection_id"]


def test_the_finance_actions_against_the_simulators(dev: DevServer) -> None:
    """Stripe (its simulated API key), Xero (its simulated organisation) and Shopify (any
    shop), each action checked by the simulators against the provider's description."""
    tenant = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'acme')}"}
    with httpx.Client(base_url=dev.url, headers=tenant, timeout=30) as client:
        created = client.post(
            "/connections/", json={"provider": "stripe", "credentials": {"api_key": STRIPE_KEY}}
        )
        assert created.status_code == 201, created.text
        stripe = created.json()["id"]
        customer = client.post(
            f"/actions/{stripe}/create_customer", json={"email": "ann@example.com"}
        )
        assert customer.status_code == 200, customer.text
        customer_id = customer.json()["output"]["id"]
        invoices = client.post(f"/actions/{stripe}/list_invoices", json={"customer": customer_id})
        assert invoices.status_code == 200, invoices.text
        assert invoices.json()["output"]["data"] == []

        xero = _oauth_connect(
            dev,
            tenant,
            "xero",
            config={"tenant_id": XERO_TENANT},
            scopes=["offline_access", "accounting.invoices"],
        )
        invoice = client.post(
            f"/actions/{xero}/create_invoice",
            json={
                "contact_id": "6d2c2f5e-6b5f-4f3a-9a57-3c1d2e4f5a6b",
                "line_items": [{"Description": "Consulting", "Quantity": 2, "UnitAmount": 150}],
            },
        )
        assert invoice.status_code == 200, invoice.text
        assert invoice.json()["output"]["Total"] == 300

        shopify = _oauth_connect(dev, tenant, "shopify", config={"shop": "acme-store"})
        order = client.post(f"/actions/{shopify}/get_order", json={"order_id": 450789469})
        assert order.status_code == 404, order.text  # the simulated shop has no orders
        assert order.json()["error"]["code"] == "NOT_FOUND"
    dev.stop()
    assert f'stripe: connect with {{"api_key": "{STRIPE_KEY}"}}' in dev.output  # the banner


def test_a_xero_connection_made_without_an_organisation_learns_the_only_one(
    dev: DevServer,
) -> None:
    """Connected with no ``tenant_id``, a Xero connection reads the organisations its grant
    reaches (``GET /connections`` of Xero's identity API, answered by the simulator) and takes
    the only one: its config names it, its calls send it as ``Xero-tenant-id``, and its
    connection test (that same endpoint, addressed to the API's host) passes."""
    tenant = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'acme')}"}
    xero = _oauth_connect(dev, tenant, "xero", scopes=["offline_access", "accounting.invoices"])
    with httpx.Client(base_url=dev.url, headers=tenant, timeout=30) as client:
        connection = client.get(f"/connections/{xero}")
        assert connection.status_code == 200, connection.text
        assert connection.json()["config"] == {"tenant_id": XERO_TENANT}
        invoice = client.post(
            f"/actions/{xero}/create_invoice",
            json={
                "contact_id": "6d2c2f5e-6b5f-4f3a-9a57-3c1d2e4f5a6b",
                "line_items": [{"Description": "Audit", "Quantity": 1, "UnitAmount": 90}],
            },
        )
        assert invoice.status_code == 200, invoice.text
        assert invoice.json()["output"]["Total"] == 90
        tested = client.post(f"/test_connection/{xero}")
        assert tested.status_code == 200, tested.text
        assert tested.json()["ok"] is True, tested.json()
    dev.stop()
    assert "named no single one" not in dev.output
