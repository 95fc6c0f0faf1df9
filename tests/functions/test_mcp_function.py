"""The `mcp` function through the official MCP SDK's client over Streamable HTTP on loopback,
against the dev server's app (every function under /<function>, as `tether dev` serves it), with
Google Calendar and HubSpot connected through the real OAuth flow and their APIs simulated."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession
from werkzeug.serving import make_server

from tests.support.mcp_client import mcp_session
from tests.support.provider_world import ACME, GLOBEX, SOURCE, World, running_world
from tether.api.openapi import openapi_document
from tether.devserver import build_app, load_functions
from tether.domain.models import Principal
from tether.domain.status import ConnectionStatus


def _run(url: str, headers: dict[str, str], steps: Any) -> Any:
    return mcp_session(url, headers, steps)


def test_an_mcp_client_lists_and_calls_the_tenants_tools(world: World, dev_url: str) -> None:
    world.connect("google_calendar", ACME)
    world.connect("hubspot", ACME)
    world.connect("hubspot", GLOBEX)

    async def steps(session: ClientSession) -> dict[str, Any]:
        listed = await session.list_tools()
        event = await session.call_tool(
            "google_calendar__create_event",
            {"summary": "Intro", "start": "2026-05-01T10:00:00Z", "end": "2026-05-01T10:30:00Z"},
        )
        contact = await session.call_tool("hubspot__create_contact", {"email": "ann@example.com"})
        bad = await session.call_tool(
            "hubspot__create_contact", {"email": "ann@example.com", "age": 3}
        )
        return {"tools": listed.tools, "event": event, "contact": contact, "bad": bad}

    got = _run(dev_url, ACME, steps)
    names = [tool.name for tool in got["tools"]]
    assert names[0] == "tether__connections"
    assert {
        "google_calendar__create_event",
        "google_calendar__find_availability",
        "hubspot__create_contact",
        "hubspot__create_deal",
    } <= set(names)
    assert len(names) == 1 + 5 + 6
    schema = next(t for t in got["tools"] if t.name == "hubspot__create_contact").inputSchema
    assert schema["required"] == ["email"]
    event, contact, bad = got["event"], got["contact"], got["bad"]
    assert not event.isError and event.structuredContent["id"]
    assert (
        not contact.isError
        and contact.structuredContent["properties"]["email"] == "ann@example.com"
    )
    assert bad.isError
    assert bad.structuredContent["error"]["code"] == "INVALID_INPUT"
    assert bad.structuredContent["error"]["field"] == "age"
    assert world.apis.rejected == []
    # the other tenant sees only its own connection's tools
    theirs = _run(dev_url, GLOBEX, lambda s: s.list_tools())
    assert {t.name.split("__")[0] for t in theirs.tools} == {"tether", "hubspot"}


def test_a_connection_that_needs_reconnecting_offers_no_tools_and_says_so(world, dev_url):
    calendar = world.connect("google_calendar", ACME)
    principal = Principal(tenant_id="acme", user_id="user-1")
    record = world.container.connections.get(principal, calendar)
    world.container.store.update_connection(
        record.model_copy(update={"status": ConnectionStatus.NEEDS_REAUTH}),
        expected_version=record.version,
    )

    async def steps(session: ClientSession) -> Any:
        listed = await session.list_tools()
        connections = await session.call_tool("tether__connections", {})
        stale = await session.call_tool("google_calendar__list_events", {})
        return listed, connections, stale

    listed, connections, stale = _run(dev_url, ACME, steps)
    assert [t.name for t in listed.tools] == ["tether__connections"]
    (entry,) = connections.structuredContent["connections"]
    assert (entry["status"], entry["tools"]) == ("needs_reauth", 0)
    assert "reconnected" in entry["note"]
    assert stale.isError and stale.structuredContent["error"]["code"] == "NEEDS_REAUTH"


def test_a_generic_rest_connection_offers_a_fetch_tool(settings, sample_api_factory):
    api = sample_api_factory(items=25)
    for world in running_world(settings, allow=(f"127.0.0.1:{api.port}",)):
        created = world.connections.post(
            "/",
            json={
                "provider": "rest_api",
                "display_name": "Sample API",
                "config": {"base_url": api.url, "auth_method": "none", "test_path": "/me"},
            },
            headers=ACME,
        )
        assert created.status_code == 201, created.get_json()
        app = build_app(load_functions(Path(SOURCE)), openapi=openapi_document)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:

            async def steps(session: ClientSession) -> Any:
                listed = await session.list_tools()
                fetched = await session.call_tool(
                    "sample_api__fetch",
                    {
                        "path": "/page/items",
                        "records_path": "items",
                        "pagination": {
                            "type": "page",
                            "page_param": "page",
                            "limit_param": "per_page",
                            "limit": 10,
                        },
                    },
                )
                bad = await session.call_tool("sample_api__fetch", {"max_pages": 0})
                return listed, fetched, bad

            url = f"http://127.0.0.1:{server.server_port}"
            listed, fetched, bad = _run(url, ACME, steps)
        finally:
            server.shutdown()
            thread.join(timeout=5)
        assert [t.name for t in listed.tools] == ["tether__connections", "sample_api__fetch"]
        assert not fetched.isError and len(fetched.structuredContent["records"]) == 25
        assert bad.isError and bad.structuredContent["error"]["field"] == "max_pages"


def test_without_a_token_the_mcp_endpoint_refuses(dev_url):
    answer = httpx.post(f"{dev_url}/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert answer.status_code == 401


def test_a_tool_whose_answer_holds_a_lone_surrogate_is_a_tool_error(
    world: World, dev_url: str
) -> None:
    """Half a UTF-16 pair ("\\ud800") in the provider's answer: the tool result is the action's
    PROVIDER_ERROR (not valid Unicode), never a failed MCP request, and never the value."""
    world.connect("hubspot", ACME)
    world.apis.answer_next(b'{"id":"1","properties":{"email":"\\ud800"}}')

    async def steps(session: ClientSession) -> Any:
        return await session.call_tool("hubspot__create_contact", {"email": "ann@example.com"})

    result = _run(dev_url, ACME, steps)
    assert result.isError
    error = result.structuredContent["error"]
    assert error["code"] == "PROVIDER_ERROR" and "not valid Unicode" in error["message"]
    assert "\ud800" not in str(result.content)
