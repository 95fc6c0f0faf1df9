"""Every function's routes choose as werkzeug's router does: the same route and parameters,
the same 405 with the same allowed methods, the same 404, over paths made of each router's own
segments, a few strangers, and every method."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import random
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound as WerkzeugNotFound
from werkzeug.routing import Map, Rule

import tether.api
from tether.api.routing import Router
from tether.domain.errors import MethodNotAllowed, NotFound

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get")
STRANGERS = ("x", "abc_123", "a b", "%41", "ü", ".", "..", "\n", "\x00", "a\nb", "\r")
# Paths of each length taken from the product of a router's words: all of it when it is no
# larger, else a sample spread over all of it (seeded, so a failure repeats).
PER_LENGTH = 3000


def _routers() -> list[tuple[str, Router[Any]]]:
    found: list[tuple[str, Router[Any]]] = []
    for info in pkgutil.iter_modules(tether.api.__path__):
        module = importlib.import_module(f"tether.api.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Router):
                found.append((f"{info.name}.{name}", value))
    return found


def _werkzeug_rule(pattern: str) -> str:
    parts = [p for p in pattern.strip("/").split("/") if p]
    return "/" + "/".join(
        f"<{p[1:]}>" if p.startswith(":") else f"<path:{p[1:]}>" if p.startswith("*") else p
        for p in parts
    )


def _oracle(router: Router[Any]) -> Any:
    rules = Map(strict_slashes=False, merge_slashes=False)
    for route in router.routes:
        rules.add(Rule(_werkzeug_rule(route.pattern), methods=[route.method], endpoint=route))
    return rules.bind("localhost")


def _combos(pool: list[str], length: int, rng: random.Random) -> Iterator[tuple[str, ...]]:
    """``PER_LENGTH`` of the ``length``-word combinations of ``pool`` (all when fewer), each
    drawn by its index in the product."""
    size = len(pool) ** length
    for index in rng.sample(range(size), min(size, PER_LENGTH)):
        combo: list[str] = []
        for _ in range(length):
            index, digit = divmod(index, len(pool))
            combo.append(pool[digit])
        yield tuple(combo)


def _paths(name: str, router: Router[Any]) -> list[str]:
    words = {p for r in router.routes for p in r.pattern.split("/") if p and p[0] not in ":*"}
    pool = sorted(words) + list(STRANGERS)
    rng = random.Random(f"paths of {name}")  # noqa: S311 - a reproducible sample, not a secret
    paths = ["/", "", "//", "///x//"]
    for length in range(1, 5):
        for combo in _combos(pool, length, rng):
            paths.append("/" + "/".join(combo))
            paths.append("/" + "/".join(combo) + "/")
    return paths


ROUTERS = _routers()


def test_every_function_router_is_checked() -> None:
    names = {name for name, _ in ROUTERS}
    assert {"webhooks.router", "connections.router", "proxy.router", "syncs.router"} <= names
    assert len(names) >= 15


@pytest.mark.parametrize(("name", "router"), ROUTERS, ids=[name for name, _ in ROUTERS])
def test_a_router_chooses_as_werkzeug_does(name: str, router: Router[Any]) -> None:
    oracle = _oracle(router)
    for path, method in itertools.product(_paths(name, router), METHODS):
        segments = [s for s in path.split("/") if s]
        try:
            route, params = oracle.match("/" + "/".join(segments), method=method.upper())
            expected: Any = ("ok", route, {k: str(v) for k, v in params.items()})
        except WerkzeugMethodNotAllowed as refused:
            expected = ("405", sorted(refused.valid_methods or ()))
        except WerkzeugNotFound:
            expected = ("404",)
        try:
            actual: Any = ("ok", *router.match(method, path))
        except MethodNotAllowed as refused:
            actual = ("405", list(refused.allowed))
        except NotFound:
            actual = ("404",)
        assert actual == expected, (name, method, path)


@pytest.mark.parametrize("path", ["/c/b\nc", "/c/b\r\nX: y", "/c/b\n", "/c/a/\n/b", "/c/\n\n"])
def test_a_rest_of_the_path_with_a_line_feed_is_no_route(path: str) -> None:
    """As werkzeug's path converter: a line feed after the first character of the rest (the
    proxy's ``/c/b%0Ac``) matches no route."""
    router = Router[Any]()
    router.add("GET", "/:id/*path", lambda call: call.request)  # type: ignore[arg-type, return-value]
    with pytest.raises(NotFound) as refused:
        router.match("GET", path)
    assert refused.value.code == "ROUTE_NOT_FOUND"
    assert router.match("GET", "/c/b\rc\x00")[1] == {"id": "c", "path": "b\rc\x00"}


def test_a_rest_parameter_must_end_the_pattern() -> None:
    with pytest.raises(ValueError, match="last segment"):
        Router[Any]().add("GET", "/:id/*path/more", lambda call: call.request)  # type: ignore[arg-type, return-value]
