"""Validating tenant input against a provider's JSON Schemas (draft 2020-12), with the
``jsonschema`` library.

Error messages are built from the failing *location* and *keyword* only: jsonschema's own
messages quote the instance (``'sk_live_…' does not match …``), which would echo a credential
back to the caller and into logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tether.catalog.schema_check import ecma_validator_class
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


# Validators by schema object: catalog schemas live as long as the process, so each is
# compiled once. The entry keeps its schema alive, so an id is never reused while cached.
_VALIDATORS: dict[int, tuple[Mapping[str, Any], Draft202012Validator]] = {}
_MAX_VALIDATORS = 512


def _validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    entry = _VALIDATORS.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    # Patterns read as JSON Schema says (ECMA-262): "$" is the very end, so a key pattern
    # such as ^sk_[a-z]+$ refuses a value with a line feed after it.
    validator = ecma_validator_class()(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    if len(_VALIDATORS) >= _MAX_VALIDATORS:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


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
    validator = _validator(schema)
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
