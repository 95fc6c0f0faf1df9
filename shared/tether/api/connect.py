"""HTTP routes of the public ``connect`` function: the hosted Connect page (``GET /``) and the
files it loads (``/connect.js``, ``/connect.css``) or a product embeds (``/embed.js``).

The page is the same for every session: the session's token reaches it in the URL's fragment,
which only the browser sees. The query's ``session`` (an id, not a secret) names the session
whose allowed origins may frame the page (``frame-ancestors``); without a live one the page
may not be framed at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Request, Response

from tether.api.endpoint import Call, Wiring, serve
from tether.api.routing import Router
from tether.connect.page import ASSETS, asset, content_security_policy, page_html
from tether.domain.errors import NotFound
from tether.domain.ids import is_well_formed

__all__ = ["PAGE_FUNCTIONS", "Services", "handle", "router"]


@dataclass(frozen=True, slots=True)
class Services:
    """``origins(session_id)``: the origins that may frame a live session's page;
    ``function_url(name)``: where a function answers (ending in ``/``)."""

    origins: Callable[[str], tuple[str, ...]]
    function_url: Callable[[str], str]


# The functions the page calls, by the names its script uses.
PAGE_FUNCTIONS = (
    "catalog",
    "connect",
    "connect_sessions",
    "connections",
    "fetch",
    "oauth_start",
    "test_connection",
)

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def page(call: Call[Services]) -> Response:
    functions = {name: call.services.function_url(name) for name in PAGE_FUNCTIONS}
    session_id = call.request.args.get("session", "")
    origins = call.services.origins(session_id) if is_well_formed(session_id) else ()
    response = Response(
        page_html(asset_base=functions["connect"], functions=functions),
        200,
        content_type="text/html; charset=utf-8",
    )
    response.headers.update(_PAGE_HEADERS)
    response.headers["Content-Security-Policy"] = content_security_policy(
        functions=functions, frame_ancestors=origins
    )
    return response


def static(call: Call[Services]) -> Response:
    name = call.params["name"]
    if name not in ASSETS:
        raise NotFound("no such file", code="ROUTE_NOT_FOUND")
    found = asset(name)
    if call.request.headers.get("If-None-Match") == found.etag:
        response = Response(status=304)
    elif "gzip" in call.request.headers.get("Accept-Encoding", ""):
        response = Response(found.gzipped, 200, content_type=found.content_type)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(found.body, 200, content_type=found.content_type)
    response.headers.update(
        {
            "ETag": found.etag,
            "Vary": "Accept-Encoding",
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            # The embed script is loaded by other sites' pages.
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
    )
    return response


router: Router[Services] = Router()
router.add("GET", "/", page, public=True)
router.add("GET", "/:name", static, public=True)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("connect", request, router, wiring)
