"""One function's paths (``/``, ``/<id>``, ``/<id>/refresh``…) matched by werkzeug's router.

Patterns are written ``/:id/refresh`` and become werkzeug rules (``/<id>/refresh``); a
parameter is one path segment, except a last ``*name``, which is the rest of the path. A
path that no rule matches is a 404; a path some rule matches
but not with this method is a 405 whose ``Allow`` header lists the methods that rule accepts
(RFC 9110 §15.5.6), HEAD included wherever GET is. Empty segments (``//``, a trailing ``/``)
are ignored, as a caller would expect of an API rather than a file tree.

A router is generic in the services ``S`` its function's routes use: a handler takes a
:class:`Call` carrying exactly those services (handed in by the composition root), so a route
reaches what its function declares and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import Request, Response
from werkzeug.exceptions import MethodNotAllowed as _WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound as _WerkzeugNotFound
from werkzeug.routing import Map, MapAdapter, Rule

from tether.domain.errors import MethodNotAllowed, NotFound, TetherError
from tether.domain.models import Principal

__all__ = ["Call", "Route", "Router"]

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Call(Generic[S]):
    """One matched request as a route sees it: the path parameters, the services of its
    function, and who is calling (``None`` on a public route)."""

    request: Request
    params: dict[str, str]
    services: S
    principal_or_none: Principal | None

    @property
    def principal(self) -> Principal:
        if self.principal_or_none is None:  # a public route asked for a principal
            raise TetherError("route is public but needs a principal")
        return self.principal_or_none


@dataclass(frozen=True, slots=True)
class Route(Generic[S]):
    """``sessions``: a connect session's bearer may call it too (else only the tenant)."""

    method: str
    pattern: str
    handler: Callable[[Call[S]], Response]
    public: bool = False
    sessions: bool = False


def _rule_path(pattern: str) -> str:
    """``/:id/refresh`` → ``/<id>/refresh``; a last ``*rest`` takes the rest of the path
    (``/:id/*path`` → ``/<id>/<path:path>``)."""
    parts = [p for p in pattern.strip("/").split("/") if p]
    return "/" + "/".join(
        f"<{p[1:]}>" if p.startswith(":") else f"<path:{p[1:]}>" if p.startswith("*") else p
        for p in parts
    )


class Router(Generic[S]):
    """Routes of one function; each keeps whether it is public (no bearer token needed)."""

    def __init__(self) -> None:
        self._routes: list[Route[S]] = []
        self._map = Map(strict_slashes=False, merge_slashes=False)
        self._adapter: MapAdapter | None = None

    def add(
        self,
        method: str,
        pattern: str,
        handler: Callable[[Call[S]], Response],
        *,
        public: bool = False,
        sessions: bool = False,
    ) -> None:
        route = Route(method.upper(), pattern, handler, public, sessions)
        self._map.add(Rule(_rule_path(pattern), methods=[route.method], endpoint=route))
        self._routes.append(route)
        self._adapter = None

    @property
    def routes(self) -> tuple[Route[S], ...]:
        return tuple(self._routes)

    def match(self, method: str, path: str) -> tuple[Route[S], dict[str, str]]:
        if self._adapter is None:
            self._adapter = self._map.bind("localhost")
        segments = [s for s in path.split("/") if s]
        try:
            endpoint, params = self._adapter.match("/" + "/".join(segments), method=method.upper())
        except _WerkzeugMethodNotAllowed as refused:
            allowed = sorted(refused.valid_methods or ())
            raise MethodNotAllowed(
                f"{method} is not allowed here; use {', '.join(allowed)}", allowed=allowed
            ) from None
        except _WerkzeugNotFound:
            raise NotFound("no such endpoint", code="ROUTE_NOT_FOUND") from None
        route: Route[S] = endpoint
        return route, {name: str(value) for name, value in params.items()}
