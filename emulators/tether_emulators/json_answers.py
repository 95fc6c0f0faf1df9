"""The JSON answers and the request-problem exception shared by the local HTTP stand-ins."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response

__all__ = ["Problem", "json_response"]


class Problem(Exception):
    """A request the stand-in refuses: ``status`` and a ``message`` for the error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    response = Response(json.dumps(payload), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
