"""One function's paths (``/``, ``/<id>``, ``/<id>/refresh``…) matched by werkzeug's router.

Patterns are written ``/:id/refresh`` and become werkzeug rules (``/<id>/refresh``); a
parameter is one path segment. A path that no rule matches is a 404; a path some rule matches
but not with this method is a 405 whose ``Allow`` header lists the methods that rule accepts
(RFC 9110 §15.5.6), HEAD included wherever GET is. Empty segments (``//``, a trailing ``/``)
are ignored, as a caller would expect of an API rather than a file tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Response
from werkzeug.exceptions import MethodNotAllowed as _WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound as _WerkzeugNotFound
from werkzeug.routing import Map, MapAdapter, Rule

from tether.domain.errors import MethodNotAllowed, NotFound

__all__ = ["Route", "Router"]

Handler = Callable[[Any], Response]


class Route(NamedTuple):
    method: str
    pattern: str
    handler: Handler
    public: bool = False


def _rule_path(pattern: str) -> str:
    """``/:id/refresh`` → ``/<id>/refresh``."""
    parts = [p for p in pattern.strip("/").split("/") if p]
    return "/" + "/".join(f"<{p[1:]}>" if p.startswith(":") else p for p in parts)


class Router:
    """Routes of one function; each keeps whether it is public (no bearer token needed)."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._map = Map(strict_slashes=False, merge_slashes=False)
        self._adapter: MapAdapter | None = None

    def add(self, method: str, pattern: str, handler: Handler, *, public: bool = False) -> None:
        route = Route(method.upper(), pattern, handler, public)
        self._map.add(Rule(_rule_path(pattern), methods=[route.method], endpoint=route))
        self._routes.append(route)
        self._adapter = None

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
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
        route: Route = endpoint
        return route, {name: str(value) for name, value in params.items()}
