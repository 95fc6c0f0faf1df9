"""HTTP routes of the ``test_connection`` function: ``POST /`` tests unsaved credentials,
``POST /<id>`` tests a stored connection (and records the result on it)."""

from __future__ import annotations

from typing import Any

from flask import Request, Response
from pydantic import Field

from tether.api.endpoint import Call, serve
from tether.api.parsing import parse_body
from tether.api.responses import json_response
from tether.api.routing import Router
from tether.connections.commands import InputModel
from tether.domain.errors import NotFound
from tether.domain.ids import is_well_formed

__all__ = ["handle"]


class TestUnsaved(InputModel):
    __test__ = False  # not a pytest test class

    provider: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    credentials: dict[str, Any] = Field(default_factory=dict, repr=False)
    config: dict[str, Any] = Field(default_factory=dict)


def unsaved(call: Call) -> Response:
    body = parse_body(call.request, TestUnsaved, max_bytes=call.container.settings.max_body_bytes)
    outcome = call.container.connection_tester.test_unsaved(
        call.principal, body.provider, body.credentials, body.config
    )
    return json_response(outcome.as_dict())


def stored(call: Call) -> Response:
    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    outcome = call.container.connection_tester.test_stored(call.principal, connection_id)
    return json_response(outcome.as_dict())


_router = Router()
_router.add("POST", "/", unsaved)
_router.add("POST", "/:id", stored)


def handle(request: Request) -> Response:
    return serve("test_connection", request, _router)
