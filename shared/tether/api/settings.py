"""HTTP routes of the ``settings`` function: the tenant's notify URL and its signing secret.

``GET /`` → ``{notify_url, secrets: [{id, current, created_at, expires_at}], version}``;
``PUT /`` with ``{notify_url}`` (``null`` clears it); ``POST /notify-secret/rotate`` with an
optional ``{overlap_hours}`` answers the new ``whsec_…`` secret, shown this once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Request, Response
from pydantic import Field

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import parse_body
from tether.api.responses import body_response
from tether.api.routing import Router
from tether.api.schemas import NotifySecretView, NotifySettingsBody, RotatedNotifySecret
from tether.connections.commands import InputModel

if TYPE_CHECKING:
    from tether.delivery.settings import NotifySettingsService, NotifySettingsView

__all__ = ["PutSettings", "RotateSecret", "Services", "handle", "router"]


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: the tenant's notify settings, built on first use."""

    notify_settings: Callable[[], NotifySettingsService]
    max_body_bytes: int


class PutSettings(InputModel):
    notify_url: str | None = Field(max_length=2000)


class RotateSecret(InputModel):
    overlap_hours: int = Field(default=24, ge=0, le=720)


def _fields(view: NotifySettingsView) -> dict[str, Any]:
    return {
        "notify_url": view.notify_url,
        "secrets": [
            NotifySecretView(
                id=s.id, current=s.current, created_at=s.created_at, expires_at=s.expires_at
            )
            for s in view.secrets
        ],
        "version": view.version,
        "updated_at": view.updated_at,
    }


def get(call: Call[Services]) -> Response:
    view = call.services.notify_settings().get(call.principal)
    return body_response(NotifySettingsBody(**_fields(view)))


def put(call: Call[Services]) -> Response:
    body = parse_body(call.request, PutSettings, max_bytes=call.services.max_body_bytes)
    view = call.services.notify_settings().set_notify_url(call.principal, body.notify_url)
    return body_response(NotifySettingsBody(**_fields(view)))


def rotate(call: Call[Services]) -> Response:
    body = (
        parse_body(call.request, RotateSecret, max_bytes=call.services.max_body_bytes)
        if call.request.content_length
        else RotateSecret()
    )
    secret = call.services.notify_settings().rotate_secret(
        call.principal, overlap_hours=body.overlap_hours
    )
    view = call.services.notify_settings().get(call.principal)
    return body_response(RotatedNotifySecret(secret=secret, **_fields(view)), 201)


router: Router[Services] = Router()
router.add("GET", "/", get)
router.add("PUT", "/", put)
router.add("POST", "/notify-secret/rotate", rotate)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("settings", request, router, wiring)
