"""One HTTP request of a WSGI function answered by an ASGI application, start to end.

The MCP SDK's Streamable HTTP transport is an ASGI application; Tether's functions are WSGI
(functions-framework, Flask). The ``mcp`` function runs the transport stateless with JSON
answers, so one request is one complete ASGI call: :func:`call_asgi` builds the ASGI scope from
the Flask request (RFC-style lower-case header names, the body already read and bounded),
runs the application to its end on a fresh event loop (``asyncio.run``) and collects the
status, headers and body it sends (a body sent without a ``Content-Type`` is text, never
Flask's default HTML). Written here because that is all the bridge needs: a
general WSGI-to-ASGI adapter would add its own loop thread and streaming for nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from flask import Request, Response

__all__ = ["AsgiApp", "call_asgi"]

Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def call_asgi(app: AsgiApp, request: Request, body: bytes, *, root_path: str = "") -> Response:
    """The answer ``app`` gives to ``request`` (whose body is ``body``)."""
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode("latin-1", "replace"),
        "root_path": root_path,
        "query_string": request.query_string,
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
            for name, value in request.headers.items()
        ],
        "client": (request.remote_addr or "127.0.0.1", 0),
        "server": (request.host.split(":", 1)[0], 0),
    }
    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # the client never disconnects from a finished request
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.extend(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    response = Response(b"".join(chunks), status=status, headers=headers)
    if not any(name.lower() == "content-type" for name, _ in headers):
        # Flask would label it text/html; an application that sends no type sends text.
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
    return response
