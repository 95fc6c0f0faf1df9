"""Turning raw requests into validated pydantic models, with clear 4xx errors.

Every JSON body is decoded within the limits of :mod:`tether.domain.bounded_json` (depth,
members, string length, no NaN or Infinity, no lone surrogates) before anything reads it, so
nothing stored from a request can break a later reader. Validation errors report the location
and pydantic's message, never the offending input (which may be a credential).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from flask import Request
from pydantic import BaseModel, ValidationError

from tether.api.request_body import read_body
from tether.domain.bounded_json import loads_bounded
from tether.domain.errors import InvalidRequest

__all__ = ["parse_body", "parse_query", "read_json_object"]

M = TypeVar("M", bound=BaseModel)


def read_json_object(request: Request, *, max_bytes: int) -> dict[str, Any]:
    raw = read_body(request, max_bytes=max_bytes)
    mimetype = request.mimetype
    if raw and mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise InvalidRequest(
            "the body must be JSON (Content-Type: application/json)",
            code="UNSUPPORTED_MEDIA_TYPE",
            http_status=415,
        )
    if not raw.strip():
        raise InvalidRequest("the body must be a JSON object", code="INVALID_JSON")
    value = loads_bounded(raw)
    if not isinstance(value, dict):
        raise InvalidRequest("the body must be a JSON object", code="INVALID_JSON")
    return value


def validation_problem(exc: ValidationError) -> InvalidRequest:
    problems = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidRequest(
        f"{first['field']}: {first['problem']}{more}",
        code="VALIDATION_FAILED",
        details={"problems": problems},
    )


def parse_body(request: Request, model: type[M], *, max_bytes: int) -> M:
    data = read_json_object(request, max_bytes=max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def parse_query(args: Mapping[str, str], model: type[M]) -> M:
    try:
        return model.model_validate(dict(args))
    except ValidationError as exc:
        raise validation_problem(exc) from None
