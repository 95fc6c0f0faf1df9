"""A tiny router for one function's paths (``/``, ``/<id>``, ``/<id>/refresh``…)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Response

from tether.domain.errors import InvalidRequest, NotFound

__all__ = ["Route", "Router"]

Handler = Callable[[Any], Response]


class Route(NamedTuple):
    method: str
    parts: tuple[str, ...]
    handler: Handler
    public: bool = False

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.parts):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.parts, segments, strict=True):
            if want.startswith(":"):
                params[want[1:]] = got
            elif want != got:
                return None
        return params


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, *, public: bool = False) -> None:
        parts = tuple(p for p in pattern.strip("/").split("/") if p)
        self._routes.append(Route(method.upper(), parts, handler, public))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        segments = [s for s in path.strip("/").split("/") if s]
        allowed: set[str] = set()
        for route in self._routes:
            params = route.match(segments)
            if params is None:
                continue
            if route.method == method.upper() or (
                method.upper() == "HEAD" and route.method == "GET"
            ):
                return route, params
            allowed.add(route.method)
        if allowed:
            raise InvalidRequest(
                f"{method} is not allowed here; use {', '.join(sorted(allowed))}",
                code="METHOD_NOT_ALLOWED",
                http_status=405,
            )
        raise NotFound("no such endpoint", code="ROUTE_NOT_FOUND")
