"""JSON responses and the mapping of typed errors to HTTP."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response
from pydantic import BaseModel

from tether.domain.clock import iso_utc
from tether.domain.errors import MethodNotAllowed, TetherError

__all__ = [
    "body_response",
    "encoded_body",
    "encoded_response",
    "error_response",
    "json_response",
    "no_content",
    "secured",
]

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _json_default(value: object) -> str:
    """Times as the API shows them everywhere (ISO 8601, ``Z``); anything else as text."""
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def _encoded(body: Any) -> str:
    # allow_nan=False: NaN and Infinity are not JSON; refusing them here (a 500 with a valid
    # error body) beats sending a response no client can parse.
    return json.dumps(body, separators=(",", ":"), default=_json_default, allow_nan=False)


def encoded_response(
    text: str, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response whose body is already encoded (:func:`encoded_body`)."""
    response = Response(text, status=status, mimetype="application/json")
    response.headers.update(_SECURITY_HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def json_response(
    body: Any, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    return encoded_response(_encoded(body), status, headers=headers)


def encoded_body(body: BaseModel) -> str:
    """A response model as :func:`body_response` sends it: for an answer that is one of a few
    constants, encoded once and sent with :func:`encoded_response`."""
    return _encoded(body.model_dump(mode="json"))


def body_response(
    body: BaseModel, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    """A response model as JSON, as ``/openapi.json`` documents it."""
    return encoded_response(encoded_body(body), status, headers=headers)


def secured(response: Response) -> Response:
    """``response`` (built elsewhere, as the MCP transport's) with the headers every answer of
    the API carries: not stored by caches, not sniffed."""
    response.headers.update(_SECURITY_HEADERS)
    return response


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
