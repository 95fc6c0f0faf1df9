"""Actions benchmark: a typed action through the ``actions`` function next to a plain httpx call
to the same simulator, and MCP ``tools/list`` with 100 connections.

1. ``hubspot.get_contact``, three ways, in turn, median per call over N calls each:

   - *plain httpx*: an ``httpx.Client`` GET of the contact from the loopback simulator with
     the connection's token (the same URL and query the action sends); nothing else.
   - *function + httpx*: the same GET made by a bare functions-framework function
     (``forward_function.py``) called exactly like the action (the test client's
     ``POST /<id>/get_contact`` with the JSON input and a bearer token, a JSON answer back),
     checking nothing: what serving any function in process costs on top of the call.
   - *POST /actions*: the deployed ``actions`` function's app in process: bearer-token check,
     the connection read, its sealed token opened, input and output checked against their
     schemas, the shared rate limit (SQLite), the SSRF guard, credential values masked in the
     output, one audit entry (SQLite).

   All three reach the same simulator, which closes every connection after its answer
   (werkzeug's server does not keep connections alive), so each side opens one TCP
   connection per call; the action's outbound client and both httpx clients would otherwise
   keep theirs alive.
2. ``tools/list`` through the official MCP SDK client over Streamable HTTP on loopback against
   the dev server's app, for a tenant with 100 connections (Stripe, API key), median of R.

Prints them (targets: action vs plain httpx <= 1.3; tools/list well under a second), and the
floor: the bare function's own ratio to plain httpx, which no forwarding function goes below.
Run: ``make bench-actions`` or ``python tests/bench/bench_actions.py [--calls N] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import TEST_JWT_SECRET
from tests.support.provider_world import ACME, World, running_world

from tether.config import Settings
from tether.domain.models import Principal


def _settings() -> Settings:
    keyring = json.dumps(
        {"primary": "kb1", "keys": {"kb1": base64.b64encode(bytes(range(32))).decode()}}
    )
    return Settings(
        mode="dev",
        auth="dev",
        data_dir=Path(tempfile.mkdtemp()) / "data",
        keyring=keyring,  # type: ignore[arg-type]
        dev_jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
        frontend_url="https://app.example.com",
        task_worker=False,
        access_log=False,
    )


def action_overhead(world: World, calls: int) -> dict[str, float]:
    import os

    from functions_framework import create_app

    hubspot = world.connect("hubspot", ACME)
    created = world.run(hubspot, "create_contact", {"email": "bench@example.com"}, ACME)
    contact = created.get_json()["output"]["id"]
    principal = Principal(tenant_id="acme", user_id="user-1")
    token = world.container.token_refresh.access_token(
        world.container.connections.get(principal, hubspot)
    )
    contacts = f"{world.apis.url}/crm/v3/objects/contacts"
    url = f"{contacts}/{contact}"
    params = {"properties": "email,firstname,lastname,phone,company"}
    os.environ.update(
        BENCH_FORWARD_URL=contacts,
        BENCH_FORWARD_TOKEN=token,
        BENCH_FORWARD_PROPERTIES=params["properties"],
    )
    forward = create_app("forward", str(Path(__file__).with_name("forward_function.py")))
    function = forward.test_client()
    body = {"contact_id": contact}
    plain_times: list[float] = []
    forward_times: list[float] = []
    action_times: list[float] = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(20):  # warm every path
            client.get(url, params=params)
            function.post(f"/{hubspot}/get_contact", json=body, headers=ACME)
            world.run(hubspot, "get_contact", body, ACME)
        for _ in range(calls):
            started = time.perf_counter()
            assert client.get(url, params=params).status_code == 200
            plain_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            forwarded = function.post(f"/{hubspot}/get_contact", json=body, headers=ACME)
            forward_times.append(time.perf_counter() - started)
            assert forwarded.status_code == 200, forwarded.get_data(as_text=True)
            started = time.perf_counter()
            answer = world.run(hubspot, "get_contact", body, ACME)
            action_times.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.get_json()
    plain_ms = statistics.median(plain_times) * 1000
    forward_ms = statistics.median(forward_times) * 1000
    action_ms = statistics.median(action_times) * 1000
    return {
        "plain_ms": plain_ms,
        "forward_ms": forward_ms,
        "action_ms": action_ms,
        "ratio": action_ms / plain_ms,
        "floor_ratio": forward_ms / plain_ms,
        "ratio_vs_function": action_ms / forward_ms,
    }


def tools_list(world: World, connections: int, runs: int) -> dict[str, float]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from tests.support.provider_world import SOURCE
    from werkzeug.serving import make_server

    from tether.api.openapi import openapi_document
    from tether.devserver import build_app, load_functions

    for n in range(connections):
        created = world.connections.post(
            "/",
            json={
                "provider": "stripe",
                "display_name": f"Stripe {n}",
                "credentials": {"api_key": "sk_test_bench0123456789"},
            },
            headers=ACME,
        )
        assert created.status_code == 201, created.get_json()
    app = build_app(load_functions(Path(SOURCE)), openapi=openapi_document)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/mcp/"

    async def measure() -> tuple[list[float], int]:
        times: list[float] = []
        async with (
            httpx.AsyncClient(headers=ACME, timeout=httpx.Timeout(60.0)) as http,
            streamable_http_client(url, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            count = 0
            for _ in range(runs + 2):
                started = time.perf_counter()
                listed = await session.list_tools()
                times.append(time.perf_counter() - started)
                count = len(listed.tools)
        return times[2:], count

    try:
        times, count = asyncio.run(measure())
    finally:
        server.shutdown()
        thread.join(timeout=5)
    return {
        "connections": connections,
        "tools": count,
        "median_ms": statistics.median(times) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    figures: dict[str, Any] = {}
    for world in running_world(_settings(), rate_limits=False):
        figures["action"] = action_overhead(world, args.calls)
        figures["tools_list"] = tools_list(world, args.connections, args.runs)
    if args.json:
        print(json.dumps(figures))
        return 0
    action = figures["action"]
    print(f"action vs plain httpx, median of {args.calls} calls each (hubspot get_contact):")
    print(f"  plain httpx        {action['plain_ms']:.2f} ms")
    print(
        f"  function + httpx   {action['forward_ms']:.2f} ms   "
        "(the same GET from a bare function, called like the action)"
    )
    print(
        f"  POST /actions      {action['action_ms']:.2f} ms   "
        f"ratio {action['ratio']:.2f}x (target <= 1.3), "
        f"{action['ratio_vs_function']:.2f}x the bare function"
    )
    print(
        f"  floor: the bare function alone is {action['floor_ratio']:.2f}x plain httpx; "
        "no function that forwards the call goes below it"
    )
    listing = figures["tools_list"]
    print(
        f"MCP tools/list, {listing['connections']} connections ({listing['tools']} tools): "
        f"median {listing['median_ms']:.1f} ms over {args.runs} calls"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
