"""The `mcp` function against hostile or broken input, on loopback through the dev server's app
(every function under /<function>, as `tether dev` serves it): bodies past the API's JSON
limits, an unexpected failure inside a tool, and browser requests from an origin Tether does
not serve. HubSpot is connected through the real OAuth flow and its API simulated."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from mcp import ClientSession

from tests.support.mcp_client import mcp_session
from tests.support.provider_world import ACME, World

MCP = {**ACME, "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
SECRET = "sk_live_not_for_callers"


def _post(url: str, body: bytes, headers: dict[str, str] = MCP) -> httpx.Response:
    return httpx.post(f"{url}/mcp/", content=body, headers=headers, timeout=30)


def _create_contact(arguments: bytes) -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":'
        b'{"name":"hubspot__create_contact","arguments":' + arguments + b"}}"
    )


def test_a_body_past_the_json_limits_is_a_400_and_reaches_no_tool(
    world: World, dev_url: str
) -> None:
    """The API's JSON limits hold for MCP messages too: nesting past the interpreter's reach is
    a 400, not a failed server; a lone surrogate in a tool's input is refused as the
    ``actions`` function refuses it, and the provider is never called."""
    world.connect("hubspot", ACME)
    deep = _post(dev_url, b'{"jsonrpc":"2.0","id":1,"method":"ping","params":' + b"[" * 50_000)
    assert (deep.status_code, deep.json()["error"]["code"]) == (400, "JSON_TOO_DEEP")
    lone = _post(dev_url, _create_contact(b'{"email":"ann@example.com","first_name":"\\ud800"}'))
    assert (lone.status_code, lone.json()["error"]["code"]) == (400, "INVALID_JSON")
    nan = _post(dev_url, _create_contact(b'{"email":"ann@example.com","first_name":NaN}'))
    assert (nan.status_code, nan.json()["error"]["code"]) == (400, "INVALID_JSON")
    assert world.apis.count("post-/crm/v3/objects/contacts_create") == 0
    # Within the limits, the same call runs.
    fine = _post(dev_url, _create_contact(b'{"email":"ann@example.com","first_name":"Ann"}'))
    assert fine.status_code == 200 and not fine.json()["result"]["isError"]
    assert world.apis.count("post-/crm/v3/objects/contacts_create") == 1


def test_an_unexpected_failure_in_a_tool_is_an_internal_tool_error_without_its_text(
    world: World, dev_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A library error whose text quotes a credential (an upstream URL with its key) during a
    tool's provider call: the caller gets the tool error ``INTERNAL`` with a suggestion, never
    the text, as the REST routes answer a 500 ``INTERNAL``; the failure is logged."""
    from tether.actions.provider_call import ProviderCall

    world.connect("hubspot", ACME)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"connect failed: https://api.hubapi.example/x?hapikey={SECRET}")

    monkeypatch.setattr(ProviderCall, "json", broken)

    async def steps(session: ClientSession) -> Any:
        return await session.call_tool("hubspot__create_contact", {"email": "ann@example.com"})

    result = mcp_session(dev_url, ACME, steps)
    assert result.isError
    assert SECRET not in str(result.content) and SECRET not in json.dumps(result.structuredContent)
    error = result.structuredContent["error"]
    assert error["code"] == "INTERNAL" and error["suggestion"]
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)


def test_an_unexpected_failure_listing_the_tools_is_an_error_without_its_text(
    world: World, dev_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for the listing behind ``tools/list`` and every ``tools/call``: a JSON-RPC
    error (or tool error) saying ``internal error``, not the exception's text."""
    from tether.connections.service import ConnectionService

    world.connect("hubspot", ACME)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"store unreachable at https://db.example/?password={SECRET}")

    monkeypatch.setattr(ConnectionService, "list_connections", broken)
    listed = _post(dev_url, b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
    assert SECRET not in listed.text
    assert listed.json()["error"]["message"] == "internal error"
    called = _post(dev_url, _create_contact(b'{"email":"ann@example.com"}'))
    assert SECRET not in called.text
    assert called.json()["result"]["isError"]


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 200),  # not a browser
        ("https://app.example.com", 200),  # the configured frontend (TETHER_FRONTEND_URL)
        ("https://evil.example", 403),  # a page that rebound its DNS name to Tether's address
        ("null", 403),  # a sandboxed frame or a file: page
        ("https://app.example.com.evil.example", 403),
    ],
)
def test_a_request_from_an_origin_tether_does_not_serve_is_403(
    world: World, dev_url: str, origin: str | None, status: int
) -> None:
    """The Streamable HTTP transport's DNS-rebinding rule: a server validates ``Origin`` and
    answers 403 to one that is present and not allowed; allowed are the origins CORS allows."""
    world.connect("hubspot", ACME)
    headers = MCP if origin is None else {**MCP, "Origin": origin}
    answer = _post(dev_url, _create_contact(b'{"email":"ann@example.com"}'), headers)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.json()["error"]["code"] == "ORIGIN_NOT_ALLOWED"
        assert world.apis.count("post-/crm/v3/objects/contacts_create") == 0
    else:
        assert not answer.json()["result"]["isError"]


def test_mcp_answers_carry_the_apis_security_headers_and_no_html(
    world: World, dev_url: str
) -> None:
    """A tool's answer holds the provider's data: like every other answer of the API it must
    not be stored by a cache (``no-store``) nor sniffed (``nosniff``); the SDK's plain-text
    refusals are not labelled HTML."""
    world.connect("hubspot", ACME)
    called = _post(dev_url, _create_contact(b'{"email":"ann@example.com"}'))
    assert called.status_code == 200 and not called.json()["result"]["isError"]
    plain = _post(
        dev_url, b'{"jsonrpc":"2.0","id":1,"method":"ping"}', {**MCP, "Content-Type": "text/plain"}
    )
    assert plain.status_code == 400
    assert plain.headers["Content-Type"].startswith("text/plain")
    for answer in (called, plain):
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_every_tool_error_carries_a_code_and_a_suggestion(world: World, dev_url: str) -> None:
    """What the tool errors promise (code, message, suggestion), for the refusals the MCP
    layer itself makes: an unknown tool, input that fails its schema (naming the field), and
    a provider the connect session does not offer."""
    world.connect("hubspot", ACME)
    opened = httpx.post(
        f"{dev_url}/connect_sessions/", json={"end_user": {"id": "user-a"}}, headers=ACME
    )
    assert opened.status_code == 201, opened.text
    ada = {"Authorization": f"Bearer {opened.json()['token']}"}
    world.connect("google_calendar", ada)
    narrow = httpx.post(
        f"{dev_url}/connect_sessions/",
        json={"end_user": {"id": "user-a"}, "allowed_providers": ["hubspot"]},
        headers=ACME,
    ).json()["token"]

    async def tenant(session: ClientSession) -> list[Any]:
        return [
            await session.call_tool("nobody__create_contact", {}),
            await session.call_tool("hubspot__create_contact", {"email": 3}),
        ]

    async def narrowed(session: ClientSession) -> list[Any]:
        return [await session.call_tool("google_calendar__list_events", {})]

    results = mcp_session(dev_url, ACME, tenant)
    results += mcp_session(dev_url, {"Authorization": f"Bearer {narrow}"}, narrowed)
    codes = []
    for result in results:
        assert result.isError
        error = result.structuredContent["error"]
        assert error["message"] and error["suggestion"], error
        assert error == json.loads(result.content[0].text)["error"]
        codes.append(error["code"])
    assert codes == ["TOOL_NOT_FOUND", "INVALID_INPUT", "PROVIDER_NOT_ALLOWED"]
    assert results[1].structuredContent["error"]["field"] == "email"


def test_the_sdks_log_lines_do_not_quote_the_callers_message(
    world: World, dev_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The MCP SDK logs a message it cannot validate with pydantic's account of it, which
    quotes the message's values (a tool's arguments: whatever the caller sent, a key
    included): Tether's log lines of the SDK keep where and what, not that text."""
    from tether.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    quoted = "caller-value-7f3a9c"
    odd = _post(
        dev_url,
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5,"arguments":'
        b'{"note":"' + quoted.encode() + b'"}}}',
    )
    assert odd.status_code in (200, 400), odd.text
    sdk = [r for r in caplog.records if "/mcp/" in r.pathname.replace("\\", "/")]
    assert sdk, "the SDK logged nothing: the test no longer reaches its logging"
    rendered = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert quoted not in rendered
    assert "MCP SDK" in rendered
