"""Tool names of two connections that would share a key, through the MCP SDK's client over
Streamable HTTP on loopback (the dev server's app), two HubSpot accounts connected through
the OAuth flow (API simulated): neither takes the bare key, each keeps a name made from its
own id, and deleting one never hands a name to the other account."""

from __future__ import annotations

from typing import Any

from mcp import ClientSession

from tests.support.mcp_client import mcp_session
from tests.support.provider_world import ACME, World
from tether.actions.mcp_tools import own_key
from tether.domain.models import Principal


def _key(world: World, connection_id: str) -> str:
    connection = world.container.connections.get(
        Principal(tenant_id="acme", user_id="u"), connection_id
    )
    return own_key(connection)


def _runs(world: World, connection_id: str) -> int:
    audit = world.container.store.list_audit("acme", connection_id=connection_id)
    return sum(1 for entry in audit if entry.action == "action.run" and entry.detail.get("ok"))


def _call(url: str, name: str, email: str = "ann@example.com") -> Any:
    async def steps(session: ClientSession) -> Any:
        return await session.call_tool(name, {"email": email})

    return mcp_session(url, ACME, steps)


def _names(url: str) -> set[str]:
    async def steps(session: ClientSession) -> Any:
        return await session.list_tools()

    return {tool.name for tool in mcp_session(url, ACME, steps).tools}


def test_two_accounts_with_one_key_are_named_by_their_ids(world: World, dev_url: str) -> None:
    first = world.connect("hubspot", ACME)
    second = world.connect("hubspot", ACME)
    a, b = _key(world, first), _key(world, second)
    assert a != b and a.startswith("hubspot_") and b.startswith("hubspot_")
    names = _names(dev_url)
    assert {f"{a}__create_contact", f"{b}__create_contact"} <= names
    assert "hubspot__create_contact" not in names

    stale = _call(dev_url, "hubspot__create_contact")  # neither account's name now
    assert stale.isError and stale.structuredContent["error"]["code"] == "TOOL_NOT_FOUND"
    done = _call(dev_url, f"{b}__create_contact")
    assert not done.isError, done.structuredContent
    assert (_runs(world, first), _runs(world, second)) == (0, 1)

    # The first account goes: its name is gone, and no name moves to the other account.
    assert world.connections.delete(f"/{first}", headers=ACME).status_code == 204
    gone = _call(dev_url, f"{a}__create_contact")
    assert gone.isError and gone.structuredContent["error"]["code"] == "TOOL_NOT_FOUND"
    assert "hubspot__create_contact" in _names(dev_url)  # the one left takes the bare key
    # and its own name still reaches it
    kept = _call(dev_url, f"{b}__create_contact", "bob@example.com")
    assert not kept.isError, kept.structuredContent
    assert (_runs(world, first), _runs(world, second)) == (0, 2)
