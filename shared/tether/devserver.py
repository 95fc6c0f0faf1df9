"""``tether dev``: every function of ``functions/main.py`` on one port, under ``/<function>``.

Each function gets the same treatment functions-framework gives a deployed HTTP function (all
methods, every sub-path handed to it, ``request.path`` relative to the function's root), so
the entry points run unchanged; the dev server adds ``/openapi.json`` and an index at ``/``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from tether.api.responses import json_response

__all__ = ["build_app", "find_functions_source", "load_functions"]

FunctionType = Callable[[Request], Response]
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def find_functions_source(explicit: Path | None = None) -> Path:
    candidates = (
        [explicit]
        if explicit
        else [
            Path.cwd() / "functions" / "main.py",
            Path(__file__).resolve().parents[2] / "functions" / "main.py",
        ]
    )
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "functions/main.py not found; run `tether dev` from the project root or pass --source"
    )


def load_functions(source: Path) -> dict[str, FunctionType]:
    spec = importlib.util.spec_from_file_location("tether_functions_main", source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    names: list[str] = list(getattr(module, "__all__", []))
    return {name: getattr(module, name) for name in names}


def _function_app(name: str, function: FunctionType) -> Flask:
    app = Flask(f"tether.{name}")
    app.url_map.strict_slashes = False

    def view(path: str = "") -> Response:
        return function(request)

    app.add_url_rule("/", f"{name}_root", view, methods=_METHODS, defaults={"path": ""})
    app.add_url_rule("/<path:path>", f"{name}_path", view, methods=_METHODS)
    return app


def build_app(
    functions: Mapping[str, FunctionType], *, openapi: Callable[[], dict[str, Any]]
) -> Any:
    root = Flask("tether.dev")

    @root.get("/")
    def index() -> Response:
        return json_response(
            {
                "service": "tether",
                "functions": {n: f"/{n}/" for n in functions},
                "openapi": "/openapi.json",
            }
        )

    @root.get("/openapi.json")
    def spec() -> Response:
        return json_response(openapi())

    @root.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return json_response(
            {"error": {"code": "ROUTE_NOT_FOUND", "message": "no such function"}}, 404
        )

    @root.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return json_response(
            {"error": {"code": "METHOD_NOT_ALLOWED", "message": "method not allowed"}}, 405
        )

    return DispatcherMiddleware(
        root.wsgi_app,
        {f"/{name}": _function_app(name, fn).wsgi_app for name, fn in functions.items()},
    )
