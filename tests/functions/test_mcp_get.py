"""GET on the MCP endpoint: the server offers no SSE stream (stateless, JSON answers), which
the Streamable HTTP transport allows it to say with 405 Method Not Allowed; as a 405 it names
the allowed method in ``Allow`` (RFC 9110 §15.5.6), with the API's JSON error body."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.mcp_client import serving_functions
from tether.bootstrap import Container

SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def dev_url(container: Container) -> Iterator[str]:
    with serving_functions() as url:
        yield url


def _assert_refused(status: int, headers: httpx.Headers, body: object, method: str) -> None:
    assert status == 405
    assert [m.strip() for m in headers["Allow"].split(",")] == ["POST"]
    assert headers["Content-Type"].startswith("application/json")
    assert body == {
        "error": {
            "code": "METHOD_NOT_ALLOWED",
            "message": f"{method} is not allowed here; use POST",
        }
    }


@pytest.mark.parametrize("authorization", [True, False])
def test_get_on_the_deployed_function_is_405_with_allow_and_a_json_error(
    container: Container, authorization: bool
) -> None:
    client = create_app("mcp", SOURCE).test_client()
    headers = {**SSE, **(bearer("acme") if authorization else {})}
    answer = client.get("/", headers=headers)
    _assert_refused(
        answer.status_code, httpx.Headers(dict(answer.headers)), answer.get_json(), "GET"
    )


def test_get_and_delete_through_the_dev_server_are_405_with_allow(dev_url: str) -> None:
    """What an MCP client meets at ``tether dev``'s ``/mcp/``: its GET for a server stream and
    the DELETE that would end a session (there are none: the server is stateless)."""
    for method in ("GET", "DELETE"):
        answer = httpx.request(method, f"{dev_url}/mcp/", headers={**SSE, **bearer("acme")})
        _assert_refused(answer.status_code, answer.headers, answer.json(), method)
