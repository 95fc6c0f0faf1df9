"""The frame every function runs in: CORS, authentication, routing, errors → JSON, one log
line per request. Functions in ``functions/main.py`` call their route module's ``handle``,
which calls :func:`serve` and nothing else.

The frame never looks anything up: the entry point hands it a :data:`Wiring`, the composition
root's recipe for this function (:mod:`tether.wiring`), which it calls once per request inside
the error handling (so a configuration that cannot be built answers a JSON 500 like any other
failure). What the recipe gives is :class:`Wired`: the frame's own needs (:class:`Frame`) and
the services the function's routes use, each built only when a route first asks for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from flask import Request, Response

from tether.api.cors import apply_cors, is_preflight, preflight_response
from tether.api.responses import error_response
from tether.api.routing import Call, Router
from tether.domain.errors import Forbidden, TetherError
from tether.logs import secret_scope

if TYPE_CHECKING:
    from tether.api.auth import TokenVerifier

__all__ = ["Call", "Frame", "Wired", "Wiring", "serve"]

log = logging.getLogger("tether.http")

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Frame:
    """What the frame itself uses: the bearer-token verifier (asked for on the first request
    to a route that is not public), the origins CORS allows, and whether every answered
    request is logged (else only 5xx)."""

    verifier: Callable[[], TokenVerifier]
    cors_origins: frozenset[str]
    access_log: bool


@dataclass(frozen=True, slots=True)
class Wired(Generic[S]):
    """One function as the composition root hands it over: its frame and its routes'
    services."""

    frame: Frame
    services: S


Wiring = Callable[[], Wired[S]]
"""How an entry point hands a function its services: called at each request, cheap (the
parts it names are built once per instance, on first use)."""


def serve(
    function: str,
    request: Request,
    router: Router[S],
    wiring: Wiring[S],
    *,
    log_path: Callable[[str], str] | None = None,
) -> Response:
    """``log_path``: how the access log shows the request path (paths that carry a secret,
    such as a webhook token, are masked by it); default: as is."""
    with secret_scope():
        return _serve(function, request, router, wiring, log_path)


def _serve(
    function: str,
    request: Request,
    router: Router[S],
    wiring: Wiring[S],
    log_path: Callable[[str], str] | None,
) -> Response:
    started = time.perf_counter()
    origins: frozenset[str] = frozenset()
    tenant: str | None = None
    access_log = True
    try:
        wired = wiring()
        access_log = wired.frame.access_log
        origins = wired.frame.cors_origins
        if is_preflight(request):
            return preflight_response(request, origins)
        route, params = router.match(request.method, request.path)
        principal = None
        if not route.public:
            # Here, not at the top: public functions (webhooks, catalog) never load PyJWT.
            from tether.api.auth import bearer_token

            principal = wired.frame.verifier().verify(
                bearer_token(request.headers.get("Authorization"))
            )
            tenant = principal.tenant_id
            if principal.session is not None and not route.sessions:
                raise Forbidden(
                    "a connect session cannot use this endpoint", code="SESSION_NOT_ALLOWED"
                )
        response = route.handler(Call(request, params, wired.services, principal))
    except TetherError as error:
        if error.http_status >= 500:
            log.error("request failed: %s", error.code, extra={"error_code": error.code})
        response = error_response(error)
    except Exception:
        log.exception("unhandled error in %s", function)
        response = error_response(TetherError("internal error", code="INTERNAL"))
    apply_cors(request, response, origins)
    if not access_log and response.status_code < 500:
        return response
    shown_path = request.path if log_path is None else log_path(request.path)
    log.info(
        "%s %s %s",
        request.method,
        function,
        response.status_code,
        extra={
            "http_request": {
                "requestMethod": request.method,
                "requestUrl": f"/{function}{shown_path}",
                "status": response.status_code,
                "latency": f"{time.perf_counter() - started:.6f}s",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "tenant_id": tenant,
        },
    )
    return response
