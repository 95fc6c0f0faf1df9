"""A ``two_step`` entry's token: the first call the catalog declares, and the token found in
its answer.

The request is built from the entry's ``token_request`` over the connection's config and
credentials (:func:`token_call`); the answer is read by :func:`parse_token_answer`: the token
at ``token_path``, its lifetime from ``expires_in_path`` or ``expires_at_path`` (epoch
seconds or ISO 8601), else the entry's default. Both pure; the call itself goes through the
token endpoint's sender (:meth:`tether.oauth.token_endpoint.TokenEndpoint.send`: no redirects,
no cookies, a bounded answer, the SSRF-guarded transport).

Failures are :class:`~tether.oauth.model.TokenEndpointError` like an OAuth token endpoint's:
401 and 403 mean the key or password is refused (``invalid_client``: the connection goes to
``error`` until its credentials change), 429 and 5xx are retryable, and a 2xx without a token
where the entry says is ``bad_response``. Messages name fields and statuses, never values.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tether.catalog.templates import render_template
from tether.catalog.token_grants import TwoStepAuth
from tether.domain.bounded_json import holds_lone_surrogate
from tether.domain.errors import InvalidRequest
from tether.http.url_check import check_http_url
from tether.oauth.model import TokenEndpointError, TokenSet
from tether.oauth.token_response import parse_error_response

__all__ = ["TokenCallRequest", "parse_token_answer", "token_call"]

_MAX_LIFETIME_SECONDS = 366 * 24 * 3600


@dataclass(frozen=True)
class TokenCallRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    content: bytes | None = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


def _credential(credentials: Mapping[str, Any], name: str) -> str:
    value = credentials.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"credentials.{name} is required",
            code="MISSING_CREDENTIALS",
            details={"field": f"credentials.{name}"},
        )
    return value


def _put(body: dict[str, Any], path: str, value: str, *, nest: bool) -> None:
    if not nest:
        body[path] = value
        return
    *parents, last = path.split(".")
    node = body
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InvalidRequest(f"auth.token_request parameter {path} clashes with {part}")
        node = child
    node[last] = value


def token_call(
    auth: TwoStepAuth, config: Mapping[str, Any], credentials: Mapping[str, Any]
) -> TokenCallRequest:
    """The first call for this connection; :class:`InvalidRequest` for a missing value."""
    call = auth.token_request
    url = check_http_url(render_template(call.url, config), field="token_request.url")
    nest = call.format == "json"
    body: dict[str, Any] = {}
    secrets: list[str] = []
    for path, fixed in call.static.items():
        _put(body, path, fixed, nest=nest)
    for path, name in call.config.items():
        value = config.get(name)
        if value is None or value == "":
            raise InvalidRequest(f"config.{name} is required", code="MISSING_CONFIG")
        _put(body, path, str(value), nest=nest)
    for path, name in call.credentials.items():
        secret = _credential(credentials, name)
        secrets.append(secret)
        _put(body, path, secret, nest=nest)
    headers = {"Accept": "application/json", **call.headers}
    if call.basic is not None:
        user = _credential(credentials, call.basic[0])
        password = credentials.get(call.basic[1])
        if not isinstance(password, str):
            password = ""
        secrets.extend(value for value in (user, password) if value)
        pair = f"{user}:{password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    content: bytes | None = None
    if call.method == "POST":
        if nest:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        else:
            content = urlencode(body).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(body)}"
    return TokenCallRequest(call.method, url, headers, content, tuple(secrets))


def _at(payload: Any, path: str) -> Any:
    node = payload
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _expiry(auth: TwoStepAuth, payload: Any, now: datetime) -> datetime:
    default = now + timedelta(seconds=auth.default_token_lifetime_seconds)
    if auth.expires_in_path is not None:
        seconds = _at(payload, auth.expires_in_path)
        if isinstance(seconds, str) and seconds.strip().isdigit():
            seconds = int(seconds)
        number = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        if number and 0 < seconds <= _MAX_LIFETIME_SECONDS:
            return now + timedelta(seconds=int(seconds))
        return default
    if auth.expires_at_path is not None:
        value = _at(payload, auth.expires_at_path)
        at: datetime | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                at = datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):  # no clock holds it (or NaN)
                at = None
        elif isinstance(value, str):
            try:
                at = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                at = None
            if at is not None and at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
        if at is not None and now < at <= now + timedelta(seconds=_MAX_LIFETIME_SECONDS):
            return at
    return default


def parse_token_answer(
    auth: TwoStepAuth,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    redact: tuple[str, ...] = (),
) -> TokenSet:
    """The token of the first call's answer, or the classified failure (raised)."""
    if status in (401, 403):
        raise TokenEndpointError(
            f"the token request was refused (HTTP {status}): check the credentials",
            error="invalid_client",
            retryable=False,
            provider_status=status,
        )
    if not 200 <= status < 300:
        raise parse_error_response(status, headers, body, now=now, redact=redact)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # nested past the parser: no token to find
        payload = None
    token = _at(payload, auth.token_path)
    if not isinstance(token, str) or not token or holds_lone_surrogate(token, raw=body):
        raise TokenEndpointError(
            f"the token request answered HTTP {status} without a token at {auth.token_path}",
            error="bad_response",
            retryable=False,
            provider_status=status,
        )
    return TokenSet(access_token=token, expires_at=_expiry(auth, payload, now))
