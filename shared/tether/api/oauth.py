"""HTTP routes of the ``oauth_start`` and ``oauth_callback`` functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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
    """What both functions' routes use: the OAuth flow, built on first use, and where the
    callback lives (``callback_url``: the browser-binding cookie is scoped to its path, and
    marked ``Secure`` when it is https)."""

    flow: Callable[[], OAuthFlowService]
    max_body_bytes: int
    callback_url: str | None = None


def _set_binding_cookie(
    response: Response, services: Services, name: str, value: str, max_age: int
) -> None:
    """The flow's browser binding (:mod:`tether.oauth.browser_binding`): sent back only to the
    callback, never readable by scripts. ``SameSite=None`` over https so a page embedded in
    another site's frame can still bind its flow (the callback then comes as a top-level
    navigation); ``Lax`` over plain http (local development), where ``None`` is refused."""
    url = urlsplit(services.callback_url or "")
    secure = url.scheme == "https"
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=url.path or "/",
        secure=secure,
        httponly=True,
        samesite="None" if secure else "Lax",
    )


# The callback URL carries the code and state: no Referer may leak them onward (RFC 9700).
_CALLBACK_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def start(call: Call[Services]) -> Response:
    body = parse_body(call.request, StartOAuth, max_bytes=call.services.max_body_bytes)
    started = call.services.flow().start(call.principal, body)
    shown = None
    if started.webhook is not None:
        # Loaded only when a URL was issued: the views bring the connections' bodies.
        from tether.api.views import webhook_answer

        shown = webhook_answer(started.webhook)
    response = body_response(
        OAuthStarted(
            authorization_url=started.authorization_url,
            state=started.state,
            expires_at=started.expires_at,
            webhook=shown,
        ),
        201,
    )
    if started.browser_binding is not None:
        name, value, max_age = started.browser_binding
        _set_binding_cookie(response, call.services, name, value, max_age)
    return response


def callback(call: Call[Services]) -> Response:
    if call.request.method == "HEAD":
        # Safe (RFC 9110 §9.2.1): only the browser's GET redeems the code and spends the state.
        response = Response(status=200)
        response.headers.update(_CALLBACK_HEADERS)
        return response
    result = call.services.flow().callback(
        call.request.args.to_dict(), cookies=call.request.cookies.to_dict()
    )
    if result.location is None:
        message = result.message or "invalid state"
        response = body_response(
            ErrorBody(error=ErrorDetail(code="INVALID_STATE", message=message)), 400
        )
    else:
        response = Response(status=302)
        response.headers["Location"] = result.location
        if result.spent_cookie is not None:
            url = urlsplit(call.services.callback_url or "")
            response.delete_cookie(result.spent_cookie, path=url.path or "/")
    response.headers.update(_CALLBACK_HEADERS)
    return response


start_router: Router[Services] = Router()
start_router.add("POST", "/", start, sessions=True)
callback_router: Router[Services] = Router()
callback_router.add("GET", "/", callback, public=True)


def handle_start(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("oauth_start", request, start_router, wiring)


def handle_callback(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("oauth_callback", request, callback_router, wiring)
