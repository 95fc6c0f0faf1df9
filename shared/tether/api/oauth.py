"""HTTP routes of the ``oauth_start`` and ``oauth_callback`` functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request, Response

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import parse_body
from tether.api.responses import body_response
from tether.api.routing import Router
from tether.api.schemas import ErrorBody, ErrorDetail, OAuthStarted
from tether.connections.commands import StartOAuth

if TYPE_CHECKING:
    from tether.oauth.flow import OAuthFlowService

__all__ = ["Services", "callback_router", "handle_callback", "handle_start", "start_router"]


@dataclass(frozen=True, slots=True)
class Services:
    """What both functions' routes use: the OAuth flow, built on first use."""

    flow: Callable[[], OAuthFlowService]
    max_body_bytes: int


# The callback URL carries the code and state: no Referer may leak them onward (RFC 9700).
_CALLBACK_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def start(call: Call[Services]) -> Response:
    body = parse_body(call.request, StartOAuth, max_bytes=call.services.max_body_bytes)
    started = call.services.flow().start(call.principal, body)
    return body_response(
        OAuthStarted(
            authorization_url=started.authorization_url,
            state=started.state,
            expires_at=started.expires_at,
        ),
        201,
    )


def callback(call: Call[Services]) -> Response:
    result = call.services.flow().callback(call.request.args.to_dict())
    if result.location is None:
        message = result.message or "invalid state"
        response = body_response(
            ErrorBody(error=ErrorDetail(code="INVALID_STATE", message=message)), 400
        )
    else:
        response = Response(status=302)
        response.headers["Location"] = result.location
    response.headers.update(_CALLBACK_HEADERS)
    return response


start_router: Router[Services] = Router()
start_router.add("POST", "/", start)
callback_router: Router[Services] = Router()
callback_router.add("GET", "/", callback, public=True)


def handle_start(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("oauth_start", request, start_router, wiring)


def handle_callback(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("oauth_callback", request, callback_router, wiring)
