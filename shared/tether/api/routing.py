"""One function's paths (``/``, ``/<id>``, ``/<id>/refresh``…) matched to its routes.

Patterns are written ``/:id/refresh``; a parameter is one path segment, except a last
``*name``, which is the rest of the path. A path that no route matches is a 404; a path some
route matches but not with this method is a 405 whose ``Allow`` header lists the methods the
routes matching it accept (RFC 9110 §15.5.6), HEAD included wherever GET is. Empty segments
(``//``, a trailing ``/``) are ignored, as a caller would expect of an API rather than a file
tree. Where several routes match, the one werkzeug's router would choose wins: segment by
segment, a literal segment before a parameter before the rest of the path, trying the next
when a branch ends with no route for the method (``DELETE /current`` before ``DELETE /:id``,
while ``PATCH /current`` is ``PATCH /:id``). The rest of the path takes what werkzeug's path
converter took, ``[^/].*?`` without ``re.DOTALL``: no line feed after its first character
(``/:id/*path`` does not match ``/c/b%0Ac`` nor ``/c/b%0D%0AX: y``: a 404, so the proxy never
forwards such a path), while ``\r``, NUL and a one-segment parameter's line feeds match.

Hand-written rather than werkzeug's ``Map``: its general matcher (converters, host matching,
redirects, a regular expression per segment) cost about 6 us of every request for patterns
this small, about a tenth of what a function's own work is on the webhook path. A test
matches every function's routes against werkzeug's router over generated paths.

A router is generic in the services ``S`` its function's routes use: a handler takes a
:class:`Call` carrying exactly those services (handed in by the composition root), so a route
reaches what its function declares and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from flask import Request, Response

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


@dataclass(eq=False)
class _Node(Generic[S]):
    """One position in the patterns: the routes that end here (with their parameters'
    names, in path order) and the ways on: literal segments, a parameter, the rest."""

    ends: list[tuple[Route[S], frozenset[str], tuple[str, ...]]] = field(default_factory=list)
    literal: dict[str, _Node[S]] = field(default_factory=dict)
    param: _Node[S] | None = None
    rest: list[tuple[Route[S], frozenset[str], tuple[str, ...]]] = field(default_factory=list)


def _methods(method: str) -> frozenset[str]:
    """What a route answers: its method, and HEAD wherever GET (as werkzeug's rules do)."""
    return frozenset({method, "HEAD"}) if method == "GET" else frozenset({method})


class Router(Generic[S]):
    """Routes of one function; each keeps whether it is public (no bearer token needed)."""

    def __init__(self) -> None:
        self._routes: list[Route[S]] = []
        self._root: _Node[S] = _Node()

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
        parts = [p for p in pattern.strip("/").split("/") if p]
        node = self._root
        names: list[str] = []
        for index, part in enumerate(parts):
            if part.startswith("*"):
                if index != len(parts) - 1:
                    raise ValueError(f"{pattern}: *{part[1:]} must be the last segment")
                names.append(part[1:])
                node.rest.append((route, _methods(route.method), tuple(names)))
                break
            if part.startswith(":"):
                names.append(part[1:])
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.literal.setdefault(part, _Node())
        else:
            node.ends.append((route, _methods(route.method), tuple(names)))
        self._routes.append(route)

    @property
    def routes(self) -> tuple[Route[S], ...]:
        return tuple(self._routes)

    def match(self, method: str, path: str) -> tuple[Route[S], dict[str, str]]:
        segments = [s for s in path.split("/") if s]
        method = method.upper()
        allowed: set[str] = set()
        found = _find(self._root, segments, 0, [], method, allowed)
        if found is not None:
            route, names, values = found
            return route, dict(zip(names, values, strict=True))
        if allowed:
            listed = sorted(allowed)
            raise MethodNotAllowed(
                f"{method} is not allowed here; use {', '.join(listed)}", allowed=listed
            )
        raise NotFound("no such endpoint", code="ROUTE_NOT_FOUND")


_Found = tuple[Route[S], tuple[str, ...], list[str]]


def _first(
    candidates: list[tuple[Route[S], frozenset[str], tuple[str, ...]]],
    values: list[str],
    method: str,
    allowed: set[str],
) -> _Found[S] | None:
    """The first of the routes matching the whole path that takes ``method``; the methods of
    the others are noted for a 405."""
    for route, methods, names in candidates:
        if method in methods:
            return route, names, values
        allowed.update(methods)
    return None


def _find(
    node: _Node[S],
    segments: list[str],
    index: int,
    values: list[str],
    method: str,
    allowed: set[str],
) -> _Found[S] | None:
    if index == len(segments):
        return _first(node.ends, values, method, allowed)
    segment = segments[index]
    literal = node.literal.get(segment)
    if literal is not None:
        found = _find(literal, segments, index + 1, values, method, allowed)
        if found is not None:
            return found
    if node.param is not None:
        found = _find(node.param, segments, index + 1, [*values, segment], method, allowed)
        if found is not None:
            return found
    if node.rest:
        rest = "/".join(segments[index:])
        if "\n" in rest[1:]:
            return None
        return _first(node.rest, [*values, rest], method, allowed)
    return None
