"""A token endpoint's answer (RFC 6749 §5.1, §5.2) as a :class:`TokenSet` or a classified
:class:`TokenEndpointError`.

Pure: status, headers and body in, a value or an exception out; no I/O, no clock of its own.

Classification (``error`` / ``retryable``):

==========================================  =========================  =========
answer                                      ``error``                  retryable
==========================================  =========================  =========
429                                         ``rate_limited``           yes
5xx                                         ``server_error``           yes
``error`` = temporarily_unavailable,        that code                  yes
slow_down, server_error (any status)
``error`` = invalid_grant, invalid_client,  that code                  no
unauthorized_client, invalid_scope,
unsupported_grant_type, invalid_request,
any other code (any status, even 200)
401 without an ``error`` field              ``invalid_client``         no
408 without an ``error`` field              ``timeout``                yes
any other non-2xx without an ``error``      ``bad_response``           no
2xx that is not an object with an           ``bad_response``           no
``access_token`` (HTML, garbage, ``{}``),
or whose ``access_token`` is not 1 to 16384
printable ASCII characters (RFC 6749 A.12)
==========================================  =========================  =========

JSON holding a lone UTF-16 surrogate (``"\\ud800"``) counts as a body that cannot be parsed:
no token or field of it could be stored or sent as text. A 2xx that cannot be parsed is not
retryable: a provider answering HTML with 200 is almost
always a misconfigured token URL (a login or documentation page), and retrying only burns
the grant's remaining time; unknown error codes are not retried either, so a connection
fails visibly instead of looping. ``retry_after_seconds`` comes from ``Retry-After``
(seconds or an HTTP date) on retryable answers.

Messages carry the HTTP status, the provider's ``error`` code and its ``error_description``
cleaned (control characters removed, values passed in ``redact`` and anything shaped like a
token masked, at most 200 characters) — never the body, and never request data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from tether.domain.bounded_json import holds_lone_surrogate
from tether.oauth.model import TokenEndpointError, TokenSet

__all__ = ["RETRYABLE_ERRORS", "parse_error_response", "parse_token_response"]

RETRYABLE_ERRORS = frozenset({"temporarily_unavailable", "slow_down", "server_error"})

_MAX_LIFETIME_SECONDS = 10 * 366 * 24 * 3600  # beyond this, "expires_in" means "never"
_MAX_DESCRIPTION = 200
_MAX_FORM_FIELDS = 200
_MAX_EXTRA_DEPTH = 16
_REDACTED = "[redacted]"
_MIN_REDACT_LEN = 4

_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# RFC 6749 A.12: an access token is VSCHARs; bounded so that a header can carry it.
_ACCESS_TOKEN = re.compile(r"[\x20-\x7e]{1,16384}")
_SECONDS = re.compile(r"[0-9]{1,10}")
_NUMBER = re.compile(r"\s*[0-9]{1,15}(?:\.[0-9]{1,9})?\s*")
_SCOPE_SPLIT = re.compile(r"[\s,]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
# Runs that may be a token, code or key: long, or shorter with a digit in them.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9\-._~+/=]{16,}")
# Field names never copied into ``TokenSet.extra``, at any depth.
_SECRET_KEY = re.compile(
    r"token|secret|password|passwd|credential|api[_-]?key|private[_-]?key|assertion|cookie",
    re.IGNORECASE,
)
_CONSUMED = frozenset(
    {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "scope",
        "error",
        "error_description",
        "error_uri",
    }
)


def parse_token_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    default_lifetime_seconds: int,
    redact: Iterable[str] = (),
) -> TokenSet:
    """Parse a token (or refresh) response; raise :class:`TokenEndpointError` for anything but
    a 2xx object with an ``access_token`` and no ``error``.

    The body is JSON, or ``application/x-www-form-urlencoded`` (GitHub-style; also tried for
    ``text/plain`` or untyped bodies that are not JSON). ``expires_in`` may be a number or a
    numeric string; missing, invalid, ≤ 0 or absurdly large (over ten years) it becomes
    ``default_lifetime_seconds`` from ``now`` (which must be timezone-aware). ``redact``:
    values (the code, verifier, secret, refresh token sent) masked in error messages should
    the provider echo them.
    """
    if default_lifetime_seconds <= 0:
        raise ValueError("default_lifetime_seconds must be positive")
    _require_aware(now)
    payload = _decode(headers, body)
    if 200 <= status < 300 and not _error_field(payload):
        return _token_set(status, payload, now=now, default_lifetime=default_lifetime_seconds)
    raise _classify(status, headers, payload, now=now, redact=redact)


def parse_error_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    redact: Iterable[str] = (),
) -> TokenEndpointError:
    """The classified error for an answer already known to be a failure (a revocation's
    non-2xx, for instance); returned, not raised. Same table and message rules as
    :func:`parse_token_response`."""
    _require_aware(now)
    return _classify(status, headers, _decode(headers, body), now=now, redact=redact)


# --- body ------------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _decode(headers: Mapping[str, str], body: bytes) -> Any:
    """The body as JSON, or as a form where that is plausible; ``None`` when neither. JSON
    holding a lone UTF-16 surrogate (``"\\ud800"``) is none either: no token, and no field
    kept of it, could be stored or sent as text (a 2xx is then ``bad_response``)."""
    media_type = (_header(headers, "content-type") or "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return _form(body)
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        pass
    else:
        return None if holds_lone_surrogate(value, raw=body) else value
    if media_type in ("", "text/plain"):
        return _form(body)
    return None


def _form(body: bytes) -> dict[str, str] | None:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
    except ValueError:  # UnicodeDecodeError is one; so is "too many fields"
        return None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _error_field(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("error") not in (None, "", False)


# --- success ---------------------------------------------------------------------------------


def _token_set(status: int, payload: Any, *, now: datetime, default_lifetime: int) -> TokenSet:
    if not isinstance(payload, dict):
        raise TokenEndpointError(
            f"token endpoint answered HTTP {status} with a body that is not a JSON object "
            "or a form (is the token URL right?)",
            error="bad_response",
            retryable=False,
            provider_status=status,
        )
    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise TokenEndpointError(
            f"token endpoint answered HTTP {status} without an access_token",
            error="bad_response",
            retryable=False,
            provider_status=status,
        )
    if not _ACCESS_TOKEN.fullmatch(access_token):
        # Stored, it would make an `active` connection whose every request fails to send.
        raise TokenEndpointError(
            f"token endpoint answered HTTP {status} with an access_token that is not 1 to "
            "16384 printable ASCII characters",
            error="bad_response",
            retryable=False,
            provider_status=status,
        )
    refresh_token = payload.get("refresh_token")
    return TokenSet(
        access_token=access_token,
        expires_at=now + timedelta(seconds=_lifetime(payload.get("expires_in"), default_lifetime)),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        scopes=_scopes(payload.get("scope")),
        token_type=_token_type(payload.get("token_type")),
        extra={
            key: _scrub(value, 1)
            for key, value in payload.items()
            if key not in _CONSUMED and not _SECRET_KEY.search(key)
        },
    )


def _lifetime(value: Any, default: int) -> int:
    seconds: int | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int):
        seconds = value
    elif isinstance(value, float) and math.isfinite(value):
        seconds = int(value)
    elif isinstance(value, str) and _NUMBER.fullmatch(value):
        seconds = int(float(value))
    if seconds is None or seconds <= 0 or seconds > _MAX_LIFETIME_SECONDS:
        return default
    return seconds


def _scopes(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return tuple(part for part in _SCOPE_SPLIT.split(value) if part)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(item for item in value if item)
    return None


def _token_type(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "Bearer"
    value = value.strip()
    return "Bearer" if value.lower() == "bearer" else value


def _scrub(value: Any, depth: int) -> Any:
    """A copy of ``value`` without secret-named fields at any depth (Slack, for one, nests a
    user token in ``authed_user``)."""
    if depth > _MAX_EXTRA_DEPTH:
        return None
    if isinstance(value, dict):
        return {
            key: _scrub(item, depth + 1)
            for key, item in value.items()
            if not (isinstance(key, str) and _SECRET_KEY.search(key))
        }
    if isinstance(value, list):
        return [_scrub(item, depth + 1) for item in value]
    return value


# --- failure ---------------------------------------------------------------------------------


def _classify(
    status: int,
    headers: Mapping[str, str],
    payload: Any,
    *,
    now: datetime,
    redact: Iterable[str],
) -> TokenEndpointError:
    code = _error_code(payload)
    if status == 429:
        error, retryable = "rate_limited", True
    elif 500 <= status < 600:
        error, retryable = "server_error", True
    elif code is not None:
        error, retryable = code, code in RETRYABLE_ERRORS
    elif status == 401:
        error, retryable = "invalid_client", False
    elif status == 408:
        error, retryable = "timeout", True
    else:
        error, retryable = "bad_response", False

    message = f"token endpoint answered HTTP {status}"
    if code is not None:
        message += f" with error {code}"
    elif payload is None or (isinstance(payload, dict) and not payload):
        message += " without an OAuth error"
    description = _description(payload, redact)
    if description:
        message += f": {description}"
    return TokenEndpointError(
        message,
        error=error,
        retryable=retryable,
        provider_status=status,
        retry_after_seconds=_retry_after(headers, now) if retryable else None,
    )


def _error_code(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    value = payload.get("error")
    if isinstance(value, str) and _ERROR_CODE.fullmatch(value.strip()):
        return value.strip().lower()
    return None


def _description(payload: Any, redact: Iterable[str]) -> str:
    if not isinstance(payload, dict):
        return ""
    text = payload.get("error_description")
    if not isinstance(text, str):
        return ""
    for value in sorted((v for v in redact if v and len(v) >= _MIN_REDACT_LEN), key=len)[::-1]:
        text = text.replace(value, _REDACTED)
    text = _CONTROL.sub(" ", text)
    text = _TOKEN_SHAPE.sub(_mask_token_shape, text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > _MAX_DESCRIPTION:
        text = text[: _MAX_DESCRIPTION - 1].rstrip() + "…"
    return text


def _mask_token_shape(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) >= 32 or any(ch.isdigit() for ch in run):
        return _REDACTED
    return run


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    value = (_header(headers, "retry-after") or "").strip()
    if not value:
        return None
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
