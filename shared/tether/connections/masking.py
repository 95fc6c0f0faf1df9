"""Masked hints of credential values, the only trace of a credential a caller ever sees.

A hint keeps a short, non-secret prefix (``sk_live_``) and the last four characters of long
values, like payment dashboards do (``sk_live_…4242``); short values show nothing at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["credential_hints", "mask_secret", "secret_fields"]

_PREFIX_RE = re.compile(r"^([A-Za-z]{1,8}[_-](?:(?:live|test|prod|sandbox)[_-])?)")
_MIN_TAIL_LENGTH = 16
_MIN_HIDDEN = 8  # never show so much that fewer than 8 characters stay hidden
_MASK = "…"


def mask_secret(value: str) -> str:
    """``sk_live_abcdef…4242`` → ``sk_live_…4242``; short values → ``••••``."""
    if len(value) < 8:
        return "••••"
    tail = value[-4:] if len(value) >= _MIN_TAIL_LENGTH else ""
    match = _PREFIX_RE.match(value)
    prefix = match.group(1) if match else ""
    if len(value) - len(prefix) - len(tail) < _MIN_HIDDEN:
        prefix = ""
    return f"{prefix}{_MASK}{tail}"


def secret_fields(schema: Mapping[str, Any]) -> frozenset[str]:
    """Names of the properties a JSON Schema marks ``writeOnly``."""
    props = schema.get("properties") or {}
    return frozenset(name for name, spec in props.items() if spec.get("writeOnly", False))


def credential_hints(payload: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, str]:
    """One hint per credential field: masked for secrets and for anything undescribed, in
    clear only for string fields the schema declares and does not mark ``writeOnly``."""
    described = (schema.get("properties") or {}).keys()
    secret = secret_fields(schema)
    hints: dict[str, str] = {}
    for name, value in payload.items():
        if value is None:
            continue
        if isinstance(value, str) and name in described and name not in secret:
            hints[name] = value if len(value) <= 64 else value[:61] + "..."
        else:
            hints[name] = mask_secret(value if isinstance(value, str) else str(value))
    return hints
