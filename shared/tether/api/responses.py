"""JSON responses and the mapping of typed errors to HTTP."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response
from pydantic import BaseModel

from tether.domain.clock import iso_utc
from tether.domain.errors import MethodNotAllowed, TetherError

__all__ = ["body_response", "error_response", "json_response", "no_content"]

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _json_default(value: object) -> str:
    """Times as the API shows them everywhere (ISO 8601, ``Z``); anything else as text."""
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def json_response(
    body: Any, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    response = Response(
        # allow_nan=False: NaN and Infinity are not JSON; refusing them here (a 500 with a
        # valid error body) beats sending a response no client can parse.
        json.dumps(body, separators=(",", ":"), default=_json_default, allow_nan=False),
        status=status,
        mimetype="application/json",
    )
    response.headers.update(_SECURITY_HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def body_response(
    body: BaseModel, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    """A response model as JSON, as ``/openapi.json`` documents it."""
    return json_response(body.model_dump(mode="json"), status, headers=headers)


def no_content(*, headers: dict[str, str] | None = None) -> Response:
    response = Response(status=204)
    response.headers.update(_SECURITY_HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def error_response(error: TetherError) -> Response:
    headers: dict[str, str] = {}
    if error.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.allowed)
    # Built as a dict, not an ErrorBody: the error path must not fail on odd ``details``.
    return json_response({"error": error.to_dict()}, error.http_status, headers=headers)
