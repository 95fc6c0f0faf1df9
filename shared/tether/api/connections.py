"""HTTP routes of the ``connections`` function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request, Response

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import parse_body, parse_query
from tether.api.responses import body_response, no_content
from tether.api.routing import Router
from tether.api.schemas import (
    AuditTrail,
    ConnectionEvents,
    ConnectionList,
    DeliveryView,
    InboundEventView,
)
from tether.api.views import audit_view, connection_view, etag, webhook_answer
from tether.connections.commands import CreateConnection, ListConnections, UpdateConnection
from tether.domain.decimal_digits import parse_decimal
from tether.domain.errors import InvalidRequest, NotFound
from tether.domain.ids import is_well_formed

if TYPE_CHECKING:
    from tether.connections.service import ConnectionService
    from tether.domain.models import Delivery
    from tether.oauth.refresh import TokenRefresh
    from tether.webhooks.intake import WebhookIntake
    from tether.webhooks.provisioning import WebhookProvisioning

__all__ = ["Services", "handle", "router"]


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use, each built on first use. ``deliveries(tenant, connection)``:
    the connection's recent deliveries, newest first."""

    connections: Callable[[], ConnectionService]
    webhooks: Callable[[], WebhookProvisioning]
    inbound: Callable[[], WebhookIntake]
    tokens: Callable[[], TokenRefresh]
    deliveries: Callable[[str, str], list[Delivery]]
    max_body_bytes: int


def _connection_id(call: Call[Services]) -> str:
    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    return connection_id


def _if_match(call: Call[Services]) -> int | None:
    header = call.request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    version = parse_decimal(header.strip().removeprefix("W/").strip('"'))
    if version is None:
        raise InvalidRequest("If-Match must be an ETag from this API", code="INVALID_IF_MATCH")
    return version


def create(call: Call[Services]) -> Response:
    body = parse_body(call.request, CreateConnection, max_bytes=call.services.max_body_bytes)
    connection, issued = call.services.webhooks().create_connection(call.principal, body)
    # Shown this once: Tether keeps only the hash of the URL's token (and the secret only in
    # the credential store).
    shown = None if issued is None else webhook_answer(issued)
    return body_response(
        connection_view(connection, webhook=shown),
        201,
        headers={
            "Location": f"{call.request.script_root}/{connection.id}",
            "ETag": etag(connection),
        },
    )


def list_(call: Call[Services]) -> Response:
    query = parse_query(call.request.args, ListConnections)
    page = call.services.connections().list_connections(call.principal, query)
    return body_response(
        ConnectionList(
            connections=[connection_view(c) for c in page.items],
            next_cursor=page.next_cursor,
            # ids of this page's records that can no longer be read: the tenant can delete them
            unreadable=page.unreadable,
        )
    )


def get(call: Call[Services]) -> Response:
    connection = call.services.connections().get(call.principal, _connection_id(call))
    return body_response(connection_view(connection), headers={"ETag": etag(connection)})


def update(call: Call[Services]) -> Response:
    connection_id = _connection_id(call)
    body = parse_body(call.request, UpdateConnection, max_bytes=call.services.max_body_bytes)
    connection = call.services.connections().update(
        call.principal, connection_id, body, if_match=_if_match(call)
    )
    return body_response(connection_view(connection), headers={"ETag": etag(connection)})


def delete(call: Call[Services]) -> Response:
    call.services.connections().delete(call.principal, _connection_id(call))
    return no_content()


def refresh(call: Call[Services]) -> Response:
    """Force a token refresh now (OAuth connections)."""
    connection = call.services.connections().get(call.principal, _connection_id(call))
    refreshed = call.services.tokens().force_refresh(connection, actor=call.principal.user_id)
    return body_response(connection_view(refreshed), headers={"ETag": etag(refreshed)})


def rotate_webhook(call: Call[Services]) -> Response:
    """A new webhook URL (the old one stops working); shown this once."""
    issued = call.services.webhooks().rotate(call.principal, _connection_id(call))
    return body_response(webhook_answer(issued), 201)


def events(call: Call[Services]) -> Response:
    """Recent inbound events and deliveries of the connection (no payload secrets)."""
    connection_id = _connection_id(call)
    inbound = call.services.inbound().list_events(call.principal, connection_id)
    deliveries = call.services.deliveries(call.principal.tenant_id, connection_id)
    return body_response(
        ConnectionEvents(
            events=[
                InboundEventView(
                    id=e.id,
                    provider=e.provider,
                    status=e.status,
                    type=e.type,
                    received_at=e.received_at,
                    dedupe_key=e.dedupe_key,
                )
                for e in inbound
            ],
            deliveries=[
                DeliveryView(
                    id=d.id,
                    type=d.event_type,
                    status=d.status.value,
                    attempts=d.attempts,
                    last_status_code=d.last_status_code,
                    last_error=d.last_error,
                    created_at=d.created_at,
                    updated_at=d.updated_at,
                    notify_url_host=d.notify_url_host,
                )
                for d in deliveries
            ],
        )
    )


def audit(call: Call[Services]) -> Response:
    events = call.services.connections().audit_trail(call.principal, _connection_id(call))
    return body_response(AuditTrail(audit=[audit_view(e) for e in events]))


router: Router[Services] = Router()
# A connect session's bearer creates, reads, updates (new credentials: a reconnect) and
# deletes its own end user's connections; the rest is the tenant's.
router.add("POST", "/", create, sessions=True)
router.add("GET", "/", list_, sessions=True)
router.add("GET", "/:id", get, sessions=True)
router.add("POST", "/:id/refresh", refresh)
router.add("POST", "/:id/webhook/rotate", rotate_webhook)
router.add("GET", "/:id/events", events)
router.add("PATCH", "/:id", update, sessions=True)
router.add("DELETE", "/:id", delete, sessions=True)
router.add("GET", "/:id/audit", audit)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("connections", request, router, wiring)
