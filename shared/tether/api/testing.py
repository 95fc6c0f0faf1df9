"""HTTP routes of the ``test_connection`` function: ``POST /`` tests unsaved credentials,
``POST /<id>`` tests a stored connection (and records the result on it)."""

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
from tether.api.schemas import Body
from tether.connections.commands import InputModel
from tether.domain.errors import NotFound
from tether.domain.ids import is_well_formed
from tether.fetch.outcomes import OutcomeCode, ProbeOutcome

if TYPE_CHECKING:
    from tether.fetch.probe import ConnectionProber

__all__ = ["ProbeOutcomeBody", "ProbeUnsaved", "Services", "handle", "router"]


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: the connection prober, built on first use."""

    prober: Callable[[], ConnectionProber]
    max_body_bytes: int


class ProbeUnsaved(InputModel):
    provider: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    credentials: dict[str, Any] = Field(default_factory=dict, repr=False)
    config: dict[str, Any] = Field(default_factory=dict)


class ProbeOutcomeBody(Body):
    """Does the connection work, and if not, why: ``http_status`` is the provider's status
    when it answered over HTTP, ``latency_ms`` the time the test took when a request was made,
    ``sample`` up to three redacted records of the answer (on failure: the redacted error
    document, when there was one)."""

    ok: bool
    code: OutcomeCode
    message: str
    suggestion: str | None
    http_status: int | None
    latency_ms: int | None
    sample: list[Any] | None

    @classmethod
    def of(cls, outcome: ProbeOutcome) -> ProbeOutcomeBody:
        return cls(
            ok=outcome.ok,
            code=outcome.code,
            message=outcome.message,
            suggestion=outcome.suggestion,
            http_status=outcome.http_status,
            latency_ms=outcome.latency_ms,
            sample=outcome.sample,
        )


def unsaved(call: Call[Services]) -> Response:
    body = parse_body(call.request, ProbeUnsaved, max_bytes=call.services.max_body_bytes)
    outcome = call.services.prober().test_unsaved(
        call.principal, body.provider, body.credentials, body.config
    )
    return body_response(ProbeOutcomeBody.of(outcome))


def stored(call: Call[Services]) -> Response:
    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    outcome = call.services.prober().test_stored(call.principal, connection_id)
    return body_response(ProbeOutcomeBody.of(outcome))


router: Router[Services] = Router()
router.add("POST", "/", unsaved, sessions=True)
router.add("POST", "/:id", stored, sessions=True)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("test_connection", request, router, wiring)
