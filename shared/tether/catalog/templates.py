"""URL templates in catalog entries: ``https://{shop}.myshopify.com/admin/api/2025-01``.

A placeholder is ``{name}`` where ``name`` is a property of the provider's ``config_schema``
(RFC 6570 level-1 syntax, without its operators). Two positions, two rules:

- A placeholder that *opens* the template (``{base_url}/v3``, ``{token_url}``) stands for a whole
  URL or URL prefix the tenant entered; it is inserted as is. The config schema constrains it
  (the catalog requires a ``pattern`` or ``enum`` on such a property), and the outbound HTTP
  client's SSRF guard checks the final address.
- Any other placeholder is a host label or path segment and is percent-encoded with no safe
  characters (RFC 3986 §2.1), so a value cannot add a ``/``, ``@``, ``#`` or ``?`` of its own
  and move the request to another host or path.

Values must be non-empty strings or integers without whitespace or control characters; anything
else is refused with :class:`~tether.domain.errors.InvalidRequest`. These functions are pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tether.domain.errors import InvalidRequest

__all__ = ["check_url_template", "is_absolute_url", "join_url", "placeholders", "render_template"]

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")


def check_url_template(value: str) -> str:
    """An https URL, or a template that opens with a placeholder; no stray braces (the
    catalog's check of every URL template; raises :class:`ValueError`)."""
    rest = PLACEHOLDER.sub("x", value)
    if "{" in rest or "}" in rest:
        raise ValueError("braces are only allowed around a lowercase placeholder name")
    if not (value.startswith("https://") or PLACEHOLDER.match(value)):
        raise ValueError("must be an https:// URL or open with a {placeholder}")
    return value


def placeholders(template: str) -> list[str]:
    """Names of the placeholders in ``template``, in order of appearance, without repeats."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER.finditer(template):
        seen.setdefault(match.group(1), None)
    return list(seen)


def render_template(template: str, config: Mapping[str, Any]) -> str:
    """Substitute ``{name}`` placeholders in ``template`` with values from ``config``.

    Raises :class:`InvalidRequest` (code ``MISSING_CONFIG``) when a value is absent or empty and
    (code ``INVALID_CONFIG``) when it is not a plain string or integer. Messages name the field,
    never its value.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = config.get(name)
        if value is None or value == "":
            raise InvalidRequest(
                f"Configuration value '{name}' is required.",
                code="MISSING_CONFIG",
                details={"field": name},
            )
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidRequest(
                f"Configuration value '{name}' must be a string.",
                code="INVALID_CONFIG",
                details={"field": name},
            )
        text = str(value)
        if _FORBIDDEN.search(text):
            raise InvalidRequest(
                f"Configuration value '{name}' must not contain spaces or control characters.",
                code="INVALID_CONFIG",
                details={"field": name},
            )
        if match.start() == 0:
            return text
        return quote(text, safe="")

    return PLACEHOLDER.sub(substitute, template)


def is_absolute_url(value: str) -> bool:
    """True when ``value`` starts with an ``http`` or ``https`` scheme."""
    lowered = value[:8].lower()
    return lowered.startswith(("https://", "http://"))


def join_url(base: str | None, path: str) -> str:
    """Resolve a rendered catalog path against a rendered ``api_base_url``.

    An absolute ``path`` wins; otherwise ``path`` is appended to ``base`` (one ``/`` between
    them; an empty path or one starting with ``?`` is appended directly).
    """
    if is_absolute_url(path):
        return path
    if base is None:
        raise InvalidRequest(
            "This provider has no API base URL for a relative path.", code="INVALID_REQUEST"
        )
    if not path or path.startswith("?"):
        return base + path
    return base.rstrip("/") + "/" + path.lstrip("/")
