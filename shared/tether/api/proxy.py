"""HTTP routes of the ``proxy`` function: any method on ``/<id>/<path>`` (or ``/<id>``) passes
to the connection's API with its credentials attached (:mod:`tether.fetch.proxy`); the answer
is the provider's, whatever its status. The body is capped like every other request body."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request, Response

from tether.api.endpoint import Call, Wiring, serve
from tether.api.raw_path import encoded_rest
from tether.api.request_body import read_body
from tether.api.routing import Router
from tether.domain.errors import NotFound
from tether.domain.ids import is_well_formed

if TYPE_CHECKING:
    from tether.fetch.proxy import ConnectionProxy

__all__ = ["METHODS", "Services", "handle", "router"]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: the proxy, built on first use."""

    proxy: Callable[[], ConnectionProxy]
    max_body_bytes: int


def forward(call: Call[Services]) -> Response:
    from tether.fetch.proxy import ProxyRequest

    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    request = call.request
    body = read_body(request, max_bytes=call.services.max_body_bytes)
    answer = call.services.proxy().forward(
        call.principal,
        connection_id,
        ProxyRequest(
            method=request.method,
            # As the caller encoded it: an encoded "/" (%2F) stays inside its segment.
            path=encoded_rest(request.environ, call.params.get("path", "")),
            query=request.query_string.decode("latin-1"),
            headers=list(request.headers.items()),
            body=body,
        ),
    )
    response = Response(answer.content, status=answer.status, headers=answer.headers)
    if not any(name.lower() == "content-type" for name, _ in answer.headers):
        del response.headers["Content-Type"]
    response.headers["Cache-Control"] = "no-store"
    # The provider's answer, served from Tether's origin: never sniffed into another type,
    # never run as a page (scripts, forms, plugins) should a browser be sent to it.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


router: Router[Services] = Router()
for _method in METHODS:
    router.add(_method, "/:id", forward)
    router.add(_method, "/:id/*path", forward)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("proxy", request, router, wiring)
