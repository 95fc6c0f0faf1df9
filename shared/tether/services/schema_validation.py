"""Validating tenant input against a provider's JSON Schemas (draft 2020-12), with the
``jsonschema`` library.

Error messages are built from the failing *location* and *keyword* only: jsonschema's own
messages quote the instance (``'sk_live_…' does not match …``), which would echo a credential
back to the caller and into logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tether.domain.errors import InvalidRequest

__all__ = ["validate_against_schema"]

_KEYWORD_MESSAGES = {
    "required": "is required",
    "type": "has the wrong type",
    "pattern": "does not have the expected format",
    "format": "does not have the expected format",
    "minLength": "is too short",
    "maxLength": "is too long",
    "enum": "is not one of the allowed values",
    "const": "is not the allowed value",
    "additionalProperties": "is not a known field",
    "minimum": "is too small",
    "maximum": "is too large",
    "exclusiveMinimum": "is too small",
    "exclusiveMaximum": "is too large",
}


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    import json

    return Draft202012Validator(
        json.loads(schema_json), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _describe(error: ValidationError, section: str) -> dict[str, str]:
    path = [str(p) for p in error.absolute_path]
    keyword = str(error.validator)
    if keyword == "required" and isinstance(error.validator_value, list):
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        missing = [name for name in error.validator_value if name not in instance]
        path = [*path, missing[0]] if missing else path
    elif keyword == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = (
            (error.schema.get("properties") or {}).keys()
            if isinstance(error.schema, Mapping)
            else ()
        )
        extra = sorted(k for k in error.instance if k not in allowed)
        path = [*path, extra[0]] if extra else path
    field = ".".join([section, *path])
    return {"field": field, "problem": _KEYWORD_MESSAGES.get(keyword, f"fails '{keyword}'")}


def validate_against_schema(
    instance: Mapping[str, Any], schema: Mapping[str, Any], *, section: str
) -> None:
    """Raise :class:`InvalidRequest` listing every problem (field + problem, no values)."""
    import json

    validator = _validator(json.dumps(schema, sort_keys=True))
    problems = [_describe(e, section) for e in validator.iter_errors(dict(instance))]
    if problems:
        problems.sort(key=lambda p: p["field"])
        first = problems[0]
        raise InvalidRequest(
            f"{first['field']} {first['problem']}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            code="INVALID_" + section.upper(),
            details={"problems": problems},
        )
