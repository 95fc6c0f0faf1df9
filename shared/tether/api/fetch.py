"""HTTP routes of the ``fetch`` function: ``POST /<id>`` (fetch with pagination) and
``GET /<id>/endpoints`` (endpoint discovery)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request, Response
from pydantic import Field

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import parse_body
from tether.api.responses import body_response
from tether.api.routing import Router
from tether.api.schemas import Body
from tether.domain.errors import NotFound
from tether.domain.ids import is_well_formed

if TYPE_CHECKING:
    from tether.fetch.calls import ConnectionCalls
    from tether.fetch.discovery import EndpointDiscovery

__all__ = ["EndpointView", "EndpointsBody", "Services", "handle", "router"]


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use, each built on first use."""

    calls: Callable[[], ConnectionCalls]
    discovery: Callable[[], EndpointDiscovery]
    max_body_bytes: int


class EndpointView(Body):
    method: str
    path: str
    summary: str | None
    source: str = Field(description="catalog, openapi or swagger")


class EndpointsBody(Body):
    """What the connection's API offers: the catalog's known endpoint first, then those of
    the OpenAPI/Swagger document found at ``spec_url``; credential values masked."""

    endpoints: list[EndpointView]
    spec_url: str | None
    truncated: bool


def _connection_id(call: Call[Services]) -> str:
    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    return connection_id


def fetch(call: Call[Services]) -> Response:
    from tether.fetch.service import FetchRequest, FetchService

    request = parse_body(call.request, FetchRequest, max_bytes=call.services.max_body_bytes)
    sender = call.services.calls().sender(call.principal, _connection_id(call))
    service = FetchService(sender, sender.base_url, sender.default_pagination, redact=sender.redact)
    result = service.fetch(request)
    return body_response(result)


def endpoints(call: Call[Services]) -> Response:
    sender = call.services.calls().sender(call.principal, _connection_id(call))
    connection, provider = sender.connection, sender.provider
    from tether.fetch.discovery import Endpoint

    known = []
    if provider.test is not None and not provider.test.path.startswith("{"):
        known.append(Endpoint(provider.test.method, provider.test.path, provider.test.description))
    found = call.services.discovery().discover(
        f"{connection.tenant_id}:{connection.id}",
        base_url=sender.base_url,
        send=lambda method, url: sender(method, url),
        known=known,
    )
    return body_response(EndpointsBody.model_validate(sender.redact(found.as_dict())))


router: Router[Services] = Router()
router.add("POST", "/:id", fetch)
# The connect page lists a saved connection's endpoints for its end user to pick from.
router.add("GET", "/:id/endpoints", endpoints, sessions=True)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("fetch", request, router, wiring)
