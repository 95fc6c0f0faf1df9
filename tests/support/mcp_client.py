"""The MCP tests' two pieces: every function served on a loopback port as `tether dev` serves
them, and the official MCP SDK's client over Streamable HTTP against a server's `/mcp/`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from werkzeug.serving import make_server

from tests.support.provider_world import SOURCE
from tether.api.openapi import openapi_document
from tether.devserver import build_app, load_functions


@contextmanager
def serving_functions() -> Iterator[str]:
    """Every function of ``functions/main.py`` on one loopback port; its base URL."""
    app = build_app(load_functions(Path(SOURCE)), openapi=openapi_document)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def mcp_session(
    url: str, headers: dict[str, str], steps: Callable[[ClientSession], Awaitable[Any]]
) -> Any:
    """Open an initialized MCP client session at ``url``'s ``/mcp/`` with ``headers``, run
    ``steps`` in it and answer what they answer."""

    async def run() -> Any:
        async with (
            httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30.0)) as http,
            streamable_http_client(f"{url}/mcp/", http_client=http) as (read, write, _),
            ClientSession(read, write, read_timeout_seconds=timedelta(seconds=30)) as session,
        ):
            await session.initialize()
            return await steps(session)

    return asyncio.run(run())
