"""The MCP endpoint of `tether dev` (a real process on loopback) through the official MCP SDK's
client over Streamable HTTP: a tenant's generic REST connection (the local sample API) and a
Stripe connection become tools; a fetch returns structured records, bad input a tool error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.test_dev_server import DevServer
from tether_emulators.sample_api import SampleApi

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(sample_api_factory: Any) -> SampleApi:
    return sample_api_factory(items=25)


@pytest.fixture
def dev(tmp_path: Path, api: SampleApi) -> Iterator[DevServer]:
    server = DevServer(
        tmp_path / "data", extra_env={"TETHER_EGRESS_ALLOWLIST": f"127.0.0.1:{api.port}"}
    )
    server.start()
    yield server
    server.stop()


def test_an_mcp_client_uses_the_tenants_connections_through_tether_dev(dev, api):
    token = dev.cli("token", "--tenant", "acme")
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=dev.url, headers=auth, timeout=10) as client:
        for body in (
            {
                "provider": "rest_api",
                "display_name": "Sample API",
                "config": {"base_url": api.url, "auth_method": "none", "test_path": "/me"},
            },
            {"provider": "stripe", "credentials": {"api_key": "sk_test_mcp0123456789"}},
        ):
            assert client.post("/connections/", json=body).status_code == 201

    async def session_steps() -> Any:
        async with (
            httpx.AsyncClient(headers=auth, timeout=httpx.Timeout(30.0)) as http,
            streamable_http_client(f"{dev.url}/mcp/", http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.list_tools()
            fetched = await session.call_tool(
                "sample_api__fetch",
                {
                    "path": "/cursor/items",
                    "records_path": "data",
                    "pagination": {
                        "type": "cursor",
                        "cursor_path": "meta.next_cursor",
                        "cursor_param": "cursor",
                    },
                },
            )
            bad = await session.call_tool("stripe__create_customer", {"nickname": "Ann"})
            return listed, fetched, bad

    listed, fetched, bad = asyncio.run(session_steps())
    assert [t.name for t in listed.tools] == [
        "tether__connections",
        "sample_api__fetch",
        "stripe__create_customer",
        "stripe__list_invoices",
    ]
    assert not fetched.isError
    assert [r["id"] for r in fetched.structuredContent["records"]] == list(range(1, 26))
    assert bad.isError
    assert bad.structuredContent["error"]["code"] == "INVALID_INPUT"
    assert bad.structuredContent["error"]["field"] == "nickname"
