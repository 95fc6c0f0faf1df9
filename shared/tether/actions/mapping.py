"""A declarative action's request, rendered from its input and the connection's config. Pure.

:func:`render_request` turns an :class:`~tether.catalog.action_definition.HttpMapping` into a
:class:`RenderedRequest`: the path's placeholders percent-encoded as one segment each
(:func:`path_segment`, which refuses a value it cannot send as one, as the input it is),
query parameters and headers whose input is absent left out, and the body template filled
in. In a body, a string ``"{name}"`` is the input value itself (any JSON type); an object
key whose value is absent is left out, a list item that names an absent input anywhere
inside is left out whole (``parents: ["{parent_id}"]``, an association to a contact that was
not given: the list stays, empty), and an object left empty drops too.

:func:`form_encode` writes a body the way Stripe and Rails read forms: nested objects as
``metadata[plan]=pro``, lists as ``items[0][price]=…``, booleans as ``true``/``false``.
:func:`dig` reads a dotted path (a numeric segment indexes a list) out of an answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from tether.catalog.action_definition import HttpMapping
from tether.catalog.templates import PLACEHOLDER
from tether.domain.errors import InvalidRequest

__all__ = [
    "CONDITION",
    "MISSING",
    "RenderedRequest",
    "dig",
    "form_encode",
    "input_error",
    "path_segment",
    "render_request",
]

# In a body template, an object with ``$if: <input>`` is there only when that input is given.
CONDITION = "$if"
_VALUE = re.compile(r"^\{((?:config\.)?[a-z_][a-z0-9_]*)\}$")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
_DOT_SEGMENTS = frozenset({".", ".."})


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class RenderedRequest:
    """A request ready for the connection's sender: ``path`` relative to the API base URL;
    ``content``/``content_type`` for a form body, ``json`` for a JSON one."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None


def _lookup(name: str, values: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    if name.startswith("config."):
        key = name.removeprefix("config.")
        value = config.get(key, MISSING)
        if value is MISSING or value in (None, ""):
            raise InvalidRequest(
                f"Configuration value '{key}' is required for this action.",
                code="MISSING_CONFIG",
                details={"field": key},
            )
        return value
    value = values.get(name, MISSING)
    return MISSING if value is None else value


def _fill(template: Any, values: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        match = _VALUE.match(template)
        return _lookup(match.group(1), values, config) if match else template
    if isinstance(template, dict):
        condition = template.get(CONDITION)
        if isinstance(condition, str) and values.get(condition) is None:
            return MISSING
        filled = {k: _fill(v, values, config) for k, v in template.items() if k != CONDITION}
        kept = {k: v for k, v in filled.items() if v is not MISSING}
        return kept if kept or not filled else MISSING
    if isinstance(template, list):
        items = [_fill(item, values, config) for item in template]
        return [item for item in items if item is not MISSING]
    return template


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def input_error(field: str, problem: str) -> InvalidRequest:
    """The 400 ``INVALID_INPUT`` of an input ``field`` (``problem`` says what is wrong with
    it, never its value): what every action's own check answers."""
    return InvalidRequest(
        f"input field '{field}' {problem}", code="INVALID_INPUT", details={"field": field}
    )


def path_segment(value: Any, field: str) -> str:
    """Input ``value`` as one path segment: percent-encoded with no safe characters (RFC 3986
    §2.1), so a ``/``, ``?`` or ``#`` of its own stays inside it. A value that is not a
    non-empty string or integer, or holds whitespace or a control character, is refused as
    the input ``field`` it is (400 ``INVALID_INPUT``), never echoed. So are ``.`` and ``..``:
    they are unreserved, so encoding leaves them as they are, and the URL parser removes
    them as dot segments (RFC 3986 §5.2.4): ``/files/..`` would be sent to the API's root."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise input_error(field, "must be a non-empty string or integer in this request's path")
    text = str(value)
    if _FORBIDDEN.search(text):
        raise input_error(field, "must not contain spaces or control characters")
    if text in _DOT_SEGMENTS:
        raise input_error(field, "must not be '.' or '..' (it would change the request's path)")
    return quote(text, safe="")


def _render_path(template: str, values: Mapping[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda m: path_segment(values.get(m.group(1)), m.group(1)), template)


def render_request(
    mapping: HttpMapping, values: Mapping[str, Any], config: Mapping[str, Any]
) -> RenderedRequest:
    """The request ``mapping`` describes for input ``values`` (defaults already applied)."""
    path = _render_path(mapping.path, values)
    params = {}
    for name, template in mapping.query.items():
        value = _fill(template, values, config)
        if value is not MISSING:
            params[name] = _text(value)
    headers = {}
    for name, template in mapping.headers.items():
        value = _fill(template, values, config)
        if value is not MISSING:
            headers[name] = _text(value)
    if mapping.body is None:
        return RenderedRequest(mapping.method, path, params, headers)
    body = _fill(mapping.body, values, config)
    if body is MISSING:
        body = {}
    if mapping.body_format == "form":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return RenderedRequest(
            mapping.method, path, params, headers, content=form_encode(body).encode("ascii")
        )
    return RenderedRequest(mapping.method, path, params, headers, json=body)


def form_encode(body: Mapping[str, Any]) -> str:
    """``body`` as ``application/x-www-form-urlencoded`` with bracketed nesting."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            pairs.append((prefix, _text(value)))

    for key, value in body.items():
        walk(str(key), value)
    return urlencode(pairs)


def dig(value: Any, dotted: str | None) -> Any:
    """``value`` at ``dotted`` (``Invoices.0``); :data:`MISSING` when it is not there."""
    for part in dotted.split(".") if dotted else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value
