"""Typed provider actions: one catalog action as a pydantic model, validated strictly.

An action has a name, a description, an input and an output JSON Schema (draft 2020-12, both
objects), the scopes it needs (any one of them suffices: ``calendar.readonly`` or
``calendar.events`` both let a caller list events; an empty list needs none), and exactly one
way to run:

- ``http``, a declarative request (:class:`HttpMapping`): a method, a path under the
  provider's API base URL whose ``{name}`` placeholders are input properties, query parameters,
  headers and a JSON or form body whose string values ``"{name}"`` stand for input values
  (``"{config.name}"`` for a connection config value), and where the output is in the answer;
- ``function``, the name of a small registered function (``tether.actions.functions``) for
  what a mapping cannot say: a MIME message, a multipart upload, free slots computed from
  free/busy.

The actions of a provider live in ``catalog/actions/<provider>.yaml`` (see
:mod:`tether.catalog.action_catalog`), apart from the provider entries: only the functions that
run actions read them.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tether.catalog.schema_check import SchemaCheck

__all__ = ["ActionDefinition", "HttpMapping", "input_placeholders"]

_NAME = r"^[a-z][a-z0-9_]*$"
# "{name}" or "{config.name}": a whole string value of a template.
_VALUE = re.compile(r"^\{((?:config\.)?[a-z_][a-z0-9_]*)\}$")
_PATH_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"


def _values(template: Any) -> list[str]:
    """The ``{name}`` placeholders standing for whole string values anywhere in ``template``."""
    if isinstance(template, str):
        match = _VALUE.match(template)
        return [match.group(1)] if match else []
    if isinstance(template, dict):
        condition = template.get("$if")
        named = [condition] if isinstance(condition, str) else []
        return named + [n for k, v in template.items() if k != "$if" for n in _values(v)]
    if isinstance(template, list):
        return [name for value in template for name in _values(value)]
    return []


def input_placeholders(template: Any) -> list[str]:
    """Input properties a template names (``config.`` values left out)."""
    return [name for name in _values(template) if not name.startswith("config.")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpMapping(_Model):
    """One request. ``path`` is relative to the API base URL; its placeholders are required
    input properties, each sent as one percent-encoded segment. ``query``/``headers``: name →
    template string; a parameter whose input is absent is left out. ``body``: a JSON template
    (absent values drop their key, and an object or list left empty drops too), sent as JSON or,
    ``body_format: form``, form-encoded with bracketed nesting (``metadata[plan]=pro``).
    ``result``: dotted path of the output in the answer (``None``: the whole answer);
    ``empty_result``: the output when the answer has no body (a delete's 204).
    ``idempotency_header``: the provider's own idempotency header, which then carries the
    caller's ``Idempotency-Key``."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(pattern=r"^/\S*$", max_length=500)
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    body_format: Literal["json", "form"] = "json"
    result: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$")
    empty_result: dict[str, Any] | None = None
    idempotency_header: str | None = Field(default=None, pattern=_HEADER_NAME)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if re.fullmatch(_HEADER_NAME, name) is None:
                raise ValueError(f"header '{name}' is not a valid HTTP header name")
        return value

    @model_validator(mode="after")
    def _body_fits_method(self) -> Self:
        if self.body is not None and self.method in ("GET", "DELETE"):
            raise ValueError(f"a {self.method} request has no body")
        return self

    def path_placeholders(self) -> list[str]:
        return _PATH_PLACEHOLDER.findall(self.path)

    def named_inputs(self) -> list[str]:
        """Every input property this request reads."""
        return [
            *self.path_placeholders(),
            *input_placeholders(self.query),
            *input_placeholders(self.headers),
            *input_placeholders(self.body),
        ]


class ActionDefinition(_Model):
    """One action of a provider (see the module documentation)."""

    name: str = Field(pattern=_NAME, max_length=64)
    description: str = Field(min_length=1, max_length=1000)
    scopes: list[str] = Field(default_factory=list)
    input: dict[str, Any]
    output: dict[str, Any]
    http: HttpMapping | None = None
    function: str | None = Field(default=None, pattern=_NAME)
    # True for an action that creates or changes something: what Idempotency-Key is for.
    writes: bool = False

    @functools.cached_property
    def input_check(self) -> SchemaCheck:
        """The input schema, compiled on first use and kept for every run."""
        return SchemaCheck(self.input)

    @functools.cached_property
    def output_check(self) -> SchemaCheck:
        """The output schema, compiled on first use and kept for every run."""
        return SchemaCheck(self.output)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if (self.http is None) == (self.function is None):
            raise ValueError("an action has exactly one of http and function")
        for label in ("input", "output"):
            schema = getattr(self, label)
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(
                    f"{label} is not valid JSON Schema 2020-12: {exc.message}"
                ) from None
            if schema.get("type") != "object":
                raise ValueError(f'{label} must be "type": "object"')
        properties = self.input.get("properties") or {}
        if self.input.get("additionalProperties") is not False:
            raise ValueError('input must say "additionalProperties": false')
        if self.http is not None:
            unknown = [n for n in self.http.named_inputs() if n not in properties]
            if unknown:
                raise ValueError(f"http names undefined input properties: {unknown}")
            required = set(self.input.get("required") or [])
            loose = [
                n
                for n in self.http.path_placeholders()
                if n not in required and "default" not in properties[n]
            ]
            if loose:
                raise ValueError(f"path placeholders must be required or defaulted: {loose}")
        return self
