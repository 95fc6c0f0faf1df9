"""HTTP routes of the ``actions`` function: ``GET /<id>`` (what the connection can do, filtered
by its granted scopes) and ``POST /<id>/<action>`` (run one; the body is the action's input,
an ``Idempotency-Key`` header makes a retried run answer the first run's output, marked by
``Idempotent-Replayed: true``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Request, Response
from pydantic import Field

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import read_json_object
from tether.api.responses import body_response, json_response
from tether.api.routing import Router
from tether.api.schemas import Body
from tether.domain.errors import NotFound
from tether.domain.ids import is_well_formed

if TYPE_CHECKING:
    from tether.actions.runner import ActionRunner
    from tether.catalog.action_definition import ActionDefinition

__all__ = ["ActionOutputBody", "ActionView", "ActionsBody", "Services", "handle", "router"]


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: the action runner, built on first use."""

    runner: Callable[[], ActionRunner]
    max_body_bytes: int


class ActionView(Body):
    name: str
    description: str
    input_schema: dict[str, Any] = Field(description="JSON Schema 2020-12 of the input")
    output_schema: dict[str, Any] = Field(description="JSON Schema 2020-12 of the output")
    scopes: list[str] = Field(description="any one of these must have been granted")
    writes: bool = Field(description="creates or changes something: send an Idempotency-Key")

    @classmethod
    def of(cls, action: ActionDefinition) -> ActionView:
        return cls(
            name=action.name,
            description=action.description,
            input_schema=action.input,
            output_schema=action.output,
            scopes=list(action.scopes),
            writes=action.writes,
        )


class ActionsBody(Body):
    """The actions this connection can run now: those of its provider whose scopes it was
    granted."""

    connection_id: str
    provider: str
    actions: list[ActionView]


class ActionOutputBody(Body):
    """The action's output, checked against its output schema, credential values masked."""

    action: str
    output: dict[str, Any]


def _connection_id(call: Call[Services]) -> str:
    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    return connection_id


def list_actions(call: Call[Services]) -> Response:
    connection, actions = call.services.runner().available(call.principal, _connection_id(call))
    return body_response(
        ActionsBody(
            connection_id=connection.id,
            provider=connection.provider,
            actions=[ActionView.of(action) for action in actions],
        )
    )


def run_action(call: Call[Services]) -> Response:
    connection_id = _connection_id(call)
    name = call.params["action"]
    request = call.request
    bodiless = not request.content_length and "Transfer-Encoding" not in request.headers
    values = {} if bodiless else read_json_object(request, max_bytes=call.services.max_body_bytes)
    result = call.services.runner().run(
        call.principal,
        connection_id,
        name,
        values,
        idempotency_key=call.request.headers.get("Idempotency-Key"),
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    # ActionOutputBody's shape, sent as the dict it is: the output was checked against the
    # action's schema already, and a model would copy and re-check it on every run.
    body: dict[str, Any] = {"action": name, "output": result.output}
    return json_response(body, headers=headers)


router: Router[Services] = Router()
router.add("GET", "/:id", list_actions)
router.add("POST", "/:id/:action", run_action)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("actions", request, router, wiring)
