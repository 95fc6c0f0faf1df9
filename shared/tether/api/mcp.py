"""The ``mcp`` function: a Model Context Protocol server (the official ``mcp`` SDK's low-level
server behind its Streamable HTTP transport, stateless, JSON answers) whose tools are the
caller's connections' actions (:mod:`tether.actions.mcp_tools`).

Every request is authenticated like any other call (``Authorization: Bearer``): the tenant's
token, or a connect session's (``csess_…``), whose caller sees only its end user's connections
and the tools of the providers the session offers (:mod:`tether.actions.mcp_tools`). The
server is built for that caller and answers one JSON-RPC message per POST, through
:func:`tether.api.asgi_call.call_asgi`. A tool call's failure is a tool error
(``isError: true``) whose text and structured content carry the code, the message and the
suggestion, never a transport error; the tools' input is checked by Tether (400-style
``INVALID_INPUT`` naming the field) rather than by the SDK, so the error says the same as the
``actions`` function's. The body is held to the API's JSON limits
(:func:`~tether.domain.bounded_json.loads_bounded`: depth, sizes, no NaN or lone surrogate)
before the SDK reads it, as every other JSON body is: past them it is a 400, not a server
error or a tool input the REST routes would refuse.

A request that carries an ``Origin`` other than one CORS allows (``TETHER_FRONTEND_URL``) is
refused with 403 ``ORIGIN_NOT_ALLOWED`` before the SDK sees it: the Streamable HTTP
transport's rule against DNS rebinding (a page whose name was rebound to Tether's address
sends its own origin); clients that are not browsers send none.

Anything else that fails inside a handler (a bug, an unexpected library error) is logged and
answered as ``INTERNAL``, as the frame answers it on the REST routes: the SDK would otherwise
send the exception's text, which may quote anything, a credential or an upstream URL with its
key included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Request, Response

from tether.api.endpoint import Call, Wiring, serve
from tether.api.request_body import read_body
from tether.api.responses import secured
from tether.api.routing import Router
from tether.domain.bounded_json import loads_bounded
from tether.domain.errors import Forbidden, TetherError

if TYPE_CHECKING:
    import mcp.types as mcp_types
    from mcp.server.lowlevel import Server

    from tether.actions.mcp_tools import McpTools, ToolSet
    from tether.domain.models import Principal

__all__ = ["Services", "handle", "router"]

log = logging.getLogger("tether.mcp")

INSTRUCTIONS = (
    "Tools act through the caller's connected accounts; each is named "
    "<connection key>__<action>. Call tether__connections to see every connection, its "
    "status, and which need reconnecting (those offer no tools). Failures come back as tool "
    "errors with a code and a suggestion."
)


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: the tools of a caller, built on first use; the origins a
    browser may call from (those CORS allows)."""

    tools: Callable[[], McpTools]
    max_body_bytes: int
    origins: frozenset[str]


_SUGGESTIONS = {
    "TOOL_NOT_FOUND": "List the tools again (tools/list); tether__connections says which "
    "connections offer none, and why.",
    "INVALID_INPUT": "Correct the field named in 'field' to match the tool's inputSchema and "
    "call it again.",
    "PROVIDER_NOT_ALLOWED": "This connect session does not offer the connection's provider: "
    "use a session that offers it, or the tenant's token.",
    "CONNECTION_NOT_FOUND": "The connection is gone: list the tools again (tools/list).",
}


def suggestion_for(error: TetherError) -> str:
    """What to do about ``error``: its own suggestion, else one for its code (the refusals
    the MCP layer meets that carry none), else one for its kind."""
    own = error.details.get("suggestion")
    if isinstance(own, str) and own:
        return own
    if error.code in _SUGGESTIONS:
        return _SUGGESTIONS[error.code]
    if error.http_status >= 500:
        return "The call failed upstream or in Tether: check its input, then try again later."
    return "Call tether__connections to check the connection's status, then correct the call."


def tool_error(error: TetherError) -> mcp_types.CallToolResult:
    """``error`` as a tool error: its code, message and a suggestion (always one), and the
    field it names, in the text and the structured content alike."""
    import mcp.types as types

    body: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "suggestion": suggestion_for(error),
    }
    if "field" in error.details:
        body["field"] = error.details["field"]
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps({"error": body}))],
        structuredContent={"error": body},
        isError=True,
    )


def unexpected(doing: str) -> TetherError:
    """The error that stands for an unexpected exception (being handled) while ``doing``,
    logged with its traceback (the log's redaction masks credentials in it)."""
    log.exception("unhandled error in mcp while %s", doing)
    return TetherError(
        "internal error",
        code="INTERNAL",
        details={"suggestion": "Try again later; the failure has been logged."},
    )


def rpc_error(error: TetherError) -> Exception:
    """``error`` as the JSON-RPC error of a request that is not a tool call."""
    import mcp.types as types
    from mcp.shared.exceptions import McpError

    return McpError(
        types.ErrorData(code=types.INTERNAL_ERROR, message=error.message, data={"code": error.code})
    )


def build_server(tools: McpTools, principal: Principal) -> Server[Any, Any]:
    """The MCP server of one caller (its tool set listed once per request)."""
    import mcp.types as types
    from mcp.server.lowlevel import Server

    server: Server[Any, Any] = Server("tether", instructions=INSTRUCTIONS)
    listed: list[ToolSet] = []

    def tool_set() -> ToolSet:
        if not listed:
            try:
                listed.append(tools.tool_set(principal))
            except TetherError:
                raise
            except Exception:  # noqa: BLE001 - logged, answered without its text
                raise unexpected("listing tools") from None
        return listed[0]

    @server.list_tools()  # type: ignore[no-untyped-call, untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        try:
            current = tool_set()
        except TetherError as error:
            raise rpc_error(error) from None
        return [
            types.Tool(
                name=spec.name,
                description=spec.description,
                inputSchema=spec.input_schema,
                outputSchema=spec.output_schema,
            )
            for spec in current.tools
        ]

    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
        try:
            return tools.call(principal, name, dict(arguments or {}), tools=tool_set())
        except TetherError as error:
            return tool_error(error)
        except Exception:  # noqa: BLE001 - logged, answered without its text
            return tool_error(unexpected(f"calling tool {name[:80]!r}"))

    return server


def check_origin(request: Request, origins: frozenset[str]) -> None:
    """Refuse a browser's request from an origin that is not allowed (absent: not a
    browser, or a same-origin GET, which this endpoint does not serve)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") not in origins:
        raise Forbidden(
            "requests from this origin are not allowed",
            code="ORIGIN_NOT_ALLOWED",
            details={
                "suggestion": "Call the MCP endpoint from a server, or from the frontend "
                "origin configured as TETHER_FRONTEND_URL."
            },
        )


def endpoint(call: Call[Services]) -> Response:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from tether.api.asgi_call import call_asgi

    check_origin(call.request, call.services.origins)
    body = read_body(call.request, max_bytes=call.services.max_body_bytes)
    loads_bounded(body)  # the SDK parses it again, unbounded: only checked here
    server = build_server(call.services.tools(), call.principal)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        manager = StreamableHTTPSessionManager(app=server, json_response=True, stateless=True)
        async with manager.run():
            await manager.handle_request(scope, receive, send)

    return secured(call_asgi(app, call.request, body))


router: Router[Services] = Router()
router.add("POST", "/", endpoint, sessions=True)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("mcp", request, router, wiring)
