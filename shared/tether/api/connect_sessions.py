"""HTTP routes of the ``connect_sessions`` function: the tenant opens (``POST /``) and ends
(``DELETE /<id>``) connect sessions; a session's bearer reads (``GET /current``) and ends
(``DELETE /current``) its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request, Response

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import parse_body
from tether.api.responses import body_response, no_content
from tether.api.routing import Router
from tether.api.schemas import ConnectSessionCreated, ConnectSessionView, EndUserView
from tether.connect.commands import CreateConnectSession
from tether.domain.errors import Forbidden, NotFound
from tether.domain.ids import is_well_formed

if TYPE_CHECKING:
    from tether.connect.sessions import ConnectSessions
    from tether.domain.models import ConnectSession

__all__ = ["Services", "handle", "router", "session_view"]


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: the connect sessions, built on first use."""

    sessions: Callable[[], ConnectSessions]
    max_body_bytes: int


_NO_STORE = {"Cache-Control": "no-store"}


def session_view(session: ConnectSession) -> ConnectSessionView:
    return ConnectSessionView(
        id=session.id,
        end_user=EndUserView(id=session.end_user_id, display_name=session.end_user_display_name),
        allowed_providers=session.allowed_providers,
        allowed_origins=session.allowed_origins,
        expires_at=session.expires_at,
    )


def create(call: Call[Services]) -> Response:
    body = parse_body(call.request, CreateConnectSession, max_bytes=call.services.max_body_bytes)
    issued = call.services.sessions().create(call.principal, body)
    view = session_view(issued.session)
    return body_response(
        ConnectSessionCreated(**view.model_dump(), token=issued.token, url=issued.url),
        201,
        headers=_NO_STORE,
    )


def current(call: Call[Services]) -> Response:
    session = call.services.sessions().current(call.principal)
    return body_response(session_view(session), headers=_NO_STORE)


def end_current(call: Call[Services]) -> Response:
    scope = call.principal.session
    if scope is None:
        raise Forbidden("only a connect session has a current session", code="NOT_A_SESSION")
    call.services.sessions().revoke(call.principal, scope.session_id)
    return no_content()


def revoke(call: Call[Services]) -> Response:
    session_id = call.params["id"]
    if not is_well_formed(session_id):
        raise NotFound("no such connect session", code="SESSION_NOT_FOUND")
    call.services.sessions().revoke(call.principal, session_id)
    return no_content()


router: Router[Services] = Router()
router.add("POST", "/", create)
router.add("GET", "/current", current, sessions=True)
router.add("DELETE", "/current", end_current, sessions=True)
router.add("DELETE", "/:id", revoke)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("connect_sessions", request, router, wiring)
