"""The frame every function runs in: CORS, authentication, routing, errors → JSON, one log
line per request. Functions in ``functions/main.py`` call :func:`serve` and nothing else."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from flask import Request, Response

from tether.api.auth import bearer_token
from tether.api.cors import apply_cors, is_preflight, preflight_response
from tether.api.responses import error_response
from tether.api.routing import Router
from tether.domain.errors import TetherError
from tether.domain.models import Principal
from tether.logs import secret_scope

if TYPE_CHECKING:
    from tether.bootstrap import Container

__all__ = ["Call", "serve"]

log = logging.getLogger("tether.http")


class Call(NamedTuple):
    request: Request
    params: dict[str, str]
    container: Container
    principal_or_none: Principal | None

    @property
    def principal(self) -> Principal:
        if self.principal_or_none is None:  # a public route asked for a principal
            raise TetherError("route is public but needs a principal")
        return self.principal_or_none


def serve(
    function: str,
    request: Request,
    router: Router,
    *,
    log_path: Callable[[str], str] | None = None,
) -> Response:
    """``log_path``: how the access log shows the request path (paths that carry a secret,
    such as a webhook token, are masked by it); default: as is."""
    with secret_scope():
        return _serve(function, request, router, log_path)


def _serve(
    function: str, request: Request, router: Router, log_path: Callable[[str], str] | None
) -> Response:
    from tether.bootstrap import get_container

    started = time.perf_counter()
    origins: frozenset[str] = frozenset()
    tenant: str | None = None
    access_log = True
    try:
        container = get_container()
        access_log = container.settings.access_log_enabled
        origins = container.settings.cors_origins
        if is_preflight(request):
            return preflight_response(request, origins)
        route, params = router.match(request.method, request.path)
        principal = None
        if not route.public:
            principal = container.verifier.verify(
                bearer_token(request.headers.get("Authorization"))
            )
            tenant = principal.tenant_id
        response = route.handler(Call(request, params, container, principal))
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
