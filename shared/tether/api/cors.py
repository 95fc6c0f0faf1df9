"""CORS for the configured frontend origin(s) only (``TETHER_FRONTEND_URL``).

Credentials travel in the ``Authorization`` header, not cookies, so no
``Access-Control-Allow-Credentials``; an origin that is not configured gets no CORS headers
and the browser blocks the read.
"""

from __future__ import annotations

from collections.abc import Collection

from flask import Request, Response

__all__ = ["apply_cors", "is_preflight", "preflight_response"]

# What a browser may send: besides auth and JSON, If-Match (settings), Idempotency-Key
# (actions), and the two headers MCP's Streamable HTTP clients send after initialize.
_ALLOWED_HEADERS = (
    "Authorization, Content-Type, If-Match, Idempotency-Key, Mcp-Protocol-Version, Mcp-Session-Id"
)
# What its script may read: besides ETag and Location, a replayed action's mark, an MCP
# session's id and how long a refused (429, 503) request should wait.
_EXPOSED_HEADERS = "ETag, Location, Idempotent-Replayed, Mcp-Session-Id, Retry-After"
_ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def is_preflight(request: Request) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def preflight_response(request: Request, origins: Collection[str]) -> Response:
    response = Response(status=204)
    apply_cors(request, response, origins)
    if "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Allow-Methods"] = _ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def apply_cors(request: Request, response: Response, origins: Collection[str]) -> None:
    # Looked up without the header mappings' missing-key exceptions: every answer comes here.
    origin = request.environ.get("HTTP_ORIGIN")
    if not response.headers.get_all("Vary"):
        response.headers["Vary"] = "Origin"
    else:
        response.vary.add("Origin")
    if origin and origin.rstrip("/") in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED_HEADERS
