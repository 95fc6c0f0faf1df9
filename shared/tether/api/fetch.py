"""HTTP routes of the ``fetch`` function: ``POST /<id>`` (fetch with pagination) and
``GET /<id>/endpoints`` (endpoint discovery)."""

from __future__ import annotations

from flask import Request, Response

from tether.api.endpoint import Call, serve
from tether.api.parsing import parse_body
from tether.api.responses import json_response
from tether.api.routing import Router
from tether.domain.errors import NotFound
from tether.domain.ids import is_well_formed

__all__ = ["handle"]


def _connection_id(call: Call) -> str:
    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    return connection_id


def fetch(call: Call) -> Response:
    from tether.fetch.service import FetchRequest, FetchService

    request = parse_body(
        call.request, FetchRequest, max_bytes=call.container.settings.max_body_bytes
    )
    sender = call.container.connection_calls.sender(call.principal, _connection_id(call))
    service = FetchService(sender, sender.base_url, sender.default_pagination, redact=sender.redact)
    result = service.fetch(request)
    return json_response(result.model_dump(mode="json"))


def endpoints(call: Call) -> Response:
    sender = call.container.connection_calls.sender(call.principal, _connection_id(call))
    connection, provider = sender.connection, sender.provider
    from tether.fetch.discovery import Endpoint

    known = []
    if provider.test is not None and not provider.test.path.startswith("{"):
        known.append(Endpoint(provider.test.method, provider.test.path, provider.test.description))
    found = call.container.endpoint_discovery.discover(
        f"{connection.tenant_id}:{connection.id}",
        base_url=sender.base_url,
        send=lambda method, url: sender(method, url),
        known=known,
    )
    return json_response(sender.redact(found.as_dict()))


_router = Router()
_router.add("POST", "/:id", fetch)
_router.add("GET", "/:id/endpoints", endpoints)


def handle(request: Request) -> Response:
    return serve("fetch", request, _router)
