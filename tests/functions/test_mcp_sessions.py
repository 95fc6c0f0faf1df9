"""The `mcp` function with a connect session's token, through the official MCP SDK's client over
Streamable HTTP on loopback (the dev server's app): a tenant whose two end users connected
Google Calendar and HubSpot through their own sessions' OAuth flows (APIs simulated). A
session sees and runs its end user's tools only; a session that does not offer a provider
gets no tools of it; an ended or expired session is a 401."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from mcp import ClientSession

from tests.support.mcp_client import mcp_session
from tests.support.provider_world import ACME, World, running_world
from tether.config import Settings
from tether.domain.clock import FixedClock

EVENT = {"summary": "Intro", "start": "2026-05-01T10:00:00Z", "end": "2026-05-01T10:30:00Z"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def world(settings: Settings, clock: FixedClock) -> Iterator[World]:
    yield from running_world(settings, clock=clock)


def _mcp(url: str, headers: dict[str, str], steps: Any) -> Any:
    return mcp_session(url, headers, steps)


def _session(url: str, end_user: str, **extra: Any) -> tuple[str, dict[str, str]]:
    opened = httpx.post(
        f"{url}/connect_sessions/", json={"end_user": {"id": end_user}, **extra}, headers=ACME
    )
    assert opened.status_code == 201, opened.text
    return opened.json()["id"], {"Authorization": f"Bearer {opened.json()['token']}"}


def _names(tools: Any) -> list[str]:
    return [tool.name for tool in tools.tools]


def test_a_session_lists_and_runs_its_end_users_tools_only(world: World, dev_url: str) -> None:
    _, ada = _session(dev_url, "user-a")
    _, bob = _session(dev_url, "user-b")
    calendar = world.connect("google_calendar", ada)
    hubspot = world.connect("hubspot", bob)
    world.connect("gmail", ACME)  # the tenant's own, of no end user

    async def ada_steps(session: ClientSession) -> dict[str, Any]:
        return {
            "tools": await session.list_tools(),
            "event": await session.call_tool("google_calendar__create_event", EVENT),
            "theirs": await session.call_tool(
                "hubspot__create_contact", {"email": "ann@example.com"}
            ),
            "tenants": await session.call_tool("gmail__list_messages", {}),
            "connections": await session.call_tool("tether__connections", {}),
        }

    got = _mcp(dev_url, ada, ada_steps)
    names = _names(got["tools"])
    assert names[0] == "tether__connections"
    assert "google_calendar__create_event" in names
    assert {name.split("__")[0] for name in names} == {"tether", "google_calendar"}
    assert not got["event"].isError and got["event"].structuredContent["id"]
    for refused in (got["theirs"], got["tenants"]):
        assert refused.isError
        assert refused.structuredContent["error"]["code"] == "TOOL_NOT_FOUND"
    listed = got["connections"].structuredContent["connections"]
    assert [entry["id"] for entry in listed] == [calendar]

    async def bob_steps(session: ClientSession) -> Any:
        return await session.list_tools(), await session.call_tool("tether__connections", {})

    bobs, bobs_connections = _mcp(dev_url, bob, bob_steps)
    assert {name.split("__")[0] for name in _names(bobs)} == {"tether", "hubspot"}
    assert [c["id"] for c in bobs_connections.structuredContent["connections"]] == [hubspot]
    # The tenant's own token sees every connection's tools.
    tenants = _mcp(dev_url, ACME, lambda s: s.list_tools())
    assert {name.split("__")[0] for name in _names(tenants)} == {
        "tether",
        "gmail",
        "google_calendar",
        "hubspot",
    }
    assert world.apis.count("calendar.events.insert") == 1
    assert world.apis.count("post-/crm/v3/objects/contacts_create") == 0


def test_a_session_gets_no_tools_of_a_provider_it_does_not_offer(world, dev_url):
    _, ada = _session(dev_url, "user-a")
    world.connect("google_calendar", ada)
    _, narrow = _session(dev_url, "user-a", allowed_providers=["hubspot"])

    async def steps(session: ClientSession) -> Any:
        listed = await session.list_tools()
        connections = await session.call_tool("tether__connections", {})
        refused = await session.call_tool("google_calendar__create_event", EVENT)
        return listed, connections, refused

    listed, connections, refused = _mcp(dev_url, narrow, steps)
    assert _names(listed) == ["tether__connections"]
    (entry,) = connections.structuredContent["connections"]
    assert (entry["provider"], entry["tools"]) == ("google_calendar", 0)
    assert "does not offer" in entry["note"]
    assert refused.isError
    assert refused.structuredContent["error"]["code"] == "PROVIDER_NOT_ALLOWED"
    # The REST routes refuse that provider to the session the same way.
    started = httpx.post(
        f"{dev_url}/oauth_start/",
        json={"provider": "google_calendar", "return_to": "https://app.example.com/integrations"},
        headers=narrow,
    )
    assert (started.status_code, started.json()["error"]["code"]) == (403, "PROVIDER_NOT_ALLOWED")
    assert world.apis.count("calendar.events.insert") == 0


def _refused(url: str, headers: dict[str, str]) -> tuple[int, str]:
    answer = httpx.post(f"{url}/mcp/", json=PING, headers={**headers, **MCP_ACCEPT})
    return answer.status_code, answer.json()["error"]["code"]


def _client_refused_with(url: str, headers: dict[str, str]) -> int:
    """The HTTP status that stopped the MCP client (it raises from its task group)."""
    with pytest.raises(BaseExceptionGroup) as failure:
        _mcp(url, headers, lambda s: s.list_tools())
    matched, _ = failure.value.split(httpx.HTTPStatusError)
    assert matched is not None, failure.value
    error: BaseException = matched
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, httpx.HTTPStatusError)
    return error.response.status_code


def test_an_ended_or_expired_session_is_refused(world, dev_url, clock):
    ada_id, ada = _session(dev_url, "user-a")
    _, bob = _session(dev_url, "user-b", ttl_seconds=600)
    world.connect("google_calendar", ada)
    assert "google_calendar__create_event" in _names(_mcp(dev_url, ada, lambda s: s.list_tools()))

    ended = httpx.delete(f"{dev_url}/connect_sessions/{ada_id}", headers=ACME)
    assert ended.status_code == 204
    assert _refused(dev_url, ada) == (401, "SESSION_REVOKED")
    assert _client_refused_with(dev_url, ada) == 401

    assert _names(_mcp(dev_url, bob, lambda s: s.list_tools())) == ["tether__connections"]
    clock.advance(601)
    assert _refused(dev_url, bob) == (401, "SESSION_EXPIRED")
    assert _client_refused_with(dev_url, bob) == 401
